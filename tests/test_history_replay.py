"""Histories recorded by earlier versions of ``InvocationWorkflow`` and ``ReplayWorkflow`` replay on the
current code.

``tests/histories`` holds real histories (delivery retried by Temporal, rejected at once, a SYNC answer
after a retry) recorded before the attempt log, one whose delivery waited for its rate limit's slot
(patches ``attempt-log`` and ``rate-limit``), two started with workflow revision 1 (behaviours chosen by
the request, no patch marker: a retried fire-and-forget delivery, a SYNC answer), one as a rolling upgrade
leaves it (a request with revision 1 run by a worker from before revisions, which recorded the markers:
the rate-limited history with the revision added to its input), and bulk replays (one completed, one
canceled mid-way by its Update); a workflow change that breaks them fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.invocation import InvocationWorkflow
from workflows.replay import ReplayWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
RECORDED = {path.stem: path.read_text() for path in HISTORIES}


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, RECORDED[name])
    replayer = Replayer(
        workflows=[InvocationWorkflow, ReplayWorkflow], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_histories_are_there() -> None:
    assert set(RECORDED) >= {
        "fire_and_forget_retried",
        "fire_and_forget_rejected",
        "sync_answered_after_retry",
        "fire_and_forget_rate_limited",
        "fire_and_forget_retried_revision_1",
        "sync_answered_revision_1",
        "rolling_upgrade_revision_1_with_markers",
        "replay_completed",
        "replay_canceled",
    }
