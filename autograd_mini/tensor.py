"""The Tensor API: its properties, operators and methods (the class itself is in engine.py).

Every operator and method records an op of the op table through the engine's `apply`:
`a + b` is `add`, `x @ W` is `matmul`, `x[0]` is `getitem`. The methods that are ops of the
table with `method=True` (`t.sigmoid()`, `t.sum(axis=0)`) are made from their entries at
the end of this file, with the op's signature and docstring; the rest are spelled out here.
"""

from __future__ import annotations

import ast
import warnings
from collections import namedtuple
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from . import ops  # noqa: F401 (importing the op table fills OPS)
from .errors import BackwardError, InputError, ShapeError
from .formulas import OPS, REQUIRED, Op
from .recording import STATE

TensorLike = Union["TensorAPI", np.ndarray, float, int, Sequence]


def as_array(data: Any, copy: bool) -> np.ndarray:
    """A Tensor's array: numpy arrays keep their dtype (integers and bools too: constants and
    labels), Python numbers, bools and lists become float64. float16, longdouble, complex,
    strings, objects, None and masked arrays are refused; numpy subclasses become arrays."""
    if isinstance(data, TensorAPI):
        data = data.data
    if type(data) is np.ndarray:  # the common case: an op's result
        array = np.array(data) if copy else data  # (a copy keeps the memory order)
    elif isinstance(data, np.ndarray):
        array = np.array(data, subok=False) if copy else np.asarray(data)  # np.matrix too
        if isinstance(data, np.ma.MaskedArray):
            raise TypeError("Tensor: masked arrays are not supported; fill the masked values.")
    elif isinstance(data, np.generic):
        array = np.asarray(data)
    else:
        if isinstance(data, ValuesIndices):
            raise TypeError(_PAIR)
        if data is None or (isinstance(data, (list, tuple)) and _holds_none(data)):
            raise TypeError("Tensor: None is not a number; give numbers (or np.nan).")
        if type(data).__module__.split(".")[0] == "torch":
            raise TypeError(
                f"Tensor: a torch.{type(data).__name__} is not an array here; convert it with "
                ".detach().numpy() (autograd_mini computes on numpy arrays)."
            )
        if not isinstance(data, (int, float, list, tuple)):
            raise TypeError(
                f"Tensor: cannot make a float64 array from {type(data).__name__}; give a "
                "number, a list of numbers or a numpy array."
            )
        try:
            array = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Tensor: cannot make a float64 array from {type(data).__name__} ({exc})."
            ) from None
    kind = array.dtype.kind
    if kind not in "fiub" or (kind == "f" and array.dtype.itemsize not in (4, 8)):  # float16 too
        raise TypeError(
            f"Tensor: data of dtype {array.dtype} is not supported; use float32 or float64 "
            "(integers and bools are kept for constants and labels)."
        )
    return array


def _check_fits(data: np.ndarray, dtype: np.dtype) -> None:
    """Refuse floats that `dtype`, an integer dtype, cannot hold: numpy would wrap them."""
    info = np.iinfo(dtype)
    whole = np.trunc(data)  # what the cast keeps
    fits = (whole >= float(info.min)) & (whole < float(info.max + 1))  # False for NaN
    if not fits.all():
        at = tuple(int(i) for i in np.argwhere(~fits)[0])
        raise InputError(
            f"astype: {data[at]} at index {at} has no {dtype} value (from {info.min} to "
            f"{info.max}; NaN and inf have none), numpy would make it another number; clip "
            "or replace it first (x.clip(lo, hi), ag.where)."
        )


def _holds_none(data: Sequence) -> bool:
    return any(x is None or (isinstance(x, (list, tuple)) and _holds_none(x)) for x in data)


def as_operand(name: str, x: Any) -> Any:
    """A constant operand as op `name`'s forward sees it: Python numbers stay numbers (weak:
    float32 + 2.0 stays float32), arrays and lists become arrays of a supported dtype (or
    float16, which numpy promotes with the float32 or float64 it meets)."""
    if isinstance(x, (float, int)) and not isinstance(x, bool):
        return x
    if isinstance(x, np.generic) and x.dtype.kind in "fiu" and x.dtype.itemsize <= 8:
        return x.item()  # (not a longdouble: its item() stays one, and is refused below)
    if isinstance(x, np.ndarray) and x.dtype == np.float16 and type(x) is np.ndarray:
        return x  # a constant: numpy promotes it with the float32 or float64 it meets
    try:
        return as_array(x, copy=False)
    except TypeError as exc:
        raise TypeError(
            f"{name}: unsupported operand of type {type(x).__name__}: "
            f"{str(exc).removeprefix('Tensor: ')}"
        ) from None


