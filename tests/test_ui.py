"""The Administration UI over plain HTTP: session cookie, CSRF, scopes, headers, escaping, the form's
mapping to the API's JSON, and the invocation lists paged through Temporal visibility."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import httpx

from api.ui.forms import destination_sections, form_values, read_subscription_form
from api.ui.session import COOKIE_NAME
from event_triggers.clients import NewClient, create_client
from event_triggers.destinations.registry import DESTINATIONS, config_fields
from event_triggers.invocation_models import InvocationStatus
from event_triggers.invocations import reads
from event_triggers.security.client_credentials import INVOCATION_STATUS_READ, SCOPES, SUBSCRIPTIONS_READ
from tests.conftest import RunningApi, wait_until
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_TRIGGER,
    create_destination_subscription,
    create_subscription,
    finished,
    send_test_event,
    start,
)
from tests.subscriber import Reply, Subscriber

XSS = "<script>alert(1)</script>"


async def _client(running_api: RunningApi, *scopes: str) -> NewClient:
    return await create_client(store=running_api.state.store, name="ui", scopes=list(scopes or SCOPES))


async def _logged_in(running_api: RunningApi, client: NewClient) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(base_url=running_api.base_url, timeout=30)
    response = await browser.post(
        "/ui/login", data={"client_id": client.client_id, "client_secret": client.client_secret}
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/", response.text
    return browser


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def _new_subscription_form(url: str, **overrides: str) -> dict[str, str]:
    return {
        "triggerId": FNF_TRIGGER,
        "name": "from the form",
        "type": "HTTP",
        "httpConfig.url": url,
        "httpConfig.httpAuthenticationType": "NO_AUTH",
        "enabled": "true",
        **overrides,
    }


async def test_session_cookie_expires_with_the_token_and_logout_ends_it(running_api: RunningApi) -> None:
    client = await _client(running_api)
    async with httpx.AsyncClient(base_url=running_api.base_url) as browser:
        assert (await browser.get("/ui/subscriptions")).headers["location"] == (
            "/ui/login?next=%2Fui%2Fsubscriptions"
        )
        wrong = await browser.post("/ui/login", data={"client_id": client.client_id, "client_secret": "nope"})
        assert "unknown client or wrong secret" in wrong.text and COOKIE_NAME not in wrong.headers.get(
            "set-cookie", ""
        )
        response = await browser.post(
            "/ui/login",
            data={
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "next": "//evil.example",
            },
        )
        assert response.headers["location"] == "/ui/", "never an open redirect"
        cookie = response.headers["set-cookie"]
        ttl = int(running_api.settings.token_ttl.total_seconds())
        assert f"Max-Age={ttl}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/ui" in cookie and "Secure" not in cookie, "plain HTTP on loopback: no Secure flag"
        overview = await browser.get("/ui/")
        assert overview.status_code == 200
        logout = await browser.post("/ui/logout", data={"csrf_token": _csrf(overview.text)})
        assert logout.status_code == 303 and "Max-Age=0" in logout.headers["set-cookie"]

    async with httpx.AsyncClient(base_url=running_api.base_url) as behind_tls_proxy:
        response = await behind_tls_proxy.post(
            "/ui/login",
            data={"client_id": client.client_id, "client_secret": client.client_secret},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "Secure" in response.headers["set-cookie"]


async def test_state_changes_need_the_csrf_token_and_this_origin(
    running_api: RunningApi, subscriber: Subscriber
) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        form = _new_subscription_form(subscriber.url(subscriber.new_path()))
        missing = await browser.post("/ui/subscriptions/new", data=form)
        wrong = await browser.post("/ui/subscriptions/new", data={**form, "csrf_token": "0" * 64})
        cross_site = await browser.post(
            "/ui/subscriptions/new",
            data={**form, "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )
        assert [missing.status_code, wrong.status_code, cross_site.status_code] == [403, 403, 403]
        assert "CSRF" in missing.text and "cross-origin" in cross_site.text
        assert await running_api.state.store.list_subscriptions() == [], "a refused request changes nothing"
        filter_check = await browser.post(
            "/ui/validate-filter", json={"filter": "$.a", "input": {"a": 1}}, headers={"X-CSRF-Token": "x"}
        )
        assert filter_check.status_code == 403
        created = await browser.post("/ui/subscriptions/new", data={**form, "csrf_token": token})
        assert created.status_code == 201 and "whsec_" in created.text
        assert len(await running_api.state.store.list_subscriptions()) == 1


async def test_read_scopes_show_no_edit_controls_and_forged_edits_get_403(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id = await create_subscription(api, url=subscriber.url(subscriber.new_path()), name="kept")
    reader = await _client(running_api, SUBSCRIPTIONS_READ, INVOCATION_STATUS_READ)
    browser = await _logged_in(running_api, reader)
    async with contextlib.aclosing(browser):
        page = await browser.get(f"/ui/subscriptions/{subscription_id}")
        assert page.status_code == 200 and "kept" in page.text
        for control in ("/edit", "/enabled", "/rotate-secret", "/delete", "/test"):
            assert f"/ui/subscriptions/{subscription_id}{control}" not in page.text
        token = _csrf(page.text)  # the logout form's token: a valid token of this read-only session
        forged = {
            f"/ui/subscriptions/{subscription_id}/enabled": {"enabled": "false"},
            f"/ui/subscriptions/{subscription_id}/delete": {},
            f"/ui/subscriptions/{subscription_id}/rotate-secret": {},
            f"/ui/subscriptions/{subscription_id}/test": {},
            f"/ui/subscriptions/{subscription_id}/edit": {"name": "changed"},
            "/ui/subscriptions/new": _new_subscription_form(subscriber.url("/x")),
        }
        for path, data in forged.items():
            response = await browser.post(path, data={**data, "csrf_token": token})
            assert response.status_code == 403, (path, response.status_code)
        stored = await running_api.state.store.get_subscription(subscription_id)
        assert stored is not None and stored.enabled and stored.name == "kept"
        assert len(await running_api.state.store.list_subscriptions()) == 1


async def test_pages_send_a_strict_csp_and_escape_user_text(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id = await create_subscription(
        api,
        url=subscriber.url(subscriber.new_path()),
        name=XSS,
        description=XSS,
        filter='$[?(@.x == "</script>")]',
    )
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        for path in (
            "/ui/",
            "/ui/subscriptions",
            f"/ui/subscriptions/{subscription_id}",
            f"/ui/subscriptions/{subscription_id}/edit",
            f"/ui/triggers/{FNF_TRIGGER}",
        ):
            response = await browser.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy
            assert XSS not in response.text, path
        detail = await browser.get(f"/ui/subscriptions/{subscription_id}")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
        edit = await browser.get("/ui/subscriptions/new")
        examples = re.search(
            r'<script type="application/json" id="trigger-examples">(.*?)</script>', edit.text, re.S
        )
        assert examples and "<" not in examples.group(1), (
            "the JSON data block cannot close its script element"
        )


async def test_form_errors_name_the_field_and_keep_the_values(running_api: RunningApi) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        response = await browser.post(
            "/ui/subscriptions/new",
            data={
                **_new_subscription_form("ftp://example.com", name="mine", filter="$["),
                "csrf_token": token,
            },
        )
        assert response.status_code == 200
        assert re.search(r'id="error-filter">is not a valid JSONPath expression', response.text)
        response = await browser.post(
            "/ui/subscriptions/new",
            data={**_new_subscription_form("ftp://example.com", name="mine"), "csrf_token": token},
        )
        assert re.search(r'id="error-httpConfig.url">must be an absolute http or https URL', response.text)
        assert 'value="mine"' in response.text and 'value="ftp://example.com"' in response.text
        assert await running_api.state.store.list_subscriptions() == []


def test_form_offers_every_destination_type_of_the_api() -> None:
    sections = destination_sections()
    assert [section.shown_when.value for section in sections if section.shown_when] == list(DESTINATIONS)
    for section in sections:
        assert section.name in config_fields()
        assert all(
            control.name.startswith(f"{section.name}.")
            for control in section.walk()
            if control is not section
        )
    http = next(section for section in sections if section.name == "httpConfig")
    names = {control.name: control for control in http.walk()}
    assert names["httpConfig.basicAuthConfig.password"].kind == "password"
    assert names["httpConfig.basicAuthConfig"].shown_when is not None
    assert names["httpConfig.httpDispatchMode"].request_response_only


async def test_subscription_list_shows_every_destination_s_target(
    running_api: RunningApi, api: httpx.AsyncClient
) -> None:
    configs = {
        "HTTP": {"url": "https://hooks.example.com/identity"},
        "EVENTBRIDGE": {"awsAccount": "123456789012", "awsRegion": "eu-west-1", "eventBusName": "idn"},
        "SQS": {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/idn", "awsRegion": "eu-west-1"},
        "RABBITMQ": {
            "url": "amqp://feeder:hunter2@rabbit.example.com:5672/idn",
            "exchange": "identity",
            "routingKey": "created",
        },
    }
    assert set(configs) == set(DESTINATIONS), "one configuration for each destination type of the API"
    for type_name, config in configs.items():
        await create_destination_subscription(api, type_name=type_name, config=config)
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        listing = (await browser.get("/ui/subscriptions")).text
    for target in (
        "https://hooks.example.com/identity",
        "event bus idn in 123456789012 (eu-west-1)",
        "https://sqs.eu-west-1.amazonaws.com/123456789012/idn",
        "exchange identity, routing key created, at amqp://feeder@rabbit.example.com:5672/idn",
    ):
        assert f'data-label="Destination">{target}</td>' in listing, target
    assert "hunter2" not in listing, "the broker password is a secret"


def test_form_pairs_become_the_api_body() -> None:
    pairs: list[tuple[str, Any]] = [
        ("csrf_token", "t"),
        ("triggerId", FNF_TRIGGER),
        ("name", " hook "),
        ("description", ""),
        ("type", "HTTP"),
        ("httpConfig.url", "https://example.com/hook"),
        ("httpConfig.httpDispatchMode", "ASYNC"),
        ("httpConfig.httpAuthenticationType", "BASIC_AUTH"),
        ("httpConfig.basicAuthConfig.userName", "me"),
        ("httpConfig.basicAuthConfig.password", "pw"),
        ("httpConfig.bearerTokenAuthConfig.bearerToken", "left over"),
        ("eventBridgeConfig.awsAccount", "123456789012"),
        ("enabled", "false"),
        ("enabled", "true"),
    ]
    submitted = read_subscription_form(pairs, request_response=False, ignore=("csrf_token",))
    assert submitted.body == {
        "triggerId": FNF_TRIGGER,
        "name": "hook",
        "type": "HTTP",
        "httpConfig": {
            "url": "https://example.com/hook",
            "httpAuthenticationType": "BASIC_AUTH",
            "basicAuthConfig": {"userName": "me", "password": "pw"},
        },
        "enabled": True,
    }
    rr = read_subscription_form(pairs, request_response=True, ignore=("csrf_token",))
    assert rr.body["httpConfig"]["httpDispatchMode"] == "ASYNC"
    values = form_values({"name": "n", "enabled": False, "httpConfig": {"url": "u", "basicAuthConfig": None}})
    assert values == {"name": "n", "enabled": "false", "httpConfig.url": "u"}


async def test_invocation_lists_page_through_visibility_with_filters_in_the_query(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    subscription_id = await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    started = [item for _ in range(3) for item in await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)]
    for item in started:
        await finished(api, item["id"])
    context = await running_api.state.invocation_context()

    async def listed_completed() -> list[str]:
        page = await reads.list_invocations(
            context=context, subscription_id=subscription_id, status=InvocationStatus.COMPLETED, page_size=10
        )
        return [item.id for item in page.items] if len(page.items) == 3 else []

    ids = await wait_until(listed_completed)
    assert set(ids) == {item["id"] for item in started}
    first = await reads.list_invocations(context=context, subscription_id=subscription_id, page_size=2)
    assert len(first.items) == 2 and first.next_page_token
    second = await reads.list_invocations(
        context=context, subscription_id=subscription_id, page_size=2, page_token=first.next_page_token
    )
    assert [item.id for item in first.items + second.items] == ids, "newest first, across pages"
    assert second.next_page_token is None
    pending = await reads.list_invocations(
        context=context, subscription_id=subscription_id, status=InvocationStatus.PENDING
    )
    assert pending.items == []
    assert (
        await reads.count_invocations(
            context=context, query=reads.invocation_query(subscription_id=subscription_id)
        )
        == 3
    )

    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        page = await browser.get(
            "/ui/invocations", params={"subscriptionId": subscription_id, "status": "COMPLETED"}
        )
        assert page.status_code == 200 and all(item in page.text for item in ids)
        bad = await browser.get("/ui/invocations", params={"status": "DONE"})
        assert bad.status_code == 400 and "status" in bad.text
        forged_page = await browser.get("/ui/invocations", params={"page": "bm90IGEgdG9rZW4="})
        assert forged_page.status_code == 400 and "page" in forged_page.text


async def test_invocation_list_is_newest_created_first_with_one_in_flight(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    """Visibility lists running workflows first; the list puts an older invocation still awaiting its
    callback after the newer ones that already finished."""
    waiting = await create_subscription(
        api, url=subscriber.url(subscriber.new_path()), trigger_id=RR_TRIGGER, mode="ASYNC"
    )
    quick = await create_subscription(api, url=subscriber.url(subscriber.new_path()))

    in_flight = await send_test_event(api, trigger_id=RR_TRIGGER, subscription_id=waiting)
    newer = [await send_test_event(api, trigger_id=FNF_TRIGGER, subscription_id=quick) for _ in range(2)]
    for invocation_id in newer:
        await finished(api, invocation_id)
    assert (await api.get(f"/trigger-invocations/v1/{in_flight}")).json()["status"] == "AWAITING_RESPONSE"
    context = await running_api.state.invocation_context()

    async def both_closed_in_visibility() -> bool:
        page = await reads.list_invocations(
            context=context, subscription_id=quick, status=InvocationStatus.COMPLETED
        )
        return len(page.items) == 2

    await wait_until(both_closed_in_visibility)
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        text = (await browser.get("/ui/invocations")).text
    found = [text.find(f"/ui/invocations/{item}") for item in [*reversed(newer), in_flight]]
    assert min(found) >= 0 and found == sorted(found), "the in-flight invocation after the newer two"


async def test_invocation_page_shows_attempts_and_redelivers(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    path = subscriber.new_path(Reply(status=400, body=b"not today"))
    await create_subscription(api, url=subscriber.url(path))
    [original] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, original["id"]))["status"] == "FAILED"

    reader = await _logged_in(running_api, await _client(running_api, INVOCATION_STATUS_READ))
    async with contextlib.aclosing(reader):
        page = await reader.get(f"/ui/invocations/{original['id']}")
        assert page.status_code == 200 and 'id="attempts"' in page.text
        assert "not today" in page.text and 'data-label="HTTP status">400</td>' in page.text, (
            "the attempt's status and response"
        )
        assert "/redeliver" not in page.text, "a read-only client sees no redeliver button"
        forged = await reader.post(
            f"/ui/invocations/{original['id']}/redeliver", data={"csrf_token": _csrf(page.text)}
        )
        assert forged.status_code == 403

    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        page = await browser.get(f"/ui/invocations/{original['id']}")
        redelivered = await browser.post(
            f"/ui/invocations/{original['id']}/redeliver", data={"csrf_token": _csrf(page.text)}
        )
        assert redelivered.status_code == 303, redelivered.text
        new_id = redelivered.headers["location"].rsplit("/", 1)[-1]
        assert new_id != original["id"]
        detail = await finished(api, new_id)
        assert (detail["status"], detail["redeliveryOf"]) == ("COMPLETED", original["id"]), (
            "the subscriber recovered"
        )
        new_page = await browser.get(f"/ui/invocations/{new_id}")
        assert f'href="/ui/invocations/{original["id"]}"' in new_page.text, "links back to the original"
    assert len(subscriber.received(path)) == 2


async def test_the_form_sets_and_keeps_the_rate_limit(
    running_api: RunningApi, api: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    url = subscriber.url(subscriber.new_path())
    subscription_id = await create_subscription(api, url=url, maxDeliveriesPerSecond=0.5)
    edit = f"/ui/subscriptions/{subscription_id}/edit"
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        page = await browser.get(edit)
        assert re.search(r'name="maxDeliveriesPerSecond"[^>]* value="0.5"', page.text)
        form = {**_new_subscription_form(url, name="renamed"), "csrf_token": _csrf(page.text)}
        refused = await browser.post(edit, data={**form, "maxDeliveriesPerSecond": "fast"})
        assert re.search(r'id="error-maxDeliveriesPerSecond">[^<]*valid number', refused.text)
        saved = await browser.post(edit, data={**form, "maxDeliveriesPerSecond": "0.5"})
        assert saved.status_code == 303, saved.text
        assert "at most 0.5" in (await browser.get(f"/ui/subscriptions/{subscription_id}")).text
        assert (await api.get(f"/trigger-subscriptions/v1/{subscription_id}")).json()[
            "maxDeliveriesPerSecond"
        ] == 0.5
        cleared = await browser.post(edit, data={**form, "maxDeliveriesPerSecond": ""})
        assert cleared.status_code == 303, cleared.text
    shown = (await api.get(f"/trigger-subscriptions/v1/{subscription_id}")).json()
    assert (shown["name"], shown["maxDeliveriesPerSecond"]) == ("renamed", None), "empty: unlimited"
