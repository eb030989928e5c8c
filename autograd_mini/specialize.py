"""An op's formulas made concrete for one recorded node: what is known there, written in.

The op table's formulas are general: `sum`'s VJP reads `np.reshape(dz, kept_shape(x.shape,
axis))`, `pow`'s `dz * (p * x ** (p - 1)) if p != 0 else ...`. At one node of a graph, the
parameters, the shapes and every value computed from them alone are known, so the formula
can say what it does there: `np.reshape(dz, (3, 1))`, `dz * (2 * x ** 1)`. `specialize`
does that on the syntax tree:

- a name whose value is known (a parameter, a shape, a number) becomes that value;
- `x.shape`, `x.ndim`, `x.size`, `x.dtype` (and `x.dtype.kind`) of an array become their
  values;
- a call of a helper or a builtin, arithmetic and comparisons of known values are computed;
- `a if test else b` and `if test:` blocks with a known test keep the branch taken.

Arrays stay names. The drawings, `explain()`, the stepper page and the code printer
(`code.py`) all show rules made this way, so what they show is the formula the engine ran.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import math
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from .formulas import HELPERS, Shaped
from .tensor import TensorAPI

_SHAPE_ATTRIBUTES = ("shape", "ndim", "size", "dtype")
_PURE_BUILTINS = {"tuple", "range", "len", "max", "min", "int", "float", "slice", "abs", "list"}


class Array:
    """An array a formula reads, known by its shape and dtype only (its numbers vary)."""

    def __init__(self, value: Any) -> None:
        self.shape = tuple(np.shape(value))
        self.ndim, self.size = len(self.shape), math.prod(self.shape)
        self.dtype = value.dtype if hasattr(value, "dtype") else np.result_type(value)


class Named:
    """A value a formula reads that code holds under a name: an index array, a condition.
    `specialize` writes the name where the value is read (inside a known tuple too)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Listed(list):
    """A list a node's formulas read (a join's inputs, `parts`), with what `known` and
    `_signature` say of it found once: a join of 20,000 inputs is asked once per input."""

    @functools.cached_property
    def known(self) -> bool:
        return all(known(v) for v in self)

    @functools.cached_property
    def signature(self) -> tuple:
        return tuple(_signature("", v) for v in self)


def known(value: Any) -> bool:
    """Whether a formula may have `value` written in: a number, a shape, a tuple of slices,
    None, a dtype; not an array (its numbers change from call to call)."""
    if isinstance(value, (np.ndarray, np.generic, Array, Shaped, TensorAPI)):
        return False
    if isinstance(value, Listed):
        return value.known
    if isinstance(value, (tuple, list)):
        return all(known(v) for v in value)
    return isinstance(
        value, (int, float, bool, str, slice, type(None), type(Ellipsis), np.dtype, Named)
    )


def literal(value: Any, index: bool = False) -> ast.expr:
    """The expression that writes `value` (a known value) in code; `index`: as the index of
    a subscript, where a slice is written `a:b` (elsewhere `slice(a, b)`)."""
    if isinstance(value, Named):
        return ast.Name(value.name, ast.Load())
    if isinstance(value, np.dtype):
        return ast.Attribute(ast.Name("np", ast.Load()), value.name, ast.Load())
    if isinstance(value, tuple):
        return ast.Tuple([literal(v, index) for v in value], ast.Load())
    if isinstance(value, list):
        return ast.List([literal(v) for v in value], ast.Load())
    if isinstance(value, slice):
        parts = [None if p is None else literal(p) for p in (value.start, value.stop, value.step)]
        if index:
            return ast.Slice(*parts)
        if parts[-1] is None:
            parts.pop()
        parts = [ast.Constant(None) if p is None else p for p in parts]
        return ast.Call(ast.Name("slice", ast.Load()), parts, [])
    if isinstance(value, float) and not np.isfinite(value):
        return ast.parse(f"float({str(value)!r})", mode="eval").body
    return ast.Constant(value)


