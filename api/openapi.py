"""The OpenAPI document as the API behaves: every error status an operation answers, with SailPoint's error
body, and no FastAPI 422 (validation problems are 400s here); Swagger UI served from a packaged copy."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

DOCS_ASSETS = "/docs/assets"
_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


class ErrorMessage(BaseModel):
    locale: str | None
    localeOrigin: Literal["DEFAULT", "REQUEST"] | None
    text: str


class ErrorResponse(BaseModel):
    """SailPoint's error body, on every 4xx and 5xx."""

    detailCode: str
    trackingId: str
    messages: list[ErrorMessage]
    causes: list[ErrorMessage]


_DESCRIPTIONS = {
    400: "A field, parameter or body is invalid; the message names it and the reason.",
    401: "No valid access token (or, for a callback, a wrong invocation secret).",
    403: "The access token lacks the scope this operation needs.",
    404: "No such resource.",
    409: "Conflicts with the resource's state (a limit reached, an invocation already completed).",
    410: "The invocation's deadline has passed.",
    413: "The body is over EVENT_TRIGGERS_MAX_REQUEST_BYTES, or carries more than an invocation can.",
    415: "The body has another media type than the operation reads.",
    503: "Temporal did not answer in time, or a start failed part-way (the causes name each subscription); "
    "retry after Retry-After seconds.",
}

AUTHENTICATED = (401, 403)
"""What every route behind a bearer token can answer."""
WITH_BODY = (400, 413, 415)
"""What every route that reads a body can answer."""


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the given error statuses, each with the error body."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in sorted(set(codes))}


def _without_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 on every operation with parameters; this API answers 400 instead."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """The truthful document at ``/openapi.json`` and Swagger UI at ``/docs``, no CDN needed."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _without_validation_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )
