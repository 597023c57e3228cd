"""The EventBridge event of one invocation: its ``PutEvents`` entry, its source name and its size.

Pure functions, shared by the delivery activity (which sends the entry) and the start API (which
refuses an event whose entry could never be sent with 413, before starting anything).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from event_triggers.errors import PayloadTooLarge
from event_triggers.models import EventBridgeConfig, SubscriptionType, TriggerType
from event_triggers.store import Subscription

MAX_ENTRY_BYTES = 256 * 1024
"""EventBridge's limit for one ``PutEvents`` entry (Source + DetailType + Detail + Resources, UTF-8)."""
STAND_IN_INVOCATION_ID = "00000000-0000-0000-0000-000000000000"
STAND_IN_SECRET = "0" * 64
"""Same lengths as a real invocation id (UUID) and secret (HMAC-SHA256 hex), for sizing before a start."""


def event_source(*, prefix: str, subscription_id: str, trigger_id: str) -> str:
    """``{prefix}/{subscription id}/{namespace}/{trigger}``: a subscriber's rules match on its prefix."""
    return "/".join([prefix.rstrip("/"), subscription_id, *trigger_id.split(":", 1)])


def eventbridge_metadata(
    *,
    invocation_id: str,
    trigger_id: str,
    trigger_kind: TriggerType,
    callback_url: str,
    secret: str,
) -> dict[str, Any]:
    """``_metadata`` as SailPoint sends it to EventBridge: no ``responseMode`` (RR is always async)."""
    if trigger_kind is TriggerType.FIRE_AND_FORGET:
        return {"invocationId": invocation_id, "triggerId": trigger_id, "triggerType": "fireAndForget"}
    return {
        "invocationId": invocation_id,
        "triggerId": trigger_id,
        "triggerType": "requestResponse",
        "callbackURL": callback_url,
        "secret": secret,
    }


def without_nulls(value: Any) -> Any:
    """``value`` with every null object member removed, at any depth (as SailPoint's EventBridge events)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def eventbridge_entry(
    *,
    source_prefix: str,
    config: EventBridgeConfig,
    subscription_id: str,
    trigger_id: str,
    payload: dict[str, Any],
    metadata: dict[str, Any],
) -> dict[str, str]:
    """The one ``PutEvents`` entry of an invocation: Detail = trigger input + ``_metadata``, nulls removed."""
    detail = without_nulls({**payload, "_metadata": metadata})
    return {
        "Source": event_source(prefix=source_prefix, subscription_id=subscription_id, trigger_id=trigger_id),
        "DetailType": trigger_id,
        "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
        "EventBusName": config.eventBusName,
    }


def eventbridge_entry_size(entry: dict[str, str]) -> int:
    """The size EventBridge counts for an entry (the bus name is not counted; we send no Time/Resources)."""
    return sum(len(entry[field].encode("utf-8")) for field in ("Source", "DetailType", "Detail"))


def check_entry_size(entry: dict[str, str]) -> None:
    """Raise ``PayloadTooLarge`` for an entry EventBridge would refuse."""
    size = eventbridge_entry_size(entry)
    if size > MAX_ENTRY_BYTES:
        raise PayloadTooLarge(
            f"input: the EventBridge event would be {size} bytes, over EventBridge's limit of "
            f"{MAX_ENTRY_BYTES} bytes (256 KB) per event"
        )


def check_start_entry_size(
    *,
    source_prefix: str,
    subscription: Subscription,
    trigger_id: str,
    trigger_kind: TriggerType,
    payload: dict[str, Any],
    callback_url_for: Callable[[str], str],
) -> None:
    """Before any start: would this event fit an EVENTBRIDGE subscription? (Other types: nothing to check.)

    Stand-ins of the real lengths (invocation id, secret) make the computed size exact.
    """
    if subscription.type is not SubscriptionType.EVENTBRIDGE or subscription.eventBridgeConfig is None:
        return
    metadata = eventbridge_metadata(
        invocation_id=STAND_IN_INVOCATION_ID,
        trigger_id=trigger_id,
        trigger_kind=trigger_kind,
        callback_url=callback_url_for(STAND_IN_INVOCATION_ID),
        secret=STAND_IN_SECRET,
    )
    check_entry_size(
        eventbridge_entry(
            source_prefix=source_prefix,
            config=subscription.eventBridgeConfig,
            subscription_id=subscription.id,
            trigger_id=trigger_id,
            payload=payload,
            metadata=metadata,
        )
    )
