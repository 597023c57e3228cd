"""``event-triggers invocations ...`` as an operator runs it, against the API's Temporal and store."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from event_triggers.config import Settings
from event_triggers.keys import load_server_key
from tests.conftest import RunningApi, free_port, wait_until
from tests.invocation_fixtures import FNF_INPUT, FNF_TRIGGER, create_subscription, finished, start
from tests.subscriber import Reply, Subscriber
from tests.worker_process import process_environment


async def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run the console script without blocking this loop (the API's embedded worker answers queries)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "event_triggers.cli",
        "invocations",
        *args,
        env=process_environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def cli_json(settings: Settings, *args: str) -> Any:
    code, out, err = await cli(settings, *args, "--json")
    assert code == 0, err
    return json.loads(out)


async def test_the_operator_loop_from_the_terminal(
    api: httpx.AsyncClient, subscriber: Subscriber, settings: Settings
) -> None:
    path = subscriber.new_path(Reply(status=400, body=b"bad field"))
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    [failed] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, failed["id"]))["status"] == "FAILED"

    async def listed() -> Any:
        rows = await cli_json(settings, "list", "--subscription", subscription_id)
        return rows if rows and rows[0]["status"] == "FAILED" else None

    [row] = await wait_until(listed, timeout=30, interval=0.5)
    assert row["id"] == failed["id"]

    code, out, _ = await cli(settings, "show", failed["id"])
    assert code == 0 and "status:" in out and "FAILED" in out and "bad field" in out
    code, out, _ = await cli(settings, "attempts", failed["id"])
    assert code == 0 and out.startswith("#1") and "400" in out and "subscriber answered 400: bad field" in out
    [attempt] = await cli_json(settings, "attempts", failed["id"])
    assert (attempt["attempt"], attempt["statusCode"]) == (1, 400)

    again = await cli_json(settings, "redeliver", failed["id"])
    assert (await finished(api, again["id"]))["redeliveryOf"] == failed["id"]

    await subscriber.wait_for(path, 2)

    code, _, err = await cli(settings, "show", "0b9e6a38-0000-4000-8000-000000000000")
    assert code == 2 and "not found" in err


async def test_replay_from_the_terminal(
    api: httpx.AsyncClient, subscriber: Subscriber, settings: Settings
) -> None:
    since = datetime.now(UTC)
    path = subscriber.new_path(Reply(status=400, body=b"bad field"))
    subscription_id = await create_subscription(api, url=subscriber.url(path))
    [failed] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, failed["id"]))["status"] == "FAILED"

    async def listed() -> bool:
        response = await api.get(
            "/trigger-invocations/v1/status",
            params={"filters": f'subscriptionId eq "{subscription_id}"', "count": "true"},
        )
        return response.headers.get("X-Total-Count") == "1"

    await wait_until(listed, timeout=30, interval=0.2)
    window = ("--subscription", subscription_id, "--from", since.isoformat())
    replay = await cli_json(settings, "replay", *window, "--status", "FAILED", "--wait")
    assert {key: replay[key] for key in ("status", "total", "replayed", "failed")} == {
        "status": "COMPLETED",
        "total": 1,
        "replayed": 1,
        "failed": 0,
    }
    [_, again] = await subscriber.wait_for(path, 2)
    assert (await finished(api, again.json()["_metadata"]["invocationId"]))["redeliveryOf"] == failed["id"]

    code, out, _ = await cli(settings, "replay", "show", replay["id"])
    assert code == 0 and out.split() == [
        replay["id"],
        "COMPLETED",
        "1",
        "replayed,",
        "0",
        "failed",
        "of",
        "1",
    ]
    code, _, err = await cli(settings, "replay", "cancel", replay["id"])
    assert code == 2 and "already COMPLETED" in err
    code, _, err = await cli(settings, "replay", "--subscription", subscription_id)
    assert code == 2 and "from: is required" in err


async def test_what_a_subscriber_sent_reaches_the_terminal_without_control_characters(
    api: httpx.AsyncClient, subscriber: Subscriber, settings: Settings
) -> None:
    """A subscriber's answer (and a subscription's name) is printed with its control characters escaped:
    raw, an escape sequence would act on the operator's terminal (set the clipboard, clear the screen)."""
    path = subscriber.new_path(Reply(status=400, body=b"\x1b]52;c;cHduZWQ=\x07\x1b[2Jno\r\nway \xc2\x9b1m"))
    subscription_id = await create_subscription(api, url=subscriber.url(path), name="\x1b[8mhidden")
    [failed] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    assert (await finished(api, failed["id"]))["status"] == "FAILED"

    async def listed() -> Any:
        code, out, err = await cli(settings, "list", "--subscription", subscription_id)
        assert code == 0, err
        return out if failed["id"] in out and "FAILED" in out else None

    outputs = [await wait_until(listed, timeout=30, interval=0.5)]
    for command in ("show", "attempts"):
        code, out, err = await cli(settings, command, failed["id"])
        assert code == 0, err
        assert "\\x1b]52;c;cHduZWQ=\\x07\\x1b[2Jno\\r\\nway \\x9b1m" in out, out
        outputs.append(out)
    assert "\\x1b[8mhidden" in outputs[0]
    for out in outputs:
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", out), repr(out)


