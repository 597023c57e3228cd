"""Persistence of subscriptions (SQLAlchemy async; SQLite by default, PostgreSQL with the same code).

Credentials (passwords, bearer tokens, signing secrets; each destination says which config fields are
secrets) live in their own column, sealed by a ``SecretSealer`` so they can be encrypted at rest, and are
never part of the stored document. Every change of a subscription bumps its ``revision``, which
invocations carry to name the configuration they use. The schema is Alembic's
(``event_triggers.migrations``): this module never creates tables.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, Protocol, Self, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    Boolean,
    DateTime,
    Double,
    Integer,
    String,
    Text,
    case,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import JSON

from event_triggers.config import Settings
from event_triggers.destinations.base import Destination
from event_triggers.destinations.registry import DESTINATIONS
from event_triggers.keys import secret_box
from event_triggers.migrations import wait_for_schema
from event_triggers.models import SubscriptionFields


class SecretSealer(Protocol):
    """Turns a secret into what the database keeps, and back (``SecretBox``: AES-GCM with key ids)."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, token: str) -> str: ...


class Base(DeclarativeBase):
    pass


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_id: Mapped[str] = mapped_column(String(255), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    credentials: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    modified: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """Dead endpoints: when the current streak of failed invocations began (None: no streak)."""
    failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_failed_invocation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The invocation counted last, so a retried count of the same invocation counts once."""
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeliveryRateRow(Base):
    """The rate limiter's state of one subscription with ``maxDeliveriesPerSecond`` (``rate_limits``).

    Times are epoch seconds of the workers' clocks; a row is written by one statement at a time.
    """

    __tablename__ = "delivery_rate_limits"

    subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Double)
    """The end of the queue: the slot the next reservation gets (or now, if later)."""
    next_start: Mapped[float] = mapped_column(Double)
    """The theoretical time of the next start, from the starts recorded so far (0: none yet)."""


class ApiClientRow(Base):
    """An OAuth2 client; only a salted slow hash of its secret is kept."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SigningSecret(BaseModel):
    """A Standard Webhooks secret; a rotated-out one keeps signing until ``expires``."""

    secret: str
    expires: datetime | None = None


class Subscription(SubscriptionFields):
    """A stored subscription, secrets included (server side only)."""

    id: str
    created: datetime
    modified: datetime
    revision: int = 1
    signingSecrets: list[SigningSecret] = []
    failingSince: datetime | None = None
    """When its current streak of failed invocations began; None while its deliveries succeed."""
    disabledReason: str | None = None
    """Why the product disabled it (None: enabled, or disabled by an operator)."""
    disabledAt: datetime | None = None

    @property
    def paused(self) -> bool:
        """Disabled by the product: its events still start invocations, which wait until it is enabled
        again (an operator's disable drops them, as SailPoint's does)."""
        return not self.enabled and self.disabledReason is not None

    def client_fields(self) -> SubscriptionFields:
        """What a client set, the destination's config included; none of the server-side members."""
        return SubscriptionFields.model_validate(self.model_dump(exclude=_SERVER_SIDE_FIELDS))

    def active_signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with: the current one, plus old ones in their grace period."""
        return [item.secret for item in self.signingSecrets if item.expires is None or item.expires > now]


_SIGNING = "signingSecrets"
_SERVER_SIDE_FIELDS = Subscription.model_fields.keys() - SubscriptionFields.model_fields.keys()


class FailureStreak(BaseModel):
    """A subscription's current run of failed invocations, as counted in the store."""

    since: datetime
    failures: int
    last_failure: str | None
    enabled: bool
    disabled_here: bool
    """It is disabled, and the invocation just counted is the one whose failure disabled it."""


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every one the store writes is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


_NO_STREAK: dict[str, Any] = {
    "failing_since": None,
    "failure_count": 0,
    "last_failure": None,
    "last_failed_invocation": None,
}

MAX_OLD_SIGNING_SECRETS = 3
"""Rotated-out secrets kept signing (each until its grace ends); older ones stop at the next rotation."""


def _destination_config(document: dict[str, Any]) -> tuple[Destination[Any], dict[str, Any]] | None:
    """A stored document's destination and its config object (in place), if both exist."""
    destination = DESTINATIONS.get(document.get("type", ""))
    config = document.get(destination.config_field) if destination else None
    return (destination, config) if destination is not None and isinstance(config, dict) else None


def _split_secrets(document: dict[str, Any]) -> dict[str, str]:
    """Remove the destination's secrets from ``document`` (in place), keyed by dotted path."""
    found = _destination_config(document)
    if found is None:
        return {}
    destination, config = found
    return {
        f"{destination.config_field}.{key}": value for key, value in destination.split_secrets(config).items()
    }


def _merge_secrets(document: dict[str, Any], secrets: dict[str, str]) -> None:
    found = _destination_config(document)
    if found is not None:
        destination, config = found
        prefix = f"{destination.config_field}."
        own = {key.removeprefix(prefix): value for key, value in secrets.items() if key.startswith(prefix)}
        destination.merge_secrets(config, own)


async def _bump_revision(session: AsyncSession, row: SubscriptionRow) -> None:
    """``revision + 1`` computed by the database, so concurrent edits never share a revision."""
    row.revision = SubscriptionRow.revision + 1  # type: ignore[assignment]
    await session.flush()
    await session.refresh(row, ["revision"])


_STARTABLE = or_(SubscriptionRow.enabled.is_(True), SubscriptionRow.disabled_reason.is_not(None))
"""Subscriptions that events start invocations for: enabled, or paused by an automatic disable."""


_Row = TypeVar("_Row", bound=Base)


async def _row_by_key(session: AsyncSession, model: type[_Row], key: str, **options: Any) -> _Row | None:
    """``session.get`` for a key from a request: one no row can have is None without a query. A NUL is
    such a key: no id or client id this service makes holds one, and PostgreSQL refuses it in any text
    (the query would fail, a 500)."""
    if "\x00" in key:
        return None
    return await session.get(model, key, **options)


_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def _completes_when_cancelled(
    method: Callable[Concatenate[Store, _Params], Coroutine[Any, Any, _Result]],
) -> Callable[Concatenate[Store, _Params], Coroutine[Any, Any, _Result]]:
    """A cancelled caller (a delivery activity cancelled mid-read, a client gone) stops waiting, but the
    database work runs to its end: an SQLAlchemy asyncio session cancelled mid-statement keeps its
    connection, and on SQLite the lock, so later writes failed with "database is locked"."""

    @functools.wraps(method)
    async def shielded(store: Store, *args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        return await asyncio.shield(method(store, *args, **kwargs))

    return shielded


class Store:
    """Async data access; one instance per process, sharing one engine."""

    def __init__(self, engine: AsyncEngine, *, sealer: SecretSealer) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.sealer = sealer

    @classmethod
    async def open(cls, settings: Settings) -> Self:
        """The store every process uses: database from settings, credentials sealed, schema current.

        Waits up to ``settings.schema_wait`` for ``event-triggers setup`` to migrate the schema, then
        raises ``SchemaNotReady`` naming it.
        """
        if settings.database_url is None:  # the SQLite file lives in the data dir
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = make_url(settings.effective_database_url)
        # A server may drop pooled connections (a restart, a proxy's idle timeout), so each checkout is
        # pinged first; a SQLite file has no server, and its ping was half the cost of a start's read.
        engine = create_async_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
        try:
            await wait_for_schema(engine, within=settings.schema_wait)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, sealer=secret_box(settings))

    @_completes_when_cancelled
    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()

    def _to_row_values(self, fields: SubscriptionFields, signing: list[SigningSecret]) -> dict[str, Any]:
        document = fields.model_dump(mode="json")
        credentials: dict[str, Any] = _split_secrets(document)
        credentials[_SIGNING] = [item.model_dump(mode="json") for item in signing]
        return {
            "trigger_id": fields.triggerId,
            "enabled": fields.enabled,
            "document": document,
            "credentials": self.sealer.encrypt(json.dumps(credentials)),
        }

    def _from_row(self, row: SubscriptionRow, *, secrets: bool = True) -> Subscription:
        document = json.loads(json.dumps(row.document))
        credentials = json.loads(self.sealer.decrypt(row.credentials)) if secrets and row.credentials else {}
        signing = credentials.pop(_SIGNING, [])
        _merge_secrets(document, credentials)
        document["enabled"] = row.enabled  # the column is the truth: auto-disable writes only the column
        return Subscription(
            id=row.id,
            created=row.created,
            modified=row.modified,
            revision=row.revision,
            signingSecrets=signing,
            failingSince=_aware(row.failing_since),
            disabledReason=row.disabled_reason,
            disabledAt=_aware(row.disabled_at),
            **document,
        )

    @_completes_when_cancelled
    async def add_subscription(
        self, *, subscription_id: str, fields: SubscriptionFields, signing_secret: str
    ) -> Subscription:
        now = datetime.now(UTC)
        values = self._to_row_values(fields, [SigningSecret(secret=signing_secret)])
        row = SubscriptionRow(id=subscription_id, created=now, modified=now, revision=1, **values)
        async with self._sessions.begin() as session:
            session.add(row)
        return self._from_row(row)

    @_completes_when_cancelled
    async def replace_subscription(self, *, subscription_id: str, fields: SubscriptionFields) -> Subscription:
        """Replace what clients set; the signing secrets stay as they are. Enabling a disabled
        subscription clears why it was disabled and starts its failure count afresh."""
        async with self._sessions.begin() as session:
            row = await _row_by_key(session, SubscriptionRow, subscription_id, with_for_update=True)
            if row is None:
                raise KeyError(subscription_id)
            signing = self._from_row(row).signingSecrets
            if fields.enabled and not row.enabled:
                for key, value in {**_NO_STREAK, "disabled_reason": None, "disabled_at": None}.items():
                    setattr(row, key, value)
            for key, value in self._to_row_values(fields, signing).items():
                setattr(row, key, value)
            row.modified = datetime.now(UTC)
            await _bump_revision(session, row)
        return self._from_row(row)

    @_completes_when_cancelled
    async def rotate_signing_secret(
        self, *, subscription_id: str, new_secret: str, grace: timedelta
    ) -> Subscription | None:
        """Make ``new_secret`` current; the previous one signs too until ``now + grace`` (at most
        ``MAX_OLD_SIGNING_SECRETS`` old ones, the newest)."""
        async with self._sessions.begin() as session:
            row = await _row_by_key(session, SubscriptionRow, subscription_id, with_for_update=True)
            if row is None:
                return None
            subscription = self._from_row(row)
            now = datetime.now(UTC)
            kept = [
                SigningSecret(secret=item.secret, expires=item.expires or now + grace)
                for item in subscription.signingSecrets
                if item.expires is None or item.expires > now
            ][:MAX_OLD_SIGNING_SECRETS]
            fields = subscription.client_fields()
            values = self._to_row_values(fields, [SigningSecret(secret=new_secret), *kept])
            row.credentials = values["credentials"]
            row.modified = now
            await _bump_revision(session, row)
        return self._from_row(row)

    @_completes_when_cancelled
    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        async with self._sessions() as session:
            row = await _row_by_key(session, SubscriptionRow, subscription_id)
            return self._from_row(row) if row else None

    @_completes_when_cancelled
    async def list_subscriptions(
        self,
        *,
        trigger_id: str | None = None,
        enabled_only: bool = False,
        startable_only: bool = False,
        secrets: bool = True,
    ) -> list[Subscription]:
        """Subscriptions, newest first; ``startable_only``: those an event starts invocations for, the
        enabled and the paused. ``secrets=False`` leaves the sealed credentials (signing secrets included)
        unread, for lists a person reads: nothing decrypted that the page would not show."""
        query = select(SubscriptionRow).order_by(SubscriptionRow.created.desc(), SubscriptionRow.id)
        if trigger_id is not None:
            query = query.where(SubscriptionRow.trigger_id == trigger_id)
        if enabled_only:
            query = query.where(SubscriptionRow.enabled.is_(True))
        if startable_only:
            query = query.where(_STARTABLE)
        async with self._sessions() as session:
            rows: Sequence[SubscriptionRow] = (await session.scalars(query)).all()
            return [self._from_row(row, secrets=secrets) for row in rows]

    @_completes_when_cancelled
    async def subscription_names(self) -> dict[str, str]:
        """Each subscription's name by id, newest first: for a filter's choices, without building
        every subscription."""
        name = SubscriptionRow.document["name"].as_string()  # extracted by the database, no JSON decoded here
        query = select(SubscriptionRow.id, name).order_by(SubscriptionRow.created.desc(), SubscriptionRow.id)
        async with self._sessions() as session:
            return {id: name or "" for id, name in await session.execute(query)}

    @_completes_when_cancelled
    async def startable_revisions(self, *, trigger_id: str) -> dict[str, int]:
        """The revision of each subscription of a trigger that events start invocations for (enabled or
        paused): one indexed read, nothing decrypted."""
        query = select(SubscriptionRow.id, SubscriptionRow.revision).where(
            SubscriptionRow.trigger_id == trigger_id, _STARTABLE
        )
        async with self.engine.connect() as connection:  # on every start's path: no ORM session
            return {row.id: row.revision for row in await connection.execute(query)}

    @_completes_when_cancelled
    async def record_failure(
        self, *, subscription_id: str, invocation_id: str, error: str, now: datetime
    ) -> FailureStreak | None:
        """Count a failed invocation in its enabled subscription's streak, once per invocation (a retried
        count is a no-op); the streak as it stands, None once the subscription is deleted.

        One conditional UPDATE, so workers counting at once never lose a count. Starting a streak bumps
        the revision, so every process's copy learns that the next success must end it."""
        counted = (
            update(SubscriptionRow)
            .where(
                SubscriptionRow.id == subscription_id,
                SubscriptionRow.enabled.is_(True),
                or_(
                    SubscriptionRow.last_failed_invocation.is_(None),
                    SubscriptionRow.last_failed_invocation != invocation_id,
                ),
            )
            .values(
                failing_since=func.coalesce(SubscriptionRow.failing_since, now),
                failure_count=SubscriptionRow.failure_count + 1,
                last_failure=error,
                last_failed_invocation=invocation_id,
                revision=case(
                    (SubscriptionRow.failing_since.is_(None), SubscriptionRow.revision + 1),
                    else_=SubscriptionRow.revision,
                ),
            )
        )
        async with self._sessions.begin() as session:
            await session.execute(counted)
            row = await session.get(SubscriptionRow, subscription_id, populate_existing=True)
            if row is None:
                return None
            return FailureStreak(
                since=_aware(row.failing_since) or now,
                failures=row.failure_count,
                last_failure=row.last_failure,
                enabled=row.enabled,
                disabled_here=row.disabled_at is not None and row.last_failed_invocation == invocation_id,
            )

    @_completes_when_cancelled
    async def end_failure_streak(self, subscription_id: str) -> bool:
        """A delivery succeeded: forget the subscription's streak, if it has one (bumps the revision)."""
        ended = (
            update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription_id, SubscriptionRow.failing_since.is_not(None))
            .values(**_NO_STREAK, revision=SubscriptionRow.revision + 1)
        )
        async with self._sessions.begin() as session:
            return bool((await session.execute(ended)).rowcount)  # type: ignore[attr-defined]

    @_completes_when_cancelled
    async def disable_subscription(
        self, *, subscription_id: str, reason: str, now: datetime
    ) -> Subscription | None:
        """Disable an enabled subscription for ``reason`` (it is paused, see ``Subscription.paused``);
        None when it was not enabled, so of callers racing one wins."""
        disabled = (
            update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription_id, SubscriptionRow.enabled.is_(True))
            .values(
                enabled=False,
                disabled_reason=reason,
                disabled_at=now,
                modified=now,
                revision=SubscriptionRow.revision + 1,
            )
        )
        async with self._sessions.begin() as session:
            if not (await session.execute(disabled)).rowcount:  # type: ignore[attr-defined]
                return None
            row = await session.get(SubscriptionRow, subscription_id, populate_existing=True)
            return None if row is None else self._from_row(row)

    @_completes_when_cancelled
    async def count_subscriptions(self, *, trigger_id: str) -> int:
        query = (
            select(func.count()).select_from(SubscriptionRow).where(SubscriptionRow.trigger_id == trigger_id)
        )
        async with self._sessions() as session:
            return int((await session.execute(query)).scalar_one())

    @_completes_when_cancelled
    async def delete_subscription(self, subscription_id: str) -> bool:
        async with self._sessions.begin() as session:
            row = await _row_by_key(session, SubscriptionRow, subscription_id)
            if row is None:
                return False
            await session.delete(row)
            await session.execute(delete(DeliveryRateRow).where(DeliveryRateRow.subscription_id == row.id))
        return True

    def _rate_upsert(self, *, subscription_id: str, next_slot: float, next_start: float) -> Any:
        """``INSERT`` of a subscription's first rate limiter row, ``ON CONFLICT`` to be completed."""
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        return insert(DeliveryRateRow).values(
            subscription_id=subscription_id, next_slot=next_slot, next_start=next_start
        )

    @_completes_when_cancelled
    async def reserve_delivery_slot(
        self, *, subscription_id: str, now: float, interval: float, latest: float | None
    ) -> float | None:
        """Take the subscription's next delivery slot: ``now`` if free, else the end of the queue; the
        queue then ends ``interval`` later. None, taking nothing, when that slot is after ``latest``.

        One atomic statement, so workers on any host share one queue per subscription (GCRA)."""
        start = case((DeliveryRateRow.next_slot > now, DeliveryRateRow.next_slot), else_=now)
        statement = (
            self._rate_upsert(subscription_id=subscription_id, next_slot=now + interval, next_start=0.0)
            .on_conflict_do_update(
                index_elements=[DeliveryRateRow.subscription_id],
                set_={"next_slot": start + interval},
                where=None if latest is None else DeliveryRateRow.next_slot <= latest,
            )
            .returning(DeliveryRateRow.next_slot)
        )
        async with self._sessions.begin() as session:
            queue_end = (await session.execute(statement)).scalar_one_or_none()
        return None if queue_end is None else queue_end - interval

    @_completes_when_cancelled
    async def claim_delivery_start(
        self, *, subscription_id: str, now: float, interval: float, burst: float
    ) -> float:
        """Record a delivery starting ``now`` if starts so far conform to one per ``interval`` with
        ``burst`` seconds of tolerance (GCRA on starts), and answer 0; otherwise answer how many seconds
        are left (nothing recorded)."""
        start = case((DeliveryRateRow.next_start > now, DeliveryRateRow.next_start), else_=now)
        statement = (
            self._rate_upsert(
                subscription_id=subscription_id, next_slot=now + interval, next_start=now + interval
            )
            .on_conflict_do_update(
                index_elements=[DeliveryRateRow.subscription_id],
                set_={"next_start": start + interval},
                where=DeliveryRateRow.next_start - burst <= now,
            )
            .returning(DeliveryRateRow.next_start)
        )
        async with self._sessions.begin() as session:
            if (await session.execute(statement)).scalar_one_or_none() is not None:
                return 0.0
            next_start = await session.scalar(
                select(DeliveryRateRow.next_start).where(DeliveryRateRow.subscription_id == subscription_id)
            )
        return max((next_start or 0.0) - burst - now, 0.0)

    @_completes_when_cancelled
    async def add_client(
        self, *, client_id: str, name: str, secret_hash: str, scopes: list[str]
    ) -> ApiClientRow:
        row = ApiClientRow(
            client_id=client_id, name=name, secret_hash=secret_hash, scopes=scopes, created=datetime.now(UTC)
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return row

    @_completes_when_cancelled
    async def get_client(self, client_id: str) -> ApiClientRow | None:
        async with self._sessions() as session:
            return await _row_by_key(session, ApiClientRow, client_id)

    @_completes_when_cancelled
    async def replace_client_secret_hash(self, *, client_id: str, secret_hash: str) -> None:
        async with self._sessions.begin() as session:
            row = await _row_by_key(session, ApiClientRow, client_id)
            if row is not None:
                row.secret_hash = secret_hash

    @_completes_when_cancelled
    async def list_clients(self) -> list[ApiClientRow]:
        async with self._sessions() as session:
            return list((await session.scalars(select(ApiClientRow).order_by(ApiClientRow.created))).all())

    @_completes_when_cancelled
    async def delete_client(self, client_id: str) -> bool:
        async with self._sessions.begin() as session:
            row = await _row_by_key(session, ApiClientRow, client_id)
            if row is None:
                return False
            await session.delete(row)
            return True
