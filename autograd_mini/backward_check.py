"""`check_backward(loss, manual)`: a backward pass written by hand, checked tensor by tensor.

A learner writes ∂loss/∂t for the tensors t of a graph (`dlogits`, `dh`, `dW1`, ...), from
the forward pass's values. This compares each with the engine's own gradient of t, obtained
in one recorded backward pass over the graph (no `retain_grad()` needed, `.grad` left as it
was), in the order backward computes them, so the first wrong one is the step to look at:
every later one is usually wrong only because it was computed from it.

For each row: the verdict (see `compare`: exact, agrees to rounding, wrong, wrong shape, not
finite, ...), where it differs most, and what is wrong, in words. Beyond the general
diagnoses of `compare` (a transpose, a missing sum over a broadcast axis, a factor m, 1/m, 2
or −1, the gradient of another tensor, the −1 at the label of softmax cross-entropy), this
module knows two things about the graph: a tensor used by several ops gets the sum of their
contributions (so it recognises only one branch of a fan-out), and what learners get wrong at
an activation (σ(z) where σ′(z) belongs, σ′ taken of a instead of z, tanh where 1 − tanh²
belongs). For the first wrong row it says whether the gradients it was computed from were
right (then the step itself is wrong, and it shows that op's rule with the shapes involved);
for a later one, whether it follows from an earlier error.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activations import ACTIVATIONS
from .broadcasting import summed_axes
from .compare import (
    CONVENTIONS,
    GradientIndex,
    GradientReport,
    Hints,
    Row,
    compare,
    to_rows,
)
from .engine import Tensor, backward_order, gradients, pass_back
from .errors import AutogradError, InputError
from .replay import other_precision, replay
from .specialize import rule
from .text import printable

# ----------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


ACTIVATION_MISTAKES: dict[str, list[tuple[str, Callable[[Any, Any], Any]]]] = {
    "sigmoid": [
        (
            "σ(z) is used where σ′(z) belongs: dz = da ⊙ σ′(z) = da ⊙ a ⊙ (1 − a)",
            lambda g, a: g * a,
        ),
        (
            "σ′ is taken of the activation a = σ(z) instead of z: σ′(a) where σ′(z) belongs",
            lambda g, a: g * _sigmoid(a) * (1 - _sigmoid(a)),
        ),
        ("the factor σ′(z) is missing: dz = da ⊙ σ′(z), not da", lambda g, a: g),
    ],
    "tanh": [
        ("tanh(z) is used where tanh′(z) = 1 − tanh²(z) belongs", lambda g, a: g * a),
        (
            "tanh′ is taken of the activation a = tanh(z) instead of z: 1 − tanh²(a) where "
            "1 − tanh²(z) = 1 − a² belongs",
            lambda g, a: g * (1 - np.tanh(a) ** 2),
        ),
        ("the square is missing: 1 − tanh(z) where 1 − tanh²(z) belongs", lambda g, a: g * (1 - a)),
        ("the factor tanh′(z) is missing: dz = da ⊙ (1 − a²), not da", lambda g, a: g),
    ],
    "relu": [("the factor [z > 0] is missing: dz = da ⊙ [z > 0], not da", lambda g, a: g)],
}
"""Wrong local rules at an activation op, by op name: (what the mistake is, the gradient it
gives from da and the saved a)."""


# ----------------------------------------------------------------------------------------
# The graph, as the checker sees it
# ----------------------------------------------------------------------------------------


@dataclass
class _Graph:
    """Every tensor behind the loss that gets a gradient, with the engine's gradient of each,
    its place in the backward pass and the ops that use it (`consumers`: (output tensor,
    input position) pairs). `live` maps a tensor to the one whose node still holds the saved
    arrays: itself, or its twin when an earlier backward() freed the graph."""

    loss: Tensor
    order: list[Tensor]  # recorded tensors, in the order backward runs them
    seed: np.ndarray  # ∂L/∂loss
    tensors: dict[int, Tensor] = field(default_factory=dict)  # id → every tensor with a gradient
    grads: dict[int, np.ndarray] = field(default_factory=dict)
    step: dict[int, float] = field(default_factory=dict)  # id → when its gradient is done
    consumers: dict[int, list[tuple[Tensor, int]]] = field(default_factory=dict)
    live: dict[int, Tensor] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    twins: dict[int, Tensor] | None = None  # the graph in the other precision, when needed
    twin_grads: dict[int, np.ndarray] = field(default_factory=dict)
    ratio: float = 1.0  # unit roundoff of the graph's precision / the twin's, at most 1

    def twinned(self) -> bool:
        """Replay the graph in the other precision (once, when a row first needs it)."""
        if self.twins is None:
            _twin_gradients(self)
        return bool(self.twins)

    def name(self, tensor: Tensor) -> str:
        return self.names[id(tensor)]


def _graph(loss: Tensor, grad: Any) -> _Graph:
    order = backward_order(loss)
    seed = np.ones(loss.shape, loss.dtype) if grad is None else _seed(grad, loss)
    if seed.shape != loss.shape:
        raise InputError(
            f"check_backward: grad has shape {seed.shape}, loss {loss.shape}; give ∂L/∂loss "
            "with the loss's shape."
        )
    graph = _Graph(loss, order, seed)
    for number, tensor in enumerate(order, start=1):
        graph.step[id(tensor)] = number
        graph.tensors[id(tensor)] = tensor
        for position, x in enumerate(tensor.node.inputs):
            if isinstance(x, Tensor) and x.requires_grad:
                graph.consumers.setdefault(id(x), []).append((tensor, position))
                graph.tensors[id(x)] = x
    for key, users in graph.consumers.items():  # a leaf is done after its last user's step
        if key not in graph.step:
            graph.step[key] = max(graph.step[id(t)] for t, _ in users) + 0.5
    _name_tensors(graph)
    _engine_gradients(graph)
    return graph


def _seed(grad: Any, loss: Tensor) -> np.ndarray:
    """grad= as an array of the loss's dtype: numbers, all finite."""
    try:
        array = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
    except (TypeError, ValueError):
        array = np.array(None)
    if array.dtype.kind not in "fiub":
        raise InputError(
            f"check_backward: grad must be an array of numbers of shape {loss.shape} "
            f"(∂L/∂loss), got {type(grad).__name__} {printable(repr(grad))[:60]}."
        )
    if not np.isfinite(array).all():
        raise InputError(
            "check_backward: grad holds NaN or inf; ∂L/∂loss must be finite to check anything."
        )
    return array.astype(loss.dtype)


