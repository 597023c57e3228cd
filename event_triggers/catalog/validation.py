"""Validate plain JSON payloads against Avro schemas, with errors that name the failing field.

Payloads arrive as ordinary JSON (unions are bare values, not Avro's ``{"type": value}`` JSON encoding).
fastavro's own validator accepts them, but its errors speak Avro (``Field(R.identity.I.id) is None expected
string``: type names in the path, one error per union branch, a whole nested schema for a missing record),
so this one replaces it and names the field as the client sent it (``input.identity.id: is required``).
A schema is compiled once into a tree of small check functions, so validating an event costs one pass.
Records accept keys their schema does not declare: producers add fields over time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import fastavro

from event_triggers.errors import InvalidField

PayloadCheck = Callable[[Any, str], None]
"""Checks one value; the second argument is the dotted path of the value, used in errors."""

_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# The JSON kind each Avro type expects, as named in error messages.
_EXPECTED_KIND = {
    "null": "null",
    "boolean": "boolean",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "string": "string",
    "bytes": "string",
    "fixed": "string",
    "enum": "string",
    "array": "array",
    "map": "object",
    "record": "object",
}
# The expected kinds a value of a given JSON kind can satisfy (an integer is a valid number).
_COMPATIBLE_KINDS = {"integer": {"integer", "number"}}
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
DATE_TIME = "date-time"
"""Logical type of a string holding an ISO-8601 date and time (OpenAPI's ``format: date-time``)."""


def json_kind(value: Any) -> str:
    """Name the JSON kind of a decoded value, as error messages show it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def child_path(path: str, key: str) -> str:
    """Path of a record field or map entry; keys that are not plain names are quoted."""
    return f"{path}.{key}" if _PLAIN_KEY.match(key) else f"{path}[{json.dumps(key)}]"


class PayloadValidator:
    """An Avro schema compiled for validating JSON payloads; build once, call for every payload."""

    def __init__(self, schema: dict[str, Any] | list[Any] | str) -> None:
        """Parse the schema (raises fastavro's schema errors when it is not valid Avro) and compile it."""
        named_schemas: dict[str, Any] = {}
        parsed = fastavro.parse_schema(schema, named_schemas)
        self._compiler = _Compiler(named_schemas)
        self._check = self._compiler.compile(parsed)

    def validate(self, payload: Any, *, root: str) -> None:
        """Raise InvalidField naming the first field that breaks the schema, e.g. ``input.identity.id``."""
        self._check(payload, root)


class _Compiler:
    """Turns a parsed fastavro schema into check functions; named types compile once and may recurse."""

    def __init__(self, named_schemas: dict[str, Any]) -> None:
        self._named_schemas = named_schemas
        self._compiled_names: dict[str, PayloadCheck] = {}

    def compile(self, schema: Any) -> PayloadCheck:
        if isinstance(schema, list):
            return self._union(schema)
        if isinstance(schema, str):
            if schema in self._compiled_names:
                return self._compiled_names[schema]
            if schema in self._named_schemas:
                return self.compile(self._named_schemas[schema])
            return _primitive(schema)
        avro_type = schema["type"]
        if avro_type == "record":
            return self._record(schema)
        if avro_type == "enum":
            return self._register(schema, _enum(schema["symbols"]))
        if avro_type == "fixed":
            return self._register(schema, _primitive("string"))
        if avro_type == "array":
            return _array(self.compile(schema["items"]))
        if avro_type == "map":
            return _map(self.compile(schema["values"]))
        if avro_type == "string" and schema.get("logicalType") == DATE_TIME:
            return _date_time
        return self.compile(avro_type)

    def expected_kind(self, schema: Any) -> str:
        """The JSON kind a schema expects: named references resolve, annotated types unwrap."""
        if isinstance(schema, str):
            schema = self._named_schemas.get(schema, schema)
        while isinstance(schema, dict):
            schema = schema["type"]
        return _EXPECTED_KIND[schema]

    def _register(self, schema: dict[str, Any], check: PayloadCheck) -> PayloadCheck:
        self._compiled_names[schema["name"]] = check
        return check

    def _record(self, schema: dict[str, Any]) -> PayloadCheck:
        # Fields are filled in after registering the check so that a recursive reference finds it.
        fields: list[tuple[str, bool, PayloadCheck]] = []

        def check_record(value: Any, path: str) -> None:
            if not isinstance(value, dict):
                raise InvalidField(path, f"expected object, got {json_kind(value)}")
            for name, optional, check_field in fields:
                if name in value:
                    check_field(value[name], child_path(path, name))
                elif not optional:
                    raise InvalidField(child_path(path, name), "is required")

        self._register(schema, check_record)
        fields.extend(
            (field["name"], "default" in field, self.compile(field["type"])) for field in schema["fields"]
        )
        return check_record

    def _union(self, branches: list[Any]) -> PayloadCheck:
        kinds = [self.expected_kind(branch) for branch in branches]
        checks = [self.compile(branch) for branch in branches]
        # "string or null" reads better than "null or string".
        described = sorted(dict.fromkeys(kinds), key=lambda kind: kind == "null")
        expected = " or ".join(described)

        def check_union(value: Any, path: str) -> None:
            value_kind = json_kind(value)
            accepted = _COMPATIBLE_KINDS.get(value_kind, {value_kind})
            candidates = [check for kind, check in zip(kinds, checks, strict=True) if kind in accepted]
            if not candidates:
                raise InvalidField(path, f"expected {expected}, got {value_kind}")
            failures: list[InvalidField] = []
            for check in candidates:
                try:
                    check(value, path)
                except InvalidField as failure:
                    failures.append(failure)
                else:
                    return
            # The branch that got furthest into the value explains the problem best.
            raise max(failures, key=lambda failure: len(failure.field))

        return check_union


def _primitive(avro_type: str) -> PayloadCheck:
    expected = _EXPECTED_KIND.get(avro_type)
    if expected is None:
        raise ValueError(f"unsupported Avro type {avro_type!r}")
    int_range = _INT_RANGES.get(avro_type)

    def check_primitive(value: Any, path: str) -> None:
        value_kind = json_kind(value)
        if expected not in _COMPATIBLE_KINDS.get(value_kind, {value_kind}):
            raise InvalidField(path, f"expected {expected}, got {value_kind}")
        if int_range is not None and not int_range[0] <= value <= int_range[1]:
            raise InvalidField(
                path, f"{value} is out of range for {avro_type} ({int_range[0]}..{int_range[1]})"
            )

    return check_primitive


def _date_time(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidField(path, f"expected string, got {json_kind(value)}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(path, f"{value!r} is not an ISO-8601 date-time") from None


def _enum(symbols: list[str]) -> PayloadCheck:
    allowed = frozenset(symbols)
    listed = ", ".join(symbols)

    def check_enum(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise InvalidField(path, f"expected string, got {json_kind(value)}")
        if value not in allowed:
            raise InvalidField(path, f"unknown value {value!r}, expected one of {listed}")

    return check_enum


def _array(check_item: PayloadCheck) -> PayloadCheck:
    def check_array(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise InvalidField(path, f"expected array, got {json_kind(value)}")
        for index, item in enumerate(value):
            check_item(item, f"{path}[{index}]")

    return check_array


def _map(check_value: PayloadCheck) -> PayloadCheck:
    def check_map(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise InvalidField(path, f"expected object, got {json_kind(value)}")
        for key, item in value.items():
            check_value(item, child_path(path, key))

    return check_map
