"""The single-process commands: ``setup`` against an existing cluster, ``api`` refusing a bad catalog,
``clients`` on the store of a given data dir or database URL, ``dev --help``."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from event_triggers.config import Settings
from event_triggers.keys import (
    PAYLOAD_ENCRYPTION_KEYS,
    SECRET_KEYS,
    SERVER_KEY,
    TOKEN_SIGNING_KEY,
    generate_keys,
    key_problems,
    load_server_key,
    token_signing_key,
)
from event_triggers.migrations import head_revision, upgrade_schema
from event_triggers.security.client_credentials import SCOPES
from event_triggers.startup import PUBLIC_BASE_URL
from event_triggers.temporal import SEARCH_ATTRIBUTES
from tests.conftest import free_port, wait_until

STORE_SETTINGS = ("EVENT_TRIGGERS_DATA_DIR", "EVENT_TRIGGERS_DATABASE_URL")


def run_cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process; the store settings come only from ``env``, never from this shell."""
    inherited = {name: value for name, value in os.environ.items() if name not in STORE_SETTINGS}
    return subprocess.run(
        [sys.executable, "-m", "event_triggers.cli", *args],
        env={**inherited, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def generated_keys() -> dict[str, str]:
    """What ``event-triggers keys generate`` prints, read as an env file would be."""
    printed = run_cli("keys", "generate", env={})
    assert printed.returncode == 0, printed.stderr
    return dict(line.split("=", 1) for line in printed.stdout.splitlines())


async def create_store(settings: Settings) -> None:
    """A store as ``event-triggers setup`` leaves it: migrated, nothing else."""
    if settings.sqlite_file is not None:
        settings.sqlite_file.parent.mkdir(parents=True)
    await upgrade_schema(settings.effective_database_url)


def elsewhere(tmp_path: Path) -> Path:
    """A working directory that holds no store."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


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
    assert "namespace retention: 48 h" in again.stdout, "the default AUTO_DISABLE_AFTER (P1D) plus a day"


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
            "EVENT_TRIGGERS_PUBLIC_BASE_URL": "https://triggers.example.com",
            **generate_keys(),
        },
    )
    assert result.returncode != 0
    assert "acme-thing-happened.json" in result.stderr


def test_keys_generate_prints_every_key_setting_in_its_format() -> None:
    keys = generated_keys()
    assert set(keys) == {SECRET_KEYS, TOKEN_SIGNING_KEY, SERVER_KEY, PAYLOAD_ENCRYPTION_KEYS}
    assert keys != generated_keys()  # fresh every time
    as_json = run_cli("keys", "generate", "--json", env={})
    assert set(json.loads(as_json.stdout)) == set(keys)
    settings = Settings(
        secret_keys=keys[SECRET_KEYS],
        token_signing_key=keys[TOKEN_SIGNING_KEY],
        server_key=keys[SERVER_KEY],
        payload_encryption_keys=keys[PAYLOAD_ENCRYPTION_KEYS],
    )
    assert key_problems(settings) == []
    assert len(token_signing_key(settings)) == 32 and len(load_server_key(settings)) == 32


@pytest.mark.parametrize("command", ["api", "worker"])
def test_outside_dev_mode_missing_keys_stop_the_process_naming_each_setting(
    command: str, tmp_path: Path
) -> None:
    result = run_cli(command, env={"EVENT_TRIGGERS_API_PORT": str(free_port())}, cwd=tmp_path)
    assert result.returncode == 2
    for setting in (SECRET_KEYS, TOKEN_SIGNING_KEY, SERVER_KEY):
        assert f"error: {setting} is not set" in result.stderr
    assert (PUBLIC_BASE_URL in result.stderr) == (command == "api")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no key file, no data dir written


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (base64.b64encode(b"changeme" * 4).decode(), "is not random"),
        (base64.b64encode(b"short but random: 8f3a").decode(), "must decode to at least 32 bytes"),
        ("not base64!", "must be base64"),
    ],
)
def test_a_weak_or_malformed_key_stops_the_api_naming_the_setting(
    value: str, reason: str, tmp_path: Path
) -> None:
    env = {
        **generate_keys(),
        TOKEN_SIGNING_KEY: value,
        PUBLIC_BASE_URL: "https://triggers.example.com",
        "EVENT_TRIGGERS_API_PORT": str(free_port()),
    }
    result = run_cli("api", env=env, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {TOKEN_SIGNING_KEY} {reason}")
    assert value not in result.stderr


def test_clients_refuse_a_data_dir_without_a_database_and_create_nothing(tmp_path: Path) -> None:
    cwd = elsewhere(tmp_path)
    listed = run_cli("clients", "list", env={}, cwd=cwd)
    assert listed.returncode == 2
    assert f"no Event Triggers database at {cwd / '.event-triggers' / 'event-triggers.db'}" in listed.stderr
    named = run_cli("clients", "list", "--data-dir", str(tmp_path / "typo"), env={}, cwd=cwd)
    assert named.returncode == 2
    assert str(tmp_path / "typo" / "event-triggers.db") in named.stderr
    assert list(cwd.iterdir()) == [] and not (tmp_path / "typo").exists()


async def test_clients_commands_work_on_the_data_dir_they_are_given(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    await create_store(Settings(data_dir=data_dir))
    cwd = elsewhere(tmp_path)
    scope = sorted(SCOPES)[0]
    given = ("--data-dir", str(data_dir))
    created = run_cli(
        "clients", "create", *given, "--name", "ci", "--scope", scope, "--json", env={}, cwd=cwd
    )
    assert created.returncode == 0, created.stderr
    client_id = json.loads(created.stdout)["client_id"]
    listed = run_cli("clients", "list", *given, env={}, cwd=cwd)
    assert listed.returncode == 0 and client_id in listed.stdout
    assert run_cli("clients", "delete", *given, client_id, env={}, cwd=cwd).returncode == 0
    assert client_id not in run_cli("clients", "list", *given, env={}, cwd=cwd).stdout
    assert list(cwd.iterdir()) == []


async def test_clients_commands_with_a_database_url_need_no_data_dir(
    database_url: str, tmp_path: Path
) -> None:
    unused = tmp_path / "unused-data-dir"
    await create_store(Settings(database_url=database_url, data_dir=unused))
    cwd = elsewhere(tmp_path)
    env = {"EVENT_TRIGGERS_DATABASE_URL": database_url}
    scope = sorted(SCOPES)[0]
    created = run_cli("clients", "create", "--name", "ci", "--scope", scope, "--json", env=env, cwd=cwd)
    assert created.returncode == 0, created.stderr
    listed = run_cli("clients", "list", env=env, cwd=cwd)
    assert listed.returncode == 0 and json.loads(created.stdout)["client_id"] in listed.stdout
    assert list(cwd.iterdir()) == [] and not unused.exists()


def test_dev_help_explains_every_flag_with_its_default() -> None:
    shown = run_cli("dev", "--help", env={"COLUMNS": "400"})  # no wrapping inside words
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for flag, default in (("--api-port", "8000"), ("--temporal-port", "7233"), ("--ui-port", "8233")):
        assert re.search(rf"{flag} PORT [a-zA-Z][^()]+ \(default: {default}\)", text), text
    assert "--data-dir DIR directory of the SQLite store" in text
    assert "else .event-triggers in the current directory" in text


def test_help_and_parsing_load_neither_the_temporal_client_nor_the_store() -> None:
    """``--help`` answered in ~0.4 s instead of ~1.5 s once the parser stopped importing the operator
    commands' Temporal client, store and migrations: each loads where its command runs."""
    probe = (
        "import sys; from event_triggers.cli import build_parser; "
        "build_parser().parse_args(['invocations', 'list']); "
        "print(sorted(m for m in ('temporalio.client', 'sqlalchemy', 'alembic') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
