"""The subscriptions API over real HTTP, against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from event_triggers.config import Settings
from event_triggers.subscriptions import parse_response_deadline
from tests.conftest import RunningApi

FNF_TRIGGER = "idn:identity-created"
RR_TRIGGER = "idn:access-request-pre-approval"


@pytest.fixture
async def api(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Every test here runs once on SQLite and once on PostgreSQL."""
    async with (
        RunningApi(make_settings(database_url=database_url)) as running,
        await running.client() as client,
    ):
        yield client


def http_subscription(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Identity feed",
        "description": "new identities to the HR bridge",
        "triggerId": FNF_TRIGGER,
        "type": "HTTP",
        "httpConfig": {"url": "https://hooks.example.com/identity", "httpDispatchMode": "SYNC"},
        "enabled": True,
    }
    body.update(overrides)
    return body


def error_text(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) >= {"detailCode", "trackingId", "messages"}, body
    assert body["messages"][0]["locale"] == "en-US"
    return str(body["messages"][0]["text"])


async def test_create_get_list_delete(api: httpx.AsyncClient) -> None:
    created = await api.post("/trigger-subscriptions/v1", json=http_subscription())
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription.pop("signingSecret").startswith("whsec_"), "shown once, on create"
    assert subscription["triggerName"] == "Identity Created"
    assert subscription["responseDeadline"] == "PT1H"
    assert subscription["httpConfig"]["httpAuthenticationType"] == "NO_AUTH"

    fetched = await api.get(f"/trigger-subscriptions/v1/{subscription['id']}")
    assert fetched.json() == subscription

    listed = await api.get("/trigger-subscriptions/v1", params={"count": "true"})
    assert listed.json() == [subscription]
    assert listed.headers["X-Total-Count"] == "1"

    assert (await api.delete(f"/trigger-subscriptions/v1/{subscription['id']}")).status_code == 204
    missing = await api.get(f"/trigger-subscriptions/v1/{subscription['id']}")
    assert missing.status_code == 404
    assert subscription["id"] in error_text(missing)
    assert (await api.delete(f"/trigger-subscriptions/v1/{subscription['id']}")).status_code == 404


