"""Subscription rules: validation, limits, secret handling, PUT and JSON Patch semantics.

Routes call these functions; they raise ``event_triggers.errors`` exceptions that name the field.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import boto3
import jsonpatch
from pydantic import TypeAdapter, ValidationError

from event_triggers.catalog import Catalog, TriggerType
from event_triggers.errors import Conflict, InvalidField, NotFound
from event_triggers.filters import check_filter_syntax
from event_triggers.models import (
    HttpAuthenticationType,
    HttpDispatchMode,
    SubscriptionFields,
    SubscriptionPublic,
    SubscriptionReplace,
    SubscriptionType,
    check_lengths,
    parse_wire,
)
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.security.webhook_signing import generate_signing_secret
from event_triggers.store import Store, Subscription

MAX_RESPONSE_DEADLINE = timedelta(days=7)
SUBSCRIPTION_LIMITS = {TriggerType.FIRE_AND_FORGET: 50, TriggerType.REQUEST_RESPONSE: 1}
PATCHABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "enabled",
        "type",
        "filter",
        "responseDeadline",
        "httpConfig",
        "eventBridgeConfig",
    }
)
_AWS_ACCOUNT = re.compile(r"^[0-9]{12}$")
_durations = TypeAdapter(timedelta)


@cache
def aws_region_names() -> frozenset[str]:
    """Every region boto3 knows EventBridge in, across partitions (no network call)."""
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("events", partition_name=partition)
    )


def parse_response_deadline(value: str) -> timedelta:
    """An ISO-8601 duration, positive and at most ``P7D``."""
    try:
        if not value.startswith("P"):
            raise ValueError
        duration = _durations.validate_python(value)
    except (ValidationError, ValueError):
        raise InvalidField(
            "responseDeadline", f"'{value}' is not an ISO-8601 duration such as PT1H"
        ) from None
    if duration <= timedelta(0):
        raise InvalidField("responseDeadline", "must be longer than zero")
    if duration > MAX_RESPONSE_DEADLINE:
        raise InvalidField("responseDeadline", "must be at most P7D")
    return duration


def _check_http_url(url: str, *, destinations: DestinationPolicy) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("httpConfig.url", "must be an absolute http or https URL")
    try:
        destinations.check_url_literal(url)
    except InvalidField as refused:
        raise InvalidField("httpConfig.url", refused.reason) from None


def _check_fields(fields: SubscriptionFields, *, catalog: Catalog, destinations: DestinationPolicy) -> None:
    """Rules that hold for any subscription on its own (no store access)."""
    check_lengths(fields)
    if not fields.name.strip():
        raise InvalidField("name", "must not be empty")
    trigger = catalog.require(fields.triggerId)
    parse_response_deadline(fields.responseDeadline)
    if fields.filter:
        check_filter_syntax(fields.filter)
    if fields.type is SubscriptionType.HTTP:
        if fields.eventBridgeConfig is not None:
            raise InvalidField("eventBridgeConfig", "must be null for an HTTP subscription")
        http = fields.httpConfig
        if http is None:
            raise InvalidField("httpConfig", "is required for an HTTP subscription")
        _check_http_url(http.url, destinations=destinations)
        if trigger.type is TriggerType.FIRE_AND_FORGET and http.httpDispatchMode is not HttpDispatchMode.SYNC:
            raise InvalidField(
                "httpConfig.httpDispatchMode",
                f"must be SYNC (or left out) for the FIRE_AND_FORGET trigger {trigger.id}: "
                "ASYNC and DYNAMIC are how REQUEST_RESPONSE subscribers answer",
            )
        if http.httpAuthenticationType is HttpAuthenticationType.BASIC_AUTH:
            basic = http.basicAuthConfig
            if basic is None or not basic.userName:
                raise InvalidField("httpConfig.basicAuthConfig.userName", "is required for BASIC_AUTH")
            if not basic.password:
                raise InvalidField("httpConfig.basicAuthConfig.password", "is required for BASIC_AUTH")
        if http.httpAuthenticationType is HttpAuthenticationType.BEARER_TOKEN:
            bearer = http.bearerTokenAuthConfig
            if bearer is None or not bearer.bearerToken:
                raise InvalidField(
                    "httpConfig.bearerTokenAuthConfig.bearerToken", "is required for BEARER_TOKEN"
                )
    else:
        if fields.httpConfig is not None:
            raise InvalidField("httpConfig", "must be null for an EVENTBRIDGE subscription")
        bridge = fields.eventBridgeConfig
        if bridge is None:
            raise InvalidField("eventBridgeConfig", "is required for an EVENTBRIDGE subscription")
        if not _AWS_ACCOUNT.match(bridge.awsAccount):
            raise InvalidField("eventBridgeConfig.awsAccount", "must be a 12-digit AWS account id")
        if bridge.awsRegion not in aws_region_names():
            raise InvalidField("eventBridgeConfig.awsRegion", f"'{bridge.awsRegion}' is not an AWS region")
        if not bridge.eventBusName:
            raise InvalidField("eventBridgeConfig.eventBusName", "must not be empty")


def _keep_stored_secrets(fields: SubscriptionFields, stored: Subscription) -> SubscriptionFields:
    """A PUT/PATCH that omits a secret keeps the stored one (reads never return secrets)."""
    http, old = fields.httpConfig, stored.httpConfig
    if http is None or old is None:
        return fields
    if http.basicAuthConfig and old.basicAuthConfig and http.basicAuthConfig.password is None:
        http.basicAuthConfig.password = old.basicAuthConfig.password
    if (
        http.bearerTokenAuthConfig
        and old.bearerTokenAuthConfig
        and http.bearerTokenAuthConfig.bearerToken is None
    ):
        http.bearerTokenAuthConfig.bearerToken = old.bearerTokenAuthConfig.bearerToken
    if http.httpAuthenticationType is HttpAuthenticationType.BASIC_AUTH and http.basicAuthConfig is None:
        http.basicAuthConfig = old.basicAuthConfig
    if (
        http.httpAuthenticationType is HttpAuthenticationType.BEARER_TOKEN
        and http.bearerTokenAuthConfig is None
    ):
        http.bearerTokenAuthConfig = old.bearerTokenAuthConfig
    return fields


def _check_immutable(fields: SubscriptionFields, stored: Subscription) -> None:
    if fields.triggerId != stored.triggerId:
        raise InvalidField("triggerId", "cannot be changed")
    bridge_before = stored.type is SubscriptionType.EVENTBRIDGE
    if bridge_before != (fields.type is SubscriptionType.EVENTBRIDGE):
        raise InvalidField("type", "cannot change to or from EVENTBRIDGE")
    if bridge_before and fields.eventBridgeConfig and stored.eventBridgeConfig:
        for name in ("awsAccount", "awsRegion"):
            if getattr(fields.eventBridgeConfig, name) != getattr(stored.eventBridgeConfig, name):
                raise InvalidField(f"eventBridgeConfig.{name}", "cannot be changed after creation")


def to_public(subscription: Subscription, *, catalog: Catalog) -> SubscriptionPublic:
    """The API view: trigger name added, every secret nulled."""
    document = subscription.model_dump(exclude={"created", "modified"})
    public = SubscriptionPublic(triggerName=catalog.require(subscription.triggerId).name, **document)
    if public.httpConfig:
        if public.httpConfig.basicAuthConfig:
            public.httpConfig.basicAuthConfig.password = None
        if public.httpConfig.bearerTokenAuthConfig:
            public.httpConfig.bearerTokenAuthConfig.bearerToken = None
    return public


async def create_subscription(
    *, store: Store, catalog: Catalog, destinations: DestinationPolicy, body: object
) -> Subscription:
    fields = parse_wire(SubscriptionFields, body)
    _check_fields(fields, catalog=catalog, destinations=destinations)
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
    *, store: Store, catalog: Catalog, destinations: DestinationPolicy, subscription_id: str, body: object
) -> Subscription:
    stored = await require_subscription(store=store, subscription_id=subscription_id)
    replacement = parse_wire(SubscriptionReplace, body)
    check_lengths(replacement)
    if replacement.id is not None and replacement.id != subscription_id:
        raise InvalidField("id", "cannot be changed")
    document = replacement.model_dump(exclude={"id", "triggerName", "signingSecret"}, exclude_unset=True)
    document.setdefault("triggerId", stored.triggerId)
    fields = parse_wire(SubscriptionFields, document)
    return await _save_update(
        store=store, catalog=catalog, destinations=destinations, stored=stored, fields=fields
    )


async def patch_subscription(
    *,
    store: Store,
    catalog: Catalog,
    destinations: DestinationPolicy,
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
                if field not in PATCHABLE_FIELDS:
                    raise InvalidField(f"[{index}].{key}", f"'{pointer}' is not a patchable field")
    document: dict[str, Any] = to_public(stored, catalog=catalog).model_dump(
        mode="json", exclude={"id", "triggerName"}
    )
    try:
        patched = jsonpatch.apply_patch(document, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as exc:
        raise InvalidField("body", f"cannot apply the patch: {exc}") from None
    fields = parse_wire(SubscriptionFields, patched)
    return await _save_update(
        store=store, catalog=catalog, destinations=destinations, stored=stored, fields=fields
    )


async def _save_update(
    *,
    store: Store,
    catalog: Catalog,
    destinations: DestinationPolicy,
    stored: Subscription,
    fields: SubscriptionFields,
) -> Subscription:
    _check_immutable(fields, stored)
    fields = _keep_stored_secrets(fields, stored)
    _check_fields(fields, catalog=catalog, destinations=destinations)
    return await store.replace_subscription(subscription_id=stored.id, fields=fields)


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
