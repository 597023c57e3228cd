"""The event-triggers console script: dev stack, single processes, cluster setup, API clients."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from event_triggers.config import Settings, get_settings
from event_triggers.errors import DomainError, SchemaNotReady
from event_triggers.lifeline import exit_when_orphaned

DATA_DIR_HELP = (
    "directory of the SQLite store and the generated keys "
    "(default: $EVENT_TRIGGERS_DATA_DIR, else .event-triggers in the current directory)"
)


def _settings(args: argparse.Namespace) -> Settings:
    """The settings from the environment, with ``--data-dir`` when given."""
    return Settings(data_dir=Path(args.data_dir)) if args.data_dir else get_settings()


def _watch_lifeline(args: argparse.Namespace) -> None:
    if args.lifeline_fd is not None:
        exit_when_orphaned(args.lifeline_fd)


def _run_api(args: argparse.Namespace) -> int:
    from api.main import serve

    _watch_lifeline(args)
    serve(_settings(args))
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    from worker import run_worker

    _watch_lifeline(args)
    asyncio.run(run_worker(_settings(args)))
    return 0


def _run_setup(args: argparse.Namespace) -> int:
    """Migrate the store first (API and workers wait for it), then register the search attributes and
    raise the namespace retention to what dead endpoints need (``Settings.invocation_retention``)."""
    from event_triggers.migrations import upgrade_schema
    from event_triggers.temporal import connect, ensure_retention, register_search_attributes

    settings = _settings(args)
    if settings.sqlite_file is not None:
        settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    before, after = asyncio.run(upgrade_schema(settings.effective_database_url))
    moved = f"{before or 'empty'} -> {after}" if before != after else f"{after} (already current)"
    print(f"store schema: {moved}", flush=True)

    async def register(settings: Settings) -> tuple[list[str], timedelta]:
        client = await connect(settings)
        added = await register_search_attributes(client, settings.temporal_namespace)
        return added, await ensure_retention(
            client, settings.temporal_namespace, settings.invocation_retention
        )

    added, retention = asyncio.run(register(settings))
    print(f"search attributes added: {', '.join(added) or 'none (already registered)'}")
    print(f"namespace retention: {retention.total_seconds() / 3600:g} h")
    return 0


def _run_dev(args: argparse.Namespace) -> int:
    from event_triggers.devstack import DevStackOptions, run_dev_stack
    from event_triggers.metrics import free_loopback_port

    return run_dev_stack(
        DevStackOptions(
            api_port=args.api_port,
            temporal_port=args.temporal_port,
            ui_port=args.ui_port,
            data_dir=_settings(args).data_dir,
            worker_metrics_port=args.worker_metrics_port or free_loopback_port(),
        )
    )


def _missing_database(settings: Settings) -> str | None:
    """Why ``settings`` name no existing store: a SQLite data dir without its database file."""
    if settings.sqlite_file is None or settings.sqlite_file.exists():
        return None
    return (
        f"no Event Triggers database at {settings.sqlite_file}: pass --data-dir with the data dir of "
        "your stack (the one `event-triggers dev` printed), or set EVENT_TRIGGERS_DATABASE_URL"
    )


def _run_clients(args: argparse.Namespace) -> int:
    from event_triggers.clients import create_client
    from event_triggers.store import Store

    async def run(settings: Settings) -> int:
        store = await Store.open(settings)
        try:
            if args.clients_command == "create":
                client = await create_client(store=store, name=args.name, scopes=args.scope)
                if args.json:
                    print(json.dumps({"client_id": client.client_id, "client_secret": client.client_secret}))
                else:
                    print(f"client_id:     {client.client_id}")
                    print(f"client_secret: {client.client_secret}   (shown once; store it now)")
                    print(f"scopes:        {' '.join(client.scopes)}")
            elif args.clients_command == "list":
                for row in await store.list_clients():
                    scopes = " ".join(row.scopes)
                    print(f"{row.client_id}  {row.name}  {scopes}  created {row.created:%Y-%m-%d}")
            elif not await store.delete_client(args.client_id):
                print(f"no client {args.client_id}", file=sys.stderr)
                return 1
            return 0
        finally:
            await store.close()

    settings = _settings(args)
    missing = _missing_database(settings)
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(settings))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


def _run_keys(args: argparse.Namespace) -> int:
    from event_triggers.keys import generate_keys

    keys = generate_keys()
    if args.json:
        print(json.dumps(keys, indent=2))
    else:
        print("\n".join(f"{name}={value}" for name, value in keys.items()))
    return 0


def _operator_settings(args: argparse.Namespace) -> Settings:
    """The worker's settings (``EVENT_TRIGGERS_*``, ``--data-dir``); against ``event-triggers dev`` (no keys
    in the environment, the key files it generated in the data dir) the dev stack's keys, as its processes
    read them."""
    from event_triggers.keys import DEV_SERVER_KEY_FILE

    settings = _settings(args)
    if not settings.server_key and (settings.data_dir / DEV_SERVER_KEY_FILE).exists():
        return settings.model_copy(update={"dev_mode": True})
    return settings


def _run_invocations(args: argparse.Namespace) -> int:
    from event_triggers.keys import MissingKey
    from event_triggers.operator_cli import run_invocations_command

    settings = _operator_settings(args)
    missing = _missing_database(settings)
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_invocations_command(settings, args))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except MissingKey as exc:
        print(
            f"error: {exc}; against `event-triggers dev`, pass --data-dir with its data dir", file=sys.stderr
        )
        return 2
    return 0


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _add_lifeline(parser: argparse.ArgumentParser) -> None:
    """Set by ``event-triggers dev`` only: the pipe whose end tells this process the supervisor is gone."""
    parser.add_argument("--lifeline-fd", type=int, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="event-triggers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser(
        "dev",
        help="run Temporal (with Web UI), the worker and the API on this machine",
        description="Run Temporal (with its Web UI), the worker and the API in the foreground on loopback; "
        "Ctrl-C stops them all, and they stop by themselves within seconds should this process die.",
    )
    dev.add_argument(
        "--api-port",
        type=int,
        default=8000,
        metavar="PORT",
        help="port of the REST API (default: %(default)s)",
    )
    dev.add_argument(
        "--temporal-port",
        type=int,
        default=7233,
        metavar="PORT",
        help="gRPC port of the Temporal dev server (default: %(default)s)",
    )
    dev.add_argument(
        "--ui-port",
        type=int,
        default=8233,
        metavar="PORT",
        help="port of the Temporal Web UI (default: %(default)s)",
    )
    _add_data_dir(dev)
    dev.add_argument(
        "--worker-metrics-port",
        type=int,
        metavar="PORT",
        help="port of the worker's Prometheus endpoint (default: a free port)",
    )
    dev.set_defaults(handler=_run_dev)

    api = commands.add_parser("api", help="serve the REST API (settings from EVENT_TRIGGERS_*)")
    worker = commands.add_parser("worker", help="run a Temporal worker (settings from EVENT_TRIGGERS_*)")
    for server, handler in ((api, _run_api), (worker, _run_worker)):
        _add_data_dir(server)
        _add_lifeline(server)
        server.set_defaults(handler=handler)
    setup = commands.add_parser(
        "setup",
        help="create or migrate the store's schema, then register the search attributes on Temporal "
        "(idempotent; run it before starting or upgrading the API and workers)",
    )
    _add_data_dir(setup)
    setup.set_defaults(handler=_run_setup)

    keys = commands.add_parser("keys", help="make the key settings every API replica and worker must share")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_commands.add_parser(
        "generate",
        help="print a fresh value for every key setting (env lines, e.g. for a .env file, or --json)",
    )
    generate.add_argument("--json", action="store_true", help="print {setting: value} as JSON")
    generate.set_defaults(handler=_run_keys)

    clients = commands.add_parser("clients", help="manage API clients (OAuth2 client credentials)")
    clients.set_defaults(handler=_run_clients)
    clients_commands = clients.add_subparsers(dest="clients_command", required=True)
    create = clients_commands.add_parser("create", help="create a client; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, help="repeat for several scopes")
    create.add_argument("--json", action="store_true", help="print {client_id, client_secret} as JSON")
    listing = clients_commands.add_parser("list", help="list clients (never their secrets)")
    delete = clients_commands.add_parser("delete", help="delete a client; its tokens stop at expiry")
    delete.add_argument("client_id")
    for command in (create, listing, delete):
        _add_data_dir(command)

    from event_triggers.operator_cli import add_invocations_parser

    invocations = add_invocations_parser(commands)
    invocations.set_defaults(handler=_run_invocations)
    _add_data_dir(invocations)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    from event_triggers.startup import SettingsError

    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except SchemaNotReady as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    if argv is None:
        from event_triggers.temporal import exit_process  # not before: --help and keys need no Temporal

        exit_process(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
