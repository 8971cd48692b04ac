"""Connecting nodes: operators, goto/on, condition styles and their validation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spark.workflow import (
    Always,
    EdgeContext,
    EqualsCondition,
    Expression,
    ExpressionCondition,
    PredicateCondition,
)
from tests.workflow.helpers import Identity


def test_rshift_adds_an_unconditional_edge_and_returns_the_target() -> None:
    a, b, c = Identity(name="a"), Identity(name="b"), Identity(name="c")
    assert (a >> b >> c) is c
    assert [edge.target for edge in a.edges] == [b]
    assert [edge.target for edge in b.edges] == [c]
    assert isinstance(a.edges[0].condition, Always)
    assert a.edges[0].describe() == "a -> b"


def test_rshift_to_and_from_lists() -> None:
    split, left, right, merge = (Identity(name=n) for n in ("split", "left", "right", "merge"))
    assert (split >> [left, right] >> merge) is merge
    assert [edge.target for edge in split.edges] == [left, right]
    assert [edge.target for edge in left.edges] == [merge]
    assert [edge.target for edge in right.edges] == [merge]
    assert (split >> (left,)) == (left,)


def test_rshift_rejects_non_nodes() -> None:
    a = Identity()
    with pytest.raises(TypeError):
        a >> 3  # type: ignore[operator]
    with pytest.raises(TypeError, match="Node instance"):
        a >> [Identity(), "x"]  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty list"):
        a >> []
    with pytest.raises(TypeError, match="Node instance"):
        [Identity(), 5] >> a  # type: ignore[operator]


def test_goto_with_each_condition_style() -> None:
    a, b = Identity(name="a"), Identity(name="b")
    by_expr = a.goto(b, expr="$.score >= 90", priority=2)
    by_predicate = a.goto(b, predicate=lambda context: context.outputs == 1)
    by_equals = a.goto(b, equals={"status": "ok"})
    unconditional = a.goto(b, priority=-1)
    assert isinstance(by_expr.condition, ExpressionCondition)
    assert by_expr.priority == 2
    assert by_expr.describe() == "a -> b [expr='$.score >= 90'] (priority 2)"
    assert isinstance(by_predicate.condition, PredicateCondition)
    assert "predicate=" in by_predicate.describe()
    assert isinstance(by_equals.condition, EqualsCondition)
    assert by_equals.describe() == "a -> b [equals={'status': 'ok'}]"
    assert isinstance(unconditional.condition, Always)
    assert a.edges == (by_expr, by_predicate, by_equals, unconditional)


def test_goto_accepts_a_precompiled_expression() -> None:
    a, b = Identity(), Identity()
    edge = a.goto(b, Expression("$ == 1"))
    assert edge.condition.matches(EdgeContext(None, 1, None))


@pytest.mark.parametrize(
    "conditions",
    [
        {"expr": "$ == 1", "predicate": bool},
        {"expr": "$ == 1", "equals": {"k": 1}},
        {"predicate": bool, "equals": {"k": 1}},
        {"expr": "$ == 1", "predicate": bool, "equals": {"k": 1}},
    ],
)
def test_more_than_one_condition_style_is_a_type_error(conditions: dict[str, object]) -> None:
    a, b = Identity(), Identity()
    with pytest.raises(TypeError, match="exactly one condition style"):
        a.goto(b, **conditions)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exactly one condition style"):
        a.on(**conditions)  # type: ignore[arg-type]
    assert a.edges == ()


def test_invalid_condition_values() -> None:
    a, b = Identity(), Identity()
    with pytest.raises(TypeError, match="expr must be a string"):
        a.goto(b, expr=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        a.goto(b, predicate="yes")  # type: ignore[arg-type]

    async def asynchronous(context: EdgeContext) -> bool:
        return True

    with pytest.raises(TypeError, match="plain function"):
        a.goto(b, predicate=asynchronous)
    with pytest.raises(TypeError, match="mapping"):
        a.goto(b, equals=[("k", 1)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one key"):
        a.goto(b, equals={})
    with pytest.raises(TypeError, match="keys must be strings"):
        a.goto(b, equals={1: 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="priority"):
        a.goto(b, priority="high")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="priority"):
        a.goto(b, priority=True)
    with pytest.raises(TypeError, match="Node instance"):
        a.goto("b")  # type: ignore[arg-type]
    assert a.edges == ()


def test_unsafe_expression_is_rejected_when_the_edge_is_created() -> None:
    a, b = Identity(), Identity()
    with pytest.raises(ValueError, match="function calls"):
        a.goto(b, expr="__import__('os')")
    with pytest.raises(ValueError, match="arithmetic"):
        a.on(expr="$.x * 2 > 1")
    assert a.edges == ()


def test_on_then_rshift_creates_the_edge() -> None:
    a, b, c = Identity(name="a"), Identity(name="b"), Identity(name="c")
    pending = a.on(expr="$.ok", priority=3)
    assert "a.on(expr='$.ok') >> ?" in repr(pending)
    assert (pending >> b >> c) is c
    (edge,) = a.edges
    assert edge.target is b
    assert edge.priority == 3
    assert isinstance(edge.condition, ExpressionCondition)
    assert a._wf_pending == []
    with pytest.raises(TypeError, match="Node or a list"):
        a.on(expr="$") >> 3


def test_on_to_a_list_fans_out_with_the_same_condition() -> None:
    a, b, c = Identity(), Identity(), Identity()
    assert (a.on(equals={"go": True}) >> [b, c]) == [b, c]
    assert [edge.target for edge in a.edges] == [b, c]
    assert all(isinstance(edge.condition, EqualsCondition) for edge in a.edges)


def test_equals_matches_mappings_and_objects_and_missing_keys_do_not_match() -> None:
    condition = EqualsCondition({"status": "ok", "code": 200})
    assert condition.matches(EdgeContext(None, {"status": "ok", "code": 200, "x": 1}, None))
    assert not condition.matches(EdgeContext(None, {"status": "ok", "code": 500}, None))
    assert not condition.matches(EdgeContext(None, {"status": "ok"}, None))
    assert condition.matches(EdgeContext(None, SimpleNamespace(status="ok", code=200), None))
    assert not condition.matches(EdgeContext(None, None, None))


def test_predicate_sees_inputs_outputs_and_state() -> None:
    seen: list[EdgeContext] = []

    def predicate(context: EdgeContext) -> bool:
        seen.append(context)
        return True

    condition = PredicateCondition(predicate)
    assert condition.matches(EdgeContext("in", "out", {"s": 1}))
    assert seen == [EdgeContext("in", "out", {"s": 1})]