def _twin_gradients(graph: _Graph) -> None:
    """The same graph replayed in the other precision (float32 ↔ float64) and its gradients:
    how far rounding moves them on this graph (see `compare`)."""
    dtype = graph.loss.dtype
    other = other_precision(dtype)
    graph.ratio = min(1.0, float(np.finfo(dtype).eps / np.finfo(other).eps))
    try:
        with np.errstate(all="ignore"):
            graph.twins = replay(graph.loss, other)
            twin_root = graph.twins[id(graph.loss)]
            seed = graph.seed.astype(twin_root.dtype)
            grads = gradients(twin_root, seed, backward_order(twin_root))
            graph.twin_grads = {id(t): np.asarray(g) for t, g in grads.items()}
    except (ArithmeticError, ValueError, TypeError, IndexError, AutogradError):
        graph.twins, graph.twin_grads = {}, {}  # an op that cannot run in the other precision
    by_twin = {id(twin): key for key, twin in graph.twins.items()}
    graph.twin_grads = {by_twin[k]: g for k, g in graph.twin_grads.items() if k in by_twin}


def _own_name(tensor: Tensor) -> str | None:
    """The tensor's name when it is a non-empty string (any other value is not a name that
    a key of `manual` could give, so the tensor counts as unnamed)."""
    name = tensor.name
    return name if isinstance(name, str) and name else None


def _name_tensors(graph: _Graph) -> None:
    """Each tensor's name, or one made from its op and step (as `explain()` does)."""
    tensors = [x for t in graph.order for x in t.node.inputs if isinstance(x, Tensor)]
    for tensor in [*graph.order, *tensors]:
        if id(tensor) in graph.names:
            continue
        if _own_name(tensor):
            graph.names[id(tensor)] = tensor.name
        elif tensor.node is not None:
            graph.names[id(tensor)] = f"{tensor.node.op.name}(step {graph.step[id(tensor)]:g})"
        else:
            graph.names[id(tensor)] = "parameter" if tensor.requires_grad else "input"


