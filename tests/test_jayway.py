"""Jayway parity, case by case: the examples of Jayway's README and of SailPoint's "Filtering events" page,
then the edge cases they leave open, as docs/filters.md decides them."""

from __future__ import annotations

import math

import pytest

from event_triggers.filters import InvalidFilter, compile_filter, filter_matches

# Jayway README, "Path Examples".
STORE = {
    "store": {
        "book": [
            {
                "category": "reference",
                "author": "Nigel Rees",
                "title": "Sayings of the Century",
                "price": 8.95,
            },
            {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
            {
                "category": "fiction",
                "author": "Herman Melville",
                "title": "Moby Dick",
                "isbn": "0-553-21311-3",
                "price": 8.99,
            },
            {
                "category": "fiction",
                "author": "J. R. R. Tolkien",
                "title": "The Lord of the Rings",
                "isbn": "0-395-19395-8",
                "price": 22.99,
            },
        ],
        "bicycle": {"color": "red", "price": 19.95},
    },
    "expensive": 10,
}
BOOKS = STORE["store"]["book"]  # type: ignore[index]
SAYINGS, SWORD, MOBY, RINGS = BOOKS
AUTHORS = [book["author"] for book in BOOKS]

# SailPoint "Filtering events": the Identity Attributes Changed input its examples run against.
IDENTITY_CHANGES = {
    "identity": {"id": "ee769173319b41d19ccec6cea52f237b", "name": "john.doe", "type": "IDENTITY"},
    "changes": [
        {"attribute": "department", "oldValue": "Sales", "newValue": "Marketing"},
        {
            "attribute": "manager",
            "oldValue": {
                "id": "ee769173319b41d19ccec6c235423237b",
                "name": "robert.brown",
                "type": "IDENTITY",
            },
            "newValue": {
                "id": "ee769173319b41d19ccec6c235423236c",
                "name": "mary.johnson",
                "type": "IDENTITY",
            },
        },
        {"attribute": "cloudLifecycleState", "oldValue": "active", "newValue": "terminated"},
    ],
}


def find(expression: str, data: object = STORE) -> list[object]:
    return compile_filter(expression).findall(data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$.store.book[*].author", AUTHORS),
        ("$..author", AUTHORS),
        ("$.store.*", [BOOKS, STORE["store"]["bicycle"]]),  # type: ignore[index]
        ("$..book[2]", [MOBY]),
        ("$..book[-2]", [MOBY]),
        ("$..book[0,1]", [SAYINGS, SWORD]),
        ("$..book[:2]", [SAYINGS, SWORD]),
        ("$..book[1:2]", [SWORD]),
        ("$..book[-2:]", [MOBY, RINGS]),
        ("$..book[2:]", [MOBY, RINGS]),
        ("$..book[?(@.isbn)]", [MOBY, RINGS]),
        ("$.store.book[?(@.price < 10)]", [SAYINGS, MOBY]),
        ("$..book[?(@.price <= $['expensive'])]", [SAYINGS, MOBY]),
        ("$..book[?(@.author =~ /.*REES/i)]", [SAYINGS]),
        ("$..book.length()", [4]),
    ],
)
def test_readme_path_examples(expression: str, expected: list[object]) -> None:
    assert find(expression) == expected


def test_readme_price_of_everything_and_everything() -> None:
    assert sorted(find("$.store..price")) == [8.95, 8.99, 12.99, 19.95, 22.99]  # type: ignore[type-var]
    # store, expensive, book, bicycle, 4 books, 18 book fields, 2 bicycle fields
    assert len(find("$..*")) == 28


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$.store.book[?(@.price < 10 && @.category == 'fiction')]", [MOBY]),
        ("$.store.book[?(@.category == 'reference' || @.price > 10)]", [SAYINGS, SWORD, RINGS]),
        ("$.store.book[?(!(@.price < 10 && @.category == 'fiction'))]", [SAYINGS, SWORD, RINGS]),
        ('$.store.book[?(@.category == "reference")]', [SAYINGS]),
    ],
)
def test_readme_inline_predicates(expression: str, expected: list[object]) -> None:
    assert find(expression) == expected


CLOTHES = {
    "items": [
        {"name": "foo shirt", "size": "S", "sizes": ["S", "M"]},
        {"name": "Foobar hat", "size": "M", "sizes": ["M", "L"]},
        {"name": "bar coat", "size": "XL", "sizes": ["XL"], "tags": []},
    ]
}


