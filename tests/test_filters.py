"""Subscription filters behave as SailPoint documents them (Jayway JSONPath, match = non-empty result)."""

from __future__ import annotations

import re
import time

import pytest

from event_triggers.errors import InvalidField
from event_triggers.filters import (
    InvalidFilter,
    check_filter_syntax,
    compile_filter,
    filter_matches,
    validate_filter,
)

IDENTITY_NAME_FILTER = '$[?($.identity.name == "john.doe")]'
TERMINATED_FILTER = '$.changes[?(@.attribute == "cloudLifecycleState" && @.newValue == "terminated")]'
SUPPORT_DEPARTMENT_FILTER = '$.changes[?(@.attribute == "department" && @.newValue =~ /US.*Support/i)]'


def identity_changes(*changes: tuple[str, object]) -> dict[str, object]:
    return {
        "identity": {"id": "2c91", "name": "john.doe"},
        "changes": [{"attribute": name, "oldValue": None, "newValue": value} for name, value in changes],
    }


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        (IDENTITY_NAME_FILTER, {"identity": {"name": "john.doe"}}, True),
        (IDENTITY_NAME_FILTER, {"identity": {"name": "jane"}}, False),
        (IDENTITY_NAME_FILTER, {}, False),
        (TERMINATED_FILTER, identity_changes(("cloudLifecycleState", "terminated")), True),
        (
            TERMINATED_FILTER,
            identity_changes(("title", "x"), ("cloudLifecycleState", "terminated")),
            True,
        ),
        (TERMINATED_FILTER, identity_changes(("cloudLifecycleState", "active")), False),
        (TERMINATED_FILTER, identity_changes(("department", "terminated")), False),
        (TERMINATED_FILTER, {"changes": []}, False),
        (SUPPORT_DEPARTMENT_FILTER, identity_changes(("department", "us tech support")), True),
        (SUPPORT_DEPARTMENT_FILTER, identity_changes(("department", "US Customer Support")), True),
        (SUPPORT_DEPARTMENT_FILTER, identity_changes(("department", "EU Support")), False),
        (SUPPORT_DEPARTMENT_FILTER, identity_changes(("title", "US Support")), False),
        ("$.approved", {"approved": True}, True),
        ("$.approved", {"approved": False}, True),
        ("$.nonexistent", {"approved": True}, False),
    ],
)
def test_documented_filters(expression: str, data: object, expected: bool) -> None:
    assert filter_matches(expression, data) is expected


def test_regex_must_match_the_whole_value_as_in_jayway() -> None:
    assert not filter_matches(SUPPORT_DEPARTMENT_FILTER, identity_changes(("department", "US Support Team")))


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ('$[?(@.identity.name == "john.doe")]', {"identity": {"name": "john.doe"}}, True),
        ('$[?(@.identity.name == "john.doe")]', {"identity": {"name": "jane"}}, False),
        ('$.identity[?(@.name == "john.doe")]', {"identity": {"name": "john.doe"}}, True),
        ('$.identity[?(@.name == "john.doe")]', {"identity": {"name": "jane"}}, False),
    ],
)
def test_filter_on_an_object_tests_the_object_itself(expression: str, data: object, expected: bool) -> None:
    assert filter_matches(expression, data) is expected


def test_filter_on_an_array_still_tests_each_element() -> None:
    data = {"items": [{"n": 1}, {"n": 5}]}
    assert filter_matches("$.items[?(@.n > 3)]", data)
    assert not filter_matches("$.items[?(@.n > 9)]", data)


def test_root_filter_on_an_object_selects_the_root() -> None:
    data = {"identity": {"name": "john.doe"}}
    assert compile_filter(IDENTITY_NAME_FILTER).findall(data) == [data]


def test_string_input_is_a_json_string_not_a_document() -> None:
    assert filter_matches("$", '{"a": 1}')
    assert not filter_matches("$.a", '{"a": 1}')


@pytest.mark.parametrize("expression", [None, ""])
def test_no_filter_matches_everything(expression: str | None) -> None:
    assert filter_matches(expression, {"anything": 1})


def test_invalid_filter_matches_nothing() -> None:
    assert not filter_matches("$[?(", {"a": 1})


