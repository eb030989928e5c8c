"""`Tensor`: a numpy array that records the ops applied to it, and `backward()`.

Recording: `apply(op, *inputs, **params)` runs the op's forward on the inputs' arrays and,
when some input requires grad, hangs a `Node` on the result: the op, its inputs, what its
VJPs saved, and for each input that requires grad the VJP that computes its gradient.

Backward: the recorded tensors behind the loss are collected (without recursion, so a chain
of 100,000 ops is fine) and visited newest first. Ops are recorded after their inputs, so
that order is topological (`backward_order` gives it): when a tensor's turn comes, every op
that used it has passed its gradient back, and the contributions have been summed. Its
node's VJPs then run once, and pass the gradient on to its inputs.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Union

import numpy as np

from . import ops
from .broadcasting import unbroadcast
from .errors import AnomalyError, AutogradError, BackwardError, ShapeError
from .ops import Op
from .recording import RECORDING_ORDER, STATE

TensorLike = Union["Tensor", np.ndarray, float, int, Sequence]


class Node:
    """One recorded op: which op made a tensor, from which inputs, and what its VJPs need.

    op: the `Op`. inputs: its inputs as given (Tensors and constants). params: its keyword
    parameters (an axis, a reduction). saved: what its forward saved for the VJPs; None once
    `backward()` has used it (unless `retain_graph=True`). edges: (input, VJP, broadcasts)
    for each input that requires grad, the paths gradients flow back along; `broadcasts`
    when the op lets numpy stretch that input (its gradient is then summed back). scope:
    the labels of the scopes it was recorded in (module names, for drawings). sequence: its
    place in the order ops were recorded. fingerprints: checksums of the saved arrays,
    taken only inside `detect_anomaly()`. Nodes are made by `apply`, never by hand.
    """

    __slots__ = (
        "edges",
        "fingerprints",
        "inputs",
        "op",
        "params",
        "saved",
        "scope",
        "sequence",
    )

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
    """A numpy scalar or a list given as an operand, as forward() sees it."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (list, tuple)):
        return _to_array(x, copy=False)
    raise TypeError(
        f"unsupported operand of type {type(x).__name__}: expected a Tensor, a number or an array."
    )


def apply(op: Op, *inputs: Any, **params: Any) -> Tensor:
    """Run `op` on the inputs (Tensors or constants); record it when a gradient is needed."""
    if len(inputs) != len(op.vjps):
        raise TypeError(
            f"{op.name} takes {len(op.vjps)} inputs, got {len(inputs)}."
            if op.per_call is None
            else f"{op.name} takes any number of inputs: apply op.for_call(shapes, **params), "
            f"which makes one VJP per input (as ag.{op.name} does)."
        )
    arrays = []
    edges = []  # (input, its VJP, may numpy stretch it) for each input that requires grad
    for position, x in enumerate(inputs):
        if isinstance(x, Tensor):
            arrays.append(x.data)
            if x._requires_grad:
                edges.append((x, op.vjps[position], position in op.broadcasts))
        elif isinstance(x, (np.ndarray, float, int)):
            arrays.append(x)  # Python numbers stay weak: float32 + 2.0 is float32
        else:
            arrays.append(_constant(x))
    try:
        out, saved = op.forward(*arrays, **params)
    except AutogradError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise op.on_error(op.name, exc, arrays) from exc

    result = Tensor.__new__(Tensor)  # filled in here: no checks needed on a fresh result
    result.data = out if type(out) is np.ndarray else np.asarray(out)
    result._grad = None
    result._retains_grad = False
    result.name = None
    result._node = None
    result._requires_grad = False
    state = STATE
    if state.detect_anomaly:
        _check_finite(result.data, f"{op.name} produced a non-finite output", arrays)
    if edges and state.grad_enabled:
        node = Node()
        node.op, node.inputs, node.params, node.saved = op, inputs, params, saved
        node.edges, node.scope = tuple(edges), state.scope
        node.sequence = next(RECORDING_ORDER)  # later than every input's: a topological order
        node.fingerprints = _fingerprints(saved) if state.detect_anomaly else None
        result._node = node
        result._requires_grad = True
    return result


