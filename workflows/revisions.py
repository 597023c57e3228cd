"""Which behaviours an ``InvocationWorkflow`` runs with: its request's revision, else its patch markers."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from event_triggers.invocation_models import InvocationRequest, WorkflowRevision


def runs_with(request: InvocationRequest, patch: str) -> bool:
    """Whether the invocation has the behaviour of ``patch``: every request started with a revision has
    it (no marker recorded); one recorded before revisions has it when its history carries the marker."""
    if request.workflow_revision is WorkflowRevision.PATCH_MARKERS:
        return workflow.patched(patch)
    return request.workflow_revision >= WorkflowRevision.ATTEMPT_LOG_RATE_LIMIT_AUTO_DISABLE
