"""Inputs a client controls: body size, field bounds, media types, tokens; each a 4xx naming the rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningApi
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_TRIGGER,
    create_subscription,
    error_text,
    finished,
    start,
)
from tests.subscriber import Subscriber

MIB = 1024 * 1024
SUBSCRIPTIONS = "/trigger-subscriptions/v1"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


def subscription_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Identity feed",
        "triggerId": FNF_TRIGGER,
        "type": "HTTP",
        "httpConfig": {"url": "https://hooks.example.com/identity", "httpDispatchMode": "SYNC"},
    }
    body.update(overrides)
    return body


async def test_a_body_over_the_limit_is_refused_413_naming_the_limit(api: httpx.AsyncClient) -> None:
    big_input = {**FNF_INPUT, "padding": "x" * (5 * MIB)}
    started = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": big_input}
    )
    assert started.status_code == 413, started.text
    assert "1048576 bytes" in error_text(started) and "EVENT_TRIGGERS_MAX_REQUEST_BYTES" in error_text(
        started
    )

    huge_name = await api.post(SUBSCRIPTIONS, json=subscription_body(name="n" * (5 * MIB)))
    assert huge_name.status_code == 413, huge_name.text
    assert (await api.get(SUBSCRIPTIONS)).json() == [], "nothing was created"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"triggerId": "idn:identity-created", "input": {"padding": "'
        for _ in range(3):
            yield b"x" * (MIB // 2)
        yield b'"}}'

    chunked = await api.post(
        "/trigger-invocations/v1/start", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413, chunked.text
    assert "1048576 bytes" in error_text(chunked)


async def test_the_body_limit_is_a_setting(make_settings: Any, sqlite_url: str) -> None:
    settings = make_settings(database_url=sqlite_url, max_request_bytes=2000)
    async with RunningApi(settings) as running, await running.client() as api:
        over = await api.post(SUBSCRIPTIONS, json=subscription_body(description="d" * 1990))
        assert over.status_code == 413 and "2000 bytes" in error_text(over), over.text
        under = await api.post(SUBSCRIPTIONS, json=subscription_body(description="d" * 1500))
        assert under.status_code == 201, under.text


@pytest.mark.parametrize(
    ("overrides", "field", "limit"),
    [
        ({"name": "n" * 256}, "name", 255),
        ({"description": "d" * 2001}, "description", 2000),
        ({"filter": "$." + "a" * 2047}, "filter", 2048),
        (
            {"httpConfig": {"url": "https://hooks.example.com/" + "p" * 2048, "httpDispatchMode": "SYNC"}},
            "httpConfig.url",
            2048,
        ),
        (
            {
                "httpConfig": {
                    "url": "https://hooks.example.com/identity",
                    "httpDispatchMode": "SYNC",
                    "httpAuthenticationType": "BEARER_TOKEN",
                    "bearerTokenAuthConfig": {"bearerToken": "t" * 4097},
                }
            },
            "httpConfig.bearerTokenAuthConfig.bearerToken",
            4096,
        ),
        (
            {
                "httpConfig": {
                    "url": "https://hooks.example.com/identity",
                    "httpDispatchMode": "SYNC",
                    "httpAuthenticationType": "BASIC_AUTH",
                    "basicAuthConfig": {"userName": "u", "password": "p" * 4097},
                }
            },
            "httpConfig.basicAuthConfig.password",
            4096,
        ),
    ],
    ids=["name", "description", "filter", "url", "bearer-token", "password"],
)
async def test_every_subscription_string_is_bounded_on_post_put_and_patch(
    api: httpx.AsyncClient, overrides: dict[str, Any], field: str, limit: int
) -> None:
    def refused(response: httpx.Response) -> bool:
        text = error_text(response)
        return response.status_code == 400 and text.startswith(f"{field}:") and f"{limit} characters" in text

    created = await api.post(SUBSCRIPTIONS, json=subscription_body(**overrides))
    assert refused(created), created.text

    stored = (await api.post(SUBSCRIPTIONS, json=subscription_body())).json()
    stored.pop("signingSecret")
    url = f"{SUBSCRIPTIONS}/{stored['id']}"
    replaced = await api.put(url, json={**stored, **overrides})
    assert refused(replaced), replaced.text
    [(key, value)] = overrides.items()
    patched = await api.patch(
        url, json=[{"op": "replace", "path": f"/{key}", "value": value}], headers=PATCH_JSON
    )
    assert refused(patched), patched.text
    assert (await api.get(url)).json() == stored, "a refused change changes nothing"


async def test_a_garbage_bearer_token_is_a_malformed_token(running_api: RunningApi) -> None:
    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        for token in ("garbage", "t\xb7\xb7.\xb7\xb7.\xb7", "eyJhbGciOiJIUzI1NiJ9.e30"):
            response = await http.get(
                SUBSCRIPTIONS, headers={b"Authorization": f"Bearer {token}".encode("latin-1")}
            )
            assert response.status_code == 401, response.text
            assert error_text(response) == "invalid access token: malformed token"


async def test_a_body_of_another_media_type_is_refused_415(
    api: httpx.AsyncClient, running_api: RunningApi
) -> None:
    text_body = await api.post(
        SUBSCRIPTIONS, content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert text_body.status_code == 415, text_body.text
    assert "expected application/json" in error_text(text_body) and "text/plain" in error_text(text_body)
    form = await api.post("/trigger-invocations/v1/start", data={"triggerId": FNF_TRIGGER})
    assert form.status_code == 415 and "application/json" in error_text(form), form.text
    no_type = await api.post("/trigger-invocations/v1/start", content=b'{"triggerId": "x", "input": {}}')
    assert no_type.status_code == 415, no_type.text

    stored = (await api.post(SUBSCRIPTIONS, json=subscription_body())).json()
    patch = await api.patch(
        f"{SUBSCRIPTIONS}/{stored['id']}", content=b"name=x", headers={"Content-Type": "text/plain"}
    )
    assert patch.status_code == 415 and "application/json-patch+json" in error_text(patch), patch.text
    as_json = await api.patch(
        f"{SUBSCRIPTIONS}/{stored['id']}", json=[{"op": "replace", "path": "/name", "value": "renamed"}]
    )
    assert as_json.status_code == 200, "plain application/json is a JSON patch too"

    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        token = await http.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert token.status_code == 415, token.text
    assert "application/x-www-form-urlencoded" in error_text(token)


@pytest.mark.parametrize("mode", ["ASYNC", "DYNAMIC"])
async def test_fire_and_forget_takes_no_response_mode(api: httpx.AsyncClient, mode: str) -> None:
    http_config = {"url": "https://hooks.example.com/identity", "httpDispatchMode": mode}
    created = await api.post(SUBSCRIPTIONS, json=subscription_body(httpConfig=http_config))
    assert created.status_code == 400, created.text
    assert error_text(created).startswith("httpConfig.httpDispatchMode:") and FNF_TRIGGER in error_text(
        created
    )

    sync = (await api.post(SUBSCRIPTIONS, json=subscription_body())).json()
    patched = await api.patch(
        f"{SUBSCRIPTIONS}/{sync['id']}",
        json=[{"op": "replace", "path": "/httpConfig/httpDispatchMode", "value": mode}],
        headers=PATCH_JSON,
    )
    assert patched.status_code == 400 and error_text(patched).startswith("httpConfig.httpDispatchMode:")
    rr = await api.post(SUBSCRIPTIONS, json=subscription_body(triggerId=RR_TRIGGER, httpConfig=http_config))
    assert rr.status_code == 201, "REQUEST_RESPONSE subscribers choose their mode"


async def test_an_invocation_reads_the_same_with_and_without_waiting(
    api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    waited = await finished(api, invocation["id"])
    direct = await api.get(f"/trigger-invocations/v1/{invocation['id']}")
    assert direct.json() == waited
    assert waited["created"] < waited["completed"]
