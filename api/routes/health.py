"""Probes: ``/health`` says the process answers (liveness), ``/ready`` that it can serve (readiness)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import StateDep
from event_triggers.errors import Unavailable

router = APIRouter(tags=["Health"])


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    problems: dict[str, str] | None = None
    """What does not answer (``store``, ``temporal``) and why; only when unavailable."""


@router.get("/health")
async def health() -> dict[str, str]:
    """200 while the process answers; checks nothing else, so a slow database never gets it restarted."""
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        200: {"model": Readiness, "description": "The store and Temporal answer."},
        503: {"model": Readiness, "description": "The store or Temporal does not answer."},
    },
)
async def ready(state: StateDep) -> JSONResponse:
    """200 only when both the store and Temporal answer; 503 names what does not."""
    problems: dict[str, str] = {}
    try:
        await state.store.ping()
    except Exception as exc:
        problems["store"] = str(exc)
    try:
        await state.temporal.check()
    except Unavailable as exc:
        problems["temporal"] = exc.message
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})
