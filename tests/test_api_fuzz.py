"""Property-based fuzzing of the whole API: schemathesis generates requests from our own OpenAPI document.

The API runs in its own process (``event-triggers api``) against the session's Temporal and a SQLite store;
every request carries a token with every scope, so generation reaches past authentication. Checks: no
server error, every status documented for its operation, every response body matching its schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from api.main import create_app
from event_triggers.config import Settings
from event_triggers.security.client_credentials import SCOPES
from tests.conftest import free_port

EXAMPLES_PER_OPERATION = 55
MIN_REQUESTS = 1000
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@dataclass
class FuzzedApi:
    base_url: str
    headers: dict[str, str]
    log: Path
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Responses per (operation, status code)."""


def _wait_for_health(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not become healthy within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def fuzzed_api(tmp_path_factory: pytest.TempPathFactory, temporal_address: str) -> Iterator[FuzzedApi]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        **os.environ,
        "EVENT_TRIGGERS_DATA_DIR": str(data_dir),
        "EVENT_TRIGGERS_TEMPORAL_ADDRESS": temporal_address,
        "EVENT_TRIGGERS_TASK_QUEUE": f"fuzz-{uuid.uuid4().hex[:8]}",
        "EVENT_TRIGGERS_API_PORT": str(port),
    }
    command = [sys.executable, "-m", "event_triggers.cli"]
    created = subprocess.run(
        [
            *command,
            "clients",
            "create",
            "--name",
            "fuzz",
            "--json",
            *(f"--scope={scope}" for scope in SCOPES),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    client = json.loads(created.stdout)
    log = data_dir / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen([*command, "api"], env=env, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url, process, log)
        token = httpx.post(
            f"{base_url}/oauth/token", data={"grant_type": "client_credentials", **client}, timeout=30
        )
        token.raise_for_status()
        yield FuzzedApi(base_url, {"Authorization": f"Bearer {token.json()['access_token']}"}, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


DOCUMENT = create_app(Settings()).openapi()
"""The document the app serves at /openapi.json (``test_the_served_document_is_the_fuzzed_one``)."""
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_served_document_is_the_fuzzed_one(fuzzed_api: FuzzedApi) -> None:
    assert httpx.get(f"{fuzzed_api.base_url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_document(case: schemathesis.Case, fuzzed_api: FuzzedApi) -> None:
    response = case.call_and_validate(
        base_url=fuzzed_api.base_url, headers=fuzzed_api.headers, checks=CHECKS, timeout=30
    )
    fuzzed_api.statuses[case.operation.label, response.status_code] += 1


def test_the_fuzzing_sent_enough_requests(fuzzed_api: FuzzedApi) -> None:
    """Runs after the fuzzing (pytest keeps the order of a module): enough requests, past authentication."""
    assert fuzzed_api.statuses.total() >= MIN_REQUESTS, sorted(fuzzed_api.statuses.items())
    operations = {operation for operation, _ in fuzzed_api.statuses}
    assert len(operations) == len(list(schema.get_all_operations()))
    authorized = {operation for operation, status in fuzzed_api.statuses if status not in (401, 403)}
    assert authorized == operations, "every operation was reached past authentication"
    assert "Traceback" not in fuzzed_api.log.read_text(), "the API logged an unexpected error"
