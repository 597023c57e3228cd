"""Values a client can send that nothing could store or deliver: each is a 400 naming the field, and
changes nothing (they used to answer 500 after storing the row, or fail every delivery forever)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import httpx
import pytest

from event_triggers.destinations.http import unsendable_request
from event_triggers.logs import UrlCredentialsFilter
from tests.conftest import RunningApi
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, error_text
from tests.subscriber import Subscriber
from tests.test_ui import _client, _csrf, _logged_in, _new_subscription_form

SUBSCRIPTIONS = "/trigger-subscriptions/v1"
JSON = {"Content-Type": "application/json"}
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
SURROGATE = "contains a lone surrogate, not valid Unicode"
NOT_FINITE = "is not a finite number"
TOKEN = "tok_LEAKME_123"


def _subscription_json(name: bytes = b'"Identity feed"') -> bytes:
    """A create body as raw JSON: a client library would not encode the values under test."""
    return (
        b'{"name": ' + name + b', "triggerId": "' + FNF_TRIGGER.encode() + b'", "type": "HTTP", '
        b'"httpConfig": {"url": "https://hooks.example.com/identity"}}'
    )


def _refused(response: httpx.Response, field: str, reason: str) -> bool:
    return response.status_code == 400 and error_text(response) == f"{field}: {reason}"


async def test_a_lone_surrogate_or_a_non_finite_number_in_a_subscription_is_refused(
    api: httpx.AsyncClient,
) -> None:
    for name in (rb'"\ud800"', b'"\xed\xa0\x80"'):  # escaped, and encoded as UTF-8 bytes
        created = await api.post(SUBSCRIPTIONS, content=_subscription_json(name), headers=JSON)
        assert _refused(created, "name", SURROGATE), created.text
    assert (await api.get(SUBSCRIPTIONS)).json() == [], "nothing was stored"

    stored = (await api.post(SUBSCRIPTIONS, content=_subscription_json(), headers=JSON)).json()
    url = f"{SUBSCRIPTIONS}/{stored['id']}"
    stored.pop("signingSecret")
    patched = await api.patch(
        url, content=rb'[{"op": "replace", "path": "/description", "value": "a\udfffb"}]', headers=PATCH_JSON
    )
    assert _refused(patched, "body[0].value", SURROGATE), patched.text
    rate = await api.patch(
        url, content=b'[{"op": "add", "path": "/maxDeliveriesPerSecond", "value": NaN}]', headers=PATCH_JSON
    )
    assert _refused(rate, "body[0].value", NOT_FINITE), rate.text
    assert (await api.get(url)).json() == stored, "a refused change changes nothing"
    assert (await api.get(SUBSCRIPTIONS)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (rb'"input": {"identityId": "\ud800"}, "contentJson": {}', "input.identityId", SURROGATE),
        (rb'"input": {"a": [1, {"b": "x\uDC00"}]}', "input.a[1].b", SURROGATE),
        (rb'"input": {"\ud83d": 1}', "input", "a member name " + SURROGATE),
        (rb'"input": {}, "contentJson": {"note": "\ud800"}', "contentJson.note", SURROGATE),
        (rb'"input": {"score": 1e400}', "input.score", NOT_FINITE),
        (rb'"input": {"score": NaN}', "input.score", NOT_FINITE),
        (rb'"input": {}, "contentJson": {"n": -Infinity}', "contentJson.n", NOT_FINITE),
    ],
    ids=["escaped", "nested", "member-name", "content-json", "overflow", "nan", "infinity"],
)
async def test_a_lone_surrogate_or_a_non_finite_number_in_an_event_is_refused(
    api: httpx.AsyncClient, subscriber: Subscriber, body: bytes, field: str, reason: str
) -> None:
    subscription_id = await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    document = b'{"triggerId": "' + FNF_TRIGGER.encode() + b'", ' + body + b"}"
    for path in ("/trigger-invocations/v1/start", "/trigger-invocations/v1/test"):
        started = await api.post(path, content=document, headers=JSON)
        assert _refused(started, field, reason), (path, started.text)
    invocations = (await api.get("/trigger-invocations/v1/status")).json()
    assert not [item for item in invocations if item["subscriptionId"] == subscription_id], "none started"


async def test_a_valid_surrogate_pair_passes(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    created = await api.post(SUBSCRIPTIONS, content=_subscription_json(rb'"feed \ud83d\ude00"'), headers=JSON)
    assert created.status_code == 201 and created.json()["name"] == "feed \U0001f600", created.text


async def test_the_ui_filter_check_refuses_a_lone_surrogate(running_api: RunningApi) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        checked = await browser.post(
            "/ui/validate-filter",
            content=rb'{"filter": "$.a", "input": {"a": "\ud800"}}',
            headers={**JSON, "X-CSRF-Token": token},
        )
        assert _refused(checked, "input.a", SURROGATE), checked.text


BEARER = "BEARER_TOKEN"
BASIC = "BASIC_AUTH"


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"bearerTokenAuthConfig": {"bearerToken": f"{TOKEN}\n"}}, "bearerTokenAuthConfig.bearerToken"),
        ({"bearerTokenAuthConfig": {"bearerToken": f"{TOKEN} "}}, "bearerTokenAuthConfig.bearerToken"),
        (
            {"bearerTokenAuthConfig": {"bearerToken": f"{TOKEN}\r\nX-Injected: 1"}},
            "bearerTokenAuthConfig.bearerToken",
        ),
        ({"bearerTokenAuthConfig": {"bearerToken": f"{TOKEN}é"}}, "bearerTokenAuthConfig.bearerToken"),
        ({"basicAuthConfig": {"userName": "a:b", "password": TOKEN}}, "basicAuthConfig.userName"),
        ({"basicAuthConfig": {"userName": "u\r\n", "password": TOKEN}}, "basicAuthConfig.userName"),
        ({"basicAuthConfig": {"userName": "u", "password": f"{TOKEN}\n"}}, "basicAuthConfig.password"),
    ],
    ids=[
        "newline",
        "trailing-space",
        "header-injection",
        "non-ascii",
        "colon-user",
        "control-user",
        "password",
    ],
)
async def test_a_credential_no_header_can_carry_is_refused_on_post_put_and_patch(
    api: httpx.AsyncClient, auth: dict[str, Any], field: str
) -> None:
    [(holder, credentials)] = auth.items()
    config = {
        "url": "https://hooks.example.com/identity",
        "httpAuthenticationType": BEARER if holder.startswith("bearer") else BASIC,
        holder: credentials,
    }
    body = {"name": "feed", "triggerId": FNF_TRIGGER, "type": "HTTP"}

    def refused(response: httpx.Response) -> bool:
        return (
            response.status_code == 400
            and error_text(response).startswith(f"httpConfig.{field}: ")
            and TOKEN not in response.text
        )

    created = await api.post(SUBSCRIPTIONS, json={**body, "httpConfig": config})
    assert refused(created), created.text
    assert (await api.get(SUBSCRIPTIONS)).json() == [], "nothing was stored"

    stored = (await api.post(SUBSCRIPTIONS, json={**body, "httpConfig": {"url": config["url"]}})).json()
    stored.pop("signingSecret")
    url = f"{SUBSCRIPTIONS}/{stored['id']}"
    replaced = await api.put(url, json={**stored, "httpConfig": config})
    assert refused(replaced), replaced.text
    patched = await api.patch(
        url, json=[{"op": "replace", "path": "/httpConfig", "value": config}], headers=PATCH_JSON
    )
    assert refused(patched), patched.text
    assert (await api.get(url)).json() == stored, "a refused change changes nothing"


def test_a_request_the_client_cannot_send_fails_for_good_without_quoting_a_header() -> None:
    for error in (
        httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}\\n'"),
        httpx.InvalidURL(f"Invalid port in http://user:{TOKEN}@host:99999/"),
        UnicodeError(f"encoding with 'idna' codec failed: {TOKEN}"),
    ):
        failure = unsendable_request(error)
        assert TOKEN not in str(failure) and type(error).__name__ in str(failure)
        assert failure.non_retryable, "retrying cannot heal it"


def test_urls_in_httpx_log_lines_lose_their_credentials() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: %s %s",
        ("POST", httpx.URL(f"http://u:{TOKEN}@h/x")),
        None,
    )
    assert UrlCredentialsFilter().filter(record)
    assert record.getMessage() == "HTTP Request: POST http://h/x"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1", "is not a valid URL"),
        ("http://a:b@[zz]/", "is not a valid URL"),
        ("http://hooks.example.com:99999/", "is not a valid URL: Port out of range 0-65535"),
        ("http://hooks.example.com:-1/", "is not a valid URL"),
        ("http://hooks.example.com:0/", "port must be between 1 and 65535"),
        ("http://a..b/", "host 'a..b' is not a valid hostname: it has an empty label"),
        (
            "http://xn--/",
            "host 'xn--' is not a valid hostname: label 'xn--' is not a valid internationalized",
        ),
        (
            "http://" + "a" * 70 + ".com/",
            f"host '{'a' * 70}.com' is not a valid hostname: a label has 70 characters, over DNS's limit",
        ),
        ("http://999.1.1.1/", "is not a valid URL"),
        (f"http://user:{TOKEN}@hooks.example.com/", "must not carry credentials"),
    ],
    ids=[
        "open-bracket",
        "bad-ipv6",
        "port-high",
        "port-negative",
        "port-zero",
        "empty-label",
        "bare-xn",
        "long-label",
        "bad-ipv4",
        "userinfo",
    ],
)
async def test_a_url_no_delivery_could_send_is_refused_on_post_put_and_patch(
    api: httpx.AsyncClient, url: str, reason: str
) -> None:
    body = {"name": "feed", "triggerId": FNF_TRIGGER, "type": "HTTP"}

    def refused(response: httpx.Response) -> bool:
        return response.status_code == 400 and error_text(response).startswith(f"httpConfig.url: {reason}")

    created = await api.post(SUBSCRIPTIONS, json={**body, "httpConfig": {"url": url}})
    assert refused(created), created.text
    assert (await api.get(SUBSCRIPTIONS)).json() == [], "nothing was stored"
    stored = (
        await api.post(SUBSCRIPTIONS, json={**body, "httpConfig": {"url": "https://hooks.example.com/"}})
    ).json()
    stored.pop("signingSecret")
    subscription_url = f"{SUBSCRIPTIONS}/{stored['id']}"
    replaced = await api.put(subscription_url, json={**stored, "httpConfig": {"url": url}})
    assert refused(replaced), replaced.text
    patched = await api.patch(
        subscription_url,
        json=[{"op": "replace", "path": "/httpConfig/url", "value": url}],
        headers=PATCH_JSON,
    )
    assert refused(patched), patched.text
    assert (await api.get(subscription_url)).json() == stored, "a refused change changes nothing"


async def test_internationalized_and_underscored_hostnames_pass(api: httpx.AsyncClient) -> None:
    for url in (
        "https://bücher.example/hook",
        "https://xn--bcher-kva.example/",
        "http://my_service.internal:8080/",
    ):
        created = await api.post(
            SUBSCRIPTIONS,
            json={"name": "f", "triggerId": FNF_TRIGGER, "type": "HTTP", "httpConfig": {"url": url}},
        )
        assert created.status_code == 201, created.text


async def test_aws_destinations_refuse_a_malformed_queue_url_or_role_arn(api: httpx.AsyncClient) -> None:
    base = {"name": "aws", "triggerId": FNF_TRIGGER}
    queue = await api.post(
        SUBSCRIPTIONS,
        json={**base, "type": "SQS", "sqsConfig": {"queueUrl": "http://[::1", "awsRegion": "eu-west-1"}},
    )
    assert queue.status_code == 400 and error_text(queue).startswith("sqsConfig.queueUrl: is not a valid URL")
    for role_arn in ("arn:aws:iam::111111111111:role/x\x00", "role/publisher", "arn:aws:iam::1:role/x"):
        bus = await api.post(
            SUBSCRIPTIONS,
            json={
                **base,
                "type": "EVENTBRIDGE",
                "eventBridgeConfig": {
                    "awsAccount": "111111111111",
                    "awsRegion": "eu-west-1",
                    "roleArn": role_arn,
                },
            },
        )
        assert bus.status_code == 400 and error_text(bus).startswith(
            "eventBridgeConfig.roleArn: must be an IAM"
        ), bus.text
    assert (await api.get(SUBSCRIPTIONS)).json() == [], "nothing was stored"


async def test_the_ui_form_shows_a_malformed_url_next_to_its_field(running_api: RunningApi) -> None:
    browser = await _logged_in(running_api, await _client(running_api))
    async with contextlib.aclosing(browser):
        token = _csrf((await browser.get("/ui/subscriptions/new")).text)
        response = await browser.post(
            "/ui/subscriptions/new", data={**_new_subscription_form("http://[::1"), "csrf_token": token}
        )
        assert response.status_code == 200, response.text
        assert 'id="error-httpConfig.url">is not a valid URL' in response.text
        assert await running_api.state.store.list_subscriptions() == []


async def test_the_delivery_input_is_unchanged(api: httpx.AsyncClient, subscriber: Subscriber) -> None:
    """The check reads the document FastAPI parsed: a valid event still starts."""
    await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    started = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": FNF_INPUT}
    )
    assert started.status_code == 200, started.text
