"""`Op`: one primitive, its math written once as formulas, and the functions made from them.

An op is declared by its signature, its forward formula and one VJP formula per input:

    Op("sigmoid(z)",
       forward="a = 1 / (1 + np.exp(-z))",
       vjps=["dz = da * (a * (1 - a))"])

The formulas are Python statements on numpy arrays. The forward assigns the output last
(here `a`); the VJP of input `z` assigns `dz` from `da`, the gradient of the output, and
from any name the forward knew: the inputs, the parameters, the output, the forward's own
intermediate values. Which values the VJPs read is found from the formulas themselves, and
the forward keeps exactly those for the backward pass (`saved_names`).

Every reader of the op reads these formulas: the engine runs the functions compiled from
them (`forward`, `vjps`), `explain()`, the drawings and the page print them as the rule,
`backward_code` turns them into straight-line numpy, and higher-order gradients run the same
VJPs on Tensors.

Names a formula may use besides those: `np` (numpy), `math` (for constants that keep float32
as it is: `math.log(2)` is a Python float, `np.log(2)` a float64 that promotes float32),
`ops.<name>(...)` (another op's value, as `ops.sigmoid(z)`), the helpers of `HELPERS` (pure
Python on shapes and parameters, such as `kept_shape`), and Python's builtins. An op of any
number of inputs takes `*xs`; its one VJP assigns `dxs[i]`, the gradient of the i-th input.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import math
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

OPS: dict[str, Op] = {}
"""Every primitive by name: the table that the gradient tests are checked against."""

HELPERS: dict[str, Callable] = {}
"""The helpers formulas may call: pure functions of shapes and parameters (see `helper`)."""


class Shaped:
    """What a VJP keeps of a value whose shape alone it reads (`x.shape` in `dx =
    np.reshape(dz, x.shape)`): its shape, ndim, size and dtype, not its numbers."""

    __slots__ = ("dtype", "ndim", "shape", "size")

    def __init__(self, value: Any) -> None:
        self.shape = np.shape(value)
        self.ndim, self.size = len(self.shape), math.prod(self.shape)
        self.dtype = np.result_type(value)

    def __repr__(self) -> str:
        return f"Shaped({self.shape}, {self.dtype})"


class _Namespace:
    """`ops.<name>` inside formulas: each op's value, looked up when the formula runs."""

    def __getattr__(self, name: str) -> Callable:
        return OPS[name].value


REQUIRED = inspect.Parameter.empty
"""The default of a parameter that has none."""

SCOPE: dict[str, Any] = {"np": np, "math": math, "ops": _Namespace(), "Shaped": Shaped}
"""The globals of the functions compiled from formulas (the helpers are added as made)."""


def helper(function: Callable) -> Callable:
    """Make `function` callable by name in formulas. It must be pure Python on shapes,
    axes and parameters (never on arrays): the code printer evaluates it where it is called,
    and prints its value."""
    HELPERS[function.__name__] = SCOPE[function.__name__] = function
    return function


