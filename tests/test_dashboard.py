"""The worker process serves its own metrics (ours and the Temporal SDK's), and every query of the
provisioned Grafana dashboard names a metric that the API or the worker really exports."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from event_triggers.config import Settings
from tests.conftest import RunningApi, free_port, wait_until
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
from tests.subscriber import Subscriber
from tests.test_metrics import Samples, scrape, value
from tests.worker_process import WorkerProcesses

DASHBOARD = (
    Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards" / "event-triggers.json"
)
METRIC_NAME = re.compile(r"\b(?:event_triggers|temporal)_[a-z0-9_]+")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    """No embedded worker: the separate worker process runs every workflow and delivery."""
    return make_settings(database_url=sqlite_url, embedded_worker=False)


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


async def test_worker_endpoint_and_dashboard_queries(
    running_api: RunningApi, subscriber: Subscriber, workers: WorkerProcesses
) -> None:
    port = free_port()
    workers.start(worker_metrics_port=str(port))
    worker_url = f"http://127.0.0.1:{port}"
    fnf_path, rr_path = subscriber.new_path(), subscriber.new_path()
    async with await running_api.client() as api:
        await create_subscription(api, url=subscriber.url(fnf_path))
        await create_subscription(api, url=subscriber.url(rr_path), trigger_id=RR_TRIGGER, mode="ASYNC")
        [fnf] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        [rr] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
        await subscriber.wait_for(rr_path, within=30)
        completed = await api.post(
            f"/trigger-invocations/v1/{rr['id']}/complete", json={"secret": rr["secret"], "output": RR_OUTPUT}
        )
        assert completed.status_code == 204, completed.text
        for invocation in (fnf, rr):
            assert (await finished(api, invocation["id"], wait=30))["status"] == "COMPLETED"

    async def both_finished() -> Samples | None:
        try:
            samples = await scrape(worker_url)
        except httpx.HTTPError:
            return None
        finished_total = "event_triggers_invocations_finished_total"
        done = [
            value(samples, finished_total, trigger=t, status="COMPLETED") for t in (FNF_TRIGGER, RR_TRIGGER)
        ]
        return samples if done == [1, 1] else None

    worker_samples = await wait_until(both_finished, timeout=30)
    # A fresh process: its counters are exactly this test's two invocations.
    assert (
        value(worker_samples, "event_triggers_deliveries_total", destination="HTTP", outcome="success") == 2
    )
    assert (
        value(
            worker_samples, "event_triggers_invocations_started_total", trigger=RR_TRIGGER, type="REAL_TIME"
        )
        == 1
    )
    assert any(name == "temporal_worker_task_slots_available" for name, _ in worker_samples)

    api_samples = await scrape(running_api.base_url)
    exported = {name for name, _ in worker_samples} | {name for name, _ in api_samples}
    queries = dashboard_queries()
    assert len(queries) >= 10
    for query in queries:
        names = METRIC_NAME.findall(query)
        assert names, f"no metric in {query}"
        for name in names:
            assert name in exported, f"{name} (in {query}) is not exported"
