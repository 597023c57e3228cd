"""The trigger catalog: seed definitions, payload validation errors, and loading of extra directories."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from event_triggers.catalog import (
    BUILT_IN_TRIGGERS_DIR,
    Catalog,
    CatalogError,
    TriggerDefinition,
    TriggerType,
    load_catalog,
)
from event_triggers.errors import InvalidField

SEED_TRIGGERS = {
    "idn:access-request-dynamic-approver": TriggerType.REQUEST_RESPONSE,
    "idn:access-request-post-approval": TriggerType.FIRE_AND_FORGET,
    "idn:access-request-pre-approval": TriggerType.REQUEST_RESPONSE,
    "idn:account-aggregation-completed": TriggerType.FIRE_AND_FORGET,
    "idn:identity-attributes-changed": TriggerType.FIRE_AND_FORGET,
    "idn:identity-created": TriggerType.FIRE_AND_FORGET,
    "idn:identity-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:post-provisioning": TriggerType.FIRE_AND_FORGET,
    "idn:saved-search-complete": TriggerType.FIRE_AND_FORGET,
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def custom_trigger_document(trigger_id: str = "acme:badge-issued") -> dict[str, Any]:
    return {
        "id": trigger_id,
        "name": "Badge Issued",
        "type": "FIRE_AND_FORGET",
        "description": "A building badge was issued.",
        "inputSchema": {
            "type": "record",
            "name": "BadgeIssued",
            "fields": [{"name": "badgeId", "type": "string"}, {"name": "floor", "type": "int"}],
        },
        "outputSchema": None,
        "exampleInput": {"badgeId": "B-17", "floor": 3},
        "exampleOutput": None,
    }


def write_trigger(directory: Path, file_name: str, document: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def field_error(validate: Any, payload: Any) -> InvalidField:
    with pytest.raises(InvalidField) as caught:
        validate(payload)
    return caught.value


def test_seed_catalog_has_the_nine_sailpoint_triggers_sorted_by_id(catalog: Catalog) -> None:
    assert {trigger.id: trigger.type for trigger in catalog.all()} == SEED_TRIGGERS
    assert [trigger.id for trigger in catalog.all()] == sorted(SEED_TRIGGERS)
    assert catalog.require("idn:account-aggregation-completed").name == "Account Aggregation Completed"
    assert (
        "Identity Aggregation Completed" in catalog.require("idn:account-aggregation-completed").description
    )
    assert catalog.require("idn:post-provisioning").name == "Provisioning Action Completed"


@pytest.mark.parametrize("trigger_id", sorted(SEED_TRIGGERS))
def test_seed_examples_validate(catalog: Catalog, trigger_id: str) -> None:
    trigger = catalog.require(trigger_id)
    trigger.validate_input(trigger.example_input)
    if trigger.type is TriggerType.REQUEST_RESPONSE:
        assert trigger.output_schema is not None
        trigger.validate_output(trigger.example_output)
    else:
        assert trigger.output_schema is None and trigger.example_output is None


def test_documented_variants_validate(catalog: Catalog) -> None:
    """Shapes from the SailPoint docs and OpenAPI spec that the seed examples do not cover."""
    pre_approval = catalog.require("idn:access-request-pre-approval")
    requested_for_list = copy.deepcopy(pre_approval.example_input)
    requested_for_list["requestedFor"] = [requested_for_list["requestedFor"]]
    pre_approval.validate_input(requested_for_list)
    pre_approval.validate_output(
        {
            "approved": False,
            "comment": "This access should be denied, because this will cause an SOD violation.",
            "approver": "AcmeCorpExternalIntegration",
        }
    )
    dynamic_approver = catalog.require("idn:access-request-dynamic-approver")
    dynamic_approver.validate_output({"id": "", "name": "", "type": ""})
    attributes_changed = catalog.require("idn:identity-attributes-changed")
    attributes_changed.validate_input(
        {
            "identity": {"type": "IDENTITY", "id": "2c91", "name": "William Wilson"},
            "changes": [
                {"attribute": "isManager", "oldValue": None, "newValue": True},
                {"attribute": "groups", "oldValue": ["a"], "newValue": ["a", "b"]},
                {"attribute": "manager", "newValue": {"type": "IDENTITY", "id": "2c92", "name": "Ann"}},
            ],
        }
    )


def test_unknown_keys_are_allowed(catalog: Catalog) -> None:
    trigger = catalog.require("idn:identity-created")
    payload = copy.deepcopy(trigger.example_input)
    payload["tenant"] = "acme"
    payload["identity"]["email"] = "william@example.com"
    trigger.validate_input(payload)


def test_missing_required_field_is_named(catalog: Catalog) -> None:
    trigger = catalog.require("idn:identity-created")
    payload = copy.deepcopy(trigger.example_input)
    del payload["identity"]["id"]
    error = field_error(trigger.validate_input, payload)
    assert (error.field, error.reason) == ("input.identity.id", "is required")


def test_wrong_type_is_named(catalog: Catalog) -> None:
    trigger = catalog.require("idn:access-request-pre-approval")
    output = {"approved": "yes", "comment": "ok", "approver": "bot"}
    error = field_error(trigger.validate_output, output)
    assert (error.field, error.reason) == ("output.approved", "expected boolean, got string")


def test_bad_enum_in_nested_array_element_is_named(catalog: Catalog) -> None:
    trigger = catalog.require("idn:access-request-pre-approval")
    payload = copy.deepcopy(trigger.example_input)
    payload["requestedItems"].append(dict(payload["requestedItems"][0], operation="Grant"))
    error = field_error(trigger.validate_input, payload)
    assert error.field == "input.requestedItems[1].operation"
    assert error.reason == "unknown value 'Grant', expected one of Add, Remove"


def test_errors_inside_union_branches_name_the_deepest_field(catalog: Catalog) -> None:
    trigger = catalog.require("idn:access-request-post-approval")
    payload = copy.deepcopy(trigger.example_input)
    payload["requestedFor"] = [
        {"type": "IDENTITY", "id": "2c91", "name": "A"},
        {"type": "IDENTITY", "id": "2c92"},
    ]
    error = field_error(trigger.validate_input, payload)
    assert (error.field, error.reason) == ("input.requestedFor[1].name", "is required")

    payload["requestedFor"] = "William"
    error = field_error(trigger.validate_input, payload)
    assert (error.field, error.reason) == ("input.requestedFor", "expected object or array, got string")

    payload = copy.deepcopy(trigger.example_input)
    payload["requestedItemsStatus"][0]["approvalInfo"][0]["approvalComment"] = 7
    error = field_error(trigger.validate_input, payload)
    assert error.field == "input.requestedItemsStatus[0].approvalInfo[0].approvalComment"
    assert error.reason == "expected string or null, got integer"


def test_int_range_and_root_type(catalog: Catalog) -> None:
    trigger = catalog.require("idn:account-aggregation-completed")
    payload = copy.deepcopy(trigger.example_input)
    payload["stats"]["scanned"] = 2**31
    assert field_error(trigger.validate_input, payload).field == "input.stats.scanned"
    error = field_error(trigger.validate_input, ["not", "an", "object"])
    assert (error.field, error.reason) == ("input", "expected object, got array")


def test_fire_and_forget_trigger_takes_no_output(catalog: Catalog) -> None:
    error = field_error(catalog.require("idn:identity-created").validate_output, {})
    assert error.field == "output"


def test_require_unknown_trigger_names_trigger_id(catalog: Catalog) -> None:
    assert catalog.get("idn:nope") is None
    with pytest.raises(InvalidField) as caught:
        catalog.require("idn:nope")
    assert caught.value.field == "triggerId"
    assert "idn:nope" in caught.value.reason


def test_to_public_has_the_sailpoint_trigger_shape(catalog: Catalog) -> None:
    trigger = catalog.require("idn:access-request-pre-approval")
    public = trigger.to_public()
    assert set(public) == {
        "id",
        "name",
        "type",
        "description",
        "inputSchema",
        "outputSchema",
        "exampleInput",
        "exampleOutput",
    }
    assert public["type"] == "REQUEST_RESPONSE"
    assert json.loads(public["inputSchema"]) == trigger.input_schema
    assert json.loads(public["outputSchema"]) == trigger.output_schema
    assert catalog.require("idn:identity-created").to_public()["outputSchema"] is None


def test_extra_directory_adds_a_trigger(tmp_path: Path) -> None:
    write_trigger(tmp_path, "badge-issued.json", custom_trigger_document())
    catalog = load_catalog(extra_dirs=[tmp_path])
    trigger = catalog.require("acme:badge-issued")
    assert len(catalog.all()) == len(SEED_TRIGGERS) + 1
    trigger.validate_input({"badgeId": "B-1", "floor": 2})
    assert field_error(trigger.validate_input, {"badgeId": "B-1", "floor": "2"}).field == "input.floor"


def test_definition_built_in_code_is_checked_like_a_file() -> None:
    document = custom_trigger_document()
    document["exampleInput"] = {"badgeId": "B-17"}
    with pytest.raises(CatalogError, match=r"exampleInput .*input\.floor: is required"):
        TriggerDefinition.from_document(document)


def _request_response_without_output() -> dict[str, Any]:
    return dict(custom_trigger_document(), type="REQUEST_RESPONSE")


def _duplicate_seed_id() -> dict[str, Any]:
    return custom_trigger_document("idn:identity-created")


def _bad_avro() -> dict[str, Any]:
    document = custom_trigger_document()
    document["inputSchema"]["fields"][1]["type"] = "integer"
    return document


def _example_not_matching() -> dict[str, Any]:
    return dict(custom_trigger_document(), exampleInput={"badgeId": "B-17", "floor": "third"})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"id": "acme:badge-issued", ', "malformed JSON"),
        (_bad_avro(), "inputSchema is not a valid Avro schema"),
        (
            _example_not_matching(),
            "exampleInput does not match its schema: input.floor: expected integer, got string",
        ),
        (_request_response_without_output(), "needs an outputSchema"),
        (_duplicate_seed_id(), f"already defined in {BUILT_IN_TRIGGERS_DIR / 'identity-created.json'}"),
        (dict(custom_trigger_document(), typo=1), "unknown key(s): typo"),
    ],
    ids=[
        "malformed-json",
        "bad-avro",
        "example-not-matching",
        "rr-without-output",
        "duplicate-id",
        "unknown-key",
    ],
)
def test_bad_trigger_file_stops_loading_naming_the_file(tmp_path: Path, content: Any, problem: str) -> None:
    path = write_trigger(tmp_path, "broken.json", content)
    with pytest.raises(CatalogError) as caught:
        load_catalog(extra_dirs=[tmp_path])
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_duplicate_id_across_extra_files_names_both(tmp_path: Path) -> None:
    first = write_trigger(tmp_path, "a.json", custom_trigger_document())
    second = write_trigger(tmp_path, "b.json", custom_trigger_document())
    with pytest.raises(CatalogError) as caught:
        load_catalog(extra_dirs=[tmp_path])
    assert str(caught.value).startswith(f"{second}: ")
    assert str(first) in str(caught.value)


def test_missing_extra_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(extra_dirs=[tmp_path / "absent"])