class Op:
    """A primitive: its signature, its forward formula and one VJP formula per input.

    signature: `"name(inputs..., params...)"`, the public function's signature
    (`"var(x, axis=None, *, ddof=0, keepdims=False)"`). The inputs are the names whose
    gradient a VJP assigns; the other names are parameters, passed by keyword.
    forward: statements that assign the output last. vjps: one formula per input, in order.
    broadcasts: the inputs numpy may stretch to the output's shape (their VJPs give the
    output's shape, and the engine sums the gradient back). stretch(i, input shapes, output
    shape): the shape input i is stretched to, where it is not the output's (matmul's
    batch axes). check(*arrays, **params): run before the forward, raises a clear error for
    what the op cannot take and returns the parameters normalised (an axis as a tuple).
    error(name, exc, arrays): the error to raise when numpy's forward fails. method: the op
    is also a Tensor method (`t.sigmoid()`). function: the op is an `ag.` function (not for
    those recorded by an operator). floats: integer and bool inputs are computed in float64
    (numpy gives float16 for int8): True for every input, or the names of those that are
    (`("z",)`: not the class labels). numpy: the numpy function this op is (`"exp"`), for
    VJPs run on Tensors. random: its parameters hold numbers drawn anew at each call (dropout's
    mask), which a compiled step would freeze. aliases: other names of the op (torch's `asin`
    for `arcsin`), each a method and a function where the op is one. activation: it is an
    elementwise activation a = f(z) (an `nn` layer, `ag.ACTIVATIONS`), and mistakes are what
    learners get wrong in its VJP, as (what is wrong, the wrong VJP formula), for the checkers.
    doc: what it computes, in a line.
    """

    def __init__(
        self,
        signature: str,
        forward: str,
        vjps: Sequence[str],
        *,
        broadcasts: Sequence[str] = (),
        check: Callable[..., dict[str, Any]] | None = None,
        stretch: Callable[[int, list, tuple], tuple] | None = None,
        error: Callable[[Exception, list], Exception] | None = None,
        method: bool = False,
        function: bool = True,
        floats: bool | tuple[str, ...] = False,
        numpy: str | None = None,
        random: bool = False,
        aliases: Sequence[str] = (),
        activation: bool = False,
        mistakes: Sequence[tuple[str, str]] = (),
        doc: str = "",
    ) -> None:
        definition = ast.parse(f"def {signature}: pass").body[0]
        self.name: str = definition.name
        self.signature = signature
        self.forward_source = textwrap.dedent(forward).strip()
        self.vjp_sources = tuple(textwrap.dedent(v).strip() for v in vjps)
        self.forward_tree = tuple(ast.parse(self.forward_source).body)
        self.vjp_trees = tuple(tuple(ast.parse(v).body) for v in self.vjp_sources)
        arguments = definition.args
        self.variadic = arguments.vararg is not None
        if self.variadic:
            self.inputs: tuple[str, ...] = (arguments.vararg.arg,)
        else:
            self.inputs = tuple(_vjp_target(tree)[1:] for tree in self.vjp_trees)
        named = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
        defaults = [None] * (len(arguments.args) - len(arguments.defaults))
        defaults += [*arguments.defaults, *arguments.kw_defaults]
        self.defaults = {  # each parameter's default (REQUIRED where it has none)
            a.arg: REQUIRED if d is None else ast.literal_eval(d)
            for a, d in zip(named, defaults, strict=True)
            if a.arg not in self.inputs
        }
        self.params = tuple(self.defaults)
        self.output = _assigned(self.forward_tree)[-1]
        self.grad_name = "d" + self.output
        self.broadcasts = tuple(self.inputs.index(name) for name in broadcasts)
        self.check = check
        self.stretch = stretch
        self.error = error
        self.method = method
        self.function = function
        self.floats = tuple(  # the positions of the inputs computed in float64
            i for i, name in enumerate(self.inputs) if floats is True or name in (floats or ())
        )
        self.numpy = numpy
        self.random = random
        self.aliases = tuple(aliases)
        self.activation = activation
        self.mistakes = tuple(mistakes)
        self.doc = doc
        if self.name in OPS:
            raise ValueError(f"op {self.name} is already defined")
        if len(self.vjp_trees) != (1 if self.variadic else len(self.inputs)):
            raise ValueError(f"op {self.name}: give one VJP per input")
        known = {*self.inputs, *self.params, *_assigned(self.forward_tree)}
        needed = dict.fromkeys(n for tree in self.vjp_trees for n in _free_names(tree))
        gradients = {self.grad_name, "i", *(f"d{x}" for x in self.inputs)}
        self.saved_names = tuple(n for n in needed if n in known)
        self.shape_only = tuple(n for n in self.saved_names if _shape_only(n, self.vjp_trees))
        for name in [*needed, *_free_names(self.forward_tree)]:
            if name in gradients:
                continue
            if name not in known and name not in SCOPE and not hasattr(builtins, name):
                raise NameError(f"op {self.name}: the formulas use {name!r}, which is undefined")
        self.forward = self._compile_forward()
        self.vjps = tuple(self._compile_vjp(k) for k in range(len(self.vjp_trees)))
        OPS[self.name] = self

    @property
    def rules(self) -> tuple[str, ...]:
        """Each VJP formula as written: the rule `explain()` and the drawings show."""
        return self.vjp_sources

    def value(self, *arrays: Any, **params: Any) -> Any:
        """The forward's output alone, for `ops.<name>(...)` in other formulas."""
        return self.forward(*arrays, **params)[0]

    def stretched(self, i: int, shapes: list[tuple], out: tuple) -> tuple[int, ...]:
        """The shape of input i's gradient before the engine sums it back to `shapes[i]`:
        the shape numpy stretched the input to (its own shape when it is not stretched)."""
        if i not in self.broadcasts:
            return tuple(shapes[i])
        return tuple(self.stretch(i, shapes, out) if self.stretch else out)

    def vjp(self, i: int) -> Callable:
        """The VJP function of input i: `vjp(i, g, *saved) -> ∂L/∂input_i`."""
        return self.vjps[0 if self.variadic else i]

    def _compile_forward(self) -> Callable:
        inputs = f"*{self.inputs[0]}" if self.variadic else ", ".join(self.inputs)
        params = "".join(
            f", {p}" if d is REQUIRED else f", {p}={d!r}" for p, d in self.defaults.items()
        )
        arguments = inputs + (params if self.variadic else f", *{params}" if params else "")
        saved = "".join(
            f"Shaped({name}), " if name in self.shape_only else f"{name}, "
            for name in self.saved_names
        )
        body = textwrap.indent(self.forward_source, "    ")
        source = f"def forward({arguments}):\n{body}\n    return {self.output}, ({saved})\n"
        return _compiled(source, f"{self.name} forward", "forward")

    def _compile_vjp(self, k: int) -> Callable:
        return compile_vjp(self, self.vjp_sources[k])

    def __repr__(self) -> str:
        return f"Op({self.signature!r})"


