"""Gradients of gradients, from the same VJP formulas.

`backward()` runs each op's VJP formula on numpy arrays: fast, and it records nothing. Here
the same formulas run a second way, on Tensors. Each formula is compiled again (the same
text) in a scope where `np.exp(x)` is the op `exp` recorded on a Tensor, `np.sum` the op
`sum`, `ops.sigmoid(z)` the op `sigmoid`, and the operators (`dz * y`, `dZ @ W.T`) are the
Tensor's own. So a VJP run on Tensors records the ops it is made of, and the gradient it
returns has a graph of its own: it can be differentiated again. That is how HIPS autograd
gets higher order (its VJPs are written in `autograd.numpy`); there is no second table of
second derivatives.

What a VJP reads is found the same way as in backward: the inputs (now the input Tensors,
so the second derivative flows through them), the output (the output Tensor), parameters
and shapes (as saved), and values the forward computed on the way (`softmax` inside
`log_softmax`): those are computed again as Tensors, by running the statements of the
forward formula that make them, also on Tensors.

    ag.gradients(y, xs, create_graph=True)  # ∂y/∂x for each x, as Tensors that have a graph
    ag.grad(f)(x)                           # ∇f(x); ag.grad(ag.grad(f)) composes
    ag.hvp(f, x, v)                         # H v by double backward, without H
    ag.jacobian(f)(x), ag.hessian(f)(x)     # row by row: for small inputs

`.grad` stays a numpy array: `loss.backward()` is untouched, and records nothing.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import functional
from .engine import Node, Tensor, apply, backward_order, pass_back
from .engine import gradients as engine_gradients
from .errors import BackwardError, InputError, ShapeError
from .formulas import OPS, SCOPE, Op, _assigned, _compiled, _free_names, compile_vjp
from .recording import enable_grad
from .tensor import TensorLike, as_array, as_operand

# ----------------------------------------------------------------------------------------
# `np` and `ops` for formulas run on Tensors
# ----------------------------------------------------------------------------------------

CONSTANT = frozenset(
    {
        *("errstate", "isfinite", "isnan", "isinf", "zeros_like", "ones_like", "eye"),
        *("arange", "zeros", "ones", "result_type", "shape", "ndim", "broadcast_shapes"),
        *("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"),
        *("logical_and", "logical_or", "logical_not", "argmax", "argmin", "count_nonzero"),
    }
)
"""numpy functions whose value is a constant of the graph (booleans, indices, zeros, an
identity matrix, shapes): on Tensors they read `.data`, and nothing is recorded."""

SPELLED = {"sqrt": "sqrt"}
"""numpy functions with no op of their own that an `ag.` function records (`np.sqrt(x)` is
`ag.sqrt(x)`, `x ** 0.5`)."""


class RecordingNumpy:
    """`np` inside a formula run on Tensors. `np.<name>` is, on Tensors, the `ag.` function
    of the op whose `numpy=` names it (`np.exp` → `ag.exp`, `np.concat` → `ag.concat`),
    and numpy's own function when no Tensor is among its arguments. The functions of
    `CONSTANT` read the Tensors' values; numpy's constants and dtypes are numpy's. Any
    other numpy function is refused: it would cut the gradient off (add the op instead)."""

    def __getattr__(self, name: str) -> Any:
        numpy_names = {op.numpy for op in OPS.values() if op.numpy} | set(SPELLED)
        value = getattr(np, name)  # an AttributeError as numpy's for a misspelt name
        if name in numpy_names:
            found: Any = _on_tensors(value, getattr(functional, SPELLED.get(name, name)))
        elif name in CONSTANT:
            found = _on_values(value)
        elif callable(value) and not isinstance(value, type):
            raise NotImplementedError(
                f"np.{name} has no op that records it, so a formula that calls it cannot run "
                f"on Tensors (higher-order gradients): add an Op with numpy={name!r} to the "
                "table (ops.py), or list it in higher.CONSTANT if its value is a constant."
            )
        else:
            found = value  # np.pi, np.intp, np.float32: numbers and dtypes
        setattr(self, name, found)  # looked up once
        return found


def _on_tensors(numpy_function: Callable, recorded: Callable) -> Callable:
    """numpy's function where no argument is a Tensor, else the op that records it (a
    `dtype=` casts the Tensors first: `np.log(x, dtype=float64)`)."""

    def function(*args: Any, **kwargs: Any) -> Any:
        parts = [a for arg in args for a in (arg if isinstance(arg, (list, tuple)) else [arg])]
        if not any(isinstance(a, Tensor) for a in parts):
            return numpy_function(*args, **kwargs)
        dtype = kwargs.pop("dtype", None)
        if dtype is not None:
            args = tuple(
                a.astype(dtype) if isinstance(a, Tensor) and a.dtype != dtype else a for a in args
            )
        return recorded(*args, **kwargs)

    function.__name__ = numpy_function.__name__
    return function


def _on_values(numpy_function: Callable) -> Callable:
    """numpy's function on the values of Tensors: its result is a constant."""

    def function(*args: Any, **kwargs: Any) -> Any:
        return numpy_function(*(a.data if isinstance(a, Tensor) else a for a in args), **kwargs)

    return function


