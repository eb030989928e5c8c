"""Replaying a recorded graph: the same ops, in the same order, on other arrays.

`replay(root, dtype)` recomputes every recorded tensor behind `root` from its leaves cast
to `dtype` (float constants too), with the same op and parameters as the original: a twin
of the graph in another precision. `gradients_in(root, dtype)` runs the twin's backward and
returns every tensor's gradient. The difference between a graph's gradients and its twin's
in the other precision measures how much rounding moves them on this very graph:
`rounding_errors` is how `compare` decides "agrees to rounding" honestly (see its docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import Tensor, apply, backward_order, gradients
from .recording import enable_grad


def other_precision(dtype: Any) -> np.dtype:
    """float32 for float64, float64 for everything else (float32, float16)."""
    return np.dtype(np.float32 if np.dtype(dtype) == np.float64 else np.float64)


def _cast(x: Any, dtype: np.dtype) -> Any:
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(dtype)
    return x


def params_in(params: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """An op's parameters for a replay in `dtype`: a float dtype among them (the target of
    a cast, `astype(np.float32)`) becomes `dtype`, so the replay stays in that precision."""
    if not any(_is_float_dtype(value) for value in params.values()):
        return params
    target = np.dtype(dtype)
    return {key: target if _is_float_dtype(v) else v for key, v in params.items()}


def _is_float_dtype(value: Any) -> bool:
    if isinstance(value, np.dtype):
        return value.kind == "f"
    return isinstance(value, type) and issubclass(value, np.floating)


def replay(root: Tensor, dtype: Any) -> dict[int, Tensor]:
    """id(tensor) → its twin, for every tensor behind `root` (recorded ones and leaves),
    recomputed with float arrays cast to `dtype` (casts in the graph too, see `params_in`),
    or, with dtype None, in the dtypes they were recorded in: from the leaves' values as
    they are now. Recorded twins retain their grad."""
    dtype = None if dtype is None else np.dtype(dtype)
    twins: dict[int, Tensor] = {}

    def twin_of(x: Any) -> Any:
        if not isinstance(x, Tensor):
            return x if dtype is None else _cast(x, dtype)
        if id(x) not in twins:  # a leaf: cast once, shared by every op that uses it
            data = x.data if dtype is None else _cast(x.data, dtype)
            twins[id(x)] = Tensor(data, requires_grad=x.requires_grad)
        return twins[id(x)]

    with enable_grad(), np.errstate(all="ignore"):
        for tensor in reversed(backward_order(root)):  # the order they were recorded in
            node = tensor.node
            inputs = [twin_of(x) for x in node.inputs]
            params = node.params if dtype is None else params_in(node.params, dtype)
            twins[id(tensor)] = apply(node.op, *inputs, **params).retain_grad()
    if root.node is None:
        twin_of(root)
    return twins


def gradients_in(root: Tensor, dtype: Any, seed: Any = None) -> dict[int, np.ndarray]:
    """id(tensor) → ∂root/∂tensor computed on the twin in `dtype`, for every tensor behind
    `root` that gets a gradient. seed: ∂L/∂root (default 1, for a one-element root)."""
    twins = replay(root, dtype)
    twin_root = twins[id(root)]
    if seed is None:
        seed = np.ones(root.shape)
    with np.errstate(all="ignore"):
        grads = gradients(twin_root, np.asarray(seed, twin_root.dtype), backward_order(twin_root))
    return {key: np.asarray(grads[twin]) for key, twin in twins.items() if twin in grads}


def rounding_errors(root: Tensor, grads: dict[int, np.ndarray]) -> dict[int, float]:
    """How far rounding moves each gradient in `grads` (id(tensor) → ∂root/∂tensor as the
    engine computed it), measured by replaying the graph in the other precision.

    The difference to the twin's gradient is the rounding error of the less precise of the
    two; for a float64 gradient it is scaled down by the ratio of the unit roundoffs
    (2⁻⁵³ / 2⁻²⁴). Empty when the graph cannot be replayed (the caller then falls back to
    a bound; see `compare`).
    """
    if not grads:
        return {}
    dtype = np.result_type(*(g.dtype for g in grads.values()))
    other = other_precision(dtype)
    try:
        twin = gradients_in(root, other)
    except Exception:
        return {}
    ratio = min(1.0, float(np.finfo(dtype).eps / np.finfo(other).eps))
    errors = {}
    for key, g in grads.items():
        if key in twin and twin[key].shape == g.shape:
            with np.errstate(all="ignore"):
                difference = np.max(np.abs(g.astype(np.float64) - twin[key]), initial=0.0)
            if np.isfinite(difference):
                errors[key] = float(difference) * ratio
    return errors
