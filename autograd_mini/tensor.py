"""`Tensor`: a numpy array that records the ops applied to it, and `backward()`.

Recording: `apply(op, *inputs, **params)` runs the op's forward on the inputs' arrays and,
when some input requires grad, hangs a `Node` (op, inputs, saved arrays) on the result.
Backward: the recorded tensors behind the loss are collected (without recursion, so a chain
of 100,000 ops is fine) and visited newest first: ops are recorded after their inputs, so
that is a topological order (`backward_order` gives it). Each node's VJPs run once, and
gradients are summed where a tensor fed several ops.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from operator import attrgetter
from typing import Any, Union

import numpy as np

from . import ops
from .errors import AnomalyError, AutogradError, BackwardError, ShapeError
from .ops import Op
from .recording import RECORDING_ORDER, STATE

TensorLike = Union["Tensor", np.ndarray, float, int, Sequence]


class Node:
    """One recorded op: which op made a tensor, from which inputs, what its VJPs need.

    `edges` pairs each input that requires grad with its VJP: the paths gradients flow
    back along. `saved` becomes None once `backward()` has used it (unless
    `retain_graph=True`); `scope` holds the labels of the modules being called (drawings);
    `sequence` numbers the nodes in the order they were recorded. Nodes are made by the
    engine only, when it records an op (`_record`).
    """

    __slots__ = ("edges", "inputs", "op", "params", "saved", "scope", "sequence")

    def __repr__(self) -> str:
        return f"Node({self.op.name}, inputs={len(self.inputs)}, freed={self.saved is None})"


def _to_array(data: Any, copy: bool) -> np.ndarray:
    """numpy arrays keep their dtype; Python numbers, bools and lists become float64."""
    if isinstance(data, np.ndarray):
        array = np.array(data) if copy else data
    elif isinstance(data, np.generic):
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Tensor: cannot make a float64 array from {type(data).__name__} ({exc})."
            ) from None
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"Tensor: data of dtype {array.dtype} is not supported; use float32 or float64 "
            "(integers and bools are kept for constants and labels)."
        )
    return array


def _constant(x: Any) -> Any:
    """A non-Tensor operand as forward() sees it."""
    if isinstance(x, (float, int, np.ndarray)):
        return x  # Python scalars stay weak: float32 + 2.0 is float32
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (list, tuple)):
        return _to_array(x, copy=False)
    raise TypeError(
        f"unsupported operand of type {type(x).__name__}: expected a Tensor, a number or an array."
    )


def apply(op: Op, *inputs: Any, **params: Any) -> Tensor:
    """Run `op` on the inputs (Tensors or constants) and record it when a gradient is needed."""
    vjps = op.vjps
    if len(inputs) != len(vjps):
        raise TypeError(f"{op.name} takes {len(vjps)} inputs, got {len(inputs)}.")
    arrays = []
    edges = ()  # (input, its VJP) for each input that requires grad
    for position, x in enumerate(inputs):
        if isinstance(x, Tensor):
            arrays.append(x.data)
            if x._requires_grad:
                edges += ((x, vjps[position]),)
        else:
            arrays.append(_constant(x))
    try:
        out, saved = op.forward(*arrays, **params)
    except AutogradError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise op.on_error(op.name, exc, arrays) from exc
    return _record(op, out, saved, inputs, edges, params)


def apply_to(op: Op, x: Tensor, **params: Any) -> Tensor:
    """`apply` for an op whose only input is the Tensor x (the Tensor methods): no input loop."""
    try:
        out, saved = op.forward(x.data, **params)
    except AutogradError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise op.on_error(op.name, exc, [x.data]) from exc
    return _record(op, out, saved, (x,), ((x, op.vjps[0]),) if x._requires_grad else (), params)


def _record(op: Op, out: Any, saved: tuple, inputs: tuple, edges: tuple, params: dict) -> Tensor:
    """Wrap `out` in a Tensor and, when some input requires grad, hang the op's Node on it."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    state = STATE
    if state.detect_anomaly:
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        _check_finite(out, f"{op.name} produced a non-finite output", arrays)
    result = Tensor.__new__(Tensor)
    result.data = out
    result._grad = None
    result.name = None
    result._retains_grad = False
    if edges and state.grad_enabled:
        result._requires_grad = True
        result._node = node = Node()
        node.op = op
        node.inputs = inputs
        node.edges = edges
        node.saved = saved
        node.params = params
        node.scope = state.scope
        node.sequence = next(RECORDING_ORDER)  # later than every input's: a topological order
    else:
        result._requires_grad = False
        result._node = None
    return result


