"""Start invocations: validate an event, match subscription filters, start one workflow per match.

Each invocation is an ``InvocationWorkflow`` whose id is the invocation id; this module only talks to
Temporal through the client (it never imports workflow code).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from typing import Any

from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from event_triggers.catalog import TriggerDefinition
from event_triggers.destinations.base import STAND_IN_INVOCATION_ID, STAND_IN_SECRET, Destination
from event_triggers.destinations.registry import destination_for
from event_triggers.errors import InvalidField, Unavailable
from event_triggers.filters import filter_matches
from event_triggers.invocation_models import (
    CURRENT_WORKFLOW_REVISION,
    WORKFLOW_TYPE,
    DeliveryRequest,
    Invocation,
    InvocationRequest,
    InvocationStatus,
    InvocationType,
    RetrySchedule,
    StartedInvocation,
)
from event_triggers.invocations import reads
from event_triggers.invocations.context import InvocationContext, callback_url
from event_triggers.metrics import timed_start
from event_triggers.models import HttpDispatchMode, TriggerType, WireModel
from event_triggers.payload_limits import PayloadLimits, check_nesting
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.store import Subscription
from event_triggers.subscriptions import parse_response_deadline
from event_triggers.temporal import INVOCATION_STATUS, INVOCATION_TYPE, SUBSCRIPTION_ID, TRIGGER_ID

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f3c2a8e-3c1e-4c55-9a57-9d1d3e1f0b7a")


def _response_mode(
    trigger: TriggerDefinition, destination: Destination[Any], config: WireModel
) -> HttpDispatchMode | None:
    if trigger.type is TriggerType.FIRE_AND_FORGET:
        return None
    return destination.response_mode(config)


def _invocation_id(idempotency_key: str | None, trigger_id: str, subscription_id: str) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{idempotency_key}\n{trigger_id}\n{subscription_id}"))


async def _start_one(
    context: InvocationContext,
    *,
    trigger: TriggerDefinition,
    subscription: Subscription,
    mode: HttpDispatchMode | None,
    payload: dict[str, Any],
    content_json: dict[str, Any],
    invocation_type: InvocationType,
    idempotency_key: str | None,
    limits: PayloadLimits,
    redelivery_of: str | None = None,
) -> Invocation:
    """``redelivery_of`` links a redelivery to its original (memo ``redeliveryOf``)."""
    settings = context.settings
    invocation_id = _invocation_id(idempotency_key, trigger.id, subscription.id)
    destination = destination_for(subscription.type)
    request = InvocationRequest(
        invocation_id=invocation_id,
        trigger_id=trigger.id,
        trigger_kind=trigger.type,
        subscription_id=subscription.id,
        subscription_name=subscription.name,
        subscription_type=subscription.type,
        delivery_activity=destination.activity_name,
        delivery_summary=f"{destination.summary_verb} subscription {subscription.name}",
        subscription_revision=subscription.revision,
        response_mode=mode,
        response_deadline=parse_response_deadline(subscription.responseDeadline),
        callback_url=callback_url(settings, invocation_id),
        invocation_type=invocation_type,
        input=payload,
        content_json=content_json,
        retry=RetrySchedule.from_settings(settings),
        local_delivery=settings.local_delivery,
        workflow_revision=CURRENT_WORKFLOW_REVISION,
    )
    memo = {
        "triggerName": trigger.name,
        "subscriptionName": subscription.name,
        "startInvocationInput": {"triggerId": trigger.id, "input": payload, "contentJson": content_json},
    }
    if redelivery_of is not None:
        memo["redeliveryOf"] = redelivery_of
    problem = limits.start_problem(request=request, memo=memo)
    if problem is not None:
        raise StartRefused(problem)
    # A closed invocation with the same id is an idempotent repeat: answer with the same invocation.
    # At most ``max_concurrent_starts`` in flight per process (a fan-out's starts take turns), each with a
    # free workflow task slot for its eager start when there is an embedded worker.
    async with context.start_turn():
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await context.client.start_workflow(
                WORKFLOW_TYPE,
                request,
                id=invocation_id,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TRIGGER_ID, trigger.id),
                        SearchAttributePair(SUBSCRIPTION_ID, subscription.id),
                        SearchAttributePair(INVOCATION_TYPE, invocation_type.value),
                        SearchAttributePair(INVOCATION_STATUS, InvocationStatus.PENDING.value),
                    ]
                ),
                memo=memo,
                static_summary=f"{trigger.name} ({trigger.id}) to subscription {subscription.name}",
                request_eager_start=settings.embedded_worker,
                task_timeout=settings.workflow_task_timeout,
            )
    secret = (
        invocation_secret(server_key=context.server_key, invocation_id=invocation_id)
        if mode is not None and mode is not HttpDispatchMode.SYNC
        else None
    )
    return Invocation(id=invocation_id, triggerId=trigger.id, secret=secret, contentJson=content_json)


def _checked_response_mode(
    context: InvocationContext,
    trigger: TriggerDefinition,
    subscription: Subscription,
    payload: dict[str, Any],
) -> HttpDispatchMode | None:
    """The subscription's response mode, once its destination confirmed the message fits (else 413,
    before anything starts). Stand-ins of the real lengths (invocation id, secret) make the size exact."""
    destination = destination_for(subscription.type)
    config = destination.config(subscription)
    mode = _response_mode(trigger, destination, config)
    stand_in = DeliveryRequest.model_construct(
        invocation_id=STAND_IN_INVOCATION_ID,
        trigger_id=trigger.id,
        trigger_kind=trigger.type,
        subscription_id=subscription.id,
        response_mode=mode,
        callback_url=callback_url(context.settings, STAND_IN_INVOCATION_ID),
        input=payload,
    )
    destination.check_size(
        config, stand_in, subscription_id=subscription.id, settings=context.settings, secret=STAND_IN_SECRET
    )
    return mode


def _check_event_nesting(payload: dict[str, Any] | None, content_json: dict[str, Any]) -> None:
    """Before anything walks the event (schema validation, filters, the data converter)."""
    check_nesting("input", payload)
    check_nesting("contentJson", content_json)


async def _fan_out(
    context: InvocationContext,
    *,
    trigger: TriggerDefinition,
    subscriptions: Sequence[Subscription],
    payload: dict[str, Any],
    content_json: dict[str, Any],
    invocation_type: InvocationType,
    idempotency_key: str | None = None,
) -> list[Invocation]:
    matching = [
        item for item in subscriptions if filter_matches(item.filter, payload, subscription_id=item.id)
    ]
    if not matching:
        return []
    limits = await context.payload_limits.get()
    # 413 before anything starts
    limits.check_document("input", {"input": payload, "contentJson": content_json})
    modes = [_checked_response_mode(context, trigger, subscription, payload) for subscription in matching]
    results = await asyncio.gather(
        *(
            _start_one(
                context,
                trigger=trigger,
                subscription=subscription,
                mode=mode,
                payload=payload,
                content_json=content_json,
                invocation_type=invocation_type,
                idempotency_key=idempotency_key,
                limits=limits,
            )
            for subscription, mode in zip(matching, modes, strict=True)
        ),
        return_exceptions=True,
    )
    started = [result for result in results if isinstance(result, Invocation)]
    if len(started) == len(matching):
        return started
    raise _partial_start(list(zip(matching, results, strict=True)), idempotency_key=idempotency_key)


async def start_redelivery(
    context: InvocationContext,
    *,
    trigger: TriggerDefinition,
    subscription: Subscription,
    payload: dict[str, Any],
    content_json: dict[str, Any],
    invocation_type: InvocationType,
    redelivery_of: str,
    idempotency_key: str | None = None,
) -> Invocation:
    """A new invocation of an earlier one's event: its filter is not applied again, its size is checked."""
    limits = await context.payload_limits.get()
    mode = _checked_response_mode(context, trigger, subscription, payload)
    try:
        return await _start_one(
            context,
            trigger=trigger,
            subscription=subscription,
            mode=mode,
            payload=payload,
            content_json=content_json,
            invocation_type=invocation_type,
            idempotency_key=idempotency_key,
            limits=limits,
            redelivery_of=redelivery_of,
        )
    except (StartRefused, RPCError) as exc:
        raise _partial_start([(subscription, exc)], idempotency_key=idempotency_key) from None


