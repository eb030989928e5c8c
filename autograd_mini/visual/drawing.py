"""Draw the recorded graph with Graphviz: `draw` builds the DOT, `save_svg` renders it.

Boxes: each op (its name and output shape), each leaf tensor (its name, shape, dtype and,
after backward, its gradient's shape and norm), each constant operand. Parameters, inputs,
ops and the loss have distinct shapes and colours, explained by a small legend. An input
that numpy broadcast is marked on its edge, which says its gradient was summed back; the
edges into concatenate and stack say which slice of the gradient goes back to each input
(`dx₂ = dz[:, 30:50]`). With
`group_modules`, the ops of each `nn` module (the recording scopes) sit in a labelled
cluster. Big graphs are collapsed (see `layout.plan`) so `dot` stays fast.

Every user-supplied string (tensor names, module labels, op names) is shown literally: `&`,
backslashes, quotes and `<...>` as themselves (never as entities, escapes, attributes or HTML
labels), and what XML cannot hold or a reader could not see (control characters, lone
surrogates, U+FFFE/U+FFFF, invisible format characters) as a visible escape (`\\x01`,
`\\ud800`: `text.printable`), so the SVG always parses. Building the graph needs only the
`graphviz` package; rendering needs Graphviz's `dot`. Without `dot`, a drawing shown in
Jupyter shows its DOT source and how to install Graphviz instead of a traceback.
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from ..broadcasting import summed_axes
from ..engine import Tensor
from ..errors import AutogradError
from ..files import replacing
from ..recording import Observer
from ..specialize import rule
from ..text import printable
from .graph import (
    Constant,
    Snapshot,
    broadcast_inputs,
    grad_holders,
    recorded_backward,
    shape_of,
    snapshot,
    stretched_to,
)
from .layout import DEEPEST_MODULE, Plan, Unit, plan

RANKDIRS = ("LR", "RL", "TB", "BT")
STYLES = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#eef1f5", "color": "#5b6b7f"},
    "loss": {
        "shape": "box",
        "style": "rounded,filled,bold",
        "fillcolor": "#ffd8d2",
        "color": "#c0392b",
        "peripheries": "2",
    },
    "parameter": {
        "shape": "ellipse",
        "style": "filled",
        "fillcolor": "#d4e6fb",
        "color": "#2f6db5",
    },
    "input": {
        "shape": "parallelogram",
        "style": "filled",
        "fillcolor": "#f4f4f4",
        "color": "#888888",
    },
    "constant": {"shape": "plaintext", "fontcolor": "#555555"},
    "collapsed": {"shape": "box3d", "style": "filled", "fillcolor": "#fff1c9", "color": "#b7950b"},
}
BROADCAST_EDGE = {"color": "#d35400", "fontcolor": "#d35400", "style": "bold"}


INSTALL_GRAPHVIZ = "`apt-get install graphviz`, `brew install graphviz` or `conda install graphviz`"
"""How to install Graphviz's `dot`, for every message that needs it."""

SMALL_VALUES = 4
"""show_values: tensors with at most this many numbers show them; bigger ones a summary."""

LONGEST_NAME = 48
"""A name (of a tensor or a module) shows at most this many characters in a box or a
cluster's label, its start, "…" and its end; the whole name is in the box's tooltip and in
the stepper page's panel. (dot refuses a label of over 16,384 characters, and a long one
makes the drawing as wide as the name.)"""

LONGEST_TOOLTIP = 2000
"""A tooltip shows at most this many characters of a name, and then its length."""


class GraphvizMissingError(AutogradError, RuntimeError):
    """Graphviz's `dot` program, which renders SVG, is not installed."""


def text(value: Any) -> str:
    """User-supplied text made safe for a DOT label, to be shown literally: `printable`, then
    `&` written as `&amp;` (`dot` reads `&...;` as an entity), backslashes doubled (`dot`
    reads `\\N`, `\\l`, ... as escapes), and never read as an HTML label."""
    return graphviz.escape(printable(value).replace("&", "&amp;"))


