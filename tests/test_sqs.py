"""SQS destinations through the whole product, on a real moto server, read back from the queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import boto3
import httpx
import pytest

from event_triggers.catalog import load_catalog
from event_triggers.destinations.sqs import DEFAULT_MAX_MESSAGE_BYTES, message_size
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    complete_by_callback,
    create_destination_subscription,
    error_text,
    finished,
    start,
)
from tests.moto_server import REGION, aws, moto_endpoint  # noqa: F401 (fixtures used by name)

SUBSCRIPTIONS = "/trigger-subscriptions/v1"
pytestmark = pytest.mark.usefixtures("aws")


def create_queue(*, fifo: bool = False) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    name = f"inbox-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    attributes = {"FifoQueue": "true"} if fifo else {}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


async def receive(queue_url: str, *, within: float = 15.0) -> dict[str, Any]:
    """The next message on the queue, with its attributes; fails after ``within`` seconds."""
    sqs = boto3.client("sqs", region_name=REGION)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await asyncio.to_thread(
            sqs.receive_message,
            QueueUrl=queue_url,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        if response.get("Messages"):
            message: dict[str, Any] = response["Messages"][0]
            return message
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no message on {queue_url} within {within}s")
        await asyncio.sleep(0.05)


async def create_sqs_subscription(
    api: httpx.AsyncClient, queue_url: str, *, trigger_id: str = FNF_TRIGGER, **config: Any
) -> dict[str, Any]:
    config = {"queueUrl": queue_url, "awsRegion": REGION, **config}
    return await create_destination_subscription(api, type_name="SQS", config=config, trigger_id=trigger_id)


async def test_fire_and_forget_message_is_the_http_body_with_attributes(api: httpx.AsyncClient) -> None:
    queue_url = create_queue()
    subscription = await create_sqs_subscription(api, queue_url)
    assert subscription["sqsConfig"] == {
        "queueUrl": queue_url,
        "awsRegion": REGION,
        "roleArn": None,
        "messageGroupId": None,
        "maxMessageBytes": DEFAULT_MAX_MESSAGE_BYTES,
    }
    assert (subscription["httpConfig"], subscription["signingSecret"]) == (None, None)
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)

    message = await receive(queue_url)
    assert json.loads(message["Body"]) == {
        **FNF_INPUT,
        "_metadata": {
            "triggerId": FNF_TRIGGER,
            "triggerType": "fireAndForget",
            "invocationId": started["id"],
        },
    }
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes == {"triggerId": FNF_TRIGGER, "invocationId": started["id"]}
    assert (await finished(api, started["id"]))["status"] == "COMPLETED"


async def test_request_response_is_completed_by_callback(api: httpx.AsyncClient) -> None:
    queue_url = create_queue()
    await create_sqs_subscription(api, queue_url, trigger_id=RR_TRIGGER)
    [started] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    metadata = json.loads((await receive(queue_url))["Body"])["_metadata"]
    assert metadata["secret"] == started["secret"]
    detail = await complete_by_callback(api, metadata)
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)


async def test_fifo_queue_gets_the_invocation_as_deduplication_id_and_a_group(api: httpx.AsyncClient) -> None:
    queue_url = create_queue(fifo=True)
    subscription = await create_sqs_subscription(api, queue_url)
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    message = await receive(queue_url)
    assert message["Attributes"]["MessageDeduplicationId"] == started["id"]
    assert message["Attributes"]["MessageGroupId"] == subscription["id"]

    grouped_url = create_queue(fifo=True)
    await create_sqs_subscription(api, grouped_url, trigger_id="idn:identity-deleted", messageGroupId="hr")
    deleted = load_catalog().require("idn:identity-deleted").example_input
    await start(api, trigger_id="idn:identity-deleted", payload=deleted)
    assert (await receive(grouped_url))["Attributes"]["MessageGroupId"] == "hr"


async def test_size_limit_is_checked_at_start_with_413(api: httpx.AsyncClient) -> None:
    queue_url = create_queue()
    await create_sqs_subscription(api, queue_url, maxMessageBytes=2048)
    payload = {**FNF_INPUT, "attributes": {"notes": "x" * 2048}}
    response = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": payload}
    )
    assert response.status_code == 413, response.text
    assert "sqsConfig.maxMessageBytes" in error_text(response)
    boto = boto3.client("sqs", region_name=REGION)
    assert not boto.receive_message(QueueUrl=queue_url).get("Messages")


def test_message_size_counts_attribute_names_types_and_values() -> None:
    attributes = {"triggerId": {"DataType": "String", "StringValue": "é"}}
    assert message_size("€", attributes) == 3 + len("triggerId") + len("String") + 2


async def test_missing_queue_fails_the_invocation_with_the_aws_error(api: httpx.AsyncClient) -> None:
    queue_url = create_queue()
    await create_sqs_subscription(api, queue_url.replace("inbox-", "gone-"))
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, started["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"].startswith("SQS delivery failed: "), detail["error"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/not-a-queue"}, "sqsConfig.queueUrl"),
        ({"queueUrl": "http://10.0.0.1/123456789012/q"}, "sqsConfig.queueUrl"),
        ({"awsRegion": "mars-north-1"}, "sqsConfig.awsRegion"),
        ({"maxMessageBytes": 2 * 1024 * 1024}, "sqsConfig.maxMessageBytes"),
        ({"maxMessageBytes": 10}, "sqsConfig.maxMessageBytes"),
        ({"queueUrl": None}, "sqsConfig.queueUrl"),
    ],
)
async def test_bad_config_is_refused_naming_the_field(
    api: httpx.AsyncClient, config: dict[str, Any], field: str
) -> None:
    body = {
        "name": "queue",
        "triggerId": FNF_TRIGGER,
        "type": "SQS",
        "sqsConfig": {
            "queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "awsRegion": REGION,
            **config,
        },
    }
    response = await api.post(SUBSCRIPTIONS, json=body)
    assert response.status_code == 400, response.text
    assert error_text(response).startswith(f"{field}:"), error_text(response)


async def test_queue_and_region_are_immutable_but_the_limit_may_change(api: httpx.AsyncClient) -> None:
    subscription = await create_sqs_subscription(api, create_queue())
    url = f"{SUBSCRIPTIONS}/{subscription['id']}"
    config = subscription["sqsConfig"]
    for field, value in (("queueUrl", create_queue()), ("awsRegion", "us-east-1")):
        response = await api.put(url, json={**subscription, "sqsConfig": {**config, field: value}})
        assert response.status_code == 400, response.text
        assert error_text(response).startswith(f"sqsConfig.{field}: cannot be changed"), error_text(response)
    changed = await api.put(url, json={**subscription, "sqsConfig": {**config, "maxMessageBytes": 4096}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["sqsConfig"]["maxMessageBytes"] == 4096
