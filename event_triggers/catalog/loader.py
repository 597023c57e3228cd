"""Trigger definitions: loaded once at startup from JSON files, checked so a bad file stops startup."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from event_triggers.catalog.validation import PayloadValidator
from event_triggers.errors import InvalidField
from event_triggers.models import TriggerType

BUILT_IN_TRIGGERS_DIR = Path(__file__).parent / "triggers"
# "namespace:name"; EventBridge sources are built from the two halves.
_TRIGGER_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*:[a-z0-9][a-z0-9.-]*$")
_REQUIRED_KEYS = frozenset({"id", "name", "type", "inputSchema", "exampleInput"})
_KNOWN_KEYS = _REQUIRED_KEYS | {"description", "outputSchema", "exampleOutput"}
_REQUIRED = object()


class CatalogError(Exception):
    """A trigger definition cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, kw_only=True)
class TriggerDefinition:
    """One trigger: what producers send (input) and, for REQUEST_RESPONSE, what subscribers answer (output).

    Constructing one parses the Avro schemas once and checks the examples against them, raising
    CatalogError, so every definition in use is known to be consistent.
    """

    id: str
    name: str
    type: TriggerType
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    example_input: dict[str, Any]
    example_output: dict[str, Any] | None
    _input_validator: PayloadValidator = field(init=False, repr=False, compare=False)
    _output_validator: PayloadValidator | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _TRIGGER_ID.match(self.id):
            raise CatalogError(
                f"id {self.id!r} is not of the form 'namespace:name' (lowercase, digits, '-', '.')"
            )
        if self.type is TriggerType.REQUEST_RESPONSE and self.output_schema is None:
            raise CatalogError(f"{self.id}: a REQUEST_RESPONSE trigger needs an outputSchema")
        if self.type is TriggerType.FIRE_AND_FORGET and self.output_schema is not None:
            raise CatalogError(f"{self.id}: a FIRE_AND_FORGET trigger takes no outputSchema")
        object.__setattr__(self, "_input_validator", _compile(self.id, "inputSchema", self.input_schema))
        output_validator = (
            None if self.output_schema is None else _compile(self.id, "outputSchema", self.output_schema)
        )
        object.__setattr__(self, "_output_validator", output_validator)
        _check_example(self.id, "exampleInput", lambda: self.validate_input(self.example_input))
        if output_validator is not None:
            _check_example(self.id, "exampleOutput", lambda: self.validate_output(self.example_output))

    @classmethod
    def from_document(cls, document: Any) -> TriggerDefinition:
        """Build a definition from its JSON file shape (camelCase keys, schemas as JSON objects)."""
        if not isinstance(document, dict):
            raise CatalogError("a trigger definition must be a JSON object")
        missing = sorted(_REQUIRED_KEYS - document.keys())
        if missing:
            raise CatalogError(f"missing key(s): {', '.join(missing)}")
        unknown = sorted(document.keys() - _KNOWN_KEYS)
        if unknown:
            raise CatalogError(f"unknown key(s): {', '.join(unknown)}")
        try:
            trigger_type = TriggerType(document["type"])
        except ValueError:
            expected = ", ".join(member.value for member in TriggerType)
            raise CatalogError(f"type {document['type']!r} is not one of {expected}") from None
        return cls(
            id=_typed(document, "id", str),
            name=_typed(document, "name", str),
            type=trigger_type,
            description=_typed(document, "description", str, default=""),
            input_schema=_typed(document, "inputSchema", dict),
            output_schema=_typed(document, "outputSchema", dict, default=None),
            example_input=_typed(document, "exampleInput", dict),
            example_output=_typed(document, "exampleOutput", dict, default=None),
        )

    def validate_input(self, payload: Any) -> None:
        """Raise InvalidField (field ``input.…``) when a producer's event does not match the input schema."""
        self._input_validator.validate(payload, root="input")

    def validate_output(self, payload: Any) -> None:
        """Raise InvalidField (field ``output.…``) when a subscriber's answer breaks the output schema."""
        if self._output_validator is None:
            raise InvalidField("output", f"trigger {self.id} is FIRE_AND_FORGET and takes no output")
        self._output_validator.validate(payload, root="output")

    def to_public(self) -> dict[str, Any]:
        """The Trigger of GET /triggers/v1: schemas are serialised as JSON strings, as SailPoint does."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type.value,
            "description": self.description,
            "inputSchema": _compact_json(self.input_schema),
            "outputSchema": None if self.output_schema is None else _compact_json(self.output_schema),
            "exampleInput": self.example_input,
            "exampleOutput": self.example_output,
        }


class Catalog:
    """The triggers this service knows, by id. Immutable once loaded."""

    def __init__(self, triggers: Iterable[TriggerDefinition]) -> None:
        self._by_id = {trigger.id: trigger for trigger in sorted(triggers, key=lambda trigger: trigger.id)}

    def get(self, trigger_id: str) -> TriggerDefinition | None:
        return self._by_id.get(trigger_id)

    def require(self, trigger_id: str) -> TriggerDefinition:
        """The trigger, or InvalidField on ``triggerId`` for a request that names an unknown one."""
        trigger = self._by_id.get(trigger_id)
        if trigger is None:
            raise InvalidField("triggerId", f"unknown trigger {trigger_id!r}")
        return trigger

    def all(self) -> list[TriggerDefinition]:
        """Every trigger, sorted by id."""
        return list(self._by_id.values())


def load_catalog(*, extra_dirs: Sequence[Path] = ()) -> Catalog:
    """Load the built-in triggers plus every ``*.json`` in ``extra_dirs``; CatalogError on any bad file."""
    loaded_from: dict[str, Path] = {}
    triggers: list[TriggerDefinition] = []
    for directory in (BUILT_IN_TRIGGERS_DIR, *extra_dirs):
        if not directory.is_dir():
            raise CatalogError(f"{directory}: trigger catalog directory does not exist")
        for path in sorted(directory.glob("*.json")):
            trigger = load_trigger_file(path)
            if trigger.id in loaded_from:
                raise CatalogError(
                    f"{path}: trigger id {trigger.id!r} is already defined in {loaded_from[trigger.id]}"
                )
            loaded_from[trigger.id] = path
            triggers.append(trigger)
    return Catalog(triggers)


def load_trigger_file(path: Path) -> TriggerDefinition:
    """Read one trigger definition file; errors name the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError(f"{path}: cannot read: {error}") from error
    except json.JSONDecodeError as error:
        raise CatalogError(f"{path}: malformed JSON: {error}") from error
    try:
        return TriggerDefinition.from_document(document)
    except CatalogError as error:
        raise CatalogError(f"{path}: {error}") from error


def _compile(trigger_id: str, key: str, schema: dict[str, Any]) -> PayloadValidator:
    try:
        return PayloadValidator(schema)
    except Exception as error:  # fastavro raises several unrelated exception types for bad schemas
        raise CatalogError(f"{trigger_id}: {key} is not a valid Avro schema: {error}") from error


def _check_example(trigger_id: str, key: str, validate: Callable[[], None]) -> None:
    try:
        validate()
    except InvalidField as error:
        raise CatalogError(f"{trigger_id}: {key} does not match its schema: {error}") from error


def _typed(document: Mapping[str, Any], key: str, expected: type, default: Any = _REQUIRED) -> Any:
    """``document[key]`` checked against ``expected``; an absent or null key gives ``default`` if given."""
    value = document.get(key)
    if value is None and default is not _REQUIRED:
        return default
    if not isinstance(value, expected):
        kind = "object" if expected is dict else expected.__name__
        raise CatalogError(f"{key} must be a JSON {kind}")
    return value


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
