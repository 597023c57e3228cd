"""Jayway JsonPath's dialect on python-jsonpath: its filter operators, its path functions, its comparisons.

SailPoint documents Jayway JsonPath as the filter language. python-jsonpath follows RFC 9535; this module
extends it through its documented extension points (lexer rules, parser tables, `compare`) rather than
replacing its parser. What Jayway's README and SailPoint's documentation leave open (missing paths, nulls,
type mismatches) is decided in `docs/filters.md`, which this module implements.
"""

from __future__ import annotations

import math
import re
import re._parser as re_syntax
import time
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import regex
from jsonpath import JSONPath, JSONPathEnvironment, JSONPathMatch, JSONPathSyntaxError, Parser
from jsonpath.filter import (
    UNDEFINED,
    BaseExpression,
    FilterQuery,
    InfixExpression,
    RegexLiteral,
    RootFilterQuery,
)
from jsonpath.function_extensions import Match, Search
from jsonpath.lex import Lexer
from jsonpath.match import NodeList
from jsonpath.segments import JSONPathChildSegment, JSONPathRecursiveDescentSegment, JSONPathSegment
from jsonpath.selectors import (
    Filter,
    FilterContext,
    IndexSelector,
    KeysFilter,
    NameSelector,
    WildcardSelector,
)
from jsonpath.stream import TokenStream
from jsonpath.token import TOKEN_COMMA, TOKEN_LBRACKET, TOKEN_NAME, TOKEN_RE_FLAGS, TOKEN_RPAREN, Token

TOKEN_PATH_FUNCTION = "JAYWAY_PATH_FUNCTION"
# A name right after `..` is a name, even when python-jsonpath reserves the word (`$..missing`, `$..in`).
TOKEN_DESCENDANT_NAME = "JAYWAY_DESCENDANT_NAME"

# Operators Jayway spells as words, matched case-insensitively as Jayway does. `in` and `contains` replace
# python-jsonpath's own rules so that they follow Jayway's comparisons too.
WORD_OPERATORS = ("in", "nin", "subsetof", "anyof", "noneof", "size", "empty", "contains")
SYMBOL_OPERATORS = {"===": "JAYWAY_TYPE_SAFE_EQ", "!==": "JAYWAY_TYPE_SAFE_NE"}
OPERATOR_TOKENS = {f"JAYWAY_{word.upper()}": word for word in WORD_OPERATORS} | {
    kind: symbol for symbol, kind in SYMBOL_OPERATORS.items()
}

# Jayway's regex flags; Python's regexes are already Unicode-aware and have one line terminator, so d, u
# and U need nothing. `regex` and `re` give these flags the same values.
REGEX_FLAGS = {
    "d": 0,
    "i": regex.IGNORECASE,
    "m": regex.MULTILINE,
    "s": regex.DOTALL,
    "u": 0,
    "U": 0,
    "x": regex.VERBOSE,
}

# The matching time all regexes of one filter evaluation share (see docs/filters.md): a backtracking blow-up
# such as /(a|a)+$/ on a long value stops there instead of stalling the event loop for minutes.
REGEX_TIME_BUDGET_SECONDS = 0.1
# `regex` writes out repeats with a minimum count when compiling, so /(?:(?:a{1000}){1000}){1000}/ would
# take gigabytes; a regex may stand for at most this many items once written out.
REGEX_SIZE_LIMIT = 1000
# `match()` and `search()` may take their pattern from the input, so their compiled patterns are cached.
COMPILED_REGEX_CACHE_SIZE = 300
REPEATS = (re_syntax.MAX_REPEAT, re_syntax.MIN_REPEAT, re_syntax.POSSESSIVE_REPEAT)

# A number as Java's BigDecimal reads it from a string: Jayway compares "5" and 5 as equal this way.
JAVA_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class RegexTimeout(Exception):
    """A filter's regexes used up their time budget on this input (catastrophic backtracking)."""


class RegexBudget:
    """The matching time left to one filter evaluation: it bounds the total however many regexes and
    values the filter meets."""

    def __init__(self, seconds: float) -> None:
        self.remaining = seconds

    def run(self, match: Callable[..., object], text: str) -> bool:
        started = time.monotonic()
        try:
            # `regex` reads a negative timeout as none at all.
            return match(text, timeout=max(self.remaining, 0.0)) is not None
        except TimeoutError:
            raise RegexTimeout from None
        finally:
            self.remaining -= time.monotonic() - started


