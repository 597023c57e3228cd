"""SailPoint V3 standard collection parameters (`filters`, `sorters`, `limit`, `offset`) for in-memory lists.

Filters follow the V3 syntax: `<field> <op> <value>` terms combined with `and`, `or` and parentheses,
e.g. `triggerId eq "idn:access-request-submitted" and (type eq "HTTP" or type eq "EVENTBRIDGE")`.
A parsed filter is kept in disjunctive normal form (an OR of AND-ed terms), which is both what the
in-memory predicate evaluates and what another store can translate (e.g. `eq` terms into a Temporal
List Filter).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from event_triggers.errors import InvalidField

FilterScalar = str | int | float | bool | None
FilterValue = FilterScalar | tuple[FilterScalar, ...]
FilterSpec = Mapping[str, set[str]]
"""Filterable fields of a collection, each with the operators it supports."""
SortOrder = list[tuple[str, bool]]
"""(field, descending) pairs, most significant first."""

OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "in", "co", "sw"})
MAX_LIMIT = 250
DEFAULT_LIMIT = MAX_LIMIT
MAX_CONJUNCTIONS = 64
"""Expanding `(a or b) and (c or d) ...` doubles the terms each time; cap it rather than exhaust memory."""
MAX_EXPRESSION_LENGTH = 16 * 1024
"""Characters of `filters` or `sorters`: room for an `in` list of a few hundred ids, no more."""
MAX_PARENTHESES_DEPTH = 32
"""Parentheses open at once; the parser recurses on each, so a bound keeps it off Python's stack limit."""
MAX_NUMBER_LENGTH = 64
"""Characters of a number: Python refuses integers over 4300 digits, and no field needs a tenth of that."""

_TOKEN_PATTERN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    | (?P<punctuation>[(),])
    | (?P<unexpected>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_STRING_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class FilterTerm(NamedTuple):
    """One `<field> <op> <value>` comparison; `value` is a tuple for `in`."""

    field: str
    op: str
    value: FilterValue

    def matches(self, item: Mapping[str, Any]) -> bool:
        return _COMPARISONS[self.op](item.get(self.field), self.value)


Conjunction = list[FilterTerm]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(actual: object, expected: object) -> bool:
    # Python treats True == 1; a filter on a boolean field must not match a number, nor the reverse.
    return isinstance(actual, bool) == isinstance(expected, bool) and actual == expected


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[object, object], bool]:
    """Order only values of the same kind (numbers with numbers, strings with strings); others never match."""

    def comparison(actual: object, expected: object) -> bool:
        same_kind = (_is_number(actual) and _is_number(expected)) or (
            isinstance(actual, str) and isinstance(expected, str)
        )
        return same_kind and compare(actual, expected)

    return comparison


def _is_in(actual: object, expected: object) -> bool:
    return isinstance(expected, tuple) and any(_equal(actual, candidate) for candidate in expected)


def _contains(actual: object, expected: object) -> bool:
    return isinstance(actual, str) and isinstance(expected, str) and expected in actual


def _starts_with(actual: object, expected: object) -> bool:
    return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)


_COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    "eq": _equal,
    "ne": lambda actual, expected: not _equal(actual, expected),
    "gt": _ordered(lambda actual, expected: actual > expected),
    "ge": _ordered(lambda actual, expected: actual >= expected),
    "lt": _ordered(lambda actual, expected: actual < expected),
    "le": _ordered(lambda actual, expected: actual <= expected),
    "in": _is_in,
    "co": _contains,
    "sw": _starts_with,
}


class _Token(NamedTuple):
    kind: str
    text: str
    position: int


def _filter_error(reason: str) -> InvalidField:
    return InvalidField("filters", reason)


def _check_length(field: str, expression: str) -> None:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidField(
            field, f"is {len(expression)} characters long, over the limit of {MAX_EXPRESSION_LENGTH}"
        )


def _tokenize(expression: str) -> list[_Token]:
    tokens = []
    for found in _TOKEN_PATTERN.finditer(expression):
        kind = found.lastgroup or "unexpected"
        if kind == "space":
            continue
        if kind == "unexpected":
            if found.group() == '"':
                raise _filter_error(f"unterminated string starting at position {found.start()}")
            raise _filter_error(f"unexpected character {found.group()!r} at position {found.start()}")
        tokens.append(_Token(kind, found.group(), found.start()))
    return tokens


