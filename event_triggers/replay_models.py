"""Models of replays: the API's wire shapes and what ``ReplayWorkflow`` and its activities exchange.

A replay redelivers every invocation that matches a filter (docs/operator-loop.md, "Replay everything
that failed"). Nothing here carries a secret: the inputs are ids, statuses and times.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from event_triggers.invocation_models import InvocationStatus
from event_triggers.models import WireModel

REPLAY_WORKFLOW_TYPE = "ReplayWorkflow"
UPDATE_CANCEL = "cancel"
MEMO_REPLAY = "replay"
"""Memo key of the replay's progress (a ``Replay``), kept current after each batch."""
LIST_ORIGINALS = "list_replay_originals"
REDELIVER_ORIGINALS = "redeliver_replay_batch"
DEFAULT_STATUSES = (InvocationStatus.FAILED, InvocationStatus.TIMED_OUT)
PAGE_SIZE = 100
"""Originals read from visibility at a time; also the largest batch one activity redelivers."""
HISTORY_LIMIT = 2000
"""History events after which a replay continues as new (a batch costs about a dozen)."""


class ReplayStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"


class ReplayBody(WireModel):
    """``POST /trigger-invocations/v1/replays``: which finished invocations to redeliver."""

    triggerId: str | None = None
    subscriptionId: str | None = None
    statuses: list[InvocationStatus] = Field(default_factory=lambda: list(DEFAULT_STATUSES))
    from_: AwareDatetime = Field(alias="from")
    """Invocations created at or after this time (ISO 8601 with an offset, e.g. ``Z``)."""
    to: AwareDatetime
    """... and before this one."""


class Replay(BaseModel):
    """Where a replay stands: ``total`` originals matched, ``replayed`` were redelivered, ``failed`` could
    not be (their subscription was deleted, say)."""

    id: str
    status: ReplayStatus
    total: int
    replayed: int
    failed: int


class ReplayFilter(BaseModel):
    """The originals of a replay: finished invocations created in [``created_from``, ``created_to``) that
    closed before the replay started (so its own redeliveries never match)."""

    trigger_id: str | None
    subscription_id: str | None
    statuses: list[InvocationStatus]
    created_from: datetime
    created_to: datetime
    closed_before: datetime


class ReplayCursor(BaseModel):
    """How far a replay has read: what continue-as-new carries to the next run."""

    page_token: str | None = None
    """Visibility's token for the next page (base64); None before the first page and after the last."""
    pending: list[str] = Field(default_factory=list)
    """Originals of the page read last that are not redelivered yet."""
    listed: int = 0
    """Originals read from visibility so far."""
    listed_all: bool = False


class ReplayRequest(BaseModel):
    """Input of ``ReplayWorkflow`` (the first run's, or the next run's after continue-as-new)."""

    replay_id: str
    filter: ReplayFilter
    rate: float
    """Redeliveries per second at most (``EVENT_TRIGGERS_REPLAY_RATE`` when the replay started)."""
    progress: Replay
    cursor: ReplayCursor = Field(default_factory=ReplayCursor)
    page_size: int = PAGE_SIZE
    history_limit: int = HISTORY_LIMIT


class ReplayPageRequest(BaseModel):
    """Input of the activity that reads one page of originals from visibility."""

    filter: ReplayFilter
    page_size: int
    page_token: str | None


class ReplayPage(BaseModel):
    original_ids: list[str]
    next_page_token: str | None
    """None on the last page."""


class ReplayBatch(BaseModel):
    """Input of the activity that redelivers a batch of originals."""

    replay_id: str
    original_ids: list[str]


class Redelivered(BaseModel):
    original_id: str
    invocation_id: str


class NotRedelivered(BaseModel):
    original_id: str
    reason: str


class ReplayBatchOutcome(BaseModel):
    redelivered: list[Redelivered] = Field(default_factory=list)
    """Each original's redelivery, started now or by an earlier attempt of the same replay."""
    not_redelivered: list[NotRedelivered] = Field(default_factory=list)