_REGEX_BUDGET: ContextVar[RegexBudget | None] = ContextVar("regex_budget", default=None)


@contextmanager
def regex_time_budget(seconds: float = REGEX_TIME_BUDGET_SECONDS) -> Iterator[None]:
    """Give the regex matches made inside one shared budget; outside, each match gets a budget of its own."""
    token = _REGEX_BUDGET.set(RegexBudget(seconds))
    try:
        yield
    finally:
        _REGEX_BUDGET.reset(token)


class BoundedRegex:
    """A compiled regex whose matches draw on the current evaluation's time budget."""

    __slots__ = ("compiled",)

    def __init__(self, compiled: regex.Pattern[str]) -> None:
        self.compiled = compiled

    @property
    def pattern(self) -> str:
        return self.compiled.pattern

    @property
    def flags(self) -> int:
        return self.compiled.flags

    def fullmatch(self, text: str) -> bool:
        return self._budget().run(self.compiled.fullmatch, text)

    def search(self, text: str) -> bool:
        return self._budget().run(self.compiled.search, text)

    @staticmethod
    def _budget() -> RegexBudget:
        return _REGEX_BUDGET.get() or RegexBudget(REGEX_TIME_BUDGET_SECONDS)


@lru_cache(maxsize=COMPILED_REGEX_CACHE_SIZE)
def compile_regex(pattern: str, flags: int = 0) -> BoundedRegex:
    """Compile a filter's regex in Python's `re` syntax, refusing one too large to compile safely.

    Raises `re.error` (or `regex.error`) saying why a pattern is refused.
    """
    try:
        size = _written_out_size(re_syntax.parse(pattern, flags))
    except RecursionError:
        raise re.error("the regex nests too deeply") from None
    if size > REGEX_SIZE_LIMIT:
        raise re.error(f"the regex's repeats write out to {size} items, more than {REGEX_SIZE_LIMIT}")
    return BoundedRegex(regex.compile(pattern, flags))


def _written_out_size(items: Iterable[tuple[object, Any]]) -> int:
    size = 0
    for operation, argument in items:
        if operation in REPEATS:
            minimum, _, body = argument
            size += max(minimum, 1) * _written_out_size(body)
        else:
            size += 1 + sum(_written_out_size(part) for part in _nested_patterns(argument))
    return size


def _nested_patterns(argument: object) -> Iterator[re_syntax.SubPattern]:
    """The patterns inside a parsed item: a group's, alternatives, a lookaround's, a conditional's."""
    parts = argument if isinstance(argument, (tuple, list)) else (argument,)
    for part in parts:
        if isinstance(part, re_syntax.SubPattern):
            yield part
        elif isinstance(part, list):
            yield from (item for item in part if isinstance(item, re_syntax.SubPattern))


class JaywayLexer(Lexer):
    """Puts Jayway's operators, regex flags and `.function(` path tails before python-jsonpath's rules."""

    def __init__(self, *, env: JSONPathEnvironment) -> None:
        super().__init__(env=env)
        self.re_pattern = rf"/(?P<G_RE>(?:(?!(?<!\\)/).)*)/(?P<G_RE_FLAGS>[{''.join(REGEX_FLAGS)}]*)"
        self.rules = self.compile_rules()

    def compile_rules(self) -> re.Pattern[str]:
        # A word operator follows whitespace, a quote or a closing bracket, so `$..size` stays a name.
        jayway_rules = [
            (TOKEN_PATH_FUNCTION, r"\.[a-zA-Z_][a-zA-Z0-9_]*\("),
            (TOKEN_DESCENDANT_NAME, rf"(?<=\.\.){self.key_pattern}"),
            *[(kind, re.escape(symbol)) for symbol, kind in SYMBOL_OPERATORS.items()],
            *[(f"JAYWAY_{word.upper()}", rf"(?<=[\s'\"\])])(?i:{word})\b") for word in WORD_OPERATORS],
        ]
        jayway_pattern = "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in jayway_rules)
        return re.compile(f"{jayway_pattern}|{super().compile_rules().pattern}", re.DOTALL)

    def tokenize(self, path: str) -> Iterator[Token]:
        for token in super().tokenize(path):
            if token.kind == TOKEN_DESCENDANT_NAME:
                token = Token(TOKEN_NAME, token.value, token.index, token.path)
            yield token


