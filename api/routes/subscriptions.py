from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status

from api.deps import (
    CatalogDep,
    CollectionDep,
    ManageSubscriptions,
    ReadSubscriptions,
    SettingsDep,
    StateDep,
    StoreDep,
)
from api.openapi import AUTHENTICATED, WITH_BODY, error_responses
from event_triggers import subscriptions as service
from event_triggers.destinations.registry import destination_for
from event_triggers.filters import validate_filter
from event_triggers.models import (
    SigningSecretRotated,
    SubscriptionCreated,
    SubscriptionFields,
    SubscriptionPublic,
    SubscriptionReplace,
    ValidateFilterRequest,
    ValidateFilterResult,
)

router = APIRouter(
    prefix="/trigger-subscriptions/v1", tags=["Subscriptions"], responses=error_responses(*AUTHENTICATED)
)

SUBSCRIPTION_FILTERS = {"id": {"eq"}, "triggerId": {"eq"}, "type": {"eq", "le"}}
SUBSCRIPTION_SORTERS = {"triggerId", "triggerName"}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ManageSubscriptions],
    responses=error_responses(*WITH_BODY, 409),
)
async def create_subscription(
    body: SubscriptionFields, store: StoreDep, catalog: CatalogDep, state: StateDep
) -> SubscriptionCreated:
    """Creates a subscription; one whose deliveries are signed (HTTP) gets its signing secret, shown once."""
    subscription = await service.create_subscription(
        store=store, catalog=catalog, destinations=state.destinations, body=body
    )
    public = service.to_public(subscription, catalog=catalog)
    signs = destination_for(subscription.type).signs_deliveries
    secret = subscription.signingSecrets[0].secret if signs else None
    return SubscriptionCreated(**public.model_dump(), signingSecret=secret)


@router.post(
    "/{subscription_id}/rotate-signing-secret",
    dependencies=[ManageSubscriptions],
    responses=error_responses(404),
)
async def rotate_signing_secret(
    subscription_id: str, store: StoreDep, settings: SettingsDep
) -> SigningSecretRotated:
    """Extension: a new signing secret (shown once); the old one also signs during the grace period."""
    rotated = await service.rotate_signing_secret(
        store=store, subscription_id=subscription_id, grace=settings.signing_secret_grace
    )
    return SigningSecretRotated(
        signingSecret=rotated.signingSecrets[0].secret,
        previousSecretExpires=rotated.signingSecrets[1].expires if len(rotated.signingSecrets) > 1 else None,
    )


@router.get("", dependencies=[ReadSubscriptions], responses=error_responses(400))
async def list_subscriptions(
    store: StoreDep, catalog: CatalogDep, params: CollectionDep, response: Response
) -> list[Mapping[str, Any]]:
    subscriptions = await store.list_subscriptions()
    return params.page(
        [service.to_public(item, catalog=catalog).model_dump(mode="json") for item in subscriptions],
        response,
        filter_fields=SUBSCRIPTION_FILTERS,
        sort_fields=SUBSCRIPTION_SORTERS,
    )


@router.post(
    "/validate-filter",
    dependencies=[ManageSubscriptions],
    response_model_exclude_none=True,
    responses=error_responses(*WITH_BODY),
)
async def check_filter(body: ValidateFilterRequest) -> ValidateFilterResult:
    return validate_filter(expression=body.filter, data=body.input)


@router.get("/{subscription_id}", dependencies=[ReadSubscriptions], responses=error_responses(404))
async def get_subscription(subscription_id: str, store: StoreDep, catalog: CatalogDep) -> SubscriptionPublic:
    subscription = await service.require_subscription(store=store, subscription_id=subscription_id)
    return service.to_public(subscription, catalog=catalog)


@router.put(
    "/{subscription_id}", dependencies=[ManageSubscriptions], responses=error_responses(*WITH_BODY, 404)
)
async def replace_subscription(
    subscription_id: str, body: SubscriptionReplace, store: StoreDep, catalog: CatalogDep, state: StateDep
) -> SubscriptionPublic:
    subscription = await service.replace_subscription(
        store=store,
        catalog=catalog,
        destinations=state.destinations,
        temporal=state.temporal,
        subscription_id=subscription_id,
        body=body,
    )
    return service.to_public(subscription, catalog=catalog)


@router.patch(
    "/{subscription_id}", dependencies=[ManageSubscriptions], responses=error_responses(*WITH_BODY, 404)
)
async def patch_subscription(
    subscription_id: str,
    operations: Annotated[list[Any], Body(media_type="application/json-patch+json")],
    store: StoreDep,
    catalog: CatalogDep,
    state: StateDep,
) -> SubscriptionPublic:
    """RFC 6902 JSON Patch; the patched subscription is validated like a PUT."""
    subscription = await service.patch_subscription(
        store=store,
        catalog=catalog,
        destinations=state.destinations,
        temporal=state.temporal,
        subscription_id=subscription_id,
        operations=operations,
    )
    return service.to_public(subscription, catalog=catalog)


@router.delete(
    "/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ManageSubscriptions],
    responses=error_responses(404),
)
async def delete_subscription(subscription_id: str, store: StoreDep) -> None:
    await service.delete_subscription(store=store, subscription_id=subscription_id)
