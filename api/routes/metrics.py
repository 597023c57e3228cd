"""``GET /metrics``: this API process's Prometheus metrics (served when ``EVENT_TRIGGERS_METRICS_ENABLED``).

No token: Prometheus scrapes it as is. Keep it private at the network (see docs/observability.md).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.deps import StateDep
from event_triggers.invocation_models import WORKFLOW_TYPE, InvocationStatus
from event_triggers.metrics import AWAITING_RESPONSE
from event_triggers.temporal import INVOCATION_STATUS

router = APIRouter(tags=["Metrics"])
logger = logging.getLogger(__name__)

AWAITING_QUERY = (
    f'WorkflowType = "{WORKFLOW_TYPE}" AND {INVOCATION_STATUS.name} = "{InvocationStatus.AWAITING_RESPONSE}"'
)
COUNT_TIMEOUT = timedelta(seconds=2)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    """The registry in Prometheus text format, with the awaiting-response count read from Temporal now."""
    try:
        client = await state.temporal.client()
        counted = await client.count_workflows(AWAITING_QUERY, rpc_timeout=COUNT_TIMEOUT)
    except Exception as exc:  # Temporal down: serve every other metric, keep the last count
        logger.warning("cannot count invocations awaiting a response: %s", exc)
    else:
        AWAITING_RESPONSE.set(counted.count)
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