class JaywayFilter(Filter):
    """A filter selector that tests an object itself rather than its member values, as Jayway does.

    RFC 9535 applies `$[?(...)]` on an object to each member value; the documented SailPoint example
    `$[?($.identity.name == "john.doe")]` relies on Jayway's reading. Only the synchronous API is used.
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


class NoResult(Exception):
    """Jayway raises an error here (e.g. the average of no numbers): the function yields no value."""


PathFunction = Callable[[object, list[object]], object]


class PathFunctionSegment(JSONPathSegment):
    """A Jayway function at the tail of a path (`@.roles.length()`), applied to each value the path reaches.

    Path arguments are read from the document the path runs on: the input, or the current item in a
    predicate (see docs/filters.md).
    """

    __slots__ = ("name", "function", "arguments")

    def __init__(
        self, *, env: JSONPathEnvironment, token: Token, name: str, arguments: Sequence[BaseExpression]
    ) -> None:
        super().__init__(env=env, token=token, selectors=())
        self.name = name
        self.function = PATH_FUNCTIONS[name]
        self.arguments = arguments

    def __str__(self) -> str:
        return f".{self.name}({', '.join(str(argument) for argument in self.arguments)})"

    def resolve(self, nodes: Iterable[JSONPathMatch]) -> Iterable[JSONPathMatch]:
        for node in nodes:
            context = FilterContext(
                env=self.env, current=node.root, root=node.root, extra_context=node.filter_context()
            )
            arguments = [argument.evaluate(context) for argument in self.arguments]
            if any(argument is UNDEFINED for argument in arguments):
                continue
            try:
                result = self.function(node.obj, arguments)
            except NoResult:
                continue
            yield node.new_child(result, f"{self.name}()")

    async def resolve_async(self, nodes: AsyncIterable[JSONPathMatch]) -> AsyncIterable[JSONPathMatch]:
        async for node in nodes:
            for match in self.resolve([node]):
                yield match


def is_definite(path: JSONPath) -> bool:
    """Jayway's definite path: it names one value (no wildcard, deep scan, filter, slice or index list)."""
    return all(
        isinstance(segment, PathFunctionSegment)
        or (
            isinstance(segment, JSONPathChildSegment)
            and len(segment.selectors) == 1
            and isinstance(segment.selectors[0], (NameSelector, IndexSelector))
        )
        for segment in path.segments
    )


class JaywayValue(BaseExpression):
    """A path operand as Jayway reads it: a definite path gives its value (or UNDEFINED when missing), an
    indefinite one the list of the values it reaches."""

    __slots__ = ("query", "definite")

    def __init__(self, query: FilterQuery) -> None:
        # Caching may wrap the query later (see `set_children`), so its definiteness is read now.
        self.query: BaseExpression = query
        self.definite = is_definite(query.path)
        super().__init__()

    @classmethod
    def of(cls, expression: BaseExpression) -> BaseExpression:
        return cls(expression) if isinstance(expression, FilterQuery) else expression

    def __str__(self) -> str:
        return str(self.query)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JaywayValue) and self.query == other.query

    def evaluate(self, context: FilterContext) -> object:
        return self._value(self.query.evaluate(context))

    async def evaluate_async(self, context: FilterContext) -> object:
        return self._value(await self.query.evaluate_async(context))

    def _value(self, result: object) -> object:
        if not isinstance(result, NodeList):
            return result  # `@` on a scalar
        values = result.values()
        if self.definite:
            return values[0] if values else UNDEFINED
        return values

    def children(self) -> list[BaseExpression]:
        return [self.query]

    def set_children(self, children: list[BaseExpression]) -> None:
        (self.query,) = children