class _Specializer(ast.NodeTransformer):
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def value_of(self, node: ast.expr) -> tuple[bool, Any]:
        """(True, value) when the expression's value is known here, else (False, None)."""
        if isinstance(node, ast.Constant):
            return True, node.value
        if isinstance(node, ast.Name):
            if node.id in self.values and known(self.values[node.id]):
                return True, self.values[node.id]
            return False, None
        if isinstance(node, ast.Attribute) and node.attr in _SHAPE_ATTRIBUTES:
            value = self.values.get(node.value.id) if isinstance(node.value, ast.Name) else None
            if isinstance(value, (Array, Shaped)):
                return True, getattr(value, node.attr)
        if isinstance(node, ast.Attribute) and node.attr == "kind":  # x.dtype.kind
            is_known, dtype = self.value_of(node.value)
            if is_known and isinstance(dtype, np.dtype):
                return True, dtype.kind
        parts = [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.expr)]
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or not (
                node.func.id in HELPERS or node.func.id in _PURE_BUILTINS
            ):
                return False, None
            parts = [*node.args, *(k.value for k in node.keywords)]
        elif not isinstance(
            node,
            (
                ast.BinOp,
                ast.UnaryOp,
                ast.Compare,
                ast.BoolOp,
                ast.Tuple,
                ast.List,
                ast.Subscript,
                ast.Slice,
                ast.IfExp,
            ),
        ):
            return False, None
        if not all(self.value_of(p)[0] for p in parts):
            return False, None
        names = {**HELPERS, **{n: getattr(builtins, n) for n in _PURE_BUILTINS}}
        names |= {k: v for k, v in self.values.items() if known(v)}
        try:
            value = eval(
                compile(ast.Expression(_plain(node, self.values)), "<known>", "eval"), names
            )
        except Exception:
            return False, None
        return known(value), value

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        is_known, test = self.value_of(node.test)
        if is_known:
            return self.visit(node.body if test else node.orelse)
        return self.generic_visit(node)

    def visit_If(self, node: ast.If) -> Any:
        is_known, test = self.value_of(node.test)
        if not is_known:
            return self.generic_visit(node)
        kept = []
        for statement in node.body if test else node.orelse:
            done = self.visit(statement)
            kept += done if isinstance(done, list) else [done]
        return kept

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        node.value = self.visit(node.value)
        is_known, index = self.value_of(node.slice)
        if is_known:
            single = isinstance(index, tuple) and len(index) == 1
            node.slice = literal(index[0] if single else index, index=True)
        else:
            node.slice = self.visit(node.slice)
        return node

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.expr) and not isinstance(node, (ast.Constant, ast.Slice)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                return node
            is_known, value = self.value_of(node)
            a_dtype = isinstance(node, ast.Attribute) and node.attr == "dtype"
            if is_known and not a_dtype and not _inexact_division(node, value):
                return literal(value)
        return super().visit(node)


def _inexact_division(node: ast.expr, value: Any) -> bool:
    """Whether `node` divides and `value` is not a whole number: `2 / 3` reads better than
    0.6666666666666666 (and Python computes the same float from it)."""
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and isinstance(value, float)
        and not value.is_integer()
    )


def _plain(node: ast.expr, values: Mapping[str, Any]) -> ast.expr:
    """The expression with `x.shape` (and ndim, size, dtype) of arrays written in, to eval."""

    class Written(ast.NodeTransformer):
        def visit_Attribute(self, n: ast.Attribute) -> ast.AST:
            if n.attr in _SHAPE_ATTRIBUTES and isinstance(n.value, ast.Name):
                value = values.get(n.value.id)
                if isinstance(value, (Array, Shaped)) and n.attr != "dtype":
                    return ast.Constant(getattr(value, n.attr))
            inner = n.value
            if n.attr == "kind" and isinstance(inner, ast.Attribute) and inner.attr == "dtype":
                value = values.get(inner.value.id) if isinstance(inner.value, ast.Name) else None
                if isinstance(value, (Array, Shaped)):
                    return ast.Constant(value.dtype.kind)
            return self.generic_visit(n)

    return ast.fix_missing_locations(Written().visit(copy.deepcopy(node)))