def shortened(value: Any, longest: int = LONGEST_NAME) -> str:
    """`printable(value)` in at most `longest` characters: its start, "…" and its end, cut
    between characters (never inside an escape such as `\\x1b`)."""
    whole = printable(value)
    if len(whole) <= longest:
        return whole
    pieces = [printable(c) for c in str(value)]
    room = longest - 1  # for the "…"
    head: list[str] = []
    for piece in pieces:
        if sum(map(len, head)) + len(piece) > room * 2 // 3:
            break
        head.append(piece)
    tail: list[str] = []
    room -= sum(map(len, head))
    for piece in reversed(pieces[len(head) :]):
        if sum(map(len, tail)) + len(piece) > room:
            break
        tail.append(piece)
    return "".join(head) + "…" + "".join(reversed(tail))


def tooltip(names: Sequence[Any]) -> dict[str, str]:
    """The `tooltip` attribute holding the names that `shortened` cut (none: no attribute),
    each at most LONGEST_TOOLTIP characters and then its length."""
    cut = [str(n) for n in dict.fromkeys(names) if len(printable(n)) > LONGEST_NAME]
    if not cut:
        return {}
    shown = [
        printable(n)
        if len(printable(n)) <= LONGEST_TOOLTIP
        else f"{shortened(n, LONGEST_TOOLTIP)} ({len(n):,} characters)"
        for n in cut
    ]
    return {"tooltip": label(*map(text, shown))}


def label(*lines: str) -> str:
    """A multi-line label from already-escaped lines (joined with DOT's line break)."""
    return graphviz.nohtml("\\n".join(lines))


class Drawing(graphviz.Digraph):
    """The Digraph `draw` returns. In Jupyter it shows itself as SVG; without Graphviz's
    `dot` it shows its DOT source and how to install Graphviz instead of a traceback."""

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            hint = (
                "Graphviz's `dot` program is not installed, so this drawing cannot be rendered; "
                f"install it with {INSTALL_GRAPHVIZ}. Its DOT source:"
            )
            return {
                "text/plain": f"{hint}\n{self.source}",
                "text/html": f"<p>{html.escape(hint)}</p><pre>{html.escape(self.source)}</pre>",
            }


def draw(
    root: Tensor | Sequence[Tensor],
    *,
    show_shapes: bool = True,
    show_grads: bool = True,
    show_values: bool = False,
    group_modules: bool = True,
    rankdir: str = "LR",
    max_nodes: int = 1000,
) -> Drawing:
    """The computation graph behind `root` (a Tensor or a list of them) as a Digraph.

    show_shapes: shapes and dtypes of tensors. show_grads: each gradient's shape and norm
    (after backward). show_values: the numbers of small tensors (at most 4 numbers; value |
    grad, as micrograd's draw_dot shows scalars; the gradient once backward() left one),
    a mean and std for bigger ones. group_modules: one cluster per module scope. rankdir:
    "LR", "RL", "TB" or "BT". max_nodes: above this many boxes the graph is collapsed
    (modules or repeated runs become one box each, as the graph's label says). In Jupyter
    the Digraph shows itself; `.source` is the DOT.
    """
    dot, _, _ = build(
        root,
        show_shapes=show_shapes,
        show_grads=show_grads,
        show_values=show_values,
        group_modules=group_modules,
        rankdir=rankdir,
        max_nodes=max_nodes,
    )
    return dot


