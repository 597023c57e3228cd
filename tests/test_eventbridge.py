"""EventBridge delivery: the entry, the size limit, AWS errors, and the whole product on a real moto server.

The moto server forwards each event a rule matches to an SQS queue; the tests read the exact envelope
back from that queue, as a subscriber's Lambda or queue consumer would see it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from event_triggers.config import Settings
from event_triggers.destinations.aws import CREDENTIALS_REFRESH_MARGIN, AwsClients, CachedClient, aws_failure
from event_triggers.destinations.eventbridge import (
    EVENTBRIDGE,
    MAX_ENTRY_BYTES,
    EventBridgeConfig,
    check_entry_size,
    event_source,
    eventbridge_entry_size,
    put_events_failure,
)
from event_triggers.errors import PayloadTooLarge
from event_triggers.invocation_models import DeliveryRequest
from event_triggers.models import HttpDispatchMode, TriggerType
from tests.conftest import RunningApi, delivery_resources, free_port
from tests.invocation_fixtures import (
    FNF_INPUT,
    FNF_TRIGGER,
    RR_INPUT,
    RR_OUTPUT,
    RR_TRIGGER,
    create_destination_subscription,
    error_text,
    start,
)
from tests.moto_server import (  # noqa: F401 (fixtures used by name)
    DEFAULT_ACCOUNT,
    REGION,
    EventBridgeInbox,
    assumed_role_session,
    aws,
    moto_endpoint,
)

SUBSCRIPTIONS = "/trigger-subscriptions/v1"
CONFIG = EventBridgeConfig(awsAccount=DEFAULT_ACCOUNT, awsRegion=REGION, eventBusName="bus")


async def create_eventbridge_subscription(
    api: httpx.AsyncClient, *, trigger_id: str = FNF_TRIGGER, **config: str
) -> dict[str, Any]:
    config = {"awsAccount": DEFAULT_ACCOUNT, "awsRegion": REGION, **config}
    return await create_destination_subscription(
        api, type_name="EVENTBRIDGE", config=config, trigger_id=trigger_id
    )


async def invocation(api: httpx.AsyncClient, invocation_id: str, *, wait: float = 0) -> dict[str, Any]:
    response = await api.get(f"/trigger-invocations/v1/{invocation_id}", params={"waitSeconds": wait})
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


# --- the entry (pure) -----------------------------------------------------------------------------


def test_source_names_prefix_subscription_and_trigger_halves() -> None:
    source = event_source(prefix="event-triggers", subscription_id="sub-1", trigger_id="idn:identity-created")
    assert source == "event-triggers/sub-1/idn/identity-created"


def test_request_response_entry_has_callback_and_secret_but_no_response_mode_and_no_nulls(
    settings: Settings,
) -> None:
    request = DeliveryRequest(
        invocation_id="inv-1",
        trigger_id=RR_TRIGGER,
        trigger_kind=TriggerType.REQUEST_RESPONSE,
        subscription_id="sub-1",
        response_mode=EVENTBRIDGE.response_mode(CONFIG),
        callback_url="http://api/trigger-invocations/v1/inv-1/complete",
        input={"a": None, "b": {"c": None, "d": [1, None]}},
    )
    assert request.response_mode is HttpDispatchMode.ASYNC
    entry = EVENTBRIDGE.entry(CONFIG, request, subscription_id="sub-1", secret="s3cret", settings=settings)
    assert entry == {
        "Source": "event-triggers/sub-1/idn/access-request-dynamic-approver",
        "DetailType": RR_TRIGGER,
        "EventBusName": "bus",
        "Detail": entry["Detail"],
    }
    assert json.loads(entry["Detail"]) == {
        "b": {"d": [1, None]},
        "_metadata": {
            "invocationId": "inv-1",
            "triggerId": RR_TRIGGER,
            "triggerType": "requestResponse",
            "callbackURL": "http://api/trigger-invocations/v1/inv-1/complete",
            "secret": "s3cret",
        },
    }


def test_entry_size_counts_utf8_bytes_and_the_limit_is_256_kb() -> None:
    entry = {"Source": "é", "DetailType": "t", "Detail": "€", "EventBusName": "not counted"}
    assert eventbridge_entry_size(entry) == 2 + 1 + 3
    fits = {"Source": "s", "DetailType": "t", "Detail": "x" * (MAX_ENTRY_BYTES - 2), "EventBusName": "b"}
    check_entry_size(fits)
    with pytest.raises(PayloadTooLarge, match=f"{MAX_ENTRY_BYTES + 1} bytes"):
        check_entry_size({**fits, "Detail": fits["Detail"] + "x"})


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("ThrottlingException", True),
        ("InternalFailure", True),
        ("ServiceUnavailable", True),
        ("ResourceNotFoundException", False),
        ("AccessDeniedException", False),
        ("ValidationException", False),
    ],
)
def test_aws_errors_are_retryable_only_when_a_later_attempt_may_succeed(code: str, retryable: bool) -> None:
    failure = aws_failure("EventBridge", code, "details")
    assert failure.non_retryable is not retryable
    assert (failure.type, failure.message) == (code, f"EventBridge delivery failed: {code}: details")


def test_a_200_answer_with_a_failed_entry_is_a_failure() -> None:
    assert put_events_failure({"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}) is None
    failure = put_events_failure(
        {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}],
        }
    )
    assert failure is not None
    assert (failure.message, failure.non_retryable) == (
        "EventBridge delivery failed: ThrottlingException: Rate exceeded",
        False,
    )


@pytest.mark.usefixtures("aws")
def test_clients_are_reused_per_region_and_role_until_credentials_near_expiry(settings: Settings) -> None:
    clients = AwsClients("events", settings=settings)
    role_arn = "arn:aws:iam::111111111111:role/publisher"
    assumed = clients.client(region=REGION, role_arn=role_arn)
    assert clients.client(region=REGION, role_arn=role_arn) is assumed
    assert clients.client(region=REGION, role_arn=None) is not assumed
    assert clients.client(region="us-east-1", role_arn=role_arn) is not assumed
    now = datetime.now(UTC)
    assert not CachedClient(client=assumed, expires=now + CREDENTIALS_REFRESH_MARGIN / 2).fresh(now)
    assert CachedClient(client=assumed, expires=now + CREDENTIALS_REFRESH_MARGIN * 2).fresh(now)
    assert CachedClient(client=assumed, expires=None).fresh(now), "the default chain refreshes itself"


# --- through the product, on a real moto server ---------------------------------------------------


@pytest.mark.usefixtures("aws")
async def test_fire_and_forget_event_arrives_with_the_exact_envelope(api: httpx.AsyncClient) -> None:
    inbox = EventBridgeInbox.create()
    subscription = await create_eventbridge_subscription(api, eventBusName=inbox.bus_name)
    payload = {**FNF_INPUT, "attributes": {"firstname": "John", "manager": None}}
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=payload)
    assert "secret" not in started

    [envelope] = await inbox.receive()
    assert envelope["source"] == f"event-triggers/{subscription['id']}/idn/identity-created"
    assert envelope["detail-type"] == FNF_TRIGGER
    assert envelope["region"] == REGION
    assert envelope["detail"] == {
        "identity": FNF_INPUT["identity"],
        "attributes": {"firstname": "John"},
        "_metadata": {
            "invocationId": started["id"],
            "triggerId": FNF_TRIGGER,
            "triggerType": "fireAndForget",
        },
    }
    detail = await invocation(api, started["id"], wait=20)
    assert detail["status"] == "COMPLETED"


@pytest.mark.usefixtures("aws")
async def test_request_response_over_eventbridge_waits_for_the_callback(api: httpx.AsyncClient) -> None:
    inbox = EventBridgeInbox.create()
    await create_eventbridge_subscription(api, trigger_id=RR_TRIGGER, eventBusName=inbox.bus_name)
    [started] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)

    [envelope] = await inbox.receive()
    metadata = envelope["detail"]["_metadata"]
    assert metadata == {
        "invocationId": started["id"],
        "triggerId": RR_TRIGGER,
        "triggerType": "requestResponse",
        "callbackURL": metadata["callbackURL"],
        "secret": started["secret"],
    }
    assert metadata["callbackURL"].endswith(f"/trigger-invocations/v1/{started['id']}/complete")
    assert (await invocation(api, started["id"], wait=1))["status"] == "AWAITING_RESPONSE"

    completed = await api.post(
        f"/trigger-invocations/v1/{started['id']}/complete",
        json={"secret": metadata["secret"], "output": RR_OUTPUT},
    )
    assert completed.status_code == 204, completed.text
    detail = await invocation(api, started["id"], wait=20)
    assert (detail["status"], detail["output"]) == ("COMPLETED", RR_OUTPUT)


@pytest.mark.usefixtures("aws")
async def test_missing_bus_fails_the_invocation_with_the_aws_error(api: httpx.AsyncClient) -> None:
    await create_eventbridge_subscription(api, eventBusName="no-such-bus")
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    detail = await invocation(api, started["id"], wait=20)
    assert detail["status"] == "FAILED"
    assert detail["error"] == (
        "EventBridge delivery failed: ResourceNotFoundException: Event bus no-such-bus does not exist."
    )


@pytest.mark.usefixtures("aws")
async def test_role_is_assumed_to_put_events_on_another_accounts_bus(api: httpx.AsyncClient) -> None:
    role_arn = "arn:aws:iam::111111111111:role/event-triggers-publisher"
    # The bus exists only in account 111111111111: the default credentials' account has none of that name.
    inbox = EventBridgeInbox.create(session=assumed_role_session(role_arn))
    subscription = await create_eventbridge_subscription(
        api, awsAccount="111111111111", eventBusName=inbox.bus_name, roleArn=role_arn
    )
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    [envelope] = await inbox.receive()
    assert envelope["source"] == f"event-triggers/{subscription['id']}/idn/identity-created"
    assert envelope["detail"]["_metadata"]["invocationId"] == started["id"]
    assert (await invocation(api, started["id"], wait=20))["status"] == "COMPLETED"


@pytest.mark.usefixtures("aws")
async def test_start_refuses_an_event_over_256_kb_with_413(api: httpx.AsyncClient) -> None:
    inbox = EventBridgeInbox.create()
    await create_eventbridge_subscription(api, eventBusName=inbox.bus_name)
    payload = {**FNF_INPUT, "attributes": {"notes": "x" * MAX_ENTRY_BYTES}}
    response = await api.post(
        "/trigger-invocations/v1/start", json={"triggerId": FNF_TRIGGER, "input": payload}
    )
    assert response.status_code == 413, response.text
    assert "over EventBridge's limit of 262144 bytes" in error_text(response)
    assert await inbox.is_empty()


@pytest.mark.usefixtures("aws")
async def test_activity_refuses_an_oversized_entry_before_sending(
    running_api: RunningApi, settings: Settings, api: httpx.AsyncClient
) -> None:
    inbox = EventBridgeInbox.create()
    subscription = await create_eventbridge_subscription(api, eventBusName=inbox.bus_name)
    request = DeliveryRequest(
        invocation_id="00000000-0000-0000-0000-000000000001",
        trigger_id=FNF_TRIGGER,
        trigger_kind=TriggerType.FIRE_AND_FORGET,
        subscription_id=subscription["id"],
        response_mode=None,
        callback_url="http://127.0.0.1/complete",
        input={**FNF_INPUT, "attributes": {"notes": "x" * MAX_ENTRY_BYTES}},
    )
    async with delivery_resources(settings, running_api.state.store) as resources:
        delivery = EVENTBRIDGE.activity(resources)
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(delivery.definition, request)
    assert refused.value.non_retryable
    assert refused.value.type == "EventTooLarge"
    assert "over EventBridge's limit of 262144 bytes" in refused.value.message
    assert await inbox.is_empty()


async def test_account_region_and_type_are_immutable_but_the_bus_may_change(api: httpx.AsyncClient) -> None:
    subscription = await create_eventbridge_subscription(api, eventBusName="first")
    url = f"{SUBSCRIPTIONS}/{subscription['id']}"
    bridge = subscription["eventBridgeConfig"]
    refused = {
        "type": {
            **subscription,
            "type": "HTTP",
            "eventBridgeConfig": None,
            "httpConfig": {"url": "https://x.example"},
        },
        "eventBridgeConfig.awsAccount": {
            **subscription,
            "eventBridgeConfig": {**bridge, "awsAccount": "210987654321"},
        },
        "eventBridgeConfig.awsRegion": {
            **subscription,
            "eventBridgeConfig": {**bridge, "awsRegion": "us-west-2"},
        },
    }
    for field, replacement in refused.items():
        response = await api.put(url, json=replacement)
        assert response.status_code == 400, response.text
        assert error_text(response).startswith(f"{field}:"), error_text(response)

    patched = await api.patch(
        url,
        json=[{"op": "replace", "path": "/eventBridgeConfig/eventBusName", "value": "second"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["eventBridgeConfig"] == {**bridge, "eventBusName": "second"}

    http = await api.post(
        SUBSCRIPTIONS,
        json={
            "name": "hook",
            "triggerId": FNF_TRIGGER,
            "type": "HTTP",
            "httpConfig": {"url": "https://x.example"},
        },
    )
    assert http.status_code == 201, http.text
    to_bridge = await api.patch(
        f"{SUBSCRIPTIONS}/{http.json()['id']}",
        json=[
            {"op": "replace", "path": "/type", "value": "EVENTBRIDGE"},
            {"op": "remove", "path": "/httpConfig"},
            {"op": "add", "path": "/eventBridgeConfig", "value": bridge},
        ],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert to_bridge.status_code == 400, to_bridge.text
    assert error_text(to_bridge).startswith("type:"), error_text(to_bridge)


async def test_unreachable_eventbridge_retries_only_until_the_deadline(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A REQUEST_RESPONSE delivery that cannot reach AWS stops at its deadline: TIMED_OUT, not retried on."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", f"http://127.0.0.1:{free_port()}")
    body = {
        "name": "unreachable bus",
        "triggerId": RR_TRIGGER,
        "type": "EVENTBRIDGE",
        "responseDeadline": "PT2S",
        "eventBridgeConfig": {"awsAccount": DEFAULT_ACCOUNT, "awsRegion": REGION},
    }
    assert (await api.post(SUBSCRIPTIONS, json=body)).status_code == 201
    [started] = await start(api, trigger_id=RR_TRIGGER, payload=RR_INPUT)
    detail = await invocation(api, started["id"], wait=20)
    assert (detail["status"], detail["error"]) == ("TIMED_OUT", "invocation timed out")
