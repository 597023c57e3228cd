"""Logging for the API and worker processes: human-readable by default, JSON lines for a log pipeline.

``EVENT_TRIGGERS_LOG_FORMAT=json``: one JSON object per line with ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message`` and, where known, ``invocationId``, ``triggerId``, ``subscriptionId`` (and
``traceId`` when the line belongs to a traced span). The ids come from a context variable that the worker
sets for each delivery attempt and the API for each request about one invocation or subscription.

Libraries that log request bodies, credentials or SQL parameters at DEBUG (botocore, urllib3, aiosqlite)
never log below INFO; the URL in httpx's line per request loses its ``user:password@``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from event_triggers.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ID_FIELDS = ("invocationId", "triggerId", "subscriptionId")
NEVER_BELOW_INFO = ("botocore", "boto3", "urllib3", "s3transfer", "aiosqlite")
"""At DEBUG these log whole requests or statements (an EventBridge entry's invocation secret, STS
credentials, SQL parameters)."""

_ids: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "event_triggers_log_ids", default=None
)


def bind_ids(**ids: str) -> None:
    """Add ids to every line logged from now on in this task (and the tasks it starts)."""
    _ids.set({**(_ids.get() or {}), **ids})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids where known, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_ids.get() or {})
        temporal = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if isinstance(temporal, Mapping) and temporal.get("workflow_id"):
            entry.setdefault("invocationId", temporal["workflow_id"])  # the workflow id is the invocation id
        for name in ID_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["traceId"] = format(span.trace_id, "032x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class UrlCredentialsFilter(logging.Filter):
    """Removes the ``user:password@`` of the URLs httpx logs: its INFO line per request names the URL,
    and a subscription stored before such URLs were refused may still carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_with(userinfo=b"") if isinstance(arg, httpx.URL) and arg.userinfo else arg
                for arg in record.args
            )
        return True


_URL_CREDENTIALS_FILTER = UrlCredentialsFilter()


def configure_logging(settings: Settings) -> None:
    """The root logger writes to stderr in ``settings.log_format`` at ``settings.log_level``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in NEVER_BELOW_INFO:
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
    logging.getLogger("httpx").addFilter(_URL_CREDENTIALS_FILTER)


class LogIdsInterceptor(Interceptor):
    """Worker interceptor: a delivery attempt's lines carry its invocation, trigger and subscription ids."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DeliveryLogIds(next)


class _DeliveryLogIds(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        request = input.args[0] if input.args else None
        ids = {"invocationId": activity.info().workflow_id or ""}
        for field, attribute in (("triggerId", "trigger_id"), ("subscriptionId", "subscription_id")):
            if isinstance(getattr(request, attribute, None), str):
                ids[field] = getattr(request, attribute)
        bind_ids(**ids)  # the activity runs in a task of its own: the ids end with it
        return await super().execute_activity(input)


_PATH_IDS = (
    (re.compile(r"^/trigger-invocations/v1/(?!start$|test$|status$)([^/]+)"), "invocationId"),
    (re.compile(r"^/trigger-subscriptions/v1/([^/]+)"), "subscriptionId"),
)


class LogIdsMiddleware:
    """ASGI middleware: a request about one invocation or subscription logs its id (access log included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for pattern, field in _PATH_IDS:
                match = pattern.match(scope["path"])
                if match:
                    bind_ids(**{field: match.group(1)})
        await self.app(scope, receive, send)
