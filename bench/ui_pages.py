"""How long the Administration UI's pages and the status list take with a few hundred subscriptions and
thousands of invocations (the issue's bar: each page well under 100 ms).

``python -m bench.ui_pages`` (defaults: 300 subscriptions, 3000 invocations): the API in its own
process, the invocations started through ``POST /start`` (50 subscriptions of one trigger per event),
then 20 timed requests per page once visibility lists them all.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from typing import Any
from urllib.parse import unquote

import httpx

from api.ui.session import COOKIE_NAME
from bench.common import (
    add_http_subscription,
    bench_settings,
    describe_ms,
    open_store,
    percentile,
    print_figures,
    scratch_dir,
    temporal_dev_server,
)
from bench.latency import api_process
from event_triggers.catalog import TriggerType, load_catalog
from event_triggers.store import Store
from event_triggers.temporal import exit_process
from tests.conftest import free_port, wait_until
from tests.subscriber import Subscriber

EVENT_TRIGGER = "idn:identity-created"
SUBSCRIPTIONS_PER_TRIGGER = 50
SAMPLES = 20


async def _subscribe_all(store: Store, *, subscriptions: int, url: str) -> list[str]:
    """``subscriptions`` across the fire-and-forget triggers, the event trigger's 50 first."""
    triggers = [item.id for item in load_catalog().all() if item.type is TriggerType.FIRE_AND_FORGET]
    triggers.sort(key=lambda trigger_id: trigger_id != EVENT_TRIGGER)
    ids = []
    for index in range(subscriptions):
        trigger_id = triggers[index // SUBSCRIPTIONS_PER_TRIGGER]
        ids.append(await add_http_subscription(store, trigger_id=trigger_id, url=url, mode="SYNC"))
    return ids


class Pages:
    """Times each page, prints its figures and keeps its p50 and p99 under a short key for the JSON line."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self._api = api
        self.figures: dict[str, float] = {}

    async def time(self, key: str, label: str, url: str, params: dict[str, Any] | None = None) -> None:
        samples = []
        for _ in range(SAMPLES):
            began = time.perf_counter()
            response = await self._api.get(url, params=params)
            samples.append(time.perf_counter() - began)
            assert response.status_code == 200, (url, response.status_code, response.text[:300])
        print(f"{label:<58} {describe_ms(samples)}")
        self.figures[f"{key}_p50_ms"] = percentile(samples, 0.5) * 1000
        self.figures[f"{key}_p99_ms"] = percentile(samples, 0.99) * 1000


async def main(subscriptions: int, invocations: int) -> None:
    async with temporal_dev_server() as environment:
        settings = bench_settings(environment, scratch_dir(), api_port=free_port())
        async with Subscriber() as subscriber:
            store = await open_store(settings)
            try:
                ids = await _subscribe_all(
                    store, subscriptions=subscriptions, url=subscriber.url(subscriber.new_path())
                )
            finally:
                await store.close()
            async with api_process(settings) as api:
                payload = load_catalog().require(EVENT_TRIGGER).example_input
                events = invocations // SUBSCRIPTIONS_PER_TRIGGER
                body = {"triggerId": EVENT_TRIGGER, "input": payload, "contentJson": {}}
                for first in range(0, events, 10):
                    batch = [
                        api.post("/trigger-invocations/v1/start", json=body)
                        for _ in range(min(10, events - first))
                    ]
                    for response in await asyncio.gather(*batch):
                        response.raise_for_status()

                async def all_finished() -> bool:
                    """Every invocation listed and none still running: pages are timed on settled data."""
                    response = await api.get(
                        "/trigger-invocations/v1/status", params={"limit": 1, "count": "true"}
                    )
                    listed = int(response.headers["X-Total-Count"]) >= events * SUBSCRIPTIONS_PER_TRIGGER
                    running = await environment.client.count_workflows('ExecutionStatus = "Running"')
                    return listed and running.count == 0

                await wait_until(all_finished, timeout=600, interval=1)
                print(f"{len(ids)} subscriptions, {events * SUBSCRIPTIONS_PER_TRIGGER} invocations\n")
                status = "/trigger-invocations/v1/status"
                one = f'subscriptionId eq "{ids[0]}"'
                pages = Pages(api)
                await pages.time("status", "GET /status?limit=50", status, {"limit": 50})
                await pages.time(
                    "status_offset_500",
                    "GET /status?limit=50&offset=500",
                    status,
                    {"limit": 50, "offset": 500},
                )
                await pages.time(
                    "status_count_filtered",
                    "GET /status?limit=50&count=true&filters=subscriptionId eq",
                    status,
                    {"limit": 50, "count": "true", "filters": one},
                )
                await pages.time(
                    "status_offset_2500",
                    "GET /status?limit=50&offset=2500",
                    status,
                    {"limit": 50, "offset": 2500},
                )
                await pages.time(
                    "status_sorted",
                    "GET /status?limit=50&sorters=-created",
                    status,
                    {"limit": 50, "sorters": "-created"},
                )
                await pages.time(
                    "status_oldest",
                    "GET /status?limit=50&sorters=created",
                    status,
                    {"limit": 50, "sorters": "created"},
                )
                await pages.time(
                    "status_completed_filtered",
                    "GET /status?sorters=-completed&filters=subscriptionId eq",
                    status,
                    {"limit": 50, "sorters": "-completed", "filters": one},
                )
                api.cookies.set(COOKIE_NAME, api.headers["Authorization"].removeprefix("Bearer "), path="/ui")
                invocation = (await api.get(status, params={"limit": 1})).json()[0]["id"]
                await pages.time("ui_overview", "/ui/ (overview: counts by status, failures)", "/ui/")
                await pages.time("ui_subscriptions", "/ui/subscriptions", "/ui/subscriptions")
                await pages.time(
                    "ui_subscription",
                    "/ui/subscriptions/{id} (with recent invocations)",
                    f"/ui/subscriptions/{ids[0]}",
                )
                await pages.time("ui_invocations", "/ui/invocations (50 rows)", "/ui/invocations")
                older = re.search(r'page=([^"&]+)">Older', (await api.get("/ui/invocations")).text)
                assert older, "the first page links to the next"
                await pages.time(
                    "ui_invocations_older",
                    "/ui/invocations?page=... (the next 50)",
                    "/ui/invocations",
                    {"page": unquote(older.group(1))},
                )
                await pages.time(
                    "ui_invocations_filtered",
                    "/ui/invocations?status=COMPLETED&subscriptionId=...",
                    "/ui/invocations",
                    {"status": "COMPLETED", "subscriptionId": ids[0]},
                )
                await pages.time("ui_invocation", "/ui/invocations/{id}", f"/ui/invocations/{invocation}")
                await pages.time("ui_triggers", "/ui/triggers", "/ui/triggers")
    print_figures(pages.figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=300)
    parser.add_argument("--invocations", type=int, default=3000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.subscriptions, arguments.invocations))
    exit_process(0)