class StartRefused(Exception):
    """One invocation that cannot be started (the others of the event still are)."""


def _partial_start(
    outcomes: list[tuple[Subscription, Invocation | BaseException]], *, idempotency_key: str | None
) -> Unavailable:
    """503 naming the subscriptions whose invocation started and those whose did not (and why)."""
    causes, started = [], 0
    for subscription, outcome in outcomes:
        if isinstance(outcome, Invocation):
            started += 1
            causes.append(f"started: subscription {subscription.id} (invocation {outcome.id})")
        elif isinstance(outcome, StartRefused | RPCError):
            reason = outcome.message if isinstance(outcome, RPCError) else str(outcome)
            causes.append(f"not started: subscription {subscription.id}: {reason}")
        else:
            raise outcome  # our own bug: a 500 with a traceback, not a retry hint
    retry = (
        "retry with the same Idempotency-Key to start only the missing ones"
        if idempotency_key is not None
        else "a retry without an Idempotency-Key starts all of them again"
    )
    return Unavailable(
        f"started {started} of {len(outcomes)} invocations: {'; '.join(causes)}; {retry}", causes=causes
    )


@timed_start
async def start_invocations(
    *,
    context: InvocationContext,
    trigger_id: str,
    payload: dict[str, Any],
    content_json: dict[str, Any],
    idempotency_key: str | None = None,
) -> list[Invocation]:
    """Validate an event and start one invocation per subscription whose filter matches it: the enabled
    ones, and those an automatic disable paused (their invocations wait, docs/operator-loop.md).

    With ``idempotency_key``, invocation ids are derived from (key, trigger, subscription), so a repeat
    returns the same invocations and starts nothing new.
    """
    trigger = context.catalog.require(trigger_id)
    _check_event_nesting(payload, content_json)
    trigger.validate_input(payload)
    subscriptions = await context.subscriptions.startable_for_trigger(trigger_id)
    return await _fan_out(
        context,
        trigger=trigger,
        subscriptions=subscriptions,
        payload=payload,
        content_json=content_json,
        invocation_type=InvocationType.REAL_TIME,
        idempotency_key=idempotency_key,
    )


