"""``type: "SQS"`` (extension): one ``SendMessage`` per invocation to a queue in the subscriber's account.

The message body is what an HTTP subscriber receives (the trigger input plus ``_metadata``, answered
only by callback); message attributes name the trigger and the invocation, so consumers can route
without parsing the body. A FIFO queue gets the invocation id as deduplication id (a retried send is
not delivered twice) and ``messageGroupId`` (default: the subscription id) as group.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from temporalio import activity

from event_triggers.catalog import TriggerDefinition
from event_triggers.config import Settings
from event_triggers.destinations.aws import AwsDeliveryActivity, aws_region_names, check_role_arn
from event_triggers.destinations.base import DeliveryResources, Destination, compact_json
from event_triggers.destinations.outcomes import final_failure
from event_triggers.errors import InvalidField, PayloadTooLarge
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult
from event_triggers.models import NAME_MAX, ROLE_ARN_MAX, URL_MAX, MaxLength, WireModel
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.tracing import trace_headers

if TYPE_CHECKING:
    pass

ACTIVITY = "send_sqs_message"
SERVICE = "SQS"
DEFAULT_MAX_MESSAGE_BYTES = 262_144
MAX_MESSAGE_BYTES = 1_048_576
"""SQS's own ceiling (a queue's ``MaximumMessageSize`` is at most 1 MiB)."""
MESSAGE_GROUP_MAX = 128
"""SQS's own limit for a message group id."""
_QUEUE_PATH = re.compile(r"^/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")


class SqsConfig(WireModel):
    queueUrl: Annotated[str, MaxLength(URL_MAX)]
    awsRegion: Annotated[str, MaxLength(NAME_MAX)]
    roleArn: Annotated[str | None, MaxLength(ROLE_ARN_MAX)] = None
    """A role to assume (STS) for a queue in another account."""
    messageGroupId: Annotated[str | None, MaxLength(MESSAGE_GROUP_MAX)] = None
    """FIFO queues: the message group (default: the subscription id)."""
    maxMessageBytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, ge=1024, le=MAX_MESSAGE_BYTES)
    """The queue's ``MaximumMessageSize``: bigger events are refused with 413 at start."""

    @property
    def fifo(self) -> bool:
        return self.queueUrl.endswith(".fifo")


def message_attributes(request: DeliveryRequest) -> dict[str, dict[str, str]]:
    """Trigger and invocation ids, and the delivery's ``traceparent`` when tracing is on."""
    values = {"triggerId": request.trigger_id, "invocationId": request.invocation_id, **trace_headers()}
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def message_size(body: str, attributes: dict[str, dict[str, str]]) -> int:
    """The size SQS counts: the body plus each attribute's name, data type and value (UTF-8)."""
    size = len(body.encode("utf-8"))
    for name, attribute in attributes.items():
        size += sum(
            len(part.encode("utf-8")) for part in (name, attribute["DataType"], attribute["StringValue"])
        )
    return size


class SqsDestination(Destination[SqsConfig]):
    type = "SQS"
    config_field = "sqsConfig"
    config_model = SqsConfig
    activity_name = ACTIVITY
    summary_verb = "SendMessage for"
    immutable_fields = ("queueUrl", "awsRegion")

    def check(
        self, config: SqsConfig, *, trigger: TriggerDefinition, destinations: DestinationPolicy
    ) -> None:
        expected = "must be a queue URL such as https://sqs.eu-west-1.amazonaws.com/123456789012/name"
        parts = self.check_url(
            "queueUrl",
            config.queueUrl,
            destinations=destinations,
            schemes=("http", "https"),
            expected=expected,
        )
        if not _QUEUE_PATH.match(parts.path):
            raise InvalidField(self.field("queueUrl"), expected)
        if config.awsRegion not in aws_region_names("sqs"):
            raise InvalidField(self.field("awsRegion"), f"'{config.awsRegion}' is not an AWS region")
        check_role_arn(self.field("roleArn"), config.roleArn)
        if config.messageGroupId == "":
            raise InvalidField(self.field("messageGroupId"), "must not be empty")

    def describe_target(self, config: SqsConfig) -> str:
        return config.queueUrl

    def send_message_input(
        self, config: SqsConfig, request: DeliveryRequest, *, subscription_id: str, secret: str
    ) -> dict[str, Any]:
        """The ``SendMessage`` parameters of one invocation."""
        message: dict[str, Any] = {
            "QueueUrl": config.queueUrl,
            "MessageBody": compact_json(self.message(request, secret=secret)),
            "MessageAttributes": message_attributes(request),
        }
        if config.fifo:
            message["MessageDeduplicationId"] = request.invocation_id
        if config.fifo or config.messageGroupId is not None:
            message["MessageGroupId"] = config.messageGroupId or subscription_id
        return message

    def check_size(
        self,
        config: SqsConfig,
        request: DeliveryRequest,
        *,
        subscription_id: str,
        settings: Settings,
        secret: str,
    ) -> None:
        message = self.send_message_input(config, request, subscription_id=subscription_id, secret=secret)
        size = message_size(message["MessageBody"], message["MessageAttributes"])
        if size > config.maxMessageBytes:
            raise PayloadTooLarge(
                f"input: the SQS message would be {size} bytes, over the queue's limit of "
                f"{config.maxMessageBytes} bytes (sqsConfig.maxMessageBytes)"
            )

    def activity(self, resources: DeliveryResources) -> SqsDelivery:
        return SqsDelivery(self, resources)


SQS = SqsDestination()


class SqsDelivery(AwsDeliveryActivity[SqsDestination]):
    """``send_sqs_message``: boto3 clients per region and role, shared by a worker's deliveries."""

    boto3_service = "sqs"
    service_name = SERVICE

    @activity.defn(name=ACTIVITY)
    async def send_sqs_message(self, request: DeliveryRequest) -> DeliveryResult:
        """Send the trigger input plus ``_metadata`` to the queue; AWS errors become failures."""
        subscription, secret = await self.target(request)
        config = self.destination.delivery_config(subscription)
        settings = self.resources.settings
        try:
            self.destination.check_size(
                config, request, subscription_id=subscription.id, settings=settings, secret=secret
            )
        except PayloadTooLarge as exc:
            raise final_failure(exc.message, error_type="MessageTooLarge") from None
        message = self.destination.send_message_input(
            config, request, subscription_id=subscription.id, secret=secret
        )
        return await self.send(
            request,
            region=config.awsRegion,
            role_arn=config.roleArn,
            operation="send_message",
            parameters=message,
        )
