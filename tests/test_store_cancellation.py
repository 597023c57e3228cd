"""A store call cancelled half-way (an activity cancelled mid-read) leaves no lock or connection behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from event_triggers.config import Settings
from event_triggers.store import Store
from tests.test_store import bearer_subscription


async def test_reads_cancelled_at_any_point_leave_writes_working(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    store = await Store.open(make_settings(database_url=database_url))
    fields = bearer_subscription("tok")
    try:
        await store.add_subscription(subscription_id="s1", fields=fields, signing_secret="whsec_dGVzdA==")
        for steps in range(40):
            read = asyncio.ensure_future(store.get_subscription("s1"))
            for _ in range(steps):
                await asyncio.sleep(0)
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
            replaced = await asyncio.wait_for(
                store.replace_subscription(subscription_id="s1", fields=fields), timeout=10
            )
            assert replaced.revision == steps + 2
    finally:
        await store.close()
