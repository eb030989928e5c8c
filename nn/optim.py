"""Optimizers: `SGD` (with momentum and weight decay) and `Adam`.

Parameters are given as a list of Tensors, or as parameter groups (dicts with "params" and
per-group settings), as in PyTorch.

Nielsen's L2 regularisation (chapter 3) updates a weight as
    w → (1 − ηλ/n) w − η ∂C₀/∂w
(η the learning rate, λ the regularisation parameter, n the size of the *training set*,
∂C₀/∂w the mini-batch mean of the unregularised cost's gradient), and leaves biases alone.
`SGD` with `weight_decay=wd` does `w → w − η (∂C₀/∂w + wd·w) = (1 − η·wd) w − η ∂C₀/∂w`, so
the two agree with `weight_decay = λ/n` on the weights only:

    SGD(nielsen_l2(model, lmbda=5.0, n=50_000), lr=0.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from autograd_mini import Tensor

ParamsLike = Iterable[Tensor] | Iterable[dict[str, Any]]


def is_real(value: Any) -> bool:
    """Whether `value` is a real number (a Python or numpy int or float, not a bool)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


class Optimizer:
    """Parameter groups, `zero_grad()`, and the state that `state_dict()` saves."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: ParamsLike, **settings: Any) -> None:
        self.settings = {**type(self).defaults, **settings}
        self._check_settings(self.settings, "")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters.")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for number, group in enumerate(groups):
            unknown = set(group) - set(self.settings) - {"params"}
            if unknown:
                raise ValueError(
                    f"{type(self).__name__}: parameter group {number} has unknown settings "
                    f"{sorted(unknown)}; known: {sorted(self.settings)}."
                )
            params = group["params"]
            params = [params] if isinstance(params, Tensor) else list(params)
            for p in params:
                if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                    raise TypeError(
                        f"{type(self).__name__}: every parameter must be a leaf Tensor with "
                        f"requires_grad=True, got {p!r:.80}."
                    )
                if id(p) in seen:
                    raise ValueError(
                        f"{type(self).__name__}: parameter {p.name or ''} appears twice."
                    )
                seen.add(id(p))
            settings = {**self.settings, **{k: v for k, v in group.items() if k != "params"}}
            self._check_settings(settings, f" (group {number})")
            self.param_groups.append({"params": params, **settings})
        self.state: dict[Tensor, dict[str, Any]] = {}

    def _check_settings(self, settings: dict[str, Any], where: str) -> None:
        """Refuse a setting that is not a number, or out of its range (lr: inf, "0.1", …)."""
        name = type(self).__name__
        lr = settings.get("lr")
        if not (is_real(lr) and 0 < lr < math.inf):
            raise ValueError(f"{name}: lr must be a positive, finite number{where}, got {lr!r}.")
        decay = settings.get("weight_decay", 0.0)
        if not (is_real(decay) and 0 <= decay < math.inf):
            raise ValueError(
                f"{name}: weight_decay must be a finite number ≥ 0{where}, got {decay!r}."
            )
        momentum = settings.get("momentum", 0.0)
        if not (is_real(momentum) and 0 <= momentum < 1):
            raise ValueError(f"{name}: momentum must lie in [0, 1){where}, got {momentum!r}.")
        betas = settings.get("betas", (0.0, 0.0))
        if not (
            isinstance(betas, (tuple, list))
            and len(betas) == 2
            and all(is_real(b) and 0 <= b < 1 for b in betas)
        ):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1){where}, got {betas!r}.")
        eps = settings.get("eps", 1.0)
        if not (is_real(eps) and 0 < eps < math.inf):
            raise ValueError(f"{name}: eps must be positive and finite{where}, got {eps!r}.")

    def parameters(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets `.grad` to None)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Settings per group and per-parameter state (arrays), by parameter position."""
        positions = {p: i for i, p in enumerate(self.parameters())}
        return {
            "type": type(self).__name__,
            "groups": [
                {k: v for k, v in group.items() if k != "params"} | {"size": len(group["params"])}
                for group in self.param_groups
            ],
            "state": {
                positions[p]: {
                    k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()
                }
                for p, s in self.state.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict()` returned, checking that it fits these parameters."""
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"load_state_dict: the state is of a {state.get('type')}, "
                f"not a {type(self).__name__}."
            )
        sizes = [group.get("size") for group in state["groups"]]
        if sizes != [len(group["params"]) for group in self.param_groups]:
            raise ValueError(
                f"load_state_dict: the state has parameter groups of sizes {sizes}, this "
                f"optimizer {[len(g['params']) for g in self.param_groups]}."
            )
        params = self.parameters()
        restored = {}
        for position, entry in state["state"].items():
            p = params[int(position)]
            for key, value in entry.items():
                if isinstance(value, np.ndarray) and value.shape != p.shape:
                    raise ValueError(
                        f"load_state_dict: state {key!r} of parameter {position} has shape "
                        f"{value.shape}, the parameter {p.shape}."
                    )
            restored[p] = {
                k: (np.array(v, dtype=p.dtype) if isinstance(v, np.ndarray) else v)
                for k, v in entry.items()
            }
        for group, saved in zip(self.param_groups, state["groups"], strict=True):
            group.update({k: v for k, v in saved.items() if k != "size"})
        self.state = restored


class SGD(Optimizer):
    """Stochastic gradient descent: `p ← p − lr·g`.

    With weight_decay wd, g = ∂C/∂p + wd·p (L2; see the module docstring for Nielsen's λ/n).
    With momentum μ, a velocity v ← μ·v + g is kept per parameter and p ← p − lr·v
    (PyTorch's form; v starts at the first g).
    """

    defaults: ClassVar[dict[str, Any]] = {"lr": None, "momentum": 0.0, "weight_decay": 0.0}

    def __init__(
        self, params: ParamsLike, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def step(self, gradients: Mapping[Tensor, np.ndarray] | None = None) -> None:
        """Update every parameter that has a gradient, in place.

        gradients: {parameter: its gradient} to use instead of each `.grad` (what a compiled
        step returns, `nn.compile`); those arrays are the optimizer's to write into.
        """
        for group in self.param_groups:
            lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
            rate = None  # lr as a 0-d array of the parameters' dtype: numpy multiplies by
            # that faster than by a Python float (which it converts to that dtype each time)
            for p in group["params"]:
                g = p.grad if gradients is None else gradients.get(p)
                if g is None:
                    continue
                if rate is None or rate.dtype != p.data.dtype:
                    rate = np.array(lr, dtype=p.data.dtype)
                if decay:
                    g = g + decay * p.data
                if momentum:
                    state = self.state.setdefault(p, {})
                    velocity = state.get("velocity")
                    if velocity is None:
                        velocity = state["velocity"] = np.array(g, dtype=p.dtype)
                    else:
                        velocity *= momentum
                        velocity += g
                    g = velocity
                elif gradients is not None and not decay:  # an array of its own: written into
                    np.multiply(g, rate, out=g)  # (g · rate: the same product as rate · g)
                    p.data -= g
                    continue
                p.data -= rate * g


class Adam(Optimizer):
    """Adam (Kingma & Ba): per-parameter step sizes from running moments of the gradient.

    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − lr·m̂/(√v̂ + eps) with the bias
    corrections m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ). weight_decay adds wd·p to g (L2).
    """

    defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
    }

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        betas = tuple(betas) if isinstance(betas, list) else betas  # as a JSON file gives them
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def step(self, gradients: Mapping[Tensor, np.ndarray] | None = None) -> None:
        """Update every parameter that has a gradient, in place (gradients: as for SGD)."""
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            decay = group["weight_decay"]
            for p in group["params"]:
                g = p.grad if gradients is None else gradients.get(p)
                if g is None:
                    continue
                if decay:
                    g = g + decay * p.data
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(step=0, m=np.zeros_like(p.data), v=np.zeros_like(p.data))
                state["step"] += 1
                t, m, v = state["step"], state["m"], state["v"]
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                p.data -= lr * m_hat / (np.sqrt(v_hat) + eps)


def nielsen_l2(model: Any, lmbda: float, n: int) -> list[dict[str, Any]]:
    """Parameter groups for Nielsen's L2 regularisation: weight decay λ/n on the weights only.

    model: an MLP (anything with `weights()` and `biases()`); lmbda: λ; n: the number of
    training examples (not the mini-batch size).
    """
    if n < 1:
        raise ValueError(f"nielsen_l2: n is the training set size and must be ≥ 1, got {n}.")
    return [
        {"params": model.weights(), "weight_decay": lmbda / n},
        {"params": model.biases(), "weight_decay": 0.0},
    ]
