"""``event-triggers invocations ...``: the operator loop from a terminal (list, show, attempts, redeliver,
replay), on the same domain functions as the REST API. Human-readable by default, ``--json`` for scripts."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from event_triggers.collection import MAX_LIMIT
from event_triggers.config import Settings
from event_triggers.errors import InvalidField, Unavailable
from event_triggers.invocation_models import InvocationStatus
from event_triggers.replay_models import DEFAULT_STATUSES, Replay, ReplayStatus

if TYPE_CHECKING:  # the Temporal client, store and catalog load only for the commands that run
    from event_triggers.invocations.context import InvocationContext

WAIT_INTERVAL = 1.0
"""How often ``replay --wait`` reads the replay's progress (seconds)."""
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters (C0, DEL, C1: escape sequences), line separators and bidirectional overrides."""


@asynccontextmanager
async def invocation_context(settings: Settings) -> AsyncIterator[InvocationContext]:
    from event_triggers.catalog import load_catalog
    from event_triggers.invocations.context import InvocationContext
    from event_triggers.keys import load_server_key
    from event_triggers.store import Store
    from event_triggers.subscription_reads import SubscriptionReads
    from event_triggers.temporal import connect

    store = await Store.open(settings)
    try:
        try:
            client = await connect(settings)
        except Exception as exc:  # the SDK's RuntimeError: an error line, as the API's 503, not a traceback
            raise Unavailable(f"Temporal at {settings.temporal_address}: {exc}") from exc
        yield InvocationContext(
            settings=settings,
            store=store,
            catalog=load_catalog(extra_dirs=settings.catalog_dirs),
            client=client,
            server_key=load_server_key(settings),
            subscriptions=SubscriptionReads(store),
        )
    finally:
        await store.close()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _printable(value: object) -> str:
    """``value`` as text for the terminal, its control characters escaped (``\\x1b``): a subscriber's
    answer or a subscription's name must not act on the operator's terminal (set its clipboard, clear
    it, hide or reorder what follows)."""
    return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), str(value))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


async def _list(context: InvocationContext, args: argparse.Namespace) -> Any:
    from event_triggers.invocations.reads import list_invocations

    page = await list_invocations(
        context=context,
        trigger_id=args.trigger,
        subscription_id=args.subscription,
        status=InvocationStatus(args.status) if args.status else None,
        page_size=args.limit,
    )
    return [
        {
            "id": item.id,
            "triggerId": item.triggerId,
            "subscriptionId": item.subscriptionId,
            "subscriptionName": item.subscriptionName,
            "status": item.status.value,
            "created": item.created.isoformat(),
            "completed": item.completed.isoformat() if item.completed else None,
        }
        for item in page.items
    ]


def _print_list(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        when = row["created"][:19]
        trigger, name = _printable(row["triggerId"]), _printable(row["subscriptionName"])
        print(f"{_printable(row['id'])}  {row['status']:<17}  {when}  {trigger}  {name}")


async def _show(context: InvocationContext, args: argparse.Namespace) -> Any:
    from event_triggers.invocations.reads import get_invocation

    return await get_invocation(context=context, invocation_id=args.id)


def _print_fields(value: Any) -> None:
    for key, item in _plain(value).items():
        print(f"{key + ':':<18}{json.dumps(item) if isinstance(item, dict | list) else _printable(item)}")


async def _attempts(context: InvocationContext, args: argparse.Namespace) -> Any:
    from event_triggers.invocations.reads import list_attempts

    return await list_attempts(context=context, invocation_id=args.id)


def _print_attempts(attempts: list[Any]) -> None:
    for item in attempts:
        outcome = _printable(item.error) if item.error else "delivered"
        status = item.statusCode if item.statusCode is not None else "---"
        following = f"  next {_when(item.nextAttemptAt)}" if item.nextAttemptAt else ""
        took = f"{item.durationMs or 0:>6} ms"
        print(f"#{item.attempt:<3} {_when(item.started)}  {took}  {status}  {outcome}{following}")


async def _redeliver(context: InvocationContext, args: argparse.Namespace) -> Any:
    from event_triggers.invocations.redelivery import redeliver_invocation

    return await redeliver_invocation(context=context, invocation_id=args.id)


async def _replay(context: InvocationContext, args: argparse.Namespace) -> Replay:
    from event_triggers.invocations import replays

    if args.replay_command == "show":
        return await replays.get_replay(context=context, replay_id=args.id)
    if args.replay_command == "cancel":
        return await replays.cancel_replay(context=context, replay_id=args.id)
    if args.since is None:
        raise InvalidField("from", "is required to start a replay (--from, an ISO time)")
    replay = await replays.start_replay(
        context=context,
        trigger_id=args.trigger,
        subscription_id=args.subscription,
        statuses=[InvocationStatus(item) for item in args.status] if args.status else DEFAULT_STATUSES,
        created_from=args.since,
        created_to=args.until or datetime.now(UTC),
    )
    while args.wait and replay.status is ReplayStatus.RUNNING:
        if not args.json:
            _print_replay(replay)
        await asyncio.sleep(WAIT_INTERVAL)
        replay = await replays.get_replay(context=context, replay_id=replay.id)
    return replay


def _print_replay(replay: Replay) -> None:
    counts = f"{replay.replayed} replayed, {replay.failed} failed of {replay.total}"
    print(f"{_printable(replay.id)}  {replay.status.value:<9}  {counts}")


def _time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is this machine's local time."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    try:
        return parsed.astimezone()
    except (OverflowError, ValueError):  # 0001-01-01T00:00+14:00 is in year 0 in UTC
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: it has no date in UTC") from None


def _page_size(text: str) -> int:
    """``list --limit``: a whole number from 1 to ``MAX_LIMIT``."""
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= size <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}, not {size}")
    return size


Printer = Callable[[Any], None]
COMMANDS: dict[str, tuple[Callable[[InvocationContext, argparse.Namespace], Awaitable[Any]], Printer]] = {
    "list": (_list, _print_list),
    "show": (_show, _print_fields),
    "attempts": (_attempts, _print_attempts),
    "redeliver": (_redeliver, _print_fields),
    "replay": (_replay, _print_replay),
}


async def run_invocations_command(settings: Settings, args: argparse.Namespace) -> None:
    command, printer = COMMANDS[args.invocations_command]
    async with invocation_context(settings) as context:
        result = await command(context, args)
    if args.json:
        print(json.dumps(_plain(result), indent=2, default=str))
    else:
        printer(result)


def add_invocations_parser(commands: Any) -> argparse.ArgumentParser:
    """The ``invocations`` subcommand and its own subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "invocations", help="see, redeliver and replay invocations (docs/operator-loop.md)"
    )
    subcommands = parser.add_subparsers(dest="invocations_command", required=True)
    listing = subcommands.add_parser("list", help="recent invocations, newest created first")
    listing.add_argument("--trigger")
    listing.add_argument("--subscription")
    listing.add_argument("--status", choices=[item.value for item in InvocationStatus])
    listing.add_argument("--limit", type=_page_size, default=50, help=f"at most {MAX_LIMIT} (default: 50)")
    for name, text in (
        ("show", "one invocation"),
        ("attempts", "every delivery attempt of an invocation, oldest first"),
        ("redeliver", "a new invocation of a finished one's input, to its subscription as it is now"),
    ):
        subcommands.add_parser(name, help=text).add_argument("id")
    _with_json(listing, *(subcommands.choices[name] for name in ("show", "attempts", "redeliver")))
    _add_replay_parser(subcommands)
    return parser


