"""GET /triggers/v1 and the /health and /ready probes over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

from api.main import create_app
from event_triggers.catalog import BUILT_IN_TRIGGERS_DIR
from event_triggers.config import Settings
from event_triggers.migrations import upgrade_schema
from tests.conftest import POSTGRES_ADMIN_DSN, TEST_KEYS, RunningApi, free_port, postgresql_database
from tests.test_catalog import CATALOG_TRIGGERS


async def test_list_triggers_wire_shape(api: httpx.AsyncClient) -> None:
    response = await api.get("/triggers/v1", params={"count": "true"})
    assert response.status_code == 200
    triggers = response.json()
    assert {trigger["id"]: trigger["type"] for trigger in triggers} == CATALOG_TRIGGERS
    assert response.headers["X-Total-Count"] == str(len(CATALOG_TRIGGERS))
    pre_approval = next(t for t in triggers if t["id"] == "idn:access-request-pre-approval")
    assert json.loads(pre_approval["inputSchema"])["type"] == "record"
    assert json.loads(pre_approval["outputSchema"])["type"] == "record"
    assert pre_approval["exampleOutput"]["approved"] in (True, False)
    created = next(t for t in triggers if t["id"] == "idn:identity-created")
    assert created["outputSchema"] is None and created["exampleInput"]["identity"]["type"] == "IDENTITY"


async def test_trigger_filters_sorters_paging(api: httpx.AsyncClient) -> None:
    one = await api.get("/triggers/v1", params={"filters": 'id eq "idn:identity-deleted"'})
    assert [t["name"] for t in one.json()] == ["Identity Deleted"]
    names = [t["name"] for t in (await api.get("/triggers/v1", params={"sorters": "-name"})).json()]
    assert names == sorted(names, reverse=True)
    ids = [
        t["id"]
        for t in (await api.get("/triggers/v1", params={"sorters": "id", "limit": 2, "offset": 1})).json()
    ]
    assert ids == sorted(CATALOG_TRIGGERS)[1:3]
    pages: list[str] = []
    for offset in range(0, len(CATALOG_TRIGGERS), 7):
        page = await api.get(
            "/triggers/v1", params={"sorters": "-id", "limit": 7, "offset": offset, "count": "true"}
        )
        assert page.headers["X-Total-Count"] == str(len(CATALOG_TRIGGERS))
        pages.extend(t["id"] for t in page.json())
    assert pages == sorted(CATALOG_TRIGGERS, reverse=True), "paging walks the whole catalog once"
    sources = await api.get("/triggers/v1", params={"filters": 'id ge "idn:source" and id le "idn:source-z"'})
    assert [t["id"] for t in sources.json()] == [
        "idn:source-account-created",
        "idn:source-account-deleted",
        "idn:source-account-updated",
        "idn:source-created",
        "idn:source-deleted",
        "idn:source-updated",
    ]
    tests = await api.get("/triggers/v1", params={"filters": 'id ge "test:"', "sorters": "name"})
    assert [t["name"] for t in tests.json()] == ["Fire and Forget Test", "Request-Response Test"]
    ranged = await api.get(
        "/triggers/v1", params={"filters": 'id ge "idn:identity" and id le "idn:identity-z"'}
    )
    assert {t["id"] for t in ranged.json()} == {
        "idn:identity-attributes-changed",
        "idn:identity-created",
        "idn:identity-deleted",
    }
    bad = await api.get("/triggers/v1", params={"sorters": "description"})
    assert bad.status_code == 400
    assert bad.json()["messages"][0]["text"].startswith("sorters:")


async def test_ready_with_store_and_temporal(api: httpx.AsyncClient) -> None:
    response = await api.get("/ready")
    assert response.status_code == 200, response.text
    assert (await api.get("/health")).status_code == 200


async def test_ready_503_when_temporal_is_down_while_alive(settings: Settings) -> None:
    settings.temporal_address = f"127.0.0.1:{free_port()}"
    async with RunningApi(settings) as running, httpx.AsyncClient(base_url=running.base_url) as client:
        response = await client.get("/ready")
        alive = await client.get("/health")
    assert response.status_code == 503
    assert "temporal" in response.json()["problems"]
    assert alive.status_code == 200, "liveness must not depend on Temporal"


async def test_ready_503_when_the_store_is_down(make_settings: Callable[..., Settings]) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        async with postgresql_database() as url:
            await upgrade_schema(url)
            settings = make_settings(database_url=url)
            running = RunningApi(settings)
            async with running, httpx.AsyncClient(base_url=running.base_url) as client:
                assert (await client.get("/ready")).status_code == 200
                await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
                response = await client.get("/ready")
                alive = await client.get("/health")
            assert response.status_code == 503
            assert alive.status_code == 200
            assert set(response.json()["problems"]) == {"store"}
    finally:
        await admin.close()


def test_openapi_lists_the_spec_paths() -> None:
    paths = create_app(Settings.model_validate({"dev_mode": True, **TEST_KEYS})).openapi()["paths"]
    for path in ("/triggers/v1", "/trigger-subscriptions/v1", "/trigger-subscriptions/v1/{subscription_id}"):
        assert path in paths


async def test_extra_catalog_dir_adds_a_trigger(
    make_settings: Callable[..., Settings], sqlite_url: str, tmp_path: Path
) -> None:
    """Operators add triggers as data: one JSON file in a directory named by a setting."""
    definition = json.loads((BUILT_IN_TRIGGERS_DIR / "identity-created.json").read_text())
    definition.update(id="acme:badge-issued", name="Badge Issued", description="A door badge was issued.")
    extra = tmp_path / "acme-triggers"
    extra.mkdir()
    (extra / "badge-issued.json").write_text(json.dumps(definition))
    settings = make_settings(database_url=sqlite_url, catalog_dirs=[extra])
    async with RunningApi(settings) as running, await running.client() as client:
        listed = await client.get("/triggers/v1", params={"filters": 'id eq "acme:badge-issued"'})
        assert [trigger["name"] for trigger in listed.json()] == ["Badge Issued"]
        subscription = {
            "name": "badge desk",
            "triggerId": "acme:badge-issued",
            "type": "HTTP",
            "httpConfig": {"url": "https://badges.example.com/hook"},
        }
        created = await client.post("/trigger-subscriptions/v1", json=subscription)
        assert created.status_code == 201, created.text
        assert created.json()["triggerName"] == "Badge Issued"