class JaywayParser(Parser):
    """python-jsonpath's parser with Jayway's operators, path functions, filter on objects and list values."""

    BINARY_OPERATORS = Parser.BINARY_OPERATORS | OPERATOR_TOKENS
    PRECEDENCES = Parser.PRECEDENCES | {kind: Parser.PRECEDENCE_RELATIONAL for kind in OPERATOR_TOKENS}
    INFIX_LITERAL_OPERATORS = Parser.INFIX_LITERAL_OPERATORS | frozenset(OPERATOR_TOKENS.values())
    RE_FLAG_MAP = REGEX_FLAGS

    def __init__(self, *, env: JSONPathEnvironment) -> None:
        super().__init__(env=env)
        # Jayway's list literals are JSON arrays, so they may nest; path functions take them as arguments.
        self.list_item_map[TOKEN_LBRACKET] = self.parse_list_literal
        self.function_argument_map[TOKEN_LBRACKET] = self.parse_list_literal

    def parse_regex(self, stream: TokenStream) -> BaseExpression:
        token = stream.current()
        flags = 0
        if stream.peek().kind == TOKEN_RE_FLAGS:
            stream.next()
            for flag in stream.next().value:
                flags |= self.RE_FLAG_MAP[flag]
        try:
            compiled = compile_regex(token.value, flags)
        except (re.error, regex.error) as error:
            raise JSONPathSyntaxError(f"invalid regex: {error.msg}", token=token) from None
        return RegexLiteral(value=compiled)  # type: ignore[arg-type]

    def parse_filter_selector(self, stream: TokenStream, *, keys: bool = False) -> Filter | KeysFilter:
        selector = super().parse_filter_selector(stream, keys=keys)
        if isinstance(selector, KeysFilter):
            return selector
        return JaywayFilter(env=self.env, token=selector.token, expression=selector.expression)

    def parse_infix_expression(self, stream: TokenStream, left: BaseExpression) -> BaseExpression:
        token = stream.current()
        if token.kind not in self.BINARY_OPERATORS:
            found = "unknown operator" if token.kind == TOKEN_NAME else "expected an operator, found"
            raise JSONPathSyntaxError(
                f"{found} {token.value!r}" if token.value else "unexpected end of expression", token=token
            )
        expression = super().parse_infix_expression(stream, left)
        if not isinstance(expression, InfixExpression) or expression.logical:
            return expression
        return InfixExpression(
            JaywayValue.of(expression.left), expression.operator, JaywayValue.of(expression.right)
        )

    def parse_query(self, stream: TokenStream) -> Iterator[JSONPathSegment]:
        segments = list(super().parse_query(stream))
        while stream.current().kind == TOKEN_PATH_FUNCTION:
            token = stream.next()
            name = token.value[1:-1]
            if name not in PATH_FUNCTIONS:
                known = ", ".join(f"{known}()" for known in PATH_FUNCTIONS)
                raise JSONPathSyntaxError(f"unknown function {name}(), expected one of {known}", token=token)
            arguments = self.parse_path_function_arguments(stream)
            if segments and isinstance(segments[0], JSONPathRecursiveDescentSegment):
                # Jayway reads `$..book.length()` as `$.length($..book)`: the function gets every match.
                arguments = [RootFilterQuery(JSONPath(env=self.env, segments=segments))]
                segments = []
            if name in ("length", "size"):
                # Jayway's length(path) counts the children of what the path reaches.
                arguments = [_with_wildcard(self.env, argument, token) for argument in arguments]
            segments.append(
                PathFunctionSegment(
                    env=self.env, token=token, name=name, arguments=[JaywayValue.of(a) for a in arguments]
                )
            )
            segments.extend(super().parse_query(stream))
        yield from segments

    def parse_path_function_arguments(self, stream: TokenStream) -> list[BaseExpression]:
        arguments: list[BaseExpression] = []
        while True:
            stream.skip_whitespace()
            token = stream.current()
            if token.kind == TOKEN_RPAREN:
                stream.next()
                return arguments
            if arguments:
                stream.eat(TOKEN_COMMA)
                stream.skip_whitespace()
                token = stream.current()
            parse_argument = self.function_argument_map.get(token.kind)
            if parse_argument is None:
                found = repr(token.value) if token.value else "end of expression"
                raise JSONPathSyntaxError(f"unexpected {found}", token=token)
            arguments.append(parse_argument(stream))


