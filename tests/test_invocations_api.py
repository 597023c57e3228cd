"""Fan-out, test invocations, idempotent starts and the status list, through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from event_triggers.invocations import reads
from tests.conftest import wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    create_subscription,
    error_text,
    finished,
    send_test_event,
    start,
)
from tests.subscriber import Reply, Subscriber


async def test_start_validates_input_and_answers_204_without_match(api: httpx.AsyncClient) -> None:
    bad = await api.post(
        "/trigger-invocations/v1/start",
        json={"triggerId": FNF_TRIGGER, "input": {"identity": {"id": "x"}}, "contentJson": {}},
    )
    assert bad.status_code == 400, bad.text
    assert error_text(bad).startswith("input.attributes") or "input.identity" in error_text(bad)
    unknown = await api.post("/trigger-invocations/v1/start", json={"triggerId": "idn:nope", "input": {}})
    assert unknown.status_code == 400 and "triggerId" in error_text(unknown)
    nothing = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT}
    )
    assert nothing.status_code == 204, nothing.text


async def test_filters_and_enabled_select_subscriptions(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    john, jane, disabled = subscriber.new_path(), subscriber.new_path(), subscriber.new_path()
    jayway, jayway_miss = subscriber.new_path(), subscriber.new_path()
    john_id = await create_subscription(
        api, url=subscriber.url(john), filter='$.attributes[?(@.firstname == "John")]'
    )
    await create_subscription(api, url=subscriber.url(jane), filter='$.attributes[?(@.firstname == "Jane")]')
    await create_subscription(api, url=subscriber.url(disabled), enabled=False)
    jayway_id = await create_subscription(
        api,
        url=subscriber.url(jayway),
        filter="$[?($.attributes.keys() anyof ['firstname'] && $.identity.name nin ['Jane Doe'])]",
    )
    await create_subscription(api, url=subscriber.url(jayway_miss), filter="$[?($.identity.name size 3)]")
    invocations = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    details = [await finished(api, invocation["id"]) for invocation in invocations]
    assert sorted((detail["subscriptionId"], detail["status"]) for detail in details) == sorted(
        [(john_id, "COMPLETED"), (jayway_id, "COMPLETED")]
    )
    assert len(subscriber.received(john)) == 1 and len(subscriber.received(jayway)) == 1
    assert subscriber.received(jane) == [] and subscriber.received(disabled) == []
    assert subscriber.received(jayway_miss) == []


async def test_idempotency_key_returns_the_same_invocations(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(path))
    first = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, **{"Idempotency-Key": "event-1"})
    await finished(api, first[0]["id"])
    repeat = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, **{"Idempotency-Key": "event-1"})
    assert repeat == first
    other = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT, **{"Idempotency-Key": "event-2"})
    assert other[0]["id"] != first[0]["id"]
    await finished(api, other[0]["id"])
    assert len(subscriber.received(path)) == 2, "the repeat started nothing"


async def test_test_invocation_with_and_without_input(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path, other = subscriber.new_path(), subscriber.new_path()
    subscription_id = await create_subscription(api, url=subscriber.url(path), enabled=False)
    await create_subscription(api, url=subscriber.url(other))
    custom = {**FNF_INPUT, "attributes": {"firstname": "Test"}}
    response = await api.post(
        "/trigger-invocations/v1/test",
        json={
            "triggerId": FNF_TRIGGER,
            "input": custom,
            "contentJson": {},
            "subscriptionIds": [subscription_id],
        },
    )
    assert response.status_code == 200, response.text
    [invocation] = response.json()
    detail = await finished(api, invocation["id"])
    assert (detail["type"], detail["subscriptionId"]) == ("TEST", subscription_id), "a test ignores `enabled`"
    assert subscriber.received(path)[0].json()["attributes"] == {"firstname": "Test"}

    response = await api.post(
        "/trigger-invocations/v1/test", json={"triggerId": FNF_TRIGGER, "contentJson": {}}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()) == 2, "without subscriptionIds every subscription gets the test"
    await subscriber.wait_for(other)
    example = subscriber.received(other)[0].json()
    assert {key: value for key, value in example.items() if key != "_metadata"} == FNF_INPUT


async def test_status_list_filters_sorts_and_pages(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    first_id = await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    second_id = await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    for _ in range(2):
        for invocation in await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT):
            await finished(api, invocation["id"])

    async def listed(**params: Any) -> httpx.Response:
        response = await api.get("/trigger-invocations/v1/status", params=params)
        assert response.status_code == 200, response.text
        return response

    mine = f'subscriptionId eq "{first_id}" or subscriptionId eq "{second_id}"'

    async def all_visible() -> bool:
        return len((await listed(filters=mine)).json()) == 4

    await wait_until(all_visible)
    only_first = (
        await listed(filters=f'subscriptionId eq "{first_id}"', count="true", sorters="created")
    ).json()
    assert len(only_first) == 2 and {item["subscriptionId"] for item in only_first} == {first_id}
    item = only_first[0]
    assert item["triggerId"] == FNF_TRIGGER and item["type"] == "REAL_TIME"
    assert item["startInvocationInput"] == {
        "triggerId": FNF_TRIGGER,
        "input": FNF_INPUT,
        "contentJson": {"workflowId": 1234},
    }
    assert item["completeInvocationInput"] is None, "a fire-and-forget delivery has no completion input"
    assert item["created"] <= only_first[1]["created"] and item["completed"] is not None

    page = await listed(filters=mine, limit=3, offset=2, count="true", sorters="-created")
    assert page.headers["X-Total-Count"] == "4" and len(page.json()) == 2
    unfiltered = {item["id"] for item in (await listed()).json()}
    assert {item["id"] for item in only_first} <= unfiltered, "no filters lists every invocation"
    bad = await api.get("/trigger-invocations/v1/status", params={"filters": 'name eq "x"'})
    assert bad.status_code == 400 and "filters" in error_text(bad)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_status_list_pages_newest_or_oldest_first_at_any_offset(
    api: httpx.AsyncClient, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page of ``created`` / ``-created`` comes from visibility: a deep offset is found by counting
    (the seek's slack is cut to 2 rows so nearly every offset seeks), not by reading what precedes it."""
    monkeypatch.setattr(reads, "SEEK_SLACK", 2)
    ids = [await create_subscription(api, url=subscriber.url(subscriber.new_path())) for _ in range(6)]
    for _ in range(6):
        for invocation in await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT):
            await finished(api, invocation["id"])
    mine = " or ".join(f'subscriptionId eq "{subscription_id}"' for subscription_id in ids)

    async def listed(**params: Any) -> list[dict[str, Any]]:
        response = await api.get("/trigger-invocations/v1/status", params={"filters": mine, **params})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items

    async def all_visible() -> list[dict[str, Any]]:
        everything = await listed(limit=250)
        return everything if len(everything) == 36 else []

    everything = await wait_until(all_visible)
    by_id = sorted(everything, key=lambda item: item["id"])
    newest = [item["id"] for item in sorted(by_id, key=lambda item: _moment(item["created"]), reverse=True)]
    assert [item["id"] for item in everything] == newest, "no sorters: newest created first"
    for offset in range(0, 40, 7):
        assert [item["id"] for item in await listed(limit=7, offset=offset, sorters="-created")] == (
            newest[offset : offset + 7]
        ), offset
        assert [item["id"] for item in await listed(limit=7, offset=offset, sorters="created")] == (
            newest[::-1][offset : offset + 7]
        ), offset
    assert await listed(limit=5, offset=3609268972988780544) == [], "an offset past every invocation"
    counted = await api.get("/trigger-invocations/v1/status", params={"filters": mine, "count": "true"})
    assert counted.headers["X-Total-Count"] == "36"

    by_completion = [item["completed"] for item in await listed(limit=250, sorters="-completed")]
    assert len(by_completion) == 36 and by_completion == sorted(by_completion, key=_moment, reverse=True)
    monkeypatch.setattr(reads, "MAX_SORTED_INVOCATIONS", 10)
    refused = await api.get(
        "/trigger-invocations/v1/status", params={"filters": mine, "sorters": "triggerId"}
    )
    assert (
        refused.status_code == 400 and "sorters" in error_text(refused) and "36 match" in error_text(refused)
    )