class RecordingOps:
    """`ops.<name>(...)` inside a formula run on Tensors: the op, recorded."""

    def __getattr__(self, name: str) -> Callable:
        return functools.partial(apply, OPS[name])


RECORDING_NAMES = {"np": RecordingNumpy(), "ops": RecordingOps()}
"""What differs in the scope of formulas run on Tensors."""

_VJPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_AGAIN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def recorded_vjps(op: Op) -> tuple[Callable, ...]:
    """The op's VJP formulas, the same text, compiled to run on Tensors (once per op)."""
    vjps = _VJPS.get(op)
    if vjps is None:
        scope = {**SCOPE, **RECORDING_NAMES}
        vjps = _VJPS[op] = tuple(compile_vjp(op, source, scope) for source in op.vjp_sources)
    return vjps


def forward_again(op: Op, names: tuple[str, ...]) -> Callable:
    """A function that computes the forward's values `names` again, on Tensors: the
    statements of the forward formula they come from (and only those), run on Tensors.
    Called with the op's inputs and parameters by name; returns {name: value}."""
    cached = _AGAIN.setdefault(op, {})
    if names not in cached:
        needed, chosen = set(names), []
        for statement in reversed(op.forward_tree):
            if needed & set(_assigned([statement])):
                chosen.append(statement)
                needed |= set(_free_names([statement]))
        lines = op.forward_source.splitlines()
        body = "\n".join(
            "    " + line
            for statement in reversed(chosen)
            for line in lines[statement.lineno - 1 : statement.end_lineno]
        )
        arguments = ", ".join([*op.inputs, *op.params])
        values = ", ".join(f"{n!r}: {n}" for n in names)
        source = f"def again({arguments}):\n{body}\n    return {{{values}}}\n"
        scope = {**SCOPE, **RECORDING_NAMES}
        cached[names] = _compiled(source, f"{op.name} forward, on Tensors", "again", scope)
    return cached[names]


# ----------------------------------------------------------------------------------------
# One step of backward, on Tensors
# ----------------------------------------------------------------------------------------


def _differentiable(value: Any) -> bool:
    """Whether a saved value is numbers a derivative can flow through (a float array)."""
    return isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "fc"


def _operand(op: Op, position: int, x: Any) -> Any:
    """An input as a formula on Tensors takes it: a Tensor that requires grad as it is, any
    other as the array the forward computed with (integers in float64 where the op says)."""
    if isinstance(x, Tensor):
        if x._requires_grad:
            return x
        x = x.data
    x = as_operand(op.name, x)
    if position in op.floats and isinstance(x, np.ndarray) and x.dtype.kind in "iub":
        return x.astype(float)
    return x


class OnTensors:
    """A recorded node as `pass_back` reads it (`op`, `saved`, `edges`), with what its VJPs
    read as Tensors and its VJPs compiled to run on them."""

    __slots__ = ("edges", "op", "saved")

    def __init__(self, node: Node, output: Tensor) -> None:
        op = self.op = node.op
        if node.saved is None:
            raise BackwardError(
                f"gradients: the graph through this {op.name} was already freed by an earlier "
                "backward(). Pass retain_graph=True the first time to go through a graph "
                "twice, or compute the forward pass again."
            )
        values = dict(zip(op.saved_names, node.saved, strict=True))
        if op.variadic:
            inputs = {op.inputs[0]: tuple(_operand(op, 0, x) for x in node.inputs)}
        else:
            inputs = {
                name: _operand(op, k, x)
                for k, (name, x) in enumerate(zip(op.inputs, node.inputs, strict=True))
            }
        again = []
        for name in op.saved_names:
            if name in op.shape_only or name in op.params:
                continue  # shapes and parameters: as saved
            if name in inputs:
                values[name] = inputs[name]
            elif name == op.output:
                values[name] = output
            elif _differentiable(values[name]):
                again.append(name)  # the forward's own value: computed again, on Tensors
        if again:
            values |= forward_again(op, tuple(again))(**inputs, **node.params)
        self.saved = tuple(values[name] for name in op.saved_names)
        vjps = recorded_vjps(op)
        self.edges = tuple((x, i, vjps[0 if op.variadic else i]) for x, i, _ in node.edges)