def _check_finite(array: np.ndarray, what: str, arrays: Sequence) -> None:
    if np.isfinite(array).all():
        return
    bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0]) if array.ndim else ()
    shapes = " and ".join(str(np.shape(a)) for a in arrays)
    raise AnomalyError(
        f"detect_anomaly: {what} ({array[bad]} at index {bad}, shape {array.shape}; "
        f"inputs of shapes {shapes})."
    )


class Tensor:
    """An n-dimensional array of numbers that remembers how it was computed.

    `Tensor(data, requires_grad=False, name=None)`. float32 and float64 arrays keep their
    dtype; Python numbers, lists and bools become float64; integer arrays stay integers
    (constants and labels; they cannot require grad). A tensor that requires grad owns a
    copy of its data, so in-place updates (`W.data -= lr * W.grad`) never touch the caller's
    array; a constant wraps the given array without copying.
    """

    __slots__ = ("__weakref__", "_grad", "_node", "_requires_grad", "_retains_grad", "data", "name")

    __array_ufunc__ = None  # numpy defers to Tensor's operators: ndarray + Tensor -> Tensor

    def __init__(
        self, data: TensorLike, requires_grad: bool = False, name: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = _to_array(data, copy=requires_grad)
        self._grad: np.ndarray | None = None
        self._node: Node | None = None
        self._retains_grad = False
        self._requires_grad = False
        self.requires_grad = requires_grad
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Tensor: name must be a string, got {type(name).__name__}.")
        self.name = name

    # ------------------------------------------------------------------------------------
    # Attributes
    # ------------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def requires_grad(self) -> bool:
        """True for parameters and for every tensor computed from one (while recording)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs floating-point data, got {self.data.dtype}: "
                "gradients of integers are not defined. Convert first, e.g. "
                "Tensor(x.astype(np.float64), requires_grad=True)."
            )
        if not value and self._node is not None:
            raise BackwardError(
                "requires_grad can only be switched off on a leaf tensor; "
                "use .detach() to get a copy of this result that is cut from the graph."
            )
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        """True unless this tensor was computed by a recorded op."""
        return self._node is None

    @property
    def op(self) -> str | None:
        """The name of the op that computed this tensor (None for a leaf)."""
        return None if self._node is None else self._node.op.name

    @property
    def grad(self) -> np.ndarray | None:
        """∂loss/∂self after `backward()`: an array of this tensor's shape and dtype, or None.

        Leaves that require grad get it; intermediate results only after `retain_grad()`.
        It accumulates over `backward()` calls: set it to None (or `zero_grad()`) between.
        """
        if self._grad is None and self._node is not None and not self._retains_grad:
            warnings.warn(
                "the .grad of a non-leaf tensor is not kept; call .retain_grad() on it "
                "before backward() to keep it.",
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value: TensorLike | None) -> None:
        if value is None:
            self._grad = None
            return
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.shape != self.shape:
            raise ShapeError(
                f"grad: cannot set a gradient of shape {array.shape} on a tensor of shape "
                f"{self.shape}."
            )
        self._grad = array.astype(self.dtype, copy=False)

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this intermediate result at the next `backward()`."""
        if self._node is not None:
            self._retains_grad = True
        return self

    def detach(self) -> Tensor:
        """The same data (not copied) as a constant: no graph, `requires_grad=False`."""
        return Tensor(self.data, name=self.name)

    def numpy(self) -> np.ndarray:
        """The tensor's own array (not a copy)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item: only a tensor with exactly one element has an item, this one has "
                f"shape {self.shape}."
            )
        return self.data.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2, separator=", ")
        body = body.replace("\n", "\n" + " " * 7)
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.name is not None:
            extras.append(f"name={self.name!r}")
        if self._requires_grad:
            extras.append("requires_grad=True")
        if self._node is not None:
            extras.append(f"op={self._node.op.name}")
        return f"Tensor({body}, {', '.join(extras)})"

    # ------------------------------------------------------------------------------------
    # Operators: Python scalars, lists and arrays are accepted on either side
    # ------------------------------------------------------------------------------------

    def __add__(self, other: TensorLike) -> Tensor:
        return apply(ops.add, self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return apply(ops.add, other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return apply(ops.sub, self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return apply(ops.sub, other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return apply(ops.mul, self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return apply(ops.mul, other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return apply(ops.div, self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return apply(ops.div, other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return apply(ops.matmul, self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return apply(ops.matmul, other, self)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, np.generic) or (
            isinstance(exponent, np.ndarray) and exponent.ndim == 0
        ):
            exponent = exponent.item()
        if not isinstance(exponent, (int, float)) or isinstance(exponent, bool):
            raise TypeError(
                f"pow: the exponent must be a Python number, got {type(exponent).__name__}; "
                "for a tensor exponent write exp(b * log(a))."
            )
        return apply_to(ops.pow_, self, exponent=exponent)

    def __rpow__(self, base: float) -> Tensor:
        if not isinstance(base, (int, float)) or base <= 0:
            raise TypeError(f"pow: base ** tensor needs a positive number as base, got {base!r}.")
        return (self * float(np.log(base))).exp()

    def __neg__(self) -> Tensor:
        return apply_to(ops.neg, self)

    def __getitem__(self, index: Any) -> Tensor:
        return apply_to(ops.getitem, self, index=_index_arrays(index))

    # ------------------------------------------------------------------------------------
    # Elementwise functions, reductions, shapes
    # ------------------------------------------------------------------------------------

    def exp(self) -> Tensor:
        """e^x, elementwise."""
        return apply_to(ops.exp, self)

    def log(self) -> Tensor:
        """Natural logarithm, elementwise."""
        return apply_to(ops.log, self)

    def sigmoid(self) -> Tensor:
        """σ(x) = 1/(1 + e^(−x)), elementwise; σ′(x) = σ(x)(1 − σ(x)). Stable for any x."""
        return apply_to(ops.sigmoid, self)

    def tanh(self) -> Tensor:
        """tanh(x), elementwise; tanh′(x) = 1 − tanh²(x)."""
        return apply_to(ops.tanh, self)

    def relu(self) -> Tensor:
        """max(x, 0), elementwise; the gradient at exactly 0 is taken as 0."""
        return apply_to(ops.relu, self)

    def sqrt(self) -> Tensor:
        """√x, elementwise (as x ** 0.5)."""
        return self**0.5

    def astype(self, dtype: Any) -> Tensor:
        """A differentiable cast, e.g. to float32; the gradient is cast back."""
        return apply_to(ops.astype, self, dtype=np.dtype(dtype))

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over `axis` (all axes when None)."""
        return apply_to(ops.sum_, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over `axis` (all axes when None)."""
        return apply_to(ops.mean, self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over `axis`; the gradient goes to the maximum, split evenly among ties."""
        return apply_to(ops.max_, self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """The same values in a new shape: `t.reshape(2, 3)` or `t.reshape((2, 3))`."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply_to(ops.reshape, self, shape=shape)

    def transpose(self, *axes: int | tuple[int, ...]) -> Tensor:
        """Permute the axes (reverse them when none are given), as numpy's transpose."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply_to(ops.transpose, self, axes=axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy's name)
        """The axes reversed: `(m, n) → (n, m)`."""
        return self.transpose()

    def softmax(self, axis: int = -1) -> Tensor:
        """e^x / Σ e^x along `axis`, computed from x − max(x) so it never overflows."""
        return apply_to(ops.softmax, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x − ln Σ e^x along `axis`, stable for any x."""
        return apply_to(ops.log_softmax, self, axis=axis)

    def draw(self, **options: Any) -> Any:
        """The computation graph behind this tensor (`autograd_mini.draw(self, **options)`)."""
        from .drawing import draw  # imported on use: the engine does not need graphviz

        return draw(self, **options)

    # ------------------------------------------------------------------------------------
    # Backward
    # ------------------------------------------------------------------------------------

    def backward(self, grad: TensorLike | None = None, retain_graph: bool = False) -> None:
        """Accumulate ∂self/∂leaf into the `.grad` of every leaf that requires grad.

        grad: ∂L/∂self for some downstream L, with self's shape; optional when self has
        one element (then 1). The graph's saved arrays are released as their VJPs run;
        pass `retain_graph=True` to call `backward()` through the same graph again.
        """
        if not self._requires_grad:
            raise BackwardError(
                "backward: this tensor does not require grad: nothing it was computed from "
                "has requires_grad=True (or it was computed inside no_grad()). Create the "
                "parameters with Tensor(..., requires_grad=True)."
            )
        if grad is None and self.data.ndim == 0:  # a scalar loss, the usual root: dL/dL = 1
            seed = np.array(1, self.data.dtype)  # (much cheaper than np.ones_like)
        else:
            seed = self._seed_gradient(grad)
        if self._node is None:
            self._accumulate_grad(seed, shared=True)
            return
        order = _topological_order(self)
        check_anomaly = STATE.detect_anomaly
        grads = {self: seed}  # non-leaf tensor -> the sum of the gradients passed back so far
        shared = {self}  # non-leaf tensors whose gradient array is also someone else's (the
        # seed, or an array a VJP passed through unchanged): copied if it becomes a .grad
        for tensor in order:
            g = grads.pop(tensor)
            node = tensor._node
            if tensor._retains_grad:
                tensor._accumulate_grad(g, shared=tensor in shared)
            saved = node.saved
            if node.op.prepare is not None:  # a fused op's shared first step, e.g. δ
                g = node.op.prepare(g, *saved)
            for x, vjp in node.edges:
                gx = vjp(g, *saved)
                if check_anomaly:
                    what = f"the gradient that {node.op.name} passed back is non-finite"
                    _check_finite(np.asarray(gx), what, [x.data])
                if x._node is None:  # a leaf: its .grad accumulates right away
                    if x._grad is None and gx is not g and _private(gx, x):
                        x._grad = gx  # the usual first gradient, a fresh array: kept as is
                    else:
                        x._accumulate_grad(gx, shared=gx is g)
                elif x in grads:
                    grads[x] = grads[x] + gx  # a new array
                    shared.discard(x)
                else:
                    grads[x] = gx
                    if gx is g:
                        shared.add(x)
            if not retain_graph:
                node.saved = None

    def _seed_gradient(self, grad: TensorLike | None) -> np.ndarray:
        if grad is None:
            if self.data.size != 1:
                raise BackwardError(
                    f"backward: this tensor has shape {self.shape}; backward() without a "
                    "gradient needs a scalar (one element). Reduce it first (e.g. a loss, or "
                    f".sum()), or pass backward(grad=...) with an array of shape {self.shape}."
                )
            return np.ones_like(self.data)
        seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
        if seed.shape != self.shape:
            raise ShapeError(
                f"backward: grad has shape {seed.shape} but the tensor has shape {self.shape}; "
                "they must be equal (the gradient of the loss with respect to this tensor)."
            )
        return seed.astype(self.dtype, copy=False)

    def _accumulate_grad(self, g: Any, shared: bool) -> None:
        """Add g to `.grad`; keep g itself only when no one else can see that array (not
        `shared`, not a view, the right dtype), else a copy. Never writes into an array."""
        current = self._grad
        if current is not None:
            total = current + g
            self._grad = total if total.dtype == self.data.dtype else total.astype(self.data.dtype)
        elif shared or not _private(g, self):
            self._grad = np.array(g, dtype=self.data.dtype)
        else:
            self._grad = g


def _private(g: Any, owner: Tensor) -> bool:
    """Whether g can become owner's .grad as it is: an array of its own (not a view of
    another) with owner's dtype. (Whether someone else holds it is tracked separately.)"""
    return type(g) is np.ndarray and g.base is None and g.dtype == owner.data.dtype


def _index_arrays(index: Any) -> Any:
    """An index as numpy takes it: Tensors inside it become their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _topological_order(root: Tensor, allow_freed: bool = False) -> list[Tensor]:
    """The recorded tensors `root` depends on through edges, newest first: each comes before
    the tensors it was computed from, the order backward() runs their VJPs in.

    Collects them with a worklist (no recursion: a chain of 100,000 ops is fine) and sorts
    them by the order they were recorded in, latest first. Unless `allow_freed`, refuses a
    graph that an earlier backward() released, before any gradient is written. Tensors
    are hashed by identity (Tensor defines no __eq__).
    """
    found = [root]
    seen = {root}
    for tensor in found:  # the list grows while it is walked
        node = tensor._node
        if node.saved is None and not allow_freed:
            raise BackwardError(
                f"backward: the graph through this {node.op.name} was already freed by an "
                "earlier backward(). Pass backward(retain_graph=True) the first time to go "
                "through a graph twice, or compute the forward pass again."
            )
        for x, _ in node.edges:
            if x._node is not None and x not in seen:
                seen.add(x)
                found.append(x)
    found.sort(key=_recorded_at, reverse=True)
    return found


_recorded_at = attrgetter("_node.sequence")


def backward_order(root: Tensor) -> list[Tensor]:
    """The recorded tensors behind `root`, in the order `root.backward()` runs their VJPs.

    Works before and after backward() (the structure of the graph outlives its saved arrays).
    """
    if root._node is None:
        return []
    return _topological_order(root, allow_freed=True)
