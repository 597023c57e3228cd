"""Which behaviours an ``InvocationWorkflow`` runs with: its request's revision, else its patch markers."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from event_triggers.invocation_models import InvocationRequest, WorkflowRevision


def runs_with(request: InvocationRequest, patch: str) -> bool:
    """Whether the invocation has the behaviour of ``patch``: every request started with a revision has
    it, and records no marker; one recorded before revisions has it when its history carries the marker.

    During a rolling upgrade a worker from before revisions may run a request that has one, and record the
    marker: a replay asks the patch, so that marker is matched (a replay records nothing either way)."""
    if request.workflow_revision is WorkflowRevision.PATCH_MARKERS:
        return workflow.patched(patch)
    if workflow.unsafe.is_replaying():
        workflow.patched(patch)
    return True  # every revision since the first has the three patched behaviours
