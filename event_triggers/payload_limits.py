"""What one invocation may carry through Temporal, checked before any RPC so no size error reaches a client.

Temporal refuses a payload over its blob limit and a memo over its memo limit (2 MiB each by default;
``DescribeNamespace`` reports the server's values) and a gRPC message over 4 MiB; a workflow task that
breaks them gets the workflow terminated. An invocation carries its event (input and contentJson) twice at
start, in its input and in its memo, and its answer (output or error) joins that memo and becomes its
result in one workflow task. So the event and the answer each get half of the smaller limit, less a
reserve for the invocation's names, ids and encoding (960 KiB with Temporal's defaults).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core
from pydantic import BaseModel
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from event_triggers.errors import InvalidField, PayloadTooLarge, Unavailable

DEFAULT_BLOB_LIMIT = 2 * 1024 * 1024
"""Temporal's default ``limit.blobSize.error`` and ``limit.memoSize.error``."""
GRPC_MESSAGE_LIMIT = 4 * 1024 * 1024
"""The largest gRPC message a Temporal frontend accepts by default."""
RESERVE = 64 * 1024
"""Room for what an invocation carries besides its event or answer: names, ids, URLs, encoding."""
MAX_NESTING_DEPTH = 64
"""Objects and arrays nested in one document (the catalog's deepest example nests 6). Deeper ones would
fail where they are walked: pydantic serializes at most 254 levels (the data converter, the store), Python
parses and validates about a thousand, and a filter's deep scan recurses through all of them."""


def nesting_depth(value: object) -> int:
    """How many objects and arrays are nested in ``value`` (0 for a scalar), counted level by level rather
    than by recursion so any depth is measured; counting stops one level past ``MAX_NESTING_DEPTH``."""
    depth, level = 0, [value]
    while depth <= MAX_NESTING_DEPTH:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [
            child for item in containers for child in (item.values() if isinstance(item, dict) else item)
        ]
    return depth


def check_nesting(field: str, value: object) -> None:
    """400 naming ``field`` when ``value`` nests objects and arrays deeper than ``MAX_NESTING_DEPTH``."""
    if nesting_depth(value) > MAX_NESTING_DEPTH:
        raise InvalidField(
            field, f"nests objects and arrays more than {MAX_NESTING_DEPTH} levels deep, over the limit"
        )


def json_size(value: object) -> int:
    """Bytes of ``value`` as the data converter writes it (pydantic's compact JSON)."""
    return len(pydantic_core.to_json(value))


@dataclass(frozen=True)
class PayloadLimits:
    blob: int = DEFAULT_BLOB_LIMIT
    memo: int = DEFAULT_BLOB_LIMIT

    @property
    def document(self) -> int:
        """The largest event (input + contentJson) or answer (output or error) one invocation carries."""
        return min(self.blob, self.memo, GRPC_MESSAGE_LIMIT // 2) // 2 - RESERVE

    def check_document(self, field: str, value: object) -> None:
        """413 naming ``field`` and the limit when ``value`` is larger than an invocation can carry."""
        size = json_size(value)
        if size > self.document:
            raise PayloadTooLarge(
                f"{field}: {size} bytes as JSON, over the limit of {self.document} bytes that one "
                "invocation can carry through Temporal"
            )

    def start_problem(self, *, request: BaseModel, memo: Mapping[str, Any]) -> str | None:
        """Why Temporal would refuse this workflow start, or None when it fits.

        The event was checked already; this catches what a stored subscription adds (a row written before
        its fields were bounded), so one subscription cannot make a whole fan-out fail at the RPC.
        """
        request_size, memo_size = json_size(request), json_size(memo)
        if request_size > self.blob:
            return f"its workflow input would be {request_size} bytes, over Temporal's limit of {self.blob}"
        if memo_size > self.memo:
            return f"its memo would be {memo_size} bytes, over Temporal's limit of {self.memo}"
        if request_size + memo_size > GRPC_MESSAGE_LIMIT - RESERVE:
            return f"its start would be {request_size + memo_size} bytes, over gRPC's limit"
        return None


class NamespacePayloadLimits:
    """The namespace's payload limits, asked of the server once per process (they are server settings)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._limits: PayloadLimits | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> PayloadLimits:
        if self._limits is None:
            async with self._lock:
                if self._limits is None:
                    self._limits = await self._describe()
        return self._limits

    async def _describe(self) -> PayloadLimits:
        try:
            described = await self._client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self._client.namespace)
            )
        except RPCError as exc:
            raise Unavailable(f"cannot read the Temporal namespace's limits: {exc.message}") from exc
        reported = described.namespace_info.limits
        return PayloadLimits(
            blob=reported.blob_size_limit_error or DEFAULT_BLOB_LIMIT,
            memo=reported.memo_size_limit_error or DEFAULT_BLOB_LIMIT,
        )
