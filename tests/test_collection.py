"""V3 standard collection parameters: filters, sorters and paging on in-memory lists."""

from __future__ import annotations

from typing import Any

import pytest

from event_triggers.collection import (
    MAX_CONJUNCTIONS,
    FilterSpec,
    FilterTerm,
    apply_collection,
    parse_filter_terms,
    parse_filters,
    parse_sorters,
    validate_paging,
)
from event_triggers.errors import InvalidField

SUBSCRIPTION_FILTERS: FilterSpec = {"id": {"eq"}, "triggerId": {"eq"}, "type": {"eq", "le"}}
TEST_FILTERS: FilterSpec = {
    "name": {"eq", "ne", "co", "sw", "in"},
    "size": {"eq", "ne", "gt", "ge", "lt", "le", "in"},
    "enabled": {"eq", "ne"},
    "note": {"eq", "ne"},
}

ITEMS: list[dict[str, Any]] = [
    {"name": "alpha", "size": 3, "enabled": True, "note": None},
    {"name": "beta", "size": 1, "enabled": False, "note": "x"},
    {"name": "Gamma", "size": 2, "enabled": True, "note": None},
    {"name": "alphabet", "size": 1.5, "enabled": False},
]


def names_matching(expression: str) -> list[str]:
    predicate = parse_filters(expression, allowed=TEST_FILTERS)
    return [item["name"] for item in ITEMS if predicate(item)]


def invalid_field(raised: pytest.ExceptionInfo[InvalidField]) -> tuple[str, str]:
    return raised.value.field, raised.value.reason


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('name eq "alpha"', ["alpha"]),
        ('name eq "ALPHA"', []),
        ('name ne "alpha"', ["beta", "Gamma", "alphabet"]),
        ('name co "pha"', ["alpha", "alphabet"]),
        ('name sw "alpha"', ["alpha", "alphabet"]),
        ('name sw "Alpha"', []),
        ('name in ("beta", "Gamma")', ["beta", "Gamma"]),
        ("size gt 1", ["alpha", "Gamma", "alphabet"]),
        ("size ge 2", ["alpha", "Gamma"]),
        ("size lt 2", ["beta", "alphabet"]),
        ("size le 1.5", ["beta", "alphabet"]),
        ("size eq 1.5", ["alphabet"]),
        ("size in (1, 3)", ["alpha", "beta"]),
        ("enabled eq true", ["alpha", "Gamma"]),
        ("enabled eq false", ["beta", "alphabet"]),
        ("note eq null", ["alpha", "Gamma", "alphabet"]),
        ("note ne null", ["beta"]),
    ],
)
def test_each_operator(expression: str, expected: list[str]) -> None:
    assert names_matching(expression) == expected


def test_booleans_and_numbers_never_equal_each_other() -> None:
    assert names_matching("size eq true") == []
    assert names_matching("enabled eq 1") == []


def test_ordering_values_of_different_kinds_never_matches() -> None:
    assert names_matching('size gt "0"') == []


def test_escaped_quotes_in_strings() -> None:
    predicate = parse_filters(r'name eq "say \"hi\" \\ bye"', allowed=TEST_FILTERS)
    assert predicate({"name": 'say "hi" \\ bye'})
    assert not predicate({"name": "say hi bye"})


def test_and_or_and_parentheses() -> None:
    assert names_matching('name sw "alpha" and size gt 2') == ["alpha"]
    assert names_matching('name eq "beta" or size eq 2') == ["beta", "Gamma"]
    assert names_matching('enabled eq false and (name eq "beta" or size gt 1)') == ["beta", "alphabet"]
    # `and` binds tighter than `or`.
    assert names_matching('enabled eq false and name eq "beta" or size gt 2') == ["alpha", "beta"]


def test_terms_are_exposed_as_disjunctive_normal_form() -> None:
    terms = parse_filter_terms(
        'triggerId eq "idn:identity-created" and (type eq "HTTP" or type le "EVENTBRIDGE")',
        allowed=SUBSCRIPTION_FILTERS,
    )
    assert terms == [
        [FilterTerm("triggerId", "eq", "idn:identity-created"), FilterTerm("type", "eq", "HTTP")],
        [FilterTerm("triggerId", "eq", "idn:identity-created"), FilterTerm("type", "le", "EVENTBRIDGE")],
    ]
    field, op, value = terms[0][0]
    assert (field, op, value) == ("triggerId", "eq", "idn:identity-created")


@pytest.mark.parametrize("expression", [None, "", "   "])
def test_no_filter_matches_everything(expression: str | None) -> None:
    assert parse_filter_terms(expression, allowed=TEST_FILTERS) == [[]]
    assert parse_filters(expression, allowed=TEST_FILTERS)({"anything": 1})


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ('name eq "a', "unterminated string starting at position 8"),
        ("name eq 'a'", 'unexpected character "\'" at position 8'),
        (
            'owner eq "a"',
            "field 'owner' at position 0 cannot be filtered; filterable fields: enabled, name, note, size",
        ),
        (
            "enabled gt 1",
            "operator 'gt' at position 8 is not supported for field 'enabled'; supported: eq, ne",
        ),
        (
            'name like "a"',
            "expected an operator (co, eq, ge, gt, in, le, lt, ne, sw) at position 5, found 'like'",
        ),
        ("name eq", "expected a value (a double-quoted string, a number, true, false or null) at position 7"),
        ("name eq alpha", "found 'alpha'"),
        (
            'name eq "a" size eq 1',
            "expected 'and', 'or' or the end of the filter at position 12, found 'size'",
        ),
        ('(name eq "a"', "expected ')' at position 12, found the end of the filter"),
        ('name in "a"', "expected '(' at position 8"),
        ('name in ("a" "b")', "expected ')' at position 13"),
        ('name eq "a" and', "expected a field name at position 15, found the end of the filter"),
        ("()", "expected a field name at position 1, found ')'"),
    ],
)
def test_filter_errors_name_the_problem(expression: str, reason: str) -> None:
    with pytest.raises(InvalidField) as raised:
        parse_filters(expression, allowed=TEST_FILTERS)
    field, message = invalid_field(raised)
    assert field == "filters"
    assert reason in message


