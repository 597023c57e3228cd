"""Redeliver an invocation: the same event to the same subscription, as it is configured now.

The new invocation is an ordinary ``InvocationWorkflow`` whose memo names the original
(``redeliveryOf``).
"""

from __future__ import annotations

from event_triggers.errors import Conflict
from event_triggers.invocation_models import Invocation, InvocationType
from event_triggers.invocations.context import InvocationContext
from event_triggers.invocations.reads import describe_invocation, status_of
from event_triggers.invocations.start import start_redelivery
from event_triggers.temporal import INVOCATION_TYPE, SUBSCRIPTION_ID, TRIGGER_ID


async def redeliver_invocation(
    *, context: InvocationContext, invocation_id: str, idempotency_key: str | None = None
) -> Invocation:
    """Start a new invocation of a finished one's input; 409 while it is pending or when its
    subscription was deleted, 404 for an unknown id.

    With ``idempotency_key`` the new invocation's id is derived from it: a repeat starts nothing new and
    answers the same invocation (a replay redelivers each original at most once this way)."""
    description = await describe_invocation(context.client.get_workflow_handle(invocation_id))
    status = status_of(description)
    if not status.finished:
        raise Conflict(
            f"invocation {invocation_id} is still {status.value}: redeliver it once it has finished"
        )
    attributes = description.typed_search_attributes
    subscription_id = attributes.get(SUBSCRIPTION_ID) or ""
    subscription = await context.store.get_subscription(subscription_id)
    if subscription is None:
        raise Conflict(f"subscription {subscription_id} of invocation {invocation_id} was deleted")
    started = (await description.memo()).get("startInvocationInput") or {}
    trigger = context.catalog.require(attributes.get(TRIGGER_ID) or "")
    return await start_redelivery(
        context,
        trigger=trigger,
        subscription=subscription,
        payload=started.get("input") or {},
        content_json=started.get("contentJson") or {},
        invocation_type=InvocationType(attributes.get(INVOCATION_TYPE) or InvocationType.REAL_TIME),
        redelivery_of=invocation_id,
        idempotency_key=idempotency_key,
    )
