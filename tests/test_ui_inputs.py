"""The Administration UI under input no browser sends: CSRF tokens that are not ASCII, control names that
nest inside another control, ids with a NUL, and secrets typed into a form that comes back with an error.
Each is a 4xx naming what is wrong (or the form again), never a 500, and never a secret in the page."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

import httpx
import pytest

from event_triggers.config import Settings
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_TRIGGER, create_destination_subscription, create_subscription
from tests.subscriber import Subscriber
from tests.test_ui import _client, _csrf, _logged_in, _new_subscription_form

NUL_ID = "a%00b"
"""A subscription id with a NUL in the path: PostgreSQL refuses the character in any query parameter."""


async def test_a_csrf_token_that_is_not_ascii_is_refused_like_a_wrong_one(running_api: RunningApi) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        for sent in (
            {"data": {"csrf_token": "é"}},
            {"headers": {b"X-CSRF-Token": "é".encode("latin-1")}},
            {"data": {"csrf_token": "\u2603" * 64}},
        ):
            response = await browser.post("/ui/logout", **sent)  # type: ignore[arg-type]
            assert response.status_code == 403, (sent, response.status_code, response.text[:200])
            assert "CSRF" in response.text
        check = await browser.post(
            "/ui/validate-filter",
            json={"filter": "$.a", "input": {"a": 1}},
            headers={b"X-CSRF-Token": "é".encode("latin-1")},
        )
        assert check.status_code == 403, check.text
        assert (await browser.get("/ui/")).status_code == 200, "the session was not ended"


async def test_control_names_nested_inside_another_control_are_a_400_naming_them(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    url = subscriber.url(subscriber.new_path())
    subscription_id = await create_subscription(api, url=url, name="kept")
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        for action in ("/ui/subscriptions/new", f"/ui/subscriptions/{subscription_id}/edit"):
            for extra, name, inside in (
                ({"name.first": "x"}, "name.first", "name"),
                (
                    {"maxDeliveriesPerSecond": "2", "maxDeliveriesPerSecond.value": "3"},
                    "maxDeliveriesPerSecond.value",
                    "maxDeliveriesPerSecond",
                ),
                ({"httpConfig.url.host": "x"}, "httpConfig.url.host", "httpConfig.url"),
            ):
                form = {**_new_subscription_form(url, name="changed"), **extra, "csrf_token": token}
                response = await browser.post(action, data=form)
                assert response.status_code == 400, (action, name, response.status_code, response.text[:300])
                assert f"{name}: cannot be set inside {inside}," in response.text, response.text
            # A value after the controls nested in it: refused too, not overwriting them.
            pairs = [("name.first", "x"), *_new_subscription_form(url).items(), ("csrf_token", token)]
            response = await browser.post(
                action,
                content=urlencode(pairs).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 400, (action, response.status_code, response.text[:300])
            assert "name: holds other controls" in response.text, response.text
    stored = await running_api.state.store.list_subscriptions()
    assert [item.name for item in stored] == ["kept"], "a refused form changes nothing"


async def test_a_form_shown_again_after_an_error_holds_no_secret(
    running_api: RunningApi, api: httpx.AsyncClient
) -> None:
    password, stored_password = "hunter2-never-shown", "stored-never-shown"
    broker = "rabbit.example.com:5672/idn"
    stored = await create_destination_subscription(
        api,
        type_name="RABBITMQ",
        config={
            "url": f"amqp://feeder:{stored_password}@{broker}",
            "exchange": "identity",
            "routingKey": "x",
        },
    )
    rabbit_form = {
        "triggerId": FNF_TRIGGER,
        "name": "broker feed",
        "type": "RABBITMQ",
        "rabbitMqConfig.url": f"amqp://feeder:{password}@{broker}",
        "rabbitMqConfig.exchange": "identity",
        "rabbitMqConfig.routingKey": "created",
        "filter": "$[",
        "enabled": "true",
    }
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        for action in ("/ui/subscriptions/new", f"/ui/subscriptions/{stored['id']}/edit"):
            rabbit = await browser.post(action, data={**rabbit_form, "csrf_token": token})
            assert rabbit.status_code == 200 and 'id="error-filter"' in rabbit.text, rabbit.text
            assert password not in rabbit.text and stored_password not in rabbit.text, (
                "the broker password typed in the URL is not shown again"
            )
            assert f'value="amqp://feeder@{broker}"' in rabbit.text, "the rest of the URL is"
            assert re.search(r'id="error-rabbitMqConfig.url">[^<]*password', rabbit.text), (
                "the form says to type the password again"
            )

        for fields in (
            {
                "httpConfig.httpAuthenticationType": "BASIC_AUTH",
                "httpConfig.basicAuthConfig.userName": "me",
                "httpConfig.basicAuthConfig.password": password,
            },
            {
                "httpConfig.httpAuthenticationType": "BEARER_TOKEN",
                "httpConfig.bearerTokenAuthConfig.bearerToken": password,
            },
        ):
            http = await browser.post(
                "/ui/subscriptions/new",
                data={
                    **_new_subscription_form(f"https://user:{password}@hooks.example.com/x"),
                    **fields,
                    "csrf_token": token,
                },
            )
            assert http.status_code == 200 and "error-httpConfig.url" in http.text, http.text
            assert password not in http.text, fields
    [kept] = await running_api.state.store.list_subscriptions()
    assert kept.name == stored["name"], "a refused form changes nothing"


@pytest.fixture
async def on_each_store(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[RunningApi]:
    """The API on SQLite, then on PostgreSQL."""
    async with RunningApi(make_settings(database_url=database_url)) as running:
        yield running


async def test_ids_with_a_nul_are_unknown_on_every_store(on_each_store: RunningApi) -> None:
    running = on_each_store
    client = await _client(running)
    browser = await _logged_in(running, client)
    api = await running.client()
    async with contextlib.aclosing(browser), contextlib.aclosing(api):
        for path in (f"/ui/subscriptions/{NUL_ID}", f"/ui/subscriptions/{NUL_ID}/edit"):
            page = await browser.get(path)
            assert page.status_code == 404, (path, page.status_code, page.text[:200])
            assert "does not exist" in page.text
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        for action, data in (
            ("enabled", {"enabled": "false"}),
            ("rotate-secret", {}),
            ("delete", {}),
            ("edit", {"name": "x"}),
            ("test", {}),
        ):
            response = await browser.post(
                f"/ui/subscriptions/{NUL_ID}/{action}", data={**data, "csrf_token": token}
            )
            assert response.status_code == 404, (action, response.status_code, response.text[:200])

        rest = f"/trigger-subscriptions/v1/{NUL_ID}"
        for response in (
            await api.get(rest),
            await api.delete(rest),
            await api.patch(rest, json=[{"op": "replace", "path": "/enabled", "value": False}]),
            await api.post(f"{rest}/rotate-signing-secret"),
        ):
            assert response.status_code == 404, (response.request.method, response.status_code, response.text)

        replay = await api.post(
            "/trigger-invocations/v1/replays",
            json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "subscriptionId": "a\x00b"},
        )
        assert replay.status_code == 400 and "subscriptionId: unknown subscription" in replay.text, (
            replay.text
        )

        login = await browser.post(
            "/ui/login", data={"client_id": "a\x00b", "client_secret": client.client_secret}
        )
        assert login.status_code == 200 and "unknown client or wrong secret" in login.text, login.text
        token_request = await api.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
        )
        assert token_request.status_code == 401, token_request.text
