"""``event-triggers dev``: the supervisor on stand-in children, then the real stack end to end."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from event_triggers.config import Settings
from event_triggers.devstack import (
    DevStackOptions,
    StackStopped,
    Supervisor,
    answers_from,
    child_environment,
    http_ok,
    temporal_dev_server_argv,
)
from event_triggers.lifeline import ORPHAN_GRACE
from tests.conftest import free_port

T = TypeVar("T")

START_TIMEOUT = 180.0
"""Generous: returns as soon as the stack is up, and a loaded CI machine may take minutes."""
STOP_TIMEOUT = 40.0
ORPHANS_GONE_TIMEOUT = ORPHAN_GRACE + 10.0
"""Children of a killed supervisor stop within ``ORPHAN_GRACE``; the rest is room for a loaded machine."""
DEV_CLI = [sys.executable, "-c", "from event_triggers.cli import main; main()", "dev"]


def poll(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Return the first truthy result of ``check``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """A pid that still runs (a zombie counts as gone: it no longer runs anything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stand_in(script: str) -> list[str]:
    return [sys.executable, "-c", script]


SLEEPER = stand_in("import time; time.sleep(60)")


def armed_stand_in(marker: Path, body: str) -> list[str]:
    """A stand-in that ignores SIGTERM, runs ``body``, then touches ``marker`` (so tests need not guess)."""
    return stand_in(
        "import pathlib, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"{body}\n"
        f"pathlib.Path({str(marker)!r}).write_text('armed')\n"
        "time.sleep(60)\n"
    )


class _AnswersOk(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[int]:
    """A server of another process on a free port, answering 200 to every GET (``/health`` included)."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _AnswersOk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def processes_in_groups(groups: set[int]) -> list[str]:
    """Running processes (zombies aside) in any of the process ``groups``, described for a failure."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getpgid(process.pid) in groups and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(f"{process.pid}: {shlex.join(process.info['cmdline'] or [])}")
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def port_taken(port: int) -> bool:
    return any(
        connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
        for connection in psutil.net_connections(kind="tcp")
    )


# --- supervisor, with stand-in children -------------------------------------------------------------------


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    supervisor = Supervisor(stop_timeout=5.0)
    yield supervisor
    supervisor.stop_all()


def test_stop_all_stops_children_last_started_first(supervisor: Supervisor, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    records_its_end = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        f"    open({str(journal)!r}, 'a').write(sys.argv[1] + '\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open({str(journal)!r}, 'a').write('up\\n')\n"
        "time.sleep(60)\n"
    )
    for name in ("first", "second", "third"):
        supervisor.start(name, [*stand_in(records_its_end), name], env={})
    poll(
        lambda: journal.exists() and journal.read_text().split() == ["up"] * 3,
        timeout=10,
        what="stand-ins up",
    )
    supervisor.stop_all()
    assert journal.read_text().split()[3:] == ["third", "second", "first"]
    assert [child.process.returncode for child in supervisor.children] == [0, 0, 0]


def test_stop_all_kills_what_ignores_sigterm_and_the_whole_process_group(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    marker, grandchild_pid_file = tmp_path / "armed", tmp_path / "grandchild.pid"
    spawns_a_stubborn_grandchild = (
        f"grandchild = subprocess.Popen({armed_stand_in(tmp_path / 'grandchild-armed', '')!r})\n"
        f"pathlib.Path({str(grandchild_pid_file)!r}).write_text(str(grandchild.pid))"
    )
    supervisor.stop_timeout = 0.5
    child = supervisor.start("stubborn", armed_stand_in(marker, spawns_a_stubborn_grandchild), env={})
    poll(lambda: marker.exists() and (tmp_path / "grandchild-armed").exists(), timeout=10, what="armed")
    grandchild_pid = int(grandchild_pid_file.read_text())

    supervisor.stop_all()

    assert child.process.returncode == -signal.SIGKILL
    poll(lambda: not process_alive(grandchild_pid), timeout=5, what="grandchild gone")


def test_check_names_a_child_that_died(supervisor: Supervisor) -> None:
    supervisor.start("steady", SLEEPER, env={})
    supervisor.start("fragile", stand_in("raise SystemExit(3)"), env={})
    with pytest.raises(StackStopped) as stopped:
        supervisor.wait_until(lambda: False, what="never", timeout=30)
    assert stopped.value.exit_code == 1
    assert "fragile" in str(stopped.value) and "code 3" in str(stopped.value)


def test_a_stop_request_ends_the_wait_with_exit_code_zero(supervisor: Supervisor) -> None:
    supervisor.start("steady", SLEEPER, env={})
    supervisor.stop_requested.set()
    with pytest.raises(StackStopped) as stopped:
        supervisor.run_until_stopped()
    assert stopped.value.exit_code == 0


def test_wait_until_gives_up_at_its_deadline(supervisor: Supervisor) -> None:
    with pytest.raises(StackStopped, match="the moon not ready"):
        supervisor.wait_until(lambda: False, what="the moon", timeout=0.2)


def test_readiness_counts_only_a_server_of_the_child_itself(
    supervisor: Supervisor, impostor: int, tmp_path: Path
) -> None:
    """Another process answering on the child's port must not make the stack look ready."""
    child = supervisor.start("quiet", SLEEPER, env={})
    impostor_health = http_ok(f"http://127.0.0.1:{impostor}/health")
    assert impostor_health(), "the impostor answers"
    with pytest.raises(StackStopped, match="quiet not ready"):
        supervisor.wait_until(answers_from(child, impostor, impostor_health), what="quiet", timeout=1.0)

    port = free_port()
    server = supervisor.start(
        "server",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        env={},
    )
    supervisor.wait_until(
        answers_from(server, port, http_ok(f"http://127.0.0.1:{port}/")), what="server", timeout=30
    )


def test_children_get_this_stack_settings(tmp_path: Path) -> None:
    options = DevStackOptions(
        api_port=18001,
        temporal_port=17001,
        ui_port=18002,
        data_dir=tmp_path / "data",
        worker_metrics_port=18003,
    )
    env = child_environment(options)
    assert env["EVENT_TRIGGERS_WORKER_METRICS_PORT"] == "18003"
    assert env["EVENT_TRIGGERS_TEMPORAL_ADDRESS"] == "127.0.0.1:17001"
    assert env["EVENT_TRIGGERS_API_PORT"] == "18001"
    assert env["EVENT_TRIGGERS_DATA_DIR"] == str(tmp_path / "data")
    assert env["EVENT_TRIGGERS_DEV_MODE"] == "1"
    argv = " ".join(temporal_dev_server_argv(options))
    for expected in (
        "server start-dev",
        "--ip 127.0.0.1",
        "--port 17001",
        "--ui-port 18002",
        f"--db-filename {tmp_path / 'data' / 'temporal.db'}",
        "--search-attribute InvocationStatus=Keyword",
    ):
        assert expected in argv


# --- the real stack ---------------------------------------------------------------------------------------


@dataclass
class DevStack:
    """``event-triggers dev`` as a user runs it, output captured to a file."""

    process: subprocess.Popen[bytes]
    output: Path
    options: DevStackOptions

    @classmethod
    def start(cls, data_dir: Path, output: Path) -> DevStack:
        options = DevStackOptions(
            api_port=free_port(), temporal_port=free_port(), ui_port=free_port(), data_dir=data_dir
        )
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [
                    *DEV_CLI,
                    f"--api-port={options.api_port}",
                    f"--temporal-port={options.temporal_port}",
                    f"--ui-port={options.ui_port}",
                    f"--data-dir={data_dir}",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        stack = cls(process=process, output=output, options=options)
        try:
            poll(stack.running, timeout=START_TIMEOUT, what=f"dev stack up (output: {output})")
        except BaseException:
            if process.poll() is None:  # a stack that never came up must not outlive the test
                stack.stop()
            raise
        return stack

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def running(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"dev exited with {self.process.returncode}:\n{self.text()}")
        return "Event Triggers is running" in self.text()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}"

    def url(self, label: str) -> str:
        """A URL the stack printed, e.g. ``url("API docs")``."""
        match = re.search(rf"\[dev\]\s+{re.escape(label)}:\s+(\S+)", self.text())
        assert match, f"no {label} URL printed:\n{self.text()}"
        return match.group(1)

    def child_pids(self) -> dict[str, int]:
        return {
            name: int(pid) for name, pid in re.findall(r"\[dev\] started (\w+) \(pid (\d+)\)", self.text())
        }

    def token(self) -> str:
        """An access token from running the command the banner prints, exactly as printed."""
        command = re.findall(r"\[dev\]\s+get a token:\s+(.+)", self.text())[-1]
        issued = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
        assert issued.returncode == 0, f"{command}: {issued.stderr}"
        return str(json.loads(issued.stdout)["access_token"])

    def wait_exit(self) -> int:
        return self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.wait_exit()


@pytest.fixture
def stacks() -> Iterator[list[DevStack]]:
    """Every stack a test starts; any still running at the end is stopped (no stray servers)."""
    started: list[DevStack] = []
    yield started
    for stack in started:
        if stack.process.poll() is None:
            stack.stop()


async def namespace_retention(address: str) -> float:
    client = await Client.connect(address)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta().total_seconds()


def test_dev_runs_the_whole_stack_and_ctrl_c_stops_all_of_it(stacks: list[DevStack], tmp_path: Path) -> None:
    stack = DevStack.start(tmp_path / "data", tmp_path / "dev.out")
    stacks.append(stack)

    assert stack.url("API") == stack.api_url
    assert httpx.get(f"{stack.api_url}/health").status_code == 200
    assert httpx.get(f"{stack.api_url}/ready").status_code == 200
    assert "event_triggers_start_duration_seconds" in httpx.get(stack.url("API metrics")).text
    worker_metrics = httpx.get(stack.url("worker metrics")).text
    assert "event_triggers_" in worker_metrics and "temporal_worker_task_slots_available" in worker_metrics
    assert httpx.get(stack.url("API docs")).status_code == 200
    triggers = httpx.get(f"{stack.api_url}/triggers/v1", headers={"Authorization": f"Bearer {stack.token()}"})
    assert triggers.status_code == 200 and triggers.json()
    ui_url = stack.url("Temporal UI")
    assert ui_url == f"http://127.0.0.1:{stack.options.ui_port}"
    assert httpx.get(ui_url).status_code == 200
    retention = asyncio.run(namespace_retention(f"127.0.0.1:{stack.options.temporal_port}"))
    assert retention >= Settings().invocation_retention.total_seconds(), "AUTO_DISABLE_AFTER plus a day"
    assert (tmp_path / "data" / "temporal.db").exists()
    pids = stack.child_pids()
    assert set(pids) == {"temporal", "worker", "api"}

    assert stack.stop() == 0
    assert [name for name, pid in pids.items() if process_alive(pid)] == []


def test_a_child_that_dies_takes_the_stack_down(stacks: list[DevStack], tmp_path: Path) -> None:
    stack = DevStack.start(tmp_path / "data", tmp_path / "dev.out")
    stacks.append(stack)
    pids = stack.child_pids()

    worker_pid = pids["worker"]
    os.kill(worker_pid, signal.SIGKILL)

    assert stack.wait_exit() != 0
    assert re.search(rf"worker \(pid {worker_pid}\) exited unexpectedly with code -9", stack.text())
    assert [name for name, pid in pids.items() if process_alive(pid)] == []


def test_a_restart_on_the_same_data_dir_keeps_subscriptions_and_the_dev_client(
    stacks: list[DevStack], tmp_path: Path
) -> None:
    first = DevStack.start(tmp_path / "data", tmp_path / "first.out")
    stacks.append(first)
    created = httpx.post(
        f"{first.api_url}/trigger-subscriptions/v1",
        headers={"Authorization": f"Bearer {first.token()}"},
        json={
            "name": "kept across restarts",
            "triggerId": "idn:identity-created",
            "type": "HTTP",
            "httpConfig": {"url": "https://hooks.example.com/identity", "httpDispatchMode": "SYNC"},
        },
    )
    assert created.status_code == 201, created.text
    assert first.stop() == 0

    second = DevStack.start(tmp_path / "data", tmp_path / "second.out")
    stacks.append(second)
    fetched = httpx.get(
        f"{second.api_url}/trigger-subscriptions/v1/{created.json()['id']}",
        headers={"Authorization": f"Bearer {second.token()}"},
    )
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["name"] == "kept across restarts"
    client_ids = [re.findall(r"client_id=(\w+)", stack.text()) for stack in (first, second)]
    assert client_ids[0] == client_ids[1]


def test_kill_9_of_dev_stops_every_child_and_frees_every_port(stacks: list[DevStack], tmp_path: Path) -> None:
    stack = DevStack.start(tmp_path / "data", tmp_path / "dev.out")
    stacks.append(stack)
    groups = set(stack.child_pids().values())  # each child leads a process group of its own
    assert len(groups) == 3 and processes_in_groups(groups)
    ports = (stack.options.api_port, stack.options.temporal_port, stack.options.ui_port)

    stack.process.kill()
    stack.process.wait()

    poll(
        lambda: not processes_in_groups(groups),
        timeout=ORPHANS_GONE_TIMEOUT,
        what=f"the children of a killed supervisor gone (left: {processes_in_groups(groups)})",
    )
    assert [port for port in ports if port_taken(port)] == []


@pytest.mark.parametrize("flag", ["--api-port", "--temporal-port"])
def test_a_taken_port_stops_dev_before_anything_starts_naming_port_and_holder(
    flag: str, impostor: int, tmp_path: Path
) -> None:
    ports = {
        "--api-port": free_port(),
        "--temporal-port": free_port(),
        "--ui-port": free_port(),
        flag: impostor,
    }
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [*DEV_CLI, *(f"{name}={port}" for name, port in ports.items()), f"--data-dir={data_dir}"],
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert result.returncode == 1
    assert f"port {impostor} ({flag}) is already in use by pid {os.getpid()} (" in result.stderr
    assert "started" not in result.stdout and "is running" not in result.stdout
    assert not data_dir.exists()
