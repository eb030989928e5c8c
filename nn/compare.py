"""`compare_gradients`: two sets of gradients side by side, and what is wrong, in words.

When a learner's hand-written backprop disagrees with autodiff, "mismatch" helps nobody.
For each parameter that disagrees this module tests the classic mistakes and names the
ones that explain the numbers exactly:

- the weight gradient is the transpose (Δᵀ @ A_prev, or Nielsen's δ aᵀ, for A_prevᵀ @ Δ);
- off by exactly m or 1/m (the batch average forgotten, or applied twice), or by 2 (the ½);
- the bias gradient is Δ itself, one row per example, not summed over the batch;
- the sign is flipped ((y − a) where (a − y) belongs);
- the gradients are in the wrong layer order (backprop produces the last layer first);
- σ(z) used where σ′(z) belongs in BP2, σ′ taken of a instead of z, BP1 without σ′(zᴸ),
  or the error term computed against integer labels instead of one-hot rows: these are
  found by re-running the row equations with that one mistake planted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .backprop import Layer, backprop_columns, backprop_rows, layers_of, rows_equations
from .check import autodiff_gradients
from .costs import Cost, get_cost
from .module import Module
from .table import format_table

Gradients = dict[str, np.ndarray]
GradientSource = Mapping[str, Any] | Sequence[tuple[Any, Any]] | Callable[..., Any] | str


@dataclass
class Row:
    name: str
    expected_shape: tuple[int, ...] | None
    actual_shape: tuple[int, ...] | None
    max_abs_error: float | None  # max |actual − expected| (None when the shapes differ)
    max_rel_error: float | None  # max_abs_error / max |expected|
    ok: bool
    diagnoses: list[str] = field(default_factory=list)


@dataclass
class GradientReport:
    """The comparison, parameter by parameter: print it, check `.ok`, or `assert_ok()`."""

    rows: list[Row]
    expected_label: str = "expected"
    actual_label: str = "actual"

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(
            f"no parameter {name!r} in this report; it has {[r.name for r in self.rows]}"
        )

    def diagnoses(self, name: str) -> list[str]:
        """What was found wrong with one parameter's gradient (empty when it agrees)."""
        return self.row(name).diagnoses

    def assert_ok(self) -> None:
        """Raise AssertionError with the whole report unless every parameter agrees."""
        if not self.ok:
            raise AssertionError(f"gradients disagree:\n{self}")

    def __str__(self) -> str:
        def shape(row: Row) -> str:
            if row.expected_shape == row.actual_shape:
                return str(row.expected_shape)
            return f"{row.actual_shape} ≠ {row.expected_shape}"

        def number(x: float | None) -> str:
            return "-" if x is None else f"{x:.1e}"

        body = [
            [
                row.name,
                shape(row),
                number(row.max_abs_error),
                number(row.max_rel_error),
                "✓" if row.ok else "✗",
            ]
            for row in self.rows
        ]
        lines = [
            f"{self.actual_label} vs {self.expected_label}:",
            format_table(["parameter", "shape", "max abs error", "max rel error", "ok"], body),
        ]
        for row in self.rows:
            for diagnosis in row.diagnoses:
                lines.append(f"• {row.name}: {diagnosis}")
        return "\n".join(lines)

    __repr__ = __str__


# ----------------------------------------------------------------------------------------
# Turning every accepted form of "a set of gradients" into {name: array}
# ----------------------------------------------------------------------------------------

_BUILT_IN = {"autodiff": autodiff_gradients, "rows": backprop_rows, "columns": backprop_columns}


def _layer_names(model: Module | None, count: int) -> list[tuple[str, str]]:
    if model is None:
        return [(f"layers.{i}.weight", f"layers.{i}.bias") for i in range(count)]
    return [(f"{layer.name}.weight", f"{layer.name}.bias") for layer in layers_of(model)]


