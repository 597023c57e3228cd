"""Subscription filters: JSONPath expressions evaluated on a trigger input with Jayway semantics.

A subscription matches when its filter yields a non-empty result on the input (SailPoint's
`JsonPathUtil.isPathExist`). python-jsonpath follows RFC 9535, which differs from Jayway in one way that
the documented SailPoint examples rely on: Jayway applies a filter on an *object* to the object itself
(`$[?($.identity.name == "john.doe")]` selects the root when the predicate holds), where RFC 9535
applies it to each of the object's member values. `JaywayFilter` restores the Jayway behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TypedDict

from jsonpath import (
    CompoundJSONPath,
    JSONPath,
    JSONPathEnvironment,
    JSONPathError,
    JSONPathMatch,
    Parser,
)
from jsonpath.selectors import Filter, FilterContext, KeysFilter
from jsonpath.stream import TokenStream

from event_triggers.errors import InvalidField

CompiledFilter = JSONPath | CompoundJSONPath

COMPILED_FILTER_CACHE_SIZE = 4096


class InvalidFilter(ValueError):
    """A filter is not a valid JSONPath expression; the message says why."""


class ValidateFilterResult(TypedDict):
    isValid: bool
    isValidJSONPath: bool
    isPathExist: bool


class JaywayFilter(Filter):
    """A filter selector that tests an object itself rather than its member values, as Jayway does.

    Only the synchronous API is used for subscription matching, so only `resolve` is adapted.
    """

    def resolve(self, node: JSONPathMatch) -> Iterable[JSONPathMatch]:
        if not isinstance(node.obj, Mapping):
            yield from super().resolve(node)
            return
        context = FilterContext(
            env=self.env,
            current=node.obj,
            root=node.root,
            extra_context=node.filter_context(),
            current_key=node.parts[-1] if node.parts else None,
        )
        if self.expression.evaluate(context):
            yield node


class JaywayParser(Parser):
    """Builds `JaywayFilter` selectors in place of RFC 9535 filter selectors."""

    def parse_filter_selector(self, stream: TokenStream, *, keys: bool = False) -> Filter | KeysFilter:
        selector = super().parse_filter_selector(stream, keys=keys)
        if isinstance(selector, KeysFilter):
            return selector
        return JaywayFilter(env=self.env, token=selector.token, expression=selector.expression)


class JaywayEnvironment(JSONPathEnvironment):
    parser_class = JaywayParser


_ENVIRONMENT = JaywayEnvironment()


def _describe_position(error: JSONPathError, expression: str) -> str:
    if error.token is None:
        return ""
    # The end-of-input token has index -1.
    index = error.token.index if error.token.index >= 0 else len(expression)
    return f" at position {index}"


@lru_cache(maxsize=COMPILED_FILTER_CACHE_SIZE)
def compile_filter(expression: str) -> CompiledFilter:
    """Compile a filter once; subscriptions share few distinct filters and are matched on every event."""
    if not expression.strip():
        raise InvalidFilter("the expression is empty")
    try:
        return _ENVIRONMENT.compile(expression)
    except JSONPathError as error:
        raise InvalidFilter(f"{error.message}{_describe_position(error, expression)}") from error


def check_filter_syntax(expression: str) -> None:
    """Reject a subscription filter that is not valid JSONPath, naming the `filter` field."""
    try:
        compile_filter(expression)
    except InvalidFilter as error:
        raise InvalidField("filter", f"is not a valid JSONPath expression: {error}") from error


def _path_exists(compiled: CompiledFilter, data: object) -> bool:
    # python-jsonpath parses a str argument as a JSON document; encode it so a string input stays a string.
    document = json.dumps(data) if isinstance(data, str) else data
    return next(iter(compiled.finditer(document)), None) is not None  # type: ignore[arg-type]


def filter_matches(expression: str | None, data: object) -> bool:
    """True when a subscription with this filter receives `data`.

    No filter matches everything. A filter that fails (invalid, or an error while evaluating) skips the
    subscription, as SailPoint does.
    """
    if not expression:
        return True
    try:
        return _path_exists(compile_filter(expression), data)
    except (InvalidFilter, JSONPathError):
        return False


def validate_filter(*, expression: str, data: object) -> ValidateFilterResult:
    """Answer POST /trigger-subscriptions/v1/validate-filter: is the path valid, and does it match `data`."""
    try:
        compiled = compile_filter(expression)
    except InvalidFilter:
        return {"isValid": False, "isValidJSONPath": False, "isPathExist": False}
    try:
        path_exists = _path_exists(compiled, data)
    except JSONPathError:
        path_exists = False
    return {"isValid": path_exists, "isValidJSONPath": True, "isPathExist": path_exists}
