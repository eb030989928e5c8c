"""`backward_worksheet(loss)`: the backward pass as a skeleton to fill in by hand.

One line per tensor, in the order backward computes their gradients, each with its shape
and the forward expression it came from:

    dlogits = ...  # (32, 27): logits = h @ W2 + b2

A learner replaces each `...` with numpy, then checks the dict at the end with
`ag.check_backward`. A tensor gets a line when it has a name (`t.name = "logits"`), when it
is a leaf that requires grad, or when several ops use it; an unnamed result used once is
written inside the expression of the tensor that uses it (a chain of more than
`MAX_NESTING` of them gets a line every `MAX_NESTING` ops).

The worksheet is Python that runs as it is (each `...` is Python's Ellipsis) with `ag` and
the loss in scope, and nothing else. The loss is the variable named after it (`loss` when it
has no name of its own). Names never become code: each variable is an ASCII identifier made
from the name (`text.identifier`), each comment is one line (`text.printable`), and each
key of the `manual` dict is the name itself as a Python string literal, so that
`check_backward` finds the tensor by it. Tensors without a name of their own (`t5`,
`param0`) get a line but no key: `check_backward` finds tensors by name.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..engine import Tensor, backward_order
from ..text import identifier, printable

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

MAX_NESTING = 8
"""At most this many unnamed ops are written inside one expression; the next one gets a line
of its own (so a chain of thousands of ops gives short lines, not one endless comment)."""

RESERVED = frozenset({"ag", "np", "manual", "print"})
"""Names the worksheet's code uses itself, never given to a gradient."""


def _label(tensor: Tensor) -> str | None:
    """The tensor's own name, when it has one (a non-empty string)."""
    name = tensor.name
    return name if isinstance(name, str) and name else None


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
        id(t): _label(t) or ("loss" if t is loss else f"t{step[id(t)]}")
        for t in order
        if t is loss or _label(t) or len(users.get(id(t), [])) > 1
    }
    _break_long_chains(order, names, step)
    names.update({key: _label(x) or f"param{i}" for i, (key, x) in enumerate(leaves.items())})

    def inline(x: Any) -> bool:
        return isinstance(x, Tensor) and x.node is not None and id(x) not in names

    def written(tensor: Tensor) -> str:
        """tensor's forward expression, unnamed inputs used once written in place (a
        post-order walk with a stack: no recursion, however long the graph)."""
        done: dict[int, str] = {}
        stack = [(tensor, False)]
        while stack:
            t, ready = stack.pop()
            if not ready:
                stack.append((t, True))
                stack += [(x, False) for x in t.node.inputs if inline(x)]
                continue
            node = t.node
            outer = PRECEDENCE.get(node.op.name, 5)
            parts = []
            for position, x in enumerate(node.inputs):
                if not isinstance(x, Tensor):
                    parts.append(_constant(x))
                elif not inline(x):
                    parts.append(names.get(id(x)) or _label(x) or "input")
                else:
                    inner = PRECEDENCE.get(x.node.op.name, 6)
                    tight = inner > outer or (inner == outer and position == 0 and outer < 4)
                    text = done.pop(id(x))
                    parts.append(text if tight else f"({text})")
            done[id(t)] = _expression(node.op.name, parts, node.params)
        return done[id(tensor)]

    def shown_in(tensor: Tensor) -> str:
        """The name of the line whose expression shows `tensor`'s op."""
        while id(tensor) not in names:
            (tensor,) = users[id(tensor)]
        return names[id(tensor)]

    done = dict(step)  # a leaf's gradient is done after the last op that uses it
    done.update({key: max(step[id(u)] for u in users[key]) + 0.5 for key in leaves})
    listed = sorted((done[key], key) for key in names)
    tensors = {**{id(t): t for t in order}, **leaves}
    taken = set(RESERVED)
    loss_variable = identifier(_label(loss) or "loss", taken)
    variables = {key: identifier("d" + names[key], taken) for _, key in listed}
    lines = [
        f"# The backward pass of {printable(names[id(loss)])}: one line per tensor, in the order",
        "# backward computes their gradients. Replace each ... with numpy, then check them all.",
    ]
    for _, key in listed:
        tensor, name = tensors[key], names[key]
        if tensor.node is None:
            used_by = ", ".join(dict.fromkeys(shown_in(u) for u in users[key]))
            comment = f"{tensor.shape}: a parameter, used by {used_by}"
        else:
            comment = f"{tensor.shape}: {name} = {written(tensor)}"
        value = "1.0" if tensor is loss and tensor.size == 1 else "..."
        lines.append(f"{variables[key]} = {value}  # {printable(comment)}")
    lines += ["manual = {", *_entries(listed, tensors, names, variables, loss), "}"]
    seeded = "" if loss.size == 1 else f", grad={variables[id(loss)]}"
    lines.append(f"print(ag.check_backward({loss_variable}, manual{seeded}))")
    return "\n".join(lines)


def _break_long_chains(order: list[Tensor], names: dict[int, str], step: dict[int, int]) -> None:
    """Give a line (`t<step>`) to every unnamed tensor that would nest more than
    `MAX_NESTING` unnamed ops inside one expression. Inputs are recorded before the ops that
    use them, so one pass in recording order counts each nesting once."""
    nesting: dict[int, int] = {}
    for tensor in reversed(order):
        inner = [
            nesting.get(id(x), 0)
            for x in tensor.node.inputs
            if isinstance(x, Tensor) and x.node is not None and id(x) not in names
        ]
        depth = 1 + max(inner, default=0)
        if id(tensor) not in names and depth > MAX_NESTING:
            names[id(tensor)] = f"t{step[id(tensor)]}"
        nesting[id(tensor)] = 0 if id(tensor) in names else depth


def _entries(
    listed: list[tuple[float, int]],
    tensors: dict[int, Tensor],
    names: dict[int, str],
    variables: dict[int, str],
    loss: Tensor,
) -> list[str]:
    """The lines of the `manual` dict: the tensor's own name as a string literal (repr: one
    line, every special character escaped), or a comment saying why it has no key."""
    named = Counter(_label(t) for t in tensors.values() if _label(t))
    entries = []
    for _, key in listed:
        tensor = tensors[key]
        if tensor is loss:
            continue  # its own gradient is 1 (or the grad= given): nothing to check
        label = _label(tensor)
        if label is None:
            why = f"{names[key]} has no name: set t.name to check it"
        elif named[label] > 1:
            why = f"{named[label]} tensors are named {label}: name them apart to check them"
        else:
            entries.append(f"    {label!r}: {variables[key]},")
            continue
        entries.append(f"    # {variables[key]}: {printable(why)}")
    return entries


def _is_parameter(x: Any) -> bool:
    return isinstance(x, Tensor) and x.node is None and x.requires_grad


def _constant(x: Any) -> str:
    shape = getattr(x, "shape", ())
    if shape:
        return f"<array {tuple(shape)}>"
    return repr(x.item() if hasattr(x, "item") else x)


def _expression(op: str, parts: list[str], params: dict[str, Any]) -> str:
    if op in TEMPLATES:
        return TEMPLATES[op].format(*parts, **params)
    shown = [
        f"{k}={_constant(v) if getattr(v, 'shape', ()) else repr(v)}"
        for k, v in params.items()
        if v is not None and v is not False
    ]
    if len(parts) == 1:
        return f"{parts[0]}.{op}({', '.join(shown)})"
    return f"{op}({', '.join(parts + shown)})"
