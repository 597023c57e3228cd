"""The Administration UI under input no browser sends: CSRF tokens that are not ASCII, control names that
nest inside another control, ids with a NUL, and secrets typed into a form that comes back with an error.
Each is a 4xx naming what is wrong (or the form again), never a 500, and never a secret in the page."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlencode

import httpx

from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_TRIGGER, create_destination_subscription, create_subscription
from tests.subscriber import Subscriber
from tests.test_ui import _client, _csrf, _logged_in, _new_subscription_form


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