def build(
    root: Tensor | Sequence[Tensor],
    *,
    show_shapes: bool = True,
    show_grads: bool = True,
    show_values: bool = False,
    group_modules: bool = True,
    rankdir: str = "LR",
    max_nodes: int = 1000,
) -> tuple[Drawing, Snapshot, Plan]:
    """`draw`, with the graph's snapshot and the plan of its boxes (each box's key is its
    node's DOT name, the `<title>` of its group in the SVG), for pages built on the drawing."""
    roots = _roots(root)
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw: rankdir must be one of {RANKDIRS}, got {rankdir!r}.")
    if not isinstance(max_nodes, int) or max_nodes < 2:
        raise ValueError(f"draw: max_nodes must be an integer ≥ 2, got {max_nodes!r}.")
    snap = snapshot(roots)
    layout = plan(snap, max_nodes, group_modules)
    computed, unknown = result_gradients(roots, snap) if show_values else ({}, "")
    options = {"shapes": show_shapes, "grads": show_grads, "values": show_values}
    options["computed"] = computed
    root_ids = {id(r) for r in roots}

    dot = Drawing("computation_graph")
    dot.attr(rankdir=rankdir, fontname="Helvetica", labelloc="t", fontsize="12")
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="9", color="#777777")
    n_ops, n_leaves = len(snap.ops), len(snap.leaves)
    heading = f"{n_ops:,} op{'s' * (n_ops != 1)}, {n_leaves:,} leaf tensor{'s' * (n_leaves != 1)}"
    notes = [note for note in (layout.note, unknown) if note]
    dot.attr(label=label(text(heading), *map(text, notes)))

    clusters = _ClusterTree(dot)
    for unit in layout.units:
        kind, lines, names = _describe(unit, root_ids, options)
        clusters.at(unit.scope).node(unit.key, label(*lines), **STYLES[kind], **tooltip(names))
    clusters.close()
    _edges(dot, snap, layout)
    _legend(dot, rankdir)
    return dot, snap, layout


def save_svg(root: Tensor | Sequence[Tensor], path: str | os.PathLike, **options: Any) -> Path:
    """Render `draw(root, **options)` to an SVG file at `path` (nothing else is written; the
    file whole or not at all, see `autograd_mini.files`)."""
    with replacing(path, "save_svg") as out:  # a path that cannot be written fails first
        out.file.write(render_svg(draw(root, **options), "save_svg"))
    return Path(path)


def render_svg(dot: graphviz.Digraph, caller: str) -> bytes:
    """The SVG `dot` renders from `dot`'s source; GraphvizMissingError (one line, how to
    install it) when Graphviz's `dot` program is not installed."""
    try:
        return dot.pipe(format="svg")
    except graphviz.ExecutableNotFound:
        raise GraphvizMissingError(
            f"{caller}: Graphviz's `dot` program is not installed, so no SVG can be rendered "
            "(the DOT text is still available from draw(...).source). Install it with "
            f"{INSTALL_GRAPHVIZ}."
        ) from None
    except graphviz.CalledProcessError as exc:
        raise AutogradError(f"{caller}: dot failed: {exc.stderr!r:.500}") from None
    except BrokenPipeError:  # dot stopped reading its input: it failed on it
        raise AutogradError(
            f"{caller}: dot stopped reading the graph's DOT text (it failed on it); "
            "draw(...).source is the text, to run dot on by hand."
        ) from None


def _roots(root: Any) -> list[Tensor]:
    roots = (
        [root]
        if isinstance(root, Tensor)
        else list(root)
        if isinstance(root, (list, tuple))
        else None
    )
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise TypeError(
            f"draw: expected a Tensor or a non-empty list of Tensors, got {type(root).__name__}."
        )
    return roots


# ----------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------


def _shape_line(array: np.ndarray) -> str:
    return f"{tuple(array.shape)} {array.dtype}"


def known_grad(tensor: Tensor, computed: dict[int, np.ndarray] | None = None) -> np.ndarray | None:
    """The gradient backward() left on `tensor` (leaves, and results that retain theirs), or
    the one `computed` holds for it (see `result_gradients`)."""
    if tensor.is_leaf or tensor.retains_grad:
        return tensor.grad
    return (computed or {}).get(id(tensor))


def result_gradients(roots: list[Tensor], snap: Snapshot) -> tuple[dict[int, np.ndarray], str]:
    """show_values: the gradient of every op's result, by id(), which backward() does not
    keep, and a note for the graph's label when they cannot be had. Once backward() has
    run (some leaf has a .grad) through a graph it kept (`retain_graph=True`), the pass is
    run again, recording, and every .grad is put back as it was (`recorded_backward`)."""
    if all(t.grad is None for t in grad_holders(snap)) or len(roots) != 1 or roots[0].size != 1:
        return {}, ""  # no backward pass yet (or no one loss): no gradient is drawn
    if roots[0].node is None or any(t.node.saved is None for t in snap.ops):
        return {}, (
            "show_values: backward() kept no gradient of the ops' results; call .retain_grad() "
            "on them before it, or backward(retain_graph=True), to see them here"
        )
    grads: dict[int, np.ndarray] = {}

    class Kept(Observer):
        def stepped(self, tensor: Tensor, g: Any, passed: list) -> None:
            grads.setdefault(id(tensor), np.array(g))

    recorded_backward(roots[0], snap, Kept())
    return grads, ""


