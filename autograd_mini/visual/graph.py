"""The recorded graph behind some tensors, as plain data to draw, print or step through.

`snapshot(roots)` walks the recorded nodes without recursion and returns every op (in the
order it was recorded), every leaf tensor, every constant operand and the edges between
them, each edge marked when its input was broadcast (and so gets an un-broadcast, summed
gradient). It reads only the public structure of the graph: `tensor.node` and the node's
`op`, `inputs`, `scope` and `sequence`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine import Tensor
from ..recording import Observer, observe


@dataclass(frozen=True)
class Constant:
    """A non-Tensor operand (a Python number or a numpy array) of one op."""

    value: Any
    consumer: Tensor
    position: int


@dataclass(frozen=True)
class Edge:
    source: Tensor | Constant
    target: Tensor  # the output of the op that used `source`
    position: int  # which input of that op
    broadcast: bool  # numpy stretched the input: its gradient is summed back (un-broadcast)


@dataclass
class Snapshot:
    roots: list[Tensor]
    ops: list[Tensor]  # recorded tensors, in the order they were recorded
    leaves: list[Tensor]
    constants: list[Constant]
    edges: list[Edge]
    consumers: dict[int, list[Tensor]] = field(default_factory=dict)  # id(tensor) → ops using it


def snapshot(roots: list[Tensor]) -> Snapshot:
    """Everything recorded behind `roots` (one walk with an explicit stack)."""
    ops: dict[int, Tensor] = {}
    leaves: dict[int, Tensor] = {}
    constants: list[Constant] = []
    edges: list[Edge] = []
    consumers: dict[int, list[Tensor]] = {}
    stack = list(roots)
    while stack:
        tensor = stack.pop()
        key = id(tensor)
        if key in ops or key in leaves:
            continue
        node = tensor.node
        if node is None:
            leaves[key] = tensor
            continue
        ops[key] = tensor
        stretched_inputs = {position for position, _ in broadcast_inputs(tensor)}
        for position, x in enumerate(node.inputs):
            stretched = position in stretched_inputs
            if isinstance(x, Tensor):
                edges.append(Edge(x, tensor, position, stretched))
                consumers.setdefault(id(x), []).append(tensor)
                stack.append(x)
            else:
                constant = Constant(x, tensor, position)
                constants.append(constant)
                edges.append(Edge(constant, tensor, position, stretched))
    ordered = sorted(ops.values(), key=lambda t: t.node.sequence)
    return Snapshot(list(roots), ordered, list(leaves.values()), constants, edges, consumers)


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an op's input: a Tensor, a numpy array or a Python number (())."""
    return tuple(getattr(x, "shape", ()))


def stretched_to(tensor: Tensor, position: int) -> tuple[int, ...]:
    """The shape numpy stretched input `position` of tensor's op to (the output's shape, or
    for matmul its batch axes and the input's matrix axes): its gradient's shape before the
    engine sums it back."""
    node = tensor.node
    shapes = [shape_of(x) for x in node.inputs]
    return node.op.stretched(position, shapes, tensor.shape)


def broadcast_inputs(tensor: Tensor) -> list[tuple[int, Tensor]]:
    """(position, input) of the inputs of tensor's op that numpy stretched and that require
    grad: their gradients are summed back by `unbroadcast`."""
    node = tensor.node
    if not node.op.broadcasts:
        return []
    return [
        (position, x)
        for position, x in enumerate(node.inputs)
        if position in node.op.broadcasts
        and isinstance(x, Tensor)
        and x.requires_grad
        and x.shape != stretched_to(tensor, position)
    ]


def grad_holders(snap: Snapshot) -> list[Tensor]:
    """The tensors of the graph that keep a `.grad`: leaves that require grad, and results
    that retain theirs."""
    return [t for t in snap.leaves if t.requires_grad] + [t for t in snap.ops if t.retains_grad]


def recorded_backward(
    loss: Tensor, snap: Snapshot, observer: Observer, retain_graph: bool = False
) -> dict[int, Any]:
    """Run `loss`'s backward pass with `observer` attached (it sees each step), and
    return the .grad it gave each holder (by id). A graph that backward() has not been
    through (no .grad in it) gets its own backward pass: every .grad is set, and the graph
    freed unless `retain_graph`. Otherwise the pass runs on the kept graph with every .grad
    set aside, and then every .grad is put back as it was: looking never adds to one."""
    holders = grad_holders(snap)
    before = {id(t): t.grad for t in holders}
    if all(g is None for g in before.values()):
        with observe(observer):
            loss.backward(retain_graph=retain_graph)
        return {id(t): t.grad for t in holders if t.grad is not None}
    try:
        for t in holders:
            t.grad = None
        with observe(observer):
            loss.backward(retain_graph=True)
        return {id(t): t.grad for t in holders if t.grad is not None}
    finally:
        for t in holders:
            t.grad = before[id(t)]
