"""``put_eventbridge_event``: one ``PutEvents`` call with an invocation's event, classified like a delivery.

The entry is built by ``event_triggers.eventbridge``; this module adds AWS: clients per region (and
assumed role), credentials from boto3's default chain or STS, and the mapping of AWS errors to
retryable or final failures. boto3 blocks, so every AWS call runs in a thread, never on the event loop.
The invocation secret is derived here, at delivery time, so it never enters workflow history.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outcomes import final_failure, retryable_failure
from activities.subscription_reader import SubscriptionReader
from event_triggers.config import Settings
from event_triggers.errors import PayloadTooLarge
from event_triggers.eventbridge import check_entry_size, eventbridge_entry, eventbridge_metadata
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult
from event_triggers.models import EventBridgeConfig
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.tracing import trace_put_events

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "LimitExceededException",
        "InternalException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
"""AWS error codes that a later attempt may not get; every other code (validation, a missing bus,
access denied) fails the invocation at once."""
CREDENTIALS_REFRESH_MARGIN = timedelta(minutes=5)
ROLE_SESSION_NAME = "event-triggers"


@dataclass(frozen=True)
class CachedClient:
    """A boto3 client is costly to create (tens of ms) and thread-safe: one per region and role."""

    client: Any
    expires: datetime | None
    """When the assumed-role credentials expire; None for the default credential chain."""

    def fresh(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires - CREDENTIALS_REFRESH_MARGIN


def aws_failure(code: str, message: str) -> ApplicationError:
    """An AWS error as the invocation's failure: AWS's code and message, retryable only if worth it."""
    text = f"EventBridge delivery failed: {code}: {message}"
    return ApplicationError(text, type=code, non_retryable=code not in RETRYABLE_ERROR_CODES)


def put_events_failure(response: dict[str, Any]) -> ApplicationError | None:
    """A ``PutEvents`` answer is 200 even when its entry failed: ``FailedEntryCount`` says so."""
    if not response.get("FailedEntryCount"):
        return None
    failed = response["Entries"][0]
    return aws_failure(failed.get("ErrorCode", "Unknown"), failed.get("ErrorMessage", ""))


class EventBridgeDelivery:
    """What every EventBridge delivery of a worker shares: the subscription reader, boto3 clients per region
    and role."""

    def __init__(self, *, settings: Settings, subscriptions: SubscriptionReads, server_key: bytes) -> None:
        self._settings = settings
        self._subscriptions = SubscriptionReader(subscriptions)
        self._server_key = server_key
        self._clients: dict[tuple[str, str | None], CachedClient] = {}
        self._clients_lock = threading.Lock()
        timeout = settings.delivery_timeout.total_seconds()
        # Temporal retries (visible in the history); boto3 makes one attempt per activity attempt.
        self._client_config = Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1}
        )

    def events_client(self, *, region: str, role_arn: str | None) -> Any:
        """A cached EventBridge client; with ``role_arn``, on assumed credentials renewed before expiry.

        Blocking (STS, client creation): call it from a thread.
        """
        key = (region, role_arn)
        with self._clients_lock:
            cached = self._clients.get(key)
            if cached is None or not cached.fresh(datetime.now(UTC)):
                cached = self._new_client(region=region, role_arn=role_arn)
                self._clients[key] = cached
            return cached.client

    def _new_client(self, *, region: str, role_arn: str | None) -> CachedClient:
        session = boto3.session.Session()
        expires = None
        if role_arn is not None:
            sts = session.client("sts", region_name=region, config=self._client_config)
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)["Credentials"]
            session = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
            expires = credentials["Expiration"]
        client = session.client("events", region_name=region, config=self._client_config)
        trace_put_events(client)
        return CachedClient(client=client, expires=expires)

    def _put_entry(self, config: EventBridgeConfig, entry: dict[str, str]) -> dict[str, Any]:
        client = self.events_client(region=config.awsRegion, role_arn=config.roleArn)
        response: dict[str, Any] = client.put_events(Entries=[entry])
        return response

    @activity.defn(name="put_eventbridge_event")
    async def put_eventbridge_event(self, request: DeliveryRequest) -> DeliveryResult:
        """Put the trigger input plus ``_metadata`` on the subscription's bus; AWS errors become failures."""
        subscription = await self._subscriptions.get(request)
        config = subscription.eventBridgeConfig
        if config is None:
            raise final_failure(
                "subscription has no eventBridgeConfig", error_type="SubscriptionMisconfigured"
            )
        metadata = eventbridge_metadata(
            invocation_id=request.invocation_id,
            trigger_id=request.trigger_id,
            trigger_kind=request.trigger_kind,
            callback_url=request.callback_url,
            secret=invocation_secret(server_key=self._server_key, invocation_id=request.invocation_id),
        )
        entry = eventbridge_entry(
            source_prefix=self._settings.eventbridge_source_prefix,
            config=config,
            subscription_id=subscription.id,
            trigger_id=request.trigger_id,
            payload=request.input,
            metadata=metadata,
        )
        try:
            check_entry_size(entry)
        except PayloadTooLarge as exc:
            raise final_failure(exc.message, error_type="EventTooLarge") from None
        failure: ApplicationError | None
        try:
            response = await asyncio.to_thread(self._put_entry, config, entry)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            failure = aws_failure(error.get("Code", "Unknown"), error.get("Message", str(exc)))
        except BotoCoreError as exc:  # no connection, no credentials yet: worth another attempt
            failure = ApplicationError(
                f"EventBridge delivery failed: {type(exc).__name__}: {exc}", type="EventBridgeUnavailable"
            )
        else:
            failure = put_events_failure(response)
        if failure is not None:
            if failure.non_retryable:
                raise failure
            raise retryable_failure(
                failure.message,
                error_type=failure.type or "EventBridgeRetry",
                settings=self._settings,
                request=request,
            )
        return DeliveryResult(status_code=response["ResponseMetadata"]["HTTPStatusCode"])
