"""Workflow activations on the event loop's own thread, instead of the SDK's thread pool.

The SDK hands every workflow activation to a thread and waits for it, so it can report a workflow that
blocks for 2 s (deadlock detection). Each hand-off costs thread switches under the GIL while the loop is
busy with HTTP and deliveries: inline, ``bench.throughput`` delivered 8 % more per second (CPU per delivery
8.9 -> 8.3 ms) and a SYNC start-and-wait answered 0.4-1.2 ms sooner at p50 (bench/README.md). Our workflows
do no I/O and run unsandboxed (replay tests guard their determinism), so they run inline; the price is
that a workflow stuck in a loop would stall the process instead of failing its task, so ``watch_loop``
logs the loop thread's stack when the loop stops answering (what the SDK's deadlock detection would have
reported). ``EVENT_TRIGGERS_WORKER_INLINE_ACTIVATIONS=false`` restores the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

BLOCKED_AFTER = 2.0
"""Seconds without a turn of the event loop before ``watch_loop`` reports it (the SDK's deadlock timeout)."""

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class InlineActivations(ThreadPoolExecutor):
    """A ``workflow_task_executor`` that starts no thread: each activation runs in the next turn of the
    calling event loop (as the SDK's own debug mode runs them), outside the task that asked for it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        loop = asyncio.get_running_loop()
        future: Future[T] = Future()

        def activate() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the SDK reads the activation's failure from the future
                future.set_exception(exc)
            finally:
                # A workflow instance is an event loop of its own: it takes over the running-loop slot
                # while it activates and clears it when done.
                asyncio._set_running_loop(loop)

        loop.call_soon(activate)
        return future


@asynccontextmanager
async def watch_loop(*, blocked_after: float = BLOCKED_AFTER) -> AsyncIterator[None]:
    """While open, a thread checks that the running loop takes a turn at least every ``blocked_after``
    seconds and logs an error with the loop thread's stack once per stall (inline, a stuck workflow
    activation stalls the loop; the stack names it)."""
    loop_thread = threading.get_ident()
    last_turn = time.monotonic()
    stopped = threading.Event()

    async def beat() -> None:
        nonlocal last_turn
        while True:
            last_turn = time.monotonic()
            await asyncio.sleep(blocked_after / 4)

    def watch() -> None:
        reported = False
        while not stopped.wait(blocked_after / 4):
            stalled = time.monotonic() - last_turn
            if stalled < blocked_after:
                reported = False
            elif not reported:
                reported = True
                frame = sys._current_frames().get(loop_thread)
                stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)"
                logger.error(
                    "the event loop has not taken a turn for %.1f s; its thread is at:\n%s", stalled, stack
                )

    beating = asyncio.create_task(beat())
    watcher = threading.Thread(target=watch, name="loop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stopped.set()
        beating.cancel()
        watcher.join()
