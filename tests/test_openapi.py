"""The OpenAPI document tells the truth about every route, and /docs works without a network."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import httpx
from fastapi.routing import APIRoute
from openapi_spec_validator import validate

import api.routes
from api.main import create_app
from event_triggers.config import Settings
from tests.conftest import TEST_KEYS, RunningApi

ERROR_BODY = {"$ref": "#/components/schemas/ErrorResponse"}
METHODS = {"get", "put", "post", "patch", "delete"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    ]


def _needs_token(operation: dict[str, Any]) -> bool:
    return any("HTTPBearer" in requirement for requirement in operation.get("security", []))


def _api_routes() -> dict[tuple[str, str], APIRoute]:
    """Every route of every router in ``api.routes`` (each module's ``router``), by (path, method)."""
    routes: dict[tuple[str, str], APIRoute] = {}
    for module in pkgutil.iter_modules(api.routes.__path__):
        router = importlib.import_module(f"api.routes.{module.name}").router
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                routes.update({(route.path, method.lower()): route for method in route.methods or ()})
    return routes


def test_the_document_is_valid_and_documents_every_route() -> None:
    document = create_app(Settings.model_validate({"dev_mode": True, **TEST_KEYS})).openapi()
    validate(document)
    assert set(_api_routes()) == {(path, method) for path, method, _ in _operations(document)}
    assert "422" not in str(document) and "HTTPValidationError" not in str(document)


def test_every_operation_documents_its_errors_with_the_error_body() -> None:
    document = create_app(Settings.model_validate({"dev_mode": True, **TEST_KEYS})).openapi()
    routes = _api_routes()
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        for status, response in responses.items():
            if int(status) >= 400 and path != "/ready":  # a probe answers its own report
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_BODY, (where, status)
        assert (path, method) in routes, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), where
        if operation.get("parameters"):
            assert "400" in responses or all(
                parameter["in"] == "path" for parameter in operation["parameters"]
            ), where
        if "{" in path:
            assert "404" in responses, where
        if _needs_token(operation):
            assert {"401", "403"} <= set(responses), where
        if path.startswith("/trigger-invocations/"):
            assert "503" in responses, (where, "every invocation operation talks to Temporal")
        assert any(status.startswith("2") for status in responses), where


async def test_each_documented_error_is_what_the_api_answers(running_api: RunningApi) -> None:
    """A few statuses the document promises, asked of the real API without a token or with a bad body."""
    document = running_api.app.openapi()
    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        for path, method, operation in _operations(document):
            if not _needs_token(operation):
                continue
            url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
            response = await http.request(method, url)
            assert response.status_code == 401, (method, path, response.text)
            assert set(response.json()) == {"detailCode", "trackingId", "messages", "causes"}


async def test_swagger_ui_is_served_from_the_package(running_api: RunningApi) -> None:
    async with httpx.AsyncClient(base_url=running_api.base_url) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(asset.startswith("/") for asset in assets), assets
        assert "cdn" not in page.text and "https://" not in page.text.split("<body>")[1]
        for asset in assets:
            fetched = await http.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 100, asset
        assert "/openapi.json" in page.text