def _engine_gradients(graph: _Graph) -> None:
    """The engine's gradient of every tensor (`engine.gradients`, which leaves `.grad` alone).

    On a graph an earlier backward() freed, it replays the forward pass (the same ops in the
    same precision) and takes the gradients of the twin."""
    root = graph.loss
    freed = any(t.node.saved is None for t in graph.order)
    twins = replay(root, None) if freed else None
    if twins:
        _refuse_changed_values(graph, twins)
    for key, tensor in graph.tensors.items():
        graph.live[key] = twins[key] if twins else tensor
    live_root = graph.live[id(root)]
    live_to_original = {id(live): graph.tensors[key] for key, live in graph.live.items()}
    with np.errstate(all="ignore"):  # the rows say where a gradient is not finite
        grads = gradients(live_root, graph.seed, backward_order(live_root))
    for live, g in grads.items():
        graph.grads[id(live_to_original[id(live)])] = np.asarray(g)


def _refuse_changed_values(graph: _Graph, twins: dict[int, Tensor]) -> None:
    """A freed graph is replayed from its leaves as they are now: refuse it when that gives
    other values than the forward pass recorded (the parameters were updated since), since
    the engine's gradients would then be those of another forward pass than yours."""
    for tensor in reversed(graph.order):  # the order they were recorded in
        if np.array_equal(twins[id(tensor)].data, tensor.data, equal_nan=True):
            continue
        leaves = [x for x in tensor.node.inputs if isinstance(x, Tensor) and x.node is None]
        leaves.sort(key=lambda x: not x.requires_grad)  # parameters first
        named = list(dict.fromkeys(graph.names.get(id(x)) or "a constant" for x in leaves))
        which = (
            f"{named[0]} as it is now"
            if len(named) == 1
            else f"{', '.join(named[:-1])} and {named[-1]} as they are now"
            if named
            else "its leaves as they are now"
        )
        raise InputError(
            "check_backward: the parameters changed since the forward pass (an optimizer step "
            f"after backward()?): replayed from {which}, {graph.name(tensor)}"
            f"{f' ({tensor.node.op.name})' if tensor.name else ''} comes out different from "
            "the value recorded. backward() "
            "freed the graph, so the engine's gradients could only be recomputed at the new "
            "values, not at those your gradients come from: call check_backward before the "
            "step, or run the forward pass again."
        )


# ----------------------------------------------------------------------------------------
# Gradients from the learner's own upstream: by the engine's rules, from the gradients given
# ----------------------------------------------------------------------------------------


def _contribution(node: Any, position: int, g: Any) -> np.ndarray:
    """What a node passes back to its input `position` from the gradient g of its output: the
    op's VJP, then the sum over what numpy stretched. One step of the backward pass."""
    passed = pass_back(node, g)
    edges = zip(node.edges, passed, strict=True)
    return np.asarray(next(gx for (_, i, _), (_, gx) in edges if i == position))


