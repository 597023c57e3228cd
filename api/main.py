"""The REST API: SailPoint Triggers API v1 plus our extensions."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.deps import require_body_media_type
from api.errors import install_error_handlers
from api.middleware import RequestBodyLimit
from api.openapi import install_openapi
from api.routes import codec, health, invocations, metrics, oauth, replays, subscriptions, triggers
from api.state import AppState
from api.ui import install_ui
from event_triggers import __version__
from event_triggers.catalog import load_catalog
from event_triggers.config import Settings, get_settings
from event_triggers.errors import Unavailable
from event_triggers.keys import load_server_key, token_signing_key
from event_triggers.logs import LogIdsMiddleware, configure_logging
from event_triggers.migrations import wait_for_database
from event_triggers.security.ssrf import DestinationPolicy
from event_triggers.startup import check_settings
from event_triggers.store import Store
from event_triggers.subscription_reads import SubscriptionReads
from event_triggers.temporal import TemporalConnection
from event_triggers.tracing import configure_tracing, instrument_app
from worker import delivery_worker

logger = logging.getLogger(__name__)


async def build_state(settings: Settings) -> AppState:
    """Load the catalog (fails fast on a bad definition), open the store, prepare Temporal."""
    catalog = load_catalog(extra_dirs=settings.catalog_dirs)
    store = await Store.open(settings)
    return AppState(
        settings=settings,
        store=store,
        catalog=catalog,
        temporal=TemporalConnection(settings),
        token_signing_key=token_signing_key(settings),
        server_key=load_server_key(settings),
        destinations=DestinationPolicy(settings.delivery_allowlist),
        subscriptions=SubscriptionReads(store),
    )


@asynccontextmanager
async def embedded_worker(state: AppState) -> AsyncIterator[None]:
    """Run a worker in this process when enabled and Temporal answers; eager starts need one here."""
    if not state.settings.embedded_worker:
        yield
        return
    try:
        context = await state.invocation_context()
    except Unavailable as exc:
        logger.warning("no embedded worker, Temporal is unreachable: %s", exc)
        yield
        return
    async with delivery_worker(context) as worker:
        running = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            await worker.shutdown()
            await running


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; refuses (``SettingsError``) settings replicas could not share, before anything starts."""
    app_settings = settings or get_settings()
    check_settings(app_settings, api=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await build_state(app_settings)
        app.state.app_state = state
        try:
            async with embedded_worker(state):
                yield
        finally:
            await state.store.close()

    app = FastAPI(
        title="Event Triggers",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(require_body_media_type)],
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app)
    instrument_app(app)
    if app_settings.log_format == "json":
        app.add_middleware(LogIdsMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=app_settings.codec_cors_origins,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    app.add_middleware(RequestBodyLimit, limit=app_settings.max_request_bytes)
    app.include_router(health.router)
    if app_settings.metrics_enabled:
        app.include_router(metrics.router)
    app.include_router(oauth.router)
    app.include_router(triggers.router)
    app.include_router(subscriptions.router)
    app.include_router(codec.router)
    app.include_router(codec.web_ui_router)
    app.include_router(replays.router)  # before the invocations' /{invocation_id}/... routes
    app.include_router(invocations.router)
    install_ui(app)
    return app


def _stopped_by_sigterm(signal_number: int, frame: FrameType | None) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then raises the signal again; that is a clean stop."""
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    """Serve once the store's schema is current, with this process's log format and tracing (uvicorn's own
    lines go through the same handler). Settings replicas could not share and a bad trigger definition fail
    at once, before the wait for the store; a schema ``event-triggers setup`` did not bring up to date in
    time raises ``SchemaNotReady`` naming it. A SIGTERM ends it with exit status 0 once in-flight requests
    and the embedded worker are done."""
    signal.signal(signal.SIGTERM, _stopped_by_sigterm)
    check_settings(settings, api=True)
    configure_logging(settings)
    load_catalog(extra_dirs=settings.catalog_dirs)
    asyncio.run(wait_for_database(settings.effective_database_url, within=settings.schema_wait))
    configure_tracing("event-triggers-api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        log_level=settings.log_level.lower(),
    )
