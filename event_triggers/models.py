"""Wire models of the SailPoint Triggers API v1 (field names as in the spec, camelCase)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from event_triggers.errors import InvalidField


class WireModel(BaseModel):
    """Strict about unknown fields, so a typo is a 400 and not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)


_M = TypeVar("_M", bound=BaseModel)

# Bounds of every string a client sets on a subscription (SailPoint's spec sets none): a subscription
# travels with each of its invocations, so an unbounded field would make every start of its trigger fail.
NAME_MAX = 255
"""Names and identifiers: subscription name, trigger id, user name, AWS account and region."""
DESCRIPTION_MAX = 2000
URL_MAX = 2048
FILTER_MAX = 2048
CREDENTIAL_MAX = 4096
"""Passwords, bearer tokens, signing secrets."""
DURATION_MAX = 64
ROLE_ARN_MAX = 2048
"""IAM's own limit for a role ARN."""
MIN_DELIVERIES_PER_SECOND = 0.001
"""The lowest rate limit: one delivery every 1000 s (fractions are how a limit below 1/s is said)."""
MAX_DELIVERIES_PER_SECOND = 1000.0
"""The highest rate limit: above it a limit protects nobody, and each limited delivery writes the store."""


@dataclass(frozen=True)
class MaxLength:
    """The longest string a client may set: published as ``maxLength``, checked by ``check_lengths``.

    Not a pydantic constraint, because stored subscriptions are read with the same models: a row written
    before a bound existed must stay readable (and fixable), not break every read of its trigger.
    """

    limit: int

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["maxLength"] = self.limit
        return schema


def check_lengths(model: BaseModel, *, prefix: str = "") -> None:
    """Raise ``InvalidField`` for the first string of ``model`` (nested models too) over its ``MaxLength``."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        field = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            check_lengths(value, prefix=f"{field}.")
            continue
        bound = next((item for item in info.metadata if isinstance(item, MaxLength)), None)
        if bound is not None and isinstance(value, str) and len(value) > bound.limit:
            raise InvalidField(field, f"must be at most {bound.limit} characters (it has {len(value)})")


class TriggerType(StrEnum):
    """Whether a trigger only notifies or waits for an answer (kept here, light enough for workflow code)."""

    FIRE_AND_FORGET = "FIRE_AND_FORGET"
    REQUEST_RESPONSE = "REQUEST_RESPONSE"


class HttpDispatchMode(StrEnum):
    """How a REQUEST_RESPONSE answer comes back: in the response (SYNC), by callback (ASYNC), or either."""

    SYNC = "SYNC"
    ASYNC = "ASYNC"
    DYNAMIC = "DYNAMIC"


DeliveriesPerSecond = Annotated[
    float | None,
    Field(
        strict=True,
        ge=MIN_DELIVERIES_PER_SECOND,
        le=MAX_DELIVERIES_PER_SECOND,
        allow_inf_nan=False,
        description="Extension: at most this many deliveries a second to this subscription, across every "
        "worker (fractions allowed, e.g. 0.5 is one every 2 s); more wait their turn. Null: unlimited.",
    ),
]
"""``maxDeliveriesPerSecond``: a JSON number (a string or a boolean is a 400), enforced by
``event_triggers.rate_limits``."""


class SubscriptionFields(WireModel):
    """What a client may set on a subscription (POST, PUT, and PATCH after applying the patch).

    The destination's config sits in a field named by its type's destination (``httpConfig``,
    ``sqsConfig``, ...): kept as extra members here and checked by ``event_triggers.subscriptions``
    against the destination registry, so this model names no destination type.
    """

    model_config = ConfigDict(extra="allow")

    name: Annotated[str, MaxLength(NAME_MAX)]
    description: Annotated[str | None, MaxLength(DESCRIPTION_MAX)] = None
    triggerId: Annotated[str, MaxLength(NAME_MAX)]
    type: Annotated[str, MaxLength(NAME_MAX)]
    responseDeadline: Annotated[str, MaxLength(DURATION_MAX)] = "PT1H"
    enabled: bool = True
    filter: Annotated[str | None, MaxLength(FILTER_MAX)] = None
    maxDeliveriesPerSecond: DeliveriesPerSecond = None


class SubscriptionReplace(SubscriptionFields):
    """PUT body: a full replacement; ``id`` and ``triggerId`` may be repeated but not changed."""

    id: Annotated[str | None, MaxLength(NAME_MAX)] = None
    triggerId: Annotated[str | None, MaxLength(NAME_MAX)] = None  # type: ignore[assignment]
    triggerName: Annotated[str | None, MaxLength(NAME_MAX)] = None
    signingSecret: Annotated[str | None, MaxLength(CREDENTIAL_MAX)] = None
    """Read-only (set by create or rotation); accepted and ignored so a create response can be sent back."""
    disabledReason: str | None = None
    """Read-only (set by an automatic disable); accepted and ignored, as every read-only field is."""
    disabledAt: datetime | None = None
    """Read-only, like ``disabledReason``."""

    READ_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"id", "triggerName", "signingSecret", "disabledReason", "disabledAt"}
    )


class SubscriptionPublic(BaseModel):
    """A subscription as the API returns it: every destination's config field (null but its own), and
    secrets always null or left out."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    description: str | None = None
    triggerId: str
    triggerName: str
    type: str
    responseDeadline: str
    enabled: bool
    filter: str | None = None
    maxDeliveriesPerSecond: DeliveriesPerSecond = None
    disabledReason: str | None = Field(
        default=None,
        description="Extension, read-only: why the service disabled the subscription by itself (its "
        "subscriber kept failing, or answered 410 Gone); null otherwise. Cleared when it is enabled again.",
    )
    disabledAt: datetime | None = Field(
        default=None, description="Extension, read-only: when the service disabled it by itself."
    )


class SubscriptionCreated(SubscriptionPublic):
    """The create response: the only time the signing secret is shown (HTTP subscriptions)."""

    signingSecret: str | None = None


class SigningSecretRotated(BaseModel):
    signingSecret: str
    previousSecretExpires: datetime | None


class ValidateFilterRequest(WireModel):
    input: dict[str, Any]
    filter: str = Field(max_length=FILTER_MAX)


class ValidateFilterResult(BaseModel):
    isValid: bool
    isValidJSONPath: bool
    isPathExist: bool
    error: str | None = Field(
        default=None,
        description="Extension to SailPoint's answer: why the filter is not valid JSONPath (only then).",
    )


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


LONE_SURROGATE = "contains a lone surrogate, not valid Unicode"
NOT_FINITE = "is not a finite number"


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_json_document(document: object) -> None:
    """Raise ``InvalidField`` naming a value JSON allows to be written but nothing can store or
    send: a string with a lone surrogate (``"\\ud800"``), a number that is not finite (``1e400``,
    ``NaN``, ``Infinity``, which Python's parser accepts).

    Such a value would be stored and then fail every read (a 500 on each page that shows it), or be
    silently stored as null. The walk is iterative (a deep document cannot exhaust the stack); a
    path reads ``input.items[0].name`` (``body`` for the document itself).
    """
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                raise InvalidField(path or "body", LONE_SURROGATE)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidField(path or "body", NOT_FINITE)
        elif isinstance(value, dict):
            for key, item in value.items():
                if _has_lone_surrogate(key):
                    raise InvalidField(path or "body", f"a member name {LONE_SURROGATE}")
                pending.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            pending.extend((f"{path or 'body'}[{index}]", item) for index, item in enumerate(value))