def seed_gradient(root: TensorAPI, grad: Any, order: list, create_graph: Any = False) -> Any:
    """∂L/∂root to start backward from: 1 for a one-element root, else `grad`, checked; or
    the error that says why backward cannot start (a graph an earlier backward() freed)."""
    if create_graph is not False:
        raise BackwardError(
            "backward: create_graph=True is spelled ag.gradients(loss, [x, ...], "
            "create_graph=True) here: it returns the gradients as Tensors with their graph, to "
            "differentiate again (or ag.grad(f), ag.hvp), and .grad stays a numpy array."
        )
    kept = all(t._node.saved is not None for t in order)
    if grad is None and root._requires_grad and root.data.size == 1 and kept:
        return np.ones_like(root.data)
    freed = next((t for t in order if t._node.saved is None), None)
    if freed is not None:
        raise BackwardError(
            f"backward: the graph through this {freed.node.op.name} was already freed by an "
            "earlier backward(). Pass backward(retain_graph=True) the first time to go "
            "through a graph twice, or compute the forward pass again."
        )
    if not root.requires_grad:
        raise BackwardError(
            "backward: this tensor does not require grad: nothing it was computed from "
            "has requires_grad=True (or it was computed inside no_grad()). Create the "
            "parameters with Tensor(..., requires_grad=True)."
        )
    if grad is None:
        if root.size != 1:
            raise BackwardError(
                f"backward: this tensor has shape {root.shape}; backward() without a "
                "gradient needs a scalar (one element). Reduce it first (e.g. a loss, or "
                f".sum()), or pass backward(grad=...) with an array of shape {root.shape}."
            )
        return np.ones_like(root.data)
    try:
        seed = as_array(grad, copy=False)  # numbers only: a complex seed is not made real
    except TypeError as exc:
        raise BackwardError(
            f"backward: grad must be an array of real numbers: {str(exc).removeprefix('Tensor: ')}"
        ) from None
    if seed.shape != root.shape:
        raise ShapeError(
            f"backward: grad has shape {seed.shape} but the tensor has shape {root.shape}; "
            "they must be equal (the gradient of the loss with respect to this tensor)."
        )
    return np.array(seed, dtype=root.dtype)  # a copy: a leaf's .grad may become this array


def _compared(other: Any) -> Any:
    """The other side of a comparison as numpy takes it."""
    if isinstance(other, TensorAPI):
        return other.data
    return np.asarray(other) if isinstance(other, (list, tuple)) else other


def _index(index: Any) -> Any:
    """An index as numpy takes it: Tensors inside it become their arrays, lists arrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, TensorAPI):
        if index.data.dtype.kind == "f":
            raise IndexError(
                f"index: a Tensor of {index.data.dtype} cannot index; indices are integers (or "
                "bools). Tensor([...]) makes Python numbers float64: make indices with "
                "ag.tensor([...]) or np.array([...]), or cast with idx.astype(int)."
            )
        return index.data
    return np.asarray(index) if isinstance(index, list) else index


_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "true_divide": "/"}
_OPERATORS |= {"power": "**", "matmul": "@", "dot": "@", "inner": "@"}
_RENAMED = {"absolute": "abs", "negative": "neg", "concat": "concatenate", "amax": "max"}
_RENAMED |= {"amin": "min", "add.reduce": "sum", "multiply.reduce": "prod"}
_RENAMED |= {"maximum.reduce": "max", "minimum.reduce": "min", "add.accumulate": "cumsum"}


def _not_recorded(name: str, out: bool) -> str:
    """Why numpy's `name` on a Tensor is refused, and what to write instead."""
    why = (
        f"np.{name} on a Tensor is not recorded: its result would be a plain array, cut from "
        "the graph, and no gradient would flow back through it. "
    )
    plain = f"call np.{name} on t.data for a plain array"
    if out:
        return why + f"Give the result a new name (a = a + t, not out=), or {plain}."
    if name in _OPERATORS:
        return why + f"Use the operator, t {_OPERATORS[name]} y, or {plain}."
    op = _RENAMED.get(name, name)
    if op == "neg":
        return why + f"Use -t, or {plain}."
    spellings = [f"t.{op}(...)"] if hasattr(TensorAPI, op) else []
    spellings += [f"ag.{op}(...)"] if op in OPS and OPS[op].function else []
    if spellings:
        return why + f"Use {' or '.join(spellings)}, or {plain}."
    return why + f"autograd_mini has no op {name}: {plain}, or write it with the ops there are."


def _plain(value: Any) -> Any:
    """`value` with each Tensor in it (in a tuple, list or dict too) as its array."""
    if isinstance(value, TensorAPI):
        return value.data
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_READ_ONLY = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory}
_READ_ONLY |= {np.shares_memory, np.iscomplexobj, np.isrealobj, np.allclose, np.isclose}
_READ_ONLY |= {np.array_equal, np.array_equiv, np.array2string, np.array_repr, np.array_str}
_READ_ONLY |= {np.broadcast_arrays, np.nonzero, np.count_nonzero, np.argwhere, np.flatnonzero}
_READ_ONLY |= {np.argmax, np.argmin, np.argsort, np.any, np.all, np.isin}
"""numpy functions that give shapes, indices or booleans: run on a Tensor's data."""