async def test_status_list_orders_invocations_that_closed_out_of_start_order(
    api: httpx.AsyncClient, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first started closes last: visibility's closed list (newest closed first) is then in reverse
    start order, which one closed page cannot settle; the page is read above the oldest start seen."""
    monkeypatch.setattr(reads, "SEEK_SLACK", 0)
    ids = []
    for delay in (2.0, 1.0, 0.0):
        path = subscriber.new_path(default=Reply(delay=delay))
        ids.append(await create_subscription(api, url=subscriber.url(path)))
    started = [await send_test_event(api, trigger_id=FNF_TRIGGER, subscription_id=item) for item in ids]
    for invocation_id in started:
        await finished(api, invocation_id)
    mine = " or ".join(f'subscriptionId eq "{subscription_id}"' for subscription_id in ids)

    async def listed(**params: Any) -> list[str]:
        response = await api.get("/trigger-invocations/v1/status", params={"filters": mine, **params})
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json() if item["completed"]]

    newest_first = started[::-1]

    async def all_closed_in_visibility() -> bool:
        return await listed() == newest_first

    await wait_until(all_closed_in_visibility)
    for offset in range(3):
        assert await listed(limit=1, offset=offset) == newest_first[offset : offset + 1], offset
    assert await listed(limit=2, sorters="created") == started[:2]
