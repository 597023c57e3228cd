"""Subscriptions: list, create, edit, enable/disable, rotate the signing secret, delete, send a test event."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from api.deps import CatalogDep, StateDep, StoreDep
from api.errors import TOO_DEEP_TO_PARSE
from api.ui.forms import (
    URL_PASSWORD_KEPT,
    URL_PASSWORD_NOT_SHOWN,
    FormField,
    SubmittedForm,
    destination_sections,
    destination_settings,
    form_values,
    read_subscription_form,
    values_to_show_again,
)
from api.ui.rendering import UiRoute, redirect, render
from api.ui.session import CSRF_FIELD, ChangeSessionDep, SessionDep, UiSession
from event_triggers import subscriptions as service
from event_triggers.catalog import Catalog, TriggerType
from event_triggers.destinations.registry import DESTINATIONS, destination_for
from event_triggers.errors import DomainError, InvalidField, NotFound
from event_triggers.filters import validate_filter
from event_triggers.invocations import reads
from event_triggers.invocations.start import start_test_invocations
from event_triggers.models import (
    ValidateFilterRequest,
    ValidateFilterResult,
    check_json_document,
    parse_wire,
)
from event_triggers.security.client_credentials import (
    INVOCATION_STATUS_MANAGE,
    SUBSCRIPTIONS_MANAGE,
    SUBSCRIPTIONS_READ,
)
from event_triggers.store import Subscription

router = APIRouter(route_class=UiRoute)
json_router = APIRouter()
"""Calls the page's script makes: JSON answers and the API's JSON errors."""

RECENT_INVOCATIONS = 10
TEST_EVENT_WAIT_SECONDS = 3
TOP_LEVEL_CONTROLS = (
    "name",
    "description",
    "triggerId",
    "type",
    "responseDeadline",
    "maxDeliveriesPerSecond",
    "enabled",
    "filter",
)
_FIELD_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9.\[\]]*): (.+)$")


def field_errors(problem: DomainError, controls: set[str]) -> dict[str, str]:
    """An API error keyed by the form control it names (``""``: the form as a whole)."""
    if isinstance(problem, InvalidField):
        field, reason = problem.field, problem.reason
    elif match := _FIELD_PREFIX.match(problem.message):
        field, reason = match.group(1), match.group(2)
    else:
        return {"": problem.message}
    # An error on a whole settings object (``httpConfig``) goes to its fieldset.
    return {field: reason} if field in controls else {"": f"{field}: {reason}"}


def _refused_form_page(
    request: Request,
    *,
    session: UiSession,
    catalog: Catalog,
    submitted: SubmittedForm,
    problem: DomainError,
    subscription: Subscription | None,
) -> Response:
    """The submitted form again with the API's errors, holding no secret it was sent."""
    values, cleared = values_to_show_again(submitted.values)
    errors = field_errors(problem, _controls(destination_sections()))
    for name in cleared:
        errors.setdefault(name, URL_PASSWORD_KEPT if subscription else URL_PASSWORD_NOT_SHOWN)
    return _form_page(
        request, session=session, catalog=catalog, values=values, errors=errors, subscription=subscription
    )


def _controls(sections: tuple[FormField, ...]) -> set[str]:
    return {*TOP_LEVEL_CONTROLS, *(control.name for section in sections for control in section.walk())}


def _form_page(
    request: Request,
    *,
    session: UiSession,
    catalog: Catalog,
    values: dict[str, str],
    errors: dict[str, str],
    subscription: Subscription | None,
) -> Response:
    """The form, the API's errors next to their fields (answered 200: a page to fix, not a failure)."""
    return render(
        request,
        "subscription_form.html",
        {
            "section": "subscriptions",
            "triggers": catalog.all(),
            "types": list(DESTINATIONS),
            "sections": destination_sections(),
            "values": values,
            "errors": errors,
            "subscription": subscription,
            "examples": {trigger.id: trigger.example_input for trigger in catalog.all()},
        },
        session=session,
    )