def _resolve(source: GradientSource, model, X, Y, cost) -> tuple[Gradients, str]:
    if isinstance(source, str):
        if source not in _BUILT_IN:
            raise ValueError(
                f"compare_gradients: unknown source {source!r}; use {sorted(_BUILT_IN)}."
            )
        if model is None or X is None or Y is None:
            raise ValueError(f"compare_gradients: {source!r} needs model=, X= and Y=.")
        return _BUILT_IN[source](model, X, Y, cost), source
    label = "your gradients"
    if callable(source):
        if model is None or X is None or Y is None:
            raise ValueError(
                "compare_gradients: a function needs model=, X= and Y= to call it with."
            )
        weights_and_biases = [(layer.W.copy(), layer.b.copy()) for layer in layers_of(model)]
        name = getattr(source, "__name__", "<lambda>")
        label = label if name == "<lambda>" else name
        source = source(weights_and_biases, np.asarray(X), np.asarray(Y))
    if isinstance(source, Mapping):
        return {name: np.asarray(value) for name, value in source.items()}, label
    pairs = list(source)
    names = _layer_names(model, len(pairs))
    if len(pairs) != len(names):
        raise ValueError(
            f"compare_gradients: got {len(pairs)} (dW, db) pairs for a network of "
            f"{len(names)} layers."
        )
    grads = {}
    for (w_name, b_name), pair in zip(names, pairs, strict=True):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                "compare_gradients: a list of gradients must hold (dW, db) pairs, one per layer."
            )
        grads[w_name], grads[b_name] = np.asarray(pair[0]), np.asarray(pair[1])
    return grads, label


