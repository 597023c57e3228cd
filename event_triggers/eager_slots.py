"""Workflow task slots of a worker that shares its process (and client) with the API's starts.

A start with ``request_eager_start`` runs its first workflow task in this process only if a slot is free at
that moment; otherwise Temporal queues the task and a poller fetches it later, which costs the server a task
write, a match and a poll more. Under a steady burst the pollers, which wait for slots, take every slot
that frees first, and the eager share falls to about half. ``EagerStartSlots`` gives starts the turn: a
start waits (up to ``EVENT_TRIGGERS_EAGER_START_WAIT``) for a slot it can claim, and pollers take a slot
only when no start waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)


class EagerStartSlots(CustomSlotSupplier):
    """A fixed number of workflow task slots where waiting starts go before pollers.

    The SDK calls ``try_reserve_slot``, ``mark_slot_used`` and ``release_slot`` from its own threads, so
    the counts are guarded by a lock and waiters are woken on the event loop thread."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._used = 0
        self._working = 0
        """Slots running a task (a reserved slot may be an idle poll, which frees no slot soon)."""
        self._starting = 0
        """Starts admitted whose eager reservation may still come: their slots are spoken for."""
        self._waiting_starts = 0
        self.eager_taken = 0
        """Eager starts that found a slot (their first workflow task ran here at once)."""
        self.eager_refused = 0
        """Eager starts that found none (Temporal queued their first workflow task for a poller)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._freed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def start_turn(self, *, wait: timedelta) -> AsyncIterator[None]:
        """Hold a slot for one eager start (its ``start_workflow`` call runs inside). Without one after
        ``wait``, or at once when no slot runs a task (idle polls hold them all), the start goes ahead
        and Temporal queues its first task."""
        self._loop = asyncio.get_running_loop()
        admitted = self._admit_start()
        if not admitted and self._slot_will_free():
            self._waiting_starts += 1
            try:
                async with asyncio.timeout(wait.total_seconds()):
                    while not (admitted := self._admit_start()) and self._slot_will_free():
                        await self._next_release()
            except TimeoutError:
                pass
            finally:
                self._waiting_starts -= 1
        try:
            yield
        finally:
            if admitted:
                with self._lock:
                    self._starting -= 1
                self._wake()

    def _slot_will_free(self) -> bool:
        """Some slot runs a task or is about to (an admitted start's); idle polls may hold the rest for
        up to a minute."""
        return self._working + self._starting > 0

    def _admit_start(self) -> bool:
        with self._lock:
            if self._used + self._starting >= self._capacity:
                return False
            self._starting += 1
            return True

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        """A poller's slot: only when no start waits for one and none is spoken for."""
        self._loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._waiting_starts == 0 and self._used + self._starting < self._capacity:
                    self._used += 1
                    return SlotPermit()
            await self._next_release()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        """An eager start's slot (an admitted start's is free by construction)."""
        with self._lock:
            if self._used >= self._capacity:
                self.eager_refused += 1
                return None
            self._used += 1
            self.eager_taken += 1
            return SlotPermit()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        with self._lock:
            self._working += 1

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self._used -= 1
            if ctx.slot_info is not None:
                self._working -= 1
        self._wake()

    async def _next_release(self) -> None:
        self._freed.clear()
        await self._freed.wait()

    def _wake(self) -> None:
        """Wake every waiter on the event loop's thread, whichever thread released the slot."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._freed.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
                loop.call_soon_threadsafe(self._freed.set)
