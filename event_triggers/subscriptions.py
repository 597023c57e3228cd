"""Subscription rules: validation, limits, secret handling, PUT and JSON Patch semantics.

Routes call these functions; they raise ``event_triggers.errors`` exceptions that name the field.
"""

from __future__ import annotations

import copy
import logging
import uuid
from datetime import timedelta
from typing import Any

import jsonpatch
from pydantic import TypeAdapter, ValidationError
from temporalio.service import RPCError

from event_triggers.catalog import Catalog, TriggerType
from event_triggers.destinations.registry import DESTINATIONS, config_fields, destination_for
from event_triggers.errors import Conflict, InvalidField, NotFound, Unavailable
from event_triggers.filters import check_filter_syntax
from event_triggers.invocations.resume import resume_paused
from event_triggers.models import (
    SubscriptionFields,
    SubscriptionPublic,
    SubscriptionReplace,
    check_lengths,
    parse_wire,
)
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.security.webhook_signing import generate_signing_secret
from event_triggers.store import Store, Subscription
from event_triggers.temporal import TemporalConnection

logger = logging.getLogger(__name__)

MAX_RESPONSE_DEADLINE = timedelta(days=7)
SUBSCRIPTION_LIMITS = {TriggerType.FIRE_AND_FORGET: 50, TriggerType.REQUEST_RESPONSE: 1}
_BASE_PATCHABLE_FIELDS = frozenset(
    {"name", "description", "enabled", "type", "filter", "responseDeadline", "maxDeliveriesPerSecond"}
)
_durations = TypeAdapter(timedelta)


def patchable_fields() -> frozenset[str]:
    """What JSON Patch may touch: the common fields and every destination's config field."""
    return _BASE_PATCHABLE_FIELDS | config_fields().keys()


def parse_response_deadline(value: str) -> timedelta:
    """An ISO-8601 duration, positive and at most ``P7D``; its letters in either case, as Java's
    ``Duration.parse`` (SailPoint's) reads them."""
    try:
        if not value.upper().startswith("P"):
            raise ValueError
        duration = _durations.validate_python(value.upper())
    except (ValidationError, ValueError):
        raise InvalidField(
            "responseDeadline", f"'{value}' is not an ISO-8601 duration such as PT1H"
        ) from None
    if duration <= timedelta(0):
        raise InvalidField("responseDeadline", "must be longer than zero")
    if duration > MAX_RESPONSE_DEADLINE:
        raise InvalidField("responseDeadline", "must be at most P7D")
    return duration


def _check_fields(
    fields: SubscriptionFields, *, catalog: Catalog, destinations: DestinationPolicy
) -> SubscriptionFields:
    """Rules that hold for any subscription on its own (no store access); returns it with its
    destination's config normalised (defaults filled in)."""
    check_lengths(fields)
    if not fields.name.strip():
        raise InvalidField("name", "must not be empty")
    trigger = catalog.require(fields.triggerId)
    parse_response_deadline(fields.responseDeadline)
    if fields.filter:
        check_filter_syntax(fields.filter)
    destination = destination_for(fields.type)
    known = config_fields()
    for name, value in (fields.model_extra or {}).items():
        if name not in known:
            raise InvalidField(name, "is not a known field")
        if name != destination.config_field and value is not None:
            raise InvalidField(name, f"must be null when type is {fields.type}")
    if getattr(fields, destination.config_field, None) is None:
        raise InvalidField(destination.config_field, f"is required when type is {fields.type}")
    config = destination.config(fields)
    check_lengths(config, prefix=f"{destination.config_field}.")
    destination.check(config, trigger=trigger, destinations=destinations)
    document = fields.model_dump(include=set(SubscriptionFields.model_fields))
    document[destination.config_field] = config.model_dump(mode="json")
    return SubscriptionFields.model_validate(document)


def _keep_stored_secrets(fields: SubscriptionFields, stored: Subscription) -> SubscriptionFields:
    """A PUT/PATCH that omits a secret keeps the stored one (reads never return secrets)."""
    destination = DESTINATIONS.get(fields.type)
    if destination is None or fields.type != stored.type:
        return fields
    config, old = destination.document(fields), destination.document(stored)
    if config is not None and old is not None:
        destination.keep_stored_secrets(config, old)
    return fields


def _check_immutable(fields: SubscriptionFields, stored: Subscription) -> None:
    if fields.triggerId != stored.triggerId:
        raise InvalidField("triggerId", "cannot be changed")
    if fields.type != stored.type:
        raise InvalidField("type", f"cannot change from {stored.type} to {fields.type}")
    destination = destination_for(stored.type)
    config, old = destination.document(fields), destination.document(stored)
    if config is not None and old is not None:
        for name in destination.immutable_fields:
            if config.get(name) != old.get(name):
                raise InvalidField(destination.field(name), "cannot be changed after creation")


