"""The Administration UI: server-rendered pages under ``/ui`` that call the same domain functions as the
REST routes (no HTTP calls to itself). Templates and static assets ship in this package."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from api.ui import invocation_pages, overview, subscription_pages, trigger_pages
from api.ui.rendering import STATIC_DIR


def install_ui(app: FastAPI) -> None:
    router = APIRouter(prefix="/ui", include_in_schema=False)
    for pages in (overview, trigger_pages, subscription_pages, invocation_pages):
        router.include_router(pages.router)
    router.include_router(subscription_pages.json_router)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
