"""Delivery over HTTP through the whole product: API -> workflow -> activity -> real loopback subscriber."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from event_triggers import __version__
from event_triggers.config import Settings
from event_triggers.destinations import outcomes
from tests.conftest import RunningApi
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


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    """Fast retries (from make_settings) and a 1 s answer time, so "slower than the limit" is quick."""
    return make_settings(database_url=sqlite_url, delivery_timeout="PT1S")


async def test_fire_and_forget_delivered_with_exact_body_and_headers(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    await create_subscription(
        api,
        url=subscriber.url(path),
        httpConfig={
            "httpAuthenticationType": "BEARER_TOKEN",
            "bearerTokenAuthConfig": {"bearerToken": "tok-42"},
        },
    )
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert set(invocation) == {"id", "triggerId", "contentJson"}, "no secret for FIRE_AND_FORGET"

    [request] = await subscriber.wait_for(path)
    assert request.json() == {
        **FNF_INPUT,
        "_metadata": {
            "triggerId": FNF_TRIGGER,
            "triggerType": "fireAndForget",
            "invocationId": invocation["id"],
        },
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer tok-42"
    assert request.headers["user-agent"] == f"event-triggers/{__version__}"
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "COMPLETED"
    assert detail["type"] == "REAL_TIME"
    assert detail["completed"] is not None


async def test_sync_answer_completes_the_invocation(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(body=RR_OUTPUT))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert "secret" not in invocation, "SYNC subscribers answer in the response, they get no secret"
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)
    [request] = subscriber.received(path)
    assert request.json()["_metadata"] == {
        "triggerId": RR_TRIGGER,
        "triggerType": "requestResponse",
        "invocationId": invocation["id"],
        "responseMode": "sync",
    }


async def test_503_twice_then_delivered_on_third_attempt(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(Reply(status=503), Reply(status=503))
    await create_subscription(
        api,
        url=subscriber.url(path),
        httpConfig={
            "httpAuthenticationType": "BASIC_AUTH",
            "basicAuthConfig": {"userName": "aladdin", "password": "opensesame"},
        },
    )
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    attempts = subscriber.received(path)
    assert len(attempts) == 3
    assert attempts[0].body == attempts[2].body, "a retry sends the same event"
    assert attempts[2].headers["authorization"] == "Basic YWxhZGRpbjpvcGVuc2VzYW1l"


async def test_400_fails_at_once_with_status_and_body(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(status=400, body=b"missing field x" + b"!" * 1000))
    await create_subscription(api, url=subscriber.url(path))
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"].startswith("subscriber answered 400: missing field x!!!")
    assert len(detail["error"]) < 600, "only the first 512 bytes of the body are kept"
    assert len(subscriber.received(path)) == 1, "a 4xx is not retried"


async def test_retry_after_is_honoured_within_the_maximum_interval(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber
) -> None:
    settings = make_settings(database_url=sqlite_url, retry_max_interval="PT5S")
    async with RunningApi(settings) as running, await running.client() as api:
        honoured = subscriber.new_path(Reply(status=429, headers={"Retry-After": "2"}))
        clamped = subscriber.new_path(Reply(status=503, headers={"Retry-After": "86400"}))
        for path in (honoured, clamped):
            await create_subscription(api, url=subscriber.url(path))
        invocations = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        for invocation in invocations:
            # A day's Retry-After is cut to the 5 s maximum interval, or this would not complete.
            assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
    first, second = subscriber.received(honoured)
    # The settings' own backoff would retry after about 0.2 s.
    assert second.received_at - first.received_at >= 1.9
    assert len(subscriber.received(clamped)) == 2


async def test_sync_subscriber_slower_than_the_limit_fails(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(Reply(body=RR_OUTPUT, delay=2.5))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"] == "subscriber did not answer within 1 s"
    assert len(subscriber.received(path)) == 1


async def test_sync_answer_that_breaks_the_output_schema_fails(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(Reply(body={"id": "x", "name": "y"}))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert "output.type" in detail["error"]


async def test_sync_answer_too_large_for_temporal_fails_instead_of_terminating(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """A 1.5 MB answer would break Temporal's blob limit and get the workflow terminated."""
    path = subscriber.new_path(Reply(body={**RR_OUTPUT, "name": "x" * 1_500_000}))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert "over the limit of 983040 bytes that one invocation can carry" in detail["error"], detail["error"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b'{"id": "\\ud800", "name": "n", "type": "t"}', "output.id: contains a lone surrogate"),
        (b'{"id": "a", "name": "n", "type": "t", "score": NaN}', "output.score: is not a finite number"),
        (b'{"id": "a", "name": "n", "type": "t", "deep": ' + b"[" * 300 + b"]" * 300 + b"}", "levels deep"),
    ],
    ids=["lone-surrogate", "nan", "too-deep"],
)
async def test_sync_answer_nothing_could_carry_fails_once_naming_why(
    api: httpx.AsyncClient, subscriber: Subscriber, answer: bytes, reason: str
) -> None:
    """What a callback's body is refused for fails a SYNC answer at once, instead of failing the size
    check and the data converter on every attempt until the deadline."""
    path = subscriber.new_path(Reply(body=answer))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"].startswith("subscriber answer rejected: output") and reason in detail["error"]
    assert len(subscriber.received(path)) == 1


