"""What the API process shares across requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.invocations import InvocationContext
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.store import Store
from event_triggers.temporal import TemporalConnection


@dataclass
class AppState:
    settings: Settings
    store: Store
    catalog: Catalog
    temporal: TemporalConnection
    token_signing_key: bytes
    destinations: DestinationPolicy
    invocations: InvocationContext | None = None
    """Set up on first use by the invocation routes (or at startup with the embedded worker)."""
