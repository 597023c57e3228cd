"""Complete an invocation: a subscriber's answer, authenticated by the invocation secret."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from event_triggers.errors import Conflict, Gone, InvalidField, Unauthorized, Unavailable
from event_triggers.invocation_models import UPDATE_COMPLETE, Completion, InvocationStatus, RejectionReason
from event_triggers.invocations.context import InvocationContext
from event_triggers.invocations.reads import describe_invocation, status_of
from event_triggers.metrics import counted_callback
from event_triggers.payload_limits import check_nesting
from event_triggers.security.invocation_secret import invocation_secret, secrets_equal
from event_triggers.temporal import TRIGGER_ID


def _finished_error(invocation_id: str, status: InvocationStatus) -> Conflict | Gone:
    if status is InvocationStatus.TIMED_OUT:
        return Gone(f"invocation {invocation_id} timed out: its deadline has passed")
    return Conflict(f"invocation {invocation_id} is already completed ({status.value})")


@counted_callback
async def complete_invocation(
    *,
    context: InvocationContext,
    invocation_id: str,
    secret: str,
    output: dict[str, Any] | None,
    error: str | None,
) -> None:
    """A subscriber's answer: check the secret and the output schema, then send the ``complete`` Update.

    A wrong secret or a bad output changes nothing, so the subscriber can retry before the deadline.
    """
    handle = context.client.get_workflow_handle(invocation_id)
    description = await describe_invocation(handle)
    expected = invocation_secret(server_key=context.server_key, invocation_id=invocation_id)
    if not secrets_equal(secret, expected):
        raise Unauthorized("secret: does not match the invocation")
    status = status_of(description)
    if status.finished:
        raise _finished_error(invocation_id, status)
    # As SailPoint completes: a non-empty error fails the invocation with it, whatever the output says
    # (its own example sends both), and an empty one is no error.
    if error:
        output = None
    else:
        error = None
    if output is None and error is None:
        raise InvalidField("output", "is required (or a non-empty error, to fail the invocation)")
    # An answer Temporal could not carry would terminate the workflow: refuse it, the invocation waits on.
    check_nesting("output", output)
    limits = await context.payload_limits.get()
    limits.check_document(
        "output" if output is not None else "error", output if output is not None else error
    )
    if output is not None:
        trigger = context.catalog.require(description.typed_search_attributes.get(TRIGGER_ID) or "")
        trigger.validate_output(output)
    try:
        await handle.execute_update(
            UPDATE_COMPLETE,
            Completion(output=output, error=error),
            rpc_timeout=context.settings.complete_rpc_timeout,
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        reason = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, ApplicationError) else str(exc)
        if reason == RejectionReason.DEADLINE_PASSED:
            raise Gone(f"invocation {invocation_id}: {message}") from None
        raise Conflict(f"invocation {invocation_id}: {message}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable("no worker took the completion in time; retry", retry_after=1) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # the workflow closed since we described it
            raise _finished_error(invocation_id, status_of(await describe_invocation(handle))) from None
        raise Unavailable(f"cannot complete invocation: {exc.message}") from exc
