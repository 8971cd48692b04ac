"""The safe expression language: what it accepts, what it refuses, and how it evaluates."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spark.workflow import EdgeContext, Expression
from spark.workflow.expression import MAX_EXPRESSION_LENGTH, MAX_NESTING


@pytest.mark.parametrize(
    ("source", "outputs", "expected"),
    [
        ("$.score >= 90", {"score": 95}, True),
        ("$.score >= 90", {"score": 89}, False),
        ("$.grade in ['A', 'B']", {"grade": "B"}, True),
        ("$.grade not in ('A', 'B')", {"grade": "C"}, True),
        ("$.ok and not $.retry", {"ok": True, "retry": False}, True),
        ("$.a or $.b", {"a": 0, "b": "x"}, "x"),
        ("0 <= $.x < 10", {"x": 3}, True),
        ("0 <= $.x < 10", {"x": 10}, False),
        ("$.delta > -5", {"delta": -4}, True),
        ("$.items[1] == 'b'", {"items": ["a", "b"]}, True),
        ("$['key with space'] == 1", {"key with space": 1}, True),
        ("$.nested.deep['x'] is None", {"nested": {"deep": {"x": None}}}, True),
        ("$.tags == {'a', 'b'}", {"tags": {"b", "a"}}, True),
        ("$.meta == {'k': [1, 2]}", {"meta": {"k": [1, 2]}}, True),
        ("$", 0, 0),
        ("outputs == $", 7, True),
        ("$.name == 'cost $5'", {"name": "cost $5"}, True),
        ("$.raw == b'\\x00'", {"raw": b"\x00"}, True),
        ("$.v == 1.5", {"v": 1.5}, True),
        ("[$.a, $.b] == [1, 2]", {"a": 1, "b": 2}, True),
        ("($.a, $.b) == (1, 2)", {"a": 1, "b": 2}, True),
        ("{$.a: $.b} == {1: 2}", {"a": 1, "b": 2}, True),
        ("{$.a, 3} == {1, 3}", {"a": 1}, True),
        ("$.flag is True", {"flag": True}, True),
        ("$.x is not None", {"x": 1}, True),
    ],
)
def test_valid_expressions_evaluate(source: str, outputs: Any, expected: Any) -> None:
    assert Expression(source).evaluate(outputs) == expected


def test_inputs_outputs_and_state_are_separate_names() -> None:
    expression = Expression("inputs.n < outputs.n and state['limit'] > outputs.n")
    context = EdgeContext(inputs={"n": 1}, outputs={"n": 2}, state={"limit": 3})
    assert expression(context) is True
    assert Expression("state.limit == 3").evaluate(None, state={"limit": 3}) is True


def test_attribute_access_reads_objects_as_well_as_mappings() -> None:
    result = SimpleNamespace(score=91, detail=SimpleNamespace(grade="A"))
    assert Expression("$.score >= 90 and $.detail.grade == 'A'").evaluate(result) is True


def test_missing_key_or_attribute_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match="has no key 'score'"):
        Expression("$.score > 1").evaluate({})
    with pytest.raises(LookupError, match="has no attribute 'score'"):
        Expression("$.score > 1").evaluate(SimpleNamespace())
    with pytest.raises(LookupError, match="has no item 5"):
        Expression("$[5]").evaluate([1])


def test_impossible_comparison_raises_type_error() -> None:
    with pytest.raises(TypeError):
        Expression("$.x < 3").evaluate({"x": None})


@pytest.mark.parametrize(
    ("source", "reason", "quoted"),
    [
        ("len($) > 2", "function calls", "len($)"),
        ("__import__('os').system('true')", "function calls", "__import__('os').system('true')"),
        ("__import__", "unknown name", "__import__"),
        ("$.name.upper() == 'X'", "function calls", "$.name.upper()"),
        ("$.score + 1 > 90", "arithmetic", "$.score + 1"),
        ("$.score * 2", "arithmetic", "$.score * 2"),
        ("-$.score < 0", "arithmetic", "-$.score"),
        ("~1", "arithmetic", "~1"),
        ("$.__class__", "private and dunder attributes", "$.__class__"),
        ("$.__class__.__subclasses__", "private and dunder attributes", "$.__class__"),
        ("$._secret == 1", "private and dunder attributes", "$._secret"),
        ("(lambda: 1) == 1", "lambdas", "lambda: 1"),
        ("[x for x in $]", "comprehensions", "[x for x in $]"),
        ("$.x if $.y else $.z", "conditional expressions", "$.x if $.y else $.z"),
        ("(n := 1) == 1", "assignment expressions", "n := 1"),
        ("$.items[1:]", "slices", "1:"),
        ("[*$.items]", "unpacking", "*$.items"),
        ("{**$.d}", "unpacking", "{**$.d}"),
        ("open", "unknown name", "open"),
        ("f'{outputs}' == 'x'", "f-strings", "f'{outputs}'"),
        ("... == $", "ellipsis literals", "..."),
        ("1j == $", "complex literals", "1j"),
        # frame and code introspection reaches module globals without a dunder or a call
        ("$.gi_frame.f_globals", "introspection attributes", "$.gi_frame"),
        ("inputs.cr_frame == 1", "introspection attributes", "inputs.cr_frame"),
        ("$.ag_frame", "introspection attributes", "$.ag_frame"),
        ("$.tb_frame", "introspection attributes", "$.tb_frame"),
        ("state.f_back", "introspection attributes", "state.f_back"),
        ("$.frame.f_locals", "introspection attributes", "$.frame.f_locals"),
        ("$.gi_code", "introspection attributes", "$.gi_code"),
        ("$['__class__']", "dunder keys", "'__class__'"),
        ("state['__builtins__'] is None", "dunder keys", "'__builtins__'"),
    ],
)
def test_unsafe_expressions_are_rejected_quoting_the_offending_part(
    source: str, reason: str, quoted: str
) -> None:
    with pytest.raises(ValueError) as caught:
        Expression(source)
    message = str(caught.value)
    assert reason in message
    assert repr(quoted) in message


@pytest.mark.parametrize("source", ["", "   ", "$.", "$.x >", "$ $", "a = 1", "1; 2", "\x00"])
def test_malformed_expressions_raise_value_error(source: str) -> None:
    with pytest.raises(ValueError, match="workflow expression"):
        Expression(source)


def test_non_string_and_overlong_and_reserved_expressions() -> None:
    with pytest.raises(TypeError):
        Expression(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        Expression("$ == 1 " + "or $ == 1 " * MAX_EXPRESSION_LENGTH)
    with pytest.raises(ValueError, match="reserved"):
        Expression("_spark_dollar_ == 1")


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(ValueError):
        Expression("(" * 300 + "$" + ")" * 300)
    with pytest.raises(ValueError):
        Expression("not " * 600 + "$")


_NESTED = {
    "members": lambda depth: "$" + ".a" * depth,
    "nots": lambda depth: "not " * depth + "$",
    "lists": lambda depth: "[" * depth + "$" + "]" * depth,
}


@pytest.mark.parametrize("shape", sorted(_NESTED))
def test_nesting_limit_is_a_fixed_number_not_the_current_stack_depth(shape: str) -> None:
    # Accepting an expression must not depend on how deep the caller's stack is, and what is
    # accepted must evaluate on a stack that is already deep (a run evaluates it in a node).
    build = _NESTED[shape]
    with pytest.raises(ValueError, match=f"nested more than {MAX_NESTING} levels"):
        Expression(build(MAX_NESTING + 1))
    expression = Expression(build(MAX_NESTING))
    nested: Any = SimpleNamespace()
    nested.a = nested

    def at_depth(frames: int) -> Any:
        return expression.evaluate(nested) if frames == 0 else at_depth(frames - 1)

    at_depth(sys.getrecursionlimit() - 4 * MAX_NESTING)


def test_dynamic_dunder_keys_are_refused_when_evaluated() -> None:
    expression = Expression("$[inputs] == 1")
    assert expression.evaluate({"_id": 1}, inputs="_id") is True
    with pytest.raises(ValueError, match="dunder keys are not allowed"):
        expression.evaluate({"__class__": 1}, inputs="__class__")


def test_expression_value_semantics() -> None:
    assert Expression("$ == 1") == Expression("$ == 1")
    assert hash(Expression("$ == 1")) == hash(Expression("$ == 1"))
    assert Expression("$ == 1") != Expression("$ == 2")
    assert repr(Expression("$ == 1")) == "Expression('$ == 1')"


# -- property-based ----------------------------------------------------------------------------

DATA = {
    "outputs": SimpleNamespace(a=3, b="x$y", items=[1, "two", None], d={"k": 5}),
    "inputs": SimpleNamespace(a=-2, b=""),
    "state": {"c": 7, "tags": ["x", "y"]},
}

# Each strategy yields (our source, the equivalent plain-Python source).
_refs = st.sampled_from(
    [
        ("$.a", "outputs.a"),
        ("$.b", "outputs.b"),
        ("$.items[0]", "outputs.items[0]"),
        ("$.items[1]", "outputs.items[1]"),
        ("$.items[2]", "outputs.items[2]"),
        ("$.d['k']", "outputs.d['k']"),
        ("outputs.a", "outputs.a"),
        ("inputs.a", "inputs.a"),
        ("inputs.b", "inputs.b"),
        ("state['c']", "state['c']"),
        ("state['tags']", "state['tags']"),
    ]
)
_literals = st.one_of(
    st.integers(-10, 10).map(repr),
    st.text(alphabet="xy$'\" \\", max_size=4).map(repr),
    st.sampled_from(["True", "False", "None"]),
    st.lists(st.integers(-3, 3), max_size=3).map(repr),
).map(lambda text: (text, text))
_atoms = st.one_of(_refs, _literals)
_operators = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])


@st.composite
def _comparisons(draw: st.DrawFn) -> tuple[str, str]:
    left = draw(_atoms)
    operator = draw(_operators)
    right = draw(_atoms)
    return f"{left[0]} {operator} {right[0]}", f"{left[1]} {operator} {right[1]}"


_expressions = st.recursive(
    st.one_of(_atoms, _comparisons()),
    lambda children: st.one_of(
        st.tuples(children, st.sampled_from(["and", "or"]), children).map(
            lambda parts: (
                f"({parts[0][0]}) {parts[1]} ({parts[2][0]})",
                f"({parts[0][1]}) {parts[1]} ({parts[2][1]})",
            )
        ),
        children.map(lambda part: (f"not ({part[0]})", f"not ({part[1]})")),
    ),
    max_leaves=8,
)


def _outcome(function: Any) -> tuple[str, Any]:
    try:
        return "value", function()
    except Exception as error:
        return "error", type(error)


@settings(max_examples=300, deadline=None)
@given(_expressions)
def test_generated_expressions_match_python_semantics(pair: tuple[str, str]) -> None:
    ours, reference = pair
    expression = Expression(ours)
    context = EdgeContext(DATA["inputs"], DATA["outputs"], DATA["state"])
    expected = _outcome(lambda: eval(reference, {"__builtins__": {}}, dict(DATA)))
    assert _outcome(lambda: expression(context)) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_is_either_compiled_or_rejected_with_value_error(text: str) -> None:
    try:
        Expression(text)
    except ValueError:
        pass


_UNSAFE = [
    ("len($)", "function calls"),
    ("__import__('os')", "function calls"),
    ("$.a + 1", "arithmetic"),
    ("$.__dict__", "private and dunder attributes"),
    ("$.a.__class__", "private and dunder attributes"),
]


@settings(max_examples=200, deadline=None)
@given(_expressions, st.sampled_from(_UNSAFE), st.sampled_from(["and", "or"]), st.booleans())
def test_unsafe_fragment_anywhere_is_rejected(
    pair: tuple[str, str], unsafe: tuple[str, str], joiner: str, first: bool
) -> None:
    fragment, reason = unsafe
    safe = f"({pair[0]})"
    source = f"{fragment} {joiner} {safe}" if first else f"{safe} {joiner} {fragment}"
    with pytest.raises(ValueError) as caught:
        Expression(source)
    assert reason in str(caught.value)
    assert repr(fragment) in str(caught.value)
