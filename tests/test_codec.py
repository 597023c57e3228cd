"""The authenticated codec endpoint the Temporal Web UI uses to show encrypted payloads."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from event_triggers.clients import create_client
from event_triggers.config import Settings
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ, SUBSCRIPTIONS_READ
from event_triggers.security.secret_box import generate_key
from event_triggers.temporal import SEARCH_ATTRIBUTES, temporal_cli_path
from tests.browser import chromium, chromium_path, log_in
from tests.conftest import RunningApi, free_port
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Reply, Subscriber


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PLAIN = {
    "metadata": {"encoding": b64(b"json/plain")},
    "data": b64(json.dumps({"name": "William Wilson"}).encode()),
}
WEB_UI_ORIGIN = "http://127.0.0.1:8233"  # in the default EVENT_TRIGGERS_CODEC_CORS_ORIGINS


def encrypting_settings(
    make_settings: Callable[..., Settings], sqlite_url: str, **overrides: Any
) -> Settings:
    return make_settings(
        database_url=sqlite_url, payload_encryption_keys=f"k1:{b64(generate_key())}", **overrides
    )


@asynccontextmanager
async def logged_in(running: RunningApi, *scopes: str) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie jar holding an Administration UI session of a new client with ``scopes``."""
    client = await create_client(store=running.state.store, name="operator", scopes=list(scopes))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
        login = await browser.post(
            "/ui/login", data={"client_id": client.client_id, "client_secret": client.client_secret}
        )
        assert login.status_code == 303, login.text
        yield browser


