"""FastAPI dependencies: shared clients from the app state, collection query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from temporalio.client import Client

from api.state import AppState
from event_triggers.catalog import Catalog
from event_triggers.config import Settings
from event_triggers.store import Store


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.app_state
    return state


def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


def get_store(state: Annotated[AppState, Depends(get_state)]) -> Store:
    return state.store


def get_catalog(state: Annotated[AppState, Depends(get_state)]) -> Catalog:
    return state.catalog


async def get_temporal_client(state: Annotated[AppState, Depends(get_state)]) -> Client:
    return await state.temporal.client()


class CollectionParams(BaseModel):
    """SailPoint's standard collection parameters."""

    limit: int
    offset: int
    count: bool
    filters: str | None
    sorters: str | None


def get_collection_params(
    limit: Annotated[int, Query(ge=0, le=250)] = 250,
    offset: Annotated[int, Query(ge=0)] = 0,
    count: bool = False,
    filters: str | None = None,
    sorters: str | None = None,
) -> CollectionParams:
    return CollectionParams(limit=limit, offset=offset, count=count, filters=filters, sorters=sorters)


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
TemporalDep = Annotated[Client, Depends(get_temporal_client)]
CollectionDep = Annotated[CollectionParams, Depends(get_collection_params)]
