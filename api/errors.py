"""Every 4xx/5xx carries SailPoint's error body: ``{detailCode, trackingId, messages[], causes[]}``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from event_triggers.errors import DomainError, Unauthorized, Unavailable

logger = logging.getLogger(__name__)

_DETAIL_CODES = {
    400: "400.1 Bad Request Content",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not found",
    405: "405 Method not allowed",
    409: "409 Conflict",
    410: "410 Gone",
    413: "413 Payload too large",
    415: "415 Unsupported media type",
    429: "429 Too Many Requests",
    500: "500.0 Internal Fault",
    503: "503 Service unavailable",
}


def _message(text: str) -> dict[str, str]:
    return {"locale": "en-US", "localeOrigin": "DEFAULT", "text": text}


def error_response(
    status_code: int, text: str, *, headers: dict[str, str] | None = None, causes: Sequence[str] = ()
) -> JSONResponse:
    body = {
        "detailCode": _DETAIL_CODES.get(status_code, str(status_code)),
        "trackingId": uuid.uuid4().hex,
        "messages": [_message(text)],
        "causes": [_message(cause) for cause in causes],
    }
    return JSONResponse(body, status_code=status_code, headers=headers)


TOO_DEEP_TO_PARSE = "nests objects and arrays too deep to parse"
"""A JSON body nested about a thousand levels deep: Python's parser recurses per level and gives up."""


def _describe_validation_error(exc: RequestValidationError) -> str:
    error = exc.errors()[0]
    location = [str(part) for part in error.get("loc", ())]
    if location and location[0] in ("body", "query", "path", "header"):
        location = location[1:]
    field = ".".join(location) or "body"
    if error.get("type") == "json_invalid":
        return f"body: malformed JSON ({error.get('ctx', {}).get('error', 'cannot parse')})"
    reason = "is required" if error.get("type") == "missing" else error.get("msg", "is invalid")
    return f"{field}: {reason}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        headers = None
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(exc.status_code, exc.message, headers=headers, causes=exc.causes)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's "error parsing the body", said precisely
            detail = f"body: {TOO_DEEP_TO_PARSE}"
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the tracking id identifies it in the server log")
