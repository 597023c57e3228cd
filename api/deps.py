"""FastAPI dependencies: shared clients from the app state, collection query parameters.

All are ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool, a thread hop per
dependency per request, which the SYNC round trip cannot afford.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from api.state import AppState
from event_triggers.catalog import Catalog
from event_triggers.clients import authorize
from event_triggers.collection import DEFAULT_LIMIT, MAX_LIMIT, FilterSpec, apply_collection
from event_triggers.config import Settings
from event_triggers.errors import UnsupportedMediaType
from event_triggers.invocations.context import InvocationContext
from event_triggers.models import check_json_document
from event_triggers.security.client_credentials import (
    INVOCATION_STATUS_MANAGE,
    INVOCATION_STATUS_READ,
    INVOCATIONS_CREATE,
    SUBSCRIPTIONS_MANAGE,
    SUBSCRIPTIONS_READ,
    TokenClaims,
)
from event_triggers.store import Store


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.app_state
    return state


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


async def get_store(state: Annotated[AppState, Depends(get_state)]) -> Store:
    return state.store


async def get_catalog(state: Annotated[AppState, Depends(get_state)]) -> Catalog:
    return state.catalog


class CollectionParams(BaseModel):
    """SailPoint's standard collection parameters."""

    limit: int
    offset: int
    count: bool
    filters: str | None
    sorters: str | None

    def page(
        self,
        items: Sequence[Mapping[str, Any]],
        response: Response,
        *,
        filter_fields: FilterSpec,
        sort_fields: set[str],
    ) -> list[Mapping[str, Any]]:
        """Filter, sort and page ``items``; ``count=true`` puts the filtered total in ``X-Total-Count``."""
        page, total = apply_collection(
            items,
            filters=self.filters,
            sorters=self.sorters,
            limit=self.limit,
            offset=self.offset,
            filter_fields=filter_fields,
            sort_fields=sort_fields,
        )
        self.report_total(response, total)
        return page

    def report_total(self, response: Response, total: int) -> None:
        if self.count:
            response.headers["X-Total-Count"] = str(total)


async def get_invocation_context(state: Annotated[AppState, Depends(get_state)]) -> InvocationContext:
    return await state.invocation_context()


async def get_collection_params(
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
    count: bool = False,
    filters: str | None = None,
    sorters: str | None = None,
) -> CollectionParams:
    return CollectionParams(limit=limit, offset=offset, count=count, filters=filters, sorters=sorters)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def require_body_media_type(request: Request) -> None:
    """415 naming the expected type when a route that parses a body is sent another media type; 400
    naming the field when a JSON body holds a value nothing can store (``check_json_document``).

    An app-wide dependency: it runs before the body is validated, so a form or text body sent to a JSON
    route is refused for its type rather than for its shape, and no route sees such a value.
    """
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None:
        return
    expected = body_field.field_info.media_type
    header = request.headers.get("content-type")
    media_type = header.split(";")[0].strip().lower() if header else None
    if isinstance(body_field.field_info, params.Form):
        if media_type is None or media_type in _FORM_TYPES:
            return
    elif media_type is None:
        if not await request.body():
            return
    elif _is_json(media_type):
        if await request.body():
            check_json_document(await request.json())  # FastAPI parsed it already: this reads its cache
        return
    raise UnsupportedMediaType(f"Content-Type: expected {expected}, not {header or 'none'}")


_bearer = HTTPBearer(auto_error=False, description="POST /oauth/token (client credentials)")


def require_scope(*any_of: str) -> params.Depends:
    """A route dependency: a valid bearer token holding one of ``any_of`` (manage implies read)."""

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> TokenClaims:
        return authorize(
            token=credentials.credentials if credentials else None,
            signing_key=request.app.state.app_state.token_signing_key,
            any_of=any_of,
        )

    return Depends(check)


ReadSubscriptions = require_scope(SUBSCRIPTIONS_READ)
ManageSubscriptions = require_scope(SUBSCRIPTIONS_MANAGE)
ReadInvocationStatus = require_scope(INVOCATION_STATUS_READ)
ManageInvocationStatus = require_scope(INVOCATION_STATUS_MANAGE)
CreateInvocations = require_scope(INVOCATIONS_CREATE)

StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
CollectionDep = Annotated[CollectionParams, Depends(get_collection_params)]
ContextDep = Annotated[InvocationContext, Depends(get_invocation_context)]
"""The invocation operations' context (connects to Temporal on first use)."""
