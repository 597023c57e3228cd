"""The floor under ``bench.latency``'s start-and-wait: the same round trip built from the Temporal SDK's
defaults and nothing of the product's, served by its own process as the API is.

A producer POSTs an event to ``/start``; the process starts a workflow eagerly (its worker shares the
client), the workflow's one local activity POSTs the event to the subscriber, and the answer comes back
when the workflow's result does. No authentication, store, catalog, filter, search attributes, memo,
signature, SSRF guard, attempt log or metrics: what the product adds above this floor is its own, the
floor itself is the SDK's and the Temporal server's.

    python -m bench.floor PORT TEMPORAL_ADDRESS SUBSCRIBER_URL
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from event_triggers.temporal import exit_process

TASK_QUEUE = "latency-floor"


class FloorDelivery:
    """POSTs each event to the one subscriber, on one pooled client."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    @activity.defn(name="floor_post")
    async def post(self, event: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.post(self._url, json=event)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


@workflow.defn(name="LatencyFloor", sandboxed=False)
class FloorWorkflow:
    """One local activity: the subscriber's answer is the result."""

    @workflow.run
    async def run(self, event: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await workflow.execute_local_activity(
            "floor_post", event, start_to_close_timeout=timedelta(seconds=10)
        )
        return answer


def floor_app(temporal_address: str, subscriber_url: str) -> Starlette:
    client: Client | None = None

    async def start(request: Request) -> Response:
        assert client is not None
        handle = await client.start_workflow(
            FloorWorkflow.run,
            await request.json(),
            id=str(uuid.uuid4()),
            task_queue=TASK_QUEUE,
            request_eager_start=True,
        )
        return JSONResponse(await handle.result())

    async def health(request: Request) -> Response:
        return Response(status_code=200)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        client = await Client.connect(temporal_address)
        async with httpx.AsyncClient() as http:
            delivery = FloorDelivery(http, subscriber_url)
            async with Worker(
                client, task_queue=TASK_QUEUE, workflows=[FloorWorkflow], activities=[delivery.post]
            ):
                yield

    return Starlette(
        routes=[Route("/start", start, methods=["POST"]), Route("/health", health)], lifespan=lifespan
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("port", type=int)
    parser.add_argument("temporal_address")
    parser.add_argument("subscriber_url")
    arguments = parser.parse_args()
    uvicorn.run(
        floor_app(arguments.temporal_address, arguments.subscriber_url),
        host="127.0.0.1",
        port=arguments.port,
        log_level="warning",
    )
    exit_process(0)
