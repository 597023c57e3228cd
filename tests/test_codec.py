"""The authenticated codec endpoint the Temporal Web UI uses to show encrypted payloads."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
from temporalio.client import Client

from event_triggers.config import Settings
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ, SUBSCRIPTIONS_READ
from event_triggers.security.secret_box import generate_key
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Subscriber


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PLAIN = {
    "metadata": {"encoding": b64(b"json/plain")},
    "data": b64(json.dumps({"name": "William Wilson"}).encode()),
}


async def test_encode_decode_round_trip_with_token(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    settings = make_settings(database_url=sqlite_url, payload_encryption_keys=f"k1:{b64(generate_key())}")
    async with RunningApi(settings) as running:
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
