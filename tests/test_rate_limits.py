"""Per-subscription rate limits (``maxDeliveriesPerSecond``).

The field is validated and kept like any other; the limiter's store statements queue and space deliveries
on SQLite and PostgreSQL; and two ``event-triggers worker`` processes share each limit: a subscriber on
loopback records arrival times, and no 5 s window of them holds more than six times the limit (the rate
plus one second's worth), while an unlimited subscription of the same trigger is not held back and a
REQUEST_RESPONSE queued past its deadline ends TIMED_OUT as usual.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from api.main import create_app
from event_triggers.config import Settings
from event_triggers.invocation_models import DELIVERY_WINDOW_CLOSED, RATE_LIMITED, DeliveryRequest
from event_triggers.models import TriggerType
from event_triggers.rate_limits import DeliveryRateLimiter
from event_triggers.store import Store
from tests.conftest import TEST_KEYS, RunningApi, module_settings, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    error_text,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber
from tests.test_store import bearer_subscription
from tests.worker_process import WorkerProcesses

LIMIT = 3.0
EVENTS = 30
WINDOW_SECONDS = 5.0
MOST_PER_WINDOW = 6 * LIMIT
"""The promise: any 5 s window holds at most the rate plus one second's worth."""
SETTLE_SECONDS = 90
"""Bound on waiting for every invocation of a test (a bug fails the test instead of hanging it)."""


def busiest_window(arrivals: list[float], *, seconds: float) -> int:
    """The most arrivals in any window of ``seconds`` (the busiest window starts at an arrival)."""
    ordered = sorted(arrivals)
    return max(bisect_right(ordered, begin + seconds) - index for index, begin in enumerate(ordered))


@pytest.fixture(scope="module")
async def limited_settings(tmp_path_factory: pytest.TempPathFactory, temporal_address: str) -> Settings:
    """The module's store and task queue; its APIs have no worker of their own."""
    return await module_settings(tmp_path_factory, temporal_address, "rate-limits", embedded_worker=False)


@pytest.fixture(scope="module")
async def limited_api(
    limited_settings: Settings, tmp_path_factory: pytest.TempPathFactory, temporal_client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    """The API, and two ``event-triggers worker`` processes polling its task queue before any test starts
    an event, so both run deliveries."""
    settings = limited_settings.model_copy()
    workers = WorkerProcesses(settings, tmp_path_factory.mktemp("rate-limit-workers"))
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )

    async def both_polling() -> bool:
        return len((await temporal_client.workflow_service.describe_task_queue(request)).pollers) >= 2

    try:
        workers.start()
        workers.start()
        async with RunningApi(settings) as running, await running.client() as client:
            await wait_until(both_polling, timeout=120, interval=0.2)
            yield client
    finally:
        workers.stop_all()


