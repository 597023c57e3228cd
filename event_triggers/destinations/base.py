"""The interface every destination type implements, and the message they all send.

A destination owns its config model and validation (immutable fields included), its size limit, the
shape of ``_metadata``, its delivery activity, which config fields are secrets, and whether a
REQUEST_RESPONSE answer can come back in-band. Nothing outside its module names its type: the API, the
store, the fan-out and the worker ask the registry (``event_triggers.destinations.registry``).
"""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import SplitResult

import httpx

from event_triggers.catalog import Catalog, TriggerDefinition
from event_triggers.config import Settings
from event_triggers.destinations.outcomes import final_failure
from event_triggers.errors import InvalidField
from event_triggers.invocation_models import DeliveryRequest
from event_triggers.models import HttpDispatchMode, TriggerType, WireModel, parse_wire
from event_triggers.security.invocation_secret import invocation_secret
from event_triggers.security.ssrf import DestinationPolicy

if TYPE_CHECKING:  # the store asks the registry which fields are secrets
    from event_triggers.rate_limits import DeliveryRateLimiter
    from event_triggers.store import Subscription

STAND_IN_INVOCATION_ID = "00000000-0000-0000-0000-000000000000"
STAND_IN_SECRET = "0" * 64
"""Same lengths as a real invocation id (UUID) and secret (HMAC-SHA256 hex), for sizing before a start."""

SecretPath = tuple[str, ...]
"""Where a secret sits inside a config document, e.g. ``("basicAuthConfig", "password")``."""

ConfigT = TypeVar("ConfigT", bound=WireModel)


def without_nulls(value: Any) -> Any:
    """``value`` with every null object member removed, at any depth (as SailPoint's EventBridge events)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def compact_json(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


class SubscriptionSource(Protocol):
    """Where an activity reads the subscription it delivers to (credentials included)."""

    async def get(self, request: DeliveryRequest) -> Subscription:
        """The subscription at the request's revision or newer; raises a final failure when it is gone."""


@dataclass(frozen=True, kw_only=True)
class DeliveryResources:
    """What a worker's delivery activities share, built once per worker (``worker.delivery_worker``)."""

    settings: Settings
    catalog: Catalog
    subscriptions: SubscriptionSource
    http_client: httpx.AsyncClient
    """Pooled and SSRF-guarded (``GuardedTransport``)."""
    destination_policy: DestinationPolicy
    """For destinations that open their own connections (the SSRF rules of ``http_client``)."""
    server_key: bytes
    limiter: DeliveryRateLimiter
    """Holds back deliveries to subscriptions with ``maxDeliveriesPerSecond``, across every worker."""


