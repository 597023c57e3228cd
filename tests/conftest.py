"""Shared fixtures: a real Temporal dev server, SQLite and PostgreSQL databases, the API on loopback."""

from __future__ import annotations

import asyncio
import gc
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.subscription_reader import SubscriptionReader
from api.main import create_app
from api.state import AppState
from event_triggers.catalog import load_catalog
from event_triggers.clients import NewClient, create_client
from event_triggers.config import Settings
from event_triggers.destinations.base import DeliveryResources
from event_triggers.keys import PAYLOAD_ENCRYPTION_KEYS, generate_keys, load_server_key
from event_triggers.migrations import upgrade_schema
from event_triggers.rate_limits import DeliveryRateLimiter
from event_triggers.security.client_credentials import SCOPES
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.temporal import SEARCH_ATTRIBUTES, temporal_cli_path
from tests.subscriber import Subscriber
from tests.worker_process import WorkerProcesses
from worker import delivery_http_client

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_KEY_ENVIRONMENT = {
    name: value for name, value in generate_keys().items() if name != PAYLOAD_ENCRYPTION_KEYS
}
"""The key settings every test process shares, as replicas do (payload encryption stays off)."""
TEST_KEYS = {
    name.removeprefix("EVENT_TRIGGERS_").lower(): value for name, value in TEST_KEY_ENVIRONMENT.items()
}
"""The same, as ``Settings`` fields."""


@pytest.fixture(scope="module", autouse=True)
def collected_between_modules() -> Iterator[None]:
    """Collect each module's garbage after it, then freeze what survives.

    The subscriber and the in-process API share this process with every test before them; without this,
    late in the suite one full collection walked the whole heap for up to 4.8 s (32.6 s of pauses in a
    497 s run), stalling them mid-test: a rate limit test saw a burst of arrivals that the workers never
    sent. Frozen objects are never walked again, so each collection walks one module's objects."""
    yield
    gc.collect()
    gc.freeze()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {result!r})")
        await asyncio.sleep(interval)


@asynccontextmanager
async def delivery_resources(settings: Settings, store: Store) -> AsyncIterator[DeliveryResources]:
    """What a worker gives its delivery activities, for running one activity on its own."""
    async with delivery_http_client(settings) as http_client:
        yield DeliveryResources(
            settings=settings,
            catalog=load_catalog(),
            subscriptions=SubscriptionReader(SubscriptionReads(store)),
            http_client=http_client,
            destination_policy=DestinationPolicy(settings.delivery_allowlist),
            server_key=load_server_key(settings),
            limiter=DeliveryRateLimiter(store),
        )


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        ui=False,
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture(scope="module")
async def subscriber() -> AsyncIterator[Subscriber]:
    """A real HTTP subscriber on loopback, one per test module (each test uses its own paths)."""
    async with Subscriber() as running:
        yield running


async def access_token(http: httpx.AsyncClient, client: NewClient) -> str:
    """The client's access token from ``POST /oauth/token`` (client credentials) on ``http``'s API."""
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@asynccontextmanager
async def postgresql_database() -> AsyncIterator[str]:
    """A PostgreSQL database of its own (empty), dropped on exit."""
    name = f"event_triggers_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own for each test, without schema: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    async with postgresql_database() as url:
        yield url


@pytest.fixture
async def database_url(empty_database_url: str) -> str:
    """``empty_database_url`` migrated as ``event-triggers setup`` does before processes start."""
    await upgrade_schema(empty_database_url)
    return empty_database_url


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite store of the test's own."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await upgrade_schema(url)
    return url


@pytest.fixture
def make_settings(tmp_path: Path, temporal_address: str) -> Callable[..., Settings]:
    """Settings for one test: its own data dir and task queue, fast retries, the session's Temporal."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "temporal_address": temporal_address,
            "task_queue": f"test-{uuid.uuid4().hex[:8]}",
            "retry_initial_interval": "PT0.2S",
            "retry_max_interval": "PT1S",
            "destination_allowlist": ["127.0.0.0/8"],
            **TEST_KEYS,
        }
        values.update(overrides)
        return Settings(**values)

    return make


async def module_settings(
    tmp_path_factory: pytest.TempPathFactory, temporal_address: str, name: str, **overrides: Any
) -> Settings:
    """Settings for an API shared by a whole module: its own SQLite store (migrated) and task queue."""
    data_dir = tmp_path_factory.mktemp(name)
    await upgrade_schema(f"sqlite+aiosqlite:///{data_dir / 'store.db'}")
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'store.db'}",
        "temporal_address": temporal_address,
        "task_queue": f"{name}-{uuid.uuid4().hex[:8]}",
        "destination_allowlist": ["127.0.0.0/8"],
        **TEST_KEYS,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url)


class RunningApi:
    """The real app served by uvicorn on a loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        settings.api_port = self.port
        settings.public_base_url = settings.public_base_url or self.base_url
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningApi:
        self._task = asyncio.create_task(self.server.serve())
        try:
            await wait_until(self._started, timeout=60)  # a first start in a process is slow under load
        except BaseException:
            await self._abandon()
            raise
        return self

    async def _abandon(self) -> None:
        """Stop a server that did not start: left running, it would block the session loop's close."""
        assert self._task is not None
        self.server.should_exit = True
        self._task.cancel()
        await asyncio.wait({self._task}, timeout=10)

    async def _started(self) -> bool:
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the API stopped while starting")
        return bool(self.server.started)

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.app_state
        return state

    async def token(self, *scopes: str) -> str:
        """A real access token: a client created in the store, then POST /oauth/token."""
        client = await create_client(store=self.state.store, name="test", scopes=list(scopes or SCOPES))
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await access_token(http, client)

    async def client(self, *scopes: str) -> httpx.AsyncClient:
        """An HTTP client carrying a token with ``scopes`` (default: every scope)."""
        headers = {"Authorization": f"Bearer {await self.token(*scopes)}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task


@pytest.fixture
async def running_api(settings: Settings) -> AsyncIterator[RunningApi]:
    async with RunningApi(settings) as running:
        yield running


@pytest.fixture
async def api(running_api: RunningApi) -> AsyncIterator[httpx.AsyncClient]:
    async with await running_api.client() as client:
        yield client


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """``event-triggers worker`` processes for this test's ``settings``, all killed when it ends."""
    processes = WorkerProcesses(settings, tmp_path)
    yield processes
    processes.stop_all()
