"""Build the built-in trigger files from SailPoint's OpenAPI schemas: YAML in, Avro trigger JSON out.

The single source of the built-in catalog is ``sources.yaml`` (which triggers exist, their names, types,
descriptions and examples), the copy of SailPoint's schema YAML under ``sailpoint/`` (plus ``schemas/`` for
the triggers SailPoint documents without YAML), and ``overrides.yaml`` (deliberate deviations, each cited in
docs/catalog.md). ``python -m event_triggers.catalog.build`` rewrites ``triggers/*.json`` from them;
tests/test_catalog.py fails when the checked-in files differ from what this module produces.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from event_triggers.catalog.loader import BUILT_IN_TRIGGERS_DIR, CatalogError, TriggerDefinition
from event_triggers.catalog.validation import DATE_TIME

CATALOG_DIR = Path(__file__).parent
SOURCES_FILE = CATALOG_DIR / "sources.yaml"
OVERRIDES_FILE = CATALOG_DIR / "overrides.yaml"
DEPRECATED_PREFIX = "Deprecated: "

_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALARS: list[Any] = ["null", "boolean", "long", "double", "string"]
# Avro has no type for arbitrary JSON: free-form values are scalars, lists of scalars or objects of scalars.
_FREE_FORM_VALUE: list[Any] = [
    *_SCALARS,
    {"type": "array", "items": _SCALARS},
    {"type": "map", "values": _SCALARS},
]
_NO_EXAMPLE = object()


@dataclass(frozen=True, kw_only=True)
class Override:
    """One deliberate deviation: replace the node at ``path`` of a trigger's resolved schema."""

    key: str
    triggers: tuple[str, ...]
    schema: str  # "input" or "output"
    paths: tuple[str, ...]  # JSON pointers into the resolved schema ($ref and allOf already inlined)
    value: Any
    why: str


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def resolve_schema(path: Path) -> dict[str, Any]:
    """The OpenAPI schema in ``path`` with every ``$ref`` inlined and every ``allOf`` merged."""
    document = load_yaml(path)
    return _resolve(document, path.parent, document)


