"""What the AWS destinations share: region checks, boto3 clients per region and role, error classes.

boto3 blocks, so every AWS call runs in a thread (``AwsDeliveryActivity.send``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, ClassVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from temporalio.exceptions import ApplicationError

from event_triggers.config import Settings
from event_triggers.destinations.base import DeliveryActivity, DeliveryResources, DestinationT
from event_triggers.destinations.outcomes import EXPECTED, retryable_failure
from event_triggers.errors import InvalidField
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult

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
        "RequestThrottled",
        "KmsThrottled",
    }
)
"""AWS error codes that a later attempt may not get; every other code (validation, a missing bus or
queue, access denied) fails the invocation at once."""
_ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
"""An IAM role's ARN in any partition: ``arn:aws:iam::123456789012:role/path/name`` (IAM's characters)."""
CREDENTIALS_REFRESH_MARGIN = timedelta(minutes=5)
ROLE_SESSION_NAME = "event-triggers"


@cache
def aws_region_names(service: str) -> frozenset[str]:
    """Every region boto3 knows ``service`` in, across partitions (no network call)."""
    import boto3  # noqa: PLC0415 (kept off the import path of every process that only validates)

    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(service, partition_name=partition)
    )


def check_role_arn(field: str, role_arn: str | None) -> None:
    """``InvalidField`` unless ``role_arn`` (when set) is an IAM role's ARN: STS would refuse anything
    else at every delivery."""
    if role_arn is not None and not _ROLE_ARN.fullmatch(role_arn):
        raise InvalidField(field, "must be an IAM role ARN such as arn:aws:iam::123456789012:role/name")


@dataclass(frozen=True)
class CachedClient:
    """A boto3 client is costly to create (tens of ms) and thread-safe: one per region and role."""

    client: Any
    expires: datetime | None
    """When the assumed-role credentials expire; None for the default credential chain."""

    def fresh(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires - CREDENTIALS_REFRESH_MARGIN


def aws_failure(service: str, code: str, message: str) -> ApplicationError:
    """An AWS error as the invocation's failure: AWS's code and message, retryable only if worth it."""
    text = f"{service} delivery failed: {code}: {message}"
    return ApplicationError(
        text, type=code, non_retryable=code not in RETRYABLE_ERROR_CODES, category=EXPECTED
    )


class AwsClients:
    """boto3 clients of one service, per region and assumed role, renewed before the role's expiry."""

    def __init__(
        self, service: str, *, settings: Settings, prepare: Callable[[Any], None] = lambda _: None
    ) -> None:
        self._service = service
        self._prepare = prepare
        self._clients: dict[tuple[str, str | None], CachedClient] = {}
        self._lock = threading.Lock()
        timeout = settings.delivery_timeout.total_seconds()
        # Temporal retries (visible in the history); boto3 makes one attempt per activity attempt.
        self._config = Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1}
        )

    def client(self, *, region: str, role_arn: str | None) -> Any:
        """A cached client; with ``role_arn``, on assumed credentials. Blocking: call it from a thread."""
        key = (region, role_arn)
        with self._lock:
            cached = self._clients.get(key)
            if cached is None or not cached.fresh(datetime.now(UTC)):
                cached = self._new_client(region=region, role_arn=role_arn)
                self._clients[key] = cached
            return cached.client

    def _new_client(self, *, region: str, role_arn: str | None) -> CachedClient:
        import boto3  # noqa: PLC0415

        session = boto3.session.Session()
        expires = None
        if role_arn is not None:
            sts = session.client("sts", region_name=region, config=self._config)
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)["Credentials"]
            session = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
            expires = credentials["Expiration"]
        client = session.client(self._service, region_name=region, config=self._config)
        self._prepare(client)
        return CachedClient(client=client, expires=expires)


class AwsDeliveryActivity(DeliveryActivity[DestinationT]):
    """An AWS destination's activity class: boto3 clients of ``boto3_service`` shared by its deliveries,
    and one way to call AWS and classify its errors."""

    boto3_service: ClassVar[str]
    service_name: ClassVar[str]
    """How failures name the service, e.g. ``SQS delivery failed: ...``."""

    def __init__(self, destination: DestinationT, resources: DeliveryResources) -> None:
        super().__init__(destination, resources)
        self.clients = AwsClients(
            self.boto3_service, settings=resources.settings, prepare=self.prepare_client
        )

    def prepare_client(self, client: Any) -> None:
        """Hook for each new boto3 client (e.g. tracing); nothing by default."""

    async def send(
        self,
        request: DeliveryRequest,
        *,
        region: str,
        role_arn: str | None,
        operation: str,
        parameters: dict[str, Any],
        check: Callable[[dict[str, Any]], ApplicationError | None] = lambda _: None,
    ) -> DeliveryResult:
        """Call ``operation`` in a thread; its errors (raised, or found by ``check`` in the answer)
        become a final failure or a retry, by AWS error code."""

        def call() -> dict[str, Any]:
            client = self.clients.client(region=region, role_arn=role_arn)
            response: dict[str, Any] = getattr(client, operation)(**parameters)
            return response

        service = self.service_name
        failure: ApplicationError | None
        try:
            response = await asyncio.to_thread(call)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            failure = aws_failure(service, error.get("Code", "Unknown"), error.get("Message", str(exc)))
        except BotoCoreError as exc:  # no connection, no credentials yet: worth another attempt
            failure = ApplicationError(
                f"{service} delivery failed: {type(exc).__name__}: {exc}", type=f"{service}Unavailable"
            )
        else:
            failure = check(response)
            if failure is None:
                return DeliveryResult(status_code=response["ResponseMetadata"]["HTTPStatusCode"])
        if failure.non_retryable:
            raise failure
        raise retryable_failure(
            failure.message,
            error_type=failure.type or f"{service}Retry",
            settings=self.resources.settings,
            request=request,
        )
