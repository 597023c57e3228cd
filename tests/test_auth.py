"""OAuth2 client credentials, scopes on every route, and the clients CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from argon2 import PasswordHasher

from event_triggers import clients
from event_triggers.config import Settings
from event_triggers.errors import Unauthorized
from event_triggers.security.client_credentials import (
    INVOCATIONS_CREATE,
    SUBSCRIPTIONS_MANAGE,
    SUBSCRIPTIONS_READ,
    issue_token,
    verify_client_secret,
)
from event_triggers.store import Store
from tests.conftest import RunningApi
from tests.worker_process import process_environment


def error_text(response: httpx.Response) -> str:
    return str(response.json()["messages"][0]["text"])


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "event_triggers.cli", *args],
        env=process_environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


async def token_for(store: Store, settings: Settings, client_id: str, secret: str) -> clients.IssuedToken:
    """The client credentials grant with every scope the client has."""
    return await clients.issue_client_token(
        store=store, settings=settings, client_id=client_id, client_secret=secret, requested_scope=None
    )


async def test_secrets_are_hashed_and_checked_off_the_event_loop(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 takes tens of milliseconds: on the event loop it would stall every request, delivery and
    workflow activation of the process, once per token request."""
    threads: list[int] = []

    def recording(function: Callable[..., object]) -> Callable[..., object]:
        def run(*args: object) -> object:
            threads.append(threading.get_ident())
            return function(*args)

        return run

    monkeypatch.setattr(clients, "hash_client_secret", recording(clients.hash_client_secret))
    monkeypatch.setattr(clients, "verify_client_secret", recording(clients.verify_client_secret))
    created = await clients.create_client(store=store, name="ci", scopes=[SUBSCRIPTIONS_READ])
    issued = await token_for(store, settings, created.client_id, created.client_secret)
    assert issued.scope == SUBSCRIPTIONS_READ
    assert len(threads) == 2 and threading.get_ident() not in threads


async def test_an_older_hash_is_replaced_once_its_secret_matches(store: Store, settings: Settings) -> None:
    """Stores of earlier versions hold hashes at argon2-cffi's defaults (~160 ms per check): the first
    token request with the right secret leaves today's parameters behind; a wrong secret changes nothing."""
    created = await clients.create_client(store=store, name="old", scopes=[SUBSCRIPTIONS_READ])
    made_before = PasswordHasher().hash(created.client_secret)
    await store.replace_client_secret_hash(client_id=created.client_id, secret_hash=made_before)
    with pytest.raises(Unauthorized):
        await token_for(store, settings, created.client_id, "wrong")
    row = await store.get_client(created.client_id)
    assert row is not None and row.secret_hash == made_before
    assert (
        await token_for(store, settings, created.client_id, created.client_secret)
    ).scope == SUBSCRIPTIONS_READ
    row = await store.get_client(created.client_id)
    assert row is not None and row.secret_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_client_secret(created.client_secret, row.secret_hash)


async def test_an_unknown_client_id_costs_a_hash_check_like_a_wrong_secret(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answering an unknown id without hashing would tell by the time which client ids exist."""
    checked: list[str | None] = []

    def recording(secret: str, hashed: str | None) -> bool:
        checked.append(hashed)
        return verify_client_secret(secret, hashed)

    monkeypatch.setattr(clients, "verify_client_secret", recording)
    with pytest.raises(Unauthorized, match="invalid_client"):
        await token_for(store, settings, "no-such-client", "anything")
    assert checked == [None]
    assert not verify_client_secret("anything", None)


async def test_token_by_form_and_basic_and_wrong_secret(running_api: RunningApi) -> None:
    created = run_cli(
        running_api.settings, "clients", "create", "--name", "ci", "--scope", SUBSCRIPTIONS_READ, "--json"
    )
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        form = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", **client},
        )
        assert form.status_code == 200, form.text
        token = form.json()
        assert token["token_type"] == "bearer" and token["scope"] == SUBSCRIPTIONS_READ
        assert token["expires_in"] == 3600
        basic = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
        assert basic.status_code == 200, basic.text
        wrong = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client["client_id"],
                "client_secret": "nope",
            },
        )
        assert wrong.status_code == 401 and "invalid_client" in error_text(wrong)
        too_much = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials", "scope": SUBSCRIPTIONS_MANAGE, **client}
        )
        assert too_much.status_code == 400 and error_text(too_much).startswith("scope:")
        bad_grant = await http.post("/oauth/token", data={"grant_type": "password", **client})
        assert bad_grant.status_code == 400 and error_text(bad_grant).startswith("grant_type:")

        listed = await http.get("/triggers/v1", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert listed.status_code == 200
        forbidden = await http.post(
            "/trigger-subscriptions/v1", json={}, headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert forbidden.status_code == 403
        assert SUBSCRIPTIONS_MANAGE in error_text(forbidden)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/triggers/v1"),
        ("GET", "/trigger-subscriptions/v1"),
        ("POST", "/trigger-subscriptions/v1"),
        ("GET", "/trigger-subscriptions/v1/x"),
        ("PUT", "/trigger-subscriptions/v1/x"),
        ("PATCH", "/trigger-subscriptions/v1/x"),
        ("DELETE", "/trigger-subscriptions/v1/x"),
        ("POST", "/trigger-subscriptions/v1/validate-filter"),
    ],
)
async def test_routes_require_a_valid_token(running_api: RunningApi, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        missing = await http.request(method, path)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert set(missing.json()) >= {"detailCode", "trackingId", "messages"}
        forged, _ = issue_token(
            client_id="mallory", scopes=[SUBSCRIPTIONS_MANAGE], signing_key=b"k" * 32, ttl_seconds=60
        )
        assert (
            await http.request(method, path, headers={"Authorization": f"Bearer {forged}"})
        ).status_code == 401
        expired, _ = issue_token(
            client_id="x",
            scopes=[SUBSCRIPTIONS_MANAGE],
            signing_key=running_api.state.token_signing_key,
            ttl_seconds=1,
            now=1_000_000,
        )
        response = await http.request(method, path, headers={"Authorization": f"Bearer {expired}"})
        assert response.status_code == 401 and "expired" in error_text(response)
        wrong_scope = {"Authorization": f"Bearer {await running_api.token(INVOCATIONS_CREATE)}"}
        assert (await http.request(method, path, headers=wrong_scope)).status_code == 403
    assert (await httpx.AsyncClient(base_url=running_api.base_url).get("/health")).status_code == 200


async def test_manage_implies_read(running_api: RunningApi) -> None:
    async with await running_api.client(SUBSCRIPTIONS_MANAGE) as http:
        assert (await http.get("/trigger-subscriptions/v1")).status_code == 200
        assert (await http.get("/triggers/v1")).status_code == 200


def test_clients_cli_list_delete_and_unknown_scope(settings: Settings) -> None:
    created = run_cli(settings, "clients", "create", "--name", "ops", "--scope", SUBSCRIPTIONS_READ)
    assert created.returncode == 0, created.stderr
    client_id = created.stdout.split()[1]
    secret = created.stdout.split("client_secret:")[1].split()[0]
    listed = run_cli(settings, "clients", "list")
    assert client_id in listed.stdout and "ops" in listed.stdout and secret not in listed.stdout
    assert run_cli(settings, "clients", "delete", client_id).returncode == 0
    assert client_id not in run_cli(settings, "clients", "list").stdout
    assert run_cli(settings, "clients", "delete", client_id).returncode == 1
    unknown = run_cli(settings, "clients", "create", "--name", "x", "--scope", "sp:everything")
    assert unknown.returncode == 2 and "scope" in unknown.stderr