def test_filter_failing_at_evaluation_matches_nothing() -> None:
    """A descendant search deeper than the library's recursion limit raises while evaluating."""
    deeply_nested: object = "leaf"
    for _ in range(200):
        deeply_nested = {"a": deeply_nested}
    assert not filter_matches("$..b", deeply_nested)
    assert validate_filter(expression="$..b", data=deeply_nested).model_dump(exclude_none=True) == {
        "isValid": False,
        "isValidJSONPath": True,
        "isPathExist": False,
    }


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("$[?(", "unexpected end of expression at position 4"),
        ("foo bar", "unexpected token 'bar' at position 4"),
        ("$.", "at position 2"),
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
    ],
)
def test_invalid_syntax_is_rejected_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(InvalidFilter, match=reason):
        compile_filter(expression)
    with pytest.raises(InvalidField) as raised:
        check_filter_syntax(expression)
    assert raised.value.field == "filter"
    assert raised.value.reason.startswith("is not a valid JSONPath expression: ")
    assert reason in raised.value.reason


def test_valid_syntax_passes_the_check() -> None:
    for expression in (IDENTITY_NAME_FILTER, TERMINATED_FILTER, SUPPORT_DEPARTMENT_FILTER, "$.approved"):
        check_filter_syntax(expression)


def test_each_distinct_filter_is_compiled_once() -> None:
    expression = '$.changes[?(@.attribute == "compiled-once")]'
    assert compile_filter(expression) is compile_filter(expression)


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("$.approved", {"approved": False}, {"isValid": True, "isValidJSONPath": True, "isPathExist": True}),
        ("$.nonexistent", {"a": 1}, {"isValid": False, "isValidJSONPath": True, "isPathExist": False}),
        (
            "$[?(",
            {"a": 1},
            {
                "isValid": False,
                "isValidJSONPath": False,
                "isPathExist": False,
                "error": "unexpected end of expression at position 4",
            },
        ),
        (
            "$.roles[?(@.name nin ['admin'])]",
            {"roles": [{"name": "user"}]},
            {"isValid": True, "isValidJSONPath": True, "isPathExist": True},
        ),
    ],
)
def test_validate_filter(expression: str, data: object, expected: dict[str, object]) -> None:
    assert validate_filter(expression=expression, data=data).model_dump(exclude_none=True) == expected


def test_regex_time_budget_is_shared_by_all_values_a_filter_meets() -> None:
    """Each of these matches takes a few tens of milliseconds, all of them together far more than 0.1 s."""
    data = {"names": ["a" * 18 + "!"] * 50}
    with pytest.raises(InvalidField) as raised:
        validate_filter(expression="$[?(@.names[*] =~ /(a|a)+$/)]", data=data)
    assert raised.value.field == "filter"
    assert "took longer than 0.1 s" in raised.value.reason
    assert not filter_matches("$[?(@.names[*] =~ /(a|a)+$/)]", data)


@pytest.mark.parametrize("function", ["match", "search"])
def test_regex_functions_are_bounded_too(function: str) -> None:
    expression = f"$[?{function}(@.name, '(a|a)+$')]"
    started = time.monotonic()
    assert not filter_matches(expression, {"name": "a" * 30 + "!"})
    assert time.monotonic() - started < 3
    assert filter_matches(expression, {"name": "aaa"})


@pytest.mark.parametrize(
    ("regex", "reason"),
    [
        ("(", "invalid regex: missing ), unterminated subpattern"),
        ("(?:(?:a{1000}){1000}){1000}", "the regex's repeats write out to 1000000000 items, more than 1000"),
        ("(?:a{100}b{1,9}){11}", "write out to 1111 items"),
        ("(" * 1000 + ")" * 1000, "invalid regex: the regex nests too deeply"),
    ],
)
def test_regex_that_cannot_be_compiled_safely_is_refused(regex: str, reason: str) -> None:
    with pytest.raises(InvalidFilter, match=re.escape(reason)):
        compile_filter(f"$[?(@.a =~ /{regex}/)]")
    assert not filter_matches(f"$[?match(@.a, '{regex}')]", {"a": "a"})


def test_regex_repeats_without_a_large_minimum_are_accepted() -> None:
    uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert filter_matches(f"$[?(@.id =~ /{uuid}/)]", {"id": "2c918085-68c5-29c6-0168-cca6f90c1313"})
    assert filter_matches(
        "$[?(@.host =~ /(?:[a-z0-9-]{1,63}\\.){1,127}[a-z]{2,}/)]", {"host": "a.example.com"}
    )