# ----------------------------------------------------------------------------------------
# Planted mistakes: the row equations rerun with one classic error each
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Activation:
    """An activation whose derivative was written wrongly."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]


_OUTPUT_FORM = {  # f′ written in terms of the output a = f(z), as much code does
    "sigmoid": lambda a: a * (1 - a),
    "tanh": lambda a: 1 - a * a,
}


def _mistaken_gradients(model: Module, X: Any, Y: Any, cost: Cost) -> dict[str, Gradients]:
    layers = layers_of(model)

    def with_derivative(layer: Layer, derivative) -> Layer:
        return replace(layer, f=_Activation(layer.f.name, layer.f.f, derivative))

    variants: dict[str, tuple[list[Layer], Any, Cost]] = {}
    hidden_sigma = [with_derivative(layer, layer.f.f) for layer in layers[:-1]] + [layers[-1]]
    variants["σ(z) is used where σ′(z) belongs in BP2: Δ_ℓ = (Δ_{ℓ+1} @ W_{ℓ+1}ᵀ) ⊙ σ′(Z_ℓ)"] = (
        hidden_sigma,
        Y,
        cost,
    )
    variants["σ′ is taken of the activation a = σ(z) instead of z (σ′(a) where σ′(z) belongs)"] = (
        [with_derivative(layer, lambda z, f=layer.f: f.derivative(f.f(z))) for layer in layers],
        Y,
        cost,
    )
    if all(layer.f.name in _OUTPUT_FORM for layer in layers):
        variants["a(1 − a), σ′ written for outputs, is applied to z instead of a = σ(z)"] = (
            [with_derivative(layer, _OUTPUT_FORM[layer.f.name]) for layer in layers],
            Y,
            cost,
        )
    if cost.name == "quadratic":
        variants[
            "BP1 is missing the σ′(zᴸ) factor: δᴸ = (a − y) ⊙ σ′(zᴸ) for the quadratic cost"
        ] = (layers, Y, replace(cost, delta=lambda z, a, y, activation: a - y))
    Y_array = np.asarray(Y.data if hasattr(Y, "data") else Y)
    if Y_array.ndim == 2 and Y_array.shape[1] > 1 and np.all((Y_array == 0) | (Y_array == 1)):
        labels = Y_array.argmax(axis=1)
    elif cost.name == "softmax-cross-entropy" and Y_array.ndim == 1:
        labels = Y_array
    else:
        labels = None
    if labels is not None:
        column = labels.reshape(-1, 1).astype(layers[0].W.dtype)
        variants[
            "the error term is computed against the integer labels (a − y with y a class "
            "index) instead of one-hot rows"
        ] = (layers, column, cost)
    results = {}
    for description, (variant_layers, variant_Y, variant_cost) in variants.items():
        try:
            with np.errstate(all="ignore"):
                results[description] = rows_equations(variant_layers, X, variant_Y, variant_cost)
        except (ValueError, TypeError):  # a mistake that cannot even run on these shapes
            continue
    return results


# ----------------------------------------------------------------------------------------
# Diagnosis
# ----------------------------------------------------------------------------------------


@dataclass
class _Context:
    expected: Gradients
    batch_size: int | None
    close: Callable[[np.ndarray, np.ndarray], bool]
    mistakes: Callable[[], dict[str, Gradients]]


def _diagnose(
    name: str, expected: np.ndarray, actual: np.ndarray, context: _Context, depth: int = 0
) -> list[str]:
    close = context.close
    m = context.batch_size
    found: list[str] = []
    if actual.shape == expected.shape:
        if close(actual, -expected):
            found.append("the sign is flipped: it points uphill; (y − a) where (a − y) belongs?")
        ratio = _constant_ratio(actual, expected)
        if ratio is not None and not np.isclose(ratio, 1) and not np.isclose(ratio, -1):
            found.append(_describe_factor(ratio, m))
        if actual.ndim == 2 and actual.shape[0] == actual.shape[1] and close(actual.T, expected):
            found.append(_transpose_message(actual.shape, expected.shape))
    elif actual.ndim == 2 and actual.shape[::-1] == expected.shape:
        if close(actual.T, expected):
            found.append(_transpose_message(actual.shape, expected.shape))
        elif depth == 0:
            inner = _diagnose(name, expected, actual.T, context, depth + 1)
            found += [
                f"it has the transposed shape {actual.shape}, and after transposing: {d}"
                for d in inner
            ]
    elif expected.ndim == 1 and actual.ndim == 2:
        found += _bias_messages(name, expected, actual, context, depth)
    reshaped_fits = (
        actual.size == expected.size
        and actual.shape != expected.shape
        and close(actual.reshape(expected.shape), expected)
    )
    if not found and reshaped_fits:
        found.append(
            f"the numbers are right but the shape is {actual.shape}: {expected.shape} is needed"
        )
    for other, grad in context.expected.items():
        if other != name and grad.shape == actual.shape and close(actual, grad):
            found.append(
                f"it equals the gradient of {other}: the layers are in the wrong order "
                "(backprop produces the last layer first; reverse your list)"
            )
    if actual.shape == expected.shape:
        for description, grads in context.mistakes().items():
            if name in grads and grads[name].shape == actual.shape and close(actual, grads[name]):
                found.append(f"it matches backprop where {description}")
    return found


def _constant_ratio(actual: np.ndarray, expected: np.ndarray) -> float | None:
    mask = np.abs(expected) > 1e-12 * (np.abs(expected).max() or 1)
    if not mask.any() or np.any(np.abs(actual[~mask]) > 1e-9 * (np.abs(actual).max() or 1)):
        return None
    ratios = actual[mask] / expected[mask]
    ratio = float(np.median(ratios))
    return ratio if np.allclose(ratios, ratio, rtol=1e-6) else None


def _describe_factor(ratio: float, m: int | None) -> str:
    if m and m > 1 and np.isclose(ratio, m, rtol=1e-6):
        return (
            f"it is m = {m} times too large: the 1/m of the mean over the batch is missing "
            "(the cost is a mean over the m examples, so Δ = ∇_A C ⊙ σ′(Z) carries a 1/m)"
        )
    if m and m > 1 and np.isclose(ratio, 1 / m, rtol=1e-6):
        return (
            f"it is m = {m} times too small: the 1/m is applied twice "
            "(once in ∇_A C = (A − Y)/m, and once more after the sum)"
        )
    if np.isclose(ratio, 2, rtol=1e-6):
        return "it is 2 times too large: the ½ of C = ½‖a − y‖² cancels the 2 of the square"
    if np.isclose(ratio, 0.5, rtol=1e-6):
        return "it is half the right value: did you write ½ twice, or forget the 2 of the square?"
    return f"it is off by a constant factor {ratio:.6g}"


def _transpose_message(actual: tuple, expected: tuple) -> str:
    return (
        f"it is the transpose of the right gradient (shape {actual} where {expected} is "
        "needed): in the row convention ∂C/∂W = A_prevᵀ @ Δ has shape (n_in, n_out); "
        "Δᵀ @ A_prev, like Nielsen's δ aᵀ with w = Wᵀ, gives its transpose"
    )


def _bias_messages(name, expected, actual, context, depth) -> list[str]:
    n = expected.shape[0]
    close = context.close
    for axis, layout in ((0, "one row per example"), (1, "one column per example")):
        if actual.shape[1 - axis] != n:
            continue
        examples = actual.shape[axis]
        if actual.shape in ((n, 1), (1, n)) and close(actual.reshape(n), expected):
            return [
                f"the values are right but it is a {'column' if axis == 1 else 'row'} "
                f"{actual.shape}; the bias and its gradient have shape {expected.shape}"
            ]
        summed = actual.sum(axis=axis)
        if close(summed, expected):
            return [
                f"it is the error Δ itself, {layout} (shape {actual.shape}): a bias is "
                f"broadcast over the batch, so its gradient is the sum over the batch: "
                f"∂C/∂b = Δ.sum(axis={axis}) → {expected.shape}"
            ]
        if close(actual.mean(axis=axis), expected):
            return [
                f"it is an error term {layout} (shape {actual.shape}) that lacks the "
                "batch's 1/m: the bias gradient is the sum over the batch of Δ = ∇_A C ⊙ "
                f"σ′(Z), whose ∇_A C = (A − Y)/m carries the 1/m; Δ.sum(axis={axis}) → "
                f"{expected.shape}"
            ]
        if depth == 0 and examples > 1:
            inner = _diagnose(name, expected, summed, context, depth + 1)
            if inner:
                return [
                    f"it is not summed over the batch ({layout}, shape {actual.shape}; use "
                    f"Δ.sum(axis={axis})), and after summing: {d}"
                    for d in inner
                ]
    return []


def compare_gradients(
    expected: GradientSource = "autodiff",
    actual: GradientSource = "rows",
    *,
    model: Module | None = None,
    X: Any = None,
    Y: Any = None,
    cost: str | Cost = "quadratic",
    rtol: float = 1e-6,
    atol: float = 1e-12,
) -> GradientReport:
    """Compare two sets of gradients parameter by parameter and diagnose disagreements.

    expected, actual: each one of
      - "autodiff", "rows" or "columns": computed here from model, X, Y and cost;
      - a dict {parameter name: array}, e.g. {"layers.0.weight": dW1, ...};
      - a list of (dW, db) pairs, first layer first (named after the model's layers);
      - a function `f(weights_and_biases, X, Y)` returning either of those, called with the
        model's [(W, b), ...] as numpy copies (W: (n_in, n_out), b: (n_out,)): your own
        hand-written backprop.
    A parameter agrees when the shapes are equal and max|actual − expected| ≤ atol +
    rtol·max|expected|. With model, X and Y given, mistakes that need the network (σ for
    σ′ in BP2, …) can be named too.
    """
    cost = get_cost(cost)
    want, want_label = _resolve(expected, model, X, Y, cost)
    got, got_label = _resolve(actual, model, X, Y, cost)
    X_array = None if X is None else np.asarray(X.data if hasattr(X, "data") else X)
    batch_size = X_array.shape[0] if X_array is not None and X_array.ndim >= 2 else None

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and bool(
            np.all(np.abs(a - b) <= atol + rtol * (np.abs(b).max() if b.size else 0))
        )

    cache: dict[str, dict[str, Gradients]] = {}

    def mistakes() -> dict[str, Gradients]:
        if "all" not in cache:
            can_run = model is not None and X is not None and Y is not None
            cache["all"] = _mistaken_gradients(model, X, Y, cost) if can_run else {}
        return cache["all"]

    context = _Context(want, batch_size, close, mistakes)
    rows = []
    for name in list(want) + [n for n in got if n not in want]:
        e, a = want.get(name), got.get(name)
        if e is None or a is None:
            missing = (
                f"missing: {got_label} have no entry for it"
                if a is None
                else f"unexpected: {want_label} have no parameter of that name"
            )
            rows.append(
                Row(
                    name,
                    None if e is None else e.shape,
                    None if a is None else a.shape,
                    None,
                    None,
                    False,
                    [missing],
                )
            )
            continue
        if a.shape == e.shape:
            abs_error = float(np.abs(a - e).max()) if e.size else 0.0
            scale = float(np.abs(e).max()) if e.size else 0.0
            rel_error = abs_error / scale if scale else abs_error
        else:
            abs_error = rel_error = None
        ok = close(a, e)
        diagnoses = [] if ok else _diagnose(name, e, a, context) or [_fallback(e, a)]
        rows.append(Row(name, e.shape, a.shape, abs_error, rel_error, ok, diagnoses))
    return GradientReport(rows, want_label, got_label)


def _fallback(expected: np.ndarray, actual: np.ndarray) -> str:
    if actual.shape != expected.shape:
        return (
            f"its shape is {actual.shape} where {expected.shape} is needed; no known mistake fits"
        )
    worst = np.unravel_index(np.argmax(np.abs(actual - expected)), expected.shape)
    index = tuple(int(i) for i in worst)
    return (
        f"no known mistake explains it; the largest difference is at {index}: expected "
        f"{expected[worst]:.6g}, got {actual[worst]:.6g}"
    )