def specialize(statements: list[ast.stmt], values: Mapping[str, Any]) -> list[ast.stmt]:
    """The statements with what `values` makes known written in (see the module's doc).

    values: name → value for the names of the formulas: parameters, numbers, shapes, and
    arrays (or `Array`s) for the names whose numbers vary."""
    names = _NAMES.get(id(statements))
    if names is None:
        names = _NAMES[id(statements)] = tuple(
            dict.fromkeys(
                node.id for s in statements for node in ast.walk(s) if isinstance(node, ast.Name)
            )
        )
    key = (id(statements), *(_signature(name, values.get(name)) for name in names))
    source = _DONE.get(key)
    if source is None:
        done: list[ast.stmt] = []
        transformer = _Specializer(values)
        for statement in copy.deepcopy(statements):
            result = transformer.visit(statement)
            done += result if isinstance(result, list) else [result]
        source = _DONE[key] = "\n".join(ast.unparse(ast.fix_missing_locations(s)) for s in done)
    return ast.parse(source).body  # a tree of its own each time: callers change it


_DONE: dict[tuple, str] = {}
"""Formulas already made concrete, by the formula and what is known of each of its names
(the op table's formulas live as long as the program: their ids stay theirs)."""

_NAMES: dict[int, tuple[str, ...]] = {}
"""The names each formula reads or writes, by the formula."""


def _signature(name: str, value: Any) -> tuple:
    """What `specialize` may write in for a value: itself when known, else its shape and
    dtype (an array's numbers are never written in)."""
    if isinstance(value, (Array, Shaped)):
        return (name, "array", value.shape, value.dtype)
    if isinstance(value, Named):
        return (name, "named", value.name)
    if isinstance(value, Listed):
        return (name, "list", value.signature)
    if isinstance(value, list):
        return (name, "list", tuple(_signature("", v) for v in value))
    if known(value):
        return (name, "known", repr(value), type(value).__name__)
    return (name, "other", id(value), value)  # (the value kept: its id stays its own)


def node_values(tensor: Any) -> dict[str, Any]:
    """name → value for the formulas of the op that made `tensor`: its inputs, parameters,
    output, the output's gradient (an `Array` of the output's shape) and what the forward
    saved (computed again from the inputs when backward has freed it). Found once per node
    (a join's rule is asked for each of its inputs); each call gives a dict of its own."""
    values = _NODE_VALUES.get(tensor.node)
    if values is None:
        values = _NODE_VALUES[tensor.node] = _node_values(tensor)
    return dict(values)


_NODE_VALUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""node_values by node, for as long as the node lives."""


def _node_values(tensor: Any) -> dict[str, Any]:
    node = tensor.node
    op = node.op
    inputs = [x.data if isinstance(x, TensorAPI) else x for x in node.inputs]
    values: dict[str, Any] = dict(node.params)
    if op.variadic:
        values[op.inputs[0]] = Listed(Array(x) for x in inputs)
    else:
        values.update({name: _value(x) for name, x in zip(op.inputs, inputs, strict=True)})
        values.update({f"d{name}": Array(x) for name, x in zip(op.inputs, inputs, strict=True)})
    saved = node.saved
    if saved is None:
        with np.errstate(all="ignore"):
            saved = op.forward(*inputs, **node.params)[1]
    values.update({name: _value(v) for name, v in zip(op.saved_names, saved, strict=True)})
    values[op.output] = Array(tensor.data)
    values[op.grad_name] = Array(tensor.data)
    return values


def _value(x: Any) -> Any:
    """A value as `specialize` takes it: known ones as they are, arrays as `Array`s, and
    anything else (an index holding an array) as an opaque name."""
    if isinstance(x, list) and not isinstance(x, Listed):
        x = Listed(x)
    if known(x) or isinstance(x, Shaped):
        return x
    if isinstance(x, (np.ndarray, np.generic, TensorAPI, float, int)):
        return Array(x)
    return _OPAQUE


_OPAQUE = object()


def rule(tensor: Any, position: int) -> str:
    """The VJP formula of input `position` of the op that made `tensor`, as it runs there."""
    node = tensor.node
    op = node.op
    values = node_values(tensor)
    tree = op.vjp_trees[0 if op.variadic else position]
    if op.variadic:
        values = {**values, "i": position}
    return "\n".join(ast.unparse(s) for s in specialize(tree, values))
