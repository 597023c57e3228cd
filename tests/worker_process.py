"""``event-triggers worker`` as a separate process, configured as an operator would: EVENT_TRIGGERS_*."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from event_triggers.config import Settings


def process_environment(settings: Settings) -> dict[str, str]:
    """A process's settings (worker, CLI command), as an operator would pass them: EVENT_TRIGGERS_*."""
    values = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TASK_QUEUE": settings.task_queue,
        "DATABASE_URL": settings.effective_database_url,
        "DATA_DIR": str(settings.data_dir),
        "RETRY_INITIAL_INTERVAL": "PT0.2S",
        "RETRY_MAX_INTERVAL": "PT1S",
        "DESTINATION_ALLOWLIST": json.dumps(["127.0.0.0/8"]),
    }
    keys = {
        "SECRET_KEYS": settings.secret_keys,
        "TOKEN_SIGNING_KEY": settings.token_signing_key,
        "SERVER_KEY": settings.server_key,
    }
    values.update({name: value for name, value in keys.items() if value})
    return {**os.environ, **{f"EVENT_TRIGGERS_{key}": value for key, value in values.items()}}


class WorkerProcesses:
    """Starts ``event-triggers worker`` processes (or another command) and makes sure none outlives the
    test."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self._environment = process_environment(settings)
        self._log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def log_path(self, index: int) -> Path:
        """Where the ``index``-th process's stdout and stderr go."""
        return self._log_dir / f"worker-{index}.log"

    def start(self, *arguments: str, cwd: Path | None = None, **settings: str) -> subprocess.Popen[bytes]:
        """An ``event-triggers <arguments>`` process (default: ``worker``); ``settings`` add
        EVENT_TRIGGERS_* variables (``log_format="json"``)."""
        log = self.log_path(len(self.started)).open("wb")
        extra = {f"EVENT_TRIGGERS_{key.upper()}": value for key, value in settings.items()}
        process = subprocess.Popen(
            [sys.executable, "-m", "event_triggers.cli", *(arguments or ("worker",))],
            env={**self._environment, **extra},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()