async def settled(api: httpx.AsyncClient, invocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every invocation once finished, within ``SETTLE_SECONDS``."""
    waits = (finished(api, item["id"], wait=60) for item in invocations)
    return await asyncio.wait_for(asyncio.gather(*waits), timeout=SETTLE_SECONDS)


async def test_two_workers_share_the_limit_and_unlimited_subscriptions_do_not_wait(
    limited_api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    limited = subscriber.new_path(Reply(status=503), Reply(status=503))  # retries count as deliveries
    unlimited = subscriber.new_path()
    ids = {
        limited: await create_subscription(
            limited_api, url=subscriber.url(limited), maxDeliveriesPerSecond=LIMIT
        ),
        unlimited: await create_subscription(limited_api, url=subscriber.url(unlimited)),
    }

    started = await asyncio.gather(
        *(start(limited_api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT) for _ in range(EVENTS))
    )
    invocations = [item for batch in started for item in batch]
    details = await settled(limited_api, invocations)

    assert [detail["status"] for detail in details] == ["COMPLETED"] * len(invocations)
    for path in (limited, unlimited):
        delivered = {request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)}
        expected = {detail["id"] for detail in details if detail["subscriptionId"] == ids[path]}
        assert delivered == expected and len(delivered) == EVENTS, path
    limited_arrivals = [request.received_at for request in subscriber.received(limited)]
    unlimited_arrivals = [request.received_at for request in subscriber.received(unlimited)]
    busiest = busiest_window(limited_arrivals, seconds=WINDOW_SECONDS)
    spread = max(limited_arrivals) - min(limited_arrivals)
    print(
        f"{len(limited_arrivals)} limited deliveries in {spread:.1f} s,"
        f" busiest {WINDOW_SECONDS:g} s window {busiest} (at most {MOST_PER_WINDOW:g});"
        f" unlimited done {max(unlimited_arrivals) - min(unlimited_arrivals):.1f} s after its first"
    )
    assert len(limited_arrivals) == EVENTS + 2, "two 503s retried"
    assert busiest <= MOST_PER_WINDOW
    assert max(unlimited_arrivals) < max(limited_arrivals), "the unlimited subscription was held back"


async def test_request_response_queued_past_its_deadline_times_out(
    limited_api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(default=Reply(body=RR_OUTPUT))
    await create_subscription(
        limited_api,
        url=subscriber.url(path),
        trigger_id=RR_TRIGGER,
        responseDeadline="PT5S",
        maxDeliveriesPerSecond=0.05,  # one delivery every 20 s: the second waits past its deadline
    )
    first = await start(limited_api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    details = await settled(limited_api, first)  # it took the slot now: the next is 20 s later
    queued = [
        *await start(limited_api, trigger_id=RR_TRIGGER, payload=RR_INPUT),
        *await start(limited_api, trigger_id=RR_TRIGGER, payload=RR_INPUT),
    ]
    details += await settled(limited_api, queued)

    assert [detail["status"] for detail in details] == ["COMPLETED", "TIMED_OUT", "TIMED_OUT"]
    assert details[0]["output"] == RR_OUTPUT
    assert {detail["error"] for detail in details[1:]} == {"invocation timed out"}
    assert [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)] == [
        details[0]["id"]
    ]
    attempts = (await limited_api.get(f"/trigger-invocations/v1/{details[1]['id']}/attempts")).json()
    assert [item["statusCode"] for item in attempts] == [None]
    assert "no delivery slot before the delivery window closes" in attempts[0]["error"]


async def test_a_fire_and_forget_queued_past_its_window_fails_as_a_closed_window(
    limited_api: httpx.AsyncClient, subscriber: Subscriber, limited_settings: Settings
) -> None:
    path = subscriber.new_path()
    mine = await create_subscription(limited_api, url=subscriber.url(path), maxDeliveriesPerSecond=0.05)
    short_window = limited_settings.model_copy(update={"fire_and_forget_retry_window": timedelta(seconds=5)})
    async with RunningApi(short_window) as running, await running.client() as api:
        details = []
        for _ in range(2):  # the first takes the slot now: the next is 20 s later, after its window
            every = await settled(api, await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT))
            details += [detail for detail in every if detail["subscriptionId"] == mine]

    assert [detail["status"] for detail in details] == ["COMPLETED", "FAILED"]
    assert "no delivery slot before the delivery window closes" in details[1]["error"]
    assert [request.json()["_metadata"]["invocationId"] for request in subscriber.received(path)] == [
        details[0]["id"]
    ]


def test_the_openapi_document_shows_the_field() -> None:
    document = create_app(Settings.model_validate({"dev_mode": True, **TEST_KEYS})).openapi()
    schemas = document["components"]["schemas"]
    for name in ("SubscriptionFields", "SubscriptionReplace", "SubscriptionPublic", "SubscriptionCreated"):
        field = schemas[name]["properties"]["maxDeliveriesPerSecond"]
        assert {"type": "number", "minimum": 0.001, "maximum": 1000.0} in field["anyOf"], name
        assert "Null: unlimited" in field["description"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "greater than or equal to 0.001"),
        (-2, "greater than or equal to 0.001"),
        (1001, "less than or equal to 1000"),
        ("2", "valid number"),
        (True, "valid number"),
    ],
)
async def test_invalid_limits_are_a_400_naming_the_field(
    limited_api: httpx.AsyncClient, subscriber: Subscriber, value: object, reason: str
) -> None:
    url = subscriber.url(subscriber.new_path())
    body = {"name": "limited", "triggerId": FNF_TRIGGER, "type": "HTTP", "httpConfig": {"url": url}}
    created = await limited_api.post(
        "/trigger-subscriptions/v1", json={**body, "maxDeliveriesPerSecond": value}
    )
    assert created.status_code == 400, created.text
    assert "maxDeliveriesPerSecond" in error_text(created) and reason in error_text(created)

    subscription_id = await create_subscription(limited_api, url=url)
    path = f"/trigger-subscriptions/v1/{subscription_id}"
    replaced = await limited_api.put(path, json={**body, "maxDeliveriesPerSecond": value})
    patched = await limited_api.patch(
        path,
        json=[{"op": "add", "path": "/maxDeliveriesPerSecond", "value": value}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    for response in (replaced, patched):
        assert response.status_code == 400, response.text
        assert "maxDeliveriesPerSecond" in error_text(response)
    await limited_api.delete(path)


async def test_the_limit_is_kept_by_put_patch_get_and_list(
    limited_api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    url = subscriber.url(subscriber.new_path())
    subscription_id = await create_subscription(limited_api, url=url, maxDeliveriesPerSecond=0.5)
    path = f"/trigger-subscriptions/v1/{subscription_id}"

    async def shown() -> tuple[Any, Any]:
        one = (await limited_api.get(path)).json()
        listed = (await limited_api.get("/trigger-subscriptions/v1")).json()
        [same] = [item for item in listed if item["id"] == subscription_id]
        return one["maxDeliveriesPerSecond"], same["maxDeliveriesPerSecond"]

    assert await shown() == (0.5, 0.5)
    patch = [{"op": "replace", "path": "/maxDeliveriesPerSecond", "value": 20}]
    response = await limited_api.patch(
        path, json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == 200, response.text
    assert await shown() == (20, 20)
    body = {k: v for k, v in (await limited_api.get(path)).json().items() if k not in ("id", "triggerName")}
    assert (await limited_api.put(path, json={**body, "name": "renamed"})).status_code == 200
    assert await shown() == (20, 20)
    assert (await limited_api.put(path, json={**body, "maxDeliveriesPerSecond": None})).status_code == 200
    assert await shown() == (None, None), "a PUT replaces the whole subscription: null is unlimited"
    await limited_api.delete(path)


async def test_slots_queue_across_stores_and_end_at_the_window(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """The store's two statements, with explicit clocks: slots ``interval`` apart whichever process asks,
    none after ``latest`` (and a refused one takes nothing), starts one per ``interval`` plus a burst."""
    settings = make_settings(database_url=database_url)
    stores = [await Store.open(settings), await Store.open(settings)]  # two processes' connections
    try:
        await stores[0].add_subscription(
            subscription_id="s1", fields=bearer_subscription("t"), signing_secret="x"
        )
        slots = await asyncio.gather(
            *(
                stores[index % 2].reserve_delivery_slot(
                    subscription_id="s1", now=1000.0, interval=0.5, latest=2000.0
                )
                for index in range(10)
            )
        )
        assert sorted(slots) == [1000.0 + 0.5 * index for index in range(10)]  # type: ignore[type-var]
        refused = await stores[1].reserve_delivery_slot(
            subscription_id="s1", now=1001.0, interval=0.5, latest=1004.0
        )
        assert refused is None
        assert await stores[0].reserve_delivery_slot(
            subscription_id="s1", now=1001.0, interval=0.5, latest=1005.0
        ) == pytest.approx(1005.0)
        assert await stores[1].reserve_delivery_slot(
            subscription_id="s1", now=1100.0, interval=0.5, latest=1200.0
        ) == pytest.approx(1100.0), "an idle queue gives the slot now"

        starts = [
            await stores[index % 2].claim_delivery_start(
                subscription_id="s1", now=1100.0, interval=0.5, burst=0.5
            )
            for index in range(3)
        ]
        assert starts == [0, 0, pytest.approx(0.5)], "two at once (the burst), the third waits its turn"
        assert (
            await stores[0].claim_delivery_start(subscription_id="s1", now=1100.5, interval=0.5, burst=0.5)
            == 0
        )
        assert await stores[1].claim_delivery_start(
            subscription_id="s1", now=1100.6, interval=0.5, burst=0.5
        ) == pytest.approx(0.4)

        assert await stores[0].delete_subscription("s1")
        assert await stores[0].reserve_delivery_slot(
            subscription_id="s1", now=1100.6, interval=0.5, latest=1200.0
        ) == pytest.approx(1100.6), "deleting a subscription forgets its queue"
    finally:
        for store in stores:
            await store.close()


async def test_an_attempt_behind_the_queue_waits_without_holding_the_worker(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """``admit``: the first attempt goes now; the next ends at once with how long to wait; one whose
    window closes before its slot fails like any closed window; one holding a slot waits for the spacing."""
    store = await Store.open(make_settings(database_url=sqlite_url))
    limiter = DeliveryRateLimiter(store)
    now = datetime.now(UTC)
    request = DeliveryRequest(
        invocation_id="i1",
        trigger_id=FNF_TRIGGER,
        trigger_kind=TriggerType.FIRE_AND_FORGET,
        subscription_id="s1",
        response_mode=None,
        callback_url="http://127.0.0.1/callback",
        input={},
        retry_until=now + timedelta(hours=1),
    )
    try:
        await limiter.admit(request, limit=0.01)  # one delivery every 100 s
        with pytest.raises(ApplicationError) as queued:
            await limiter.admit(request, limit=0.01)
        assert queued.value.type == RATE_LIMITED and not queued.value.non_retryable
        assert queued.value.next_retry_delay is not None
        assert 0 < queued.value.next_retry_delay.total_seconds() <= 100

        closing = request.model_copy(update={"retry_until": now + timedelta(seconds=60)})
        with pytest.raises(ApplicationError) as closed:
            await limiter.admit(closing, limit=0.01)
        assert closed.value.type == DELIVERY_WINDOW_CLOSED and closed.value.non_retryable

        holding = request.model_copy(update={"holds_rate_slot": True})
        with pytest.raises(ApplicationError) as spaced:
            await limiter.admit(holding, limit=0.01)
        assert spaced.value.type == RATE_LIMITED, "a slot held too early still waits for its start"
    finally:
        await store.close()
