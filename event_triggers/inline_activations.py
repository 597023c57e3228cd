"""Workflow activations on the event loop's own thread, instead of the SDK's thread pool.

The SDK hands every workflow activation to a thread and waits for it, so it can report a workflow that
blocks for 2 s (deadlock detection). Each hand-off costs thread switches under the GIL while the loop is
busy with HTTP and deliveries: inline, ``bench.throughput`` delivered 8 % more per second (CPU per delivery
8.9 -> 8.3 ms) and a SYNC start-and-wait answered 0.4-1.2 ms sooner at p50 (bench/README.md). Our workflows
do no I/O and run unsandboxed (replay tests guard their determinism), so they run inline; the price is
that a workflow stuck in a loop would stall the process instead of failing its task.
``EVENT_TRIGGERS_WORKER_INLINE_ACTIVATIONS=false`` restores the thread pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class InlineActivations(ThreadPoolExecutor):
    """A ``workflow_task_executor`` that starts no thread: each activation runs in the next turn of the
    calling event loop (as the SDK's own debug mode runs them), outside the task that asked for it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="unused_")

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
