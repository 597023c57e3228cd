"""``event-triggers dev``: Temporal dev server (with Web UI), worker and API, supervised in the foreground.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only this supervisor, which then
stops the children in reverse start order (SIGTERM to the whole process group, SIGKILL after a grace
period). A child that dies on its own takes the whole stack down with a non-zero exit code: a half-running
stack is worse than none. Should the supervisor itself die without that cleanup (``kill -9``), every child
sees its lifeline break and stops within seconds (``event_triggers.lifeline``).

The ports are checked before anything starts, and the banner says "running" only once Temporal, its Web
UI, the worker and the API all answer, each from a process of this stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import NoReturn

import httpx
import psutil
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
)
from temporalio.client import Client

from event_triggers.clients import DEV_CLIENT_FILE, ensure_dev_client
from event_triggers.config import Settings
from event_triggers.lifeline import guarded_argv
from event_triggers.migrations import upgrade_schema
from event_triggers.store import Store
from event_triggers.temporal import dev_server_search_attribute_args, ensure_retention, temporal_cli_path

NAMESPACE = "default"

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
"""Longer than the worker's graceful shutdown (delivery timeout + margin), so deliveries can finish."""
POLL_INTERVAL = 0.1

_CLI = (sys.executable, "-c", "from event_triggers.cli import main; main()")
"""Runs the ``event-triggers`` entry point with this very interpreter, whatever the PATH says."""


@dataclass(frozen=True)
class DevStackOptions:
    api_port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    data_dir: Path = Path(".event-triggers")
    worker_metrics_port: int = 9464


class StackStopped(Exception):
    """The stack cannot go on: a stop was requested or a child died; ``exit_code`` says which."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


class Supervisor:
    """Starts children in their own process groups and stops them all, in reverse start order.

    Every child inherits the read end of the lifeline (``lifeline_fd``); this process alone holds the
    write end, so its death, however it happens, tells every child to stop.
    """

    def __init__(self, *, stop_timeout: float = STOP_TIMEOUT) -> None:
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.lifeline_fd, self._lifeline_write_fd = os.pipe()

    def start(self, name: str, argv: Sequence[str], *, env: Mapping[str, str]) -> Child:
        process = subprocess.Popen(
            list(argv), env=dict(env), start_new_session=True, pass_fds=(self.lifeline_fd,)
        )
        child = Child(name=name, process=process)
        self.children.append(child)
        print(f"[dev] started {name} (pid {process.pid})", flush=True)
        return child

    def dead_child(self) -> Child | None:
        """The first child that has exited, if any."""
        return next((child for child in self.children if child.process.poll() is not None), None)

    def check(self) -> None:
        """Raise ``StackStopped`` if a stop was requested or a child died."""
        if self.stop_requested.is_set():
            raise StackStopped("stopping", exit_code=0)
        dead = self.dead_child()
        if dead is not None:
            raise StackStopped(
                f"{dead.name} (pid {dead.process.pid}) exited unexpectedly "
                f"with code {dead.process.returncode}",
                exit_code=1,
            )

    def wait_until(self, ready: Callable[[], bool], *, what: str, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll ``ready`` until it holds, giving up on timeout, a stop request or a dead child."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            if ready():
                return
            if time.monotonic() > deadline:
                raise StackStopped(f"{what} not ready within {timeout:.0f}s", exit_code=1)
            self.stop_requested.wait(POLL_INTERVAL)

    def run_until_stopped(self) -> NoReturn:
        """Block until a stop is requested or a child dies (then raises ``StackStopped``)."""
        while True:
            self.check()
            self.stop_requested.wait(POLL_INTERVAL)

    def stop_all(self) -> None:
        """SIGTERM each process group (last started first), SIGKILL it after ``stop_timeout``."""
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
            try:
                child.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"[dev] {child.name} did not stop within {self.stop_timeout:.0f}s: killing it", flush=True
                )
            # Also reaps grandchildren left in the group after the leader exited.
            _signal_group(child.process, signal.SIGKILL)
            child.process.wait()
        self._cut_lifeline()

    def _cut_lifeline(self) -> None:
        """Close both ends once every child is stopped (the numbers must not be closed twice: reuse)."""
        if self._lifeline_write_fd >= 0:
            os.close(self.lifeline_fd)
            os.close(self._lifeline_write_fd)
            self.lifeline_fd = self._lifeline_write_fd = -1


def _signal_group(process: subprocess.Popen[bytes], signal_number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal_number)


def child_environment(options: DevStackOptions) -> dict[str, str]:
    """Settings for the worker and the API: this stack's Temporal, ports and data dir, dev mode on."""
    return {
        **os.environ,
        "EVENT_TRIGGERS_TEMPORAL_ADDRESS": f"127.0.0.1:{options.temporal_port}",
        "EVENT_TRIGGERS_API_HOST": "127.0.0.1",
        "EVENT_TRIGGERS_API_PORT": str(options.api_port),
        "EVENT_TRIGGERS_DATA_DIR": str(options.data_dir.resolve()),
        "EVENT_TRIGGERS_DEV_MODE": "1",
        "EVENT_TRIGGERS_WORKER_METRICS_PORT": str(options.worker_metrics_port),
        "EVENT_TRIGGERS_TEMPORAL_UI_URL": f"http://127.0.0.1:{options.ui_port}",
    }


