"""The trigger catalog: its build from SailPoint's YAML, payload validation, loading extra directories."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from event_triggers.catalog import (
    BUILT_IN_TRIGGERS_DIR,
    Catalog,
    CatalogError,
    PayloadValidator,
    TriggerDefinition,
    TriggerType,
    load_catalog,
)
from event_triggers.catalog.build import (
    CATALOG_DIR,
    DEPRECATED_PREFIX,
    OVERRIDES_FILE,
    SOURCES_FILE,
    AvroConverter,
    Override,
    apply_override,
    build_documents,
    load_overrides,
    load_yaml,
    render,
    resolve_schema,
    trigger_schema,
)
from event_triggers.errors import InvalidField

# Every trigger SailPoint documents (docs/catalog.md gives the source of each id), our own, and its type.
CATALOG_TRIGGERS = {
    "event-triggers:subscription-disabled": TriggerType.FIRE_AND_FORGET,
    "iai:outlier-detected": TriggerType.FIRE_AND_FORGET,
    "idn:access-request-dynamic-approver": TriggerType.REQUEST_RESPONSE,
    "idn:access-request-post-approval": TriggerType.FIRE_AND_FORGET,
    "idn:access-request-pre-approval": TriggerType.REQUEST_RESPONSE,
    "idn:account-aggregation-completed": TriggerType.FIRE_AND_FORGET,
    "idn:account-attributes-changed": TriggerType.FIRE_AND_FORGET,
    "idn:account-correlated": TriggerType.FIRE_AND_FORGET,
    "idn:account-created": TriggerType.FIRE_AND_FORGET,
    "idn:account-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:account-uncorrelated": TriggerType.FIRE_AND_FORGET,
    "idn:account-updated": TriggerType.FIRE_AND_FORGET,
    "idn:aggregation-accounts-collected": TriggerType.FIRE_AND_FORGET,
    "idn:campaign-activated": TriggerType.FIRE_AND_FORGET,
    "idn:campaign-ended": TriggerType.FIRE_AND_FORGET,
    "idn:campaign-generated": TriggerType.FIRE_AND_FORGET,
    "idn:certification-signed-off": TriggerType.FIRE_AND_FORGET,
    "idn:ciem-auto-include-scope-setting-changed": TriggerType.FIRE_AND_FORGET,
    "idn:ciem-new-scope-detected": TriggerType.FIRE_AND_FORGET,
    "idn:ciem-scope-selection-changed": TriggerType.FIRE_AND_FORGET,
    "idn:form-submitted": TriggerType.FIRE_AND_FORGET,
    "idn:identity-attributes-changed": TriggerType.FIRE_AND_FORGET,
    "idn:identity-created": TriggerType.FIRE_AND_FORGET,
    "idn:identity-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:machine-identity-created": TriggerType.FIRE_AND_FORGET,
    "idn:machine-identity-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:machine-identity-updated": TriggerType.FIRE_AND_FORGET,
    "idn:native-change-account-created": TriggerType.FIRE_AND_FORGET,
    "idn:native-change-account-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:native-change-account-updated": TriggerType.FIRE_AND_FORGET,
    "idn:post-provisioning": TriggerType.FIRE_AND_FORGET,
    "idn:saved-search-complete": TriggerType.FIRE_AND_FORGET,
    "idn:source-account-created": TriggerType.FIRE_AND_FORGET,
    "idn:source-account-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:source-account-updated": TriggerType.FIRE_AND_FORGET,
    "idn:source-created": TriggerType.FIRE_AND_FORGET,
    "idn:source-deleted": TriggerType.FIRE_AND_FORGET,
    "idn:source-updated": TriggerType.FIRE_AND_FORGET,
    "idn:va-cluster-status-change": TriggerType.FIRE_AND_FORGET,
    "test:fire-and-forget": TriggerType.FIRE_AND_FORGET,
    "test:request-response": TriggerType.REQUEST_RESPONSE,
}
DEPRECATED_TRIGGERS = {
    "idn:account-uncorrelated",
    "idn:source-account-created",
    "idn:source-account-deleted",
    "idn:source-account-updated",
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


def test_catalog_has_every_sailpoint_trigger_sorted_by_id(catalog: Catalog) -> None:
    assert {trigger.id: trigger.type for trigger in catalog.all()} == CATALOG_TRIGGERS
    assert [trigger.id for trigger in catalog.all()] == sorted(CATALOG_TRIGGERS)
    assert catalog.require("idn:account-aggregation-completed").name == "Account Aggregation Completed"
    assert (
        "Identity Aggregation Completed" in catalog.require("idn:account-aggregation-completed").description
    )
    assert catalog.require("idn:post-provisioning").name == "Provisioning Action Completed"


def test_deprecated_triggers_say_so_first(catalog: Catalog) -> None:
    deprecated = {t.id for t in catalog.all() if t.description.startswith(DEPRECATED_PREFIX)}
    assert deprecated == DEPRECATED_TRIGGERS
    assert all("deprecated" not in t.description.lower() for t in catalog.all() if t.id not in deprecated)


@pytest.mark.parametrize("trigger_id", sorted(CATALOG_TRIGGERS))
def test_examples_validate(catalog: Catalog, trigger_id: str) -> None:
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
    assert len(catalog.all()) == len(CATALOG_TRIGGERS) + 1
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


def test_checked_in_triggers_are_what_the_build_produces() -> None:
    """The catalog's single source is sources.yaml + SailPoint's YAML + overrides.yaml: no hand edits."""
    documents = build_documents()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in BUILT_IN_TRIGGERS_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(documents), "run: python -m event_triggers.catalog.build"
    for name, document in documents.items():
        assert on_disk[name] == render(document), (
            f"{name} drifted; run: python -m event_triggers.catalog.build"
        )


CATALOG_DOC = Path(__file__).parents[1] / "docs" / "catalog.md"


def test_docs_list_every_trigger() -> None:
    catalog_doc = CATALOG_DOC.read_text(encoding="utf-8")
    for trigger_id in CATALOG_TRIGGERS:
        assert f"| `{trigger_id}` |" in catalog_doc, f"{trigger_id} is missing from docs/catalog.md"


def test_every_override_is_cited_in_the_docs() -> None:
    catalog_doc = CATALOG_DOC.read_text(encoding="utf-8")
    overrides = load_overrides()
    assert overrides
    for override in overrides:
        assert f"`{override.key}`" in catalog_doc, f"override {override.key} is not cited in docs/catalog.md"
        assert override.why.strip()


def test_examples_are_sailpoints_where_documented(catalog: Catalog) -> None:
    examples_dir = CATALOG_DIR / "sailpoint" / "examples"
    for entry in load_yaml(SOURCES_FILE):
        trigger = catalog.require(entry["id"])
        if "example" in entry["input"]:
            assert entry["input"]["example"].startswith("sailpoint/examples/")
            assert trigger.example_input == json.loads((CATALOG_DIR / entry["input"]["example"]).read_text())
        if "output" in entry and "example" in entry["output"]:
            assert trigger.example_output == json.loads(
                (CATALOG_DIR / entry["output"]["example"]).read_text()
            )
    assert (examples_dir / "LICENSE").read_text().startswith("MIT License")
    assert (CATALOG_DIR / "sailpoint" / "LICENSE").read_text().startswith("MIT License")


def test_date_times_must_be_iso_8601(catalog: Catalog) -> None:
    trigger = catalog.require("idn:source-created")
    trigger.validate_input(dict(trigger.example_input, created="2021-03-29T22:01:50+02:00"))
    error = field_error(trigger.validate_input, dict(trigger.example_input, created="yesterday"))
    assert (error.field, error.reason) == ("input.created", "'yesterday' is not an ISO-8601 date-time")
    assert field_error(trigger.validate_input, dict(trigger.example_input, created=1617055310)).reason == (
        "expected string, got integer"
    )


def test_test_triggers_match_sailpoints_definitions(catalog: Catalog) -> None:
    fire_and_forget = catalog.require("test:fire-and-forget")
    assert fire_and_forget.example_input == {
        "identityId": "201327fda1c44704ac01181e963d463c",
        "approved": True,
    }
    request_response = catalog.require("test:request-response")
    assert request_response.example_input == {"identityId": "201327fda1c44704ac01181e963d463c"}
    assert request_response.example_output == {"approved": True}
    assert field_error(request_response.validate_output, {}).field == "output.approved"


CONVERTER_FIXTURE = """
title: Widget Changed
type: object
required: [id, kind, changedAt, parts, owner, note]
properties:
  id: {type: string, description: The widget id.}
  kind: {type: string, enum: [BIG, SMALL]}
  count: {type: integer, format: int32}
  total: {type: integer}
  ratio: {type: number}
  active: {type: boolean, default: false}
  changedAt: {type: string, format: date-time}
  note: {type: string, nullable: true}
  parts:
    type: array
    items: {$ref: ./part.yaml}
  owner:
    allOf:
      - $ref: ./part.yaml
      - required: [name]
  value:
    oneOf: [{type: string}, {type: boolean}, {type: array, items: {type: string}}]
  extra: {type: object, additionalProperties: true}
  counts: {type: object, additionalProperties: {type: integer}}