def _grad_line(tensor: Tensor, computed: dict[int, np.ndarray]) -> str | None:
    grad = known_grad(tensor, computed)
    if grad is None:
        return None
    return f"∇ {tuple(grad.shape)}, ‖∇‖ = {float(np.linalg.norm(grad)):.3g}"


def numbers(array: np.ndarray) -> str:
    """The numbers of a small array on one line, 4 significant digits: 0.5, [1, -2.5]."""
    if array.ndim == 0:
        return f"{array.item():.4g}"
    shown = np.array2string(
        array, separator=", ", formatter={"all": lambda v: f"{v:.4g}"}, threshold=SMALL_VALUES
    )
    return " ".join(shown.split())


def _value_lines(tensor: Tensor, computed: dict[int, np.ndarray]) -> list[str]:
    """show_values: `value … | grad …` for small tensors (as micrograd's draw_dot), a mean
    and std for bigger ones."""
    array = tensor.data
    if array.size > SMALL_VALUES:
        if array.size == 0:
            return ["value (empty)"]
        return [f"mean {float(array.mean()):.3g}, std {float(array.std()):.3g}"]
    value = f"value {numbers(array)}"
    grad = known_grad(tensor, computed)
    if grad is None:
        return [value]
    if array.size == 1:
        return [f"{value} | grad {numbers(grad)}"]
    return [value, f"grad {numbers(grad)}"]


def _describe(unit: Unit, root_ids: set[int], options: dict) -> tuple[str, list[str], list[str]]:
    """The box's style, its label's lines (escaped) and the names it shows (for the tooltip
    of those that were shortened)."""
    if unit.collapsed:
        # the last line is ours (how many ops); the first may be a label holding newlines
        *heading, counts = unit.title.rsplit("\n", 1)
        return "collapsed", [*(text(shortened(h)) for h in heading), text(counts)], heading
    (member,) = unit.members
    if isinstance(member, Constant):
        array = np.asarray(member.value)
        shown = f"{array.item():g}" if array.ndim == 0 else f"array {_shape_line(array)}"
        lines = [text(shown)]
        if options["values"] and array.ndim and array.size <= SMALL_VALUES:
            lines.append(text(numbers(array)))
        return "constant", lines, []
    tensor: Tensor = member
    lines = []
    if tensor.node is not None:
        kind = "loss" if id(tensor) in root_ids else "op"
        title, names = _op_title(tensor)
        if tensor.name:  # e.g. the loss's name, above its op
            lines.append(text(shortened(tensor.name)))
            names.append(tensor.name)
        lines.append(text(title))
        if options["shapes"]:
            lines.append(text(f"→ {_shape_line(tensor.data)}"))
        if options["values"]:
            lines.extend(text(line) for line in _value_lines(tensor, options["computed"]))
    else:
        kind = "parameter" if tensor.requires_grad else "input"
        names = [tensor.name] if tensor.name else []
        lines.append(text(shortened(tensor.name) if tensor.name else kind))
        if options["shapes"]:
            lines.append(text(_shape_line(tensor.data)))
        if options["values"]:
            lines.extend(text(line) for line in _value_lines(tensor, options["computed"]))
        if id(tensor) in root_ids:
            kind = "loss"
    if options["grads"] and (line := _grad_line(tensor, options["computed"])):
        lines.append(text(line))
    return kind, lines, names


def _op_title(tensor: Tensor) -> tuple[str, list[str]]:
    """The op's name, with the inputs numpy broadcast ("add (broadcast b1)"), and the
    names it shows."""
    stretched = [x for _, x in broadcast_inputs(tensor)]
    if not stretched:
        return tensor.node.op.name, []
    names = ", ".join(shortened(x.name) if x.name else str(x.shape) for x in stretched)
    return f"{tensor.node.op.name} (broadcast {names})", [x.name for x in stretched if x.name]