@pytest.mark.parametrize(
    ("expression", "expected_names"),
    [
        ("$.items[?(@.name =~ /foo.*?/i)].name", ["foo shirt", "Foobar hat"]),
        ("$.items[?(@.size in ['S', 'M'])].name", ["foo shirt", "Foobar hat"]),
        ("$.items[?(@.size nin ['S', 'M'])].name", ["bar coat"]),
        ("$.items[?(@.sizes subsetof ['S', 'M', 'L'])].name", ["foo shirt", "Foobar hat"]),
        ("$.items[?(@.sizes anyof ['M', 'L'])].name", ["foo shirt", "Foobar hat"]),
        ("$.items[?(@.sizes noneof ['M', 'L'])].name", ["bar coat"]),
        ("$.items[?(@.sizes size 2)].name", ["foo shirt", "Foobar hat"]),
        ("$.items[?(@.size size 2)].name", ["bar coat"]),
        ("$.items[?(@.tags empty true)].name", ["bar coat"]),
        ("$.items[?(@.name empty false)].name", ["foo shirt", "Foobar hat", "bar coat"]),
    ],
)
def test_readme_filter_operators(expression: str, expected_names: list[str]) -> None:
    assert find(expression, CLOTHES) == expected_names


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$.store.book[*].price.min()", []),  # each price is a number, not an array: Jayway fails, no value
        ("$..price.min()", [8.95]),
        ("$..price.max()", [22.99]),
        ("$..price.sum()", [pytest.approx(73.87)]),
        ("$..price.avg()", [pytest.approx(14.774)]),
        ("$..price.stddev()", [pytest.approx(5.741949)]),
        ("$.store.book.length()", [4]),
        ("$.store.book.size()", [4]),
        ("$.store.bicycle.length()", [2]),
        ("$.store.keys()", [["book", "bicycle"]]),
        ("$.store.book.first().title", ["Sayings of the Century"]),
        ("$.store.book.last().title", ["The Lord of the Rings"]),
        ("$.store.book.index(1).title", ["Sword of Honour"]),
        ("$.store.book.index(-1).title", ["The Lord of the Rings"]),
        ("$.store.book.index(-4).title", ["Sayings of the Century"]),
        ("$.store.book.index(4)", []),
        ("$.store.bicycle.first()", []),
        ("$.concat($.store.bicycle.color, ' ', $.expensive)", ["red 10"]),
        (
            "$.store.book[*].category.concat('!')",
            ["!", "!", "!", "!"],
        ),  # concat reads strings of an array only
        ("$.tags.concat('-', 'x')", []),
        ("$.store.book[0].price.append(1)", [8.95]),
    ],
)
def test_readme_functions(expression: str, expected: list[object]) -> None:
    assert find(expression) == expected


def test_functions_on_arrays_of_numbers_and_strings() -> None:
    data = {"numbers": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "words": ["a", "b", 1, "c"], "empty": []}
    assert find("$.numbers.min()", data) == [1.0]
    assert find("$.numbers.max()", data) == [10.0]
    assert find("$.numbers.avg()", data) == [5.5]
    assert find("$.numbers.sum()", data) == [55.0]
    assert find("$.numbers.stddev()", data) == [pytest.approx(math.sqrt(8.25))]
    assert find("$.numbers.sum(100, [1000])", data) == [1155.0]
    assert find("$.numbers.length()", data) == [10]
    assert find("$.words.concat()", data) == ["abc"]
    assert find("$.words.concat('d', true, 2)", data) == ["abcdtrue2"]
    assert find("$.words.append('z', [1])", data) == [["a", "b", 1, "c", "z", [1]]]
    assert data["words"] == ["a", "b", 1, "c"], "append leaves the input alone"
    assert find("$.empty.avg()", data) == []
    assert find("$.empty.first()", data) == []
    assert find("$.empty.length()", data) == [0]
    assert find("$.words.index()", data) == []


def test_functions_that_do_not_apply_give_null_as_in_jayway() -> None:
    data = {"name": "john", "count": 3}
    assert find("$.name.length()", data) == [None]
    assert find("$.name.keys()", data) == [None]
    assert not filter_matches("$[?(@.name.length() == 4)]", data)


def test_descendant_path_then_function_gets_every_match() -> None:
    """Jayway reads `$..x.f()` as `$.f($..x)`, and length() counts the children of what `$..x` reaches."""
    data = {"a": {"tags": ["x", "y"]}, "b": {"tags": ["z"]}, "price": 1, "c": {"price": 2}}
    assert find("$..tags.length()", data) == [3]
    assert find("$..price.sum()", data) == [3.0]
    assert find("$..absent.length()", data) == [0]
    assert find("$..missing.length()", data) == [0]
    assert find("$..absent.sum()", data) == []
    assert find("$..price.sum(100)", data) == [3.0], "Jayway's rewrite drops the arguments"