def compile_vjp(op: Op, formula: str, scope: dict[str, Any] | None = None) -> Callable:
    """A VJP formula of `op` (its own, or another one: a learner's mistake) as the function
    `vjp(i, d<output>, *saved)` the engine calls. `scope`: the names it runs with (SCOPE;
    higher-order gradients pass one whose `np` and `ops` record on Tensors)."""
    formula = textwrap.dedent(formula).strip()
    tree = ast.parse(formula).body
    target = _vjp_target(tree)
    known = (op.grad_name, "i", target, *op.saved_names)
    unknown = [n for n in _free_names(tree) if n not in known]
    unknown = [n for n in unknown if n not in SCOPE and not hasattr(builtins, n)]
    if unknown:
        raise NameError(
            f"op {op.name}: {formula!r} reads {unknown[0]!r}, which the op does not save"
        )
    last = tree[-1]
    passed_on = isinstance(last, ast.Assign) and isinstance(last.value, ast.Name)
    if passed_on and last.value.id in op.saved_names:  # backward keeps a VJP's new array
        raise ValueError(f"op {op.name}: {formula!r} must compute a new array, not pass one on")
    if op.variadic:  # `dxs[i] = ...` assigns a plain local instead
        formula = formula.replace(f"{target}[i]", target, 1)
    parameters = ", ".join(["i", op.grad_name, *op.saved_names])
    body = textwrap.indent(formula, "    ")
    source = f"def vjp({parameters}):\n{body}\n    return {target}\n"
    label = f"{op.name} vjp of {target[1:]}" + ("" if scope is None else ", on Tensors")
    return _compiled(source, label, "vjp", scope)


def _compiled(source: str, label: str, name: str, scope: dict[str, Any] | None = None) -> Callable:
    """The function `name` defined by `source` (run with the names of `scope`, SCOPE by
    default), with tracebacks that show its lines."""
    filename = f"<formula: {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), SCOPE if scope is None else scope, namespace)
    return namespace[name]


def called(node: ast.AST, module: str) -> str | None:
    """`name` when `node` is a call `module.name(...)` (`np.exp(x)`, `ops.sigmoid(z)`)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == module
    ):
        return node.func.attr
    return None


def _assigned(statements: list[ast.stmt]) -> list[str]:
    """The names the statements assign, in order (inside `with` and `if` blocks too)."""
    found = []
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Assign):
                found += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return found


def _free_names(statements: list[ast.stmt]) -> list[str]:
    """The names the statements read without binding them, in order."""
    assigned = {
        node.id
        for statement in statements
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    return [
        node.id
        for statement in statements
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in assigned
    ]


def _shape_only(name: str, trees: Sequence[list[ast.stmt]]) -> bool:
    """Whether the formulas read only `name.shape` (or ndim, size, dtype) of `name`."""
    uses = [
        node
        for tree in trees
        for statement in tree
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and node.id == name
    ]
    through = {
        id(node.value)
        for tree in trees
        for statement in tree
        for node in ast.walk(statement)
        if isinstance(node, ast.Attribute) and node.attr in ("shape", "ndim", "size", "dtype")
    }
    return all(id(node) in through for node in uses)


def _vjp_target(statements: list[ast.stmt]) -> str:
    """The gradient a VJP formula assigns last: `dx` (or `dxs` for `dxs[i] = ...`)."""
    last = statements[-1]
    while isinstance(last, (ast.If, ast.With)):
        last = last.body[-1]
    target = last.targets[0] if isinstance(last, ast.Assign) else None
    if isinstance(target, ast.Subscript):
        target = target.value
    if not isinstance(target, ast.Name) or not target.id.startswith("d"):
        raise ValueError(f"a VJP formula must end by assigning d<input>: {ast.unparse(last)}")
    return target.id
