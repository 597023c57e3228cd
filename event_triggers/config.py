"""Settings, read from the environment (prefix ``EVENT_TRIGGERS_``) or a ``.env`` file."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the service; the defaults make a single-machine dev stack."""

    model_config = SettingsConfigDict(env_prefix="EVENT_TRIGGERS_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".event-triggers")
    database_url: str | None = None
    """SQLAlchemy async URL; default: a SQLite file in ``data_dir``."""
    schema_wait: timedelta = timedelta(seconds=30)
    """How long the API and workers wait at start for ``event-triggers setup`` to migrate the store."""

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str | None = None
    """The Temporal Web UI's address; the Administration UI links each invocation to its workflow there."""
    task_queue: str = "event-triggers"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    """Largest request body the API reads (1 MiB); a larger one is refused with 413 before parsing."""
    public_base_url: str | None = None
    """Base URL subscribers use for callbacks; required outside dev mode (there: ``http://{api_host}:{api_port}``)."""

    catalog_dirs: list[Path] = Field(default_factory=list)
    """Extra directories of trigger definitions (``*.json``), added to the built-in catalog."""

    server_key: str | None = None
    """Base64 HMAC key (>= 32 bytes) that derives invocation secrets; dev mode: a key file in ``data_dir``."""

    secret_keys: str | None = None
    """Keys that encrypt credentials at rest, ``kid:base64,...`` (first is current); dev mode: a key file."""

    payload_encryption_keys: str | None = None
    """``kid:base64,...`` (first is current): encrypt workflow payloads (AES-GCM codec) on every client."""
    codec_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"]
    )
    """Web UI origins allowed to call the codec endpoint from the browser."""

    token_signing_key: str | None = None
    """Base64 HMAC key (>= 32 bytes) that signs access tokens; dev mode: a key file in ``data_dir``."""
    token_ttl: timedelta = timedelta(hours=1)

    dev_mode: bool = False
    """Set by ``event-triggers dev``: loopback subscribers allowed, key files and a callback URL made up."""
    destination_allowlist: list[str] = Field(default_factory=list)
    """CIDRs that deliveries may reach although private/loopback/link-local (SSRF guard)."""

    signing_secret_grace: timedelta = timedelta(hours=24)
    """After a rotation, deliveries are signed with the old secret too for this long."""

    # Delivery
    delivery_timeout: timedelta = timedelta(seconds=10)
    retry_initial_interval: timedelta = timedelta(seconds=5)
    retry_backoff: float = 2.0
    retry_max_interval: timedelta = timedelta(hours=1)
    fire_and_forget_retry_window: timedelta = timedelta(hours=24)
    eventbridge_source_prefix: str = "event-triggers"

    # Dead endpoints (docs/operator-loop.md, "Dead endpoints")
    auto_disable_after: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    """ISO-8601 duration (``P1D``): a subscription whose invocations have failed continuously this long..."""
    auto_disable_min_failures: int = Field(default=10, ge=1)
    """...and at least this many times is disabled, its new events kept waiting until it is enabled."""

    # Invocation engine (docs/invocations.md)
    embedded_worker: bool = True
    """Run a worker inside the API process too, which lets starts be eager (no round trip to a worker)."""
    workflow_task_timeout: timedelta = timedelta(seconds=10)
    """How long Temporal waits for a worker that took a workflow task before giving it to another: what a
    killed process costs its in-flight invocations (Temporal's default; lower it with CPU to spare)."""
    local_delivery: bool = True
    """Deliver as a local activity: fewer Temporal round trips per invocation, shorter histories."""
    worker_max_concurrent_deliveries: int = Field(default=200, ge=2)
    """Deliveries one worker process runs at once (its workflow task, activity and local activity slots
    and HTTP connections). A local delivery holds its workflow task until the subscriber answers, and an
    eager start needs a free slot, so this bounds deliveries in flight, not CPU (docs/scaling.md)."""
    max_concurrent_starts: int = Field(default=100, ge=1)
    """Workflow starts one process has in flight at once (each one ``StartWorkflowExecution``); more wait
    their turn. An event fanned out to many subscriptions is then started at the pace of as many separate
    producer requests, so the embedded worker takes its starts eagerly and delivers while the rest start,
    instead of one burst of starts queueing at Temporal (docs/scaling.md)."""
    eager_start_wait: timedelta = timedelta(seconds=5)
    """How long a start waits for a free workflow task slot of the embedded worker, so its first workflow
    task runs here at once (eager start); after that it starts anyway and Temporal queues the task for a
    poller. Without the wait, pollers take every slot that frees during a burst and half the starts queue
    (docs/scaling.md, "Eager starts take the turn")."""
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    """Invocations a worker keeps in memory between workflow tasks (Temporal's sticky cache); one that was
    evicted replays its short history when its callback or retry timer arrives."""
    worker_inline_activations: bool = True
    """Run workflow activations on the event loop's thread rather than the SDK's thread pool: no thread
    hand-off per workflow task (8 % more deliveries per second), at the price of the SDK's deadlock
    detection (``event_triggers/inline_activations.py``)."""
    complete_rpc_timeout: timedelta = timedelta(seconds=5)
    """How long a callback waits for a worker to take the ``complete`` Update before answering 503."""
    replay_rate: float = Field(default=10, gt=0)
    """Redeliveries a replay starts per second at most (docs/operator-loop.md, "Replay everything that
    failed"); each replay keeps the rate it started with."""

    # Observability (docs/observability.md)
    metrics_enabled: bool = True
    """Record Prometheus metrics; the API serves them on ``/metrics``."""
    worker_metrics_port: int | None = None
    """Port of the worker process's Prometheus endpoint (``/metrics``); none when unset."""
    worker_metrics_host: str = "127.0.0.1"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (time, level, logger, message, invocation ids where known)."""
    log_level: str = "INFO"

    @property
    def invocation_retention(self) -> timedelta:
        """How long finished invocations must stay readable (the Temporal namespace retention): a failed
        streak must be inspectable and replayable for the whole auto-disable period, plus a day."""
        return self.auto_disable_after + timedelta(days=1)

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database in ``data_dir``, used when no ``database_url`` is set."""
        return None if self.database_url else self.data_dir.resolve() / "event-triggers.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_file}"

    @property
    def delivery_allowlist(self) -> list[str]:
        loopback = ["127.0.0.0/8", "::1/128"] if self.dev_mode else []
        return [*self.destination_allowlist, *loopback]

    @property
    def callback_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
