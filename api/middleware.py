"""Request body limit: a body over ``EVENT_TRIGGERS_MAX_REQUEST_BYTES`` is refused before any parsing."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


def too_large_message(limit: int) -> str:
    return f"body: larger than the limit of {limit} bytes (EVENT_TRIGGERS_MAX_REQUEST_BYTES)"


class RequestBodyLimit:
    """413 with the error body for a request body over ``limit`` bytes, on every route.

    A declared ``Content-Length`` over the limit is answered at once, without reading the body; a chunked
    body is counted as it arrives and stops the request as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await error_response(413, too_large_message(self.limit))(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                # An HTTPException passes through FastAPI's body parsing to the error handlers.
                raise HTTPException(413, too_large_message(self.limit))
            return message

        await self.app(scope, counting_receive, send)