def test_filter_expansion_is_capped() -> None:
    def alternatives(pairs: int) -> str:
        return " and ".join("(size eq 1 or size eq 2)" for _ in range(pairs))

    # n pairs expand to 2**n conjunctions.
    pairs_over_the_cap = MAX_CONJUNCTIONS.bit_length()
    under_the_cap = parse_filter_terms(alternatives(pairs_over_the_cap - 1), allowed=TEST_FILTERS)
    assert len(under_the_cap) == 2 ** (pairs_over_the_cap - 1)
    with pytest.raises(InvalidField, match="too complex"):
        parse_filters(alternatives(pairs_over_the_cap), allowed=TEST_FILTERS)


def test_parse_sorters() -> None:
    assert parse_sorters("name, -size ,enabled", allowed={"name", "size", "enabled"}) == [
        ("name", False),
        ("size", True),
        ("enabled", False),
    ]
    assert parse_sorters(None, allowed={"name"}) == []
    assert parse_sorters("", allowed={"name"}) == []


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("owner", "field 'owner' cannot be sorted on; sortable fields: name, size"),
        ("-owner", "field 'owner' cannot be sorted on"),
        ("name,", "empty sort field"),
        ("-", "empty sort field"),
    ],
)
def test_sorter_errors_name_the_field(expression: str, reason: str) -> None:
    with pytest.raises(InvalidField) as raised:
        parse_sorters(expression, allowed={"name", "size"})
    field, message = invalid_field(raised)
    assert field == "sorters"
    assert reason in message


@pytest.mark.parametrize(
    ("limit", "offset", "field", "reason"),
    [
        (-1, 0, "limit", "must be between 0 and 250, got -1"),
        (251, 0, "limit", "must be between 0 and 250, got 251"),
        (10, -1, "offset", "must be 0 or more, got -1"),
    ],
)
def test_paging_errors_name_the_field(limit: int, offset: int, field: str, reason: str) -> None:
    with pytest.raises(InvalidField) as raised:
        validate_paging(limit, offset)
    assert invalid_field(raised) == (field, reason)


def test_paging_bounds_are_accepted() -> None:
    validate_paging(0, 0)
    validate_paging(250, 10_000)


def collect(items: list[dict[str, Any]], **parameters: Any) -> tuple[list[Any], int]:
    arguments: dict[str, Any] = {
        "filters": None,
        "sorters": None,
        "filter_fields": TEST_FILTERS,
        "sort_fields": {"name", "size", "note"},
    }
    page, total = apply_collection(items, **(arguments | parameters))
    return [item["name"] for item in page], total


def test_apply_collection_filters_sorts_and_pages() -> None:
    assert collect(ITEMS, sorters="size") == (["beta", "alphabet", "Gamma", "alpha"], 4)
    assert collect(ITEMS, sorters="-size") == (["alpha", "Gamma", "alphabet", "beta"], 4)
    assert collect(ITEMS, filters="size ge 1.5", sorters="name", limit=2) == (["Gamma", "alpha"], 3)
    assert collect(ITEMS, filters="size ge 1.5", sorters="name", limit=2, offset=2) == (["alphabet"], 3)
    assert collect(ITEMS, limit=0) == ([], 4)
    assert collect(ITEMS, offset=10) == ([], 4)


def test_without_sorters_the_input_order_is_kept() -> None:
    assert collect(ITEMS) == (["alpha", "beta", "Gamma", "alphabet"], 4)


def test_sort_is_stable_with_nulls_last_in_both_directions() -> None:
    items: list[dict[str, Any]] = [
        {"name": "n1", "note": None},
        {"name": "b1", "note": "b"},
        {"name": "m1"},
        {"name": "a1", "note": "a"},
        {"name": "b2", "note": "b"},
    ]
    assert collect(items, sorters="note")[0] == ["a1", "b1", "b2", "n1", "m1"]
    assert collect(items, sorters="-note")[0] == ["b1", "b2", "a1", "n1", "m1"]


def test_later_sorters_break_ties_of_earlier_ones() -> None:
    items = [
        {"name": "x", "size": 1},
        {"name": "y", "size": 2},
        {"name": "z", "size": 1},
        {"name": "w", "size": 2},
    ]
    assert collect(items, sorters="size,-name")[0] == ["z", "x", "y", "w"]
    assert collect(items, sorters="-size,name")[0] == ["w", "y", "x", "z"]


def test_default_sort_applies_and_breaks_ties_of_requested_order() -> None:
    items = [
        {"name": "x", "size": 1},
        {"name": "y", "size": 2},
        {"name": "z", "size": 1},
    ]
    default = [("name", True)]
    assert collect(items, default_sort=default)[0] == ["z", "y", "x"]
    assert collect(items, sorters="size", default_sort=default)[0] == ["z", "x", "y"]
    assert collect(items, sorters="name", default_sort=default)[0] == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"filters": "owner eq 1"}, "filters"),
        ({"sorters": "owner"}, "sorters"),
        ({"limit": 251}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_apply_collection_rejects_bad_parameters(parameters: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidField) as raised:
        collect(ITEMS, **parameters)
    assert raised.value.field == field
