"""``type: "HTTP"``: a POST of the event to the subscriber's URL, signed, answered in-band or by callback.

The activity ``deliver_http`` reads credentials from the store and derives the invocation secret at
delivery time, so neither ever enters workflow history; it classifies the response as success, retry
(after the subscriber's ``Retry-After``) or final failure.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from pydantic import BeforeValidator
from temporalio import activity
from temporalio.exceptions import ApplicationError

from event_triggers import __version__
from event_triggers.catalog import TriggerDefinition
from event_triggers.destinations.base import DeliveryActivity, DeliveryResources, Destination
from event_triggers.destinations.outcomes import final_failure, retryable_failure
from event_triggers.errors import InvalidField
from event_triggers.invocation_models import SUBSCRIBER_GONE, DeliveryRequest, DeliveryResult
from event_triggers.models import (
    CREDENTIAL_MAX,
    NAME_MAX,
    URL_MAX,
    HttpDispatchMode,
    MaxLength,
    TriggerType,
    WireModel,
    check_json_document,
)
from event_triggers.payload_limits import PayloadLimits, check_nesting, json_size
from event_triggers.security.ssrf import DestinationPolicy, DestinationRefused
from event_triggers.security.webhook_signing import signature_headers

if TYPE_CHECKING:
    pass

ACTIVITY = "deliver_http"
USER_AGENT = f"event-triggers/{__version__}"
ERROR_BODY_LIMIT = 512
RETRYABLE_STATUS_CODES = frozenset({408, 429})
_TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]+")
"""What a bearer token may hold: it is sent as is in a header, where a space, a control character or a
non-ASCII letter breaks (or injects into) the request."""
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
"""RFC 7617 forbids them in a Basic user name and password (which are sent base64-encoded UTF-8)."""


class HttpAuthenticationType(StrEnum):
    NO_AUTH = "NO_AUTH"
    BASIC_AUTH = "BASIC_AUTH"
    BEARER_TOKEN = "BEARER_TOKEN"


class BasicAuthConfig(WireModel):
    userName: Annotated[str | None, MaxLength(NAME_MAX)] = None
    password: Annotated[str | None, MaxLength(CREDENTIAL_MAX)] = None


class BearerTokenAuthConfig(WireModel):
    bearerToken: Annotated[str | None, MaxLength(CREDENTIAL_MAX)] = None


def _no_auth_when_null(value: object) -> object:
    return HttpAuthenticationType.NO_AUTH if value is None else value


class HttpConfig(WireModel):
    url: Annotated[str, MaxLength(URL_MAX)]
    httpDispatchMode: HttpDispatchMode = HttpDispatchMode.SYNC
    httpAuthenticationType: Annotated[HttpAuthenticationType, BeforeValidator(_no_auth_when_null)] = (
        HttpAuthenticationType.NO_AUTH
    )
    """Null is NO_AUTH, the default: SailPoint's PowerShell SDK sends null for a type not given."""
    basicAuthConfig: BasicAuthConfig | None = None
    bearerTokenAuthConfig: BearerTokenAuthConfig | None = None


def auth_headers(config: HttpConfig) -> dict[str, str]:
    if config.httpAuthenticationType is HttpAuthenticationType.BASIC_AUTH and config.basicAuthConfig:
        pair = f"{config.basicAuthConfig.userName or ''}:{config.basicAuthConfig.password or ''}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    if config.httpAuthenticationType is HttpAuthenticationType.BEARER_TOKEN and config.bearerTokenAuthConfig:
        return {"Authorization": f"Bearer {config.bearerTokenAuthConfig.bearerToken or ''}"}
    return {}


def retry_after(response: httpx.Response) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when - datetime.now(UTC)


