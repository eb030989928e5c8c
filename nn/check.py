"""Gradients of a network's cost from three independent sources, and a table comparing them.

- `autodiff_gradients`: the engine's `backward()` through the recorded forward pass;
- `backprop_rows` / `backprop_columns` (in `nn.backprop`): the equations BP1–BP4;
- `numerical_gradients`: central finite differences of the cost, in float64.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd_mini as ag

from .backprop import backprop_columns, backprop_rows
from .costs import Cost, get_cost
from .module import Module
from .table import format_table

Gradients = dict[str, np.ndarray]


def autodiff_gradients(model: Module, X: Any, Y: Any, cost: str | Cost = "quadratic") -> Gradients:
    """∂C/∂p for every parameter p, by the engine: C = cost.loss(model(X), Y), backward().

    The parameters' own `.grad` are left as they were.
    """
    cost = get_cost(cost)
    params = dict(model.named_parameters())
    kept = {name: p._grad for name, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        with ag.enable_grad():
            loss = cost.loss(model(X), Y)
        loss.backward()
        return {
            name: (p._grad.copy() if p._grad is not None else np.zeros_like(p.data))
            for name, p in params.items()
        }
    finally:
        for name, p in params.items():
            p._grad = kept[name]


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


@dataclass(frozen=True)
class MethodRow:
    name: str
    shape: tuple[int, ...]
    scale: float  # max |∂C/∂p| by autodiff
    errors: dict[str, float]  # method → max |method − autodiff| / scale
    ok: bool


@dataclass(frozen=True)
class MethodComparison:
    """Autodiff against the closed forms (and finite differences), parameter by parameter."""

    rows: list[MethodRow]
    methods: list[str]
    tolerances: dict[str, float]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def __str__(self) -> str:
        header = ["parameter", "shape", "max |∂C/∂p|", *(f"{m} vs autodiff" for m in self.methods)]
        body = [
            [row.name, str(row.shape), f"{row.scale:.3e}"]
            + [f"{row.errors[m]:.1e}" for m in self.methods]
            + ["✓" if row.ok else "✗"]
            for row in self.rows
        ]
        limits = ", ".join(f"{m} ≤ {t:g}" for m, t in self.tolerances.items())
        return (
            format_table([*header, "ok"], body)
            + f"\n(errors are max |difference| / max |∂C/∂p|; allowed: {limits})"
        )

    __repr__ = __str__


def check_backprop(
    model: Module,
    X: Any,
    Y: Any,
    cost: str | Cost = "quadratic",
    finite_differences: bool = True,
    eps: float = 1e-6,
) -> MethodComparison:
    """Compare autodiff's gradients with both closed forms and (optionally) finite differences.

    Agreement is judged relative to each gradient's scale: the closed forms must agree to
    1e-8 in float64 (1e-4 in float32), finite differences to 1e-5.
    """
    autodiff = autodiff_gradients(model, X, Y, cost)
    others = {
        "rows": backprop_rows(model, X, Y, cost),
        "columns": backprop_columns(model, X, Y, cost),
    }
    exact = 1e-8 if all(g.dtype == np.float64 for g in autodiff.values()) else 1e-4
    tolerances = {"rows": exact, "columns": exact}
    if finite_differences:
        others["finite differences"] = numerical_gradients(model, X, Y, cost, eps)
        tolerances["finite differences"] = 1e-5
    rows = []
    for name, reference in autodiff.items():
        scale = float(np.abs(reference).max()) if reference.size else 0.0
        errors = {
            method: float(np.abs(np.asarray(grads[name], dtype=np.float64) - reference).max())
            / (scale or 1.0)
            for method, grads in others.items()
        }
        ok = all(errors[m] <= tolerances[m] for m in others)
        rows.append(MethodRow(name, reference.shape, scale, errors, ok))
    return MethodComparison(rows, list(others), tolerances)
