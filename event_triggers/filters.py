"""Subscription filters: Jayway JsonPath expressions evaluated on a trigger input.

A subscription matches when its filter yields a non-empty result on the input (SailPoint's
`JsonPathUtil.isPathExist`). The dialect (operators, functions, comparisons) is `event_triggers.jayway`;
docs/filters.md describes it.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache

from jsonpath import CompoundJSONPath, JSONPath, JSONPathError

from event_triggers.errors import InvalidField
from event_triggers.jayway import (
    REGEX_TIME_BUDGET_SECONDS,
    JaywayEnvironment,
    RegexTimeout,
    regex_time_budget,
)
from event_triggers.models import ValidateFilterResult

logger = logging.getLogger(__name__)

CompiledFilter = JSONPath | CompoundJSONPath

COMPILED_FILTER_CACHE_SIZE = 4096


class InvalidFilter(ValueError):
    """A filter is not a valid JSONPath expression; the message says why."""


_ENVIRONMENT = JaywayEnvironment()


# python-jsonpath names some tokens by their internal kind; say them as a reader would.
TOKEN_WORDS = {
    "TOKEN_EOF": "end of expression",
    "TOKEN_COMMA": "','",
    "TOKEN_COLON": "':'",
    "TOKEN_LBRACKET": "'['",
    "TOKEN_RBRACKET": "']'",
    "TOKEN_LPAREN": "'('",
    "TOKEN_RPAREN": "')'",
    "TOKEN_ROOT": "'$'",
}
TOKEN_KIND = re.compile(r"'?\b(TOKEN_[A-Z_]+)\b'?")


def _plain_words(message: str) -> str:
    message = message.replace("a shorthand selector", "a name or '*'")
    return TOKEN_KIND.sub(
        lambda kind: TOKEN_WORDS.get(kind[1], kind[1].removeprefix("TOKEN_").lower()), message
    )


def _describe(error: JSONPathError, expression: str) -> str:
    reason = _plain_words(str(error.message))
    if error.token is None:
        return reason
    # The end-of-input token has index -1.
    index = error.token.index if error.token.index >= 0 else len(expression)
    return f"{reason} at position {index}"


@lru_cache(maxsize=COMPILED_FILTER_CACHE_SIZE)
def compile_filter(expression: str) -> CompiledFilter:
    """Compile a filter once; subscriptions share few distinct filters and are matched on every event."""
    if not expression.strip():
        raise InvalidFilter("the expression is empty")
    try:
        return _ENVIRONMENT.compile(expression)
    except JSONPathError as error:
        raise InvalidFilter(_describe(error, expression)) from error


def check_filter_syntax(expression: str) -> None:
    """Reject a subscription filter that is not valid JSONPath, naming the `filter` field."""
    try:
        compile_filter(expression)
    except InvalidFilter as error:
        raise InvalidField("filter", f"is not a valid JSONPath expression: {error}") from error


def _path_exists(compiled: CompiledFilter, data: object) -> bool:
    # python-jsonpath parses a str argument as a JSON document; encode it so a string input stays a string.
    document = json.dumps(data) if isinstance(data, str) else data
    with regex_time_budget():
        return next(iter(compiled.finditer(document)), None) is not None  # type: ignore[arg-type]


def filter_matches(expression: str | None, data: object, *, subscription_id: str | None = None) -> bool:
    """True when a subscription with this filter receives `data`.

    No filter matches everything. A filter that fails (invalid, or an error while evaluating, such as a
    regex running out of its time budget) skips the subscription, as SailPoint does; a timeout is logged
    naming ``subscription_id``, so an operator can find the filter to fix.
    """
    if not expression:
        return True
    try:
        return _path_exists(compile_filter(expression), data)
    except (InvalidFilter, JSONPathError):
        return False
    except RegexTimeout:
        logger.warning(
            "subscription %s skipped: its filter %r took over %s s on this event's input (regex)",
            subscription_id,
            expression,
            REGEX_TIME_BUDGET_SECONDS,
        )
        return False


def validate_filter(*, expression: str, data: object) -> ValidateFilterResult:
    """Answer POST /trigger-subscriptions/v1/validate-filter: is the path valid, and does it match `data`.

    A regex that runs out of its time budget on `data` is a 400: neither answer would be true.
    """
    try:
        compiled = compile_filter(expression)
    except InvalidFilter as error:
        return ValidateFilterResult(isValid=False, isValidJSONPath=False, isPathExist=False, error=str(error))
    try:
        path_exists = _path_exists(compiled, data)
    except JSONPathError:
        path_exists = False
    except RegexTimeout:
        raise InvalidField(
            "filter",
            f"its regex took longer than {REGEX_TIME_BUDGET_SECONDS} s on this input (catastrophic "
            "backtracking, e.g. a nested repeat such as (a+)+): simplify the pattern",
        ) from None
    return ValidateFilterResult(isValid=path_exists, isValidJSONPath=True, isPathExist=path_exists)