async def start_and_wait(
    *,
    context: InvocationContext,
    trigger_id: str,
    payload: dict[str, Any],
    content_json: dict[str, Any],
    idempotency_key: str | None = None,
    wait_seconds: float,
) -> list[StartedInvocation]:
    """``start_invocations``, then up to ``wait_seconds`` for their outcomes, all waited at once: a SYNC
    producer gets its answer in one call. Those still running come back without an outcome."""
    invocations = await start_invocations(
        context=context,
        trigger_id=trigger_id,
        payload=payload,
        content_json=content_json,
        idempotency_key=idempotency_key,
    )
    outcomes = await asyncio.gather(
        *(
            reads.outcome_within(context=context, invocation_id=item.id, wait_seconds=wait_seconds)
            for item in invocations
        )
    )
    return [
        StartedInvocation(
            **invocation.model_dump(),
            **({} if outcome is None else outcome.model_dump(include={"status", "output", "error"})),
        )
        for invocation, outcome in zip(invocations, outcomes, strict=True)
    ]


async def start_test_invocations(
    *,
    context: InvocationContext,
    trigger_id: str,
    payload: dict[str, Any] | None,
    content_json: dict[str, Any],
    subscription_ids: Sequence[str] | None = None,
) -> list[Invocation]:
    """A TEST invocation per subscription of the trigger (enabled or not, filters applied).

    Without ``payload`` the trigger's example input is sent; ``subscription_ids`` narrows the audience.
    """
    trigger = context.catalog.require(trigger_id)
    _check_event_nesting(payload, content_json)
    if payload is None:
        payload = trigger.example_input
    else:
        trigger.validate_input(payload)
    subscriptions = await context.store.list_subscriptions(trigger_id=trigger_id)
    if subscription_ids is not None:
        known = {item.id for item in subscriptions}
        unknown = [item for item in subscription_ids if item not in known]
        if unknown:
            raise InvalidField(
                "subscriptionIds", f"{unknown[0]} is not a subscription of trigger {trigger_id}"
            )
        wanted = set(subscription_ids)
        subscriptions = [item for item in subscriptions if item.id in wanted]
    return await _fan_out(
        context,
        trigger=trigger,
        subscriptions=subscriptions,
        payload=payload,
        content_json=content_json,
        invocation_type=InvocationType.TEST,
    )
