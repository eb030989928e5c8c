"""A network's gradients from independent sources, compared, with the mistakes named.

Sources of ∂C/∂p for every parameter p of an `MLP` (or a `Sequential` of layers):

- `autodiff_gradients`: the engine's `backward()` through the recorded forward pass;
- `backprop_rows` / `backprop_columns` (in `nn.backprop`): the equations BP1–BP4;
- `numerical_gradients`: central finite differences of the cost, in float64;
- your own backprop: a dict of arrays, a list of (dW, db) pairs, or a function.

`compare_gradients` puts two of them side by side and `check_backprop` puts the closed
forms and finite differences beside autodiff; both build their rows with
`autograd_mini.compare` (its verdicts, its rule for "agrees to rounding", its diagnoses:
a transpose, a missing or doubled 1/m, a bias not summed over the batch, a flipped sign,
layers in the wrong order). The mistakes that need the network are found here, by
re-running the row equations with one classic mistake planted: σ(z) where σ′(z) belongs
in BP2, σ′ taken of a instead of z, BP1 without σ′(zᴸ), an error term computed against
integer labels instead of one-hot rows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini.compare import (
    CONVENTIONS,
    GradientIndex,
    GradientReport,
    Hints,
    compare,
    to_rows,
)
from autograd_mini.replay import rounding_errors
from autograd_mini.text import printable

from .backprop import Layer, backprop_columns, backprop_rows, layers_of, rows_equations
from .costs import QUADRATIC, Cost, check_inputs, check_targets, get_cost
from .module import Module

Gradients = dict[str, np.ndarray]
GradientSource = Mapping[str, Any] | Sequence[tuple[Any, Any]] | Callable[..., Any] | str

FINITE_DIFFERENCE_ERROR = 1e-5
"""Central differences with eps = 1e-6 in float64 are good to about this fraction of the
gradient's largest entry (truncation eps²·f‴, rounding u·|C|/eps); allowed on top of rounding."""


# ----------------------------------------------------------------------------------------
# The sources
# ----------------------------------------------------------------------------------------


