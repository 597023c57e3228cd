"""Inputs outside the request bodies' fields: collection parameters, invocation searches, replay dates,
nesting depth, codec metadata and ids of another kind; each a 4xx naming the field, never a 500."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from event_triggers.collection import MAX_EXPRESSION_LENGTH, MAX_PARENTHESES_DEPTH
from event_triggers.config import Settings
from event_triggers.payload_limits import MAX_NESTING_DEPTH
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ
from event_triggers.security.secret_box import generate_key
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, error_text, finished
from tests.subscriber import Subscriber
from tests.test_invocations_callbacks import awaiting_invocation, complete_url
from tests.test_ui import _client, _csrf, _logged_in

FILTERED_LISTS = ["/triggers/v1", "/trigger-subscriptions/v1", "/trigger-invocations/v1/status"]
REPLAYS = "/trigger-invocations/v1/replays"


def nested(depth: int, leaf: object = 1) -> Any:
    """``leaf`` inside ``depth`` objects: ``{"a": {"a": ... leaf}}``."""
    document = leaf
    for _ in range(depth):
        document = {"a": document}
    return document


@pytest.mark.parametrize("path", FILTERED_LISTS)
async def test_filters_and_sorters_are_bounded(api: httpx.AsyncClient, path: str) -> None:
    field = "triggerId" if path.endswith("/status") else "id"
    huge_number = await api.get(path, params={"filters": f"{field} eq {'9' * 5000}"})
    assert huge_number.status_code == 400, huge_number.text
    assert error_text(huge_number).startswith("filters: number at position"), error_text(huge_number)

    def parenthesised(depth: int) -> str:
        return "(" * depth + f'{field} eq "x"' + ")" * depth

    deep = await api.get(path, params={"filters": parenthesised(1000)})
    assert deep.status_code == 400, deep.text
    assert error_text(deep).startswith(f"filters: nests parentheses more than {MAX_PARENTHESES_DEPTH} deep")
    at_the_limit = await api.get(path, params={"filters": parenthesised(MAX_PARENTHESES_DEPTH)})
    assert at_the_limit.status_code == 200, at_the_limit.text

    long_value = "x" * MAX_EXPRESSION_LENGTH
    too_long = await api.get(path, params={"filters": f'{field} eq "{long_value}"'})
    assert too_long.status_code == 400 and error_text(too_long).startswith("filters: is "), too_long.text
    sorters = await api.get(path, params={"sorters": ",".join(["-created"] * (MAX_EXPRESSION_LENGTH // 8))})
    assert sorters.status_code == 400 and error_text(sorters).startswith("sorters: is "), sorters.text


async def test_control_characters_never_reach_temporal_visibility(
    api: httpx.AsyncClient, running_api: RunningApi
) -> None:
    """A NUL made Temporal's SQL visibility fail, retried for seconds, then a 503: now a 400 at once."""
    for field, value in (("triggerId", "\x00"), ("subscriptionId", "a\x01b")):
        began = time.monotonic()
        response = await api.get(
            "/trigger-invocations/v1/status", params={"filters": f'{field} eq "{value}"', "count": "true"}
        )
        assert response.status_code == 400, response.text
        assert error_text(response).startswith(f"filters: the {field} value contains the control character")
        assert time.monotonic() - began < 2, "answered without Temporal's retries"
    unusual = await api.get("/trigger-invocations/v1/status", params={"filters": 'triggerId eq "é \' 😀"'})
    assert unusual.status_code == 200 and unusual.json() == [], "other characters still search"

    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        for field in ("triggerId", "subscriptionId"):
            began = time.monotonic()
            page = await browser.get("/ui/invocations", params={field: "\x00"})
            assert page.status_code == 400, page.text
            assert f"{field}: the value contains the control character U+0000" in page.text
            assert time.monotonic() - began < 2, "answered without Temporal's retries"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "0001-01-01T00:00:00+14:00", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59-14:00"}, "to"),
        ({"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T23:59:59-14:00"}, "from"),
    ],
)
async def test_replay_dates_without_a_utc_date_are_refused(
    api: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await api.post(REPLAYS, json=body)
    assert response.status_code == 400, response.text
    assert error_text(response).startswith(f"{field}: {body[field]} is out of range"), error_text(response)


async def test_events_nested_too_deep_are_refused_and_at_the_limit_delivered(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path()
    await create_subscription(api, url=subscriber.url(path))
    too_deep = nested(300)  # past pydantic's serialization depth, within Python's parser's
    deep_input = {**FNF_INPUT, "attributes": {"nested": too_deep}}
    for route, body, field in (
        ("start", {"triggerId": FNF_TRIGGER, "input": FNF_INPUT, "contentJson": too_deep}, "contentJson"),
        ("start", {"triggerId": FNF_TRIGGER, "input": deep_input}, "input"),
        ("test", {"triggerId": FNF_TRIGGER, "contentJson": too_deep}, "contentJson"),
    ):
        response = await api.post(f"/trigger-invocations/v1/{route}", json=body)
        assert response.status_code == 400, response.text
        assert error_text(response) == (
            f"{field}: nests objects and arrays more than {MAX_NESTING_DEPTH} levels deep, over the limit"
        )
    assert subscriber.received(path) == [], "nothing started"

    content = nested(MAX_NESTING_DEPTH)
    started = await api.post(
        "/trigger-invocations/v1/start",
        json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT, "contentJson": content},
    )
    assert started.status_code == 200, started.text
    invocation_id = started.json()[0]["id"]
    assert (await finished(api, invocation_id))["status"] == "COMPLETED"
    assert len(await subscriber.wait_for(path)) == 1
    listed = await api.get(
        "/trigger-invocations/v1/status", params={"filters": f'triggerId eq "{FNF_TRIGGER}"'}
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()[0]["startInvocationInput"]["contentJson"] == content


async def test_a_body_too_deep_to_parse_is_refused_saying_so(api: httpx.AsyncClient) -> None:
    """About a thousand levels never reach the nesting check: FastAPI's parser gives up first."""
    deep_array = "[" * 5000 + "]" * 5000
    response = await api.post(
        "/trigger-invocations/v1/start",
        content=f'{{"triggerId": "{FNF_TRIGGER}", "input": {{}}, "contentJson": {{"a": {deep_array}}}}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert error_text(response) == "body: nests objects and arrays too deep to parse"


async def test_ui_validate_filter_refuses_json_too_deep_to_parse(running_api: RunningApi) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        deep_array = "[" * 5000 + "]" * 5000
        response = await browser.post(
            "/ui/validate-filter",
            content=f'{{"filter": "$.a", "input": {deep_array}}}',
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert error_text(response) == "body: nests objects and arrays too deep to parse"


async def test_codec_refuses_a_key_id_that_is_not_text(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = make_settings(
        database_url=sqlite_url, payload_encryption_keys=f"k1:{base64.b64encode(generate_key()).decode()}"
    )
    async with RunningApi(settings) as running, await running.client(INVOCATION_STATUS_READ) as http:
        payload = {
            "metadata": {
                "encoding": base64.b64encode(b"binary/encrypted").decode(),
                "encryption-key-id": "/w==",
            },
            "data": base64.b64encode(b"\0" * 40).decode(),
        }
        response = await http.post("/codec/decode", json={"payloads": [payload]})
        assert response.status_code == 400, response.text
        assert error_text(response) == "payloads: metadata encryption-key-id is not a key id (not UTF-8)"


async def test_a_replay_id_is_not_an_invocation(api: httpx.AsyncClient, running_api: RunningApi) -> None:
    started = await api.post(REPLAYS, json={"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"})
    assert started.status_code == 202, started.text
    replay_id = started.json()["id"]
    not_found = f"invocation {replay_id} not found"
    invocation = f"/trigger-invocations/v1/{replay_id}"
    for response in (
        await api.get(invocation),
        await api.post(f"{invocation}/complete", json={"secret": "s" * 32, "output": {}}),
        await api.post(f"{invocation}/redeliver"),
        await api.get(f"{invocation}/attempts"),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
        assert error_text(response) == not_found
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        page = await browser.get(f"/ui/invocations/{replay_id}")
        assert page.status_code == 404 and not_found in page.text
    assert (await api.get(f"{REPLAYS}/{replay_id}")).status_code == 200, "still readable as a replay"


async def test_an_answer_nested_too_deep_is_refused_and_the_invocation_keeps_waiting(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    invocation = await awaiting_invocation(api, subscriber)
    refused = await api.post(
        complete_url(invocation), json={"secret": invocation["secret"], "output": nested(300)}
    )
    assert refused.status_code == 400, refused.text
    assert error_text(refused).startswith(f"output: nests objects and arrays more than {MAX_NESTING_DEPTH}")
    waiting = (await api.get(f"/trigger-invocations/v1/{invocation['id']}")).json()
    assert waiting["status"] == "AWAITING_RESPONSE", "the refused answer changed nothing"