def _resolve(node: Any, base: Path, document: Any) -> Any:
    """Inline ``$ref`` (a file relative to ``base``, or ``#/pointer`` into ``document``); merge ``allOf``."""
    if isinstance(node, list):
        return [_resolve(item, base, document) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        reference = node["$ref"]
        if reference.startswith("#/"):
            target = _resolve(_pointer(document, reference[1:]), base, document)
        else:
            target = resolve_schema((base / reference).resolve())
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _merge([target, _resolve(siblings, base, document)])
    resolved = {
        key: value if key in ("example", "default", "enum") else _resolve(value, base, document)
        for key, value in node.items()
    }
    if "allOf" in resolved:
        parts = resolved.pop("allOf")
        return _merge([*parts, resolved])
    return resolved


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.split("/")[1:]:
        node = node[int(part)] if isinstance(node, list) else node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """allOf as SailPoint uses it: properties and required lists add up, other keys are overridden."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            else:
                merged[key] = value
    return merged


def load_overrides(path: Path = OVERRIDES_FILE) -> list[Override]:
    overrides = []
    for entry in load_yaml(path):
        if entry["schema"] not in ("input", "output"):
            raise CatalogError(f"override {entry['key']}: schema must be input or output")
        overrides.append(
            Override(
                key=entry["key"],
                triggers=tuple(entry["triggers"]),
                schema=entry["schema"],
                paths=tuple(entry["paths"]),
                value=entry["value"],
                why=entry["why"],
            )
        )
    return overrides


def apply_override(schema: dict[str, Any], override: Override, base: Path) -> None:
    """Replace the node at each of the override's paths; a path that no longer exists is an error."""
    for path in override.paths:
        *parents, last = path.split("/")[1:]
        try:
            parent = _pointer(schema, "/" + "/".join(parents)) if parents else schema
        except (KeyError, IndexError, ValueError, TypeError):
            parent = None
        if not isinstance(parent, dict) or last not in parent:
            raise CatalogError(f"override {override.key}: path {path} is not in the schema")
        parent[last] = _resolve(copy.deepcopy(override.value), base, override.value)


class AvroConverter:
    """Converts one resolved OpenAPI schema (and the types it nests) to one Avro record schema.

    Named types (records, enums) get names from ``title`` or the property that holds them; a type
    that converts to the same Avro as one already named is referenced by that name, so a shared
    reference such as an identity appears once per schema.
    """

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._named: dict[str, Any] = {}

    def convert_root(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        record = self._record(schema, [name], root=True)
        record["namespace"] = self._namespace
        return record

    def convert(self, node: dict[str, Any], hints: list[str]) -> Any:
        """The Avro type of ``node``: a union including null when it is nullable."""
        branches = node.get("oneOf") or node.get("anyOf")
        if branches:
            types = _flatten([self.convert(branch, hints) for branch in branches])
        else:
            types = _flatten([self._single(node, hints)])
        if node.get("nullable") and "null" not in types:
            types.insert(0, "null")
        return types[0] if len(types) == 1 else types

    def _single(self, node: dict[str, Any], hints: list[str]) -> Any:
        if "enum" in node:
            return self._enum(node, hints)
        kind = node.get("type")
        if kind == "string":
            return (
                {"type": "string", "logicalType": DATE_TIME}
                if node.get("format") == "date-time"
                else "string"
            )
        if kind == "integer":
            return "int" if node.get("format") == "int32" else "long"
        if kind == "number":
            return "double"
        if kind == "boolean":
            return "boolean"
        if kind == "array":
            items = node.get("items")
            item_hints = [_singular(hint) for hint in hints]
            return {
                "type": "array",
                "items": _FREE_FORM_VALUE if not items else self.convert(items, item_hints),
            }
        if node.get("properties"):
            return self._record(node, hints)
        if kind == "object":
            values = node.get("additionalProperties")
            if isinstance(values, dict) and values:
                return {"type": "map", "values": self.convert(values, hints)}
            return {"type": "map", "values": _FREE_FORM_VALUE}
        return _FREE_FORM_VALUE

    def _record(self, node: dict[str, Any], hints: list[str], *, root: bool = False) -> Any:
        required = set(node.get("required", []))
        fields = []
        for field_name, field_node in node["properties"].items():
            if not _AVRO_NAME.match(field_name):
                raise CatalogError(f"property {field_name!r} is not a valid Avro field name")
            field_type = self.convert(
                field_node, [_pascal(field_name), *(h + _pascal(field_name) for h in hints)]
            )
            field: dict[str, Any] = {"name": field_name, "type": field_type}
            if field_name not in required:
                field.update(_optional(field_type, field_node.get("default")))
            if field_node.get("description"):
                field["doc"] = _doc(field_node["description"])
            fields.append(field)
        body: dict[str, Any] = {"type": "record", "fields": fields}
        if node.get("description"):
            body["doc"] = _doc(node["description"])
        if root:
            return {"type": "record", "name": hints[0], **body}
        title = [_pascal(node["title"])] if node.get("title") else []
        return self._named_type(body, [*title, *hints])

    def _enum(self, node: dict[str, Any], hints: list[str]) -> Any:
        symbols = [symbol for symbol in node["enum"] if symbol is not None]
        if not all(isinstance(symbol, str) and _AVRO_NAME.match(symbol) for symbol in symbols):
            # Avro enum symbols must be names ("AI Agent" is not): such an enum is a plain string.
            return "string"
        # "IdentityType" reads better than "Type": prefer the name qualified by the holding record.
        types: list[Any] = [self._named_type({"type": "enum", "symbols": symbols}, [*hints[1:2], *hints])]
        if None in node["enum"]:
            types.insert(0, "null")
        return types

    def _named_type(self, body: dict[str, Any], candidates: list[str]) -> Any:
        shape = _shape(body)
        for name in _numbered(candidates):
            if name not in self._named:
                self._named[name] = shape
                return {"type": body["type"], "name": name, **{k: v for k, v in body.items() if k != "type"}}
            if self._named[name] == shape:
                return name
        raise AssertionError("unreachable: _numbered is endless")


def _numbered(candidates: list[str]) -> Iterator[str]:
    yield from dict.fromkeys(candidates)
    number = 2
    while True:
        yield f"{candidates[0]}{number}"
        number += 1


def _shape(schema: Any) -> Any:
    """A schema with nested named types replaced by their names, docs dropped: equal shapes are one type."""
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "name" in schema and schema.get("type") in ("record", "enum"):
        return schema["name"]
    return {key: _shape(value) for key, value in schema.items() if key != "doc"}


def _flatten(types: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for avro_type in types:
        for branch in avro_type if isinstance(avro_type, list) else [avro_type]:
            if branch not in flat:
                flat.append(branch)
    if "null" in flat:
        flat.remove("null")
        flat.insert(0, "null")
    return flat


def _optional(field_type: Any, default: Any) -> dict[str, Any]:
    """An optional field: a union with null defaulting to null, or its own default put first."""
    branches = field_type if isinstance(field_type, list) else [field_type]
    if default is not None:
        return {"default": default}
    if "null" not in branches:
        branches = ["null", *branches]
    return {"type": branches, "default": None}


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _singular(name: str) -> str:
    """Name for the items of an array property: ``changes`` -> ``change``, ``entries`` -> ``entry``."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith(("ss", "us")):
        return name[:-1]
    return name


def _doc(text: str) -> str:
    return " ".join(text.split())


def example_from_schema(node: Mapping[str, Any]) -> Any:
    """An example assembled from the schema's own ``example`` values, as SailPoint's API docs show it."""
    if "example" in node:
        return copy.deepcopy(node["example"])
    for branch in node.get("oneOf") or node.get("anyOf") or []:
        example = example_from_schema(branch)
        if example is not _NO_EXAMPLE:
            return example
    if node.get("properties"):
        examples = {name: example_from_schema(prop) for name, prop in node["properties"].items()}
        return {name: example for name, example in examples.items() if example is not _NO_EXAMPLE}
    if node.get("type") == "array" and node.get("items"):
        item = example_from_schema(node["items"])
        return _NO_EXAMPLE if item is _NO_EXAMPLE else [item]
    return _NO_EXAMPLE


def trigger_file_name(trigger_id: str) -> str:
    """``idn:identity-created`` -> ``identity-created.json``; other namespaces keep theirs as a prefix."""
    namespace, name = trigger_id.split(":", 1)
    return f"{name}.json" if namespace == "idn" else f"{namespace}-{name}.json"


def build_documents(
    sources_file: Path = SOURCES_FILE, overrides_file: Path = OVERRIDES_FILE
) -> dict[str, dict[str, Any]]:
    """Every built-in trigger file, by file name, as the catalog build writes it."""
    overrides = load_overrides(overrides_file)
    documents = {}
    applied: set[tuple[str, str]] = set()
    for entry in load_yaml(sources_file):
        document = _build_document(entry, sources_file.parent, overrides, applied)
        TriggerDefinition.from_document(document)  # the loader's checks: valid Avro, examples validate
        documents[trigger_file_name(entry["id"])] = document
    unapplied = {(o.key, t) for o in overrides for t in o.triggers} - applied
    if unapplied:
        listed = ", ".join(f"{key} on {trigger}" for key, trigger in sorted(unapplied))
        raise CatalogError(f"overrides that apply to no trigger schema: {listed}")
    return documents


def trigger_schema(
    entry: Mapping[str, Any], kind: str, overrides: list[Override], base: Path = CATALOG_DIR
) -> tuple[dict[str, Any], list[Override]]:
    """A trigger's ``input`` or ``output`` schema, resolved, with its overrides applied (also returned)."""
    schema_path = base / entry[kind]["schema"]
    schema = resolve_schema(schema_path)
    applied = [o for o in overrides if entry["id"] in o.triggers and o.schema == kind]
    for override in applied:
        apply_override(schema, override, schema_path.parent)
    return schema, applied


def _build_document(
    entry: dict[str, Any], base: Path, overrides: list[Override], applied: set[tuple[str, str]]
) -> dict[str, Any]:
    trigger_id = entry["id"]
    namespace = "event_triggers." + trigger_id.split(":", 1)[0].replace("-", "_")  # an Avro name part
    schemas: dict[str, dict[str, Any] | None] = {"input": None, "output": None}
    examples: dict[str, Any] = {"input": None, "output": None}
    for kind in ("input", "output"):
        if kind not in entry:
            continue
        schema, used = trigger_schema(entry, kind, overrides, base)
        applied.update((override.key, trigger_id) for override in used)
        name = _pascal(trigger_id.split(":", 1)[1]) + kind.capitalize()
        schemas[kind] = AvroConverter(namespace).convert_root(schema, name)
        example_file = entry[kind].get("example")
        examples[kind] = (
            json.loads((base / example_file).read_text()) if example_file else example_from_schema(schema)
        )
    description = " ".join(entry["description"].split())
    if entry.get("deprecated"):
        description = DEPRECATED_PREFIX + description
    return {
        "id": trigger_id,
        "name": entry["name"],
        "type": entry["type"],
        "description": description,
        "inputSchema": schemas["input"],
        "outputSchema": schemas["output"],
        "exampleInput": examples["input"],
        "exampleOutput": examples["output"],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_catalog(directory: Path = BUILT_IN_TRIGGERS_DIR) -> list[Path]:
    """Rewrite ``directory`` with the built triggers, removing files of triggers that no longer exist."""
    documents = build_documents()
    for stale in set(directory.glob("*.json")) - {directory / name for name in documents}:
        stale.unlink()
    written = []
    for name, document in documents.items():
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    written = write_catalog()
    print(f"wrote {len(written)} trigger files to {BUILT_IN_TRIGGERS_DIR}", file=sys.stderr)


if __name__ == "__main__":
    main()