def recording_step(order: list[Tensor]) -> Callable:
    """The step of backward (`engine.gradients(..., step=)`) that runs each node's VJPs on
    Tensors, for the tensors of `order`: the gradients it passes back are recorded."""
    outputs = {tensor._node: tensor for tensor in order}

    def step(node: Node, g: Any) -> list[tuple[Tensor, Any]]:
        return pass_back(OnTensors(node, outputs[node]), g if isinstance(g, Tensor) else Tensor(g))

    return step


# ----------------------------------------------------------------------------------------
# The public functions
# ----------------------------------------------------------------------------------------


def gradients(
    y: Tensor,
    xs: Tensor | Sequence[Tensor],
    grad: TensorLike | None = None,
    *,
    create_graph: bool = False,
    retain_graph: bool | None = None,
    grad_outputs: TensorLike | None = None,
) -> tuple[Tensor, ...]:
    """∂y/∂x for each x of `xs`, returned (not added into `.grad`), like
    `torch.autograd.grad`.

    y: the Tensor to differentiate; one element, or pass `grad`. xs: a Tensor, or a list
    or tuple of Tensors, each requiring grad. grad: ∂L/∂y, of y's shape (an array, or a
    Tensor whose graph is kept with create_graph=True); the result is then the
    vector-Jacobian product ∂L/∂x = Jᵀ grad. create_graph: run the VJP formulas on Tensors,
    so that each gradient has a graph and can be differentiated again (its ops are
    recorded like any other). retain_graph: keep the graph's saved values for another pass
    (by default only with create_graph, which needs them). grad_outputs: torch's name of
    `grad`.

    Returns a tuple with a Tensor of x's shape and dtype for each x (one x, a Tensor, gives
    a tuple of one, as torch's: `ag.gradients(y, x)[0]`). An x that y does not depend on gets
    zeros (as in HIPS autograd and JAX).
    Without create_graph the gradients are constants and nothing is recorded.
    """
    if not isinstance(y, Tensor):
        raise TypeError(f"gradients: y must be a Tensor, got {type(y).__name__}.")
    if grad_outputs is not None:
        if grad is not None:
            raise TypeError("gradients: give grad or torch's grad_outputs, not both.")
        if isinstance(grad_outputs, (list, tuple)) and len(grad_outputs) == 1:
            grad_outputs = grad_outputs[0]  # torch's form: one per output, here one output
        grad = grad_outputs
    inputs = _inputs("gradients", xs)
    for name, flag in (("create_graph", create_graph), ("retain_graph", retain_graph)):
        if not (isinstance(flag, bool) or (flag is None and name == "retain_graph")):
            raise TypeError(f"gradients: {name} must be True or False, got {flag!r}.")
    keep = create_graph if retain_graph is None else retain_graph
    order = backward_order(y)
    seed = _seed(y, grad, create_graph)
    freed = next((t for t in order if t._node.saved is None), None)
    if freed is not None:
        raise BackwardError(
            f"gradients: the graph through this {freed.node.op.name} was already freed by an "
            "earlier backward(). Pass retain_graph=True the first time to go through a "
            "graph twice, or compute the forward pass again."
        )
    if create_graph:
        with enable_grad():
            found = engine_gradients(y, seed, order, recording_step(order))
    else:
        found = engine_gradients(y, seed, order) if y._requires_grad else {y: seed}
    if not keep:
        for tensor in order:
            tensor._node.saved = None
    return tuple(_result(x, found.get(x), create_graph) for x in inputs)


def _inputs(who: str, xs: Any) -> list[Tensor]:
    if isinstance(xs, Tensor):
        xs = [xs]
    elif not isinstance(xs, (list, tuple)) or not xs:
        raise TypeError(
            f"{who}: xs must be a Tensor or a non-empty list or tuple of Tensors, got "
            f"{type(xs).__name__}{' (empty)' if isinstance(xs, (list, tuple)) else ''}."
        )
    for k, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{who}: xs[{k}] must be a Tensor, got {type(x).__name__}.")
        if not x._requires_grad:
            raise InputError(
                f"{who}: xs[{k}] (shape {x.shape}) does not require grad, so nothing recorded "
                "depends on it; create it with requires_grad=True (or call "
                ".requires_grad_()) before computing y from it."
            )
    return list(xs)


