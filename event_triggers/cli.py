"""The ``event-triggers`` console script: dev stack, single processes, cluster setup, API clients."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from event_triggers.config import Settings, get_settings


def _run_api(args: argparse.Namespace) -> int:
    from api.main import serve

    serve(get_settings())
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    from worker import run_worker

    asyncio.run(run_worker(get_settings()))
    return 0


def _run_setup(args: argparse.Namespace) -> int:
    from event_triggers.temporal import connect, register_search_attributes

    async def setup(settings: Settings) -> list[str]:
        client = await connect(settings)
        return await register_search_attributes(client, settings.temporal_namespace)

    added = asyncio.run(setup(get_settings()))
    print(f"search attributes added: {', '.join(added) or 'none (already registered)'}")
    return 0


def _run_dev(args: argparse.Namespace) -> int:
    from event_triggers.devstack import DevStackOptions, run_dev_stack

    return run_dev_stack(
        DevStackOptions(
            api_port=args.api_port,
            temporal_port=args.temporal_port,
            ui_port=args.ui_port,
            data_dir=Path(args.data_dir),
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="event-triggers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run Temporal (with Web UI), the worker and the API on this machine")
    dev.add_argument("--api-port", type=int, default=8000)
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument("--data-dir", default=".event-triggers")
    dev.set_defaults(handler=_run_dev)

    commands.add_parser("api", help="serve the REST API (settings from EVENT_TRIGGERS_*)").set_defaults(
        handler=_run_api
    )
    commands.add_parser("worker", help="run a Temporal worker (settings from EVENT_TRIGGERS_*)").set_defaults(
        handler=_run_worker
    )
    commands.add_parser(
        "setup", help="register the search attributes on an existing Temporal cluster (idempotent)"
    ).set_defaults(handler=_run_setup)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.handler(args))
