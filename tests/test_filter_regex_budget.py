"""A filter's regex cannot stall the API: its matching time is bounded, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import httpx
import pytest

from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, error_text, finished, start
from tests.subscriber import Subscriber

VALIDATE_FILTER = "/trigger-subscriptions/v1/validate-filter"
# Backtracks exponentially in both `re` and `regex`: on 30 a's and a '!' the old `re` matching took
# about 100 s (doubling per character), which a bound of a few seconds tells apart under any load.
CATASTROPHIC_FILTER = "$[?(@.attributes.firstname =~ /(a|a)+$/)]"
CATASTROPHIC_NAME = "a" * 30 + "!"
ANSWER_BOUND_SECONDS = 3


async def test_catastrophic_regex_answers_400_and_other_requests_go_on(api: httpx.AsyncClient) -> None:
    async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        return await request, time.monotonic() - started

    body = {"filter": CATASTROPHIC_FILTER, "input": {"attributes": {"firstname": CATASTROPHIC_NAME}}}
    (checked, checked_after), (health, health_after) = await asyncio.gather(
        timed(api.post(VALIDATE_FILTER, json=body)), timed(api.get("/health"))
    )
    assert checked_after < ANSWER_BOUND_SECONDS and health_after < ANSWER_BOUND_SECONDS
    assert checked.status_code == 400, checked.text
    assert error_text(checked).startswith("filter: its regex took longer than 0.1 s on this input")
    assert health.status_code == 200


async def test_invalid_regex_is_refused_with_its_reason(api: httpx.AsyncClient) -> None:
    checked = await api.post(VALIDATE_FILTER, json={"filter": "$[?(@.a =~ /(/)]", "input": {"a": "x"}})
    assert checked.status_code == 200, checked.text
    assert checked.json()["error"] == "invalid regex: missing ), unterminated subpattern at position 12"
    created = await api.post(
        "/trigger-subscriptions/v1",
        json={
            "name": "bad regex",
            "triggerId": FNF_TRIGGER,
            "type": "HTTP",
            "httpConfig": {"url": "https://hooks.example.com/x", "httpDispatchMode": "SYNC"},
            "filter": "$[?(@.a =~ /(?:(?:a{1000}){1000}){1000}/)]",
        },
    )
    assert created.status_code == 400, created.text
    assert error_text(created).startswith("filter: is not a valid JSONPath expression: invalid regex: ")


async def test_start_skips_a_subscription_whose_regex_runs_out_of_time(
    api: httpx.AsyncClient, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    catastrophic, plain = subscriber.new_path(), subscriber.new_path()
    skipped_id = await create_subscription(api, url=subscriber.url(catastrophic), filter=CATASTROPHIC_FILTER)
    plain_id = await create_subscription(api, url=subscriber.url(plain), filter="$.attributes.firstname")
    payload = {**FNF_INPUT, "attributes": {"firstname": CATASTROPHIC_NAME}}
    started = time.monotonic()
    invocations = await start(api, trigger_id=FNF_TRIGGER, payload=payload)
    assert time.monotonic() - started < ANSWER_BOUND_SECONDS
    details = [await finished(api, invocation["id"]) for invocation in invocations]
    assert [(detail["subscriptionId"], detail["status"]) for detail in details] == [(plain_id, "COMPLETED")]
    assert len(subscriber.received(plain)) == 1 and subscriber.received(catastrophic) == []
    assert any(f"subscription {skipped_id} skipped" in record.getMessage() for record in caplog.records)
