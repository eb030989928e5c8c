"""Watch the backward pass: a self-contained page that steps through `backward()` on your graph.

    ag.save_html(loss, "backward.html")   # one file: open it in a browser, offline
    ag.stepper(loss)                      # the same page inline in Jupyter

The page is the drawing of `save_svg` (module boxes, shapes, broadcast marks) with buttons
and keys (→ next, ← back, Home/End, space = play/pause) that step through the N steps of
`backward_order(loss)`, in that order. At step k the node whose VJPs run is highlighted,
the edges its gradients flow along are lit, the gradients computed so far stay marked, and a
panel shows the op, its VJP rules from the op table with the actual shapes, the gradient
arriving from above (with its fan-in: "sum of 2 contributions: from step 1 and step 3") and
the gradient passed to each input (with its un-broadcast: "(10, 30) summed over axis 0 →
(30,)"). Clicking a node shows its forward value and, after its step, its gradient.

The numbers are the engine's own: an `Observer` attached during `loss.backward()` sees each step's
gradients as it computes them, and they are copied (or summarised) at once. Arrays of at
most `SMALL` numbers (8 × 8) are embedded in full (the page shows 4 significant digits);
bigger ones as min / max / mean / norm and a heat-map of at most `HEAT` × `HEAT` block
means, so the page of a 784-30-10 network stays small. A collapsed box of a big graph
(`layout.plan`) steps as one step.

What it does to `.grad` (the pass it records is always a real `backward()`):
- A graph that backward() has not been through (no tensor in it has a `.grad`): the page
  runs `loss.backward()` itself, recording, and leaves every `.grad` exactly as
  `loss.backward()` would, and the graph freed as it would (`retain_graph=True` keeps it).
  Call it *instead of* `loss.backward()`.
- Some tensor of the graph already has a `.grad` (e.g. after `backward(retain_graph=True)`):
  the pass is recorded on the kept graph with those `.grad` set aside, and then every `.grad`
  is put back as it was: looking never adds to a gradient.
- The same loss again: its graph was freed by the first page's backward pass, so this is the
  case below (keep the first page's `Stepper`, or make it with `retain_graph=True`).
- A graph already freed by `backward()` that was not recorded: BackwardError, saying to call
  `save_html` before `backward()` or to keep the graph with `backward(retain_graph=True)`.

The template is `page/stepper.html`, `.css` and `.js` (no framework, no build step); the data
goes in as JSON inside `<script type="application/json">` with `<`, `>`, `&`, U+2028 and
U+2029 escaped, and the script builds the panel with `textContent` only, so a tensor named
`<img src=x onerror=...>` is shown as text and runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..broadcasting import summed_axes
from ..code import program
from ..engine import Tensor, backward_order
from ..errors import BackwardError, ShapeError
from ..files import replacing, write_file
from ..recording import Observer
from ..specialize import rule
from ..text import printable
from .drawing import build, numbers, render_svg, shortened
from .graph import (
    Constant,
    Snapshot,
    broadcast_inputs,
    grad_holders,
    recorded_backward,
    shape_of,
    stretched_to,
)
from .layout import Plan, Unit

SMALL = 64
"""Arrays with at most this many numbers (e.g. 8 × 8) are embedded in full."""

HEAT = 32
"""A bigger array's heat-map has at most HEAT × HEAT cells (block means)."""

LISTED = 24
"""A collapsed box's step lists at most this many of the gradients it passes out."""

LISTED_INPUTS = 64
"""One op's step lists at most this many of its inputs (a `stack` may have thousands)."""

PAGE = "page"  # the template's folder inside this package


# ----------------------------------------------------------------------------------------
# Arrays as the page shows them
# ----------------------------------------------------------------------------------------