def to_public(subscription: Subscription, *, catalog: Catalog) -> SubscriptionPublic:
    """The API view: trigger name added, every destination's config field present, every secret nulled."""
    document = {
        "id": subscription.id,
        **subscription.client_fields().model_dump(mode="json"),
        "disabledReason": subscription.disabledReason,
        "disabledAt": subscription.disabledAt,
    }
    document.update(dict.fromkeys(config_fields().keys() - document.keys()))
    destination = DESTINATIONS.get(subscription.type)
    config = destination.document(subscription) if destination else None
    if destination is not None and config is not None:
        document[destination.config_field] = destination.public(copy.deepcopy(config))
    return SubscriptionPublic(triggerName=catalog.require(subscription.triggerId).name, **document)


async def create_subscription(
    *, store: Store, catalog: Catalog, destinations: DestinationPolicy, body: object
) -> Subscription:
    fields = _check_fields(parse_wire(SubscriptionFields, body), catalog=catalog, destinations=destinations)
    trigger = catalog.require(fields.triggerId)
    limit = SUBSCRIPTION_LIMITS[trigger.type]
    if await store.count_subscriptions(trigger_id=trigger.id) >= limit:
        raise Conflict(f"triggerId: {trigger.id} already has the maximum of {limit} subscription(s)")
    return await store.add_subscription(
        subscription_id=str(uuid.uuid4()), fields=fields, signing_secret=generate_signing_secret()
    )


async def require_subscription(*, store: Store, subscription_id: str) -> Subscription:
    subscription = await store.get_subscription(subscription_id)
    if subscription is None:
        raise NotFound(f"id: subscription '{subscription_id}' does not exist")
    return subscription


async def replace_subscription(
    *,
    store: Store,
    catalog: Catalog,
    destinations: DestinationPolicy,
    temporal: TemporalConnection,
    subscription_id: str,
    body: object,
) -> Subscription:
    stored = await require_subscription(store=store, subscription_id=subscription_id)
    replacement = parse_wire(SubscriptionReplace, body)
    check_lengths(replacement)
    if replacement.id is not None and replacement.id != subscription_id:
        raise InvalidField("id", "cannot be changed")
    document = replacement.model_dump(exclude=set(SubscriptionReplace.READ_ONLY), exclude_unset=True)
    document.setdefault("triggerId", stored.triggerId)
    fields = parse_wire(SubscriptionFields, document)
    return await _save_update(
        store=store,
        catalog=catalog,
        destinations=destinations,
        temporal=temporal,
        stored=stored,
        fields=fields,
    )


async def patch_subscription(
    *,
    store: Store,
    catalog: Catalog,
    destinations: DestinationPolicy,
    temporal: TemporalConnection,
    subscription_id: str,
    operations: object,
) -> Subscription:
    stored = await require_subscription(store=store, subscription_id=subscription_id)
    if not isinstance(operations, list) or not operations:
        raise InvalidField("body", "must be a non-empty JSON Patch array of operations")
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise InvalidField(f"[{index}]", "must be an object with op and path")
        for key in ("path", "from"):
            pointer = operation.get(key)
            if key == "path" or pointer is not None:
                field = str(pointer or "").lstrip("/").split("/")[0]
                if field not in patchable_fields():
                    raise InvalidField(f"[{index}].{key}", f"'{pointer}' is not a patchable field")
    document: dict[str, Any] = to_public(stored, catalog=catalog).model_dump(
        mode="json", exclude=set(SubscriptionReplace.READ_ONLY)
    )
    try:
        patched = jsonpatch.apply_patch(document, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as exc:
        raise InvalidField("body", f"cannot apply the patch: {exc}") from None
    fields = parse_wire(SubscriptionFields, patched)
    return await _save_update(
        store=store,
        catalog=catalog,
        destinations=destinations,
        temporal=temporal,
        stored=stored,
        fields=fields,
    )


async def _save_update(
    *,
    store: Store,
    catalog: Catalog,
    destinations: DestinationPolicy,
    temporal: TemporalConnection,
    stored: Subscription,
    fields: SubscriptionFields,
) -> Subscription:
    """Enabling a paused subscription also wakes its waiting invocations (``resume_paused``)."""
    _check_immutable(fields, stored)
    fields = _check_fields(_keep_stored_secrets(fields, stored), catalog=catalog, destinations=destinations)
    saved = await store.replace_subscription(subscription_id=stored.id, fields=fields)
    if stored.paused and saved.enabled:
        try:
            await resume_paused(await temporal.client(), stored.id)
        except (Unavailable, RPCError) as exc:  # they look again within the hour
            logger.warning("enabled subscription %s, its waiting invocations not woken: %s", stored.id, exc)
    return saved


async def rotate_signing_secret(*, store: Store, subscription_id: str, grace: timedelta) -> Subscription:
    """A new current secret; the old one keeps signing during ``grace`` so receivers can switch over."""
    rotated = await store.rotate_signing_secret(
        subscription_id=subscription_id, new_secret=generate_signing_secret(), grace=grace
    )
    if rotated is None:
        raise NotFound(f"id: subscription '{subscription_id}' does not exist")
    return rotated


async def delete_subscription(*, store: Store, subscription_id: str) -> None:
    if not await store.delete_subscription(subscription_id):
        raise NotFound(f"id: subscription '{subscription_id}' does not exist")