def _seed(y: Tensor, grad: Any, create_graph: bool) -> Any:
    """∂L/∂y: 1 for a one-element y, else `grad` checked (kept a Tensor with create_graph)."""
    if grad is None:
        if y.data.size != 1:
            raise ShapeError(
                f"gradients: y has shape {y.shape}; without grad= it must have one element "
                f"(a loss). Reduce it first (.sum()), or pass grad= of shape {y.shape}: the "
                "result is then the vector-Jacobian product Jᵀ grad."
            )
        seed: Any = np.ones_like(y.data)
    elif isinstance(grad, Tensor) and create_graph:
        seed = grad if grad.dtype == y.dtype else grad.astype(y.dtype)
    else:
        try:
            seed = np.array(as_array(grad, copy=False), dtype=y.dtype)
        except (TypeError, ValueError) as exc:
            raise InputError(f"gradients: grad must be an array of numbers: {exc}") from None
    if seed.shape != y.shape:
        raise ShapeError(
            f"gradients: grad has shape {seed.shape} but y has shape {y.shape}; they must be "
            "equal (grad is ∂L/∂y)."
        )
    return Tensor(seed) if create_graph and not isinstance(seed, Tensor) else seed


def _result(x: Tensor, g: Any, create_graph: bool) -> Tensor:
    """x's gradient as a Tensor of x's shape and dtype: recorded with create_graph, else a
    constant of its own (never an array shared with another gradient)."""
    if g is None:
        return Tensor(np.zeros_like(x.data))
    if not create_graph:
        return Tensor(np.array(getattr(g, "data", g), dtype=x.dtype))
    g = g if isinstance(g, Tensor) else Tensor(np.asarray(g))
    return g if g.dtype == x.dtype else g.astype(x.dtype)


class _Nesting(threading.local):
    depth = 0  # how many grad/hvp/jacobian calls are running f (in this thread)


NESTING = _Nesting()


class _inside:  # noqa: N801 (a context manager)
    """While a grad, hvp or jacobian runs f: a `grad` called inside records its result."""

    def __enter__(self) -> None:
        NESTING.depth += 1

    def __exit__(self, *exc_info: object) -> None:
        NESTING.depth -= 1


def _argument(who: str, args: tuple, argnum: int) -> tuple[Tensor, bool]:
    """The argument to differentiate with respect to, as a Tensor that requires grad, and
    whether the result must be recorded (create_graph): when x already required grad (the
    caller may differentiate the result) or when this call runs inside another `grad`,
    `hvp` or `jacobian` (which will: `grad(grad(f))`, mixed partials, closures)."""
    if not -len(args) <= argnum < len(args):
        raise InputError(
            f"{who}: argnum {argnum} is not a position of the {len(args)} positional "
            f"argument{'s' * (len(args) != 1)} the function was called with."
        )
    x = args[argnum]
    if isinstance(x, Tensor) and x._requires_grad:
        return x, True
    nested = NESTING.depth > 0
    try:
        data = as_array(x.data if isinstance(x, Tensor) else x, copy=True)
    except TypeError as exc:
        raise InputError(f"{who}: argument {argnum} must be numbers: {exc}") from None
    if data.dtype.kind != "f":
        data = data.astype(np.float64)  # integers and booleans: differentiated in float64
    return Tensor(data, requires_grad=True), nested


def _check_function(who: str, f: Any, argnum: Any) -> None:
    if not callable(f):
        raise TypeError(f"{who}: f must be a function of Tensors, got {type(f).__name__}.")
    if isinstance(argnum, bool) or not isinstance(argnum, (int, np.integer)):
        raise TypeError(
            f"{who}: argnum must be the position of one argument (an int), got {argnum!r}."
        )


def _scalar(who: str, y: Any) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"{who}: f must return a Tensor, it returned {type(y).__name__}.")
    if y.data.size != 1:
        raise ShapeError(
            f"{who}: f must return one number (a scalar Tensor), it returned shape {y.shape}; "
            "sum it (f(x).sum() gives the elementwise derivative of an elementwise f), or "
            "use ag.jacobian for a vector-valued f."
        )
    return y


def _called(args: tuple, argnum: int, x: Tensor) -> tuple:
    """The arguments with the one at `argnum` replaced by x."""
    position = argnum % len(args)
    return (*args[:position], x, *args[position + 1 :])


