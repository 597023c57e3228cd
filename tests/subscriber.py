"""A real HTTP subscriber on a loopback port, for tests and benchmarks.

It records every request and answers from a script per path (status, JSON body, headers, delay), so a
test can make a subscriber fail twice then succeed, hold a request, or answer slowly.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    """JSON-encoded unless it is ``bytes``."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Subscriber:
    """Serve with ``async with Subscriber() as subscriber``; give each test its own path via ``new_path``."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._by_path: dict[str, list[ReceivedRequest]] = {}
        self._delivery_ids: dict[str, set[str]] = {}
        self._scripts: dict[str, deque[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.base_url = ""

    def new_path(self, *replies: Reply, default: Reply | None = None) -> str:
        """A fresh path answering ``replies`` in order, then ``default`` (200 ``{}`` unless given)."""
        path = f"/hook/{uuid.uuid4().hex}"
        self._scripts[path] = deque(replies)
        self._defaults[path] = default or Reply()
        return path

    def url(self, path: str) -> str:
        return self.base_url + path

    def received(self, path: str) -> list[ReceivedRequest]:
        return list(self._by_path.get(path, ()))

    async def wait_for(self, path: str, count: int = 1, *, within: float = 15.0) -> list[ReceivedRequest]:
        """The first ``count`` requests to ``path``, waiting for them up to ``within`` seconds."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self._by_path.get(path, ())) >= count)
        return self.received(path)[:count]

    def deliveries(self, path: str) -> int:
        """How many distinct deliveries reached ``path``: each attempt of one carries the same
        ``webhook-id`` (the invocation id), so a delivery repeated by a retried workflow task counts once."""
        return len(self._delivery_ids.get(path, ()))

    async def wait_for_deliveries(self, path: str, count: int, *, within: float = 15.0) -> None:
        """Until ``count`` distinct deliveries reached ``path`` (see ``deliveries``)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.deliveries(path) >= count)

    def _next_reply(self, path: str) -> Reply:
        script = self._scripts.get(path)
        if script:
            return script.popleft()
        return self._defaults.get(path, Reply(status=404, body={"error": "unknown path"}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away mid-request (e.g. a killed worker): nothing was delivered
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        request = ReceivedRequest(scope["path"], headers, b"".join(chunks), time.monotonic())
        reply = self._next_reply(scope["path"])
        async with self._changed:
            self.requests.append(request)
            self._by_path.setdefault(request.path, []).append(request)
            if "webhook-id" in headers:
                self._delivery_ids.setdefault(request.path, set()).add(headers["webhook-id"])
            self._changed.notify_all()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        response_headers = {"content-type": "application/json", **reply.headers}
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(key.encode(), value.encode()) for key, value in response_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __aenter__(self) -> Subscriber:
        config = uvicorn.Config(self, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
