"""``type: "EVENTBRIDGE"``: one ``PutEvents`` entry per invocation on a bus in the subscriber's account.

The entry's Detail is the trigger input plus ``_metadata`` (no ``responseMode``: a REQUEST_RESPONSE
answer always comes by callback), nulls removed as SailPoint's events are. An event whose entry
would exceed 256 KB is refused with 413 before anything starts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from event_triggers.catalog import TriggerDefinition
from event_triggers.config import Settings
from event_triggers.destinations.aws import AwsDeliveryActivity, aws_failure, aws_region_names, check_role_arn
from event_triggers.destinations.base import DeliveryResources, Destination, compact_json
from event_triggers.destinations.outcomes import final_failure
from event_triggers.errors import InvalidField, PayloadTooLarge
from event_triggers.invocation_models import DeliveryRequest, DeliveryResult
from event_triggers.models import NAME_MAX, ROLE_ARN_MAX, MaxLength, WireModel
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.tracing import trace_put_events

if TYPE_CHECKING:
    pass

ACTIVITY = "put_eventbridge_event"
SERVICE = "EventBridge"
MAX_ENTRY_BYTES = 256 * 1024
"""EventBridge's limit for one ``PutEvents`` entry (Source + DetailType + Detail + Resources, UTF-8)."""
EVENT_BUS_MAX = 1600
"""EventBridge's own limit for a bus name or ARN."""
_AWS_ACCOUNT = re.compile(r"^[0-9]{12}$")


class EventBridgeConfig(WireModel):
    awsAccount: Annotated[str, MaxLength(NAME_MAX)]
    awsRegion: Annotated[str, MaxLength(NAME_MAX)]
    eventBusName: Annotated[str, MaxLength(EVENT_BUS_MAX)] = "default"
    """Extension: the bus name or ARN that receives the events."""
    roleArn: Annotated[str | None, MaxLength(ROLE_ARN_MAX)] = None
    """Extension: a role to assume (STS) for a bus in another account."""


def event_source(*, prefix: str, subscription_id: str, trigger_id: str) -> str:
    """``{prefix}/{subscription id}/{namespace}/{trigger}``: a subscriber's rules match on its prefix."""
    return "/".join([prefix.rstrip("/"), subscription_id, *trigger_id.split(":", 1)])


def eventbridge_entry_size(entry: dict[str, str]) -> int:
    """The size EventBridge counts for an entry (the bus name is not counted; we send no Time/Resources)."""
    return sum(len(entry[field].encode("utf-8")) for field in ("Source", "DetailType", "Detail"))


def check_entry_size(entry: dict[str, str]) -> None:
    """Raise ``PayloadTooLarge`` for an entry EventBridge would refuse."""
    size = eventbridge_entry_size(entry)
    if size > MAX_ENTRY_BYTES:
        raise PayloadTooLarge(
            f"input: the EventBridge event would be {size} bytes, over EventBridge's limit of "
            f"{MAX_ENTRY_BYTES} bytes (256 KB) per event"
        )


def put_events_failure(response: dict[str, Any]) -> ApplicationError | None:
    """A ``PutEvents`` answer is 200 even when its entry failed: ``FailedEntryCount`` says so."""
    if not response.get("FailedEntryCount"):
        return None
    failed = response["Entries"][0]
    return aws_failure(SERVICE, failed.get("ErrorCode", "Unknown"), failed.get("ErrorMessage", ""))


class EventBridgeDestination(Destination[EventBridgeConfig]):
    type = "EVENTBRIDGE"
    config_field = "eventBridgeConfig"
    config_model = EventBridgeConfig
    activity_name = ACTIVITY
    summary_verb = "PutEvents for"
    immutable_fields = ("awsAccount", "awsRegion")
    metadata_response_mode = False
    drops_nulls = True

    def check(
        self, config: EventBridgeConfig, *, trigger: TriggerDefinition, destinations: DestinationPolicy
    ) -> None:
        if not _AWS_ACCOUNT.match(config.awsAccount):
            raise InvalidField(self.field("awsAccount"), "must be a 12-digit AWS account id")
        if config.awsRegion not in aws_region_names("events"):
            raise InvalidField(self.field("awsRegion"), f"'{config.awsRegion}' is not an AWS region")
        check_role_arn(self.field("roleArn"), config.roleArn)
        if not config.eventBusName:
            raise InvalidField(self.field("eventBusName"), "must not be empty")

    def describe_target(self, config: EventBridgeConfig) -> str:
        return f"event bus {config.eventBusName} in {config.awsAccount} ({config.awsRegion})"

    def entry(
        self,
        config: EventBridgeConfig,
        request: DeliveryRequest,
        *,
        subscription_id: str,
        secret: str,
        settings: Settings,
    ) -> dict[str, str]:
        """The one ``PutEvents`` entry of an invocation: Detail = the message."""
        return {
            "Source": event_source(
                prefix=settings.eventbridge_source_prefix,
                subscription_id=subscription_id,
                trigger_id=request.trigger_id,
            ),
            "DetailType": request.trigger_id,
            "Detail": compact_json(self.message(request, secret=secret)),
            "EventBusName": config.eventBusName,
        }

    def check_size(
        self,
        config: EventBridgeConfig,
        request: DeliveryRequest,
        *,
        subscription_id: str,
        settings: Settings,
        secret: str,
    ) -> None:
        check_entry_size(
            self.entry(config, request, subscription_id=subscription_id, secret=secret, settings=settings)
        )

    def activity(self, resources: DeliveryResources) -> EventBridgeDelivery:
        return EventBridgeDelivery(self, resources)


EVENTBRIDGE = EventBridgeDestination()


class EventBridgeDelivery(AwsDeliveryActivity[EventBridgeDestination]):
    """``put_eventbridge_event``: boto3 clients per region and role, shared by a worker's deliveries."""

    boto3_service = "events"
    service_name = SERVICE

    def prepare_client(self, client: Any) -> None:
        """Entries carry the delivery's trace context when tracing is on."""
        trace_put_events(client)

    @activity.defn(name=ACTIVITY)
    async def put_eventbridge_event(self, request: DeliveryRequest) -> DeliveryResult:
        """Put the trigger input plus ``_metadata`` on the subscription's bus; AWS errors become failures."""
        subscription, secret = await self.target(request)
        config = self.destination.delivery_config(subscription)
        settings = self.resources.settings
        entry = self.destination.entry(
            config, request, subscription_id=subscription.id, secret=secret, settings=settings
        )
        try:
            check_entry_size(entry)
        except PayloadTooLarge as exc:
            raise final_failure(exc.message, error_type="EventTooLarge") from None

        return await self.send(
            request,
            region=config.awsRegion,
            role_arn=config.roleArn,
            operation="put_events",
            parameters={"Entries": [entry]},
            check=put_events_failure,
        )
