"""The subscription a delivery attempt uses, read through the process's ``SubscriptionReads``."""

from __future__ import annotations

from temporalio import activity

from event_triggers.destinations.outcomes import final_failure
from event_triggers.invocation_models import (
    SUBSCRIPTION_DELETED,
    SUBSCRIPTION_DISABLED,
    SUBSCRIPTION_PAUSED,
    DeliveryRequest,
    InvocationType,
)
from event_triggers.store import Subscription
from event_triggers.subscription_reads import SubscriptionReads


class SubscriptionReader:
    """A first attempt uses the invocation's revision or a newer one (a cached copy when it is recent
    enough); a retry reads the newest, so fixing a URL, a password or a token heals pending retries."""

    def __init__(self, reads: SubscriptionReads) -> None:
        self._reads = reads

    async def get(self, request: DeliveryRequest) -> Subscription:
        """The subscription; deleted, or disabled by an operator since the invocation started, fails it
        for good; disabled automatically, makes it wait (a TEST invocation is delivered all the same)."""
        subscription = await self._reads.for_delivery(
            request.subscription_id,
            revision=request.subscription_revision,
            fresh=max(request.attempt, activity.info().attempt) > 1,  # the workflow's or Temporal's retry
        )
        if subscription is None:
            raise final_failure(
                f"subscription {request.subscription_id} was deleted", error_type=SUBSCRIPTION_DELETED
            )
        if subscription.paused and request.invocation_type is not InvocationType.TEST:
            raise final_failure(
                f"subscription {request.subscription_id} was disabled: {subscription.disabledReason}; "
                "waiting until it is enabled again",
                error_type=SUBSCRIPTION_PAUSED,
            )
        if not subscription.enabled and subscription.revision > request.subscription_revision:
            raise final_failure(
                f"subscription {request.subscription_id} was disabled", error_type=SUBSCRIPTION_DISABLED
            )
        return subscription
