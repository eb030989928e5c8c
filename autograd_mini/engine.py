"""The engine: how ops are recorded, and how `backward()` runs them in reverse. Read it first.

A `Tensor` holds a numpy array, `.data`. When an op runs on tensors and one of them requires
grad, `apply` records a `Node` on the result: which op, on which inputs, with which
parameters, and what the op's VJPs will need (`saved`). The nodes link every result back to
the leaves it came from (the parameters and the data): the graph.

`backward()` walks that graph from the loss back to the leaves. It visits the recorded
tensors newest first, so that when a tensor's turn comes every op that used it has already
passed its part of the gradient back. For a tensor t with g = ∂L/∂t, one step is:

1. VJP: for each input x of the op that made t, the op's VJP turns g into ∂L/∂x through this
   op (`mul` passes back `g * y` to x). The op table (ops.py) holds each VJP as a formula.
2. un-broadcast: where numpy stretched x to t's shape (a bias `(k,)` added to every row of
   `(m, k)`), the gradient is summed back over the stretched axes: `db = dZ.sum(axis=0)`.
3. accumulate: x's gradient is the sum of what every op that used x passed back.

At the end, each leaf's gradient is added into its `.grad`. Nothing is written to `.grad` and
nothing is freed before every step has run and every new `.grad` has been summed, so an
error half-way (a MemoryError in a VJP or in a sum) changes nothing: run backward() again.

Gradients of gradients (higher.py) run this same loop with a step that runs the same VJP
formulas on Tensors: the gradient is then itself recorded, and can be differentiated.

Features watch the engine through one hook, `Observer` (recording.py): `detect_anomaly()`,
`check_backward` and the stepper page see each op as it is recorded and each step of
backward, without a line of theirs in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import numpy as np

from .broadcasting import explain_error, summed_axes
from .errors import AutogradError
from .formulas import Op
from .recording import RECORDING_ORDER, STATE
from .tensor import TensorAPI, TensorLike, as_array, as_operand, seed_gradient


class Node:
    """One recorded op: `op` on `inputs` (Tensors and constants) with `params`, and `saved`,
    the values its VJPs read (None once backward has freed them). `edges`: (input, position,
    VJP) for each input that requires grad, the paths the gradient flows back along.
    `scope`: the labels it was recorded in (module names, for drawings). `sequence`: when it
    was recorded.
    """

    __slots__ = ("__weakref__", "edges", "inputs", "op", "params", "saved", "scope", "sequence")

    def __init__(self, op: Op, inputs: tuple, params: dict, saved: tuple, edges: tuple) -> None:
        self.op, self.inputs, self.params, self.saved, self.edges = op, inputs, params, saved, edges
        self.scope = STATE.scope
        self.sequence = next(RECORDING_ORDER)  # later than its inputs': a topological order

    def __repr__(self) -> str:
        return f"Node({self.op.name}, inputs={len(self.inputs)}, freed={self.saved is None})"


def apply(op: Op, *inputs: Any, **params: Any) -> Tensor:
    """Run `op` on the inputs (Tensors or constants), and record it when a gradient is needed."""
    arrays = [x.data if isinstance(x, Tensor) else as_operand(op.name, x) for x in inputs]
    if op.floats:  # integers in float64: numpy would give float16 for the exp of an int8
        arrays = [
            a.astype(float)
            if i in op.floats and isinstance(a, np.ndarray) and a.dtype.kind in "iub"
            else a
            for i, a in enumerate(arrays)
        ]
    try:
        if op.check is not None:
            params = op.check(*arrays, **params)
        out, saved = op.forward(*arrays, **params)
    except AutogradError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise (op.error or explain_error)(op.name, exc, arrays) from exc
    result = Tensor(out)
    if STATE.grad_enabled:
        vjps = op.vjps * len(inputs) if op.variadic else op.vjps  # (one VJP serves them all)
        edges = [
            (x, i, vjps[i])
            for i, x in enumerate(inputs)
            if isinstance(x, Tensor) and x._requires_grad
        ]
        if edges:
            inputs = tuple(
                [x if isinstance(x, Tensor) else arrays[i] for i, x in enumerate(inputs)]
            )
            result._node = Node(op, inputs, params, saved, tuple(edges))
            result._requires_grad = True
    for observer in STATE.observers:
        observer.recorded(op, inputs, result)
    return result


class Tensor(TensorAPI):
    """An array that remembers how it was computed: `Tensor(data, requires_grad=False,
    name=None)`.

    `.data` is the numpy array; `.grad` is ∂L/∂self after `backward()`; `.node` is the op
    that computed it (None for a leaf). Its operators and methods (`+`, `@`, `.sum()`, ...)
    are in tensor.py. A tensor that requires grad owns a copy of the data it was made from.
    """

    __slots__ = (
        "__weakref__",
        "_grad",
        "_name",
        "_node",
        "_requires_grad",
        "_retains_grad",
        "data",
    )

    _apply = staticmethod(apply)  # how its operators and methods record their ops

    def __init__(self, data: TensorLike, requires_grad: bool = False, name: str | None = None):
        self.data: np.ndarray = as_array(data, copy=requires_grad)
        self._grad: np.ndarray | None = None
        self._node: Node | None = None
        self._name: str | None = None
        self._requires_grad = self._retains_grad = False
        if requires_grad:
            self.requires_grad = True  # checked: only floating point can require grad
        if name is not None:
            self.name = name  # checked: a string

    def backward(
        self,
        grad: TensorLike | None = None,
        retain_graph: bool = False,
        *,
        create_graph: bool = False,
    ) -> None:
        """Add ∂self/∂x into the `.grad` of every leaf x that requires grad (and of every
        intermediate that called `retain_grad()`).

        grad: ∂L/∂self, for a tensor of more than one element (a loss starts from ∂L/∂L = 1).
        The graph's saved arrays are freed afterwards; `retain_graph=True` keeps them, to
        run backward through the same graph again. If it fails (a MemoryError in a VJP, say),
        no `.grad` has changed and nothing is freed: it can simply be run again. `.grad` stays
        a numpy array: gradients to differentiate again come from `ag.gradients(...,
        create_graph=True)`, and `create_graph=True` here says so.
        """
        order = backward_order(self)
        seed = seed_gradient(
            self, grad, order, create_graph
        )  # ∂L/∂self: 1 for a loss (or a clear error)
        totals: dict[Tensor, Any] = {}  # each new .grad, all computed before one is written
        kept = set()
        for tensor, g in gradients(self, seed, order).items():
            if tensor._node is None or tensor._retains_grad:  # a leaf, or asked to keep it
                total = g if tensor._grad is None else tensor._grad + g
                dtype = tensor.data.dtype
                owned = type(total) is np.ndarray and total.base is None and total.dtype == dtype
                if not owned or id(total) in kept:  # a view, or shared: a copy of its own
                    total = np.array(total, dtype=dtype)
                totals[tensor] = total
                kept.add(id(total))
        for tensor, total in totals.items():  # plain assignments: none can fail half-way
            tensor._grad = total
        if not retain_graph:
            for tensor in order:
                tensor._node.saved = None


def backward_order(root: Tensor) -> list[Tensor]:
    """The recorded tensors behind `root`, newest first: the order backward runs their VJPs.

    Each comes before every tensor it was computed from, since ops are recorded after their
    inputs. Collected with a worklist, not recursion, so a chain of 100,000 ops is fine.
    """
    if root._node is None:
        return []
    found, seen = [root], {root}  # tensors are hashed by identity
    for tensor in found:  # the list grows while it is walked
        for x, _, _ in tensor._node.edges:
            if x._node is not None and x not in seen:
                seen.add(x)
                found.append(x)
    return sorted(found, key=attrgetter("_node.sequence"), reverse=True)


def pass_back(node: Node, g: Any) -> list[tuple[Tensor, Any]]:
    """One step of backward: (x, ∂L/∂x through this op) for each input x that requires grad,
    from g = ∂L/∂output."""
    passed = []
    for x, i, vjp in node.edges:
        gx = vjp(i, g, *node.saved)  # 1. the VJP
        if i in node.op.broadcasts and gx.shape != x.data.shape:  # 2. un-broadcast
            gx = unbroadcast(gx, x.data.shape)
        passed.append((x, gx))
    return passed


def gradients(
    root: Tensor, seed: Any, order: list[Tensor], step: Callable = pass_back
) -> dict[Tensor, Any]:
    """∂L/∂t for every tensor t behind `root` (recorded ones and leaves), from ∂L/∂root =
    seed, running the steps of `order` (`backward_order(root)`) one after the other.
    `step(node, g)`: one step (`pass_back`; higher.py passes one that runs the same VJPs on
    Tensors, so that the gradients are recorded too)."""
    grads = {root: seed}
    for tensor in order:
        g = grads[tensor]  # complete: every op that used tensor came before it
        passed = step(tensor._node, g)
        for observer in STATE.observers:
            observer.stepped(tensor, g, passed)
        for x, gx in passed:  # 3. accumulate
            grads[x] = grads[x] + gx if x in grads else gx
    return grads


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """g summed down to `shape`: over the leading axes numpy added, and over the axes where
    `shape` has size 1. `(m, k) → (k,)` sums over the batch: the bias gradient."""
    axes = summed_axes(shape, g.shape)
    if len(axes) == g.ndim - len(shape):  # only axes numpy added: db = dZ.sum(axis=0)
        return g.sum(axis=axes)
    return g.sum(axis=axes, keepdims=True).reshape(shape)