def _with_wildcard(env: JSONPathEnvironment, argument: BaseExpression, token: Token) -> BaseExpression:
    if not isinstance(argument, FilterQuery):
        return argument
    wildcard = JSONPathChildSegment(env=env, token=token, selectors=(WildcardSelector(env=env, token=token),))
    return type(argument)(JSONPath(env=env, segments=(*argument.path.segments, wildcard)))


class BoundedPatternCache:
    """python-jsonpath's `match()` and `search()` compile their pattern argument our way: size-checked, and
    matched within the evaluation's time budget. An invalid pattern matches nothing, as RFC 9535 says."""

    def check_cache(self, pattern: str) -> BoundedRegex | None:
        try:
            return compile_regex(pattern)
        except (re.error, regex.error):
            return None


class BoundedMatch(BoundedPatternCache, Match):
    pass


class BoundedSearch(BoundedPatternCache, Search):
    pass


class JaywayEnvironment(JSONPathEnvironment):
    """python-jsonpath speaking Jayway: its lexer, parser and comparison rules.

    `well_typed` is off because Jayway compares indefinite paths and function results, which RFC 9535's
    type checks refuse.
    """

    lexer_class = JaywayLexer
    parser_class = JaywayParser

    def __init__(self) -> None:
        super().__init__(well_typed=False)

    def setup_function_extensions(self) -> None:
        super().setup_function_extensions()
        self.function_extensions["match"] = BoundedMatch()
        self.function_extensions["search"] = BoundedSearch()

    def compare(self, left: object, operator: str, right: object) -> bool:
        relation = RELATIONS.get(operator)
        if relation is None:
            return super().compare(left, operator, right)
        return relation(left, right)


# --- Values ---------------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _numeric_string_equals(text: str, number: object) -> bool:
    if not JAVA_DECIMAL.fullmatch(text):
        return False
    try:
        return Decimal(text) == Decimal(str(number))
    except InvalidOperation:
        return False


def _same_json(left: object, right: object) -> bool:
    """JSON equality: booleans are not numbers, 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_json, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _same_json(value, right[key]) for key, value in left.items()
        )
    return type(left) is type(right) and left == right


def _equals(left: object, right: object) -> bool:
    """Jayway's `==`: JSON equality, and a number equals a string that reads as that number."""
    if left is UNDEFINED or right is UNDEFINED:
        return False
    if isinstance(left, str) and _is_number(right):
        return _numeric_string_equals(left, right)
    if _is_number(left) and isinstance(right, str):
        return _numeric_string_equals(right, left)
    return _same_json(left, right)


def _kind(value: object) -> type:
    return float if _is_number(value) else type(value)


def _type_safe_equals(left: object, right: object) -> bool:
    return _kind(left) is _kind(right) and _equals(left, right)


def _ordered(test: Callable[[int], bool]) -> Callable[[object, object], bool]:
    """`<`, `<=`, `>`, `>=`: two numbers or two strings, anything else is false."""

    def relation(left: object, right: object) -> bool:
        if _is_number(left) and _is_number(right):
            return test((left > right) - (left < right))  # type: ignore[operator]
        if isinstance(left, str) and isinstance(right, str):
            return test((left > right) - (left < right))
        return False

    return relation