def _number(x: float) -> float | str:
    """A float for JSON; NaN and ±Infinity as the strings JavaScript's Number() reads."""
    if np.isfinite(x):
        return float(x)
    return "NaN" if np.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def array_view(array: Any) -> dict[str, Any]:
    """An array as the page shows it: its shape and dtype, and either every number (at most
    SMALL of them, full precision) or min / max / mean / norm and a heat-map of block means
    (`rows` × `cols` cells, row-major), the array seen as 2-D (leading axes flattened)."""
    a = np.asarray(array)
    view: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.size <= SMALL:
        view["values"] = [_number(x) for x in a.astype(np.float64).ravel()]
        return view
    f = a.astype(np.float64).reshape(-1, a.shape[-1]) if a.ndim > 1 else a.astype(np.float64)
    f = f.reshape(1, -1) if f.ndim == 1 else f
    view["stats"] = {
        "min": _number(f.min()),
        "max": _number(f.max()),
        "mean": _number(f.mean()),
        "norm": _number(np.linalg.norm(f)),
    }
    rows, cols = _blocks(f.shape[0]), _blocks(f.shape[1])
    sums = np.add.reduceat(np.add.reduceat(f, rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff([*rows, f.shape[0]]), np.diff([*cols, f.shape[1]]))
    cells = sums / counts
    view["heat"] = {
        "rows": len(rows),
        "cols": len(cols),
        "cells": [
            _number(float(f"{x:.3g}")) if np.isfinite(x) else _number(x) for x in cells.ravel()
        ],
    }
    return view


def _blocks(n: int) -> np.ndarray:
    """The first index of each of min(n, HEAT) nearly equal blocks of range(n)."""
    return np.unique(np.linspace(0, n, min(n, HEAT) + 1).astype(int)[:-1])


# ----------------------------------------------------------------------------------------
# Recording the engine's backward pass
# ----------------------------------------------------------------------------------------


@dataclass
class _Step:
    tensor: int  # id() of the tensor whose node's VJPs ran
    upstream: dict  # view of g = ∂L/∂tensor
    passed: list[tuple[int, int, dict]]  # (input position, id(input), view of ∂L/∂input)


@dataclass
class _Recording:
    """What one recorded backward pass left, as views (copies or summaries), by id() of the
    tensors (they live as long as the loss, which holds its graph; so does this record)."""

    mode: str  # "ran": it was the loss's backward(); "looked": every .grad was put back
    steps: list[_Step]
    values: dict[Any, dict]  # id(tensor), or (id(consumer), position) of a constant → view
    grads: dict[int, dict]  # id(tensor) → view of the .grad this pass gave it


def _positions(node: Any, passed: list) -> list[int]:
    """The input position of each (input, gradient) pair a step passed on (edges follow the
    inputs' order; one tensor may be several inputs, as in x * x)."""
    positions, start = [], 0
    for x, _ in passed:
        position = next(i for i in range(start, len(node.inputs)) if node.inputs[i] is x)
        positions.append(position)
        start = position + 1
    return positions


def _record(loss: Tensor, snap: Snapshot, retain_graph: bool) -> _Recording:
    values: dict[Any, dict] = {id(t): array_view(t.data) for t in (*snap.ops, *snap.leaves)}
    values.update({(id(c.consumer), c.position): array_view(c.value) for c in snap.constants})
    ran = all(t.grad is None for t in grad_holders(snap))
    steps: list[_Step] = []

    class Steps(Observer):
        def stepped(self, tensor: Tensor, g: Any, passed: list) -> None:
            positions = _positions(tensor.node, passed)
            steps.append(
                _Step(
                    id(tensor),
                    array_view(g),
                    [
                        (p, id(x), array_view(gx))
                        for p, (x, gx) in zip(positions, passed, strict=True)
                    ],
                )
            )

    given = recorded_backward(loss, snap, Steps(), retain_graph)
    grads = {key: array_view(grad) for key, grad in given.items()}
    return _Recording("ran" if ran else "looked", steps, values, grads)


def _check(loss: Any, caller: str) -> None:
    if not isinstance(loss, Tensor):
        raise TypeError(f"{caller}: expected a Tensor (the loss), got {type(loss).__name__}.")
    if loss.node is None:
        raise BackwardError(
            f"{caller}: this tensor was not computed by a recorded op (it is a leaf, or it was "
            "computed inside no_grad() or from tensors that require no grad), so there is no "
            "backward pass to show."
        )
    if loss.size != 1:
        raise ShapeError(
            f"{caller}: the loss must have one element (the backward pass starts from ∂L/∂L = 1), "
            f"got shape {loss.shape}; reduce it first, e.g. with .sum() or .mean()."
        )
    freed = [t for t in backward_order(loss) if t.node.saved is None]
    if freed:
        raise BackwardError(
            f"{caller}: the graph of this loss (through its {freed[0].node.op.name}) was already "
            "freed by backward(), so the gradients of its steps are gone. Call "
            f"ag.{caller}(loss, ...) instead of loss.backward() (it runs backward and leaves "
            "every .grad as backward() would), or keep the graph with "
            "loss.backward(retain_graph=True); a page already made is kept by the Stepper "
            "that ag.stepper(loss) returns (.save(path) writes it)."
        )


# ----------------------------------------------------------------------------------------
# The page's data
# ----------------------------------------------------------------------------------------


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def fan_in(steps: list[int]) -> str:
    """Where a gradient came from: "from step 2", "sum of 2 contributions: from step 1 and
    step 3", "sum of 2 contributions: from step 4 (2×)" (x * x passes two)."""
    if not steps:
        return ""
    counted = [f"step {s}" + (f" ({n}×)" if n > 1 else "") for s, n in Counter(steps).items()]
    if len(steps) == 1:
        return f"from {counted[0]}"
    return f"sum of {len(steps)} contributions: from {_and(counted)}"


def unbroadcast_note(output: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """A broadcast input's gradient, summed back: "(10, 30) summed over axis 0 → (30,)"."""
    axes = summed_axes(shape, output)
    word = "axis" if len(axes) == 1 else "axes"
    return f"{output} summed over {word} {', '.join(map(str, axes))} → {shape}"


def _leaf_name(t: Tensor) -> str:
    return printable(t.name) if t.name else ("parameter" if t.requires_grad else "input")


def _constant_name(value: Any) -> str:
    array = np.asarray(value)
    return f"constant {numbers(array)}" if array.ndim == 0 else f"constant {array.shape}"


class _PageData:
    """Turns a recording and the drawing's boxes into the JSON the page script reads."""

    def __init__(
        self,
        loss: Tensor,
        rec: _Recording,
        snap: Snapshot,
        layout: Plan,
        code: dict[tuple[int, int], tuple[str, ...]],
    ) -> None:
        self.rec, self.layout, self.code = rec, layout, code
        self.tensors = {id(t): t for t in (*snap.ops, *snap.leaves)}
        order = backward_order(loss)
        if [s.tensor for s in rec.steps] != [id(t) for t in order]:
            raise BackwardError("stepper: the recorded steps do not match backward_order(loss).")
        self.groups: list[list[_Step]] = []  # the page's steps: a collapsed box's ops are one
        for step in rec.steps:
            unit = layout.unit_of[step.tensor]
            if self.groups and layout.unit_of[self.groups[-1][0].tensor] is unit:
                self.groups[-1].append(step)
            else:
                self.groups.append([step])
        self.step_of = {s.tensor: k for k, group in enumerate(self.groups, 1) for s in group}
        self.ops_in: dict[int, list[int]] = {}  # id(unit) → id() of its ops, backward order
        for step in rec.steps:
            self.ops_in.setdefault(id(layout.unit_of[step.tensor]), []).append(step.tensor)
        self.received: dict[int, list[int]] = {}  # id(tensor) → the steps that passed to it
        for k, group in enumerate(self.groups, 1):
            for step in group:
                for _, x, _ in step.passed:
                    self.received.setdefault(x, []).append(k)

    def name(self, x: Any) -> str:
        if not isinstance(x, Tensor):
            return _constant_name(x)
        if x.node is None:
            return _leaf_name(x)
        return f"{printable(x.node.op.name)} (step {self.step_of[id(x)]})"

    def destination(self, x: Tensor) -> str:
        if x.node is None:
            return f"added into {_leaf_name(x)}.grad"
        return f"to step {self.step_of[id(x)]} ({printable(x.node.op.name)})"

    def data(self, title: str, notes: list[str]) -> dict[str, Any]:
        return {
            "title": title,
            "notes": notes,
            "steps": [self.step(k, group) for k, group in enumerate(self.groups, 1)],
            "units": {unit.key: self.unit(unit) for unit in self.layout.units},
        }

    def step(self, k: int, group: list[_Step]) -> dict[str, Any]:
        first = self.tensors[group[0].tensor]
        unit = self.layout.unit_of[id(first)]
        node = first.node
        received = self.received.get(id(first), [])
        entry: dict[str, Any] = {
            "unit": unit.key,
            "op": printable(node.op.name),
            "ops": len(group),
            "scope": " › ".join(printable(label) for label in node.scope),
            "output": {"shape": list(first.shape), "dtype": str(first.dtype)},
            "upstream": group[0].upstream,
            "fan_in": fan_in(received) if k > 1 else "the seed: ∂L/∂L = 1",
            "inputs": [],
        }
        edges: dict[tuple[str, str], None] = {}  # the arrows its gradients flow along
        if unit.collapsed:
            entry["box"] = printable(unit.title.rsplit("\n", 1)[0])
            entry["op"] = f"{shortened(entry['box'])}: {len(group):,} ops as one step"
        passed_out = []
        for step in group:
            tensor = self.tensors[step.tensor]
            stretched = {p for p, _ in broadcast_inputs(tensor)}
            if not unit.collapsed:
                entry["inputs"] = self.inputs(tensor, step, stretched)
                entry["more"] = max(0, len(tensor.node.inputs) - LISTED_INPUTS)
            else:
                passed_out += [
                    (tensor, p, x, view)
                    for p, x, view in step.passed
                    if self.layout.unit_of[x] is not unit or self.tensors[x].node is None
                ]
            edges |= dict.fromkeys(
                (self.layout.unit_of[x].key, unit.key) for _, x, _ in step.passed
            )
        entry["edges"] = [list(edge) for edge in edges if edge[0] != unit.key]
        if unit.collapsed:
            entry["inputs"] = [
                self.passed_entry(tensor, p, self.tensors[x], view, stretched=None)
                for tensor, p, x, view in passed_out[:LISTED]
            ]
            entry["more"] = max(0, len(passed_out) - LISTED)
        return entry

    def inputs(self, tensor: Tensor, step: _Step, stretched: set[int]) -> list[dict]:
        passed = {p: view for p, _, view in step.passed}
        entries = []
        for p, x in enumerate(tensor.node.inputs[:LISTED_INPUTS]):
            if p in passed:
                entries.append(self.passed_entry(tensor, p, x, passed[p], stretched))
                continue
            why = (
                "not computed: a constant"
                if not isinstance(x, Tensor)
                else "not computed: an input that requires no grad"
            )
            entries.append(
                {
                    "name": self.name(x),
                    "shape": list(shape_of(x)),
                    "rule": rule(tensor, p),
                    "grad": None,
                    "note": why,
                }
            )
        return entries

    def passed_entry(
        self, tensor: Tensor, p: int, x: Tensor, view: dict, stretched: set[int] | None
    ) -> dict:
        text = rule(tensor, p)
        if stretched is None:  # in a collapsed box: say which op
            text = f"{printable(tensor.node.op.name)}: {text}"
            stretched = {q for q, _ in broadcast_inputs(tensor)}
        return {
            "name": self.name(x),
            "shape": list(x.shape),
            "rule": text,
            "shapes": f"∂L/∂{printable(tensor.node.op.name)} {tensor.shape} → {x.shape}",
            "grad": view,
            "code": list(self.code.get((id(tensor), p), ())),
            "broadcast": unbroadcast_note(stretched_to(tensor, p), x.shape)
            if p in stretched
            else "",
            "to": self.destination(x),
        }

    def unit(self, unit: Unit) -> dict[str, Any]:
        if unit.collapsed:
            ops = self.ops_in.get(id(unit), [])
            entry = {
                "kind": "box",
                "title": "\n".join(printable(line) for line in unit.title.rsplit("\n", 1)),
                "note": f"a collapsed box of {len(ops):,} ops; it steps as one step",
            }
            if ops:  # its output: the op of the box that backward() reaches first
                k = self.step_of[ops[0]]
                entry |= {"value": self.rec.values[ops[0]], "grad_step": k}
                entry["grad"] = self.groups[k - 1][0].upstream
            return entry
        (member,) = unit.members
        if isinstance(member, Constant):
            key = (id(member.consumer), member.position)
            return {
                "kind": "constant",
                "title": _constant_name(member.value),
                "value": self.rec.values[key],
                "note": "a constant: it gets no gradient",
            }
        t = member
        if t.node is not None:
            k = self.step_of[id(t)]
            return {
                "kind": "op",
                "title": (f"{printable(t.name)} = " if t.name else "")
                + f"{printable(t.node.op.name)} (step {k})",
                "value": self.rec.values[id(t)],
                "grad": self.groups[k - 1][0].upstream,
                "grad_step": k,
                "note": fan_in(self.received.get(id(t), [])) if k > 1 else "the loss: ∂L/∂L = 1",
            }
        received = self.received.get(id(t), [])
        entry = {"kind": "leaf", "title": _leaf_name(t), "value": self.rec.values[id(t)]}
        if not received or id(t) not in self.rec.grads:
            entry["note"] = "requires no grad: it gets no gradient"
            return entry
        entry |= {
            "grad": self.rec.grads[id(t)],
            "grad_step": max(received),
            "contributions": sorted(set(received)),
            "note": f".grad {fan_in(received)}",
        }
        return entry


# ----------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------

_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def script_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: `<`, `>`, `&`, U+2028 and U+2029
    as \\u escapes (so no `</script>` or `<!--` can end or change the script element)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group()], text)