def _with_json(*parsers: argparse.ArgumentParser) -> None:
    for parser in parsers:
        parser.add_argument("--json", action="store_true", help="print JSON")


def _add_replay_parser(subcommands: Any) -> None:
    """``replay --from ... [--to ...]`` starts a replay; ``replay show|cancel <id>``."""
    replay: argparse.ArgumentParser = subcommands.add_parser(
        "replay", help="redeliver every finished invocation that matches, paced (docs/operator-loop.md)"
    )
    replay.add_argument("--trigger")
    replay.add_argument("--subscription")
    replay.add_argument(
        "--status",
        action="append",
        choices=[item.value for item in InvocationStatus if item.finished],
        help="repeat for several (default: FAILED and TIMED_OUT)",
    )
    replay.add_argument(
        "--from", dest="since", type=_time, metavar="TIME", help="invocations created from then (ISO 8601)"
    )
    replay.add_argument(
        "--to", dest="until", type=_time, metavar="TIME", help="... and before then (default: now)"
    )
    replay.add_argument("--wait", action="store_true", help="follow the replay until it ends")
    commands = replay.add_subparsers(dest="replay_command", required=False)
    show = commands.add_parser("show", help="where a replay stands")
    cancel = commands.add_parser("cancel", help="stop a replay after its batch in flight")
    for sub in (show, cancel):
        sub.add_argument("id")
    _with_json(replay, show, cancel)
