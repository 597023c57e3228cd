"""Which destination serves a subscription ``type``. Adding a destination is its module plus one line here."""

from __future__ import annotations

from typing import Any

from event_triggers.destinations.base import Destination
from event_triggers.destinations.eventbridge import EVENTBRIDGE
from event_triggers.destinations.http import HTTP
from event_triggers.destinations.rabbitmq import RABBITMQ
from event_triggers.destinations.sqs import SQS
from event_triggers.errors import InvalidField

DESTINATIONS: dict[str, Destination[Any]] = {
    destination.type: destination for destination in (HTTP, EVENTBRIDGE, SQS, RABBITMQ)
}


def destination_for(type_name: str) -> Destination[Any]:
    """The destination of a subscription type; an unknown type is a 400 on ``type``."""
    destination = DESTINATIONS.get(type_name)
    if destination is None:
        raise InvalidField("type", f"'{type_name}' is not one of {', '.join(DESTINATIONS)}")
    return destination


def config_fields() -> dict[str, Destination[Any]]:
    """Each destination by the subscription field that holds its config (``httpConfig``, ...)."""
    return {destination.config_field: destination for destination in DESTINATIONS.values()}