def grad(f: Callable[..., Tensor], argnum: int = 0) -> Callable[..., Tensor]:
    """The gradient of f as a function: `ag.grad(f)(x)` is ∇f(x) = ∂f/∂x, a Tensor of x's
    shape (as HIPS autograd's and JAX's grad). f must return one number.

    argnum: which positional argument to differentiate with respect to. It composes:
    `ag.grad(ag.grad(f))` is the second derivative, because the gradient is recorded
    (create_graph) when x is a Tensor that requires grad or when the call runs inside
    another grad, hvp or jacobian; called at the top with numbers or arrays, it is a
    constant. For an elementwise f, `ag.grad(lambda x: f(x).sum())` is f′ at each element.
    """
    _check_function("grad", f, argnum)

    @functools.wraps(f)
    def gradient(*args: Any, **kwargs: Any) -> Tensor:
        x, nested = _argument("grad", args, argnum)
        with _inside():
            y = _scalar("grad", f(*_called(args, argnum, x), **kwargs))
        if not y._requires_grad:
            return Tensor(np.zeros_like(x.data))  # f does not depend on x
        (g,) = gradients(y, [x], create_graph=nested)
        return g

    gradient.__name__ = gradient.__qualname__ = f"grad({getattr(f, '__name__', 'f')})"
    gradient.__doc__ = f"∇ of {getattr(f, '__name__', 'f')} with respect to argument {argnum}."
    return gradient


def hvp(f: Callable[[Tensor], Tensor], x: TensorLike, v: TensorLike) -> Tensor:
    """The Hessian-vector product H v = ∇(∇f(x) · v), without forming H: one backward that
    records (∇f as a graph), then one backward of that graph with v as its seed. It costs
    about two gradients whatever the size of x.

    f: a function of one Tensor returning one number. x: the point; v: a direction of x's
    shape. Returns a Tensor of x's shape (recorded when x requires grad).
    """
    _check_function("hvp", f, 0)
    x, nested = _argument("hvp", (x,), 0)
    direction = v.data if isinstance(v, Tensor) else v
    try:
        direction = np.asarray(as_array(direction, copy=False), dtype=x.dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"hvp: v must be an array of numbers: {exc}") from None
    if direction.shape != x.shape:
        raise ShapeError(
            f"hvp: v has shape {direction.shape} but x has shape {x.shape}; v is a direction "
            "in x's space, so they must be equal."
        )
    with _inside():
        y = _scalar("hvp", f(x))
    if not y._requires_grad:
        return Tensor(np.zeros_like(x.data))
    (g,) = gradients(y, [x], create_graph=True)
    if not g._requires_grad:
        return Tensor(np.zeros_like(x.data))  # ∇f does not depend on x: f is linear
    seed = v if isinstance(v, Tensor) and nested else direction
    (product,) = gradients(g, [x], grad=seed, create_graph=nested)
    return product


def jacobian(f: Callable[..., Tensor], argnum: int = 0) -> Callable[..., Tensor]:
    """The Jacobian of f as a function: `ag.jacobian(f)(x)[i..., j...] = ∂f(x)[i...]/∂x[j...]`,
    of shape f(x).shape + x.shape, one backward per element of f(x) (row by row): meant for
    small outputs. Recorded when x requires grad (so it can be differentiated again).
    """
    _check_function("jacobian", f, argnum)

    @functools.wraps(f)
    def jacobian_of_f(*args: Any, **kwargs: Any) -> Tensor:
        x, nested = _argument("jacobian", args, argnum)
        with _inside():
            y = f(*_called(args, argnum, x), **kwargs)
        if not isinstance(y, Tensor):
            raise TypeError(f"jacobian: f must return a Tensor, it returned {type(y).__name__}.")
        if not y._requires_grad:
            return Tensor(np.zeros(y.shape + x.shape, dtype=x.dtype))
        rows = []
        for k in range(y.data.size):
            seed = np.zeros(y.shape, dtype=y.dtype)
            seed.flat[k] = 1
            rows += gradients(y, [x], grad=seed, create_graph=nested, retain_graph=True)
        if not rows:
            return Tensor(np.zeros(y.shape + x.shape, dtype=x.dtype))
        return functional.stack(rows).reshape(y.shape + x.shape)

    jacobian_of_f.__name__ = f"jacobian({getattr(f, '__name__', 'f')})"
    return jacobian_of_f


def hessian(f: Callable[..., Tensor], argnum: int = 0) -> Callable[..., Tensor]:
    """The Hessian of f as a function, `jacobian(grad(f))`: `ag.hessian(f)(x)` has shape
    x.shape + x.shape, H[i..., j...] = ∂²f/∂x[i...]∂x[j...]. One double backward per
    element of x: for small inputs (`hvp` gives H v for any size)."""
    _check_function("hessian", f, argnum)
    return jacobian(grad(f, argnum), argnum)


__all__ = ["grad", "gradients", "hessian", "hvp", "jacobian"]
