"""The activations: σ, tanh, relu, ..., the ops of the table marked as activations.

One registry that everything reads: `nn`'s activation layers record the op, the closed-form
backprop (BP1–BP4) uses `f` and `derivative` on numpy arrays, and the checkers know the
classic mistakes at each. `f` is the op's forward and `derivative` its VJP with da = 1, so no
formula is written twice; a mistake is a wrong VJP formula, run on what the op saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ops  # noqa: F401 (importing the ops fills the table)
from .formulas import OPS, Op, compile_vjp


@dataclass(frozen=True)
class Activation:
    """An elementwise activation a = f(z): the op `name` of the table (or "identity")."""

    name: str
    mistakes: tuple[tuple[str, str], ...] = ()
    """(what is wrong, the wrong VJP formula a learner writes), e.g. σ(z) where σ′(z) belongs."""

    @property
    def op(self) -> Op | None:
        return OPS.get(self.name)

    def __call__(self, z: Any) -> Any:
        """a = f(z) on a Tensor, recorded: `z.sigmoid()`."""
        return z if self.name == "identity" else getattr(z, self.name)()

    def f(self, z: np.ndarray) -> np.ndarray:
        """a = f(z) on a numpy array: the op's forward."""
        return z if self.op is None else self.op.value(z)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """f′(z) on a numpy array: the op's VJP from da = 1."""
        if self.op is None:
            return np.ones_like(z)
        _, saved = self.op.forward(z)
        return self.op.vjps[0](0, np.ones_like(z, dtype=np.result_type(z, 1.0)), *saved)

    def derivative_of_output(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """f′ written in terms of the output a = f(z) (σ′ = a(1 − a)), as much code does, or
        None when the op's derivative is not written through its output alone."""
        op = self.op
        if op is None or op.saved_names != (op.output,):
            return None
        return lambda a: op.vjps[0](0, np.ones_like(a), a)

    def wrong_rules(self) -> list[tuple[str, Callable[..., Any]]]:
        """Each classic mistake as (what is wrong, with the rule; a VJP `(i, da, *saved)`)."""
        op = self.op
        return [
            (f"{what}: {formula} where the rule is {op.rules[0]}", compile_vjp(op, formula))
            for what, formula in self.mistakes
        ]


IDENTITY = Activation("identity")

ACTIVATIONS: dict[str, Activation] = {
    **{op.name: Activation(op.name, op.mistakes) for op in OPS.values() if op.activation},
    "identity": IDENTITY,
}
"""Every elementwise activation by name: the ops marked `activation=True` in the table."""