class Tensor:
    """An n-dimensional array of numbers that remembers how it was computed.

    `Tensor(data, requires_grad=False, name=None)`. float32 and float64 arrays keep their
    dtype; Python numbers, lists and bools become float64; integer arrays stay integers
    (constants and labels; they cannot require grad). A tensor that requires grad owns a
    copy of its data, so in-place updates (`W.data -= lr * W.grad`) never touch the caller's
    array; a constant wraps the given array without copying.

    `.data` is the array itself. Changing it in place between the forward pass and
    `backward()` changes what the VJPs read, so the gradients would no longer be those of
    the loss that was computed: update parameters after `backward()`, or run the pass
    inside `detect_anomaly()`, which refuses a backward pass whose saved arrays changed.
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
    def node(self) -> Node | None:
        """The recorded op that computed this tensor (None for a leaf)."""
        return self._node

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
        self._grad = np.array(array, dtype=self.dtype)

    @property
    def retains_grad(self) -> bool:
        """True when this intermediate result keeps its `.grad` (see `retain_grad()`)."""
        return self._retains_grad

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

    def __float__(self) -> float:
        """`float(loss)`: the value of a one-element tensor (see `item`)."""
        return float(self.item())

    def __int__(self) -> int:
        """`int(t)`: the value of a one-element tensor, truncated like int(2.7) == 2."""
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """`f"{loss:.4f}"` formats a one-element tensor's value; no spec gives `str(self)`."""
        if not spec:
            return str(self)
        if self.data.size != 1:
            raise TypeError(
                f"format: the spec {spec!r} applies to one number, but this tensor has shape "
                f"{self.shape}; format t.numpy() or an element of it instead."
            )
        return format(self.item(), spec)

    # Comparisons give numpy arrays of booleans, like numpy's, and are never recorded (they
    # have no gradient). Tensors stay hashable by identity: the engine keeps them in dicts.

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> np.ndarray:  # type: ignore[override]
        return np.equal(self.data, _compared(other))

    def __ne__(self, other: object) -> np.ndarray:  # type: ignore[override]
        return np.not_equal(self.data, _compared(other))

    def __lt__(self, other: TensorLike) -> np.ndarray:
        return np.less(self.data, _compared(other))

    def __le__(self, other: TensorLike) -> np.ndarray:
        return np.less_equal(self.data, _compared(other))

    def __gt__(self, other: TensorLike) -> np.ndarray:
        return np.greater(self.data, _compared(other))

    def __ge__(self, other: TensorLike) -> np.ndarray:
        return np.greater_equal(self.data, _compared(other))

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
    # Operators: Python numbers, lists and arrays are accepted on either side
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

    def __pow__(self, exponent: TensorLike) -> Tensor:
        """`x ** p` for a number p (op pow: dx = dz ⊙ p·x^(p−1), any base), or `x ** y`
        for a tensor or array y (op power, broadcasting; it needs x > 0, because
        dy = dz ⊙ z ⊙ ln x, and refuses a base ≤ 0)."""
        if isinstance(exponent, np.generic) or (
            isinstance(exponent, np.ndarray) and exponent.ndim == 0
        ):
            exponent = exponent.item()
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            return apply(ops.pow_, self, p=exponent)
        return apply(ops.power, self, exponent)

    def __rpow__(self, base: TensorLike) -> Tensor:
        """`b ** x` for a positive number or array b (op power: dx = dz ⊙ z ⊙ ln b)."""
        return apply(ops.power, base, self)

    def __abs__(self) -> Tensor:
        return apply(ops.abs_, self)

    def __neg__(self) -> Tensor:
        return apply(ops.neg, self)

    def __getitem__(self, index: Any) -> Tensor:
        return apply(ops.getitem, self, index=_index_arrays(index))

    # ------------------------------------------------------------------------------------
    # Elementwise functions, reductions, shapes
    # ------------------------------------------------------------------------------------

    def exp(self) -> Tensor:
        """e^x, elementwise."""
        return apply(ops.exp, self)

    def log(self) -> Tensor:
        """Natural logarithm, elementwise."""
        return apply(ops.log, self)

    def sigmoid(self) -> Tensor:
        """a = σ(z) = 1/(1 + e^(−z)), elementwise; σ′(z) = a(1 − a). Stable for any z."""
        return apply(ops.sigmoid, self)

    def tanh(self) -> Tensor:
        """a = tanh(z), elementwise; tanh′(z) = 1 − a²."""
        return apply(ops.tanh, self)

    def relu(self) -> Tensor:
        """a = max(z, 0), elementwise; the gradient at exactly 0 is taken as 0."""
        return apply(ops.relu, self)

    def abs(self) -> Tensor:
        """|x|, elementwise; dx = dz ⊙ sign(x), taken as 0 at x = 0 (the kink)."""
        return apply(ops.abs_, self)

    def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor:
        """x limited to [lo, hi] (None leaves a side open), elementwise, as numpy's clip.

        dx = dz where lo ≤ x ≤ hi, 0 outside. At exactly x = lo or x = hi the gradient is
        taken as dz (the bounds count as inside, as in PyTorch). lo > hi is refused.
        """
        return apply(ops.clip, self, lo=lo, hi=hi)

    def log1p(self) -> Tensor:
        """ln(1 + x), elementwise, accurate for tiny x; dx = dz / (1 + x)."""
        return apply(ops.log1p, self)

    def expm1(self) -> Tensor:
        """e^x − 1, elementwise, accurate for tiny x; dx = dz ⊙ e^x = dz ⊙ (z + 1)."""
        return apply(ops.expm1, self)

    def leaky_relu(self, slope: float = 0.01) -> Tensor:
        """a = z where z > 0, else slope·z, elementwise; dz = da there, da ⊙ slope elsewhere
        (slope at exactly z = 0, as in PyTorch)."""
        return apply(ops.leaky_relu, self, slope=slope)

    def softplus(self) -> Tensor:
        """a = ln(1 + e^z), elementwise, a smooth relu; dz = da ⊙ σ(z). Computed as
        max(z, 0) + ln(1 + e^(−|z|)), which never overflows (softplus(1000) = 1000)."""
        return apply(ops.softplus, self)

    def sqrt(self) -> Tensor:
        """√x, elementwise (as x ** 0.5)."""
        return self**0.5

    def astype(self, dtype: Any) -> Tensor:
        """A differentiable cast, e.g. to float32; the gradient is cast back."""
        return apply(ops.astype, self, dtype=np.dtype(dtype))

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over `axis` (all axes when None)."""
        return apply(ops.sum_, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over `axis` (all axes when None)."""
        return apply(ops.mean, self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over `axis`; the gradient goes to the maximum, split evenly among ties."""
        return apply(ops.max_, self, axis=axis, keepdims=keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Minimum over `axis`; the gradient goes to the minimum, split evenly among ties."""
        return apply(ops.min_, self, axis=axis, keepdims=keepdims)

    def var(
        self, axis: int | tuple[int, ...] | None = None, *, ddof: int = 0, keepdims: bool = False
    ) -> Tensor:
        """Variance over `axis`: z = Σ (x − mean)² / (n − ddof), n the elements per output.

        dx = dz ⊙ 2(x − mean) / (n − ddof). ddof=0 (numpy's default) is the biased variance
        that batch norm normalises with in training; ddof=1 (Bessel's correction, the default
        of torch.var) is the unbiased estimate, which PyTorch's batch norm keeps only in its
        running variance. ddof ≥ n is refused. ddof and keepdims are keywords only, so that
        torch's `x.var(0, 1)` (unbiased, over dim 0) cannot silently mean keepdims=1.
        """
        return apply(ops.var, self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(
        self, axis: int | tuple[int, ...] | None = None, *, ddof: int = 0, keepdims: bool = False
    ) -> Tensor:
        """Standard deviation over `axis`: z = √(Σ (x − mean)² / (n − ddof)) (see `var` for
        ddof; batch norm uses ddof=0 in training).

        dx = dz ⊙ (x − mean) / ((n − ddof)·z). Where z = 0 (every x equal to the mean) the
        standard deviation has no derivative (a kink, like |x| at 0); the gradient is taken
        as 0 there, where the formula would give 0/0 = nan. (Equal values whose mean rounds,
        such as three times 0.1, give a z of the size of the rounding error instead, and a
        gradient of at most 1/√(n − ddof) per element that follows the rounding, as in numpy.)
        """
        return apply(ops.std, self, axis=axis, keepdims=keepdims, ddof=ddof)

    def logsumexp(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Tensor:
        """z = ln Σ e^x over `axis` (all axes when None), shifted by the maximum so that it
        never overflows; dx = dz ⊙ softmax(x) = dz ⊙ e^(x − z). Over values that are all
        −inf (masked out) it gives −inf with gradient 0; a +inf gives +inf, with a nan
        gradient at the +inf."""
        return apply(ops.logsumexp, self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """The same values in a new shape: `t.reshape(2, 3)` or `t.reshape((2, 3))`."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(ops.reshape, self, shape=shape)

    def flatten(self) -> Tensor:
        """The values as one axis, `(2, 3, 4) → (24,)`; dx = dz reshaped back."""
        return apply(ops.flatten, self)

    def squeeze(self, axis: int | tuple[int, ...] | None = None) -> Tensor:
        """Drop axes of size 1 (all of them when `axis` is None); dx = dz with them put back."""
        return apply(ops.squeeze, self, axis=axis)

    def expand_dims(self, axis: int | tuple[int, ...]) -> Tensor:
        """Insert axes of size 1 at `axis`, `(3,) → (1, 3)` for axis 0, as numpy's
        expand_dims (torch's unsqueeze); dx = dz without them."""
        return apply(ops.expand_dims, self, axis=axis)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes, `(2, 3, 4) → (4, 3, 2)` for (0, 2): what torch's
        `transpose(0, 2)` does. dx = dz with the axes swapped back."""
        return apply(ops.swapaxes, self, axis1=axis1, axis2=axis2)

    def transpose(self, *axes: int | tuple[int, ...]) -> Tensor:
        """Permute the axes (reverse them when none are given), as numpy's transpose.

        The axes are a full permutation: `x.transpose(1, 2, 0)` of `(2, 3, 4)` is `(3, 4, 2)`.
        This is not torch's `transpose(0, 1)`, which swaps two axes: on a matrix,
        `x.transpose(0, 1)` is the identity permutation and returns x's values unchanged, on
        more axes it is an error. To swap two axes use `swapaxes(0, 1)` (or `.T` for a
        matrix). dx = dz transposed back.
        """
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply(ops.transpose, self, axes=axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy's name)
        """The axes reversed: `(m, n) → (n, m)`."""
        return self.transpose()

    def softmax(self, axis: int = -1) -> Tensor:
        """e^x / Σ e^x along `axis`, computed from x − max(x) so it never overflows."""
        return apply(ops.softmax, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x − ln Σ e^x along `axis`, stable for any x."""
        return apply(ops.log_softmax, self, axis=axis)

    # ------------------------------------------------------------------------------------
    # Backward
    # ------------------------------------------------------------------------------------

    def backward(
        self,
        grad: TensorLike | None = None,
        retain_graph: bool = False,
        recorder: Callable[[Tensor, Any, list], Any] | None = None,
    ) -> None:
        """Accumulate ∂self/∂leaf into the `.grad` of every leaf that requires grad.

        grad: ∂L/∂self for some downstream L, with self's shape; optional when self has
        one element (then 1). The graph's saved arrays are released as their VJPs run;
        pass `retain_graph=True` to call `backward()` through the same graph again.
        recorder: called after each step as `recorder(tensor, g, passed)`, with the tensor
        whose node's VJPs ran, g = ∂L/∂tensor (the sum of what its users passed back), and
        `passed`, the (input, ∂L/∂input) pairs it passed on, in input order: how
        `check_backward` and the stepper page watch the engine's own numbers. It must not
        change the arrays (copy what it keeps).
        """
        if not self._requires_grad:
            raise BackwardError(
                "backward: this tensor does not require grad: nothing it was computed from "
                "has requires_grad=True (or it was computed inside no_grad()). Create the "
                "parameters with Tensor(..., requires_grad=True)."
            )
        if grad is None and self.data.size == 1:  # a loss: ∂L/∂L = 1
            seed = np.array(1, dtype=self.data.dtype).reshape(self.data.shape)
        else:
            seed = self._seed_gradient(grad)
        if self._node is None:
            self._accumulate_grad(seed, False)
            return
        passed = None
        anomaly = STATE.detect_anomaly
        grads = {self: seed}  # recorded tensor → the sum of the gradients passed back so far
        for tensor in _topological_order(self):
            g = grads.pop(tensor)
            node = tensor._node
            if tensor._retains_grad:
                tensor._accumulate_grad(g, False)
            if node.fingerprints is not None:
                _check_unchanged(node)
            if recorder is not None:
                passed = []
            for x, vjp, broadcasts in node.edges:
                gx = vjp(g, *node.saved)
                if broadcasts and gx.shape != x.data.shape:  # numpy stretched x (a bias
                    gx = unbroadcast(gx, x.data.shape)  # added to every row): sum it back
                if anomaly:
                    what = f"the gradient that {node.op.name} passed back is non-finite"
                    _check_finite(np.asarray(gx), what, [x.data])
                if passed is not None:
                    passed.append((x, gx))
                if x._node is None:  # a leaf: into its .grad
                    x._accumulate_grad(gx, gx is not g)
                elif x in grads:  # a tensor used by several ops: the contributions add up
                    grads[x] = grads[x] + gx
                else:
                    grads[x] = gx
            if recorder is not None:
                recorder(tensor, g, passed)
            if not retain_graph:
                node.saved = None

    def _seed_gradient(self, grad: TensorLike | None) -> np.ndarray:
        if grad is None:
            raise BackwardError(
                f"backward: this tensor has shape {self.shape}; backward() without a "
                "gradient needs a scalar (one element). Reduce it first (e.g. a loss, or "
                f".sum()), or pass backward(grad=...) with an array of shape {self.shape}."
            )
        seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
        if seed.shape != self.shape:
            raise ShapeError(
                f"backward: grad has shape {seed.shape} but the tensor has shape {self.shape}; "
                "they must be equal (the gradient of the loss with respect to this tensor)."
            )
        return seed.astype(self.data.dtype, copy=False)

    def _accumulate_grad(self, g: Any, fresh: bool) -> None:
        """Add g to `.grad`, never writing into an array. The first g is kept as it is when
        it is `fresh` (made by a VJP for this tensor alone, not passed through) and an
        array of its own with this tensor's dtype; otherwise `.grad` gets a copy."""
        dtype = self.data.dtype
        if self._grad is not None:
            self._grad = np.asarray(self._grad + g, dtype=dtype)
        elif fresh and type(g) is np.ndarray and g.base is None and g.dtype == dtype:
            self._grad = g
        else:
            self._grad = np.array(g, dtype=dtype)


def _compared(other: Any) -> Any:
    """The other side of a comparison as numpy takes it."""
    if isinstance(other, Tensor):
        return other.data
    if isinstance(other, (list, tuple)):
        return np.asarray(other)
    return other


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
        for x, _, _ in node.edges:
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


# ----------------------------------------------------------------------------------------
# detect_anomaly(): non-finite numbers, and saved arrays changed in place
# ----------------------------------------------------------------------------------------


def _check_finite(array: np.ndarray, what: str, arrays: Sequence) -> None:
    if np.isfinite(array).all():
        return
    bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0]) if array.ndim else ()
    shapes = " and ".join(str(np.shape(a)) for a in arrays)
    raise AnomalyError(
        f"detect_anomaly: {what} ({array[bad]} at index {bad}, shape {array.shape}; "
        f"inputs of shapes {shapes})."
    )


def _fingerprint(value: Any) -> Any:
    """A checksum of an array (of each array in a tuple of saved values), None for the rest."""
    if isinstance(value, np.ndarray):
        return zlib.crc32(np.ascontiguousarray(value).view(np.uint8))
    if isinstance(value, tuple):
        return tuple(_fingerprint(v) for v in value)
    return None


def _fingerprints(saved: tuple) -> tuple:
    """The checksums of what an op saved, checked again before its VJPs run."""
    return _fingerprint(saved)


def _check_unchanged(node: Node) -> None:
    """Refuse to run node's VJPs on saved arrays that changed since the forward pass."""
    for position, (value, before) in enumerate(zip(node.saved, node.fingerprints, strict=True)):
        if before is None or _fingerprint(value) == before:
            continue
        arrays = (
            [value]
            if isinstance(value, np.ndarray)
            else [v for v in value if isinstance(v, np.ndarray)]
        )
        owners = [
            f"input {i}" + (f" ({x.name!r})" if x.name else "") + f" of shape {x.shape}"
            for i, x in enumerate(node.inputs)
            if isinstance(x, Tensor) and any(np.may_share_memory(x.data, a) for a in arrays)
        ]
        whose = owners[0] if owners else "its output"
        raise AnomalyError(
            f"detect_anomaly: {node.op.name} saved an array for its backward pass (saved "
            f"value {position}, {whose}) that was changed in place after the forward pass "
            "(e.g. by .data -= ... or out=); its gradients would be silently wrong. Change "
            ".data only after backward(), or compute the forward pass again."
        )
