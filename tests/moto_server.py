"""A real moto server on a loopback port, and AWS inboxes on it: a bus, a rule, an SQS queue to read back.

Import the fixtures into a test module (``from tests.moto_server import aws, moto_endpoint``). ``aws``
points boto3 at the server through the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, with fake
credentials of moto's default account, for the test and the worker running in it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

DEFAULT_ACCOUNT = "123456789012"
"""The account moto serves to the fake access key below."""
REGION = "eu-west-1"
SOURCE_PREFIX = "event-triggers/"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 anywhere in this process talks to the moto server, as moto's default account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for service in ("EVENTBRIDGE", "SQS", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_endpoint)
    return moto_endpoint


def assumed_role_session(role_arn: str) -> boto3.session.Session:
    """A session on a role's temporary credentials: moto serves it the role's account."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=role_arn, RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


@dataclass
class EventBridgeInbox:
    """A bus whose rule (source prefix ``event-triggers/``) forwards every event to an SQS queue."""

    bus_name: str
    queue_url: str
    sqs: Any

    @classmethod
    def create(cls, *, session: boto3.session.Session | None = None) -> EventBridgeInbox:
        session = session or boto3.session.Session(region_name=REGION)
        events = session.client("events", region_name=REGION)
        sqs = session.client("sqs", region_name=REGION)
        name = f"bus-{uuid.uuid4().hex[:12]}"
        events.create_event_bus(Name=name)
        queue_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name=f"{name}-triggers",
            EventBusName=name,
            EventPattern=json.dumps({"source": [{"prefix": SOURCE_PREFIX}]}),
        )
        events.put_targets(
            Rule=f"{name}-triggers", EventBusName=name, Targets=[{"Id": "inbox", "Arn": queue_arn}]
        )
        return cls(bus_name=name, queue_url=queue_url, sqs=sqs)

    def _receive(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in response.get("Messages", [])]

    async def receive(self, *, count: int = 1, within: float = 15.0) -> list[dict[str, Any]]:
        """The next ``count`` EventBridge envelopes the rule forwarded; fails after ``within`` seconds."""
        envelopes: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + within
        while len(envelopes) < count:
            envelopes.extend(await asyncio.to_thread(self._receive))
            if len(envelopes) < count and asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(envelopes)} of {count} events arrived within {within}s")
            if len(envelopes) < count:
                await asyncio.sleep(0.05)
        return envelopes

    async def is_empty(self) -> bool:
        return not await asyncio.to_thread(self._receive)