async def test_sync_answer_that_is_not_json_fails(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(body=b"<html>approved</html>"))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="SYNC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"] == "subscriber answer is not JSON: <html>approved</html>"


async def test_dynamic_200_is_the_answer(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(status=200, body=RR_OUTPUT))
    await create_subscription(api, url=subscriber.url(path), trigger_id=RR_TRIGGER, mode="DYNAMIC")
    [invocation] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert invocation["secret"]
    detail = await finished(api, invocation["id"])
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)
    metadata = subscriber.received(path)[0].json()["_metadata"]
    assert metadata["responseMode"] == "dynamic"
    assert metadata["secret"] == invocation["secret"]
    assert metadata["callbackURL"].endswith(f"/trigger-invocations/v1/{invocation['id']}/complete")


@pytest.mark.parametrize("stop", ["delete", "disable"])
async def test_deleting_or_disabling_the_subscription_stops_its_retries(
    api: httpx.AsyncClient, subscriber: Subscriber, stop: str
) -> None:
    path = subscriber.new_path(default=Reply(status=503))
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    await subscriber.wait_for(path)
    url = f"/trigger-subscriptions/v1/{subscription_id}"
    if stop == "delete":
        assert (await api.delete(url)).status_code == 204
    else:
        disable = [{"op": "replace", "path": "/enabled", "value": False}]
        patched = await api.patch(url, json=disable, headers={"Content-Type": "application/json-patch+json"})
        assert patched.status_code == 200, patched.text
    detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert detail["error"] == f"subscription {subscription_id} was {stop}d"


async def test_expected_delivery_failures_log_one_line_each_without_a_traceback(
    api: httpx.AsyncClient, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    failing_once = subscriber.new_path(Reply(status=500))
    failing_id = await create_subscription(api, url=subscriber.url(failing_once))
    bad_answer = subscriber.new_path(Reply(body={"id": "x", "name": "y"}))
    answering_id = await create_subscription(
        api, url=subscriber.url(bad_answer), trigger_id=RR_TRIGGER, mode="SYNC"
    )
    [retried] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    [rejected] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    assert (await finished(api, retried["id"]))["status"] == "COMPLETED"
    assert (await finished(api, rejected["id"]))["status"] == "FAILED"

    lines = [record.getMessage() for record in caplog.records if record.name == outcomes.logger.name]
    assert len(lines) == 2, lines
    assert any(
        line.startswith(
            f"invocation {retried['id']} subscription {failing_id} attempt 1: subscriber answered 500"
        )
        and "(next attempt in " in line
        for line in lines
    ), lines
    assert any(
        line.startswith(
            f"invocation {rejected['id']} subscription {answering_id} attempt 1: subscriber answer"
        )
        and "output.type" in line
        and line.endswith("(no further attempt)")
        for line in lines
    ), lines
    tracebacks = [record.getMessage() for record in caplog.records if record.exc_info]
    assert tracebacks == []