def _regex_text(value: object) -> str | None:
    """The text a regex is matched against: strings, numbers and booleans as written; nothing else has any
    (Jayway matches those as '', so that /.*/ would match a missing path)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) or _is_number(value):
        return str(value)
    return None


def _matches(left: object, right: object) -> bool:
    """`=~`: the whole text matches; either side may hold the regex; an array matches if any item does."""
    if isinstance(left, BoundedRegex) == isinstance(right, BoundedRegex):
        return False
    pattern, value = (left, right) if isinstance(left, BoundedRegex) else (right, left)
    assert isinstance(pattern, BoundedRegex)
    values = value if isinstance(value, list) else [value]
    texts = (_regex_text(item) for item in values)
    return any(text is not None and pattern.fullmatch(text) for text in texts)


def _is_in(left: object, right: object) -> bool:
    return isinstance(right, list) and any(_equals(left, item) for item in right)


def _not_in(left: object, right: object) -> bool:
    return isinstance(right, list) and not _is_in(left, right)


def _both_lists(test: Callable[[list[object], list[object]], bool]) -> Callable[[object, object], bool]:
    """`subsetof`, `anyof`, `noneof` compare two arrays; anything else is false."""

    def relation(left: object, right: object) -> bool:
        return isinstance(left, list) and isinstance(right, list) and test(left, right)

    return relation


def _has_size(left: object, right: object) -> bool:
    if not _is_number(right) or not isinstance(left, (str, list)):
        return False
    return len(left) == int(right)  # type: ignore[call-overload]


def _is_empty(left: object, right: object) -> bool:
    if not isinstance(right, bool) or not isinstance(left, (str, list, dict)):
        return False
    return (len(left) == 0) == right


def _contains(left: object, right: object) -> bool:
    if isinstance(left, str):
        return isinstance(right, str) and right in left
    return isinstance(left, list) and _is_in(right, left)


RELATIONS: dict[str, Callable[[object, object], bool]] = {
    "==": _equals,
    "!=": lambda left, right: not _equals(left, right),
    "===": _type_safe_equals,
    "!==": lambda left, right: not _type_safe_equals(left, right),
    "<": _ordered(lambda order: order < 0),
    "<=": _ordered(lambda order: order <= 0),
    ">": _ordered(lambda order: order > 0),
    ">=": _ordered(lambda order: order >= 0),
    "=~": _matches,
    "in": _is_in,
    "nin": _not_in,
    "subsetof": _both_lists(lambda left, right: all(_is_in(item, right) for item in left)),
    "anyof": _both_lists(lambda left, right: any(_is_in(item, right) for item in left)),
    "noneof": _both_lists(lambda left, right: not any(_is_in(item, right) for item in left)),
    "size": _has_size,
    "empty": _is_empty,
    "contains": _contains,
}


# --- Path functions -------------------------------------------------------------------------------------


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _numbers(model: object, arguments: list[object]) -> list[float]:
    """The numbers of an array, then of the arguments (arrays flattened); Jayway fails on none."""
    values = model if isinstance(model, list) else []
    values = values + [item for argument in arguments for item in _items(argument)]
    numbers = [float(value) for value in values if _is_number(value)]  # type: ignore[arg-type]
    if not numbers:
        raise NoResult
    return numbers


def _aggregation(reduce: Callable[[list[float]], float]) -> PathFunction:
    return lambda model, arguments: reduce(_numbers(model, arguments))


def _standard_deviation(numbers: list[float]) -> float:
    mean = sum(numbers) / len(numbers)
    return math.sqrt(max(0.0, sum(number * number for number in numbers) / len(numbers) - mean * mean))


def _length(model: object, arguments: list[object]) -> object:
    if arguments and isinstance(arguments[0], list):
        return len(arguments[0])
    return len(model) if isinstance(model, (list, dict)) else None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _concat(model: object, arguments: list[object]) -> str:
    strings = [value for value in model if isinstance(value, str)] if isinstance(model, list) else []
    extra = [_text(item) for argument in arguments for item in _items(argument) if item is not None]
    return "".join(strings + extra)


def _append(model: object, arguments: list[object]) -> object:
    return [*model, *arguments] if isinstance(model, list) else model


def _keys(model: object, arguments: list[object]) -> object:
    return list(model) if isinstance(model, dict) else None


def _item_at(model: object, index: int) -> object:
    """Item `index` of an array, from the end when negative; Jayway fails outside it or on a non-array."""
    if not isinstance(model, list) or not -len(model) <= index < len(model):
        raise NoResult
    return model[index]


def _index(model: object, arguments: list[object]) -> object:
    numbers = [argument for argument in arguments if _is_number(argument)]
    if not numbers:
        raise NoResult
    return _item_at(model, int(numbers[0]))  # type: ignore[call-overload]


PATH_FUNCTIONS: dict[str, PathFunction] = {
    "min": _aggregation(min),
    "max": _aggregation(max),
    "avg": _aggregation(lambda numbers: sum(numbers) / len(numbers)),
    "stddev": _aggregation(_standard_deviation),
    "sum": _aggregation(sum),
    "length": _length,
    "size": _length,
    "keys": _keys,
    "concat": _concat,
    "append": _append,
    "first": lambda model, arguments: _item_at(model, 0),
    "last": lambda model, arguments: _item_at(model, -1),
    "index": _index,
}
