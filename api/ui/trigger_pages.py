"""The trigger catalog: every trigger, and one trigger's schemas and examples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import CatalogDep, StoreDep
from api.ui.rendering import UiRoute, render
from api.ui.session import SessionDep
from event_triggers.security.client_credentials import SUBSCRIPTIONS_READ

router = APIRouter(route_class=UiRoute)


@dataclass(frozen=True)
class SchemaRow:
    """One field of an Avro record, flattened: ``requestedFor.id``, ``string``, its doc."""

    path: str
    type: str
    doc: str
    optional: bool


def _type_name(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return " | ".join(_type_name(item) for item in schema if item != "null")
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type_name(schema['items'])}"
    if kind == "map":
        return f"map of {_type_name(schema['values'])}"
    if kind == "enum":
        return "one of " + ", ".join(schema.get("symbols", []))
    if kind == "record":
        return "object"
    return str(kind)


def _records_in(schema: Any) -> list[dict[str, Any]]:
    """The record schemas a field's type contains, directly or through unions, arrays and maps."""
    if isinstance(schema, list):
        return [record for item in schema for record in _records_in(item)]
    if not isinstance(schema, dict):
        return []
    if schema.get("type") == "record":
        return [schema]
    if schema.get("type") == "array":
        return _records_in(schema["items"])
    if schema.get("type") == "map":
        return _records_in(schema["values"])
    return []


def schema_rows(schema: dict[str, Any], prefix: str = "") -> list[SchemaRow]:
    """An Avro record schema as a readable table, nested records flattened with dotted paths."""
    rows: list[SchemaRow] = []
    for field in schema.get("fields", []):
        path = f"{prefix}{field['name']}"
        kind = field["type"]
        optional = isinstance(kind, list) and "null" in kind
        rows.append(SchemaRow(path, _type_name(kind), field.get("doc", ""), optional))
        for record in _records_in(kind):
            rows.extend(schema_rows(record, prefix=f"{path}."))
    return rows


@router.get("/triggers")
async def list_triggers(
    request: Request, session: SessionDep, catalog: CatalogDep, store: StoreDep
) -> Response:
    session.require(SUBSCRIPTIONS_READ)
    subscriptions = await store.list_subscriptions(secrets=False)
    counts: dict[str, int] = {}
    for subscription in subscriptions:
        counts[subscription.triggerId] = counts.get(subscription.triggerId, 0) + 1
    return render(
        request,
        "triggers.html",
        {"section": "triggers", "triggers": catalog.all(), "counts": counts},
        session=session,
    )


@router.get("/triggers/{trigger_id}")
async def show_trigger(
    trigger_id: str, request: Request, session: SessionDep, catalog: CatalogDep, store: StoreDep
) -> Response:
    session.require(SUBSCRIPTIONS_READ)
    trigger = catalog.require(trigger_id)
    return render(
        request,
        "trigger.html",
        {
            "section": "triggers",
            "trigger": trigger,
            "input_rows": schema_rows(trigger.input_schema),
            "output_rows": schema_rows(trigger.output_schema) if trigger.output_schema else [],
            "subscriptions": await store.list_subscriptions(trigger_id=trigger_id, secrets=False),
        },
        session=session,
    )
