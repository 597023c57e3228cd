"""Wire models of the SailPoint Triggers API v1 (field names as in the spec, camelCase)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from event_triggers.errors import InvalidField


class WireModel(BaseModel):
    """Strict about unknown fields, so a typo is a 400 and not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)


_M = TypeVar("_M", bound=BaseModel)


class TriggerType(StrEnum):
    """Whether a trigger only notifies or waits for an answer (kept here, light enough for workflow code)."""

    FIRE_AND_FORGET = "FIRE_AND_FORGET"
    REQUEST_RESPONSE = "REQUEST_RESPONSE"


class SubscriptionType(StrEnum):
    HTTP = "HTTP"
    EVENTBRIDGE = "EVENTBRIDGE"


class HttpDispatchMode(StrEnum):
    """How a REQUEST_RESPONSE answer comes back; EventBridge deliveries are always ASYNC."""

    SYNC = "SYNC"
    ASYNC = "ASYNC"
    DYNAMIC = "DYNAMIC"


class HttpAuthenticationType(StrEnum):
    NO_AUTH = "NO_AUTH"
    BASIC_AUTH = "BASIC_AUTH"
    BEARER_TOKEN = "BEARER_TOKEN"


class BasicAuthConfig(WireModel):
    userName: str | None = None
    password: str | None = None


class BearerTokenAuthConfig(WireModel):
    bearerToken: str | None = None


class HttpConfig(WireModel):
    url: str
    httpDispatchMode: HttpDispatchMode = HttpDispatchMode.SYNC
    httpAuthenticationType: HttpAuthenticationType = HttpAuthenticationType.NO_AUTH
    basicAuthConfig: BasicAuthConfig | None = None
    bearerTokenAuthConfig: BearerTokenAuthConfig | None = None


class EventBridgeConfig(WireModel):
    awsAccount: str
    awsRegion: str
    eventBusName: str = "default"
    """Extension: the bus name or ARN that receives the events."""
    roleArn: str | None = None
    """Extension: a role to assume (STS) for a bus in another account."""


class SubscriptionFields(WireModel):
    """What a client may set on a subscription (POST, PUT, and PATCH after applying the patch)."""

    name: str
    description: str | None = None
    triggerId: str
    type: SubscriptionType
    responseDeadline: str = "PT1H"
    httpConfig: HttpConfig | None = None
    eventBridgeConfig: EventBridgeConfig | None = None
    enabled: bool = True
    filter: str | None = None


class SubscriptionReplace(SubscriptionFields):
    """PUT body: a full replacement; ``id`` and ``triggerId`` may be repeated but not changed."""

    id: str | None = None
    triggerId: str | None = None  # type: ignore[assignment]
    triggerName: str | None = None
    signingSecret: str | None = None
    """Read-only (set by create or rotation); accepted and ignored so a create response can be sent back."""


class SubscriptionPublic(BaseModel):
    """A subscription as the API returns it; secrets are always null."""

    id: str
    name: str
    description: str | None = None
    triggerId: str
    triggerName: str
    type: SubscriptionType
    responseDeadline: str
    httpConfig: HttpConfig | None = None
    eventBridgeConfig: EventBridgeConfig | None = None
    enabled: bool
    filter: str | None = None


class SubscriptionCreated(SubscriptionPublic):
    """The create response: the only time the signing secret is shown (HTTP subscriptions)."""

    signingSecret: str | None = None


class SigningSecretRotated(BaseModel):
    signingSecret: str
    previousSecretExpires: datetime | None


class ValidateFilterRequest(WireModel):
    input: dict[str, Any]
    filter: str


class ValidateFilterResult(BaseModel):
    isValid: bool
    isValidJSONPath: bool
    isPathExist: bool


def parse_wire(model: type[_M], data: object, *, prefix: str = "") -> _M:
    """Validate ``data`` as ``model``; the first problem becomes an ``InvalidField`` naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"])
        field = ".".join(part for part in (prefix, location) if part)
        reason = "is required" if error["type"] == "missing" else error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "is not a known field"
        raise InvalidField(field or "body", reason) from None
