from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Response

from api.deps import CatalogDep, CollectionDep, ReadSubscriptions
from api.openapi import AUTHENTICATED, error_responses

router = APIRouter(
    prefix="/triggers/v1",
    tags=["Triggers"],
    dependencies=[ReadSubscriptions],
    responses=error_responses(*AUTHENTICATED, 400),
)

TRIGGER_FILTERS = {"id": {"eq", "ge", "le"}}
TRIGGER_SORTERS = {"id", "name"}


@router.get("")
async def list_triggers(
    catalog: CatalogDep, params: CollectionDep, response: Response
) -> list[Mapping[str, Any]]:
    """The trigger catalog, schemas as strings holding the Avro schema JSON."""
    return params.page(
        [trigger.to_public() for trigger in catalog.all()],
        response,
        filter_fields=TRIGGER_FILTERS,
        sort_fields=TRIGGER_SORTERS,
    )