# ----------------------------------------------------------------------------------------
# Edges, clusters, legend
# ----------------------------------------------------------------------------------------


def _edges(dot: graphviz.Digraph, snap, layout: Plan) -> None:
    drawn: set[tuple[str, str]] = set()
    for edge in snap.edges:
        source, target = layout.unit_of.get(id(edge.source)), layout.unit_of.get(id(edge.target))
        if source is None or target is None or source is target:
            continue
        op = edge.target.node.op
        sliced = (  # into concatenate or stack, from one input that gets a gradient
            op.variadic
            and not target.collapsed
            and not source.collapsed  # many inputs in one box: one edge
            and isinstance(edge.source, Tensor)
            and edge.source.requires_grad
        )
        stretched = edge.broadcast and not target.collapsed
        repeated = (source.key, target.key) in drawn
        if repeated and not sliced and (source.collapsed or not stretched):
            continue  # a collapsed box sends one edge to each box it feeds
        drawn.add((source.key, target.key))
        if sliced:  # each input's own slice of the gradient: "dx₂ = dz[:, 30:50]"
            dot.edge(source.key, target.key, label=text(rule(edge.target, edge.position)))
        elif stretched:
            source_value = edge.source if isinstance(edge.source, Tensor) else edge.source.value
            shape_in, shape_out = shape_of(source_value), stretched_to(edge.target, edge.position)
            axes = ", ".join(map(str, summed_axes(shape_in, shape_out)))
            note = f"broadcast {shape_in} → {shape_out}\\n∂ summed over axis {axes}"
            dot.edge(source.key, target.key, label=graphviz.nohtml(note), **BROADCAST_EDGE)
        else:
            dot.edge(source.key, target.key)


class _ClusterTree:
    """Nested `cluster_*` subgraphs, one per scope prefix (at most DEEPEST_MODULE deep),
    created as units need them."""

    def __init__(self, dot: graphviz.Digraph) -> None:
        self.dot = dot
        self.children: dict[tuple[str, ...], graphviz.Digraph] = {}
        self.order: list[tuple[str, ...]] = []
        self.deeper: set[tuple[str, ...]] = set()  # clusters that hold deeper scopes' boxes

    def at(self, scope: tuple[str, ...]) -> graphviz.Digraph:
        if len(scope) > DEEPEST_MODULE:
            self.deeper.add(scope[:DEEPEST_MODULE])
            scope = scope[:DEEPEST_MODULE]
        for depth in range(1, len(scope) + 1):  # outermost first: parents exist before
            prefix = scope[:depth]
            if prefix not in self.children:
                cluster = graphviz.Digraph(name=f"cluster_{len(self.children)}")
                self.children[prefix] = cluster
                self.order.append(prefix)
        return self.children[scope] if scope else self.dot

    def close(self) -> None:
        """Label each cluster, then nest it in its parent (deepest first), then in the graph."""
        for scope in self.order:
            heading = shortened(scope[-1])
            if scope in self.deeper:
                heading += " (and the modules nested deeper in it)"
            self.children[scope].attr(
                label=text(heading),
                style="rounded,dashed",
                color="#9aa5b1",
                fontsize="11",
                **tooltip([scope[-1]]),
            )
        for scope in sorted(self.order, key=len, reverse=True):
            parent = self.dot if len(scope) == 1 else self.children[scope[:-1]]
            parent.subgraph(self.children[scope])


def _legend(dot: graphviz.Digraph, rankdir: str) -> None:
    """One box of each kind, in a row (across the ranks when they run left to right, so
    the legend is one box high and leaves no band above the graph)."""
    entries = (
        ("parameter", "parameter"),
        ("input", "input"),
        ("constant", "constant (number or array)"),
        ("op", "op → output shape"),
        ("loss", "output (loss)"),
    )
    with dot.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", style="dashed", color="#cccccc", fontsize="10")
        for kind, words in entries:
            legend.node(f"legend_{kind}", words, **STYLES[kind])
        if rankdir in ("LR", "RL"):
            for (a, _), (b, _) in itertools.pairwise(entries):
                legend.edge(f"legend_{a}", f"legend_{b}", style="invis")