def _body_excerpt(response: httpx.Response) -> str:
    return response.content[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")


def credential_problems(config: HttpConfig) -> Iterator[tuple[str, str]]:
    """Each credential an HTTP request could not carry, as (field inside ``httpConfig``, reason); the
    reasons never quote the value."""
    bearer = config.bearerTokenAuthConfig
    if bearer is not None and bearer.bearerToken and not _TOKEN_CHARACTERS.fullmatch(bearer.bearerToken):
        yield (
            "bearerTokenAuthConfig.bearerToken",
            "must hold only visible ASCII characters (no space, control character or non-ASCII letter): "
            "it is sent as is in the Authorization header",
        )
    basic = config.basicAuthConfig
    if basic is not None:
        if basic.userName and ":" in basic.userName:
            yield "basicAuthConfig.userName", "must not contain ':', which Basic authentication puts after it"
        for name, value in (("userName", basic.userName), ("password", basic.password)):
            if value and _CONTROL_CHARACTER.search(value):
                yield f"basicAuthConfig.{name}", "must not contain control characters (RFC 7617)"


def unsendable_request(error: Exception) -> ApplicationError:
    """The final failure of a request the HTTP client cannot send (an invalid header value, URL or host
    name): retrying cannot heal it, and the client's own message may quote a header (a credential), so
    only the exception's type is kept."""
    return final_failure(
        f"the request cannot be sent ({type(error).__name__}): the subscription's URL or credentials are "
        "not valid in an HTTP request; correct the subscription",
        error_type="UnsendableRequest",
    )


class HttpDestination(Destination[HttpConfig]):
    type = "HTTP"
    config_field = "httpConfig"
    config_model = HttpConfig
    activity_name = ACTIVITY
    summary_verb = "POST to"
    secret_paths = (("basicAuthConfig", "password"), ("bearerTokenAuthConfig", "bearerToken"))
    signs_deliveries = True

    def check(
        self, config: HttpConfig, *, trigger: TriggerDefinition, destinations: DestinationPolicy
    ) -> None:
        self.check_url(
            "url",
            config.url,
            destinations=destinations,
            schemes=("http", "https"),
            expected="must be an absolute http or https URL",
        )
        if (
            trigger.type is TriggerType.FIRE_AND_FORGET
            and config.httpDispatchMode is not HttpDispatchMode.SYNC
        ):
            raise InvalidField(
                self.field("httpDispatchMode"),
                f"must be SYNC (or left out) for the FIRE_AND_FORGET trigger {trigger.id}: "
                "ASYNC and DYNAMIC are how REQUEST_RESPONSE subscribers answer",
            )
        problem = next(credential_problems(config), None)
        if problem is not None:
            raise InvalidField(self.field(problem[0]), problem[1])
        if config.httpAuthenticationType is HttpAuthenticationType.BASIC_AUTH:
            basic = config.basicAuthConfig
            if basic is None or not basic.userName:
                raise InvalidField(self.field("basicAuthConfig.userName"), "is required for BASIC_AUTH")
            if not basic.password:
                raise InvalidField(self.field("basicAuthConfig.password"), "is required for BASIC_AUTH")
        if config.httpAuthenticationType is HttpAuthenticationType.BEARER_TOKEN:
            bearer = config.bearerTokenAuthConfig
            if bearer is None or not bearer.bearerToken:
                raise InvalidField(
                    self.field("bearerTokenAuthConfig.bearerToken"), "is required for BEARER_TOKEN"
                )

    def describe_target(self, config: HttpConfig) -> str:
        return config.url

    def response_mode(self, config: HttpConfig) -> HttpDispatchMode:
        return config.httpDispatchMode

    def keep_stored_secrets(self, document: dict[str, Any], stored: dict[str, Any]) -> None:
        """Also keeps the whole stored credential object when an update names the scheme but omits it."""
        holders = {
            HttpAuthenticationType.BASIC_AUTH: "basicAuthConfig",
            HttpAuthenticationType.BEARER_TOKEN: "bearerTokenAuthConfig",
        }
        holder = holders.get(HttpAuthenticationType(document.get("httpAuthenticationType") or "NO_AUTH"))
        if holder is not None and document.get(holder) is None:
            document[holder] = stored.get(holder)
        super().keep_stored_secrets(document, stored)

    def activity(self, resources: DeliveryResources) -> HttpDelivery:
        return HttpDelivery(self, resources)


HTTP = HttpDestination()


class HttpDelivery(DeliveryActivity[HttpDestination]):
    """``deliver_http`` on a worker's shared HTTP client (closed by the worker, not here)."""

    def _retry(
        self,
        message: str,
        *,
        request: DeliveryRequest,
        after: timedelta | None = None,
        status_code: int | None = None,
        response: str | None = None,
    ) -> Exception:
        return retryable_failure(
            message,
            error_type="DeliveryRetry",
            settings=self.resources.settings,
            request=request,
            retry_after=after,
            status_code=status_code,
            response=response,
        )

    @activity.defn(name=ACTIVITY)
    async def deliver_http(self, request: DeliveryRequest) -> DeliveryResult:
        """POST the trigger input plus ``_metadata`` to the subscriber and classify its response."""
        subscription, secret = await self.target(request)
        config = self.destination.delivery_config(subscription)
        content = json.dumps(self.destination.message(request, secret=secret), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **auth_headers(config),
            **signature_headers(
                secrets=subscription.active_signing_secrets(datetime.now(UTC)),
                msg_id=request.invocation_id,
                body=content,
            ),
        }
        timeout = self.resources.settings.delivery_timeout.total_seconds()
        try:
            response = await self.resources.http_client.post(
                config.url, content=content, headers=headers, timeout=timeout, follow_redirects=False
            )
        except DestinationRefused as exc:
            raise final_failure(f"delivery refused: {exc.reason}", error_type="DestinationRefused") from None
        except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeError) as exc:
            raise unsendable_request(exc) from None
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
                after=retry_after(response),
                status_code=status,
                response=_body_excerpt(response),
            )
        if not 200 <= status < 300:
            raise final_failure(
                f"subscriber answered {status}: {_body_excerpt(response)}",
                error_type=SUBSCRIBER_GONE if status == HTTPStatus.GONE else f"SubscriberStatus{status}",
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

        def rejected(reason: str) -> ApplicationError:
            return final_failure(reason, error_type="BadAnswer", status_code=response.status_code)

        try:
            answer = response.json()
        except ValueError:
            raise rejected(f"subscriber answer is not JSON: {_body_excerpt(response)}") from None
        if not isinstance(answer, dict):
            raise rejected("output: must be a JSON object")
        try:
            # What a callback's body is refused for (too deep, a lone surrogate, a number that is not
            # finite) would otherwise fail the size check below and the data converter, attempt after attempt.
            check_nesting("output", answer)
            check_json_document({"output": answer})
        except InvalidField as exc:
            raise rejected(f"subscriber answer rejected: {exc.message}") from None
        size, limit = json_size(answer), PayloadLimits().document
        if size > limit:  # Temporal would terminate the workflow over it: the answer is refused instead
            raise rejected(
                f"subscriber answer rejected: output is {size} bytes as JSON, over the limit of {limit} "
                "bytes that one invocation can carry through Temporal"
            )
        try:
            self.resources.catalog.require(request.trigger_id).validate_output(answer)
        except InvalidField as exc:
            raise rejected(f"subscriber answer rejected: {exc.message}") from None
        return answer