_PREDICATES = {np.isfinite, np.isnan, np.isinf, np.signbit, np.logical_not}
_PREDICATES |= {np.logical_and, np.logical_or, np.logical_xor}
"""numpy ufuncs that give booleans: run on a Tensor's data, as comparisons are."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""The default of a torch keyword: not given."""


def flag(where: str, name: str, value: Any, on: Any, off: Any) -> Any:
    """The value a torch flag (`unbiased=True`) stands for, or UNSET when it is not given."""
    if value is UNSET:
        return UNSET
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}.")
    return on if value else off


def renamed(
    where: str, name: str, value: Any, default: Any, torch_name: str, torch_value: Any
) -> Any:
    """The value of parameter `name` (whose default is `default`), given as itself or by its
    torch name `torch_name` (not both)."""
    if torch_value is UNSET:
        if value is UNSET:
            raise TypeError(f"{where}: missing {name} (or torch's {torch_name}).")
        return value
    if value is not UNSET and (type(value) is not type(default) or value != default):
        raise TypeError(f"{where}: give {name} or {torch_name}, not both.")
    return torch_value


class Size(int):
    """numpy's `t.size` (the number of elements, an int) that can be called as torch's
    `t.size(dim=None)`: the shape, or the length of axis `dim`."""

    shape: tuple[int, ...]

    def __new__(cls, size: int, shape: tuple[int, ...]) -> Size:
        self = super().__new__(cls, size)
        self.shape = shape
        return self

    def __call__(self, dim: int | None = None) -> tuple[int, ...] | int:
        if dim is None:
            return self.shape
        try:
            return self.shape[dim]
        except (IndexError, TypeError):
            raise ShapeError(
                f"size: dim {dim!r} is not an axis of shape {self.shape} "
                f"(axes {-len(self.shape)} to {len(self.shape) - 1})."
            ) from None


_REFLECTED = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div"}
_REFLECTED |= {np.matmul: "matmul", np.power: "power"}


