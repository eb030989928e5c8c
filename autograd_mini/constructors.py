"""Tensors made from nothing: `zeros`, `ones`, `full`, `eye`, `arange`, `rand`, `randn`.

They are not ops (no gradient flows into them): each returns a leaf Tensor, a parameter when
`requires_grad=True`. The sizes are given as torch's (`zeros(2, 3)`) or numpy's
(`zeros((2, 3))`); `dtype` is numpy's default, float64, unless given (torch's is float32;
float16 is refused, as everywhere). Random values come from a numpy Generator: `rng=` (or
torch's `generator=`) takes one, or a seed; never from numpy's global state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import Tensor
from .errors import InputError
from .tensor import TensorLike


def _size(name: str, size: tuple) -> tuple[int, ...]:
    """The shape given as `(2, 3)`, `[2, 3]` or `2, 3` (and `()` for a 0-d tensor)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InputError(f"{name}: sizes are whole numbers ≥ 0, got {size!r}.")
    return tuple(int(n) for n in size)


def _leaf(
    name: str, array: np.ndarray, dtype: Any, requires_grad: bool, label: str | None = None
) -> Tensor:
    """The leaf of `array` cast to `dtype` as `Tensor.astype` casts (a value the dtype cannot
    hold is refused, never wrapped), each refusal naming the constructor."""
    try:
        if dtype is not None:
            dtype = np.dtype(dtype)
            integers = dtype.kind in "iu" and array.dtype.kind == "f"
            array = Tensor(array).astype(dtype).data if integers else array.astype(dtype)
        return Tensor(array, requires_grad=requires_grad, name=label)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {str(exc).removeprefix('Tensor: ')}") from None


def _generator(name: str, rng: Any, generator: Any) -> np.random.Generator:
    if generator is not None:
        if rng is not None:
            raise TypeError(f"{name}: give rng or generator, not both.")
        rng = generator
    if rng is not None and not isinstance(rng, (int, np.integer, np.random.Generator)):
        raise InputError(
            f"{name}: rng must be a numpy Generator (np.random.default_rng(0)) or a seed, got "
            f"{type(rng).__name__}."
        )
    return np.random.default_rng(rng)


def tensor(
    data: TensorLike, *, dtype: Any = None, requires_grad: bool = False, name: str | None = None
) -> Tensor:
    """torch's `tensor(data)`: a Tensor of a copy of `data`, whose numbers keep their kind.
    Unlike `Tensor(data)`, which makes Python numbers float64, whole numbers stay integers
    (int64) and bools stay bools, so `ag.tensor([0, 5, 3])` can index (`C[ix]`); other
    numbers are float64, arrays keep their dtype, `dtype=` casts."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        array = np.array(data)  # a copy, numpy's kind of each number
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tensor: cannot make an array of {type(data).__name__} ({exc}).") from None
    if array.dtype.kind == "O" and not isinstance(data, np.ndarray):
        array = data  # (None in a list: Tensor's own refusal says so)
    return _leaf("tensor", array, dtype, requires_grad, name)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`."""
    return _leaf("zeros", np.zeros(_size("zeros", size)), dtype, requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: `ones(2, 3)` or `ones((2, 3))`."""
    return _leaf("ones", np.ones(_size("ones", size)), dtype, requires_grad)


def full(size: Any, fill_value: float, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value`: `full((2, 3), 7.0)`."""
    shape = _size("full", (size,))
    if not isinstance(fill_value, (int, float, np.number, np.bool_)):
        raise InputError(f"full: fill_value must be a number, got {fill_value!r:.80}.")
    return _leaf("full", np.full(shape, fill_value), dtype, requires_grad)


def zeros_like(x: TensorLike, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of x's shape (and dtype, unless given)."""
    array = np.asarray(x.data if isinstance(x, Tensor) else x)
    return _leaf("zeros_like", np.zeros_like(array), dtype, requires_grad)


def ones_like(x: TensorLike, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of x's shape (and dtype, unless given)."""
    array = np.asarray(x.data if isinstance(x, Tensor) else x)
    return _leaf("ones_like", np.ones_like(array), dtype, requires_grad)


def eye(
    n: int, m: int | None = None, *, k: int = 0, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """The n × m identity matrix (n × n when m is None), with ones on diagonal k."""
    n, m = _size("eye", (n,) if m is None else (n, m)) * (2 if m is None else 1)
    return _leaf("eye", np.eye(n, m, k=k), dtype, requires_grad)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The numbers from start (0 when only one is given) up to, not including, end, `step`
    apart: `arange(5)`, `arange(1, 4)`, `arange(0, 1, 0.25)`. Whole numbers give integers
    (a constant; pass `dtype=np.float64` for a parameter), as numpy's and torch's."""
    if end is None:
        start, end = 0, start
    return _leaf("arange", np.arange(start, end, step), dtype, requires_grad)


def rand(
    *size: Any,
    rng: Any = None,
    generator: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values drawn uniformly from [0, 1): `rand(2, 3, rng=0)`. rng: a numpy Generator or a
    seed (torch's `generator=` is taken too); None: a Generator seeded by the operating
    system (different at every run, not numpy's global state)."""
    shape = _size("rand", size)
    return _leaf("rand", _generator("rand", rng, generator).random(shape), dtype, requires_grad)


def randn(
    *size: Any,
    rng: Any = None,
    generator: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values drawn from the standard normal N(0, 1): `randn(2, 3, rng=0)`. rng: as for
    `rand`."""
    shape = _size("randn", size)
    generator_ = _generator("randn", rng, generator)
    return _leaf("randn", generator_.standard_normal(shape), dtype, requires_grad)


__all__ = [
    "arange",
    "eye",
    "full",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "tensor",
    "zeros",
    "zeros_like",
]
