"""``deliver_http``: one POST of an event to a subscriber, classified as success, retry or failure.

Credentials come from the store and the invocation secret is derived here, at delivery time, so neither
ever enters workflow history. Retryable failures carry their own next delay (exponential backoff with
jitter, or the subscriber's ``Retry-After``), so the retry policy only bounds attempts and time.
"""

from __future__ import annotations

import base64
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from event_triggers import __version__
from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.errors import InvalidField
from event_triggers.invocation_models import (
    DELIVERY_WINDOW_CLOSED,
    DeliveryRequest,
    DeliveryResult,
    ResponseMode,
    TriggerKind,
)
from event_triggers.models import HttpAuthenticationType
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.security.ssrf import DestinationRefused
from event_triggers.security.webhook_signing import signature_headers
from event_triggers.store import Store, Subscription

USER_AGENT = f"event-triggers/{__version__}"
ERROR_BODY_LIMIT = 512
RETRYABLE_STATUS_CODES = frozenset({408, 429})
JITTER = 0.2
"""Each retry delay is drawn from +-20 % of the backoff, so subscribers that failed together retry apart."""


def delivery_metadata(request: DeliveryRequest, *, server_key: bytes) -> dict[str, Any]:
    """The ``_metadata`` object a subscriber receives next to the trigger input."""
    if request.trigger_kind is TriggerKind.FIRE_AND_FORGET:
        return {
            "triggerId": request.trigger_id,
            "triggerType": "fireAndForget",
            "invocationId": request.invocation_id,
        }
    metadata: dict[str, Any] = {
        "triggerId": request.trigger_id,
        "triggerType": "requestResponse",
        "invocationId": request.invocation_id,
        "responseMode": (request.response_mode or ResponseMode.SYNC).lower(),
    }
    if request.response_mode is not ResponseMode.SYNC:
        metadata["callbackURL"] = request.callback_url
        metadata["secret"] = invocation_secret(server_key=server_key, invocation_id=request.invocation_id)
    return metadata


def auth_headers(subscription: Subscription) -> dict[str, str]:
    config = subscription.httpConfig
    if config is None:
        return {}
    if config.httpAuthenticationType is HttpAuthenticationType.BASIC_AUTH and config.basicAuthConfig:
        pair = f"{config.basicAuthConfig.userName or ''}:{config.basicAuthConfig.password or ''}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    if config.httpAuthenticationType is HttpAuthenticationType.BEARER_TOKEN and config.bearerTokenAuthConfig:
        return {"Authorization": f"Bearer {config.bearerTokenAuthConfig.bearerToken or ''}"}
    return {}


def _body_excerpt(response: httpx.Response) -> str:
    return response.content[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("Retry-After", "").strip()
    return timedelta(seconds=int(value)) if value.isdigit() else None


def _fail(message: str, *, error_type: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


class HttpDelivery:
    """What every delivery of a worker shares: one HTTP client, the store, a short subscription cache."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        catalog: Catalog,
        http_client: httpx.AsyncClient,
        server_key: bytes,
    ) -> None:
        self._settings = settings
        self._store = store
        self._catalog = catalog
        self._http = http_client
        self._server_key = server_key
        self._subscriptions: dict[str, tuple[float, Subscription]] = {}

    async def _subscription(self, subscription_id: str) -> Subscription:
        """The subscription, read at most once per ``subscription_cache_ttl`` (saves a query per delivery)."""
        cached = self._subscriptions.get(subscription_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        subscription = await self._store.get_subscription(subscription_id)
        if subscription is None:
            raise _fail(f"subscription {subscription_id} was deleted", error_type="SubscriptionDeleted")
        ttl = self._settings.subscription_cache_ttl.total_seconds()
        self._subscriptions[subscription_id] = (now + ttl, subscription)
        return subscription

    def _retry(
        self, message: str, *, request: DeliveryRequest, delay: timedelta | None = None
    ) -> ApplicationError:
        """A retryable failure whose next delay is the subscriber's wish or a jittered exponential backoff;
        a final failure when the next attempt would start after the delivery window."""
        if delay is None:
            attempt = activity.info().attempt
            base = self._settings.retry_initial_interval * (self._settings.retry_backoff ** (attempt - 1))
            capped = min(base, self._settings.retry_max_interval)
            delay = capped * random.uniform(1 - JITTER, 1 + JITTER)
        if request.retry_until is not None and datetime.now(UTC) + delay >= request.retry_until:
            return _fail(f"{message}; no time left for another attempt", error_type=DELIVERY_WINDOW_CLOSED)
        return ApplicationError(message, type="DeliveryRetry", next_retry_delay=delay)

    @activity.defn(name="deliver_http")
    async def deliver_http(self, request: DeliveryRequest) -> DeliveryResult:
        """POST the trigger input plus ``_metadata`` to the subscriber and classify its response."""
        subscription = await self._subscription(request.subscription_id)
        if subscription.httpConfig is None:
            raise _fail("subscription has no httpConfig", error_type="SubscriptionMisconfigured")
        body = {**request.input, "_metadata": delivery_metadata(request, server_key=self._server_key)}
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **auth_headers(subscription),
            **signature_headers(
                secrets=subscription.active_signing_secrets(datetime.now(UTC)),
                msg_id=request.invocation_id,
                body=content,
            ),
        }
        timeout = self._settings.delivery_timeout.total_seconds()
        try:
            response = await self._http.post(
                subscription.httpConfig.url,
                content=content,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            )
        except DestinationRefused as exc:
            raise _fail(f"delivery refused: {exc.reason}", error_type="DestinationRefused") from None
        except httpx.TimeoutException:
            if request.response_mode is ResponseMode.SYNC:
                raise _fail(
                    f"subscriber did not answer within {timeout:g} s", error_type="SubscriberTimeout"
                ) from None
            raise self._retry(f"subscriber did not answer within {timeout:g} s", request=request) from None
        except httpx.TransportError as exc:
            raise self._retry(
                f"cannot reach subscriber: {type(exc).__name__}: {exc}", request=request
            ) from None
        return self._classify(request, response)

    def _classify(self, request: DeliveryRequest, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        if status in RETRYABLE_STATUS_CODES or status >= 500:
            raise self._retry(f"subscriber answered {status}", request=request, delay=_retry_after(response))
        if not 200 <= status < 300:
            raise _fail(
                f"subscriber answered {status}: {_body_excerpt(response)}",
                error_type=f"SubscriberStatus{status}",
            )
        answers_now = request.response_mode is ResponseMode.SYNC or (
            request.response_mode is ResponseMode.DYNAMIC and status == 200
        )
        if request.trigger_kind is TriggerKind.FIRE_AND_FORGET or not answers_now:
            return DeliveryResult(status_code=status)
        if status != 200:
            raise _fail(
                f"SYNC subscriber answered {status} instead of 200 with the output", error_type="BadAnswer"
            )
        return DeliveryResult(status_code=status, answer=self._answer(request, response))

    def _answer(self, request: DeliveryRequest, response: httpx.Response) -> dict[str, Any]:
        """The output in a response body; invalid output fails the invocation (no second chance exists)."""
        try:
            answer = response.json()
        except ValueError:
            raise _fail(
                f"subscriber answer is not JSON: {_body_excerpt(response)}", error_type="BadAnswer"
            ) from None
        if not isinstance(answer, dict):
            raise _fail("output: must be a JSON object", error_type="BadAnswer")
        try:
            self._catalog.require(request.trigger_id).validate_output(answer)
        except InvalidField as exc:
            raise _fail(f"subscriber answer rejected: {exc.message}", error_type="BadAnswer") from None
        return answer