def _template(name: str) -> str:
    return (resources.files(__package__) / PAGE / name).read_text(encoding="utf-8")


def render_page(title: str, svg: str, data: dict[str, Any]) -> str:
    """The page: the template with its CSS, script, the SVG and the data put in, in one pass
    (what is put in is never searched for placeholders again). Its Content-Security-Policy
    allows no network request at all and runs no script but this one (by its hash): not
    even an inline event handler that got in somehow."""
    script = _template("stepper.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    parts = {
        "TITLE": html.escape(title),
        "STYLE": _template("stepper.css"),
        "SCRIPT": script,
        "SCRIPTHASH": f"sha256-{digest}",  # the page's Content-Security-Policy runs only it
        "SVG": svg[svg.index("<svg") :],  # without the XML declaration and DOCTYPE
        "DATA": script_json(data),
    }
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], _template("stepper.html"))


def _title(loss: Tensor) -> str:
    described = shortened(loss.name) if loss.name else shortened(loss.node.op.name)
    return f"Backward pass of {described} = {loss.item():.6g}"


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------


class Stepper:
    """The stepper page of one loss: `.html` (the page), `.save(path)`, `.steps` (N),
    `.data` (what the page shows, as the page's script reads it: `steps`, and `units`, the
    drawing's boxes by the key in their SVG `<title>`), and `_repr_html_`, which Jupyter
    uses to show the page inline, in an iframe whose `srcdoc` holds the page: its script and
    styles are isolated from the notebook (and from other pages in it), and the sandbox lets
    it run scripts but reach nothing outside it."""

    def __init__(self, page: str, data: dict[str, Any]) -> None:
        self.html = page
        self.data = data
        self.steps = len(data["steps"])
        self.title = data["title"]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` (one self-contained file, whole or not at all: see
        `autograd_mini.files`) and return the Path."""
        return write_file(path, self.html, "Stepper.save")

    def _repr_html_(self) -> str:
        page, title = html.escape(self.html, quote=True), html.escape(self.title, quote=True)
        return (
            f'<iframe srcdoc="{page}" title="{title}" sandbox="allow-scripts" '
            'style="width: 100%; height: 720px; border: 1px solid #ccc"></iframe>'
        )

    def __repr__(self) -> str:
        return f"Stepper({self.title!r}, {self.steps} steps; .save(path) writes the page)"


def stepper(loss: Tensor, *, retain_graph: bool = False, **draw_options: Any) -> Stepper:
    """The stepper page of `loss`'s backward pass (see the module's docstring for what it does
    to `.grad`): show it in Jupyter, or `.save(path)` it. `draw_options` go to `draw`
    (rankdir, group_modules, max_nodes, show_shapes, show_values, show_grads; by default
    the drawing shows no gradient norms: the page reveals gradients step by step)."""
    return _page(loss, "stepper", retain_graph, draw_options)


def save_html(
    loss: Tensor, path: str | os.PathLike, *, retain_graph: bool = False, **draw_options: Any
) -> Path:
    """Write the stepper page of `loss`'s backward pass to `path` (one self-contained HTML
    file: it works opened from disk, offline) and return the Path. Called before
    `loss.backward()`, it runs it (recording every step) and leaves every `.grad` as
    `loss.backward()` would: call it instead. See the module's docstring for the rest.
    A path that cannot be written is a FileWriteError before the backward pass runs."""
    with replacing(path, "save_html") as out:  # its temporary file exists: now backward may run
        out.file.write(_page(loss, "save_html", retain_graph, draw_options).html.encode("utf-8"))
    return Path(path)


CODE_LINES_UP_TO = 5_000
"""The largest graph (in gradients passed) whose steps show their lines of `backward_code`."""


def _code_lines(loss: Tensor) -> dict[tuple[int, int], tuple[str, ...]]:
    """(id(tensor), input) → the lines of `backward_code(loss)` of that step's gradient; none
    for a graph too big to print quickly (the page of a 20,000-input join stays fast)."""
    edges = sum(len(t.node.edges) for t in backward_order(loss))
    return program(loss).steps if edges <= CODE_LINES_UP_TO else {}


def _page(loss: Tensor, caller: str, retain_graph: bool, draw_options: dict) -> Stepper:
    _check(loss, caller)
    dot, snap, layout = build(loss, **{"show_grads": False, **draw_options})
    svg = render_svg(dot, caller).decode("utf-8")  # before anything runs: no dot, no change
    notes = []
    code = _code_lines(loss)  # before backward frees the graph
    recording = _record(loss, snap, retain_graph)
    if recording.mode == "ran":
        notes.append(
            "Recording it ran the loss's backward pass: every .grad is set as loss.backward() "
            "sets it."
        )
    else:
        notes.append(
            "The graph already had gradients (e.g. from backward(retain_graph=True)): the "
            "backward pass was recorded on the kept graph and every .grad was left as it was."
        )
    if layout.note:
        notes.append(printable(layout.note))
    title = _title(loss)
    data = _PageData(loss, recording, snap, layout, code).data(title, notes)
    return Stepper(render_page(title, svg, data), data)
