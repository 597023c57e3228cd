"""The single-process commands: ``setup`` against an existing cluster, ``api`` refusing a bad catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from event_triggers.migrations import head_revision
from event_triggers.temporal import SEARCH_ATTRIBUTES
from tests.conftest import free_port, wait_until


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "event_triggers.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_setup_migrates_the_store_and_registers_search_attributes_idempotently(
    temporal_client: Client, temporal_address: str, tmp_path: Path
) -> None:
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace,
            workflow_execution_retention_period=Duration(seconds=int(timedelta(days=2).total_seconds())),
        )
    )
    env = {
        "EVENT_TRIGGERS_TEMPORAL_ADDRESS": temporal_address,
        "EVENT_TRIGGERS_TEMPORAL_NAMESPACE": namespace,
        "EVENT_TRIGGERS_DATA_DIR": str(tmp_path),
    }
    outputs: list[str] = []

    async def namespace_ready() -> bool:
        result = run_cli("setup", env=env)
        outputs.append(result.stdout)
        return result.returncode == 0

    await wait_until(namespace_ready, timeout=60, interval=0.5)
    assert f"store schema: empty -> {head_revision()}" in outputs[0]
    listed = await temporal_client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert {key.name for key in SEARCH_ATTRIBUTES} <= set(listed.custom_attributes)
    again = run_cli("setup", env=env)
    assert again.returncode == 0 and "none (already registered)" in again.stdout
    assert f"store schema: {head_revision()} (already current)" in again.stdout


def test_api_refuses_to_start_with_a_bad_trigger_definition(tmp_path: Path) -> None:
    catalog = tmp_path / "triggers"
    catalog.mkdir()
    broken = catalog / "acme-thing-happened.json"
    broken.write_text(json.dumps({"id": "acme:thing-happened", "name": "Thing", "type": "FIRE_AND_FORGET"}))
    result = run_cli(
        "api",
        env={
            "EVENT_TRIGGERS_CATALOG_DIRS": json.dumps([str(catalog)]),
            "EVENT_TRIGGERS_DATA_DIR": str(tmp_path / "data"),
            "EVENT_TRIGGERS_API_PORT": str(free_port()),
        },
    )
    assert result.returncode != 0
    assert "acme-thing-happened.json" in result.stderr
