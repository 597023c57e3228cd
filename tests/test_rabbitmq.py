"""RabbitMQ destinations through the whole product, on the real broker (127.0.0.1:5672, guest/guest),
read back from a queue bound to the exchange."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractQueue
from sqlalchemy import text

from event_triggers.destinations.rabbitmq import RABBITMQ
from tests.conftest import RunningApi
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

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
PUBLIC_URL = "amqp://guest@127.0.0.1:5672/"
SUBSCRIPTIONS = "/trigger-subscriptions/v1"


class Inbox:
    """An exchange of its own with a queue bound to ``routing_key``."""

    def __init__(self, exchange: str, routing_key: str, queue: AbstractQueue) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.queue = queue

    async def receive(self, *, within: float = 15.0) -> aio_pika.abc.AbstractIncomingMessage:
        async with self.queue.iterator(timeout=within) as messages:
            async for message in messages:
                await message.ack()
                return message
        raise AssertionError(f"no message within {within}s")


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        name = f"triggers-{uuid.uuid4().hex[:8]}"
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, auto_delete=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="identities")
        yield Inbox(name, "identities", queue)
        await exchange.delete()


async def create_rabbitmq_subscription(
    api: httpx.AsyncClient, inbox: Inbox, *, trigger_id: str = FNF_TRIGGER, **config: Any
) -> dict[str, Any]:
    config = {"url": BROKER_URL, "exchange": inbox.exchange, "routingKey": inbox.routing_key, **config}
    return await create_destination_subscription(
        api, type_name="RABBITMQ", config=config, trigger_id=trigger_id
    )


async def test_fire_and_forget_is_published_persistent_with_the_invocation_as_message_id(
    api: httpx.AsyncClient, inbox: Inbox
) -> None:
    subscription = await create_rabbitmq_subscription(api, inbox)
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)

    message = await inbox.receive()
    assert json.loads(message.body) == {
        **FNF_INPUT,
        "_metadata": {
            "triggerId": FNF_TRIGGER,
            "triggerType": "fireAndForget",
            "invocationId": started["id"],
        },
    }
    assert message.message_id == started["id"]
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers == {"triggerId": FNF_TRIGGER, "invocationId": started["id"]}
    assert (await finished(api, started["id"]))["status"] == "COMPLETED"
    assert subscription["rabbitMqConfig"]["url"] == PUBLIC_URL


async def test_request_response_is_completed_by_callback(api: httpx.AsyncClient, inbox: Inbox) -> None:
    await create_rabbitmq_subscription(api, inbox, trigger_id=RR_TRIGGER)
    [started] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    metadata = json.loads((await inbox.receive()).body)["_metadata"]
    assert metadata["secret"] == started["secret"]
    detail = await complete_by_callback(api, metadata)
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)


async def test_unroutable_message_fails_naming_exchange_and_key(api: httpx.AsyncClient, inbox: Inbox) -> None:
    await create_rabbitmq_subscription(api, inbox, routingKey="nobody-listens")
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, started["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"] == (
        f"unroutable: no queue is bound to exchange '{inbox.exchange}' with routing key 'nobody-listens'"
    )


async def test_missing_exchange_fails_the_invocation(api: httpx.AsyncClient, inbox: Inbox) -> None:
    await create_rabbitmq_subscription(api, inbox, exchange="no-such-exchange")
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, started["id"])
    assert (detail["status"], detail["error"]) == ("FAILED", "exchange 'no-such-exchange' does not exist")


async def test_password_is_sealed_never_returned_and_kept_on_update(
    running_api: RunningApi, api: httpx.AsyncClient, inbox: Inbox
) -> None:
    subscription = await create_rabbitmq_subscription(api, inbox)
    url = f"{SUBSCRIPTIONS}/{subscription['id']}"
    for response in (await api.get(url), await api.get(SUBSCRIPTIONS)):
        assert "guest:guest" not in response.text
    async with running_api.state.store.engine.connect() as connection:
        document = (await connection.execute(text("SELECT document FROM subscriptions"))).scalar_one()
    assert "guest:guest" not in str(document)

    # A PUT of what GET returned keeps the password: deliveries still log in.
    replaced = await api.put(url, json=dict(subscription, name="renamed"))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["rabbitMqConfig"]["url"] == PUBLIC_URL
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await inbox.receive()).message_id == started["id"]

    # Another broker does not inherit the password.
    moved = dict(
        subscription, rabbitMqConfig={**subscription["rabbitMqConfig"], "url": "amqp://guest@localhost:5672/"}
    )
    assert (await api.put(url, json=moved)).status_code == 200
    stored = await running_api.state.store.get_subscription(subscription["id"])
    assert stored is not None
    assert RABBITMQ.config(stored).url == "amqp://guest@localhost:5672/"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "http://127.0.0.1:5672/"}, "rabbitMqConfig.url"),
        ({"url": "amqp://guest:guest@10.1.2.3:5672/"}, "rabbitMqConfig.url"),
        ({"url": "amqp://guest:guest@169.254.169.254/"}, "rabbitMqConfig.url"),
        ({"url": "amqp://127.0.0.1:99999/"}, "rabbitMqConfig.url"),
        ({"routingKey": None}, "rabbitMqConfig.routingKey"),
        ({"exchange": "x" * 200}, "rabbitMqConfig.exchange"),
    ],
)
async def test_bad_config_is_refused_naming_the_field(
    api: httpx.AsyncClient, config: dict[str, Any], field: str
) -> None:
    body = {
        "name": "broker",
        "triggerId": FNF_TRIGGER,
        "type": "RABBITMQ",
        "rabbitMqConfig": {"url": BROKER_URL, "exchange": "events", "routingKey": "identities", **config},
    }
    response = await api.post(SUBSCRIPTIONS, json=body)
    assert response.status_code == 400, response.text
    assert error_text(response).startswith(f"{field}:"), error_text(response)