class TensorAPI:
    """What a Tensor offers besides its state and `backward()` (engine.py): properties,
    conversions, comparisons, operators and the ops' methods."""

    __slots__ = ()

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
    def size(self) -> Size:
        """The number of elements, as numpy's `size`; callable as torch's `size()`:
        `t.size()` is the shape, `t.size(0)` the length of axis 0."""
        return Size(self.data.size, self.data.shape)

    @property
    def name(self) -> str | None:
        """A name for reports, drawings and generated code (`layers.0.weight`), or None."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"Tensor: name must be a string or None, got {type(value).__name__}.")
        self._name = value

    @property
    def requires_grad(self) -> bool:
        """True for parameters and for every tensor computed from one (while recording)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and (self.data.dtype.kind != "f" or self.data.dtype.itemsize not in (4, 8)):
            raise TypeError(
                f"requires_grad=True needs float32 or float64 data, got {self.data.dtype}: "
                "gradients of integers are not defined, and float16 is not supported. Convert "
                "first, e.g. Tensor(x.astype(np.float32), requires_grad=True)."
            )
        if not value and self._node is not None:
            raise BackwardError(
                "requires_grad can only be switched off on a leaf tensor; "
                "use .detach() to get a copy of this result that is cut from the graph."
            )
        if value and not self._requires_grad:
            for observer in STATE.observers:
                observer.made(self)
        self._requires_grad = bool(value)

    def requires_grad_(self, value: bool = True) -> TensorAPI:
        """Set `requires_grad` in place and return the tensor (torch's spelling)."""
        self.requires_grad = value
        return self

    @property
    def node(self) -> Any:
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
        """∂L/∂self after `backward()`: an array of this tensor's shape and dtype, or None.

        Leaves that require grad get it; intermediate results only after `retain_grad()`.
        It accumulates over `backward()` calls: set it to None between them.
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
        try:
            array = as_array(value, copy=False)  # numbers only: no complex, no masked array
        except TypeError as exc:
            raise TypeError(f"grad: {str(exc).removeprefix('Tensor: ')}") from None
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

    def retain_grad(self) -> TensorAPI:
        """Keep `.grad` on this intermediate result at the next `backward()`."""
        if self._node is not None:
            self._retains_grad = True
        return self

    def detach(self) -> TensorAPI:
        """The same data (not copied) as a constant: no graph, `requires_grad=False`."""
        return type(self)(self.data, name=self.name)

    # ------------------------------------------------------------------------------------
    # Conversions and comparisons (never recorded: they have no gradient)
    # ------------------------------------------------------------------------------------

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

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """`ndarray + Tensor` records as `+` does, and a comparison gives booleans; any other
        numpy ufunc on a Tensor is refused with the spelling that records (`np.exp(t)` →
        `t.exp()`), since its result would be a plain array, cut from the graph."""
        if method == "__call__" and not kwargs and len(inputs) == 2 and ufunc in _REFLECTED:
            return self._apply(OPS[_REFLECTED[ufunc]], *inputs)
        compare = {np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal}
        if method == "__call__" and ufunc in compare:
            return ufunc(*(_compared(x) for x in inputs), **kwargs)
        if method == "__call__" and ufunc in _PREDICATES:  # booleans: no gradient to lose
            return ufunc(*_plain(inputs), **_plain(kwargs))
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise TypeError(_not_recorded(name, "out" in kwargs))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """numpy functions that read shapes or compare values (`np.shape(t)`,
        `np.allclose(t, y)`) run on the data; the others are refused with the spelling
        that records, as numpy ufuncs are (`np.sum(t)` → `t.sum()`)."""
        if func in _READ_ONLY:
            return func(*_plain(args), **_plain(kwargs))
        module = getattr(func, "__module__", None) or "numpy"
        where = module.removeprefix("numpy").removeprefix(".")  # np.linalg.norm's "linalg"
        name = f"{where}.{func.__name__}" if where else func.__name__
        raise TypeError(_not_recorded(name, "out" in kwargs))

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

    # Comparisons give numpy arrays of booleans, like numpy's. Tensors stay hashable by
    # identity: the engine keeps them in dicts.

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

    # In place: `p -= lr * p.grad` inside `no_grad()`, the update of PyTorch's tutorials,
    # changes a parameter's array in place, and so does `buffer *= 0.9` on any leaf that
    # does not require grad (a momentum buffer). While recording, a parameter refuses (as in
    # PyTorch); a result of recorded ops gets a new Tensor: `h += 1` is `h = h + 1`.

    def __iadd__(self, other: TensorLike) -> TensorAPI:
        return self._in_place("add", "+", np.add, other)

    def __isub__(self, other: TensorLike) -> TensorAPI:
        return self._in_place("sub", "-", np.subtract, other)

    def __imul__(self, other: TensorLike) -> TensorAPI:
        return self._in_place("mul", "*", np.multiply, other)

    def __itruediv__(self, other: TensorLike) -> TensorAPI:
        return self._in_place("div", "/", np.true_divide, other)

    def _in_place(self, name: str, symbol: str, ufunc: np.ufunc, other: TensorLike) -> TensorAPI:
        if self._node is not None:  # a result: a new one, recorded
            return self._apply(OPS[name], self, other)
        if self._requires_grad and STATE.grad_enabled:
            raise InputError(
                f"{symbol}=: this tensor is a parameter (it requires grad and was not computed "
                "from others); changed in place while recording, backward() could not "
                f"follow it. Update it inside `with ag.no_grad():` (p {symbol}= ..., as in "
                f"PyTorch), or through its array: p.data {symbol}= ..."
            )
        value = other.data if isinstance(other, TensorAPI) else as_operand(name, other)
        try:
            ufunc(self.data, value, out=self.data, casting="same_kind")
        except ValueError:
            raise ShapeError(
                f"{symbol}=: an operand of shape {np.shape(value)} does not fit in place in the "
                f"tensor's shape {self.shape} (in place, the shape cannot change)."
            ) from None
        except TypeError as exc:
            raise TypeError(f"{symbol}=: {exc}") from None
        return self

    def __add__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["add"], self, other)

    def __radd__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["add"], other, self)

    def __sub__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["sub"], self, other)

    def __rsub__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["sub"], other, self)

    def __mul__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["mul"], self, other)

    def __rmul__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["mul"], other, self)

    def __truediv__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["div"], self, other)

    def __rtruediv__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["div"], other, self)

    def __matmul__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["matmul"], self, other)

    def __rmatmul__(self, other: TensorLike) -> TensorAPI:
        return self._apply(OPS["matmul"], other, self)

    def __pow__(self, exponent: TensorLike) -> TensorAPI:
        """`x ** p` for a number p (op pow, any base), or `x ** y` for a tensor or array y
        (op power, broadcasting; it needs x > 0, since dy = dz * z * log(x))."""
        if isinstance(exponent, np.generic) or (
            isinstance(exponent, np.ndarray) and exponent.ndim == 0
        ):
            exponent = exponent.item()
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            return self._apply(OPS["pow"], self, p=exponent)
        return self._apply(OPS["power"], self, exponent)

    def __rpow__(self, base: TensorLike) -> TensorAPI:
        """`b ** x` for a positive number or array b (op power: dx = dz * z * log(b))."""
        return self._apply(OPS["power"], base, self)

    def __neg__(self) -> TensorAPI:
        return self._apply(OPS["neg"], self)

    def __abs__(self) -> TensorAPI:
        return self._apply(OPS["abs"], self)

    def __getitem__(self, index: Any) -> TensorAPI:
        return self._apply(OPS["getitem"], self, index=_index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment: an op records a new tensor, it never "
            "changes one. Write t.data[i] = v for the array itself (not recorded: counts, "
            "constants), or build a new tensor with ag.where(mask, v, t) or ag.concatenate."
        )

    # ------------------------------------------------------------------------------------
    # Methods that are another op with a spelling of their own
    # ------------------------------------------------------------------------------------

    def sqrt(self) -> TensorAPI:
        """√x, elementwise: `x ** 0.5`."""
        return self**0.5

    def astype(self, dtype: Any) -> TensorAPI:
        """The values cast to `dtype`.

        To float32 or float64 it is the op astype, recorded: the gradient is cast back. To
        integers or bools it gives a new constant cut from the graph (`requires_grad=False`,
        no gradient flows back through it), as torch's `x.long()` does: `x.detach()`, then
        cast, since integers have no gradient. Values an integer dtype cannot hold (NaN,
        inf, out of its range) are refused, never wrapped. Other dtypes (float16, complex,
        strings, objects, dates) are refused with the dtype named: a Tensor holds none."""
        try:
            dtype = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"astype: {dtype!r} is not a dtype ({exc}).") from None
        if dtype.kind in "iu" and self.data.dtype.kind == "f":
            _check_fits(self.data, dtype)
        if dtype.kind in "iub":
            return type(self)(self.data.astype(dtype))
        if dtype.kind != "f":
            raise TypeError(
                f"astype: a Tensor cannot hold {dtype}; cast to float32 or float64 (recorded, "
                "the gradient cast back) or to an integer or bool dtype (a constant cut from "
                "the graph)."
            )
        return self._apply(OPS["astype"], self, dtype=dtype)  # (it refuses float16 itself)

    def reshape(self, *shape: int | tuple[int, ...]) -> TensorAPI:
        """The same values in a new shape: `t.reshape(2, 3)` or `t.reshape((2, 3))`."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return self._apply(OPS["reshape"], self, shape=shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> TensorAPI:
        """The values of axes start_dim..end_dim as one axis (all of them by default,
        `(2, 3, 4) → (24,)`; torch's `x.flatten(1)` keeps the batch axis: `(2, 12)`)."""
        if self.ndim == 0:
            return self.reshape(-1)
        try:
            start, end = (range(self.ndim)[d] for d in (start_dim, end_dim))
        except (IndexError, TypeError):
            raise ShapeError(
                f"flatten: start_dim {start_dim!r} and end_dim {end_dim!r} must be axes of "
                f"shape {self.shape}."
            ) from None
        if start > end:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}.")
        return self.reshape(*self.shape[:start], -1, *self.shape[end + 1 :])

    def transpose(self, *axes: int | tuple[int, ...]) -> TensorAPI:
        """Permute the axes as numpy's transpose, or swap two as torch's.

        No axes: all reversed (`.T`). Two axes: those two swapped, as torch's
        `transpose(dim0, dim1)`: `x.transpose(0, 1)` of a matrix is its transpose, and of
        `(2, 3, 4)` gives `(3, 2, 4)` (numpy would leave a matrix as it is for (0, 1), an
        identity permutation, and refuse two axes of three). More axes: a full permutation,
        as numpy's: `x.transpose(1, 2, 0)` of `(2, 3, 4)` is `(3, 4, 2)` (`permute` takes a
        full permutation always). dx = dz transposed back.
        """
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2:
            return self.swapaxes(*axes)
        return self._apply(OPS["transpose"], self, axes=axes or None)

    def permute(self, *dims: int | tuple[int, ...]) -> TensorAPI:
        """The axes in the order `dims`, a full permutation (torch's permute, numpy's
        transpose(axes), the array API's permute_dims): `(2, 3, 4)` permuted by (2, 0, 1) is
        `(4, 2, 3)`. dx = dz permuted back."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return self._apply(OPS["transpose"], self, axes=dims)

    def swapaxes(self, axis1: int, axis2: int) -> TensorAPI:
        """Exchange two axes, `(2, 3, 4) → (4, 3, 2)` for (0, 2): torch's `transpose(0, 2)`."""
        axes = list(range(self.ndim))
        try:
            axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        except (IndexError, TypeError):
            raise ShapeError(
                f"swapaxes: axes {axis1!r} and {axis2!r} do not both exist in shape "
                f"{self.shape} (axes -{self.ndim} to {self.ndim - 1})."
            ) from None
        return self._apply(OPS["transpose"], self, axes=tuple(axes))

    @property
    def T(self) -> TensorAPI:  # noqa: N802 (numpy's name)
        """The axes reversed: `(m, n) → (n, m)` (all of them for more than 2, as numpy's)."""
        return self._apply(OPS["transpose"], self, axes=None)

    @property
    def mT(self) -> TensorAPI:  # noqa: N802 (numpy's name)
        """The last two axes swapped: the transpose of each matrix in a batch."""
        if self.ndim < 2:
            raise ShapeError(f"mT: needs at least 2 axes, got shape {self.shape}.")
        return self.swapaxes(-1, -2)

    # ------------------------------------------------------------------------------------
    # torch's spellings of ops of the table (one line each)
    # ------------------------------------------------------------------------------------

    def view(self, *shape: int | tuple[int, ...]) -> TensorAPI:
        """torch's name of `reshape`: `t.view(2, -1)` (the values are copied when they must
        be; no view shares memory with the original here)."""
        return self.reshape(*shape)

    def view_as(self, other: TensorLike) -> TensorAPI:
        """`reshape` to the shape of `other` (torch's view_as)."""
        return self.reshape(np.shape(other))

    def t(self) -> TensorAPI:
        """A matrix transposed (torch's t(); `.T`); a vector or a number as it is."""
        if self.ndim > 2:
            raise ShapeError(f"t: takes at most 2 axes, got shape {self.shape}; use mT or permute.")
        return self.T

    def matmul(self, other: TensorLike) -> TensorAPI:
        """`self @ other` (torch's matmul, mm and bmm)."""
        return self @ other

    mm = bmm = matmul

    def masked_fill(self, mask: Any, value: float) -> TensorAPI:
        """`value` where `mask` holds, self elsewhere (torch's masked_fill): `where(mask,
        value, self)`."""
        return self._apply(OPS["where"], value, self, condition=_compared(mask))

    def tolist(self) -> Any:
        """The values as nested Python lists (numpy's and torch's tolist)."""
        return self.data.tolist()

    def unsqueeze(self, dim: int) -> TensorAPI:
        """torch's name of `expand_dims`: an axis of size 1 inserted at `dim`."""
        return self.expand_dims(dim)

    def expand(self, *sizes: int | tuple[int, ...]) -> TensorAPI:
        """torch's expand: `broadcast_to` the sizes, where −1 keeps an axis's size
        (`t.expand(4, -1)` of `(1, 3)` is `(4, 3)`); new axes go in front."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        new = len(sizes) - self.ndim
        if new < 0 or any(s == -1 for s in sizes[:new]):
            raise ShapeError(
                f"expand: sizes {tuple(sizes)} for shape {self.shape}: give one size per axis "
                "(−1 keeps it), and new leading axes a size of their own (not −1)."
            )
        shape = tuple(self.shape[i - new] if s == -1 else s for i, s in enumerate(sizes))
        return self.broadcast_to(shape)

    def expand_as(self, other: TensorLike) -> TensorAPI:
        """`broadcast_to` the shape of `other` (torch's expand_as)."""
        return self.broadcast_to(np.shape(other))

    def repeat(self, *sizes: int | tuple[int, ...]) -> TensorAPI:
        """torch's repeat: the whole tensor copied `sizes` times along each axis, which is
        numpy's `tile` (numpy's `repeat` repeats each element instead)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return self.tile(sizes)

    def pow(self, exponent: TensorLike) -> TensorAPI:
        """`self ** exponent` (torch's pow)."""
        return self**exponent

    def dim(self) -> int:
        """The number of axes (torch's dim(); numpy's `ndim`)."""
        return self.ndim

    def float(self) -> TensorAPI:
        """The values as float32 (torch's float(); `astype(np.float32)`)."""
        return self.astype(np.float32)

    def double(self) -> TensorAPI:
        """The values as float64 (torch's double(); `astype(np.float64)`)."""
        return self.astype(np.float64)

    def half(self) -> TensorAPI:
        """torch's float16 cast: refused, as float16 is not supported here (its sums
        overflow at 65504); the error names the dtypes to use."""
        raise TypeError(
            "half: float16 is not supported (its sums overflow at 65504 and its gradients "
            "underflow); use float32, x.float(), or float64, x.double()."
        )

    def long(self) -> TensorAPI:
        """The values as int64, a constant cut from the graph (torch's long())."""
        return self.astype(np.int64)

    def numel(self) -> int:
        """The number of elements (torch's numel(); numpy's `size`)."""
        return self.size

    # ------------------------------------------------------------------------------------
    # Indices of the largest and smallest values: plain integer arrays, not recorded
    # ------------------------------------------------------------------------------------

    def argmax(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        *,
        dim: Any = UNSET,
        keepdim: Any = UNSET,
    ) -> np.ndarray:
        """The index of the largest value along `axis` (of the values flattened when None),
        as a plain numpy array of integers (0-d for the whole tensor): indices have no
        gradient, so nothing is recorded. The first one wins a tie. `dim`, `keepdim`: torch's
        names."""
        axis = renamed("argmax", "axis", axis, None, "dim", dim)
        keepdims = renamed("argmax", "keepdims", keepdims, False, "keepdim", keepdim)
        return np.asarray(np.argmax(self.data, axis=axis, keepdims=bool(keepdims)))

    def argmin(
        self,
        axis: int | None = None,
        keepdims: bool = False,
        *,
        dim: Any = UNSET,
        keepdim: Any = UNSET,
    ) -> np.ndarray:
        """The index of the smallest value along `axis`, as `argmax` gives the largest's."""
        axis = renamed("argmin", "axis", axis, None, "dim", dim)
        keepdims = renamed("argmin", "keepdims", keepdims, False, "keepdim", keepdim)
        return np.asarray(np.argmin(self.data, axis=axis, keepdims=bool(keepdims)))


# ----------------------------------------------------------------------------------------
# torch's keyword names: every method and function made from the op table takes them beside
# the op's own (numpy's) names, e.g. `t.sum(dim=0, keepdim=True)`.
# ----------------------------------------------------------------------------------------

TORCH_KEYWORDS = {
    "dim": "axis",
    "dims": "axis",  # flip(dims), roll(shifts, dims) only
    "keepdim": "keepdims",
    "correction": "ddof",  # var, std (torch's default is correction=1, numpy's ddof=0)
    "shifts": "shift",
    "diagonal": "k",  # triu, tril, diag
    "negative_slope": "slope",  # leaky_relu
    "min": "lo",  # clamp(x, min, max)
    "max": "hi",
    "p": "ord",  # norm (dropout's own p stays its own)
}
"""torch's name of a parameter → the op table's name."""

TORCH_FLAGS = {"unbiased": ("ddof", 1, 0)}
"""torch's flags that set a parameter: (its name, the value for True, for False):
`var(unbiased=True)` is ddof=1 (var, std)."""


def torch_keywords(op: Op, signature: str) -> tuple[str, str]:
    """`signature` (an op's, as a method or function) with torch's keywords of the op's
    parameters added as keyword-only parameters, and the lines that pass them on. A required
    parameter with a torch name becomes optional, one of the two names being required."""
    aliases = {
        t: n
        for t, n in TORCH_KEYWORDS.items()
        if n in op.params and t not in op.params and (t != "dims" or op.name in ("flip", "roll"))
    }
    flags = {t: f for t, f in TORCH_FLAGS.items() if f[0] in op.params and t not in op.params}
    if not aliases and not flags:
        return signature, ""
    definition = ast.parse(f"def {signature}: pass").body[0]
    arguments = definition.args
    positional = arguments.posonlyargs + arguments.args
    for name in aliases.values():  # a required parameter: UNSET until one name gives it
        names = [a.arg for a in positional]
        if name in names and op.defaults[name] is REQUIRED:
            first_default = len(positional) - len(arguments.defaults)
            at = names.index(name)
            if at == first_default - 1:  # the last without a default: it can take one
                arguments.defaults.insert(0, ast.Name("UNSET", ast.Load()))
    for torch_name in [*aliases, *flags]:
        arguments.kwonlyargs.append(ast.arg(torch_name))
        arguments.kw_defaults.append(ast.Name("UNSET", ast.Load()))
    header = ast.unparse(definition).removeprefix("def ").split(":\n")[0]

    def default(name: str) -> str:
        return "UNSET" if op.defaults[name] is REQUIRED else repr(op.defaults[name])

    lines = "".join(
        f"    {n} = renamed({op.name!r}, {n!r}, {n}, {default(n)}, {t!r}, {t})\n"
        for t, n in aliases.items()
    )
    lines += "".join(
        f"    {n} = renamed({op.name!r}, {n!r}, {n}, {default(n)}, {t!r}, "
        f"flag({op.name!r}, {t!r}, {t}, {on}, {off}))\n"
        for t, (n, on, off) in flags.items()
    )
    return header, lines


def _method(op: Op, name: str) -> Any:
    """`t.<name>(params...)`, op's method under its name or an alias, with the op's own
    signature (and torch's keywords) and docstring."""
    params = op.params
    signature = op.signature.replace(f"{op.name}({op.inputs[0]}", f"{name}(self", 1)
    signature, renaming = torch_keywords(op, signature)
    keywords = ", ".join(f"{p}={p}" for p in params)
    source = f"def {signature}:\n{renaming}    return self._apply(OP, self, {keywords})\n"
    namespace: dict[str, Any] = {"OP": op, "UNSET": UNSET, "renamed": renamed, "flag": flag}
    exec(source, namespace)
    method = namespace[name]
    method.__doc__ = documentation(op, name, op.rules[:1])
    method.__qualname__ = f"Tensor.{name}"
    return method


def documentation(op: Op, name: str, rules: Sequence[str]) -> str:
    """The docstring of op's method or function called `name`: what it computes, its rules."""
    text = "\n".join(rules)
    if op.doc:
        text = f"{op.doc}.\n\n{text}"
    return text if name == op.name else f"Another name of `{op.name}`: {text}"


for _op in OPS.values():
    if _op.method:
        for _name in (_op.name, *_op.aliases):
            setattr(TensorAPI, _name, _method(_op, _name))


class ValuesIndices(namedtuple("ValuesIndices", ["values", "indices"])):
    """What `max` and `min` give along one axis the torch way (`x.max(1)`, `dim=`,
    `keepdim=`): the values (a Tensor, recorded) and their indices (an integer array), as
    torch's `x.max(dim=1)`. It is no array: computing with the pair, or asking it for a
    Tensor's attribute, raises an error that says to take `.values`."""

    __slots__ = ()
    __array_ufunc__ = None  # numpy arrays do not combine with it either

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise TypeError(_PAIR)

    __array__ = __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __pow__ = __neg__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __float__ = _refuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"ValuesIndices has no {name!r}: {_PAIR}")


_PAIR = (
    "max and min along an axis given positionally or with torch's dim=/keepdim= give "
    "(values, indices), as torch's: take .values (or .indices); for the values alone, as "
    "numpy's, write axis= (x.max(axis=1))."
)


def _is_axis(value: Any) -> bool:
    """Whether a positional argument of max/min is an axis (or axes), not another tensor."""
    if isinstance(value, (tuple, list)):
        return all(_is_axis(v) for v in value) and not isinstance(value, np.ndarray)
    return value is None or (
        isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    )


def _once(where: str, *given: tuple[str, Any], default: Any) -> Any:
    """The one value given among several spellings of a parameter (or its default)."""
    named = [(name, value) for name, value in given if value is not UNSET]
    if len(named) > 1:
        both = " and ".join(n for n, _ in named)
        raise TypeError(f"{where}: {both} given together; give one of them.")
    return named[0][1] if named else default


def _with_indices(op_name: str) -> Any:
    values_of = getattr(TensorAPI, op_name)
    elementwise = f"{op_name}imum"

    def method(
        self: TensorAPI,
        dim_or_other: Any = UNSET,
        keep: Any = UNSET,
        /,
        *,
        axis: Any = UNSET,
        keepdims: Any = UNSET,
        dim: Any = UNSET,
        keepdim: Any = UNSET,
    ) -> Any:
        if isinstance(dim_or_other, (bool, np.bool_)):
            raise TypeError(f"{op_name}: {dim_or_other} is neither an axis nor a tensor.")
        if dim_or_other is not UNSET and not _is_axis(dim_or_other):  # torch's max(other)
            if any(v is not UNSET for v in (keep, axis, keepdims, dim, keepdim)):
                raise TypeError(
                    f"{op_name}: with a tensor it is the elementwise {elementwise} of the two "
                    f"(torch's {op_name}(other)), which takes no axis; see ag.{elementwise}."
                )
            return self._apply(OPS[elementwise], self, dim_or_other)
        torch_way = (  # one axis, positionally (None or a tuple of axes has no torch
            isinstance(dim_or_other, (int, np.integer))  # meaning: numpy's values)
            or dim is not UNSET
            or keepdim is not UNSET
        )
        axes = _once(
            op_name,
            ("a positional axis", dim_or_other),
            ("axis=", axis),
            ("dim=", dim),
            default=None,
        )
        kept = _once(
            op_name,
            ("a positional keepdim", keep),
            ("keepdims=", keepdims),
            ("keepdim=", keepdim),
            default=False,
        )
        values = values_of(self, axes, bool(kept))
        if not torch_way:
            return values
        if isinstance(axes, (tuple, list)):
            raise ShapeError(
                f"{op_name}: with torch's dim= or keepdim= it gives (values, indices) along "
                f"one axis, as torch's; for the {elementwise} over several axes write "
                f"axis={tuple(axes)}."
            )
        find = getattr(self, f"arg{op_name}")
        return ValuesIndices(values, find(axes, bool(kept)))

    method.__name__ = method.__qualname__ = op_name
    method.__doc__ = (
        f"{values_of.__doc__}\n\nAs numpy's, `x.{op_name}(axis=1, keepdims=False)` gives the "
        f"values alone. As torch's, an axis given positionally or as `dim=` (`x.{op_name}(1)`, "
        f"`x.{op_name}(dim=1, keepdim=True)`) gives `(values, indices)`: a `ValuesIndices` of "
        f"the values and an integer array of where they are (`arg{op_name}`); and "
        f"`x.{op_name}(other)` of a tensor is the elementwise `{elementwise}`."
    )
    return method


for _name in ("max", "min"):
    setattr(TensorAPI, _name, _with_indices(_name))