"""
PART_FIXTURE = """
title: Part
type: object
required: [id]
properties:
  id: {type: string}
  name: {type: string}
"""


def convert_fixture(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "widget.yaml").write_text(CONVERTER_FIXTURE)
    (tmp_path / "part.yaml").write_text(PART_FIXTURE)
    return AvroConverter("acme").convert_root(resolve_schema(tmp_path / "widget.yaml"), "WidgetChangedInput")


def test_converter_maps_openapi_to_avro(tmp_path: Path) -> None:
    schema = convert_fixture(tmp_path)
    fields = {field["name"]: field for field in schema["fields"]}
    assert (schema["name"], schema["namespace"]) == ("WidgetChangedInput", "acme")
    assert fields["id"] == {"name": "id", "type": "string", "doc": "The widget id."}
    assert fields["kind"]["type"] == {
        "type": "enum",
        "name": "WidgetChangedInputKind",
        "symbols": ["BIG", "SMALL"],
    }
    assert fields["count"] == {"name": "count", "type": ["null", "int"], "default": None}
    assert fields["total"]["type"] == ["null", "long"]
    assert fields["ratio"]["type"] == ["null", "double"]
    assert fields["active"] == {"name": "active", "type": "boolean", "default": False}
    assert fields["changedAt"]["type"] == {"type": "string", "logicalType": "date-time"}
    assert fields["note"] == {"name": "note", "type": ["null", "string"]}, "required but nullable: no default"
    part = fields["parts"]["type"]["items"]
    assert part["name"] == "Part"
    assert part["fields"] == [
        {"name": "id", "type": "string"},
        {"name": "name", "type": ["null", "string"], "default": None},
    ]
    owner = fields["owner"]["type"]
    assert owner["name"] != "Part" and owner["fields"][1] == {"name": "name", "type": "string"}
    assert fields["value"]["type"] == ["null", "string", "boolean", {"type": "array", "items": "string"}]
    assert fields["extra"]["type"][1]["type"] == "map"
    assert fields["counts"]["type"] == ["null", {"type": "map", "values": "long"}]


def test_converted_schema_validates_like_the_yaml(tmp_path: Path) -> None:
    validator = PayloadValidator(convert_fixture(tmp_path))
    payload = {
        "id": "w1",
        "kind": "BIG",
        "changedAt": "2024-01-02T03:04:05Z",
        "note": None,
        "parts": [{"id": "p1"}],
        "owner": {"id": "p2", "name": "Ann"},
        "value": ["a"],
        "extra": {"k": [1, "two"]},
    }
    validator.validate(payload, root="input")
    changes: list[tuple[dict[str, Any], str, str]] = [
        ({"kind": "HUGE"}, "input.kind", "unknown value 'HUGE', expected one of BIG, SMALL"),
        ({"count": 2**31}, "input.count", f"{2**31} is out of range for int (-2147483648..2147483647)"),
        ({"owner": {"id": "p2"}}, "input.owner.name", "is required"),
        ({"parts": [{}]}, "input.parts[0].id", "is required"),
        ({"changedAt": "soon"}, "input.changedAt", "'soon' is not an ISO-8601 date-time"),
    ]
    for change, field_name, reason in changes:
        with pytest.raises(InvalidField) as caught:
            validator.validate({**payload, **change}, root="input")
        assert (caught.value.field, caught.value.reason) == (field_name, reason)
    without_note = {key: value for key, value in payload.items() if key != "note"}
    with pytest.raises(InvalidField, match="is required"):
        validator.validate(without_note, root="input")


def test_an_override_whose_path_is_gone_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "widget.yaml").write_text(CONVERTER_FIXTURE)
    (tmp_path / "part.yaml").write_text(PART_FIXTURE)
    schema = resolve_schema(tmp_path / "widget.yaml")
    override = Override(
        key="gone",
        triggers=("acme:widget-changed",),
        schema="input",
        paths=("/properties/size/enum",),
        value=["S"],
        why="a test",
    )
    with pytest.raises(CatalogError, match="override gone: path /properties/size/enum is not in the schema"):
        apply_override(schema, override, tmp_path)
    apply_override(schema, dataclasses.replace(override, paths=("/properties/kind/enum",)), tmp_path)
    assert schema["properties"]["kind"]["enum"] == ["S"]


def _named_definitions(avro: Any, found: dict[str, Any]) -> dict[str, Any]:
    if isinstance(avro, list):
        for item in avro:
            _named_definitions(item, found)
    elif isinstance(avro, dict):
        if avro.get("type") in ("record", "enum") and "name" in avro:
            found[avro["name"]] = avro
        for value in avro.values():
            _named_definitions(value, found)
    return found


def assert_faithful(node: dict[str, Any], avro: Any, named: dict[str, Any], where: str) -> None:
    """The Avro type says what the OpenAPI node says: fields, required, nullable, enums, arrays, scalars."""
    types = [
        named.get(t, t) if isinstance(t, str) else t for t in (avro if isinstance(avro, list) else [avro])
    ]
    if node.get("nullable"):
        assert "null" in types, f"{where}: nullable but {avro}"
    for branch in node.get("oneOf") or node.get("anyOf") or []:
        assert_faithful(branch, avro, named, where)
    if node.get("oneOf") or node.get("anyOf"):
        return
    kinds = {t["type"] if isinstance(t, dict) else t: t for t in types}
    if node.get("properties"):
        record = kinds["record"]
        assert [f["name"] for f in record["fields"]] == list(node["properties"]), where
        for field in record["fields"]:
            optional = field["name"] not in node.get("required", [])
            assert ("default" in field) is optional, f"{where}.{field['name']}: optional={optional}"
            assert_faithful(
                node["properties"][field["name"]], field["type"], named, f"{where}.{field['name']}"
            )
    elif "enum" in node:
        symbols = [symbol for symbol in node["enum"] if symbol is not None]
        assert kinds.get("enum", {}).get("symbols") == symbols or "string" in kinds, f"{where}: {avro}"
    elif node.get("type") == "array":
        if node.get("items"):
            assert_faithful(node["items"], kinds["array"]["items"], named, f"{where}[]")
    elif node.get("type") == "object":
        assert "map" in kinds, f"{where}: {avro}"
    elif node.get("type") == "string" and node.get("format") == "date-time":
        assert {"type": "string", "logicalType": "date-time"} in types, f"{where}: {avro}"
    elif node.get("type") in AVRO_SCALAR:
        expected = "int" if node.get("format") == "int32" else AVRO_SCALAR[node["type"]]
        assert expected in kinds, f"{where}: {avro}"


AVRO_SCALAR = {"string": "string", "integer": "long", "number": "double", "boolean": "boolean"}


@pytest.mark.parametrize("entry", load_yaml(SOURCES_FILE), ids=lambda entry: entry["id"])
def test_schemas_are_converted_faithfully(catalog: Catalog, entry: dict[str, Any]) -> None:
    """Walk each trigger's resolved YAML (overrides applied) beside its Avro schema, property by property."""
    trigger = catalog.require(entry["id"])
    overrides = load_overrides()
    for kind, avro in (("input", trigger.input_schema), ("output", trigger.output_schema)):
        if kind not in entry:
            assert avro is None
            continue
        schema, _ = trigger_schema(entry, kind, overrides)
        assert_faithful(schema, avro, _named_definitions(avro, {}), kind)


def test_an_override_that_applies_to_nothing_fails_the_build(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(
        OVERRIDES_FILE.read_text()
        + "- {key: stray, triggers: ['idn:identity-created'], schema: output, paths: [/nullable],"
        " value: false, why: identity-created has no output}\n"
    )
    with pytest.raises(
        CatalogError, match="overrides that apply to no trigger schema: stray on idn:identity-created"
    ):
        build_documents(SOURCES_FILE, overrides)
    overrides.write_text("- {key: typo, triggers: [], schema: inptu, paths: [], value: 1, why: x}\n")
    with pytest.raises(CatalogError, match="override typo: schema must be input or output"):
        build_documents(SOURCES_FILE, overrides)