async def test_secrets_are_write_only_and_kept_on_update(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = http_subscription(
        httpConfig={
            "url": "https://hooks.example.com/x",
            "httpDispatchMode": "SYNC",
            "httpAuthenticationType": "BASIC_AUTH",
            "basicAuthConfig": {"userName": "aladdin", "password": "open-sesame-4711"},
        }
    )
    created = await api.post("/trigger-subscriptions/v1", json=body)
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["httpConfig"]["basicAuthConfig"] == {"userName": "aladdin", "password": None}

    # PUT without the password keeps it: the response still hides it, and a later PATCH validates fine.
    replacement = dict(subscription, name="renamed")
    replaced = await api.put(f"/trigger-subscriptions/v1/{subscription['id']}", json=replacement)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "renamed"
    assert replaced.json()["httpConfig"]["basicAuthConfig"]["password"] is None

    patched = await api.patch(
        f"/trigger-subscriptions/v1/{subscription['id']}",
        content=b'[{"op": "replace", "path": "/enabled", "value": false}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    for response in (created, replaced, patched, await api.get("/trigger-subscriptions/v1")):
        assert "open-sesame-4711" not in response.text
    assert "open-sesame-4711" not in caplog.text


async def test_bearer_token_requires_token(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/trigger-subscriptions/v1",
        json=http_subscription(
            httpConfig={
                "url": "https://hooks.example.com/x",
                "httpDispatchMode": "SYNC",
                "httpAuthenticationType": "BEARER_TOKEN",
            }
        ),
    )
    assert response.status_code == 400
    assert "httpConfig.bearerTokenAuthConfig.bearerToken" in error_text(response)


async def test_null_authentication_type_means_no_auth(api: httpx.AsyncClient) -> None:
    """SailPoint's PowerShell SDK (``Initialize-HttpConfig``, then ``New-SubscriptionV1``) strips null
    members from the body's top level only: an ``httpConfig`` built without authentication arrives with
    ``httpAuthenticationType``, ``basicAuthConfig`` and ``bearerTokenAuthConfig`` all null. The spec's
    default for the type is NO_AUTH."""
    powershell_config = {
        "url": "https://hooks.example.com/identity",
        "httpDispatchMode": "SYNC",
        "httpAuthenticationType": None,
        "basicAuthConfig": None,
        "bearerTokenAuthConfig": None,
    }
    created = await api.post(
        "/trigger-subscriptions/v1", json=http_subscription(httpConfig=powershell_config)
    )
    assert created.status_code == 201, created.text
    assert created.json()["httpConfig"]["httpAuthenticationType"] == "NO_AUTH"
    url = f"/trigger-subscriptions/v1/{created.json()['id']}"

    with_password = {
        **powershell_config,
        "httpAuthenticationType": "BASIC_AUTH",
        "basicAuthConfig": {"userName": "u", "password": "open-sesame-4711"},
    }
    assert (await api.put(url, json=http_subscription(httpConfig=with_password))).status_code == 200
    replaced = await api.put(url, json=http_subscription(httpConfig=powershell_config))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["httpConfig"]["httpAuthenticationType"] == "NO_AUTH"
    assert replaced.json()["httpConfig"]["basicAuthConfig"] is None
    patched = await api.patch(
        url,
        json=[{"op": "replace", "path": "/httpConfig", "value": powershell_config}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["httpConfig"]["httpAuthenticationType"] == "NO_AUTH"
    assert (await api.get(url)).json() == patched.json()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"triggerId": "idn:no-such-trigger"}, "triggerId"),
        ({"httpConfig": None}, "httpConfig"),
        ({"httpConfig": {"url": "ftp://example.com", "httpDispatchMode": "SYNC"}}, "httpConfig.url"),
        ({"httpConfig": {"url": "/relative", "httpDispatchMode": "SYNC"}}, "httpConfig.url"),
        (
            {"httpConfig": {"url": "https://x.example.com", "httpDispatchMode": "SOMETIMES"}},
            "httpConfig.httpDispatchMode",
        ),
        (
            {
                "httpConfig": {
                    "url": "https://x.example.com",
                    "httpDispatchMode": "SYNC",
                    "httpAuthenticationType": "BASIC_AUTH",
                    "basicAuthConfig": {"userName": "u"},
                }
            },
            "httpConfig.basicAuthConfig.password",
        ),
        (
            {"httpConfig": {"url": "http://169.254.169.254/latest", "httpDispatchMode": "SYNC"}},
            "httpConfig.url",
        ),
        ({"httpConfig": {"url": "http://10.1.2.3/hook", "httpDispatchMode": "SYNC"}}, "httpConfig.url"),
        (
            {"httpConfig": {"url": "http://[::ffff:192.168.0.1]/", "httpDispatchMode": "SYNC"}},
            "httpConfig.url",
        ),
        ({"responseDeadline": "one hour"}, "responseDeadline"),
        ({"responseDeadline": "P8D"}, "responseDeadline"),
        ({"filter": "$[?("}, "filter"),
        ({"type": "EVENTBRIDGE", "httpConfig": None}, "eventBridgeConfig"),
        (
            {
                "type": "EVENTBRIDGE",
                "httpConfig": None,
                "eventBridgeConfig": {"awsAccount": "123", "awsRegion": "us-east-1"},
            },
            "eventBridgeConfig.awsAccount",
        ),
        (
            {
                "type": "EVENTBRIDGE",
                "httpConfig": None,
                "eventBridgeConfig": {"awsAccount": "123456789012", "awsRegion": "mars-north-1"},
            },
            "eventBridgeConfig.awsRegion",
        ),
        ({"name": None}, "name"),
        ({"enabled": "maybe"}, "enabled"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(
    api: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await api.post("/trigger-subscriptions/v1", json=http_subscription(**overrides))
    assert response.status_code == 400, response.text
    assert error_text(response).startswith(f"{field}:")
    assert (await api.get("/trigger-subscriptions/v1")).json() == []


async def test_malformed_json_and_bad_query_values_get_the_error_body(api: httpx.AsyncClient) -> None:
    malformed = await api.post(
        "/trigger-subscriptions/v1", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert "malformed JSON" in error_text(malformed)
    for params in ({"limit": "abc"}, {"limit": "251"}, {"offset": "-1"}, {"filters": 'name eq "x"'}):
        response = await api.get("/trigger-subscriptions/v1", params=params)
        assert response.status_code == 400, (params, response.text)
        assert error_text(response).split(":")[0] in params


async def test_at_most_50_subscriptions_per_fire_and_forget_trigger(api: httpx.AsyncClient) -> None:
    for number in range(50):
        created = await api.post("/trigger-subscriptions/v1", json=http_subscription(name=f"feed {number}"))
        assert created.status_code == 201, created.text
    over = await api.post("/trigger-subscriptions/v1", json=http_subscription(name="feed 51"))
    assert over.status_code == 409
    assert FNF_TRIGGER in error_text(over) and "50" in error_text(over)
    other_trigger = await api.post(
        "/trigger-subscriptions/v1", json=http_subscription(triggerId="idn:identity-deleted")
    )
    assert other_trigger.status_code == 201, "the limit is per trigger"


async def test_limits_per_trigger_type(api: httpx.AsyncClient) -> None:
    rr = http_subscription(
        triggerId=RR_TRIGGER, httpConfig={"url": "https://a.example.com", "httpDispatchMode": "ASYNC"}
    )
    assert (await api.post("/trigger-subscriptions/v1", json=rr)).status_code == 201
    second = await api.post("/trigger-subscriptions/v1", json=rr)
    assert second.status_code == 409
    assert RR_TRIGGER in error_text(second)


async def test_put_and_patch_rules(api: httpx.AsyncClient) -> None:
    subscription = (await api.post("/trigger-subscriptions/v1", json=http_subscription())).json()
    url = f"/trigger-subscriptions/v1/{subscription['id']}"

    changed_trigger = await api.put(url, json=dict(subscription, triggerId="idn:identity-deleted"))
    assert changed_trigger.status_code == 400
    assert error_text(changed_trigger).startswith("triggerId:")
    changed_id = await api.put(url, json=dict(subscription, id="another"))
    assert error_text(changed_id).startswith("id:")

    patch_headers = {"Content-Type": "application/json-patch+json"}
    bad_field = await api.patch(
        url, json=[{"op": "replace", "path": "/triggerId", "value": "x"}], headers=patch_headers
    )
    assert bad_field.status_code == 400
    assert "triggerId" in error_text(bad_field)
    invalid_result = await api.patch(
        url, json=[{"op": "replace", "path": "/httpConfig/url", "value": "not a url"}], headers=patch_headers
    )
    assert invalid_result.status_code == 400
    assert error_text(invalid_result).startswith("httpConfig.url:")
    patched = await api.patch(
        url,
        json=[
            {"op": "replace", "path": "/name", "value": "patched"},
            {"op": "add", "path": "/filter", "value": "$.identity"},
        ],
        headers=patch_headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["filter"]) == ("patched", "$.identity")
    assert (await api.get(url)).json() == patched.json()
    assert (await api.put("/trigger-subscriptions/v1/nope", json=subscription)).status_code == 404
    assert (
        await api.patch("/trigger-subscriptions/v1/nope", json=[], headers=patch_headers)
    ).status_code == 404


async def test_list_filters_and_sorters(api: httpx.AsyncClient) -> None:
    ids = {}
    for trigger in ("idn:identity-deleted", "idn:identity-created", "idn:post-provisioning"):
        created = await api.post("/trigger-subscriptions/v1", json=http_subscription(triggerId=trigger))
        ids[trigger] = created.json()["id"]
    by_trigger = await api.get(
        "/trigger-subscriptions/v1", params={"filters": 'triggerId eq "idn:post-provisioning"'}
    )
    assert [item["id"] for item in by_trigger.json()] == [ids["idn:post-provisioning"]]
    by_id = await api.get(
        "/trigger-subscriptions/v1", params={"filters": f'id eq "{ids["idn:identity-created"]}"'}
    )
    assert [item["triggerId"] for item in by_id.json()] == ["idn:identity-created"]
    sorted_desc = await api.get("/trigger-subscriptions/v1", params={"sorters": "-triggerId"})
    assert [item["triggerId"] for item in sorted_desc.json()] == [
        "idn:post-provisioning",
        "idn:identity-deleted",
        "idn:identity-created",
    ]
    paged = await api.get(
        "/trigger-subscriptions/v1",
        params={"sorters": "triggerName", "limit": 1, "offset": 1, "count": "true"},
    )
    assert [item["triggerName"] for item in paged.json()] == ["Identity Deleted"]
    assert paged.headers["X-Total-Count"] == "3"
    by_type = await api.get("/trigger-subscriptions/v1", params={"filters": 'type eq "EVENTBRIDGE"'})
    assert by_type.json() == []


async def test_validate_filter(api: httpx.AsyncClient) -> None:
    url = "/trigger-subscriptions/v1/validate-filter"
    body = {"input": {"identity": {"name": "john.doe"}}, "filter": '$[?($.identity.name == "john.doe")]'}
    assert (await api.post(url, json=body)).json() == {
        "isValid": True,
        "isValidJSONPath": True,
        "isPathExist": True,
    }
    missing = await api.post(url, json={"input": {"approved": True}, "filter": "$.nonexistent"})
    assert missing.json() == {"isValid": False, "isValidJSONPath": True, "isPathExist": False}
    invalid = await api.post(url, json={"input": {}, "filter": "$[?("})
    assert invalid.status_code == 200
    assert invalid.json() == {
        "isValid": False,
        "isValidJSONPath": False,
        "isPathExist": False,
        "error": "unexpected end of expression at position 4",
    }
    unknown_function = await api.post(url, json={"input": {}, "filter": "$.roles.count()"})
    assert unknown_function.json()["error"].startswith("unknown function count(), expected one of min(),")
    jayway = await api.post(
        url, json={"input": {"roles": ["admin", "user"]}, "filter": "$[?(@.roles anyof ['admin'])]"}
    )
    assert jayway.json() == {"isValid": True, "isValidJSONPath": True, "isPathExist": True}
    no_filter = await api.post(url, json={"input": {}})
    assert no_filter.status_code == 400
    assert error_text(no_filter).startswith("filter:")


@pytest.mark.parametrize(("text", "hours"), [("PT1H", 1), ("pt1h", 1), ("P1dT2h", 26), ("P7D", 168)])
def test_response_deadline_letters_in_either_case(text: str, hours: int) -> None:
    """As Java's Duration.parse reads them (SailPoint's clients may send pt1h)."""
    assert parse_response_deadline(text) == timedelta(hours=hours)
