"""The naive design the product is measured against: a workflow per event, one regular activity POSTs it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx


class BarePost:
    def __init__(self, http_client: httpx.AsyncClient) -> None:
        self._http = http_client

    @activity.defn(name="bare_post")
    async def bare_post(self, url: str, body: dict[str, Any]) -> None:
        response = await self._http.post(url, json=body, timeout=10)
        response.raise_for_status()


@workflow.defn(name="BareDelivery")
class BareDelivery:
    @workflow.run
    async def run(self, url: str, body: dict[str, Any]) -> None:
        await workflow.execute_activity(
            "bare_post", args=[url, body], start_to_close_timeout=timedelta(seconds=10)
        )