class Destination(ABC, Generic[ConfigT]):
    """One subscription ``type``: how it is configured, validated, sized, sent and answered."""

    type: ClassVar[str]
    config_field: ClassVar[str]
    """The subscription field holding the config, e.g. ``httpConfig``."""
    config_model: builtins.type[ConfigT]
    activity_name: ClassVar[str]
    summary_verb: ClassVar[str]
    """How the Web UI names a delivery: ``f"{summary_verb} subscription {name}"``."""
    secret_paths: ClassVar[Sequence[SecretPath]] = ()
    immutable_fields: ClassVar[Sequence[str]] = ()
    """Config fields an update cannot change (another account or region is another subscription)."""
    metadata_response_mode: ClassVar[bool] = True
    """Whether ``_metadata`` says ``responseMode`` (EventBridge's does not: always a callback)."""
    drops_nulls: ClassVar[bool] = False
    """Whether null members are removed from the message (EventBridge's are)."""
    signs_deliveries: ClassVar[bool] = False
    """Whether deliveries carry Standard Webhooks signatures (the create response shows the secret)."""

    # --- configuration ------------------------------------------------------------------------------

    def config(self, subscription: WireModel) -> ConfigT:
        """The subscription's config as this destination's model (validated; raises ``InvalidField``)."""
        return parse_wire(
            self.config_model, getattr(subscription, self.config_field, None), prefix=self.config_field
        )

    def document(self, subscription: WireModel) -> dict[str, Any] | None:
        """The subscription's raw config object (None when absent or not an object)."""
        value = getattr(subscription, self.config_field, None)
        return value if isinstance(value, dict) else None

    def delivery_config(self, subscription: Subscription) -> ConfigT:
        """The config a delivery uses; a stored config that no longer fits fails the delivery for good."""
        try:
            return self.config(subscription)
        except InvalidField as exc:
            raise final_failure(
                f"subscription {subscription.id} is misconfigured: {exc.message}",
                error_type="SubscriptionMisconfigured",
            ) from None

    @abstractmethod
    def describe_target(self, config: ConfigT) -> str:
        """Where deliveries go, for a person reading a list of subscriptions; never a secret."""

    def target_text(self, subscription: WireModel) -> str:
        """``describe_target`` of a subscription (the Administration UI's lists); a stored config that no
        longer fits its model says so instead."""
        try:
            return self.describe_target(self.config(subscription))
        except InvalidField as exc:
            return f"misconfigured: {exc.message}"

    def field(self, name: str) -> str:
        """The dotted field name an error reports, e.g. ``httpConfig.url``."""
        return f"{self.config_field}.{name}"

    def check_url(
        self,
        name: str,
        url: str,
        *,
        destinations: DestinationPolicy,
        schemes: Collection[str],
        expected: str,
        credentials_allowed: bool = False,
    ) -> SplitResult:
        """The parts of the URL in config field ``name``, checked by ``destinations.check_url_literal``
        (its errors name the field)."""
        try:
            return destinations.check_url_literal(
                url, schemes=schemes, expected=expected, credentials_allowed=credentials_allowed
            )
        except InvalidField as refused:
            raise InvalidField(self.field(name), refused.reason) from None

    def check(self, config: ConfigT, *, trigger: TriggerDefinition, destinations: DestinationPolicy) -> None:
        """Rules beyond the model (formats, SSRF on hosts, what the trigger allows); raise
        ``InvalidField`` naming the field."""

    def response_mode(self, config: ConfigT) -> HttpDispatchMode:
        """How a REQUEST_RESPONSE answer comes back; by default only by callback."""
        return HttpDispatchMode.ASYNC

    def keep_stored_secrets(self, document: dict[str, Any], stored: dict[str, Any]) -> None:
        """An update that omits a secret keeps the stored one (reads never return secrets)."""
        for path in self.secret_paths:
            holder = _holder(document, path)
            if holder is not None and holder.get(path[-1]) is None:
                value = _get(stored, path)
                if value is not None:
                    holder[path[-1]] = value

    def split_secrets(self, document: dict[str, Any]) -> dict[str, str]:
        """Remove the secrets from a config document (in place); they are stored sealed, apart."""
        secrets: dict[str, str] = {}
        for path in self.secret_paths:
            holder = _holder(document, path)
            if holder is not None and holder.get(path[-1]) is not None:
                secrets[".".join(path)] = holder.pop(path[-1])
        return secrets

    def merge_secrets(self, document: dict[str, Any], secrets: dict[str, str]) -> None:
        for path in self.secret_paths:
            holder = _holder(document, path)
            value = secrets.get(".".join(path))
            if holder is not None and value is not None:
                holder[path[-1]] = value

    def public(self, document: dict[str, Any]) -> dict[str, Any]:
        """The config as the API shows it: every secret null."""
        for path in self.secret_paths:
            holder = _holder(document, path)
            if holder is not None:
                holder[path[-1]] = None
        return document

    # --- delivery -----------------------------------------------------------------------------------

    def metadata(self, request: DeliveryRequest, *, secret: str) -> dict[str, Any]:
        """The ``_metadata`` a receiver gets next to the trigger input; the callback and the invocation
        secret only when the answer comes by callback."""
        metadata: dict[str, Any] = {
            "triggerId": request.trigger_id,
            "triggerType": "fireAndForget",
            "invocationId": request.invocation_id,
        }
        if request.trigger_kind is TriggerType.FIRE_AND_FORGET:
            return metadata
        mode = request.response_mode or HttpDispatchMode.SYNC
        metadata["triggerType"] = "requestResponse"
        if self.metadata_response_mode:
            metadata["responseMode"] = mode.lower()
        if mode is not HttpDispatchMode.SYNC:
            metadata["callbackURL"] = request.callback_url
            metadata["secret"] = secret
        return metadata

    def message(self, request: DeliveryRequest, *, secret: str) -> dict[str, Any]:
        """What the receiver gets: the trigger input plus ``_metadata``."""
        body = {**request.input, "_metadata": self.metadata(request, secret=secret)}
        return without_nulls(body) if self.drops_nulls else body

    def check_size(
        self,
        config: ConfigT,
        request: DeliveryRequest,
        *,
        subscription_id: str,
        settings: Settings,
        secret: str,
    ) -> None:
        """Raise ``PayloadTooLarge`` for a message this destination could never take (no limit by default).

        The fan-out calls it before any start, with a stand-in id and secret of the real lengths."""

    @abstractmethod
    def activity(self, resources: DeliveryResources) -> DeliveryActivity[Any]:
        """The delivery activity (named ``activity_name``) on a worker's shared resources."""


DestinationT = TypeVar("DestinationT", bound=Destination[Any])


class DeliveryActivity(Generic[DestinationT]):
    """A destination's activity class: its ``@activity.defn`` method is named like the activity, and
    what it holds open (connections, clients) is closed with the worker (``aclose``)."""

    def __init__(self, destination: DestinationT, resources: DeliveryResources) -> None:
        self.destination = destination
        self.resources = resources

    @property
    def definition(self) -> Callable[..., Any]:
        """The method the worker registers: the one named ``destination.activity_name``."""
        method: Callable[..., Any] = getattr(self, self.destination.activity_name)
        return method

    async def aclose(self) -> None:
        """Nothing held open by default."""

    async def target(self, request: DeliveryRequest) -> tuple[Subscription, str]:
        """The subscription (credentials included) and the invocation secret, read and derived at delivery
        time so neither enters workflow history; first, the subscription's rate limit lets it go now or
        ends the attempt with how long to wait."""
        subscription = await self.resources.subscriptions.get(request)
        if subscription.maxDeliveriesPerSecond is not None:
            await self.resources.limiter.admit(request, limit=subscription.maxDeliveriesPerSecond)
        return subscription, invocation_secret(
            server_key=self.resources.server_key, invocation_id=request.invocation_id
        )


def _get(document: dict[str, Any], path: SecretPath) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _holder(document: dict[str, Any], path: SecretPath) -> dict[str, Any] | None:
    holder = _get(document, path[:-1])
    return holder if isinstance(holder, dict) else None
