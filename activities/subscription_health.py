"""Dead endpoints on a worker: count failed invocations, end failure streaks on a success.

``SubscriptionHealth.record_invocation_failure`` is the local activity ``InvocationWorkflow`` runs when an
invocation fails or times out; ``EndFailureStreaks`` wraps every delivery activity and, after a
successful one, ends its subscription's streak when the copy it used shows one (no store access
otherwise). The rules are ``event_triggers.auto_disable``'s.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from event_triggers.auto_disable import count_failure, end_streak_after_delivery
from event_triggers.invocation_models import RECORD_FAILURE_ACTIVITY, DeliveryRequest, FailedInvocation
from event_triggers.invocations.context import InvocationContext
from event_triggers.subscription_reads import SubscriptionReads

logger = logging.getLogger(__name__)


class SubscriptionHealth:
    """The worker's failure counting; starts the disable announcement through ``context``."""

    def __init__(self, context: InvocationContext) -> None:
        self._context = context

    @activity.defn(name=RECORD_FAILURE_ACTIVITY)
    async def record_invocation_failure(self, failed: FailedInvocation) -> None:
        """Count a failed invocation; disable (and announce) its subscription when it is dead."""
        await count_failure(self._context, failed)


class EndFailureStreaks(Interceptor):
    """Worker interceptor: a successful delivery ends its subscription's failure streak, if it has one."""

    def __init__(self, reads: SubscriptionReads) -> None:
        self._reads = reads

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _EndStreak(next, self._reads)


class _EndStreak(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, reads: SubscriptionReads) -> None:
        super().__init__(next)
        self._reads = reads

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        request = next((arg for arg in input.args if isinstance(arg, DeliveryRequest)), None)
        if request is not None:
            try:
                await end_streak_after_delivery(self._reads, request.subscription_id)
            except Exception:  # the delivery succeeded whatever the store says; the next success tries again
                logger.warning("cannot end the failure streak of %s", request.subscription_id, exc_info=True)
        return result
