"""What the API process shares across requests, built once in the lifespan (``api.main.build_state``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.invocations.context import InvocationContext
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.temporal import TemporalConnection


@dataclass
class AppState:
    settings: Settings
    store: Store
    catalog: Catalog
    temporal: TemporalConnection
    token_signing_key: bytes
    server_key: bytes
    destinations: DestinationPolicy
    subscriptions: SubscriptionReads
    """The one subscription reader of the process: fan-out and embedded worker share its copies."""
    _invocations: InvocationContext | None = field(default=None, init=False, repr=False)

    async def invocation_context(self) -> InvocationContext:
        """The invocation operations' shared context, made once the Temporal client exists: the API may
        start before Temporal, so the first use (or the embedded worker at startup) connects."""
        if self._invocations is None:
            self._invocations = InvocationContext(
                settings=self.settings,
                store=self.store,
                catalog=self.catalog,
                client=await self.temporal.client(),
                server_key=self.server_key,
                subscriptions=self.subscriptions,
            )
        return self._invocations