def temporal_dev_server_argv(options: DevStackOptions) -> list[str]:
    """``temporal server start-dev`` on loopback, history kept in the data dir, no network at run time."""
    return [
        temporal_cli_path(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(options.temporal_port),
        "--ui-port",
        str(options.ui_port),
        "--db-filename",
        str(options.data_dir.resolve() / "temporal.db"),
        "--namespace",
        NAMESPACE,
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        *dev_server_search_attribute_args(),
    ]


async def ensure_dev_retention(address: str, retention: timedelta) -> timedelta:
    """The dev server's namespace retention, raised to at least ``retention`` first."""
    client = await Client.connect(address, namespace=NAMESPACE)
    return await ensure_retention(client, NAMESPACE, retention)


def _temporal_ready(address: str, retention: timedelta) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return asyncio.run(ensure_dev_retention(address, retention)) >= retention
        except Exception:  # not listening yet, or the namespace is not created yet
            return False

    return ready


async def _polls_task_queue(address: str, task_queue: str, pid: int) -> bool:
    """Process ``pid`` polls ``task_queue`` (Temporal names a poller ``pid@host``)."""
    client = await Client.connect(address, namespace=NAMESPACE)
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=NAMESPACE,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return any(poller.identity.startswith(f"{pid}@") for poller in described.pollers)


def _worker_ready(address: str, task_queue: str, worker: Child) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return asyncio.run(_polls_task_queue(address, task_queue, worker.process.pid))
        except Exception:  # Temporal busy or restarting: ask again
            return False

    return ready


def http_ok(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return ready


def _listens(child: Child, port: int) -> bool:
    """``child`` or a process under it listens on ``port``: whoever answers there is this stack."""
    try:
        root = psutil.Process(child.process.pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    for process in processes:
        with contextlib.suppress(psutil.Error):
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return True
    return False


def answers_from(child: Child, port: int, answers: Callable[[], bool]) -> Callable[[], bool]:
    """Ready when ``answers`` holds and ``child`` itself listens on ``port``: no other server may pose
    as this stack (the port could be taken between the check at start and the child's bind)."""
    return lambda: _listens(child, port) and answers()


def port_holder(port: int) -> str | None:
    """The process listening on TCP ``port``, as ``pid N (command line)``, when this user may see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            try:
                command = shlex.join(psutil.Process(connection.pid).cmdline())
            except psutil.Error:
                command = "?"
            return f"pid {connection.pid} ({command})"
    return None


def _port_in_use(port: int) -> bool:
    """Whether binding 127.0.0.1:``port`` fails, as it would for the server about to start there."""
    with socket.socket() as probe:
        # As the servers themselves do: a connection in TIME_WAIT is no clash.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_clash(options: DevStackOptions) -> str | None:
    """Why the stack cannot have its ports (one taken, naming who holds it, or one given twice), if so."""
    flags_by_port: dict[int, list[str]] = {}
    for flag, port in (
        ("--api-port", options.api_port),
        ("--temporal-port", options.temporal_port),
        ("--ui-port", options.ui_port),
        ("--worker-metrics-port", options.worker_metrics_port),
    ):
        flags_by_port.setdefault(port, []).append(flag)
    for port, flags in flags_by_port.items():
        if len(flags) > 1:
            return f"{' and '.join(flags)} are both {port}: each needs a port of its own"
        if _port_in_use(port):
            holder = port_holder(port)
            return (
                f"port {port} ({flags[0]}) is already in use"
                + (f" by {holder}" if holder else "")
                + f": stop that process or choose another port with {flags[0]}"
            )
    return None


async def _prepare_store(settings: Settings) -> dict[str, object]:
    """Migrate the store as ``event-triggers setup`` does (before any process opens it); the dev client."""
    await upgrade_schema(settings.effective_database_url)
    store = await Store.open(settings)
    try:
        client, _ = await ensure_dev_client(store=store, data_dir=settings.data_dir)
        return client
    finally:
        await store.close()


def _start_stack(supervisor: Supervisor, options: DevStackOptions) -> None:
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, dev_mode=True)
    env = child_environment(options)
    temporal_address = env["EVENT_TRIGGERS_TEMPORAL_ADDRESS"]
    api_url = f"http://127.0.0.1:{options.api_port}"
    ui_url = f"http://127.0.0.1:{options.ui_port}"
    lifeline = str(supervisor.lifeline_fd)

    temporal = supervisor.start(
        "temporal", guarded_argv(supervisor.lifeline_fd, temporal_dev_server_argv(options)), env=env
    )
    supervisor.wait_until(
        answers_from(
            temporal, options.temporal_port, _temporal_ready(temporal_address, settings.invocation_retention)
        ),
        what=f"Temporal at {temporal_address}",
    )
    supervisor.wait_until(
        answers_from(temporal, options.ui_port, http_ok(ui_url)), what=f"Temporal Web UI at {ui_url}"
    )
    dev_client = asyncio.run(_prepare_store(settings))
    worker = supervisor.start("worker", [*_CLI, "worker", "--lifeline-fd", lifeline], env=env)
    api = supervisor.start("api", [*_CLI, "api", "--lifeline-fd", lifeline], env=env)
    supervisor.wait_until(
        _worker_ready(temporal_address, settings.task_queue, worker),
        what=f"worker polling task queue {settings.task_queue}",
    )
    supervisor.wait_until(
        answers_from(api, options.api_port, http_ok(f"{api_url}/ready")), what=f"API at {api_url}"
    )
    credentials = f"{dev_client['client_id']}:{dev_client['client_secret']}"
    print(
        "\n".join(
            [
                "",
                "[dev] Event Triggers is running (Ctrl-C stops everything)",
                f"[dev]   Admin UI:     {api_url}/ui/ (log in with the dev client below)",
                f"[dev]   API:          {api_url}",
                f"[dev]   API docs:     {api_url}/docs",
                f"[dev]   API metrics:  {api_url}/metrics",
                f"[dev]   worker metrics: http://127.0.0.1:{options.worker_metrics_port}/metrics",
                f"[dev]   Temporal UI:  {ui_url}",
                f"[dev]   Temporal:     {temporal_address} (namespace {NAMESPACE})",
                f"[dev]   data dir:     {data_dir}",
                f"[dev]   dev client:   client_id={dev_client['client_id']} "
                f"client_secret={dev_client['client_secret']}",
                f"[dev]                 (saved in {data_dir / DEV_CLIENT_FILE})",
                f"[dev]   get a token:  curl -s -u {credentials} -d grant_type=client_credentials "
                f"{api_url}/oauth/token",
                "[dev]   deliveries:   loopback subscribers are allowed (dev mode); elsewhere private and",
                "[dev]                 loopback targets need EVENT_TRIGGERS_DESTINATION_ALLOWLIST",
                "",
            ]
        ),
        flush=True,
    )


def run_dev_stack(options: DevStackOptions) -> int:
    """Run the stack in the foreground until Ctrl-C/SIGTERM (exit 0) or until a child dies (exit 1).

    Exits 1 at once, starting nothing, when a port of the stack is taken.
    """
    clash = port_clash(options)
    if clash:
        print(f"[dev] error: {clash}", file=sys.stderr, flush=True)
        return 1
    supervisor = Supervisor()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        supervisor.stop_requested.set()

    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: its terminal closed
    previous = {sig: signal.signal(sig, request_stop) for sig in stop_signals}
    try:
        _start_stack(supervisor, options)
        supervisor.run_until_stopped()
    except StackStopped as stopped:
        if stopped.exit_code:
            print(f"[dev] error: {stopped}", file=sys.stderr, flush=True)
        print("[dev] stopping the stack", flush=True)
        return stopped.exit_code
    finally:
        supervisor.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("[dev] stopped", flush=True)
