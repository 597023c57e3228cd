"""No credential, signing secret, client secret or invocation secret shows up where it must not:
API responses (beyond the one-time reveals), logs, or Temporal workflow history."""

from __future__ import annotations

import io
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from event_triggers.clients import create_client
from event_triggers.config import Settings
from event_triggers.logs import JsonFormatter
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
from tests.moto_server import DEFAULT_ACCOUNT, REGION, EventBridgeInbox, aws, moto_endpoint  # noqa: F401
from tests.subscriber import Subscriber
from tests.worker_process import WorkerProcesses

PASSWORD = "pw-Zq8xTTr-never-shown"
BEARER = "tok-Lk2mNN4-never-shown"


async def test_secrets_stay_out_of_responses_logs_and_history(
    running_api: RunningApi,
    subscriber: Subscriber,
    temporal_client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    json_lines = io.StringIO()
    json_handler = logging.StreamHandler(json_lines)
    json_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(json_handler)
    try:
        await _exercise_every_secret(running_api, subscriber, temporal_client, caplog, json_lines)
    finally:
        logging.getLogger().removeHandler(json_handler)


async def _exercise_every_secret(
    running_api: RunningApi,
    subscriber: Subscriber,
    temporal_client: Client,
    caplog: pytest.LogCaptureFixture,
    json_lines: io.StringIO,
) -> None:
    new_client = await create_client(
        store=running_api.state.store, name="leak-check", scopes=["sp:trigger-service-subscriptions:read"]
    )
    responses: list[httpx.Response] = []
    async with await running_api.client() as api:
        basic_path, bearer_path, rr_path = subscriber.new_path(), subscriber.new_path(), subscriber.new_path()
        created = []
        for path, trigger, mode, auth in (
            (
                basic_path,
                FNF_TRIGGER,
                "SYNC",
                {
                    "httpAuthenticationType": "BASIC_AUTH",
                    "basicAuthConfig": {"userName": "u", "password": PASSWORD},
                },
            ),
            (
                bearer_path,
                "idn:identity-deleted",
                "SYNC",
                {"httpAuthenticationType": "BEARER_TOKEN", "bearerTokenAuthConfig": {"bearerToken": BEARER}},
            ),
            (rr_path, "idn:access-request-dynamic-approver", "ASYNC", {}),
        ):
            body = {
                "name": "leaky?",
                "triggerId": trigger,
                "type": "HTTP",
                "httpConfig": {"url": subscriber.url(path), "httpDispatchMode": mode, **auth},
            }
            response = await api.post("/trigger-subscriptions/v1", json=body)
            assert response.status_code == 201, response.text
            created.append(response.json())
        signing_secrets = [item["signingSecret"] for item in created]
        rotated = await api.post(f"/trigger-subscriptions/v1/{created[0]['id']}/rotate-signing-secret")
        signing_secrets.append(rotated.json()["signingSecret"])

        fnf = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        await start(api, trigger_id="idn:identity-deleted", payload=FNF_INPUT)
        [rr] = await start(api, trigger_id="idn:access-request-dynamic-approver", payload=RR_INPUT)
        invocation_secret = rr["secret"]
        [delivered] = await subscriber.wait_for(rr_path)
        assert delivered.json()["_metadata"]["secret"] == invocation_secret
        async with httpx.AsyncClient(base_url=running_api.base_url) as anonymous:
            completed = await anonymous.post(
                f"/trigger-invocations/v1/{rr['id']}/complete",
                json={"secret": invocation_secret, "output": RR_OUTPUT},
            )
        assert completed.status_code == 204, completed.text
        for invocation_id in (fnf[0]["id"], rr["id"]):
            responses.append(
                await api.get(f"/trigger-invocations/v1/{invocation_id}", params={"waitSeconds": 10})
            )
            assert responses[-1].json()["status"] == "COMPLETED"
        await finished(api, fnf[0]["id"])
        responses.append(await api.get("/trigger-subscriptions/v1"))
        responses += [await api.get(f"/trigger-subscriptions/v1/{item['id']}") for item in created]
        responses.append(await api.get("/trigger-invocations/v1/status"))
        responses.append(await api.put(f"/trigger-subscriptions/v1/{created[0]['id']}", json=created[0]))

    [basic_request] = subscriber.received(basic_path)
    assert basic_request.headers["authorization"].startswith("Basic ")

    secrets = {
        "password": PASSWORD,
        "bearer token": BEARER,
        "client secret": new_client.client_secret,
        "invocation secret": invocation_secret,
        **{f"signing secret {n}": secret for n, secret in enumerate(signing_secrets)},
    }
    query = f'TaskQueue = "{running_api.settings.task_queue}"'

    async def all_three_visible() -> list[str]:
        ids = [execution.id async for execution in temporal_client.list_workflows(query)]
        return ids if len(ids) == 3 else []

    histories = [
        (await temporal_client.get_workflow_handle(workflow_id).fetch_history()).to_json()
        for workflow_id in await wait_until(all_three_visible)
    ]
    for name, secret in secrets.items():
        for response in responses:
            assert secret not in response.text, f"{name} in {response.request.method} {response.request.url}"
        assert secret not in caplog.text, f"{name} in the logs"
        assert secret not in json_lines.getvalue(), f"{name} in the JSON logs"
        for history in histories:
            assert secret not in history, f"{name} in workflow history"
    entries = json_log_entries(json_lines.getvalue())
    delivery_lines = [entry for entry in entries if entry.get("invocationId") == rr["id"]]
    assert delivery_lines, "the delivery's log lines name its invocation"
    assert all(entry["triggerId"] == RR_TRIGGER for entry in delivery_lines if "subscriptionId" in entry)


def json_log_entries(text: str) -> list[dict[str, Any]]:
    """Each line one JSON object with time, level, logger and message."""
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    return entries


@pytest.mark.usefixtures("aws")
async def test_the_worker_process_logs_no_secret_in_json_at_debug(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    settings = make_settings(database_url=sqlite_url, embedded_worker=False, log_format="json")
    workers = WorkerProcesses(settings, tmp_path)
    worker = workers.start(log_format="json", log_level="DEBUG")
    inbox = EventBridgeInbox.create()
    try:
        async with RunningApi(settings) as running, await running.client() as api:
            path = subscriber.new_path()
            auth = {
                "httpAuthenticationType": "BASIC_AUTH",
                "basicAuthConfig": {"userName": "u", "password": PASSWORD},
            }
            await create_subscription(api, url=subscriber.url(path), httpConfig=auth)
            bus = await api.post(
                "/trigger-subscriptions/v1",
                json={
                    "name": "bus",
                    "triggerId": RR_TRIGGER,
                    "type": "EVENTBRIDGE",
                    "eventBridgeConfig": {
                        "awsAccount": DEFAULT_ACCOUNT,
                        "awsRegion": REGION,
                        "eventBusName": inbox.bus_name,
                    },
                },
            )
            assert bus.status_code == 201, bus.text
            [fnf] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
            [rr] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
            [envelope] = await inbox.receive(within=30)
            assert envelope["detail"]["_metadata"]["secret"] == rr["secret"]
            completed = await api.post(
                f"/trigger-invocations/v1/{rr['id']}/complete",
                json={"secret": rr["secret"], "output": RR_OUTPUT},
            )
            assert completed.status_code == 204, completed.text
            for invocation in (fnf, rr):
                assert (await finished(api, invocation["id"], wait=30))["status"] == "COMPLETED"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        workers.stop_all()
    output = workers.log_path(0).read_text()
    for name, secret in (("password", PASSWORD), ("invocation secret", rr["secret"])):
        assert secret not in output, f"{name} in the worker's output"
    entries = json_log_entries(output)
    assert any(entry["level"] == "DEBUG" for entry in entries), "the worker logged at DEBUG"
    delivered = {entry.get("invocationId") for entry in entries if entry["logger"] == "httpx"}
    assert fnf["id"] in delivered