async def test_encode_decode_round_trip_with_token(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    async with RunningApi(encrypting_settings(make_settings, sqlite_url)) as running:
        async with await running.client(INVOCATION_STATUS_READ) as http:
            encoded = await http.post("/codec/encode", json={"payloads": [PLAIN]})
            assert encoded.status_code == 200, encoded.text
            payload = encoded.json()["payloads"][0]
            assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
            assert b"William" not in base64.b64decode(payload["data"])
            decoded = await http.post("/codec/decode", json={"payloads": [payload]})
            assert decoded.json() == {"payloads": [PLAIN]}
            garbage = await http.post("/codec/decode", json={"payloads": "nope"})
            assert garbage.status_code == 400 and garbage.json()["messages"][0]["text"].startswith(
                "payloads:"
            )
        async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
            assert (await anonymous.post("/codec/decode", json={"payloads": [PLAIN]})).status_code == 401
            preflight = await anonymous.options(
                "/codec/decode",
                headers={"Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "POST"},
            )
            assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
        async with await running.client(SUBSCRIPTIONS_READ) as wrong_scope:
            assert (await wrong_scope.post("/codec/decode", json={"payloads": [PLAIN]})).status_code == 403


async def test_web_ui_codec_answers_the_administration_ui_session(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    from_web_ui = {"Origin": WEB_UI_ORIGIN, "X-Namespace": "default"}
    async with RunningApi(encrypting_settings(make_settings, sqlite_url)) as running:
        async with logged_in(running, INVOCATION_STATUS_READ) as operator:
            encoded = await operator.post("/ui/codec/encode", json={"payloads": [PLAIN]}, headers=from_web_ui)
            assert encoded.status_code == 200, encoded.text
            decoded = await operator.post("/ui/codec/decode", json=encoded.json(), headers=from_web_ui)
            assert decoded.status_code == 200, decoded.text
            assert decoded.json() == {"payloads": [PLAIN]}
            elsewhere = await operator.post(
                "/ui/codec/decode", json=encoded.json(), headers={"Origin": "https://evil.example"}
            )
            assert elsewhere.status_code == 403
            assert "https://evil.example" in elsewhere.json()["messages"][0]["text"]
        async with logged_in(running, SUBSCRIPTIONS_READ) as wrong_scope:
            refused = await wrong_scope.post("/ui/codec/decode", json=encoded.json(), headers=from_web_ui)
            assert refused.status_code == 403
        async with await running.client(INVOCATION_STATUS_READ) as bearer_only:
            # the bearer token is /codec's credential; /ui/codec takes only the session
            assert (await bearer_only.post("/ui/codec/decode", json=encoded.json())).status_code == 401


async def test_web_ui_in_a_browser_decodes_with_the_session_cookie(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """What the Web UI does with TEMPORAL_CODEC_INCLUDE_CREDENTIALS: a cross-origin fetch from its page
    with ``credentials: "include"``, in Chromium, after logging in to the Administration UI."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): browser test skipped")
    async with Subscriber() as web_ui:  # serves the page the codec calls come from, on another port
        page_path = web_ui.new_path(
            default=Reply(body=b"<!doctype html><title>Web UI</title>", headers={"content-type": "text/html"})
        )
        web_ui_page = web_ui.url(page_path)
        settings = encrypting_settings(make_settings, sqlite_url, codec_cors_origins=[web_ui.base_url])
        async with RunningApi(settings) as running, chromium(executable) as browser:
            async with await running.client(INVOCATION_STATUS_READ) as http:
                encoded = (await http.post("/codec/encode", json={"payloads": [PLAIN]})).json()
            operator = await create_client(
                store=running.state.store, name="operator", scopes=[INVOCATION_STATUS_READ]
            )
            context = await browser.new_context(base_url=running.base_url)
            page = await context.new_page()
            await log_in(page, operator)
            await page.goto(web_ui_page)
            fetch_decode = """async ([url, body, credentials]) => {
                const response = await fetch(url, {
                    method: "POST",
                    credentials,
                    headers: {"Content-Type": "application/json", "X-Namespace": "default"},
                    body: JSON.stringify(body),
                });
                return [response.status, await response.json()];
            }"""
            url = f"{running.base_url}/ui/codec/decode"
            status, decoded = await page.evaluate(fetch_decode, [url, encoded, "include"])
            assert (status, decoded) == (200, {"payloads": [PLAIN]})
            status, _ = await page.evaluate(fetch_decode, [url, encoded, "omit"])
            assert status == 401
            await context.close()


async def test_the_temporal_web_ui_shows_decrypted_payloads_to_a_logged_in_operator(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The real Web UI (the dev server's) with the codec settings an operator sets in its Codec Server
    dialog ("Use my browser setting", our /ui/codec, "Include cross-origin credentials"), written to its
    localStorage keys: once logged in to the Administration UI, the workflow's input shows decrypted."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): browser test skipped")
    ui_port = free_port()
    web_ui = f"http://127.0.0.1:{ui_port}"
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-disable-news-fetch"],
    )
    settings = encrypting_settings(
        make_settings,
        sqlite_url,
        temporal_address=environment.client.service_client.config.target_host,
        codec_cors_origins=[web_ui],
    )
    async with environment, Subscriber() as subscriber, RunningApi(settings) as running:
        async with await running.client() as api:
            await create_subscription(api, url=subscriber.url(subscriber.new_path()))
            [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
            assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
        operator = await create_client(
            store=running.state.store, name="operator", scopes=[INVOCATION_STATUS_READ]
        )
        async with chromium(executable) as browser:
            context = await browser.new_context(base_url=running.base_url)
            await context.add_init_script(
                f"""if (location.origin === "{web_ui}") {{
                    localStorage.setItem("endpoint", JSON.stringify("{running.base_url}/ui/codec"));
                    localStorage.setItem("includeCredentials", "true");
                    localStorage.setItem("passAccessToken", "false");
                    localStorage.setItem("overrideRemoteCodecConfiguration", "true");
                }}"""
            )
            page = await context.new_page()
            await log_in(page, operator)
            await page.goto(f"{web_ui}/namespaces/default/workflows/{invocation['id']}")
            # a line of the workflow's input, which only the codec can show (the event's own fields are
            # further down its scrolled code view, which renders only the lines in sight)
            decrypted_line = page.get_by_text(re.compile(r'"trigger_kind":\s*"FIRE_AND_FORGET"'))
            await expect(decrypted_line.first).to_be_visible(timeout=30_000)
            await context.close()


async def test_codec_endpoint_off_without_keys(running_api: RunningApi) -> None:
    async with await running_api.client() as http:
        response = await http.post("/codec/decode", json={"payloads": [PLAIN]})
    assert response.status_code == 404
    assert "PAYLOAD_ENCRYPTION_KEYS" in response.json()["messages"][0]["text"]


async def test_workflow_history_is_unreadable_without_the_codec(
    make_settings: Callable[..., Settings], sqlite_url: str, temporal_client: Client
) -> None:
    settings = make_settings(database_url=sqlite_url, payload_encryption_keys=f"k1:{b64(generate_key())}")
    async with Subscriber() as subscriber, RunningApi(settings) as running, await running.client() as api:
        path = subscriber.new_path()
        await create_subscription(api, url=subscriber.url(path))
        [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"
        [delivered] = subscriber.received(path)
    assert delivered.json()["identity"] == FNF_INPUT["identity"], "the subscriber gets the plain event"
    history = (await temporal_client.get_workflow_handle(invocation["id"]).fetch_history()).to_json()
    assert FNF_INPUT["identity"]["name"] not in history
    assert base64.b64encode(b"binary/encrypted").decode() in history