def test_last_and_negative_index_reach_the_first_item() -> None:
    """Jayway 2.x fails on these (an off-by-one); docs/filters.md records the fix."""
    assert find("$.one.last()", {"one": ["only"]}) == ["only"]
    assert find("$.two.index(-2)", {"two": ["a", "b"]}) == ["a"]


SAILPOINT_EXAMPLES = [
    '$.changes[?(@.attribute == "department")]',
    "$.identity",
    "$..id",
    "$.changes[*]",
    "$.changes[1].attribute",
    "$.changes[0,1,2]",
    "$.changes[0:2:1]",
    "$.changes[:2]",
    "$.changes[-1:]",
    '$[?($.identity.name == "john.doe")]',
    "$[?($.changes.length() >= 3)]",
    '$[?($.identity.name != "george.washington")]',
    '$.changes[?(@.attribute == "department" && @.newValue =~ /Mark.*/i)]',
    "$.changes[?(@.attribute == 'department' && @.newValue in ['Marketing','engineering'])]",
    "$.changes[?(@.attribute == 'department' && @.newValue nin ['sales','engineering'])]",
    '$.changes[?(@.attribute == "cloudLifecycleState" && @.newValue == "terminated")]',
    '$.changes[?(@.attribute == "cloudLifecycleState" || @.attribute == "department")]',
    '$[?($.identity.name contains "john")]',
]


@pytest.mark.parametrize("expression", SAILPOINT_EXAMPLES)
def test_sailpoint_examples_match_the_identity_attributes_changed_input(expression: str) -> None:
    assert filter_matches(expression, IDENTITY_CHANGES)


@pytest.mark.parametrize(
    "expression",
    [
        '$[?($.identity.name contains "archer")]',
        "$[?($.changes.length() > 3)]",
        '$.changes[?(@.attribute == "department" && @.newValue =~ /US.*Support/i)]',
        "$.changes[?(@.attribute == 'department' && @.newValue in ['sales','engineering'])]",
        "$.changes[?(@.attribute == 'department' && @.newValue nin ['Marketing'])]",
    ],
)
def test_sailpoint_examples_that_must_not_match(expression: str) -> None:
    assert not filter_matches(expression, IDENTITY_CHANGES)


def test_sailpoint_concat_example() -> None:
    data = {"identity": {"attributes": {"firstname": "John", "lastname": "Doe"}}}
    expression = '$.concat($.identity.attributes.firstname," ",$.identity.attributes.lastname)'
    assert find(expression, data) == ["John Doe"]
    assert find(expression, {"identity": {"attributes": {"firstname": "John"}}}) == []


@pytest.mark.parametrize(
    ("warnings", "subsetof", "anyof", "noneof", "size_1"),
    [
        (["Account skipped"], True, True, False, True),
        (["Account skipped", "Invalid account"], True, True, False, False),
        (["Account skipped", "Timeout"], False, True, False, False),
        (["Timeout"], False, False, True, True),
        ([], True, False, True, False),
    ],
)
def test_sailpoint_set_operator_examples(
    warnings: list[str], subsetof: bool, anyof: bool, noneof: bool, size_1: bool
) -> None:
    data = {"warnings": warnings}
    known = "['Account skipped','Invalid account']"
    assert filter_matches(f"$[?($.warnings subsetof {known})]", data) is subsetof
    assert filter_matches(f"$[?($.warnings anyof {known})]", data) is anyof
    assert filter_matches(f"$[?($.warnings noneof {known})]", data) is noneof
    assert filter_matches("$[?($.warnings size 1)]", data) is size_1


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2020-04-27T16:48:33.100Z", False),
        ("2020-04-27T16:48:33.200Z", False),
        ("2021-01-01T00:00:00Z", True),
    ],
)
def test_sailpoint_string_comparison_example(created: str, expected: bool) -> None:
    data = {"attributes": {"created": created}}
    assert filter_matches("$[?($.attributes.created > '2020-04-27T16:48:33.200Z')]", data) is expected
    assert filter_matches("$[?($.attributes.created <= '2020-04-27T16:48:33.200Z')]", data) is not expected


