"""Templates, security headers and HTML error pages shared by every UI page."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.ui.session import LoginRequired, UiSession
from event_triggers.destinations.registry import DESTINATIONS
from event_triggers.errors import DomainError, Unavailable
from event_triggers.models import WireModel

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=_HERE / "templates")


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


def _timestamp(value: datetime | None, zone: str = " UTC") -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") + zone if value else ""


def _destination_target(subscription: WireModel) -> str:
    """Where a subscription's deliveries go, as its destination describes it (one place for every type)."""
    destination = DESTINATIONS.get(getattr(subscription, "type", ""))
    return destination.target_text(subscription) if destination else ""


templates.env.filters["pretty_json"] = _pretty_json
templates.env.filters["destination_target"] = _destination_target
templates.env.filters["timestamp"] = _timestamp
templates.env.filters["path"] = lambda value: quote(str(value), safe="")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    session: UiSession | None,
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"session": session, **context}, status_code=status_code
    )


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: see the result with a GET (a reload repeats nothing)."""
    return RedirectResponse(url, status_code=303)


class UiRoute(APIRoute):
    """A UI page: security headers on every answer; a problem becomes an HTML page, not a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect(f"/ui/login?next={quote(target, safe='')}")
            except DomainError as problem:
                response = render(
                    request,
                    "error.html",
                    {"message": problem.message},
                    session=None,
                    status_code=problem.status_code,
                )
                if isinstance(problem, Unavailable):
                    response.headers["Retry-After"] = str(problem.retry_after)
            except RequestValidationError as invalid:
                error = invalid.errors()[0]
                field = ".".join(str(part) for part in error.get("loc", ())[1:])
                response = render(
                    request,
                    "error.html",
                    {"message": f"{field}: {error.get('msg', 'is invalid')}"},
                    session=None,
                    status_code=400,
                )
            response.headers.update(SECURITY_HEADERS)
            return response

        return handle
