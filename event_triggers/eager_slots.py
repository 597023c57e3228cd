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
from collections import deque
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
    the counts are guarded by a lock and waiters are woken on the event loop thread: in arrival order, only
    as many as there are free slots (a burst keeps up to ``max_concurrent_starts`` starts waiting; waking
    all of them at every release cost 50-100 futile wake-ups per delivery)."""

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
        self._start_waiters: deque[asyncio.Future[None]] = deque()
        self._poll_waiters: deque[asyncio.Future[None]] = deque()

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
                        await self._next_release(self._start_waiters)
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
            await self._next_release(self._poll_waiters)

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

    async def _next_release(self, waiters: deque[asyncio.Future[None]]) -> None:
        waiter = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # woken, then cancelled: the wake goes on
                self._wake_waiters()
            raise

    def _wake(self) -> None:
        """Wake the waiters a release lets in, on the event loop's thread, whichever thread released."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_waiters()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
                loop.call_soon_threadsafe(self._wake_waiters)

    def _wake_waiters(self) -> None:
        """Starts first, one per free slot (all of them once no slot will free: they go ahead without
        one); pollers only with slots left over and no start queued. A woken waiter checks again."""
        with self._lock:
            free = self._capacity - self._used - self._starting
            stuck = not self._slot_will_free()
        woken = _wake_first(self._start_waiters, len(self._start_waiters) if stuck else free)
        if not self._start_waiters:
            _wake_first(self._poll_waiters, free - woken)


def _wake_first(waiters: deque[asyncio.Future[None]], count: int) -> int:
    """Wake up to ``count`` of ``waiters`` in arrival order (skipping those that left); how many woke."""
    woken = 0
    while woken < count and waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            woken += 1
    return woken
