"""SailPoint's documented trigger filters, evaluated on the inputs SailPoint documents them against.

Source: developer.sailpoint.com "Filtering events" (docs/extensibility/event-triggers/filtering-events.md).
Its expression, function and operator tables are written against the Identity Attributes Changed input on
that page (kept as sailpoint/examples/filtering-events.json); the `warnings` examples fit the Account
Aggregation Completed example and the `attributes.created` examples fit the Source Account Created example.
Expected results follow Jayway semantics: a filter matches when its path yields a non-empty result.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from event_triggers.catalog import load_catalog
from event_triggers.catalog.build import CATALOG_DIR
from event_triggers.filters import filter_matches, validate_filter

CATALOG = load_catalog()
ATTRIBUTES_CHANGED = json.loads(
    (CATALOG_DIR / "sailpoint" / "examples" / "filtering-events.json").read_text()
)
AGGREGATION_COMPLETED = CATALOG.require("idn:account-aggregation-completed").example_input
SOURCE_ACCOUNT_CREATED = CATALOG.require("idn:source-account-created").example_input


def test_the_documented_input_is_a_valid_identity_attributes_changed_event() -> None:
    CATALOG.require("idn:identity-attributes-changed").validate_input(ATTRIBUTES_CHANGED)


@pytest.mark.parametrize(
    ("expression", "data", "matches"),
    [
        # Expressions table
        ("$", ATTRIBUTES_CHANGED, True),
        ('$.changes[?(@.attribute == "department")]', ATTRIBUTES_CHANGED, True),
        ("$.identity", ATTRIBUTES_CHANGED, True),
        ("$..id", ATTRIBUTES_CHANGED, True),
        ("$.changes[*]", ATTRIBUTES_CHANGED, True),
        ("$.changes[1].attribute", ATTRIBUTES_CHANGED, True),
        ("$.changes[0,1,2]", ATTRIBUTES_CHANGED, True),
        ("$.changes[0:2:1]", ATTRIBUTES_CHANGED, True),
        ("$.changes[:2]", ATTRIBUTES_CHANGED, True),
        ("$.changes[-1:]", ATTRIBUTES_CHANGED, True),
        ('$[?($.identity.name == "john.doe")]', ATTRIBUTES_CHANGED, True),
        # Functions table
        ("$[?($.changes.length() >= 3)]", ATTRIBUTES_CHANGED, True),
        # Operators table
        ('$[?($.identity.name != "george.washington")]', ATTRIBUTES_CHANGED, True),
        ("$[?($.attributes.created > '2020-04-27T16:48:33.200Z')]", SOURCE_ACCOUNT_CREATED, True),
        ("$[?($.attributes.created >= '2020-04-27T16:48:33.597Z')]", SOURCE_ACCOUNT_CREATED, True),
        ("$[?($.attributes.created < '2020-04-27T16:48:33.200Z')]", SOURCE_ACCOUNT_CREATED, False),
        ("$[?($.attributes.created <= '2020-04-27T16:48:33.200Z')]", SOURCE_ACCOUNT_CREATED, False),
        (
            '$.changes[?(@.attribute == "department" && @.newValue =~ /US.*Support/i)]',
            ATTRIBUTES_CHANGED,
            False,
        ),
        (
            "$.changes[?(@.attribute == 'department' && @.newValue in ['sales','engineering'])]",
            ATTRIBUTES_CHANGED,
            False,
        ),
        (
            "$.changes[?(@.attribute == 'department' && @.newValue in ['Marketing','Sales'])]",
            ATTRIBUTES_CHANGED,
            True,
        ),
        (
            "$.changes[?(@.attribute == 'department' && @.newValue nin ['sales','engineering'])]",
            ATTRIBUTES_CHANGED,
            True,
        ),
        ("$[?($.warnings subsetof ['Account skipped','Invalid account'])]", AGGREGATION_COMPLETED, False),
        ("$[?($.warnings subsetof ['Account Skipped','Invalid account'])]", AGGREGATION_COMPLETED, True),
        ("$[?($.warnings anyof ['Account skipped','Invalid account'])]", AGGREGATION_COMPLETED, False),
        ("$[?($.warnings noneof ['Account skipped','Invalid account'])]", AGGREGATION_COMPLETED, True),
        ("$[?($.warnings size 1)]", AGGREGATION_COMPLETED, True),
        (
            '$.changes[?(@.attribute == "cloudLifecycleState" && @.newValue == "terminated")]',
            ATTRIBUTES_CHANGED,
            True,
        ),
        ("$.identity.attributes[?(!@.alternateEmail)]", ATTRIBUTES_CHANGED, False),
        (
            '$.changes[?(@.attribute == "cloudLifecycleState" || @.attribute == "department")]',
            ATTRIBUTES_CHANGED,
            True,
        ),
        ('$[?($.identity.name contains "john")]', ATTRIBUTES_CHANGED, True),
        # "Testing filters": the page says this one must not fire on the test input.
        ('$[?($.identity.name contains "archer")]', ATTRIBUTES_CHANGED, False),
    ],
)
def test_documented_filter_evaluates_as_documented(expression: str, data: Any, matches: bool) -> None:
    assert filter_matches(expression, data) is matches
    assert validate_filter(expression=expression, data=data).isValidJSONPath


@pytest.mark.parametrize(
    "expression",
    [
        # Script expressions are Goessner JSONPath, not Jayway: Jayway rejects them, so does this service.
        "$.changes[(@.length-1)]",
        # The operator table's `size` example as printed, with its closing parenthesis missing.
        "$[?($.warnings size 1]",
    ],
)
def test_documented_filters_jayway_rejects_are_rejected(expression: str) -> None:
    result = validate_filter(expression=expression, data=ATTRIBUTES_CHANGED)
    assert (result.isValid, result.isValidJSONPath) == (False, False)
    assert not filter_matches(expression, ATTRIBUTES_CHANGED)
