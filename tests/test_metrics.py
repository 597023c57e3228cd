"""Prometheus metrics over real HTTP: exact counts after N deliveries, bounded labels, the switch."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from event_triggers.config import Settings
from tests.conftest import RunningApi, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_subscription,
    finished,
    start,
)
from tests.subscriber import Reply, Subscriber

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
OUR_LABELS = {"trigger", "type", "status", "destination", "outcome", "result", "le"}


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(base_url: str) -> Samples:
    """The samples at ``base_url``/metrics (the API's, or a worker's ``http://host:port``)."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_counts_are_exact_after_n_deliveries(running_api: RunningApi, subscriber: Subscriber) -> None:
    count = 5
    ok_path = subscriber.new_path()
    flaky_path = subscriber.new_path(Reply(status=503), Reply(status=503))
    rejecting_path = subscriber.new_path(default=Reply(status=400))
    async with await running_api.client() as api:
        for path in (ok_path, flaky_path, rejecting_path):
            await create_subscription(api, url=subscriber.url(path))
        before = await scrape(running_api.base_url)
        started = [await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT) for _ in range(count)]
        outcomes = [
            (await finished(api, item["id"]))["status"] for invocations in started for item in invocations
        ]
    assert sorted(outcomes) == ["COMPLETED"] * (2 * count) + ["FAILED"] * count

    after = await wait_until(lambda: _finished_counted(running_api, before, 3 * count), timeout=30)
    started_total = "event_triggers_invocations_started_total"
    assert delta(before, after, started_total, trigger=FNF_TRIGGER, type="REAL_TIME") == 3 * count
    finished_total = "event_triggers_invocations_finished_total"
    assert delta(before, after, finished_total, trigger=FNF_TRIGGER, status="COMPLETED") == 2 * count
    assert delta(before, after, finished_total, trigger=FNF_TRIGGER, status="FAILED") == count
    deliveries = "event_triggers_deliveries_total"
    assert delta(before, after, deliveries, destination="HTTP", outcome="success") == 2 * count
    assert delta(before, after, deliveries, destination="HTTP", outcome="retry") == 2
    assert delta(before, after, deliveries, destination="HTTP", outcome="failure") == count
    attempts = 3 * count + 2
    durations = "event_triggers_delivery_duration_seconds_count"
    assert delta(before, after, durations, destination="HTTP") == attempts
    assert delta(before, after, "event_triggers_start_duration_seconds_count") == count
    assert len(subscriber.received(ok_path)) == count
    assert len(subscriber.received(flaky_path)) == count + 2


async def _finished_counted(running_api: RunningApi, before: Samples, expected: int) -> Samples | None:
    """The metrics once ``expected`` more invocations finished (a workflow counts just before it closes)."""
    samples = await scrape(running_api.base_url)
    finished_total = "event_triggers_invocations_finished_total"
    total = sum(
        delta(before, samples, finished_total, trigger=FNF_TRIGGER, status=status)
        for status in ("COMPLETED", "FAILED")
    )
    return samples if total >= expected else None


async def test_callbacks_and_awaiting_response(running_api: RunningApi, subscriber: Subscriber) -> None:
    path = subscriber.new_path()
    async with await running_api.client() as api:
        await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="ASYNC")
        before = await scrape(running_api.base_url)
        [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
        await subscriber.wait_for(path)

        async def awaiting() -> Samples | None:
            samples = await scrape(running_api.base_url)
            return samples if value(samples, "event_triggers_invocations_awaiting_response") >= 1 else None

        await wait_until(awaiting, timeout=30)
        complete = f"/trigger-invocations/v1/{invocation['id']}/complete"
        wrong = await api.post(complete, json={"secret": "not-the-secret", "output": RR_OUTPUT})
        assert wrong.status_code == 401
        too_large = {"secret": invocation["secret"], "output": {**RR_OUTPUT, "comment": "x" * 1_000_000}}
        assert (await api.post(complete, json=too_large)).status_code == 413
        accepted = await api.post(complete, json={"secret": invocation["secret"], "output": RR_OUTPUT})
        assert accepted.status_code == 204, accepted.text
        again = await api.post(complete, json={"secret": invocation["secret"], "output": RR_OUTPUT})
        assert again.status_code == 409
        assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    after = await scrape(running_api.base_url)
    counted = (("unauthorized", 1), ("too_large", 1), ("accepted", 1), ("conflict", 1), ("invalid", 0))
    for result, expected in counted:
        assert delta(before, after, "event_triggers_callbacks_total", result=result) == expected, result


async def test_labels_are_bounded(running_api: RunningApi, subscriber: Subscriber) -> None:
    path = subscriber.new_path()
    async with await running_api.client() as api:
        subscription_id = await create_subscription(api, url=subscriber.url(path))
        [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        await finished(api, invocation["id"])
    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        text = (await http.get("/metrics")).text
    assert invocation["id"] not in text and subscription_id not in text
    ours = [key for key in parse(text) if key[0].startswith("event_triggers_")]
    assert ours
    for name, labels in ours:
        assert {label for label, _ in labels} <= OUR_LABELS, name


async def test_metrics_off_serves_and_counts_nothing(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber
) -> None:
    on = make_settings(database_url=sqlite_url)
    async with RunningApi(on) as running:
        before = await scrape(running.base_url)
    path = subscriber.new_path()
    off = make_settings(database_url=sqlite_url, metrics_enabled=False)
    async with RunningApi(off) as running, await running.client() as api:
        assert (await api.get("/metrics")).status_code == 404
        await create_subscription(api, url=subscriber.url(path))
        [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    async with RunningApi(on) as running:
        after = await scrape(running.base_url)
    for name in ("event_triggers_invocations_started_total", "event_triggers_invocations_finished_total"):
        assert sum(v for (n, _), v in after.items() if n == name) == sum(
            v for (n, _), v in before.items() if n == name
        ), name
    assert delta(before, after, "event_triggers_deliveries_total", destination="HTTP", outcome="success") == 0
