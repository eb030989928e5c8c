"""The engine's gradients against central finite differences, in float64: of a function
(`gradcheck`), and of every op of a recorded graph at its own inputs (`gradcheck_graph`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import GradientReport, compare, constant_ratio
from .engine import Tensor, apply, backward_order
from .errors import GradcheckError
from .recording import no_grad
from .specialize import rule


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check `fn`'s gradients with respect to every input that requires grad.

    Each such input x is copied to float64; the engine's gradient of `L = Σ v ⊙ fn(...)`
    (v = 1 for a one-element output, else a fixed random array drawn with `seed`) is
    compared with the central difference `(L(x + eps·eᵢ) − L(x − eps·eᵢ)) / (2·eps)` for
    every element i. An element passes when `|engine − numeric| ≤ atol + rtol·|numeric|`.
    The inputs themselves are never modified.

    Returns True, or raises `GradcheckError` naming the input, its worst index, both values
    and the errors. Raises ValueError for inputs holding NaN or inf (finite differences
    need finite points) or when no input requires grad.
    """
    copies = [_float64_copy(i, x) for i, x in enumerate(inputs)]
    checked = [i for i, x in enumerate(copies) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(
            "gradcheck: no input requires grad; pass at least one Tensor(..., requires_grad=True)."
        )
    out = fn(*copies)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, it returned {type(out).__name__}.")
    weights = (
        np.ones(out.shape)
        if out.size == 1
        else np.random.default_rng(seed).standard_normal(out.shape)
    )
    if out.requires_grad:
        out.backward(weights)

    def objective() -> float:
        with no_grad():
            return float(np.sum(weights * np.asarray(fn(*copies).data, dtype=np.float64)))

    for i in checked:
        x = copies[i]
        engine = x._grad if x._grad is not None else np.zeros_like(x.data)
        numeric = central_differences(objective, x.data, eps)
        _compare(i, x, engine, numeric, atol, rtol)
    return True


def _float64_copy(position: int, x: Any) -> Any:
    if not isinstance(x, Tensor):
        return x
    data = x.data
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all():
            where = tuple(int(j) for j in np.argwhere(~finite)[0])
            raise ValueError(
                f"gradcheck: input {_describe(position, x)} holds {data[where]} at index "
                f"{where}; finite differences need finite values."
            )
        return Tensor(data.astype(np.float64), requires_grad=x.requires_grad, name=x.name)
    return Tensor(data, name=x.name)


def central_differences(
    objective: Callable[[], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """∂objective/∂x by (f(x + eps) − f(x − eps)) / (2 eps), one element of x at a time.

    `objective()` must read x (a contiguous float64 array, perturbed in place and restored).
    """
    return _differences_at(objective, x, np.arange(x.size), eps).reshape(x.shape)


def _describe(position: int, x: Tensor) -> str:
    name = f"{x.name!r}, " if x.name else ""
    return f"{position} ({name}shape {x.shape})"


def _compare(
    position: int, x: Tensor, engine: np.ndarray, numeric: np.ndarray, atol: float, rtol: float
) -> None:
    error = np.abs(engine - numeric)
    allowed = atol + rtol * np.abs(numeric)
    failing = error > allowed
    if not failing.any():
        return
    worst = np.unravel_index(np.argmax(error / allowed), error.shape)
    index = tuple(int(k) for k in worst)
    relative = error[worst] / max(abs(numeric[worst]), np.finfo(np.float64).tiny)
    raise GradcheckError(
        f"gradcheck: the gradient of input {_describe(position, x)} disagrees with finite "
        f"differences.\n"
        f"  worst at index {index}: engine {engine[worst]:.10g}, finite differences "
        f"{numeric[worst]:.10g}\n"
        f"  abs error {error[worst]:.3e}, rel error {relative:.3e} (allowed: atol {atol:g} + "
        f"rtol {rtol:g} × |numeric| = {allowed[worst]:.3e})\n"
        f"  {int(failing.sum())} of {failing.size} entries are outside the tolerance."
        f"{_pattern(engine, numeric)}"
    )


def _pattern(engine: np.ndarray, numeric: np.ndarray) -> str:
    """A hint when the two gradients differ by a constant factor (a lost 1/m, a sign)."""
    if not np.any(engine):
        return "\n  The engine's gradient is all zeros: is the input used, or was it detached?"
    ratio = constant_ratio(engine, numeric)
    if ratio is not None and not np.isclose(ratio, 1.0, rtol=1e-3):
        return f"\n  The engine's gradient is {ratio:.6g} × the numeric one everywhere."
    return ""


def gradcheck_graph(
    loss: Tensor,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_entries: int = 64,
    seed: int = 0,
) -> GradientReport:
    """Check every recorded op of `loss`'s graph on its own: each node's VJPs at that node's
    own inputs, against central differences, in float64. It names the op whose VJP is wrong:
    what someone adding their own `Op` needs.

    For each node, in the order backward runs them: float64 copies of its inputs (constants
    kept), the op applied again with the node's parameters, and for each input that requires
    grad, the VJP of `Σ v ⊙ out` (v a fixed random array) against central differences of the
    same sum at up to `max_entries` entries of that input (chosen at random with `seed`; all
    of them for small inputs). An entry agrees when |vjp − numeric| ≤ atol + rtol·|numeric|,
    as in `gradcheck`. Returns a `GradientReport`, one row per (op, input); `first_wrong`
    names the first op whose VJP disagrees. Ops at a kink (relu at 0, a tie in max) may
    disagree with finite differences without being wrong.
    """

    if not isinstance(loss, Tensor) or loss.node is None:
        raise TypeError("gradcheck_graph: expected a Tensor computed by recorded ops.")
    rng = np.random.default_rng(seed)
    rows = []
    for number, tensor in enumerate(backward_order(loss), start=1):
        node = tensor.node
        copies = [
            Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad)
            if isinstance(x, Tensor) and x.data.dtype.kind == "f"
            else x
            for x in node.inputs
        ]
        weights = rng.standard_normal(tensor.shape)

        def objective(copies=copies, node=node, weights=weights) -> float:
            with no_grad():
                out = apply(node.op, *copies, **node.params)
            return float(np.sum(weights * out.data))

        out = apply(node.op, *copies, **node.params)
        out.backward(weights.astype(out.dtype))
        for position, x in enumerate(copies):
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            given = node.inputs[position]
            label = given.name or (given.op and f"({given.op} output)") or f"input {position}"
            name = f"step {number}: {node.op.name}, d{label}"
            engine = x.grad if x.grad is not None else np.zeros_like(x.data)
            entries = rng.permutation(x.size)[:max_entries]
            numeric = _differences_at(objective, x.data, entries, eps)
            picked = engine.reshape(-1)[entries]
            allowed = atol + rtol * float(np.max(np.abs(numeric), initial=0.0))
            row = compare(name, numeric, picked, extra=allowed, op=node.op.name, source="VJP")
            row.expected_shape = row.actual_shape = x.shape
            if not row.ok:
                row.diagnoses.insert(
                    0,
                    f"the VJP for input {position} of {node.op.name} "
                    f"(rule: {rule(tensor, position)}) disagrees with finite "
                    f"differences at {len(entries)} of {x.size} entries",
                )
            rows.append(row)
    return GradientReport(rows, "finite differences", "each op's VJP")


def _differences_at(objective, x: np.ndarray, entries: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of objective() at the given flat entries of x (perturbed in place
    and restored; x is contiguous, so its flat view is x itself)."""
    flat = x.reshape(-1)
    numeric = np.empty(len(entries))
    for k, j in enumerate(entries):
        original = flat[j]
        flat[j] = original + eps
        plus = objective()
        flat[j] = original - eps
        minus = objective()
        flat[j] = original
        numeric[k] = (plus - minus) / (2 * eps)
    return numeric