async def test_list_limits_and_replay_times_out_of_range_are_usage_errors(
    api: httpx.AsyncClient, subscriber: Subscriber, settings: Settings
) -> None:
    await create_subscription(api, url=subscriber.url(subscriber.new_path()))
    [started] = await start(api, trigger_id=FNF_TRIGGER, payload=FNF_INPUT)
    await finished(api, started["id"])
    for args, option in (
        (("list", "--limit", "0"), "--limit"),
        (("list", "--limit", "-1"), "--limit"),
        (("list", "--limit", str(2**40)), "--limit"),
        (("replay", "--from", "0001-01-01T00:00:00+14:00"), "--from"),
        (("replay", "--from", "2026-01-01T00:00:00Z", "--to", "9999-12-31T23:59:59-14:00"), "--to"),
    ):
        code, _, err = await cli(settings, *args)
        assert code == 2 and f"argument {option}:" in err and "Traceback" not in err, (args, code, err)
    rows = await cli_json(settings, "list", "--limit", "1")
    assert len(rows) == 1, "the smallest page still lists"


async def test_an_unreachable_temporal_is_an_error_line_not_a_traceback(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    code, out, err = await cli(unreachable, "show", "0b9e6a38-0000-4000-8000-000000000000")
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith(f"error: Temporal at {unreachable.temporal_address}: "), err
    assert "Traceback" not in err


async def test_against_the_dev_stack_the_keys_come_from_its_data_dir(
    running_api: RunningApi, settings: Settings, tmp_path: Path
) -> None:
    """No keys in the environment: the key files `event-triggers dev` generated in its data dir serve,
    as they do its own processes; without them, one error line saying what to pass."""
    dev_data = tmp_path / "dev-stack"
    load_server_key(Settings(data_dir=dev_data, dev_mode=True))  # as `event-triggers dev` makes it
    no_keys = settings.model_copy(update={"server_key": None, "secret_keys": None, "token_signing_key": None})
    code, out, err = await cli(no_keys, "--data-dir", str(dev_data), "list", "--limit", "1", "--json")
    assert code == 0, err
    assert isinstance(json.loads(out), list)
    code, out, err = await cli(no_keys, "--data-dir", str(tmp_path / "elsewhere"), "list")
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error: EVENT_TRIGGERS_SERVER_KEY is not set") and "--data-dir" in err, err
    assert "Traceback" not in err
    no_store = no_keys.model_copy(update={"database_url": None, "data_dir": tmp_path / "no-stack"})
    code, out, err = await cli(no_store, "list")
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, (code, out, err)
    assert not (tmp_path / "no-stack").exists(), "a mistyped data dir is left as it was"
