"""The subscription form, derived from the API's models: control names are the API's JSON paths.

A destination type's settings are its registered destination's config model, under its config field
(``HTTP`` -> ``httpConfig``, ``SQS`` -> ``sqsConfig``), so a destination type added to the registry
appears in the form without touching the UI. Likewise an authentication type selects its ``<type>Config``
group (``BASIC_AUTH`` -> ``basicAuthConfig``).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from event_triggers.destinations.registry import DESTINATIONS
from event_triggers.errors import InvalidField
from event_triggers.models import HttpDispatchMode

_LABELS = {
    "url": "URL",
    "httpDispatchMode": "Dispatch mode",
    "httpAuthenticationType": "Authentication",
    "basicAuthConfig": "Basic authentication",
    "bearerTokenAuthConfig": "Bearer token",
    "userName": "User name",
    "awsAccount": "AWS account id",
    "awsRegion": "AWS region",
    "queueUrl": "Queue URL",
    "roleArn": "Role ARN (optional)",
}
_SECRET_NAMES = re.compile(r"password|token|secret", re.IGNORECASE)


@dataclass(frozen=True)
class ShownWhen:
    """A control applies only while another control (``name``) has ``value``."""

    name: str
    value: str


@dataclass(frozen=True)
class FormField:
    name: str
    """The API field's JSON path with dots: the control's ``name``."""
    label: str
    kind: str
    """``text``, ``password``, ``select`` or ``group`` (a fieldset of ``children``)."""
    required: bool = False
    default: str = ""
    choices: tuple[str, ...] = ()
    children: tuple[FormField, ...] = ()
    shown_when: ShownWhen | None = None
    request_response_only: bool = False
    """Only meaningful for a REQUEST_RESPONSE trigger (the dispatch mode)."""

    def walk(self) -> Iterable[FormField]:
        yield self
        for child in self.children:
            yield from child.walk()


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _label(name: str) -> str:
    return _LABELS.get(name) or re.sub(r"(?<!^)(?=[A-Z])", " ", name).capitalize()


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [item for item in typing.get_args(annotation) if item is not type(None)]
        return options[0] if len(options) == 1 else str
    return annotation


def _config_field_for(value: str, names: Iterable[str]) -> str | None:
    """The ``<value>Config`` field among ``names``: ``BASIC_AUTH`` -> ``basicAuthConfig``."""
    wanted = _key(value)
    return next((name for name in names if _key(name).startswith(wanted) and name.endswith("Config")), None)


def _model_fields(model: type[BaseModel], *, prefix: str) -> tuple[FormField, ...]:
    fields: list[FormField] = []
    selectors: dict[str, ShownWhen] = {}
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, StrEnum):
            for choice in annotation:
                config = _config_field_for(choice.value, model.model_fields)
                if config is not None:
                    selectors[config] = ShownWhen(f"{prefix}.{name}", choice.value)
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}"
        annotation = _unwrap(info.annotation)
        default = info.default if isinstance(info.default, str) else ""
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields.append(
                FormField(
                    name=path,
                    label=_label(name),
                    kind="group",
                    children=_model_fields(annotation, prefix=path),
                    shown_when=selectors.get(name),
                )
            )
        elif isinstance(annotation, type) and issubclass(annotation, StrEnum):
            fields.append(
                FormField(
                    name=path,
                    label=_label(name),
                    kind="select",
                    choices=tuple(item.value for item in annotation),
                    default=default,
                    request_response_only=annotation is HttpDispatchMode,
                )
            )
        else:
            fields.append(
                FormField(
                    name=path,
                    label=_label(name),
                    kind="password" if _SECRET_NAMES.search(name) else "text",
                    required=info.is_required(),
                    default=default,
                )
            )
    return tuple(fields)


@cache
def destination_sections() -> tuple[FormField, ...]:
    """One fieldset per destination type the API offers, each shown while ``type`` selects it."""
    return tuple(
        FormField(
            name=destination.config_field,
            label=f"{destination.type} settings",
            kind="group",
            children=_model_fields(destination.config_model, prefix=destination.config_field),
            shown_when=ShownWhen("type", destination.type),
        )
        for destination in DESTINATIONS.values()
    )


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Set the control ``path`` (``httpConfig.url``); 400 naming it when it nests inside a control with a
    value of its own (``name.first`` beside ``name``) or holds others (``httpConfig`` beside its fields)."""
    *parents, leaf = path.split(".")
    node = document
    for depth, part in enumerate(parents, start=1):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            outer = ".".join(parents[:depth])
            raise InvalidField(path, f"cannot be set inside {outer}, a control with a value of its own")
        node = child
    if isinstance(node.get(leaf), dict):
        raise InvalidField(path, "holds other controls: it cannot have a value of its own")
    node[leaf] = value


