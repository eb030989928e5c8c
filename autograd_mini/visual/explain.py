"""`explain(root)`: the backward pass of `root`, step by step, as a table.

Each step is one recorded op, in the order `root.backward()` runs them (the reverse of
the order they were recorded): the op, its inputs' shapes → its output's shape, and for
every input the VJP rule that computes that input's gradient and the gradient's shape,
with a note where an input was broadcast and its gradient is summed back (un-broadcast),
and the lines of `backward_code(root)` that compute it.
This is the printout that answers "why is ∇W this shape?".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..broadcasting import summed_axes
from ..code import program
from ..engine import Tensor, backward_order
from ..specialize import rule
from ..text import printable
from .graph import broadcast_inputs, shape_of, stretched_to


@dataclass(frozen=True)
class Gradient:
    """What one step passes back to one input."""

    input: str  # the input's name, or what produced it
    rule: str  # e.g. "dW = Xᵀ @ dZ"
    shape: tuple[int, ...] | None  # the gradient's shape (None: not computed)
    note: str = ""  # e.g. "un-broadcast (10, 30) → (30,): summed over axis 0"
    code: tuple[str, ...] = ()  # its lines in `backward_code`, e.g. ("dW1 = X.T @ dadd1",)


@dataclass(frozen=True)
class Step:
    number: int
    op: str
    inputs: list[tuple[str, tuple[int, ...]]]  # (name, shape) of each input
    output: tuple[int, ...]
    gradients: list[Gradient] = field(default_factory=list)
    letters: str = ""  # what the rules' letters stand for here, e.g. "m = 4, the rows of a"


@dataclass
class Explanation:
    """The steps of a backward pass; `str()` (and `print`) gives the table."""

    root: str
    steps: list[Step]

    def __str__(self) -> str:
        """The table; every name in it through `printable`, so a name cannot add a line,
        move the cursor or reorder what the reader sees."""
        lines = [
            f"Backward pass of {printable(self.root)}: {len(self.steps)} "
            f"step{'s' * (len(self.steps) != 1)}, "
            "in the order they run."
        ]
        for step in self.steps:
            inputs = ", ".join(f"{printable(name)} {shape}" for name, shape in step.inputs)
            lines.append(f"step {step.number:>2}  {printable(step.op)}: {inputs} → {step.output}")
            last = [g.rule.split("\n")[-1] for g in step.gradients if g.shape is not None]
            width = max(map(len, last), default=0)
            for g in step.gradients:
                if g.shape is None:
                    lines.append(f"          {printable(g.input)}: {g.rule}")
                    continue
                note = f"  # {g.note}" if g.note else ""
                *first, final = g.rule.split("\n")  # a rule of several lines: one a line
                lines += [f"          {line}" for line in first]
                lines.append(
                    f"          {final.ljust(width)}  → {g.shape} for {printable(g.input)}{note}"
                )
                lines += [
                    f"          {'code: ' if k == 0 else '      '}{printable(line)}"
                    for k, line in enumerate(g.code)
                ]
            if step.letters:
                lines.append(f"          where {printable(step.letters)}")
        return "\n".join(lines)

    __repr__ = __str__


def explain(root: Tensor) -> Explanation:
    """The backward pass of `root` step by step (works before and after backward())."""
    if not isinstance(root, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(root).__name__}.")
    order = backward_order(root)
    step_of = {id(t): i + 1 for i, t in enumerate(order)}
    code = program(root).steps if root.node is not None else {}

    def name(x) -> str:
        if not isinstance(x, Tensor):
            return "array" if getattr(x, "ndim", 0) else f"{x:g}"
        if x.node is not None:
            return (
                f"{x.node.op.name}(step {step_of[id(x)]})" if id(x) in step_of else x.node.op.name
            )
        return x.name or ("parameter" if x.requires_grad else "input")

    steps = []
    for number, tensor in enumerate(order, start=1):
        node = tensor.node
        inputs = [(name(x), shape_of(x)) for x in node.inputs]
        broadcast = {position for position, _ in broadcast_inputs(tensor)}
        gradients = []
        for position, x in enumerate(node.inputs):
            if not (isinstance(x, Tensor) and x.requires_grad):
                kind = (
                    "a constant" if not isinstance(x, Tensor) else "an input that requires no grad"
                )
                gradients.append(Gradient(name(x), f"not computed ({kind})", None))
                continue
            note = ""
            if position in broadcast:
                stretched = stretched_to(tensor, position)
                axes = ", ".join(map(str, summed_axes(x.shape, stretched)))
                note = f"un-broadcast {stretched} → {x.shape}: summed over axis {axes}"
            lines = code.get((id(tensor), position), ())
            gradients.append(Gradient(name(x), rule(tensor, position), x.shape, note, lines))
        rules = node.op.rules
        letters = _letters(rules, *inputs[0], parameters=node.op.params) if inputs else ""
        steps.append(Step(number, node.op.name, inputs, tensor.shape, gradients, letters))
    described = root.name or (root.node.op.name if root.node else "a leaf")
    return Explanation(f"{described} {root.shape}", steps)


BATCH_LETTERS = re.compile(r"(?<![\w′])[mk](?![\w′])")
"""The letters of the costs' rules: m, the examples (rows) a cost averages over, and k, the
entries of each example (a mean over every entry divides by m·k)."""


def _letters(
    rules: tuple[str, ...], name: str, shape: tuple[int, ...], parameters: tuple[str, ...] = ()
) -> str:
    """What m and k stand for in this step's rules, from the shape of its first input (the
    predictions): "m = 4, the rows of sigmoid(step 2)", "k = 3, the entries of each". Not a
    parameter of the op so named (triu's diagonal k), whose value the rule shows."""
    used = {letter for rule in rules for letter in BATCH_LETTERS.findall(rule)} - set(parameters)
    m = shape[0] if len(shape) >= 2 else 1
    said = []
    if "m" in used:
        said.append(f"m = {m}, the rows (examples) of {name}")
    if "k" in used:
        said.append(f"k = {math.prod(shape) // max(m, 1)}, the entries of each")
    return "; ".join(said)