def _autodiff(model: Module, X: Any, Y: Any, cost: Cost) -> tuple[Gradients, dict[str, float]]:
    """∂C/∂p by the engine, and how much rounding moves each (measured on the graph).
    The parameters' own `.grad` are left as they were."""
    params = dict(model.named_parameters())
    kept = {name: p.grad for name, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        with ag.enable_grad():
            loss = cost.loss(model(X), Y)
        loss.backward(retain_graph=True)
        grads = {
            name: (p.grad.copy() if p.grad is not None else np.zeros_like(p.data))
            for name, p in params.items()
        }
        errors = rounding_errors(loss, {id(p): grads[name] for name, p in params.items()})
        return grads, {name: errors.get(id(p)) for name, p in params.items()}
    finally:
        for name, p in params.items():
            p.grad = kept[name]


def autodiff_gradients(model: Module, X: Any, Y: Any, cost: str | Cost = "quadratic") -> Gradients:
    """∂C/∂p for every parameter p, by the engine: C = cost.loss(model(X), Y), backward().

    The parameters' own `.grad` are left as they were.
    """
    return _autodiff(model, X, Y, get_cost(cost))[0]


def numerical_gradients(
    model: Module, X: Any, Y: Any, cost: str | Cost = "quadratic", eps: float = 1e-6
) -> Gradients:
    """∂C/∂p by central differences (C(p + eps) − C(p − eps)) / (2 eps), on a float64 copy.

    Costs two evaluations of the network per parameter entry: meant for small networks.
    """
    cost = get_cost(cost)
    twin = copy.deepcopy(model)
    for p in twin.parameters():
        p.data = p.data.astype(np.float64)
    X = np.asarray(X.data if isinstance(X, ag.Tensor) else X, dtype=np.float64)

    def objective() -> float:
        with ag.no_grad():
            return float(cost.loss(twin(X), Y).item())

    return {
        name: ag.central_differences(objective, p.data, eps) for name, p in twin.named_parameters()
    }


_BUILT_IN = {"autodiff": autodiff_gradients, "rows": backprop_rows, "columns": backprop_columns}


def _kind(value: Any) -> str:
    """What a value is, in a few words: its type, and for a string its start."""
    if isinstance(value, str):
        return f"the string {printable(repr(value[:40]))}"
    return "None" if value is None else f"an object of type {type(value).__name__}"


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
        function = f"your function {name}" if name != "<lambda>" else "your function"
        source = source(weights_and_biases, np.asarray(X), np.asarray(Y))
        if not isinstance(source, (Mapping, list, tuple)):
            raise ValueError(
                f"compare_gradients: {function} returned {_kind(source)}; it must return a "
                "dict {parameter name: gradient} or a list of (dW, db) pairs, one per layer "
                "(did it forget to return them?)."
            )
    if isinstance(source, Mapping):
        return dict(source.items()), label
    if not isinstance(source, (list, tuple)):
        raise ValueError(
            f"compare_gradients: a source must be 'autodiff', 'rows' or 'columns', a dict "
            "{parameter name: gradient}, a list of (dW, db) pairs or a function returning one "
            f"of those; got {_kind(source)}."
        )
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
        grads[w_name], grads[b_name] = pair
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
    if cost is QUADRATIC:
        variants[
            "BP1 is missing the σ′(zᴸ) factor: δᴸ = (a − y) ⊙ σ′(zᴸ) for the quadratic cost"
        ] = (layers, Y, replace(cost, delta=lambda z, a, y, activation: a - y))
    Y_array = np.asarray(Y.data if hasattr(Y, "data") else Y)
    if Y_array.ndim == 2 and Y_array.shape[1] > 1 and np.all((Y_array == 0) | (Y_array == 1)):
        labels = Y_array.argmax(axis=1)
    elif cost.takes_labels and Y_array.ndim == 1:
        labels = Y_array
    else:
        labels = None
    if labels is not None:
        column = labels.reshape(-1, 1).astype(layers[0].W.dtype)
        variants[
            "the error term is computed against the integer labels (a − y with y a class "
            "index) instead of one-hot rows"
        ] = (layers, column, replace(cost, takes_labels=False))
    results = {}
    for description, (variant_layers, variant_Y, variant_cost) in variants.items():
        try:
            with np.errstate(all="ignore"):
                results[description] = rows_equations(variant_layers, X, variant_Y, variant_cost)
        except (ValueError, TypeError):  # a mistake that cannot even run on these shapes
            continue
    return results


# ----------------------------------------------------------------------------------------
# The comparisons
# ----------------------------------------------------------------------------------------


def _role(name: str) -> str | None:
    return next((role for role in ("weight", "bias") if name.endswith("." + role)), None)


def _batch_size(X: Any) -> int | None:
    if X is None:
        return None
    shape = np.shape(X.data if isinstance(X, ag.Tensor) else X)
    return shape[0] if len(shape) >= 2 else None


def compare_gradients(
    expected: GradientSource = "autodiff",
    actual: GradientSource = "rows",
    *,
    model: Module | None = None,
    X: Any = None,
    Y: Any = None,
    cost: str | Cost = "quadratic",
    rtol: float | None = None,
    atol: float | None = None,
    convention: str = "rows",
) -> GradientReport:
    """Compare two sets of gradients parameter by parameter and diagnose disagreements.

    expected, actual: each one of
      - "autodiff", "rows" or "columns": computed here from model, X, Y and cost;
      - a dict {parameter name: array}, e.g. {"layers.0.weight": dW1, ...};
      - a list of (dW, db) pairs, first layer first (named after the model's layers);
      - a function `f(weights_and_biases, X, Y)` returning either of those, called with the
        model's [(W, b), ...] as numpy copies (W: (n_in, n_out), b: (n_out,)): your own
        hand-written backprop.
    A parameter agrees when the shapes are equal and the difference is within rounding
    (`autograd_mini.compare`: measured on the network's graph when model, X and Y are
    given), or, when you give rtol and/or atol, within atol + rtol·max|expected|. With
    model, X and Y given, mistakes that need the network (σ for σ′ in BP2, …) are named too.
    convention: "columns" reads the gradients you give (dicts, pairs, your function's
    result) in Nielsen's layout, w as (n_out, n_in) and b as (n_out, 1), and turns them into
    the model's (n_in, n_out) and (n_out,) before comparing.
    """
    if convention not in CONVENTIONS:
        raise ValueError(
            f"compare_gradients: convention must be one of {CONVENTIONS}, got {convention!r}."
        )
    cost = get_cost(cost)
    measured: dict[str, float | None] = {}
    if expected == "autodiff" and model is not None and X is not None and Y is not None:
        want, measured = _autodiff(model, X, Y, cost)
        want_label = "autodiff"
    else:
        want, want_label = _resolve(expected, model, X, Y, cost)
    got, got_label = _resolve(actual, model, X, Y, cost)
    if convention == "columns":
        if not isinstance(actual, str):
            got = {k: to_rows(v, np.shape(want[k]) if k in want else ()) for k, v in got.items()}
        if not isinstance(expected, str):
            want = {k: to_rows(v, np.shape(got.get(k, ()))) for k, v in want.items()}
    want = {name: np.asarray(value) for name, value in want.items()}
    can_plant = model is not None and X is not None and Y is not None
    mistakes = _mistaken_gradients(model, X, Y, cost) if can_plant else {}
    others = GradientIndex(want)  # for "it equals the gradient of ...", made once
    rows = []
    for name in list(want) + [n for n in got if n not in want]:
        if name not in want:
            rows.append(
                ag.Row(
                    name,
                    "missing",
                    None,
                    np.shape(got[name]),
                    diagnoses=[f"unexpected: {want_label} have no parameter of that name"],
                    source=got_label,
                )
            )
            continue
        hints = Hints(
            batch_size=_batch_size(X),
            others=others.without(name),
            alternatives=[
                (f"it matches backprop where {description}", np.asarray(grads[name]))
                for description, grads in mistakes.items()
                if name in grads
            ],
            role=_role(name),
        )
        row = compare(
            name,
            want[name],
            got.get(name),
            measured=measured.get(name),
            hints=hints,
            source=got_label,
        )
        if row.verdict == "missing":
            row.diagnoses = [f"missing: {got_label} have no entry for it"]
        if (rtol is not None or atol is not None) and row.max_abs_error is not None:
            scale = float(np.max(np.abs(want[name]), initial=0.0))
            row.allowed = (atol or 0.0) + (rtol or 0.0) * scale
            row.allowance = f"your tolerance allows ≤ {row.allowed:.1g}"
            if row.verdict != "exact":
                row.verdict = "agrees to rounding" if row.max_abs_error <= row.allowed else "wrong"
        rows.append(row)
    return GradientReport(rows, want_label, got_label)


def check_backprop(
    model: Module,
    X: Any,
    Y: Any,
    cost: str | Cost = "quadratic",
    finite_differences: bool = True,
    eps: float = 1e-6,
) -> GradientReport:
    """Compare autodiff's gradients with both closed forms and (optionally) finite differences.

    The closed forms must agree to rounding (measured on the network's graph, see
    `autograd_mini.compare`); finite differences to rounding plus their own error,
    `FINITE_DIFFERENCE_ERROR` of the gradient's largest entry. A batch the network cannot
    take (no rows, another width, NaN, targets of another width, labels out of range: see
    `costs.check_targets`) is refused with a ValueError before anything is computed.
    """
    cost = get_cost(cost)
    layers = layers_of(model)
    X = check_inputs(X, "check_backprop", n_inputs=layers[0].W.shape[0])
    Y = check_targets(cost, Y, len(X), layers[-1].W.shape[1], "check_backprop")
    sources = {  # first: they refuse networks the cost cannot check (one softmax output)
        "rows": backprop_rows(model, X, Y, cost),
        "columns": backprop_columns(model, X, Y, cost),
    }
    autodiff, measured = _autodiff(model, X, Y, cost)
    if finite_differences:
        sources["finite differences"] = numerical_gradients(model, X, Y, cost, eps)
    rows = []
    for name, reference in autodiff.items():
        scale = float(np.max(np.abs(reference), initial=0.0))
        for source, grads in sources.items():
            extra = FINITE_DIFFERENCE_ERROR * scale if source == "finite differences" else 0.0
            hints = Hints(batch_size=_batch_size(X), role=_role(name))
            rows.append(
                compare(
                    name,
                    reference,
                    grads.get(name),
                    measured=measured.get(name),
                    extra=extra,
                    hints=hints,
                    source=source,
                )
            )
    return GradientReport(rows, "autodiff", "the other methods")
