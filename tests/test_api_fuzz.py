"""Property-based fuzzing of the whole API: schemathesis generates requests from our own OpenAPI document.

The API runs in its own process (``event-triggers api``) against the session's Temporal and a SQLite store;
every request carries a token with every scope, so generation reaches past authentication. Checks: no
server error, every status documented for its operation, every response body matching its schema.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from api.main import create_app
from event_triggers.clients import create_client
from event_triggers.config import Settings
from event_triggers.security.client_credentials import SCOPES
from event_triggers.store import Store
from tests.conftest import (
    TEST_KEY_ENVIRONMENT,
    TEST_KEYS,
    access_token,
    free_port,
    module_settings,
    wait_until,
)

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


@pytest.fixture(scope="module")
async def fuzzed_api(
    tmp_path_factory: pytest.TempPathFactory, temporal_address: str
) -> AsyncIterator[FuzzedApi]:
    settings = await module_settings(tmp_path_factory, temporal_address, "fuzz", api_port=free_port())
    store = await Store.open(settings)
    try:
        client = await create_client(store=store, name="fuzz", scopes=sorted(SCOPES))
    finally:
        await store.close()
    env = {
        **os.environ,
        "EVENT_TRIGGERS_DATA_DIR": str(settings.data_dir),
        "EVENT_TRIGGERS_DATABASE_URL": settings.effective_database_url,
        "EVENT_TRIGGERS_TEMPORAL_ADDRESS": temporal_address,
        "EVENT_TRIGGERS_TASK_QUEUE": settings.task_queue,
        "EVENT_TRIGGERS_API_PORT": str(settings.api_port),
        "EVENT_TRIGGERS_PUBLIC_BASE_URL": f"http://127.0.0.1:{settings.api_port}",
        **TEST_KEY_ENVIRONMENT,
    }
    log = settings.data_dir / "api.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "event_triggers.cli",
            "api",
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{settings.api_port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

            async def healthy() -> bool:
                assert process.returncode is None, f"the API exited:\n{log.read_text()}"
                try:
                    return (await http.get("/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout=90, interval=0.2)
            token = await access_token(http, client)
        yield FuzzedApi(base_url, {"Authorization": f"Bearer {token}"}, log)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


DOCUMENT = create_app(Settings.model_validate({"dev_mode": True, **TEST_KEYS})).openapi()
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