@pytest.mark.parametrize(
    ("attributes", "expected"), [({"email": "a@b"}, True), ({"alternateEmail": "c@d"}, False)]
)
def test_sailpoint_negated_existence_example(attributes: dict[str, str], expected: bool) -> None:
    assert filter_matches(
        "$.identity.attributes[?(!@.alternateEmail)]", {"identity": {"attributes": attributes}}
    ) is (expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Jayway compares a number and a string that reads as that number as equal (its own tests:
        # `1 == '1'`); `===` and `!==` compare types too. Its README's note predates this.
        ("$[?(@.n == '1')]", True),
        ("$[?('1' == @.n)]", True),
        ("$[?(@.n == 1.0)]", True),
        ("$[?(@.n === '1')]", False),
        ("$[?(@.n === 1)]", True),
        ("$[?(@.n !== '1')]", True),
        ("$[?(@.s == 1)]", True),
        ("$[?(@.s == 2)]", False),
        ("$[?(@.b == true)]", True),
        ("$[?(@.b == 1)]", False),
        ("$[?(@.b == 'true')]", False),
        ("$[?(@.n == true)]", False),
        ("$[?(@.z == null)]", True),
        ("$[?(@.z == 0)]", False),
        ("$[?(@.list == [1, 'a'])]", True),
        ("$[?(@.list == [1])]", False),
        ("$[?(@.s < 2)]", False),  # ordering needs two numbers or two strings
        ("$[?(@.n < 2)]", True),
        ("$[?(@.word > 'abc')]", True),
        ("$[?(@.n > 'a')]", False),
    ],
)
def test_equality_and_ordering_follow_jayway(expression: str, expected: bool) -> None:
    data = {"n": 1, "s": "1", "b": True, "z": None, "list": [1, "a"], "word": "abd"}
    assert filter_matches(expression, data) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # A missing path equals nothing, so `!=` and `nin` hold for it (Jayway: `!=` is "not ==").
        ("$[?(@.missing == null)]", False),
        ("$[?(@.missing != null)]", True),
        ("$[?(@.missing != 'x')]", True),
        ("$[?(@.missing == @.other)]", False),
        ("$[?(@.missing in ['a'])]", False),
        ("$[?(@.missing nin ['a'])]", True),
        ("$[?(@.missing < 1)]", False),
        ("$[?(@.missing =~ /.*/)]", False),
        ("$[?(@.missing size 0)]", False),
        ("$[?(@.missing empty true)]", False),
        ("$[?(@.missing empty false)]", False),
        ("$[?(@.missing subsetof ['a'])]", False),
        ("$[?(@.missing noneof ['a'])]", False),
        ("$[?(@.missing.length() > 0)]", False),
        ("$[?(@.missing.length() != 1)]", True),
        # null is a value: it equals null and is in a list holding null.
        ("$[?(@.none == null)]", True),
        ("$[?(@.none in [null, 'a'])]", True),
        ("$[?(@.none nin ['a'])]", True),
        ("$[?(@.none size 0)]", False),
        ("$[?(@.none empty true)]", False),
        ("$[?(@.none =~ /null/)]", False),
        ("$[?(@.none)]", True),
    ],
)
def test_missing_paths_and_nulls(expression: str, expected: bool) -> None:
    assert filter_matches(expression, {"none": None, "other": None}) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Set operators need arrays on both sides, `in`/`nin` an array on the right; otherwise false
        # (Jayway raises an error, failing the whole filter).
        ("$[?(@.text subsetof ['a'])]", False),
        ("$[?(@.text anyof ['a'])]", False),
        ("$[?(@.text noneof ['b'])]", False),
        ("$[?(@.list anyof @.text)]", False),
        ("$[?(@.text in @.text)]", False),
        ("$[?(@.text nin @.object)]", False),
        ("$[?(@.list in [['a', 'b'], 'c'])]", True),
        # `size` needs a number, `empty` a boolean; `size` counts a string or an array, not an object.
        ("$[?(@.text size '1')]", False),
        ("$[?(@.text size 1.9)]", True),
        ("$[?(@.object size 1)]", False),
        ("$[?(@.object empty false)]", True),
        ("$[?(@.number empty false)]", False),
        ("$[?(@.text empty 'false')]", False),
        # `=~` reads numbers and booleans as text, an array as any of its items, either side may be the regex.
        ("$[?(@.number =~ /4\\d/)]", True),
        ("$[?(@.flag =~ /tr.e/)]", True),
        ("$[?(@.list =~ /b/)]", True),
        ("$[?(/a/ =~ @.text)]", True),
        ("$[?(@.text =~ 'a')]", False),
        ("$[?(@.object =~ /.*/)]", False),
        # `contains`: a substring of a string, or an item of an array.
        ("$[?(@.list contains 'b')]", True),
        ("$[?(@.text contains 'a')]", True),
        ("$[?(@.number contains 4)]", False),
        # Operators are case-insensitive words, as in Jayway.
        ("$[?(@.text IN ['a'])]", True),
        ("$[?(@.list AnyOf ['b'])]", True),
    ],
)
def test_type_mismatches(expression: str, expected: bool) -> None:
    data = {"text": "a", "list": ["a", "b"], "object": {"k": 1}, "number": 42, "flag": True}
    assert filter_matches(expression, data) is expected