class _FilterParser:
    """Recursive descent over `or` < `and` < parenthesised group or term, producing DNF."""

    def __init__(self, expression: str, allowed: FilterSpec) -> None:
        self.tokens = _tokenize(expression)
        self.end = _Token("end", "", len(expression))
        self.index = 0
        self.depth = 0
        self.allowed = allowed

    def parse(self) -> list[Conjunction]:
        disjunction = self.parse_or()
        if self.peek() is not self.end:
            raise self.unexpected("'and', 'or' or the end of the filter")
        return disjunction

    def peek(self) -> _Token:
        return self.tokens[self.index] if self.index < len(self.tokens) else self.end

    def accept(self, kind: str, text: str) -> bool:
        """Consume the next token if it is `text` of `kind`."""
        token = self.peek()
        if token.kind == kind and token.text == text:
            self.index += 1
            return True
        return False

    def expect_punctuation(self, symbol: str) -> None:
        if not self.accept("punctuation", symbol):
            raise self.unexpected(f"'{symbol}'")

    def unexpected(self, expected: str) -> InvalidField:
        token = self.peek()
        found = "the end of the filter" if token is self.end else repr(token.text)
        return _filter_error(f"expected {expected} at position {token.position}, found {found}")

    def parse_or(self) -> list[Conjunction]:
        disjunction = self.parse_and()
        while self.accept("word", "or"):
            disjunction = disjunction + self.parse_and()
            self.check_size(disjunction)
        return disjunction

    def parse_and(self) -> list[Conjunction]:
        disjunction = self.parse_operand()
        while self.accept("word", "and"):
            right = self.parse_operand()
            disjunction = [left + other for left in disjunction for other in right]
            self.check_size(disjunction)
        return disjunction

    def check_size(self, disjunction: list[Conjunction]) -> None:
        if len(disjunction) > MAX_CONJUNCTIONS:
            raise _filter_error(
                f"is too complex: more than {MAX_CONJUNCTIONS} alternatives once 'or' is expanded"
            )

    def parse_operand(self) -> list[Conjunction]:
        opening = self.peek()
        if self.accept("punctuation", "("):
            self.depth += 1
            if self.depth > MAX_PARENTHESES_DEPTH:
                raise _filter_error(
                    f"nests parentheses more than {MAX_PARENTHESES_DEPTH} deep "
                    f"(at position {opening.position})"
                )
            disjunction = self.parse_or()
            self.expect_punctuation(")")
            self.depth -= 1
            return disjunction
        return [[self.parse_term()]]

    def parse_term(self) -> FilterTerm:
        field_token = self.peek()
        if field_token.kind != "word":
            raise self.unexpected("a field name")
        self.index += 1
        if field_token.text not in self.allowed:
            raise _filter_error(
                f"field {field_token.text!r} at position {field_token.position} cannot be filtered; "
                f"filterable fields: {_listing(self.allowed)}"
            )
        operator_token = self.peek()
        if operator_token.kind != "word" or operator_token.text not in OPERATORS:
            raise self.unexpected(f"an operator ({_listing(OPERATORS)})")
        self.index += 1
        operator = operator_token.text
        if operator not in self.allowed[field_token.text]:
            raise _filter_error(
                f"operator {operator!r} at position {operator_token.position} is not supported for field "
                f"{field_token.text!r}; supported: {_listing(self.allowed[field_token.text])}"
            )
        value = self.parse_value_list() if operator == "in" else self.parse_value()
        return FilterTerm(field_token.text, operator, value)

    def parse_value_list(self) -> tuple[FilterScalar, ...]:
        self.expect_punctuation("(")
        values = [self.parse_value()]
        while self.accept("punctuation", ","):
            values.append(self.parse_value())
        self.expect_punctuation(")")
        return tuple(values)

    def parse_value(self) -> FilterScalar:
        token = self.peek()
        if token.kind == "string":
            self.index += 1
            return _STRING_ESCAPE.sub(r"\1", token.text[1:-1])
        if token.kind == "number":
            if len(token.text) > MAX_NUMBER_LENGTH:
                raise _filter_error(
                    f"number at position {token.position} is {len(token.text)} characters long, "
                    f"over the limit of {MAX_NUMBER_LENGTH}"
                )
            self.index += 1
            is_integer = not any(marker in token.text for marker in ".eE")
            return int(token.text) if is_integer else float(token.text)
        literals: dict[str, FilterScalar] = {"true": True, "false": False, "null": None}
        if token.kind == "word" and token.text in literals:
            self.index += 1
            return literals[token.text]
        raise self.unexpected("a value (a double-quoted string, a number, true, false or null)")


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def parse_filter_terms(expr: str | None, *, allowed: FilterSpec) -> list[Conjunction]:
    """Parse `filters` into DNF: the item matches when all terms of any one conjunction match.

    No filter gives one empty conjunction, which matches everything.
    """
    if expr is None or not expr.strip():
        return [[]]
    _check_length("filters", expr)
    return _FilterParser(expr, allowed).parse()


