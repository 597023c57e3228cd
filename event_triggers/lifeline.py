"""The dev stack's lifeline: a pipe that tells each child of ``event-triggers dev`` that the supervisor died.

The supervisor holds the only write end and never writes; each child holds the read end. However the
supervisor ends (Ctrl-C, ``kill -9``, its terminal closing), the kernel closes the write end and the read
end sees end of file: the child then stops itself (SIGTERM to itself, a hard exit if that has not ended it
within ``ORPHAN_GRACE``). So no server outlives the stack and keeps its port. The API and the worker watch
the pipe in a thread; the Temporal CLI cannot, so it runs under ``python -m event_triggers.lifeline``, a
guard that watches for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

ORPHAN_GRACE = 3.0
"""How long an orphaned child may take to stop cleanly before it is ended hard."""
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _wait_for_end_of_file(fd: int) -> None:
    while os.read(fd, 1):
        pass


def _watch(fd: int, on_orphaned: Callable[[], None]) -> None:
    def run() -> None:
        _wait_for_end_of_file(fd)
        on_orphaned()

    threading.Thread(target=run, name="lifeline", daemon=True).start()


def exit_when_orphaned(fd: int) -> None:
    """Stop this process once the supervisor holding the write end of ``fd`` is gone."""

    def stop_this_process() -> None:
        print("[lifeline] the dev supervisor is gone: stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(ORPHAN_GRACE)
        os._exit(1)

    _watch(fd, stop_this_process)


def guard(fd: int, argv: Sequence[str]) -> int:
    """Run ``argv`` (a program that cannot watch the lifeline) and end it once the supervisor is gone.

    Signals sent to the guard reach the program too; the guard exits with the program's exit status.
    """
    child = subprocess.Popen(list(argv))
    for signal_number in FORWARDED_SIGNALS:
        signal.signal(signal_number, lambda number, frame: child.send_signal(number))

    def stop_child() -> None:
        child.terminate()
        try:
            child.wait(timeout=ORPHAN_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()

    _watch(fd, stop_child)
    returncode = child.wait()
    if returncode < 0:  # killed by a signal: end the same way, so the supervisor reports the real cause
        signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
    return returncode


def guarded_argv(fd: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run under a guard watching the lifeline ``fd``, with this very interpreter."""
    return [sys.executable, "-m", "event_triggers.lifeline", str(fd), *argv]


if __name__ == "__main__":
    sys.exit(guard(int(sys.argv[1]), sys.argv[2:]))
