"""The engine's gradients against central finite differences, in float64: of a function
(`gradcheck`), of its second derivatives (`gradgradcheck`), and of every op of a recorded
graph at its own inputs (`gradcheck_graph`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import GradientReport, Row, compare, constant_ratio
from .engine import Tensor, apply, backward_order
from .errors import GradcheckError
from .higher import gradients
from .recording import no_grad
from .replay import params_in
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
    and the errors (a NaN or inf on either side never agrees). Raises ValueError for inputs
    holding NaN or inf (finite differences need finite points), when no input requires
    grad, or for an eps that is not a positive finite number, or a negative or NaN tolerance.
    """
    _check_settings("gradcheck", eps, atol, rtol)
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
        with np.errstate(all="ignore"):  # a NaN or inf is reported as such, below
            out.backward(weights)

    def objective() -> float:
        with no_grad(), np.errstate(all="ignore"):
            return float(np.sum(weights * np.asarray(fn(*copies).data, dtype=np.float64)))

    for i in checked:
        x = copies[i]
        engine = x._grad if x._grad is not None else np.zeros_like(x.data)
        numeric = central_differences(objective, x.data, eps)
        _compare(i, x, engine, numeric, atol, rtol)
    return True


def gradgradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check `fn`'s second derivatives with respect to every input that requires grad, as
    torch's gradgradcheck: the derivative of the gradient against finite differences of
    the gradient.

    Each such input x is copied to float64. With v a random output gradient (of fn's
    output shape) and w_x a random weight of each input's shape, drawn with `seed`, the
    first derivative is `G(x) = Σ_x w_x ⊙ ∂(v ⊙ fn)/∂x` (one number). Its gradient from
    double backward (`ag.gradients(..., create_graph=True)` then a backward through that
    graph) is compared with the central differences `(G(x + eps·eᵢ) − G(x − eps·eᵢ)) /
    (2·eps)`, each G from a plain first-order backward, for every element i. An element
    passes when `|engine − numeric| ≤ atol + rtol·|numeric|`. The inputs are never
    modified.

    Returns True, or raises `GradcheckError` naming the input and its worst entry. Raises
    ValueError as `gradcheck` does (no input requiring grad, non-finite inputs, bad eps or
    tolerances). Where a first derivative has a kink (relu at 0, max at a tie) finite
    differences straddle it: check such points on their own.
    """
    _check_settings("gradgradcheck", eps, atol, rtol)
    copies = [_float64_copy(i, x, "gradgradcheck") for i, x in enumerate(inputs)]
    checked = [i for i, x in enumerate(copies) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(
            "gradgradcheck: no input requires grad; pass at least one "
            "Tensor(..., requires_grad=True)."
        )
    xs = [copies[i] for i in checked]
    out = fn(*copies)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"gradgradcheck: fn must return a Tensor, it returned {type(out).__name__}."
        )
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(out.shape)
    weights = [rng.standard_normal(x.shape) for x in xs]

    def first(create_graph: bool) -> Any:
        """G = Σ w ⊙ ∂(v ⊙ fn)/∂x: a Tensor with a graph, or a number."""
        y = fn(*copies)
        firsts = gradients(y, xs, grad=v, create_graph=create_graph)
        if not create_graph:
            return float(sum(np.sum(w * g.data) for w, g in zip(weights, firsts, strict=True)))
        return sum((g * w).sum() for w, g in zip(weights, firsts, strict=True))

    with np.errstate(all="ignore"):  # a NaN or inf is reported as such, below
        total = first(create_graph=True)
        engine = gradients(total, xs) if total.requires_grad else None

    def objective() -> float:
        with np.errstate(all="ignore"):
            return first(create_graph=False)

    for k, (i, x) in enumerate(zip(checked, xs, strict=True)):
        analytic = np.zeros_like(x.data) if engine is None else engine[k].data
        numeric = central_differences(objective, x.data, eps)
        _compare(i, x, analytic, numeric, atol, rtol, "gradgradcheck", "second derivative")
    return True


def _float64_copy(position: int, x: Any, who: str = "gradcheck") -> Any:
    if not isinstance(x, Tensor):
        return x
    data = x.data
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all():
            where = tuple(int(j) for j in np.argwhere(~finite)[0])
            raise ValueError(
                f"{who}: input {_describe(position, x)} holds {data[where]} at index "
                f"{where}; finite differences need finite values."
            )
        return Tensor(data.astype(np.float64), requires_grad=x.requires_grad, name=x.name)
    return Tensor(data, name=x.name)


def central_differences(
    objective: Callable[[], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """∂objective/∂x by (f(x + eps) − f(x − eps)) / (2 eps), one element of x at a time.

    `objective()` must read x: a float64 array of any layout (a slice or a transpose of
    another array too), perturbed in place one entry at a time and restored.
    """
    _check_settings("central_differences", eps, 0.0, 0.0)
    _check_perturbable("central_differences", x)
    return _differences_at(objective, x, np.arange(x.size), eps).reshape(x.shape)


def _check_settings(who: str, eps: float, atol: float, rtol: float) -> None:
    """Refuse an eps that is not a positive finite number and negative or NaN tolerances:
    with them every comparison passes (NaN), or fails, or divides by zero."""
    if not (isinstance(eps, (int, float, np.integer, np.floating)) and 0 < eps < math.inf):
        raise ValueError(f"{who}: eps must be a positive finite number (e.g. 1e-6), got {eps!r}.")
    for name, value in (("atol", atol), ("rtol", rtol)):
        if not (isinstance(value, (int, float, np.integer, np.floating)) and value >= 0):
            raise ValueError(f"{who}: {name} must be a number ≥ 0, got {value!r}.")


def _check_perturbable(who: str, x: Any) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{who}: x must be the numpy array objective() reads, got {type(x).__name__}."
        )
    if x.dtype.kind != "f" or np.finfo(x.dtype).eps > np.finfo(np.float64).eps:
        raise TypeError(
            f"{who}: x is {x.dtype}; finite differences perturb it by eps, which only float64 "
            "holds: give a float64 array (x.astype(np.float64)) and make objective() read it."
        )
    if not x.flags.writeable:
        raise ValueError(
            f"{who}: x is read-only; finite differences perturb it in place (give a copy "
            "that objective() reads)."
        )


def _describe(position: int, x: Tensor) -> str:
    name = f"{x.name!r}, " if x.name else ""
    return f"{position} ({name}shape {x.shape})"


def _compare(
    position: int,
    x: Tensor,
    engine: np.ndarray,
    numeric: np.ndarray,
    atol: float,
    rtol: float,
    who: str = "gradcheck",
    what: str = "gradient",
) -> None:
    with np.errstate(all="ignore"):
        error = np.abs(engine - numeric)
        allowed = atol + rtol * np.abs(numeric)
        failing = ~(error <= allowed)  # a NaN on either side never agrees
        if not failing.any():
            return
        badness = np.where(np.isnan(error), np.inf, error / allowed)
    worst = np.unravel_index(np.argmax(badness), error.shape)
    index = tuple(int(k) for k in worst)
    relative = error[worst] / max(abs(numeric[worst]), np.finfo(np.float64).tiny)
    raise GradcheckError(
        f"{who}: the {what} of input {_describe(position, x)} disagrees with finite "
        f"differences{' of the gradient' * (who == 'gradgradcheck')}.\n"
        f"  worst at index {index}: engine {engine[worst]:.10g}, finite differences "
        f"{numeric[worst]:.10g}\n"
        f"  abs error {error[worst]:.3e}, rel error {relative:.3e} (allowed: atol {atol:g} + "
        f"rtol {rtol:g} × |numeric| = {allowed[worst]:.3e})\n"
        f"  {int(failing.sum())} of {failing.size} entries are outside the tolerance."
        f"{_non_finite(engine, numeric)}{_pattern(engine, numeric)}"
    )


def _non_finite(engine: np.ndarray, numeric: np.ndarray) -> str:
    found = []
    for who, array in (("engine's gradient", engine), ("finite-difference estimate", numeric)):
        bad = ~np.isfinite(array)
        if bad.any():
            where = tuple(int(k) for k in np.argwhere(bad)[0]) if array.ndim else ()
            found.append(
                f"\n  The {who} holds {array[where]} at index {where} ({int(bad.sum())} of "
                f"{array.size} entries are NaN or inf)."
            )
    return "".join(found)


def _pattern(engine: np.ndarray, numeric: np.ndarray) -> str:
    """A hint when the two gradients differ by a constant factor (a lost 1/m, a sign)."""
    if not (np.isfinite(engine).all() and np.isfinite(numeric).all()):
        return ""
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
    _check_settings("gradcheck_graph", eps, atol, rtol)
    if isinstance(max_entries, bool) or not isinstance(max_entries, (int, np.integer)):
        raise TypeError(f"gradcheck_graph: max_entries must be an int, got {max_entries!r}.")
    if max_entries < 1:
        raise ValueError(
            f"gradcheck_graph: max_entries must be at least 1 (entries checked per input), "
            f"got {max_entries}."
        )
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
        params = params_in(node.params, np.float64)  # a cast to float32 is replayed in float64
        weights = rng.standard_normal(tensor.shape)

        def objective(copies=copies, node=node, params=params, weights=weights) -> float:
            with no_grad(), np.errstate(all="ignore"):
                out = apply(node.op, *copies, **params)
            return float(np.sum(weights * out.data))

        with np.errstate(all="ignore"):  # the rows say where a value is not finite
            out = apply(node.op, *copies, **params)
            out.backward(weights.astype(out.dtype))
        for position, x in enumerate(copies):
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            given = node.inputs[position]
            label = given.name or (given.op and f"({given.op} output)") or f"input {position}"
            name = f"step {number}: {node.op.name}, d{label}"
            rows.append(
                _vjp_row(name, tensor, position, x, objective, rng, max_entries, eps, atol, rtol)
            )
    return GradientReport(rows, "finite differences", "each op's VJP")


def _vjp_row(
    name: str,
    tensor: Tensor,
    position: int,
    x: Tensor,
    objective: Callable[[], float],
    rng: np.random.Generator,
    max_entries: int,
    eps: float,
    atol: float,
    rtol: float,
) -> Row:
    """One input's VJP at a node against central differences at up to `max_entries` of its
    entries (x: the float64 copy of the input, its `.grad` the VJP's result; `tensor`: the
    output of the node in the graph checked)."""
    node = tensor.node
    if not np.isfinite(x.data).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x.data))[0]) if x.ndim else ()
        return Row(
            name,
            "not finite",
            x.shape,
            x.shape,
            op=node.op.name,
            source="VJP",
            diagnoses=[
                f"not checked: the input holds {x.data[bad]} at {bad}, and finite differences "
                "need finite points"
            ],
        )
    engine = x.grad if x.grad is not None else np.zeros_like(x.data)
    entries = rng.permutation(x.size)[:max_entries]
    numeric = _differences_at(objective, x.data, entries, eps)
    picked = engine.reshape(-1)[entries]
    with np.errstate(invalid="ignore"):
        allowed = atol + rtol * float(np.max(np.abs(numeric), initial=0.0))
    row = compare(
        name,
        numeric,
        picked,
        extra=allowed if math.isfinite(allowed) else 0.0,
        op=node.op.name,
        source="VJP",
        reference="the finite-difference estimate",
    )
    row.expected_shape = row.actual_shape = x.shape
    if row.worst_index is not None and x.ndim:  # the worst sampled entry, as x's index
        worst = entries[row.worst_index[0]] if row.worst_index else 0
        row.worst_index = tuple(int(i) for i in np.unravel_index(worst, x.shape))
    if not row.ok:
        row.diagnoses.insert(
            0,
            f"the VJP for input {position} of {node.op.name} "
            f"(rule: {rule(tensor, position)}) disagrees with finite "
            f"differences at {len(entries)} of {x.size} entries",
        )
    return row


def _differences_at(objective, x: np.ndarray, entries: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of objective() at the given flat (row-major) entries of x, each
    perturbed in place in x itself and restored: x may be any view (a transpose, a column
    slice), whose flat copy objective() would never see."""
    numeric = np.empty(len(entries))
    for k, j in enumerate(entries):
        index = np.unravel_index(j, x.shape)
        original = x[index]
        x[index] = original + eps
        plus = objective()
        x[index] = original - eps
        minus = objective()
        x[index] = original
        numeric[k] = (plus - minus) / (2 * eps)
    return numeric