def _pop_path(document: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = document
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def _prune_empty(document: dict[str, Any]) -> dict[str, Any]:
    pruned = {}
    for key, value in document.items():
        if isinstance(value, dict):
            value = _prune_empty(value)
        if value not in ("", {}):
            pruned[key] = value
    return pruned


def _number(text: str) -> float | str:
    """A number control's value as the API's number; anything else as typed, for the API to refuse."""
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class SubmittedForm:
    """A submitted subscription form: the API body it means, and the raw values to show it again."""

    body: dict[str, Any]
    values: dict[str, str] = field(default_factory=dict)


def read_subscription_form(
    items: Iterable[tuple[str, Any]], *, request_response: bool, ignore: Iterable[str] = ()
) -> SubmittedForm:
    """Form pairs (last value wins, so a hidden ``false`` before a checkbox works) -> the API's JSON body.

    Controls that do not apply (another type's settings, another authentication's fields, the dispatch
    mode of a FIRE_AND_FORGET trigger) are left out, as is every empty control.
    """
    skipped = set(ignore)
    values = {name: str(value).strip() for name, value in items if name not in skipped}
    document: dict[str, Any] = {}
    for name, value in values.items():
        _set_path(document, name, value)
    for section in destination_sections():
        for control in section.walk():
            condition = control.shown_when
            if (
                condition is not None
                and values.get(condition.name) != condition.value
                or control.request_response_only
                and not request_response
            ):
                _pop_path(document, control.name)
    if "enabled" in document:
        document["enabled"] = document["enabled"] == "true"
    if isinstance(document.get("maxDeliveriesPerSecond"), str) and document["maxDeliveriesPerSecond"]:
        document["maxDeliveriesPerSecond"] = _number(document["maxDeliveriesPerSecond"])
    return SubmittedForm(body=_prune_empty(document), values=values)


_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
URL_PASSWORD_NOT_SHOWN = "type the URL's password again: a password is never shown back"
URL_PASSWORD_KEPT = (
    "a password is never shown back: type the URL's password again, or save without one to keep the stored "
    "password of the same host and user"
)


def _without_url_password(text: str) -> str | None:
    """``text`` without the password of the URL it holds (``amqp://user:pw@host`` -> ``amqp://user@host``),
    or None when it is not a URL with a password. A URL with an ``@`` that does not parse is dropped whole
    (``""``): its password cannot be cut out."""
    if "@" not in text or not _URL_START.match(text):
        return None
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return ""
    if password is None:
        return None
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


def values_to_show_again(values: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """A submitted form's values to fill the form again after an error, without a secret: no password
    control, and no password inside a URL. Also returns the controls whose URL lost its password (the
    form asks for it again)."""
    secret_controls = {
        control.name
        for section in destination_sections()
        for control in section.walk()
        if control.kind == "password"
    }
    shown: dict[str, str] = {}
    cleared: set[str] = set()
    for name, value in values.items():
        if name in secret_controls:
            continue
        without = _without_url_password(value)
        if without is not None:
            cleared.add(name)
        shown[name] = value if without is None else without
    return shown, cleared


def form_values(document: Mapping[str, Any]) -> dict[str, str]:
    """A subscription as the API returns it -> the form's control values (secrets are never shown)."""
    values: dict[str, str] = {}

    def visit(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping):
                visit(value, f"{path}.")
            elif value is not None and not isinstance(value, list):
                values[path] = str(value).lower() if isinstance(value, bool) else str(value)

    visit(document, "")
    return values


def destination_settings(document: Mapping[str, Any], *, request_response: bool) -> list[tuple[str, str]]:
    """A subscription's destination settings as (label, value) rows, in the form's order and words."""
    values = form_values(document)
    return [
        (control.label, values[control.name])
        for section in destination_sections()
        for control in section.walk()
        if control.kind in ("text", "select")
        and control.name in values
        and (request_response or not control.request_response_only)
    ]
