"""Wake the invocations of a subscription that an operator enabled again after an automatic disable."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError

from event_triggers.invocation_models import SIGNAL_RESUME, WORKFLOW_TYPE

RESUME_CONCURRENCY = 20
"""Signals sent at once."""


async def resume_paused(client: Client, subscription_id: str) -> int:
    """Signal the running invocations of a subscription enabled again, so paused ones deliver now (found
    through visibility; one that is missed looks again within the hour). Returns how many were signalled."""
    query = (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND SubscriptionId = '{subscription_id}' "
        "AND ExecutionStatus = 'Running'"
    )
    semaphore = asyncio.Semaphore(RESUME_CONCURRENCY)

    async def signal(workflow_id: str) -> bool:
        async with semaphore:
            try:
                await client.get_workflow_handle(workflow_id).signal(SIGNAL_RESUME)
            except RPCError:  # it ended in the meantime
                return False
            return True

    ids = [execution.id async for execution in client.list_workflows(query)]
    return sum(await asyncio.gather(*(signal(workflow_id) for workflow_id in ids)))