async def _submitted(request: Request, catalog: Catalog, *, trigger_id: str | None = None) -> SubmittedForm:
    form = await request.form()
    items = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    if trigger_id is not None:
        items.append(("triggerId", trigger_id))
    chosen = catalog.get(dict(items).get("triggerId", ""))
    return read_subscription_form(
        items,
        request_response=chosen is not None and chosen.type is TriggerType.REQUEST_RESPONSE,
        ignore=(CSRF_FIELD,),
    )


@router.get("/subscriptions")
async def list_subscriptions(
    request: Request, session: SessionDep, store: StoreDep, catalog: CatalogDep
) -> Response:
    session.require(SUBSCRIPTIONS_READ)
    return render(
        request,
        "subscriptions.html",
        {
            "section": "subscriptions",
            "subscriptions": await store.list_subscriptions(secrets=False),
            "catalog": catalog,
        },
        session=session,
    )


@router.get("/subscriptions/new")
async def new_subscription(
    request: Request, session: SessionDep, catalog: CatalogDep, triggerId: str = ""
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    values = {"triggerId": triggerId, "type": next(iter(DESTINATIONS)), "responseDeadline": "PT1H"}
    values["enabled"] = "true"
    return _form_page(request, session=session, catalog=catalog, values=values, errors={}, subscription=None)


@router.post("/subscriptions/new")
async def create_subscription(
    request: Request, session: ChangeSessionDep, state: StateDep, catalog: CatalogDep
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    submitted = await _submitted(request, catalog)
    try:
        created = await service.create_subscription(
            store=state.store, catalog=catalog, destinations=state.destinations, body=submitted.body
        )
    except DomainError as problem:
        return _refused_form_page(
            request, session=session, catalog=catalog, submitted=submitted, problem=problem, subscription=None
        )
    secret = created.signingSecrets[0].secret if destination_for(created.type).signs_deliveries else None
    return render(
        request,
        "secret.html",
        {"section": "subscriptions", "subscription": created, "secret": secret, "created": True},
        session=session,
        status_code=201,
    )


@router.get("/subscriptions/{subscription_id}")
async def show_subscription(
    subscription_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    catalog: CatalogDep,
    test: str | None = None,
) -> Response:
    session.require(SUBSCRIPTIONS_READ)
    subscription = await service.require_subscription(store=state.store, subscription_id=subscription_id)
    trigger = catalog.require(subscription.triggerId)
    recent: list[reads.InvocationSummary] = []
    test_outcome = None
    if session.can_read_invocations:
        context = await state.invocation_context()
        recent = (
            await reads.list_invocations(
                context=context, subscription_id=subscription_id, page_size=RECENT_INVOCATIONS
            )
        ).items
        if test and test != "none":
            test_outcome = await reads.get_invocation(context=context, invocation_id=test)
    return render(
        request,
        "subscription.html",
        {
            "section": "subscriptions",
            "subscription": subscription,
            "trigger": trigger,
            "signs_deliveries": destination_for(subscription.type).signs_deliveries,
            "settings": destination_settings(
                service.to_public(subscription, catalog=catalog).model_dump(mode="json"),
                request_response=trigger.type is TriggerType.REQUEST_RESPONSE,
            ),
            "recent": recent,
            "test": test,
            "test_outcome": test_outcome,
        },
        session=session,
    )


@router.get("/subscriptions/{subscription_id}/edit")
async def edit_subscription(
    subscription_id: str, request: Request, session: SessionDep, state: StateDep, catalog: CatalogDep
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    subscription = await service.require_subscription(store=state.store, subscription_id=subscription_id)
    values = form_values(service.to_public(subscription, catalog=catalog).model_dump(mode="json"))
    return _form_page(
        request, session=session, catalog=catalog, values=values, errors={}, subscription=subscription
    )


@router.post("/subscriptions/{subscription_id}/edit")
async def save_subscription(
    subscription_id: str, request: Request, session: ChangeSessionDep, state: StateDep, catalog: CatalogDep
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    stored = await service.require_subscription(store=state.store, subscription_id=subscription_id)
    submitted = await _submitted(request, catalog, trigger_id=stored.triggerId)
    try:
        await service.replace_subscription(
            store=state.store,
            catalog=catalog,
            destinations=state.destinations,
            temporal=state.temporal,
            subscription_id=subscription_id,
            body=submitted.body,
        )
    except DomainError as problem:
        if isinstance(problem, NotFound):
            raise
        return _refused_form_page(
            request,
            session=session,
            catalog=catalog,
            submitted=submitted,
            problem=problem,
            subscription=stored,
        )
    return redirect(f"/ui/subscriptions/{subscription_id}")


@router.post("/subscriptions/{subscription_id}/enabled")
async def set_enabled(
    subscription_id: str,
    session: ChangeSessionDep,
    state: StateDep,
    catalog: CatalogDep,
    enabled: Annotated[bool, Form()],
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    await service.patch_subscription(
        store=state.store,
        catalog=catalog,
        destinations=state.destinations,
        temporal=state.temporal,
        subscription_id=subscription_id,
        operations=[{"op": "replace", "path": "/enabled", "value": enabled}],
    )
    return redirect(f"/ui/subscriptions/{subscription_id}")


@router.post("/subscriptions/{subscription_id}/rotate-secret")
async def rotate_secret(
    subscription_id: str, request: Request, session: ChangeSessionDep, state: StateDep
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    rotated = await service.rotate_signing_secret(
        store=state.store, subscription_id=subscription_id, grace=state.settings.signing_secret_grace
    )
    previous = rotated.signingSecrets[1].expires if len(rotated.signingSecrets) > 1 else None
    return render(
        request,
        "secret.html",
        {
            "section": "subscriptions",
            "subscription": rotated,
            "secret": rotated.signingSecrets[0].secret,
            "previous_expires": previous,
            "created": False,
        },
        session=session,
    )


@router.get("/subscriptions/{subscription_id}/delete")
async def confirm_delete(
    subscription_id: str, request: Request, session: SessionDep, state: StateDep
) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    subscription = await service.require_subscription(store=state.store, subscription_id=subscription_id)
    return render(
        request,
        "delete.html",
        {"section": "subscriptions", "subscription": subscription},
        session=session,
    )


@router.post("/subscriptions/{subscription_id}/delete")
async def delete_subscription(subscription_id: str, session: ChangeSessionDep, state: StateDep) -> Response:
    session.require(SUBSCRIPTIONS_MANAGE)
    await service.delete_subscription(store=state.store, subscription_id=subscription_id)
    return redirect("/ui/subscriptions")


@router.post("/subscriptions/{subscription_id}/test")
async def send_test_event(subscription_id: str, session: ChangeSessionDep, state: StateDep) -> Response:
    """The trigger's example input to this subscription alone; its outcome then shows on the page."""
    session.require(INVOCATION_STATUS_MANAGE)
    subscription = await service.require_subscription(store=state.store, subscription_id=subscription_id)
    context = await state.invocation_context()
    started = await start_test_invocations(
        context=context,
        trigger_id=subscription.triggerId,
        payload=None,
        content_json={},
        subscription_ids=[subscription_id],
    )
    if not started:
        return redirect(f"/ui/subscriptions/{subscription_id}?test=none#test-outcome")
    # Most deliveries finish within moments: wait a little so the page shows the outcome at once.
    await reads.get_invocation(
        context=context, invocation_id=started[0].id, wait_seconds=TEST_EVENT_WAIT_SECONDS
    )
    return redirect(f"/ui/subscriptions/{subscription_id}?test={started[0].id}#test-outcome")


@json_router.post("/validate-filter")
async def check_filter(request: Request, session: ChangeSessionDep) -> ValidateFilterResult:
    """The filter editor's check as you type: the validate-filter route's answer."""
    session.require(SUBSCRIPTIONS_MANAGE)
    try:
        document = await request.json()
    except ValueError as exc:
        raise InvalidField("body", f"malformed JSON ({exc})") from None
    except RecursionError:  # Python's parser recurses per level: about a thousand levels are too many
        raise InvalidField("body", TOO_DEEP_TO_PARSE) from None
    check_json_document(document)
    body = parse_wire(ValidateFilterRequest, document)
    return validate_filter(expression=body.filter, data=body.input)
