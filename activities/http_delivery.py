"""``deliver_http``: one POST of an event to a subscriber, classified as success, retry or failure.

Credentials come from the store and the invocation secret is derived here, at delivery time, so neither
ever enters workflow history. Retryable failures carry their own next delay (exponential backoff with
jitter, or the subscriber's ``Retry-After``), so the retry policy only bounds attempts and time.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outcomes import final_failure, retryable_failure
from activities.subscription_reader import SubscriptionReader
from event_triggers import __version__
from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.errors import InvalidField
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult
from event_triggers.models import HttpAuthenticationType, HttpDispatchMode, TriggerType
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.security.ssrf import DestinationRefused
from event_triggers.security.webhook_signing import signature_headers
from event_triggers.store import Subscription
from event_triggers.subscription_reads import SubscriptionReads

USER_AGENT = f"event-triggers/{__version__}"
ERROR_BODY_LIMIT = 512
RETRYABLE_STATUS_CODES = frozenset({408, 429})


def delivery_metadata(request: DeliveryRequest, *, server_key: bytes) -> dict[str, Any]:
    """The ``_metadata`` object a subscriber receives next to the trigger input."""
    if request.trigger_kind is TriggerType.FIRE_AND_FORGET:
        return {
            "triggerId": request.trigger_id,
            "triggerType": "fireAndForget",
            "invocationId": request.invocation_id,
        }
    metadata: dict[str, Any] = {
        "triggerId": request.trigger_id,
        "triggerType": "requestResponse",
        "invocationId": request.invocation_id,
        "responseMode": (request.response_mode or HttpDispatchMode.SYNC).lower(),
    }
    if request.response_mode is not HttpDispatchMode.SYNC:
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


class HttpDelivery:
    """What every delivery of a worker shares: one HTTP client, the process's subscription reader."""

    def __init__(
        self,
        *,
        settings: Settings,
        subscriptions: SubscriptionReads,
        catalog: Catalog,
        http_client: httpx.AsyncClient,
        server_key: bytes,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._http = http_client
        self._server_key = server_key
        self._subscriptions = SubscriptionReader(subscriptions)

    def _retry(
        self,
        message: str,
        *,
        request: DeliveryRequest,
        delay: timedelta | None = None,
        status_code: int | None = None,
        response: str | None = None,
    ) -> ApplicationError:
        return retryable_failure(
            message,
            error_type="DeliveryRetry",
            settings=self._settings,
            request=request,
            delay=delay,
            status_code=status_code,
            response=response,
        )

    @activity.defn(name="deliver_http")
    async def deliver_http(self, request: DeliveryRequest) -> DeliveryResult:
        """POST the trigger input plus ``_metadata`` to the subscriber and classify its response."""
        subscription = await self._subscriptions.get(request)
        if subscription.httpConfig is None:
            raise final_failure("subscription has no httpConfig", error_type="SubscriptionMisconfigured")
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
            raise final_failure(f"delivery refused: {exc.reason}", error_type="DestinationRefused") from None
        except httpx.TimeoutException:
            if request.response_mode is HttpDispatchMode.SYNC:
                raise final_failure(
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
            raise self._retry(
                f"subscriber answered {status}",
                request=request,
                delay=_retry_after(response),
                status_code=status,
                response=_body_excerpt(response),
            )
        if not 200 <= status < 300:
            raise final_failure(
                f"subscriber answered {status}: {_body_excerpt(response)}",
                error_type=f"SubscriberStatus{status}",
                status_code=status,
            )
        answers_now = request.response_mode is HttpDispatchMode.SYNC or (
            request.response_mode is HttpDispatchMode.DYNAMIC and status == 200
        )
        if request.trigger_kind is TriggerType.FIRE_AND_FORGET or not answers_now:
            return DeliveryResult(status_code=status)
        if status != 200:
            raise final_failure(
                f"SYNC subscriber answered {status} instead of 200 with the output",
                error_type="BadAnswer",
                status_code=status,
            )
        return DeliveryResult(status_code=status, answer=self._answer(request, response))

    def _answer(self, request: DeliveryRequest, response: httpx.Response) -> dict[str, Any]:
        """The output in a response body; invalid output fails the invocation (no second chance exists)."""
        try:
            answer = response.json()
        except ValueError:
            raise final_failure(
                f"subscriber answer is not JSON: {_body_excerpt(response)}",
                error_type="BadAnswer",
                status_code=response.status_code,
            ) from None
        if not isinstance(answer, dict):
            raise final_failure(
                "output: must be a JSON object", error_type="BadAnswer", status_code=response.status_code
            )
        try:
            self._catalog.require(request.trigger_id).validate_output(answer)
        except InvalidField as exc:
            raise final_failure(
                f"subscriber answer rejected: {exc.message}",
                error_type="BadAnswer",
                status_code=response.status_code,
            ) from None
        return answer