def test_indefinite_path_operand_is_the_list_of_its_values() -> None:
    data = {"roles": [{"name": "admin"}, {"name": "user"}]}
    assert filter_matches("$[?(@.roles[*].name anyof ['admin'])]", data)
    assert filter_matches("$[?(@.roles[*].name subsetof ['admin', 'user', 'guest'])]", data)
    assert filter_matches("$[?(@.roles[*].name == ['admin', 'user'])]", data)
    assert not filter_matches("$[?(@.roles[*].name == 'admin')]", data)
    assert filter_matches("$[?($..name contains 'user')]", data)
    single = {"roles": [{"name": "admin"}]}
    assert not filter_matches("$[?(@.roles[*].name == 'admin')]", single), "a list never equals a string"


def test_function_results_in_filters() -> None:
    data = {"items": [{"scores": [1, 2, 3], "tags": ["a"]}, {"scores": [], "tags": []}]}
    assert find("$.items[?(@.scores.avg() >= 2)].tags", data) == [["a"]]
    assert find("$.items[?(@.scores.length() == 0)].tags", data) == [[]]
    assert find("$.items[?(@.tags.first() == 'a')].scores", data) == [[1, 2, 3]]
    assert find("$.items[?(@.keys() anyof ['scores'])].tags", data) == [["a"], []]


def test_function_path_arguments_in_a_predicate_read_the_current_item() -> None:
    data = {"people": [{"first": "Ada", "last": "Lovelace"}, {"first": "Alan", "last": "Turing"}]}
    assert find("$.people[?(@.first.concat(' ', @.last) == 'Alan Turing')].last", data) == []
    assert find("$.people[?(@.concat(@.first, ' ', @.last) == 'Alan Turing')].last", data) == ["Turing"]


def test_regex_flags_of_jayway() -> None:
    data = {"text": "Line one\nline TWO"}
    assert filter_matches("$[?(@.text =~ /line.*two/is)]", data)
    assert not filter_matches("$[?(@.text =~ /line.*two/i)]", data)
    assert filter_matches("$[?(@.text =~ /L ine .* /xs)]", data)
    assert filter_matches("$[?(@.text =~ /.*TWO/dsuU)]", data)


def test_operator_words_stay_property_names() -> None:
    data = {"size": "M", "empty": True, "in": 1, "nested": {"size": 2, "missing": 3, "true": 4}}
    assert filter_matches("$[?(@.size == 'M')]", data)
    assert filter_matches("$[?(@.empty == true)]", data)
    assert filter_matches("$[?(@['in'] == 1)]", data)
    assert find("$..size", data) == ["M", 2]
    assert find("$..in", data) == [1]
    assert find("$..missing", data) == [3]
    assert find("$..true", data) == [4]
    assert find("$.size", data) == ["M"]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("$[?(@.x all ['a'])]", "unknown operator 'all' at position 8"),
        ("$[?(@.x 'a')]", "expected an operator, found 'a' at position 9"),
        ("$.a.foo()", "unknown function foo(), expected one of min(), max()"),
        ("$.a.index(1", "expected ',', found end of expression"),
        ("$.a.concat(", "unexpected end of expression"),
        ("$[?(@.x nin)]", "unexpected ')'"),
        ("$[?(@.a in {'a': 1})]", "unexpected token '{'"),
        ("$.changes[(@.length-1)]", "unexpected token in bracketed selection"),
        ("$[?($.warnings size 1]", "unbalanced parentheses"),
        ("$[1:2:3:4]", "expected ',', found ':'"),
        ("$.", "expected a name or '*' at position 2"),
    ],
)
def test_unsupported_or_broken_syntax_is_refused_in_plain_words(expression: str, reason: str) -> None:
    with pytest.raises(InvalidFilter, match=None) as raised:
        compile_filter(expression)
    assert reason in str(raised.value)
    assert "TOKEN_" not in str(raised.value)
