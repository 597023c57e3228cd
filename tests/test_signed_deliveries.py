"""Standard Webhooks signatures on every delivery, rotation with grace, and the SSRF guard at dial time."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from event_triggers.config import Settings
from event_triggers.security.ssrf import classify_address
from event_triggers.security.webhook_signing import InvalidSignature, verify
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, finished, start
from tests.subscriber import Reply, Subscriber


async def create(api: httpx.AsyncClient, url: str) -> dict[str, str]:
    body = {"name": "signed", "triggerId": FNF_TRIGGER, "type": "HTTP", "httpConfig": {"url": url}}
    response = await api.post("/trigger-subscriptions/v1", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


async def test_signed_delivery_and_rotation_grace(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    path = subscriber.new_path(Reply(status=503), default=Reply())
    created = await create(api, subscriber.url(path))
    old_secret = created["signingSecret"]
    assert old_secret.startswith("whsec_")
    fetched = await api.get(f"/trigger-subscriptions/v1/{created['id']}")
    assert "signingSecret" not in fetched.json() and old_secret not in fetched.text

    [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    first, retry = await subscriber.wait_for(path, count=2)
    for request in (first, retry):
        verify(secret=old_secret, headers=request.headers, body=request.body)
        assert request.headers["webhook-id"] == invocation["id"], "stable across retries for de-duplication"
    assert (await finished(api, invocation["id"]))["status"] == "COMPLETED"

    rotated = await api.post(f"/trigger-subscriptions/v1/{created['id']}/rotate-signing-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["signingSecret"]
    assert new_secret != old_secret and rotated.json()["previousSecretExpires"] is not None
    await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    *_, during_grace = await subscriber.wait_for(path, count=3)
    assert len(during_grace.headers["webhook-signature"].split()) == 2
    verify(secret=new_secret, headers=during_grace.headers, body=during_grace.body)
    verify(secret=old_secret, headers=during_grace.headers, body=during_grace.body)
    with pytest.raises(InvalidSignature):
        verify(secret=new_secret, headers=during_grace.headers, body=during_grace.body + b" ")
    missing = await api.post("/trigger-subscriptions/v1/nope/rotate-signing-secret")
    assert missing.status_code == 404


async def test_rotation_without_grace_signs_with_the_new_secret_only(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber
) -> None:
    settings = make_settings(database_url=sqlite_url, signing_secret_grace="PT0S")
    async with RunningApi(settings) as running, await running.client() as api:
        path = subscriber.new_path()
        created = await create(api, subscriber.url(path))
        rotated = (await api.post(f"/trigger-subscriptions/v1/{created['id']}/rotate-signing-secret")).json()
        await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        [request] = await subscriber.wait_for(path)
    assert len(request.headers["webhook-signature"].split()) == 1
    verify(secret=rotated["signingSecret"], headers=request.headers, body=request.body)
    with pytest.raises(InvalidSignature):
        verify(secret=created["signingSecret"], headers=request.headers, body=request.body)


async def test_delivery_to_a_name_resolving_to_a_refused_range_fails_at_once(
    make_settings: Callable[..., Settings], sqlite_url: str, subscriber: Subscriber
) -> None:
    """The saved URL names a host, so only the dial-time check can see it resolves to loopback."""
    hostname = socket.gethostname()
    resolved = socket.getaddrinfo(hostname, None)[0][4][0]
    assert classify_address(str(resolved)) is not None, f"{hostname} must resolve to a private address here"
    settings = make_settings(database_url=sqlite_url, destination_allowlist=[])
    async with RunningApi(settings) as running, await running.client() as api:
        path = subscriber.new_path()
        url = subscriber.url(path).replace("127.0.0.1", hostname)
        await create(api, url)
        [invocation] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
        detail = await finished(api, invocation["id"])
    assert detail["status"] == "FAILED"
    assert "delivery refused" in detail["error"] and "refused address range" in detail["error"]
    assert subscriber.received(path) == []