@dataclass(frozen=True)
class CollectionFilter:
    """A parsed `filters` parameter, callable on an item."""

    conjunctions: list[Conjunction]

    def __call__(self, item: Mapping[str, Any]) -> bool:
        return any(all(term.matches(item) for term in conjunction) for conjunction in self.conjunctions)


def parse_filters(expr: str | None, *, allowed: FilterSpec) -> CollectionFilter:
    """Parse `filters` into a predicate; raises InvalidField("filters", ...) naming the culprit."""
    return CollectionFilter(parse_filter_terms(expr, allowed=allowed))


def parse_sorters(expr: str | None, *, allowed: set[str]) -> SortOrder:
    """Parse `sorters` (`name,-created`: comma-separated, `-` for descending)."""
    if expr is None or not expr.strip():
        return []
    _check_length("sorters", expr)
    order = []
    for entry in expr.split(","):
        name = entry.strip()
        descending = name.startswith("-")
        field = name.removeprefix("-").strip()
        if not field:
            raise InvalidField("sorters", f"empty sort field in {expr!r}")
        if field not in allowed:
            raise InvalidField(
                "sorters", f"field {field!r} cannot be sorted on; sortable fields: {_listing(allowed)}"
            )
        order.append((field, descending))
    return order


def validate_paging(limit: int, offset: int) -> None:
    """Check `limit` (0..250) and `offset` (>= 0) as the V3 collection parameters define them."""
    if not 0 <= limit <= MAX_LIMIT:
        raise InvalidField("limit", f"must be between 0 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidField("offset", f"must be 0 or more, got {offset}")


def _sorted_by(items: list[Mapping[str, Any]], field: str, descending: bool) -> list[Mapping[str, Any]]:
    """Stable sort on one field with missing and null values last, whichever the direction."""
    present = [item for item in items if item.get(field) is not None]
    missing = [item for item in items if item.get(field) is None]
    present.sort(key=lambda item: item[field], reverse=descending)
    return present + missing


def _effective_order(
    requested: SortOrder, default_sort: Sequence[tuple[str, bool]]
) -> Iterator[tuple[str, bool]]:
    """The requested order, then the default order as a tie-breaker so pages are deterministic."""
    requested_fields = {field for field, _ in requested}
    yield from requested
    yield from ((field, descending) for field, descending in default_sort if field not in requested_fields)


def apply_collection(
    items: Sequence[Mapping[str, Any]],
    *,
    filters: str | None,
    sorters: str | None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    filter_fields: FilterSpec,
    sort_fields: set[str],
    default_sort: Sequence[tuple[str, bool]] = (),
) -> tuple[list[Mapping[str, Any]], int]:
    """Filter, sort and page `items`; returns the page and the total count after filtering."""
    validate_paging(limit, offset)
    predicate = parse_filters(filters, allowed=filter_fields)
    order = list(_effective_order(parse_sorters(sorters, allowed=sort_fields), default_sort))
    selected = [item for item in items if predicate(item)]
    # Sorting by the least significant key first lets each stable pass keep the earlier ones' ties.
    for field, descending in reversed(order):
        selected = _sorted_by(selected, field, descending)
    return selected[offset : offset + limit], len(selected)