def _usable(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """A given gradient as a float array of `shape` with finite values, else None."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if array.dtype.kind != "f" or array.shape != shape or not np.isfinite(array).all():
        return None
    return array


@dataclass
class _Derived:
    """A gradient derived by the engine's rules from the gradients given: its value, the
    given tensors it starts from (`start`), and whether some path reaches the loss without
    passing one of them (`open`: it then also starts from the loss's own seed)."""

    value: np.ndarray
    start: frozenset[int]
    open: bool


class _FromGiven:
    """∂loss/∂t by the engine's rules, starting from `given` (id → array) where there is a
    given gradient, from the loss's seed elsewhere: what your gradient of t should be given
    your own upstream ones. On the graph, or on its twin in the other precision."""

    def __init__(self, graph: _Graph, given: dict[int, np.ndarray], twin: bool) -> None:
        self.graph, self.given, self.twin = graph, given, twin
        self.dtype = other_precision(graph.loss.dtype) if twin else graph.loss.dtype
        self.memo: dict[int, _Derived] = {}

    def node(self, tensor: Tensor) -> Any:
        return (self.graph.twins if self.twin else self.graph.live)[id(tensor)].node

    def of(self, tensor: Tensor) -> _Derived:
        """The gradient of `tensor`: the given one when there is, else derived."""
        graph = self.graph
        needed: dict[int, Tensor] = {}
        stack = [tensor]
        while stack:  # the tensors between `tensor` and the given ones (or the loss)
            t = stack.pop()
            if id(t) in self.memo or id(t) in needed:
                continue
            needed[id(t)] = t
            if id(t) not in self.given and t is not graph.loss:
                stack += [user for user, _ in graph.consumers[id(t)]]
        for t in sorted(needed.values(), key=lambda t: graph.step[id(t)]):  # nearest the loss first
            if id(t) in self.given:
                value = np.asarray(self.given[id(t)], dtype=self.dtype)
                self.memo[id(t)] = _Derived(value, frozenset({id(t)}), False)
            elif t is graph.loss:
                self.memo[id(t)] = _Derived(graph.seed.astype(self.dtype), frozenset(), True)
            else:
                self.memo[id(t)] = self.derive(t)
        return self.memo[id(tensor)]

    def derive(self, tensor: Tensor) -> _Derived:
        """The gradient of `tensor` from its users' (never from a gradient given for it)."""
        parts = self.parts(tensor)
        total = parts[0][1]
        for _, contribution in parts[1:]:
            total = total + contribution
        starts = [self.of(user) for user, _ in self.graph.consumers[id(tensor)]]
        return _Derived(
            np.asarray(total),
            frozenset().union(*(s.start for s in starts)),
            any(s.open for s in starts),
        )

    def parts(self, tensor: Tensor) -> list[tuple[Tensor, np.ndarray]]:
        """Each user's contribution to the gradient of `tensor`."""
        with np.errstate(all="ignore"):
            return [
                (user, _contribution(self.node(user), position, self.of(user).value))
                for user, position in self.graph.consumers[id(tensor)]
            ]


def _branch_message(graph: _Graph, tensor: Tensor, kept: Tensor, users: list[Tensor]) -> str:
    lost = " and ".join(_describe_step(graph, u) for u in users if u is not kept)
    return (
        f"it is only the contribution through {_describe_step(graph, kept)}; the one through "
        f"{lost} is missing: {graph.name(tensor)} is used by {len(users)} ops, so its "
        f"gradient is the sum of their {len(users)} contributions"
    )


def _alternatives(graph: _Graph, tensor: Tensor, mine: _FromGiven) -> list[tuple[str, Any]]:
    """Wrong answers the classic mistakes give for `tensor`, from your own upstream: one
    branch of a fan-out alone, a wrong rule at an activation."""
    parts = mine.parts(tensor)
    total = sum(part for _, part in parts)
    users = [user for user, _ in parts]
    found = []
    if len(parts) > 1:
        found += [(_branch_message(graph, tensor, user, users), part) for user, part in parts]
    for (user, position), (_, part) in zip(graph.consumers[id(tensor)], parts, strict=True):
        if user.node.op.name == "matmul":
            missing = _missing_transpose(graph, mine, tensor, user, position)
            found += [(d, total - part + wrong) for d, wrong in missing]
            continue
        activation = ACTIVATIONS.get(user.node.op.name)
        if activation is None:
            continue
        g, saved = mine.of(user).value, mine.node(user).saved
        where = f" (at {user.node.op.name}, step {graph.step[id(user)]})"
        with np.errstate(all="ignore"):
            found += [
                (what + where, total - part + wrong(position, g, *saved))
                for what, wrong in activation.wrong_rules()
            ]
    return found


def _missing_transpose(
    graph: _Graph, mine: _FromGiven, tensor: Tensor, user: Tensor, position: int
) -> list[tuple[str, np.ndarray]]:
    """matmul's rule without its transpose, from your own upstream dZ: dX = dZ @ W where
    dZ @ Wᵀ belongs, dW = X @ dZ where Xᵀ @ dZ belongs (the right shape when W, or X, is
    square, so nothing else catches it)."""
    x, w = (np.asarray(x.data if isinstance(x, Tensor) else x) for x in mine.node(user).inputs)
    g = mine.of(user).value
    if x.ndim != 2 or w.ndim != 2 or g.ndim != 2:
        return []
    names = [graph.names.get(id(x)) or "the constant" for x in user.node.inputs]
    dz = f"d{graph.name(user)}"
    at = f" (the rule of matmul, step {graph.step[id(user)]}: {rule(user, position)})"
    with np.errstate(all="ignore"):
        if position == 0 and g.shape[1] == w.shape[0]:
            wrong, written = g @ w, f"{dz} @ {names[1]} where {dz} @ {names[1]}ᵀ belongs"
        elif position == 1 and x.shape[1] == g.shape[0]:
            wrong, written = x @ g, f"{names[0]} @ {dz} where {names[0]}ᵀ @ {dz} belongs"
        else:
            return []
    return [(f"the transpose is missing: d{graph.name(tensor)} = {written}{at}", wrong)]


def _describe_step(graph: _Graph, user: Tensor) -> str:
    return f"{user.node.op.name} (step {graph.step[id(user)]}, which makes {graph.name(user)})"


def _max_difference(a: Any, b: Any) -> float:
    """max |a − b| over the entries, where the same NaN or inf in both counts as equal; inf
    when they differ by a NaN or an inf."""
    with np.errstate(all="ignore"):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        value = float(np.max(np.where(same, 0.0, np.abs(a - b)), initial=0.0))
    return value if np.isfinite(value) else float("inf")


def _measured(a: Any, b: Any) -> float:
    """The rounding error that two computations of one gradient measure: max |a − b|, or 0
    when they differ by a NaN or an inf (nothing measured: the least allowance holds)."""
    value = _max_difference(a, b)
    return value if np.isfinite(value) else 0.0


# ----------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------


def check_backward(
    loss: Tensor,
    manual: Mapping[str | Tensor, Any],
    *,
    convention: str = "rows",
    grad: Any = None,
) -> GradientReport:
    """Check a hand-written backward pass, tensor by tensor, against the engine's.

    loss: the tensor backward starts from (one element, or give `grad`, ∂L/∂loss). manual:
    your ∂loss/∂t for tensors t of its graph, by name (`t.name`, or `Tensor(..., name=...)`)
    or by the Tensor itself: leaves and intermediates alike. convention: "rows" (the
    engine's layout) or "columns" (Nielsen's: one example per column, w as out × in: every
    2-D array is transposed and a column (n, 1) read as (n,) before comparing).

    Returns a `GradientReport`: one row per tensor in the order backward computes them
    (`rows`, `row(name)`, `first_wrong`, `ok`, `assert_ok()`, a printable table). A row
    agrees to rounding when it is within what rounding does to a correct gradient here,
    measured (`compare`): the engine's gradient against the graph replayed in the other
    precision, or, where your upstream gradients agree, the engine's rule applied to yours,
    in both precisions, plus what your upstream's accepted differences make of it. It runs
    one backward pass (leaving `.grad` as it was) and that replay; no finite differences.
    """
    if not isinstance(loss, Tensor) or loss.node is None:
        raise InputError(
            "check_backward: loss must be a Tensor computed by recorded ops (a graph to check), "
            f"got {type(loss).__name__ if not isinstance(loss, Tensor) else 'a leaf tensor'}."
        )
    if convention not in CONVENTIONS:
        raise InputError(
            f"check_backward: convention must be one of {CONVENTIONS}, got {convention!r}."
        )
    if not isinstance(manual, Mapping) or not manual:
        raise InputError(
            "check_backward: manual must be a non-empty dict {name or Tensor: your gradient}."
        )
    if grad is None and loss.size != 1:
        raise InputError(
            f"check_backward: loss has shape {loss.shape}; give grad=∂L/∂loss of that shape, "
            "or check a scalar loss."
        )
    graph = _graph(loss, grad)
    given = _resolve(graph, manual, convention)
    usable = {
        k: a for k, v in given.items() if (a := _usable(v, graph.tensors[k].shape)) is not None
    }
    accepted: dict[int, np.ndarray] = {}  # your gradients that agree: where yours start from
    ours = (_FromGiven(graph, accepted, twin=False), _FromGiven(graph, accepted, twin=True))
    mine = _FromGiven(graph, usable, twin=False)
    accepted_above = _AcceptedAbove(graph, accepted)
    batch = _batch_size(graph)
    others: GradientIndex | None = None  # the engine's gradients, made once a row needs them
    rows: list[Row] = []
    first: list[Row] = []  # the first wrong row, once there is one
    for key in sorted(given, key=lambda k: graph.step[k]):
        tensor = graph.tensors[key]
        plain = Hints(batch_size=batch)
        row = _row(graph, tensor, given[key], plain)
        if not row.ok and row.max_abs_error is not None and graph.twinned():
            row = _row_from_yours(graph, tensor, given[key], ours, row, plain, accepted_above)
        if not row.ok:  # again, now with everything that can say what is wrong
            if others is None:
                others = GradientIndex({k: graph.grads[k] for k in given}, graph.names)
            hints = Hints(
                batch_size=batch,
                others=others.without(key),
                alternatives=_alternatives(graph, tensor, mine) if key in graph.consumers else [],
                upstream=_upstream_name(graph, tensor),
            )
            same = (row.allowed, row.allowance) if row.allowed is not None else None
            row = _compared(graph, tensor, given[key], hints, 0.0, allowed=same)
            _explain_step(graph, tensor, given[key], row, mine, first)
            first = first or [row]
        if row.ok and key in usable:
            accepted[key] = usable[key]
        rows.append(row)
    report = GradientReport(rows, "the engine's", "your gradients")
    order = "(rows in the order backward computes them" + (
        f"; m = {batch}, the batch size)" if batch else ")"
    )
    report.notes.append(order)
    return report


def _row(graph: _Graph, tensor: Tensor, value: Any, hints: Hints) -> Row:
    """The row for `tensor`. A difference within the least allowance (SAFETY·√m·u of the
    largest entry, see `compare`) is rounding; above it, the allowance is measured on the
    whole graph, replayed in the other precision (once, for the first row that needs it)."""
    row = _compared(graph, tensor, value, hints, measured=0.0)
    if row.ok:
        return row
    if row.allowed is None or not graph.twinned():  # not an array of numbers, or no twin
        return row
    whole = _measured(graph.grads[id(tensor)], graph.twin_grads[id(tensor)]) * graph.ratio
    return _compared(graph, tensor, value, hints, measured=whole)


class _AcceptedAbove:
    """Whether one of your gradients that agreed lies between a tensor and the loss. Rows
    come in the order backward computes them, so everything above a row's tensor was decided
    before it: one sweep down the graph, in that order, answers all the rows (linear in the
    size of the graph, where a search from each row would be quadratic)."""

    def __init__(self, graph: _Graph, accepted: Mapping[int, Any]) -> None:
        self.graph, self.accepted = graph, accepted
        self.tensors = sorted(graph.tensors.values(), key=lambda t: graph.step[id(t)])
        self.swept = 0
        self.reach: dict[int, bool] = {}  # id → an accepted gradient lies above it

    def __call__(self, tensor: Tensor) -> bool:
        graph, limit = self.graph, self.graph.step[id(tensor)]
        while self.swept < len(self.tensors) and graph.step[id(self.tensors[self.swept])] <= limit:
            t = self.tensors[self.swept]
            self.swept += 1
            self.reach[id(t)] = any(
                id(user) in self.accepted or self.reach[id(user)]
                for user, _ in graph.consumers.get(id(t), [])
            )
        return self.reach[id(tensor)]


def _compared(
    graph: _Graph,
    tensor: Tensor,
    value: Any,
    hints: Hints,
    measured: float,
    extra: float = 0.0,
    allowed: tuple[float, str] | None = None,
) -> Row:
    users = graph.consumers.get(id(tensor), [])
    row = compare(
        graph.name(tensor),
        graph.grads[id(tensor)],
        value,
        measured=measured,
        extra=extra,
        hints=hints,
        op=tensor.node.op.name if tensor.node is not None else None,
        source="your gradients",
        allowed=allowed,
        reference="the engine's gradient",
    )
    ops = ", ".join(dict.fromkeys(user.node.op.name for user, _ in users))
    row.gradient_by = ops or "(the loss)"
    return row


def _row_from_yours(
    graph: _Graph,
    tensor: Tensor,
    value: Any,
    ours: tuple[_FromGiven, _FromGiven],
    row: Row,
    hints: Hints,
    accepted_above: _AcceptedAbove,
) -> Row:
    """The row again where your upstream gradients agreed: rounding as measured for the
    steps from them (the engine's rules on your upstream, in both precisions), plus exactly
    what your upstream's accepted differences make of this gradient by those rules."""
    if id(tensor) not in graph.consumers or not accepted_above(tensor):
        return row  # none of your agreeing gradients lies between this one and the loss
    here, there = ours[0].derive(tensor), ours[1].derive(tensor)
    step = _measured(here.value, there.value) * graph.ratio
    propagated = _measured(here.value, graph.grads[id(tensor)])
    whole = _measured(graph.grads[id(tensor)], graph.twin_grads[id(tensor)]) * graph.ratio
    return _compared(graph, tensor, value, hints, max(step, whole), propagated)


def _resolve(graph: _Graph, manual: Mapping, convention: str) -> dict[int, Any]:
    """id(tensor) → the value you gave (converted from the columns convention), checking
    every key names exactly one tensor of the graph that gets a gradient."""
    by_name: dict[str, list[Tensor]] = {}
    for tensor in graph.tensors.values():
        if _own_name(tensor):
            by_name.setdefault(tensor.name, []).append(tensor)
    constants = {
        x.name
        for t in graph.order
        for x in t.node.inputs
        if isinstance(x, Tensor) and _own_name(x) and not x.requires_grad
    }
    given = {}
    for key, value in manual.items():
        if isinstance(key, Tensor):
            if id(key) not in graph.tensors:
                why = (
                    " (it requires no grad: it gets no gradient)." if not key.requires_grad else "."
                )
                raise InputError(
                    f"check_backward: the tensor {_own_name(key) or key.op or 'given'} of shape "
                    f"{key.shape} is not part of the graph of this loss{why}"
                )
            tensor = key
        elif isinstance(key, str):
            if key in constants and key not in by_name:
                raise InputError(
                    f"check_backward: {key!r} requires no grad (an input or a constant), so it "
                    "gets no gradient to check."
                )
            matches = by_name.get(key, [])
            if not matches:
                names = sorted(by_name)
                close = difflib.get_close_matches(key, names, n=3)
                hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
                listed = ", ".join(names) or "(none: name them with t.name = ...)"
                raise InputError(
                    f"check_backward: no tensor named {key!r} in the graph of this loss.{hint} "
                    f"Its named tensors: {listed}."
                )
            if len(matches) > 1:
                raise InputError(
                    f"check_backward: {len(matches)} tensors of the graph are named {key!r}; "
                    "give the Tensor itself as the key, or name them apart."
                )
            tensor = matches[0]
        else:
            raise InputError(
                f"check_backward: keys must be tensor names or Tensors, got {type(key).__name__}."
            )
        given[id(tensor)] = to_rows(value, tensor.shape) if convention == "columns" else value
    return given


def _batch_size(graph: _Graph) -> int | None:
    """m: the length of the first axis of the first non-scalar tensor the loss is made from."""
    tensor = graph.loss
    while tensor.node is not None:
        inputs = [x for x in tensor.node.inputs if isinstance(x, Tensor) and x.requires_grad]
        if not inputs:
            return None
        tensor = inputs[0]
        if tensor.ndim >= 1 and tensor.shape[0] > 1:
            return tensor.shape[0]
    return None


def _upstream_name(graph: _Graph, tensor: Tensor) -> str | None:
    users = graph.consumers.get(id(tensor), [])
    return f"d{graph.name(users[0][0])}" if len(users) == 1 else None


def _explain_step(
    graph: _Graph, tensor: Tensor, value: Any, row: Row, mine: _FromGiven, earlier: list[Row]
) -> None:
    """For the first wrong row: were the gradients it is computed from right? For a later
    one: does it follow from an earlier error?"""
    skip = ("missing", "not an array", "wrong dtype")
    if row.verdict in skip or id(tensor) not in graph.consumers:
        return
    if row.verdict == "not finite" and not np.isfinite(graph.grads[id(tensor)]).all():
        return  # the engine's own gradient is not finite: there is no step to blame
    derived = mine.derive(tensor)
    first = next((r for r in earlier if not r.ok), None)
    starts = ", ".join(f"d{graph.names[k]}" for k in sorted(derived.start, key=graph.step.get))
    if first is not None:
        if row.actual_shape == derived.value.shape and _within(row, value, derived.value):
            kept = [d for d in row.diagnoses if not d.startswith("no known mistake")]
            row.diagnoses = [
                "this step is right given the gradients you computed it from "
                f"({starts or 'the loss'}): it follows from the error at {first.name}",
                *kept,
            ]
        return
    missing = _nearest_not_given(graph, tensor, mine.given) if derived.open else []
    if missing:
        this_step = "; ".join(
            _rule(graph, tensor, user, position) for user, position in graph.consumers[id(tensor)]
        )
        row.diagnoses.append(
            f"the gradients it is computed from were not all given: give "
            f"{', '.join(f'd{name}' for name in missing)} too, to tell whether this step is "
            f"wrong or one before it. This step: {this_step}"
        )
        return
    # every path to the loss passes a gradient you gave, or only unnamed tensors: the loss's
    # own gradient (1, or the grad= given) is known, so the upstream is all known
    chain = "; then ".join(_rule(graph, *link) for link in _chain(graph, tensor, derived.start))
    seed = "1" if np.all(graph.seed == 1) else "the grad= you gave"
    plural = len(derived.start) > 1
    if not derived.start:
        said = f"the loss's own gradient is {seed}, so the error is between the loss and"
    else:
        loss_too = f" and the loss's own gradient is {seed}" if derived.open else ""
        said = (
            f"your upstream gradient{'s' if plural else ''} {starts} {'are' if plural else 'is'} "
            f"right{loss_too}, so the error is between "
            f"{'them' if plural or derived.open else 'it'} and"
        )
    row.diagnoses.append(f"{said} d{graph.name(tensor)}: {chain}")


def _chain(
    graph: _Graph, tensor: Tensor, start: frozenset[int]
) -> list[tuple[Tensor, Tensor, int]]:
    """The (input, op output, position) links from `tensor` up to the given gradients it was
    derived from (or the loss), nearest first: the rules the backward pass applies between."""
    links, frontier, seen = [], deque([tensor]), set()
    while frontier:
        t = frontier.popleft()
        for user, position in graph.consumers.get(id(t), []):
            links.append((t, user, position))
            if id(user) not in start and user is not graph.loss and id(user) not in seen:
                seen.add(id(user))
                frontier.append(user)
    return links


def _nearest_not_given(graph: _Graph, tensor: Tensor, given: Mapping[int, Any]) -> list[str]:
    """The names of the tensors nearest above `tensor` (towards the loss) that have a name
    of their own and no given gradient, on the paths that pass no given gradient: the ones
    to give. Never the loss: its own gradient is 1."""
    found: list[str] = []
    frontier = deque(user for user, _ in graph.consumers.get(id(tensor), []))
    seen: set[int] = set()
    while frontier:
        t = frontier.popleft()
        if id(t) in seen or id(t) in given or t is graph.loss:
            continue
        seen.add(id(t))
        if _own_name(t):
            found.append(graph.name(t))
        else:
            frontier.extend(user for user, _ in graph.consumers.get(id(t), []))
    return list(dict.fromkeys(found))


def _within(row: Row, value: Any, reference: np.ndarray) -> bool:
    """Whether `value` is `reference` to the row's rounding allowance."""
    return _max_difference(value, reference) <= (row.allowed or 0.0)


def _rule(graph: _Graph, tensor: Tensor, user: Tensor, position: int) -> str:
    """The op table's rule for one gradient, with the shapes of this graph."""
    node = user.node
    inputs = ", ".join(
        f"{graph.names.get(id(x), 'a constant')} {x.shape}"
        for x in node.inputs
        if isinstance(x, Tensor)
    )
    summed = ""
    shapes = [np.shape(getattr(x, "data", x)) for x in node.inputs]
    stretched = node.op.stretched(position, shapes, user.shape)
    if tensor.shape != stretched:
        axes = ", ".join(map(str, summed_axes(tensor.shape, stretched)))
        summed = f", summed over axis {axes} ({graph.name(tensor)} was broadcast)"
    return (
        f"{node.op.name} (step {graph.step[id(user)]:g}) makes {graph.name(user)} "
        f"{user.shape} from {inputs}, and d{graph.name(tensor)} {tensor.shape} by "
        f"{rule(user, position)}{summed}"
    )
