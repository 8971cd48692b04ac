"""The safe condition language of workflow edges.

An expression such as ``$.score >= 90 and $.grade in ['A', 'B']`` is parsed once, when the edge
is created, with :mod:`ast` against a whitelist, and compiled into plain Python closures. Nothing
is ever passed to ``eval``: there is no way to call a function, do arithmetic, build a
comprehension, reach a private or dunder attribute or key, or walk from a generator, coroutine or
traceback to a frame and its globals, so an expression can only *read* the values it is given and
compare them.

Names:

* ``$`` and ``outputs`` - what the node returned (the value about to flow along the edge);
* ``inputs`` - what the node received (the message content; a list after a fan-in);
* ``state`` - the run's workflow state mapping.

``x.name`` reads key ``"name"`` when ``x`` is a mapping and attribute ``name`` otherwise;
``x[key]`` is a subscript. Allowed: ``and``/``or``/``not``, comparisons (``==``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, ``in``, ``not in``, ``is``, ``is not``, chained), literals (strings,
bytes, numbers, ``True``/``False``/``None``, lists, tuples, sets, dicts of literals) and unary
minus on a number literal.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["EdgeContext", "Expression"]

#: Longest expression accepted; conditions are one-liners.
MAX_EXPRESSION_LENGTH: Final = 2000

#: Deepest nesting accepted (``$.a.b`` is 2 levels, ``not ($.a)`` 2). A fixed limit, so whether an
#: expression is accepted does not depend on the caller's stack, and the compiled closures (about
#: one frame per level) evaluate far below the recursion limit.
MAX_NESTING: Final = 64

# Attributes that are neither private nor dunder but lead from a generator, coroutine, frame or
# traceback to code objects and to a module's globals (``$.gi_frame.f_globals['SECRET']``).
_INTROSPECTION: Final = frozenset(
    {
        "ag_await", "ag_code", "ag_frame",
        "cr_await", "cr_code", "cr_frame", "cr_origin",
        "f_back", "f_builtins", "f_code", "f_globals", "f_locals", "f_trace",
        "gi_code", "gi_frame", "gi_yieldfrom",
        "tb_frame", "tb_next",
    }
)  # fmt: skip

# ``$`` is not Python; it is replaced by this name before parsing (outside string literals).
_DOLLAR: Final = "_spark_dollar_"


@dataclass(frozen=True, slots=True)
class EdgeContext:
    """What a condition sees: the node's input, its output and the run's state."""

    inputs: Any
    outputs: Any
    state: Any


Evaluator = Callable[[EdgeContext], Any]


class _Rejected(Exception):
    def __init__(self, node: ast.AST, reason: str) -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason


class _Missing(LookupError):
    """A ``.name`` or ``[key]`` that the value does not have."""


# -- evaluation helpers (run per message, keep them small) ---------------------------------------


def read_member(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        try:
            return value[name]
        except KeyError:
            raise _Missing(f"{_kind(value)} has no key {name!r}") from None
    try:
        return getattr(value, name)
    except AttributeError:
        raise _Missing(f"{_kind(value)} has no attribute {name!r}") from None


def _item(value: Any, key: Any) -> Any:
    try:
        return value[key]
    except (KeyError, IndexError):
        raise _Missing(f"{_kind(value)} has no item {key!r}") from None


def _is_dunder(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("__")


def _checked_item(value: Any, key: Any) -> Any:
    """``value[key]`` for a key computed at evaluation time (a literal key is checked once)."""
    if _is_dunder(key):
        raise ValueError(f"dunder keys are not allowed: {key!r}")
    return _item(value, key)


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__qualname__}"


def _contains(item: Any, container: Any) -> bool:
    return item in container


def _not_contains(item: Any, container: Any) -> bool:
    return item not in container


_COMPARISONS: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: _contains,
    ast.NotIn: _not_contains,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

# What to call a rejected construct in the error message.
_FORBIDDEN: Final[dict[type[ast.AST], str]] = {
    ast.Call: "function calls are not allowed",
    ast.BinOp: "arithmetic is not allowed",
    ast.UnaryOp: "arithmetic is not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.IfExp: "conditional expressions (x if c else y) are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Starred: "unpacking is not allowed",
    ast.Slice: "slices are not allowed",
}

_CONSTANT_TYPES: Final = (str, bytes, int, float, bool, type(None))
_NAMES: Final = {
    _DOLLAR: "outputs",
    "outputs": "outputs",
    "inputs": "inputs",
    "state": "state",
}


class _NotConstant:
    __slots__ = ()


_NOT_CONSTANT: Final = _NotConstant()


class _Compiler:
    """Whitelist check and compilation to closures in one recursive pass."""

    def compile(self, node: ast.AST) -> tuple[Evaluator, Any]:
        """Return ``(evaluator, constant)``; ``constant`` is ``_NOT_CONSTANT`` unless the node
        is a literal (literals are folded once here instead of rebuilt per evaluation)."""
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            reason = _FORBIDDEN.get(type(node), f"{type(node).__name__} is not allowed")
            raise _Rejected(node, reason)
        result: tuple[Evaluator, Any] = method(node)
        return result

    def evaluator(self, node: ast.AST) -> Evaluator:
        return self.compile(node)[0]

    @staticmethod
    def _constant(value: Any) -> tuple[Evaluator, Any]:
        return (lambda context: value), value

    def _Expression(self, node: ast.Expression) -> tuple[Evaluator, Any]:
        return self.compile(node.body)

    def _Constant(self, node: ast.Constant) -> tuple[Evaluator, Any]:
        if not isinstance(node.value, _CONSTANT_TYPES):
            raise _Rejected(node, f"{type(node.value).__name__} literals are not allowed")
        return self._constant(node.value)

    def _Name(self, node: ast.Name) -> tuple[Evaluator, Any]:
        field = _NAMES.get(node.id)
        if field is None:
            raise _Rejected(node, "unknown name (use $, inputs, outputs or state)")
        if field == "outputs":
            return (lambda context: context.outputs), _NOT_CONSTANT
        if field == "inputs":
            return (lambda context: context.inputs), _NOT_CONSTANT
        return (lambda context: context.state), _NOT_CONSTANT

    def _Attribute(self, node: ast.Attribute) -> tuple[Evaluator, Any]:
        value = self.evaluator(node.value)  # first, so the innermost offence is quoted
        name = node.attr
        if name.startswith("_"):
            raise _Rejected(node, "private and dunder attributes are not allowed")
        if name in _INTROSPECTION:
            raise _Rejected(node, "introspection attributes (frames, code) are not allowed")
        return (lambda context: read_member(value(context), name)), _NOT_CONSTANT

    def _Subscript(self, node: ast.Subscript) -> tuple[Evaluator, Any]:
        value = self.evaluator(node.value)
        key, constant_key = self.compile(node.slice)
        if constant_key is not _NOT_CONSTANT:
            if _is_dunder(constant_key):
                raise _Rejected(node.slice, "dunder keys are not allowed")
            return (lambda context: _item(value(context), constant_key)), _NOT_CONSTANT
        return (lambda context: _checked_item(value(context), key(context))), _NOT_CONSTANT

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[Evaluator, Any]:
        if isinstance(node.op, ast.Not):
            operand = self.evaluator(node.operand)
            return (lambda context: not operand(context)), _NOT_CONSTANT
        # A negative number literal is a literal, not arithmetic.
        if (
            isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)
        ):
            number = node.operand.value
            return self._constant(-number if isinstance(node.op, ast.USub) else number)
        raise _Rejected(node, "arithmetic is not allowed")

    def _BoolOp(self, node: ast.BoolOp) -> tuple[Evaluator, Any]:
        operands = tuple(self.evaluator(value) for value in node.values)
        if isinstance(node.op, ast.And):

            def both(context: EdgeContext) -> Any:
                result: Any = True
                for operand in operands:
                    result = operand(context)
                    if not result:
                        return result
                return result

            return both, _NOT_CONSTANT

        def either(context: EdgeContext) -> Any:
            result: Any = False
            for operand in operands:
                result = operand(context)
                if result:
                    return result
            return result

        return either, _NOT_CONSTANT

    def _Compare(self, node: ast.Compare) -> tuple[Evaluator, Any]:
        left = self.evaluator(node.left)
        steps = tuple(
            (_COMPARISONS[type(op)], self.evaluator(right))
            for op, right in zip(node.ops, node.comparators, strict=True)
        )
        if len(steps) == 1:
            compare, right = steps[0]
            return (lambda context: compare(left(context), right(context))), _NOT_CONSTANT

        def chain(context: EdgeContext) -> Any:
            current = left(context)
            for compare, right in steps:
                following = right(context)
                if not compare(current, following):
                    return False
                current = following
            return True

        return chain, _NOT_CONSTANT

    def _elements(self, nodes: list[ast.expr]) -> tuple[tuple[Evaluator, ...], list[Any] | None]:
        """Evaluators of ``nodes``, plus their values when every one of them is a literal."""
        compiled = [self.compile(element) for element in nodes]
        evaluators = tuple(evaluator for evaluator, _ in compiled)
        constants = [constant for _, constant in compiled]
        if any(constant is _NOT_CONSTANT for constant in constants):
            return evaluators, None
        return evaluators, constants

    def _List(self, node: ast.List) -> tuple[Evaluator, Any]:
        evaluators, constants = self._elements(node.elts)
        if constants is not None:
            return self._constant(constants)
        return (lambda context: [item(context) for item in evaluators]), _NOT_CONSTANT

    def _Tuple(self, node: ast.Tuple) -> tuple[Evaluator, Any]:
        evaluators, constants = self._elements(node.elts)
        if constants is not None:
            return self._constant(tuple(constants))
        return (lambda context: tuple(item(context) for item in evaluators)), _NOT_CONSTANT

    def _Set(self, node: ast.Set) -> tuple[Evaluator, Any]:
        evaluators, constants = self._elements(node.elts)
        if constants is not None:
            try:
                return self._constant(frozenset(constants))
            except TypeError:
                raise _Rejected(node, "set elements must be hashable") from None
        return (lambda context: {item(context) for item in evaluators}), _NOT_CONSTANT

    def _Dict(self, node: ast.Dict) -> tuple[Evaluator, Any]:
        if any(key is None for key in node.keys):
            raise _Rejected(node, "unpacking is not allowed")
        keys, constant_keys = self._elements(node.keys)  # type: ignore[arg-type]
        values, constant_values = self._elements(node.values)
        if constant_keys is not None and constant_values is not None:
            try:
                return self._constant(dict(zip(constant_keys, constant_values, strict=True)))
            except TypeError:
                raise _Rejected(node, "dict keys must be hashable") from None
        pairs = tuple(zip(keys, values, strict=True))
        return (lambda context: {key(context): value(context) for key, value in pairs}), (
            _NOT_CONSTANT
        )


def _replace_dollar(source: str) -> str:
    """Replace ``$`` outside string literals by a parseable name (offsets may shift)."""
    out: list[str] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char in "'\"":
            quote = (
                source[index : index + 3] if source[index : index + 3] in ("'''", '"""') else char
            )
            end = index + len(quote)
            while end < length:
                if source[end] == "\\":
                    end += 2
                    continue
                if source.startswith(quote, end):
                    end += len(quote)
                    break
                end += 1
            out.append(source[index:end])
            index = end
        elif char == "$":
            out.append(_DOLLAR)
            index += 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _quote(text: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(text, node)
    if segment is None:
        return text.replace(_DOLLAR, "$")
    return segment.replace(_DOLLAR, "$")


def compile_expression(source: str) -> Evaluator:
    """Check ``source`` against the whitelist and compile it; ``ValueError`` quotes the offending
    part when it is not allowed."""
    if not isinstance(source, str):
        raise TypeError(f"a workflow expression must be a string, got {source!r}")
    if not source.strip():
        raise ValueError("a workflow expression must not be empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"workflow expression is {len(source)} characters long; the limit is"
            f" {MAX_EXPRESSION_LENGTH} (use predicate= for complex conditions)"
        )
    if _DOLLAR in source:
        raise ValueError(f"workflow expression {source!r} uses the reserved name {_DOLLAR!r}")
    text = _replace_dollar(source)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(
            f"workflow expression {source!r} is not valid: {error.msg}"
            f"{_where(error, text.strip())}"
        ) from None
    except (RecursionError, MemoryError):
        raise ValueError(f"workflow expression {source!r} is too deeply nested") from None
    except ValueError as error:  # e.g. a NUL character
        raise ValueError(f"workflow expression {source!r} is not valid: {error}") from None
    try:
        _check_nesting(tree.body)
        return _Compiler().evaluator(tree)
    except _Rejected as rejected:
        raise ValueError(
            f"workflow expression {source!r} is not allowed: {rejected.reason}:"
            f" {_quote(text.strip(), rejected.node)!r}"
        ) from None
    except RecursionError:
        raise ValueError(f"workflow expression {source!r} is too deeply nested") from None


def _check_nesting(root: ast.expr) -> None:
    """Refuse a tree nested deeper than ``MAX_NESTING`` (iteratively: no recursion here)."""
    pending: list[tuple[ast.AST, int]] = [(root, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            raise _Rejected(node, f"this part is nested more than {MAX_NESTING} levels deep")
        pending.extend(
            (child, depth + 1)
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.expr)
        )


def _where(error: SyntaxError, text: str) -> str:
    if error.offset is None or not text:
        return ""
    column = max(error.offset - 1, 0)
    return f" near {text[column : column + 20].replace(_DOLLAR, '$')!r}"


class Expression:
    """A compiled condition. Build it once; evaluate it as often as you like.

    >>> Expression("$.score >= 90").evaluate({"score": 95})
    True
    """

    __slots__ = ("_evaluate", "source")

    def __init__(self, source: str) -> None:
        self._evaluate = compile_expression(source)
        self.source = source

    def __call__(self, context: EdgeContext) -> Any:
        """Evaluate against ``context``; raises ``LookupError`` for a missing key/attribute and
        whatever Python raises for an impossible comparison (``TypeError`` for ``None < 3``)."""
        return self._evaluate(context)

    def evaluate(self, outputs: Any = None, *, inputs: Any = None, state: Any = None) -> Any:
        """Evaluate with ``$``/``outputs`` bound to ``outputs`` (handy in tests)."""
        return self._evaluate(EdgeContext(inputs, outputs, state))

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)
