"""`backward_worksheet(loss)`: the backward pass as a skeleton to fill in by hand.

One line per tensor, in the order backward computes their gradients, each with its shape
and the forward expression it came from:

    dlogits = ...  # (32, 27): logits = h @ W2 + b2

A learner replaces each `...` with numpy, then checks the dict at the end with
`ag.check_backward`. A tensor gets a line when it has a name (`t.name = "logits"`), when it
is a leaf that requires grad, or when several ops use it; an unnamed result used once is
written inside the expression of the tensor that uses it.
"""

from __future__ import annotations

import re
from typing import Any

from ..engine import Tensor, backward_order

TEMPLATES = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "matmul": "{0} @ {1}",
    "neg": "-{0}",
    "pow": "{0} ** {p}",
    "getitem": "{0}[...]",
}
"""How an op is written between its inputs; any other op is written as a method call when it
has one input (`h.tanh()`, `x.sum(axis=0)`), else as a function call."""

PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "matmul": 2, "neg": 3, "pow": 4}
"""Python's binding strength of the ops written with operators (calls bind tightest)."""


def backward_worksheet(loss: Tensor) -> str:
    """Python source to fill in: `d<name> = ...` for each tensor of `loss`'s graph in the
    order backward computes their gradients, then a `manual` dict for `ag.check_backward`."""
    if not isinstance(loss, Tensor) or loss.node is None:
        raise TypeError("backward_worksheet: expected a Tensor computed by recorded ops.")
    order = backward_order(loss)
    step = {id(t): number for number, t in enumerate(order, start=1)}
    users: dict[int, list[Tensor]] = {}
    for tensor in order:
        for x in tensor.node.inputs:
            if isinstance(x, Tensor) and x.requires_grad:
                users.setdefault(id(x), []).append(tensor)
    leaves = {id(x): x for t in order for x in t.node.inputs if _is_parameter(x)}
    names = {
        id(t): t.name or f"t{step[id(t)]}"
        for t in order
        if t is loss or t.name or len(users.get(id(t), [])) > 1
    }
    names.update({key: x.name or f"param{i}" for i, (key, x) in enumerate(leaves.items())})

    def written(tensor: Tensor) -> str:
        """tensor's forward expression, unnamed inputs used once written in place."""
        node = tensor.node
        outer = PRECEDENCE.get(node.op.name, 5)
        parts = []
        for position, x in enumerate(node.inputs):
            if not isinstance(x, Tensor):
                parts.append(_constant(x))
            elif id(x) in names or x.node is None:
                parts.append(names.get(id(x), x.name or "input"))
            else:
                inner = PRECEDENCE.get(x.node.op.name, 6)
                tight = inner > outer or (inner == outer and position == 0 and outer < 4)
                parts.append(written(x) if tight else f"({written(x)})")
        return _expression(node.op.name, parts, node.params)

    def shown_in(tensor: Tensor) -> str:
        """The name of the line whose expression shows `tensor`'s op."""
        while id(tensor) not in names:
            (tensor,) = users[id(tensor)]
        return names[id(tensor)]

    done = dict(step)  # a leaf's gradient is done after the last op that uses it
    done.update({key: max(step[id(u)] for u in users[key]) + 0.5 for key in leaves})
    lines = [
        f"# The backward pass of {names[id(loss)]}: one line per tensor, in the order backward",
        "# computes their gradients. Replace each ... with numpy, then check them all at the end.",
    ]
    listed = sorted((done[key], key) for key in names)
    tensors = {**{id(t): t for t in order}, **leaves}
    for _, key in listed:
        tensor, name = tensors[key], names[key]
        if tensor.node is None:
            used_by = ", ".join(dict.fromkeys(shown_in(u) for u in users[key]))
            comment = f"{tensor.shape}: a parameter, used by {used_by}"
        else:
            comment = f"{tensor.shape}: {name} = {written(tensor)}"
        value = "1.0" if tensor is loss and tensor.size == 1 else "..."
        lines.append(f"{_variable(name)} = {value}  # {comment}")
    checked = [(names[key], _variable(names[key])) for _, key in listed if key != id(loss)]
    lines += ["manual = {", *(f"    {name!r}: {var}," for name, var in checked), "}"]
    lines.append(f"print(ag.check_backward({names[id(loss)]}, manual))")
    return "\n".join(lines)


def _is_parameter(x: Any) -> bool:
    return isinstance(x, Tensor) and x.node is None and x.requires_grad


def _variable(name: str) -> str:
    """The Python name of a gradient: d + the tensor's name, made an identifier."""
    return "d" + re.sub(r"\W", "_", name)


def _constant(x: Any) -> str:
    shape = getattr(x, "shape", ())
    if shape:
        return f"<array {tuple(shape)}>"
    return repr(x.item() if hasattr(x, "item") else x)


def _expression(op: str, parts: list[str], params: dict[str, Any]) -> str:
    if op in TEMPLATES:
        return TEMPLATES[op].format(*parts, **params)
    shown = [f"{k}={v!r}" for k, v in params.items() if v is not None and v is not False]
    if len(parts) == 1:
        return f"{parts[0]}.{op}({', '.join(shown)})"
    return f"{op}({', '.join(parts + shown)})"
