"""Drawings (DOT and rendered SVG) and explain(): content, collapsing, escaping, errors."""

from __future__ import annotations

import contextlib
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import any_name, needs_dot, printed_lines, wide_flat_loss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_mini as ag
import nn
from autograd_mini import Tensor
from autograd_mini.text import printable
from autograd_mini.visual.drawing import LONGEST_NAME, shortened
from autograd_mini.visual.layout import DEEPEST_MODULE, WIDEST_JOIN

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def svg_boxes(path) -> dict[str, list[str]]:
    """Each drawn node's id (its <title>) → the lines of text in its box."""
    root = ET.parse(path).getroot()
    boxes = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find(f"{SVG}title").text
            boxes[title] = [t.text or "" for t in group.iter(f"{SVG}text")]
    return boxes


def svg_texts(path, kind: str) -> list[str]:
    """The text of every SVG group of class `kind` ("cluster" or "edge"), one string each."""
    root = ET.parse(path).getroot()
    return [
        " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == kind
    ]


@pytest.fixture
def mlp_loss():
    model = nn.MLP([784, 30, 10], seed=0)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(10, 784))
    loss = ag.quadratic_cost(model(X), nn.one_hot(rng.integers(0, 10, 10), 10))
    return model, loss


@needs_dot
def test_svg_of_a_two_layer_mlp(mlp_loss, tmp_path):
    _, loss = mlp_loss
    loss.backward()
    path = ag.save_svg(loss, tmp_path / "mlp.svg")
    boxes = svg_boxes(path)
    ops = {k: v for k, v in boxes.items() if k.startswith("op")}
    assert len(ops) == len(ag.backward_order(loss)) == 7, "one box per recorded op"
    titles = sorted(lines[0] for lines in ops.values())
    assert titles == [
        "add (broadcast layers.0.bias)",
        "add (broadcast layers.1.bias)",
        "matmul",
        "matmul",
        "quadratic_cost",
        "sigmoid",
        "sigmoid",
    ], "the book's tape: Z = X @ W + b (matmul, add), A = σ(Z), the cost"
    text = " | ".join(" ".join(lines) for lines in boxes.values())
    for expected in (
        "layers.0.weight",
        "(784, 30) float64",
        "layers.1.bias",
        "→ (10, 30) float64",
        "∇ (784, 30)",
        "∇ (10,)",
        "array (10, 784) float64",
    ):
        assert expected in text, expected
    clusters = svg_texts(path, "cluster")
    assert any("layers.0: Linear(784→30)" in c for c in clusters)
    assert any("layers.1: Linear(30→10)" in c for c in clusters)
    assert any("MLP(784→30→10, sigmoid)" in c for c in clusters)
    assert any(
        "broadcast (30,) → (10, 30)" in e and "summed over axis 0" in e
        for e in svg_texts(path, "edge")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.svg"], "no stray .gv file"


def test_before_backward_there_are_no_gradients_drawn(mlp_loss):
    _, loss = mlp_loss
    assert "∇" not in ag.draw(loss).source
    assert "∇" not in ag.draw(loss, show_grads=False).source


def test_options_change_the_picture(mlp_loss):
    _, loss = mlp_loss
    assert "cluster" not in ag.draw(loss, group_modules=False).source.replace("cluster_legend", "")
    assert "(784, 30)" not in ag.draw(loss, show_shapes=False).source
    assert "rankdir=TB" in ag.draw(loss, rankdir="TB").source
    assert "mean " in ag.draw(loss, show_values=True).source


@needs_dot
def test_show_values_puts_value_and_grad_of_small_tensors_on_the_nodes(tmp_path):
    """As micrograd's draw_dot: value | grad of scalars, value and grad lines of small
    vectors, a mean and std of big tensors; the grad appears once backward() left one."""
    a = Tensor(2.0, requires_grad=True, name="a")
    b = Tensor([-3.0, 0.5], requires_grad=True, name="b")
    c = (a * b).retain_grad()
    big = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="big")
    loss = c.sum() + big.sum()
    before = ag.draw(loss, show_values=True).source
    assert "value 2" in before and "grad" not in before.replace("requires_grad", "")
    loss.backward()
    boxes = svg_boxes(ag.save_svg(loss, tmp_path / "v.svg", show_values=True))
    text = " | ".join(" ".join(lines) for lines in boxes.values())
    assert "value 2 | grad -2.5" in text, "a scalar: value | grad on one line"
    assert "value [-3, 0.5] grad [2, 2]" in text, "b's value line, then its grad line"
    assert "value [-6, 1] grad [1, 1]" in text, "an op's result that retains its grad"
    assert "mean 2.5, std 1.71" in text, "a tensor with more than 4 numbers is summarised"


@needs_dot
def test_show_values_puts_the_gradient_on_every_box_while_the_graph_is_kept(tmp_path):
    """After backward(retain_graph=True) the ops' results show value | grad too (computed
    again, every .grad left as it was); after backward(), the graph's label says how to see
    them."""
    a = Tensor(2.0, requires_grad=True, name="a")
    b = Tensor([-3.0, 0.5], requires_grad=True, name="b")
    loss = (a * b).sum()
    loss.backward(retain_graph=True)
    grads = (a.grad.copy(), b.grad.copy())
    boxes = svg_boxes(ag.save_svg(loss, tmp_path / "v.svg", show_values=True))
    text = " | ".join(" ".join(lines) for lines in boxes.values())
    assert "value [-6, 1] grad [1, 1]" in text, "the product, which keeps no .grad"
    assert "value -5 | grad 1" in text, "the loss"
    np.testing.assert_array_equal(a.grad, grads[0])
    np.testing.assert_array_equal(b.grad, grads[1])
    loss.backward()  # frees the graph
    source = ag.draw(loss, show_values=True).source
    assert "value [-6, 1] grad" not in source
    assert "backward() kept no gradient of the ops' results" in source


@needs_dot
def test_the_loss_box_shows_the_loss_name(tmp_path):
    w = Tensor(np.ones(2), requires_grad=True, name="w")
    loss = (w * 2).sum()
    loss.name = "cost"
    boxes = svg_boxes(ag.save_svg(loss, tmp_path / "named.svg"))
    assert ["cost", "sum", "→ () float64"] in boxes.values()
    titles = [unit["title"] for unit in ag.stepper(loss).data["units"].values()]
    assert "cost = sum (step 1)" in titles, "and the stepper page's inspector"


@needs_dot
@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_the_legend_is_one_row_and_has_each_kind_of_box(rankdir, tmp_path):
    """One row (no band as high as five boxes above the graph): an input is a
    parallelogram, a constant plain text, as in the drawing."""
    w = Tensor(np.ones(2), requires_grad=True, name="w")
    source = ag.draw((w * 2).sum(), rankdir=rankdir).source
    assert re.search(r"legend_input \[label=input [^]]*shape=parallelogram", source)
    assert re.search(r"legend_constant \[label=\"constant [^]]*shape=plaintext", source)
    root = ET.parse(ag.save_svg((w * 2).sum(), tmp_path / "g.svg", rankdir=rankdir)).getroot()
    rows = {
        group.find(f"{SVG}text").get("y")
        for group in root.iter(f"{SVG}g")
        if group.get("class") == "node" and group.find(f"{SVG}title").text.startswith("legend_")
    }
    assert len(rows) == 1


def test_loss_and_kinds_have_distinct_styles(mlp_loss):
    _, loss = mlp_loss
    source = ag.draw(loss).source
    assert "doubleoctagon" not in source  # styles are ours, not defaults
    assert source.count("peripheries=2") == 2, "the loss and its legend entry"
    assert 'fillcolor="#d4e6fb"' in source and "legend" in source


def test_explain_lists_every_vjp_in_backward_order(mlp_loss):
    _, loss = mlp_loss
    explanation = ag.explain(loss)
    assert [s.op for s in explanation.steps] == [
        "quadratic_cost",
        "sigmoid",
        "add",
        "matmul",
        "sigmoid",
        "add",
        "matmul",
    ]
    first_add, first_matmul = explanation.steps[5], explanation.steps[6]
    assert first_matmul.inputs == [("array", (10, 784)), ("layers.0.weight", (784, 30))]
    assert first_matmul.output == (10, 30)
    rules = {g.input: g for g in first_matmul.gradients}
    assert rules["array"].shape is None and "not computed" in rules["array"].rule
    assert rules["layers.0.weight"].rule == "dW = X.T @ dZ"
    assert rules["layers.0.weight"].shape == (784, 30)
    bias = first_add.gradients[1]
    assert (bias.input, bias.rule, bias.shape) == ("layers.0.bias", "dy = dz", (30,))
    assert bias.note == "un-broadcast (10, 30) → (30,): summed over axis 0"
    second_matmul = explanation.steps[3]
    assert second_matmul.gradients[0].rule == "dX = dZ @ W.T"
    assert second_matmul.gradients[0].shape == (10, 30)
    sigmoid = explanation.steps[1].gradients[0]
    assert sigmoid.rule == "dz = da * (a * (1 - a))", "the book's letters"
    text = str(explanation)
    assert text == repr(explanation)
    assert "step  4  matmul: sigmoid(step 5) (10, 30), layers.1.weight (30, 10)" in text
    assert "→ (784, 30) for layers.0.weight" in text


def test_explain_after_backward_is_the_same(mlp_loss):
    _, loss = mlp_loss
    before = str(ag.explain(loss))
    loss.backward()
    assert str(ag.explain(loss)) == before


def test_explain_of_hand_written_broadcasting():
    b = Tensor(np.zeros((3, 1)), requires_grad=True, name="b")
    out = (Tensor(np.ones((3, 4))) + b).sum()
    (_, add) = ag.explain(out).steps
    assert add.gradients[1].note == "un-broadcast (3, 4) → (3, 1): summed over axis 1"


@settings(max_examples=60, deadline=None)
@given(name=any_name)
def test_explain_prints_any_name_as_printable_text(name):
    """A name with ANSI escapes, NUL, U+202E or line breaks, on a leaf, an intermediate and
    the loss: explain() shows it escaped, on as many lines as a plain name gives."""

    def explained(name: str) -> str:
        w = Tensor(np.ones(2), requires_grad=True, name=name)
        loss = (w * Tensor(np.ones(2), name=name)).sum()
        loss.name = name
        return str(ag.explain(loss))

    lines = printed_lines(explained(name))
    assert len(lines) == len(explained("w").split("\n"))
    assert lines[0].startswith(f"Backward pass of {printable(name)} ")
    assert lines[4].startswith(f"step  2  mul: {printable(name)} (2,), {printable(name)} (2,)")
    assert lines[5].endswith(f"for {printable(name)}")
    assert lines[6].startswith("          code: d") and lines[6].isascii()


@pytest.mark.parametrize("rows", [1, 5])
def test_explain_says_what_m_stands_for_where_a_rule_divides_by_it(rows):
    X = np.ones((rows, 2))
    W = Tensor(np.ones((2, 3)), requires_grad=True, name="W")
    lines = str(ag.explain(ag.quadratic_cost((X @ W).sigmoid(), np.zeros((rows, 3))))).split("\n")
    assert lines[2].endswith(f"da = dC * d / {rows}  → ({rows}, 3) for sigmoid(step 2)")
    assert lines[5] == f"          where m = {rows}, the rows (examples) of sigmoid(step 2)"
    assert sum("where m =" in line for line in lines) == 1, "only under the rule that uses it"


def test_explain_says_which_slice_of_the_gradient_each_concatenated_input_gets():
    h = Tensor(np.ones((10, 30)), requires_grad=True, name="h")
    g = Tensor(np.ones((10, 20)), requires_grad=True, name="g")
    out = ag.concatenate([h, np.zeros((10, 5)), g], axis=1).sum()
    (_, join) = ag.explain(out).steps
    assert join.op == "concatenate" and join.output == (10, 55)
    first, constant, last = join.gradients
    assert (first.input, first.rule, first.shape) == ("h", "dxs[0] = dz[:, 0:30]", (10, 30))
    assert constant.shape is None and "not computed" in constant.rule
    assert (last.input, last.rule, last.shape) == ("g", "dxs[2] = dz[:, 35:55]", (10, 20))
    assert "dxs[2] = dz[:, 35:55]  → (10, 20) for g" in str(ag.explain(out))


def test_explain_says_which_slice_each_stacked_input_gets():
    a = Tensor(np.ones((4, 3)), requires_grad=True, name="a")
    b = Tensor(np.ones((4, 3)), requires_grad=True, name="b")
    (_, join) = ag.explain(ag.stack([a, b, a], axis=1).sum()).steps
    assert [(x.input, x.rule) for x in join.gradients] == [
        ("a", "dxs[0] = dz[:, 0]"),
        ("b", "dxs[1] = dz[:, 1]"),
        ("a", "dxs[2] = dz[:, 2]"),
    ]


@needs_dot
def test_drawing_labels_each_joined_input_with_its_slice(tmp_path):
    h = Tensor(np.ones((10, 30)), requires_grad=True, name="h")
    g = Tensor(np.ones((10, 20)), requires_grad=True, name="g")
    out = ag.concatenate([h, g, h], axis=-1).sum()
    source = ag.draw(out).source
    assert source.count('label="dxs[0] = dz[:, 0:30]"') == 1
    assert source.count('label="dxs[1] = dz[:, 30:50]"') == 1
    assert source.count('label="dxs[2] = dz[:, 50:80]"') == 1, "h's second edge is drawn too"
    edges = svg_texts(ag.save_svg(out, tmp_path / "joined.svg"), "edge")
    assert {"dxs[0] = dz[:, 0:30]", "dxs[1] = dz[:, 30:50]", "dxs[2] = dz[:, 50:80]"} <= set(edges)


def test_new_ops_explain_their_rules_and_broadcasts():
    x = Tensor(np.ones((3, 4)), requires_grad=True, name="x")
    floor = Tensor(np.zeros(4), requires_grad=True, name="floor")
    out = ag.maximum(x, floor).softplus().var(axis=0).sum()
    steps = {s.op: s for s in ag.explain(out).steps}
    assert set(steps) == {"sum", "var", "softplus", "maximum"}
    assert steps["var"].gradients[0].rule == "dx = np.reshape(dz, (1, 4)) * d * (2 / 3)"
    assert steps["softplus"].gradients[0].rule == "dz = da * ops.sigmoid(z)"
    to_floor = steps["maximum"].gradients[1]
    assert to_floor.rule == "dy = np.where(x == y, dz / 2, np.where(y > x, dz, 0))"
    assert to_floor.note == "un-broadcast (3, 4) → (4,): summed over axis 0"
    assert "maximum (broadcast floor)" in ag.draw(out).source


# ---------------------------------------------------------------------------------------
# Escaping
# ---------------------------------------------------------------------------------------

HOSTILE = [
    'quote " in name',
    "back\\slash \\N \\l",
    "<script>alert(1)</script>",
    "{ } | < >",
    "new\nline",
    '" color="red" label="x',
    "<b>html</b>",
    "tab\tand \x07bell",
]


@needs_dot
@pytest.mark.parametrize("name", HOSTILE)
def test_names_render_literally_in_valid_svg(name, tmp_path):
    w = Tensor(np.ones(3), requires_grad=True, name=name)
    with ag.scope(name):
        loss = (w * 2).sum()
    loss.backward()
    path = ag.save_svg(loss, tmp_path / "x.svg")
    boxes = svg_boxes(path)  # parses: the SVG is well-formed XML
    leaf_lines = next(lines for key, lines in boxes.items() if key.startswith("leaf"))
    assert leaf_lines[0] == shown(name)
    assert any(shown(name) in c for c in svg_texts(path, "cluster"))
    source = ag.draw(loss).source
    assert "color=red" not in source and 'color="red"' not in source.replace('\\"', "")


def shown(name: str) -> str:
    """How a drawing must show `name`: `printable(name)`, every character as itself except
    those XML cannot hold or a reader cannot see (controls, lone surrogates, U+FFFE, U+FFFF,
    format characters), which appear as escapes (\\x01, \\ud800), shortened to
    `drawing.LONGEST_NAME` characters. dot writes runs of spaces as no-break spaces, and the
    SVG is read back with them as spaces."""
    return shortened(name).replace("\xa0", " ")


def test_shown_escapes_what_xml_cannot_hold():
    assert shown("a\x01b\ud800c\ufffe\uffff") == "a\\x01b\\ud800c\\ufffe\\uffff"
    assert shown("&#x1; <script> & é 😀") == "&#x1; <script> & é 😀"


NASTY = [
    "&",
    "<",
    ">",
    "\\",
    '"',
    "'",
    " ",
    "\n",
    "\x01",
    "\ud800",
    "\ufffe",
    "\uffff",
    "#",
    "x",
    ";",
]
ENTITY_LIKE = ["&#x1;", "&#xFFFF;", "&#xD800;", "&lt;script&gt;", "a & b", "&amp;", "&#65;"]


def rendered_texts(loss, tmp_path, **options) -> tuple[list[str], list[str], list[str]]:
    """(leaf box lines, op box lines, cluster texts) of the rendered SVG, which must parse.
    dot writes runs of spaces as no-break spaces; they are read back as spaces."""
    path = ag.save_svg(loss, tmp_path / "names.svg", **options)
    boxes = svg_boxes(path)  # parses: well-formed XML

    def spaces(lines):
        return [line.replace("\xa0", " ") for line in lines]

    leaves = spaces(next((v for k, v in boxes.items() if k.startswith("leaf")), []))
    ops = spaces([line for k, v in boxes.items() if k.startswith(("op", "group")) for line in v])
    clusters = spaces(svg_texts(path, "cluster"))
    return leaves, ops, clusters


def hostile_graph(name: str):
    w = Tensor(np.ones(1), requires_grad=True, name=name)
    with ag.scope(name):
        loss = (Tensor(np.ones(2)) + w).sum()  # w is broadcast: the op's title names it
    return loss


@needs_dot
@pytest.mark.parametrize("name", ENTITY_LIKE)
def test_entity_like_names_are_shown_literally(name, tmp_path):
    leaves, ops, clusters = rendered_texts(hostile_graph(name), tmp_path)
    assert leaves[0] == name
    assert f"add (broadcast {name})" in ops
    assert any(name in c for c in clusters)


@needs_dot
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(
        st.characters(exclude_categories=()) | st.sampled_from(NASTY), min_size=1, max_size=12
    )
)
def test_any_name_is_shown_literally_and_the_svg_parses(name, tmp_path):
    """Arbitrary strings (controls, lone surrogates, non-characters, entities, quotes,
    backslashes, `<...>`) as a tensor name and a module label, drawn one box per op and
    collapsed (the module's box is titled by its label)."""
    loss = hostile_graph(name)
    leaves, ops, clusters = rendered_texts(loss, tmp_path)
    assert leaves[0] == shown(name)
    assert f"add (broadcast {shown(name)})" in ops
    assert any(shown(name) in c for c in clusters)
    _, collapsed, _ = rendered_texts(loss, tmp_path, max_nodes=2)
    assert shown(name) in collapsed, "a collapsed module's box is titled by its label"


def svg_tooltips(path) -> list[str]:
    """The tooltip of every box and cluster that has one (dot writes it on an <a>)."""
    root = ET.parse(path).getroot()
    return [a.get(f"{XLINK}title") for a in root.iter(f"{SVG}a")]


def svg_width(path) -> float:
    return float(ET.parse(path).getroot().get("width").removesuffix("pt"))


@needs_dot
@pytest.mark.parametrize("length", [1_000, 20_000, 100_000])
def test_long_names_are_shortened_on_screen_and_whole_in_the_tooltip(length, tmp_path):
    """A name of 1,000 to 100,000 characters on a leaf and a module: its box and the
    cluster's label show its start and end in LONGEST_NAME characters; the tooltip holds
    the whole name (up to 2,000 characters, then its start, end and length), and the
    drawing is as wide as with a short name."""

    def drawing(name: str, file: str):
        w = Tensor(np.ones(2), requires_grad=True, name=name)
        with ag.scope(name):
            loss = (w * 2).sum()
        return ag.save_svg(loss, tmp_path / file)

    name = "start " + "x" * length + " end\x1b"
    path = drawing(name, "long.svg")
    leaf = next(lines for key, lines in svg_boxes(path).items() if key.startswith("leaf"))
    assert leaf[0] == shortened(name) and len(leaf[0]) <= LONGEST_NAME
    assert leaf[0].startswith("start xx") and leaf[0].endswith("x end\\x1b")
    assert any(shortened(name) in c for c in svg_texts(path, "cluster"))
    tips = svg_tooltips(path)
    assert len(tips) == 2, "the leaf's and the cluster's"
    if length <= 2_000:
        assert tips == [printable(name)] * 2
    else:
        assert all(t.startswith("start xxx") and f"({len(name):,} characters)" in t for t in tips)
    short = drawing("s" * LONGEST_NAME, "short.svg")
    assert svg_width(path) < 1.2 * svg_width(short)
    assert svg_tooltips(short) == [], "a name shown whole needs no tooltip"


@needs_dot
def test_two_thousand_nested_scopes_are_drawn(tmp_path):
    """2,000 nested ag.scope()s, an op at every 100th: the clusters nest DEEPEST_MODULE
    deep, the deepest saying that deeper modules are drawn in it; collapsed too, and the
    stepper page is made."""
    w = Tensor(np.ones(2), requires_grad=True, name="w")
    x = w
    with contextlib.ExitStack() as scopes:
        for depth in range(2_000):
            scopes.enter_context(ag.scope(f"s{depth}"))
            if depth % 100 == 0:
                x = x * 2.0
        loss = x.sum()
    path = ag.save_svg(loss, tmp_path / "deep.svg")
    clusters = svg_texts(path, "cluster")
    assert len(clusters) == DEEPEST_MODULE + 1, "and the legend"
    assert "s11 (and the modules nested deeper in it)" in clusters
    assert len([k for k in svg_boxes(path) if k.startswith("op")]) == 21
    collapsed = ag.save_svg(loss, tmp_path / "collapsed.svg", max_nodes=5)
    assert svg_boxes(collapsed)
    assert ag.stepper(loss, max_nodes=5).steps >= 1


def test_two_thousand_nested_modules_with_an_op_each_collapse_quickly():
    """More ops than max_nodes, one per scope: grouped by the modules at DEEPEST_MODULE
    (each level deeper was once tried in turn, minutes for 2,000)."""
    x = Tensor(np.ones(2), requires_grad=True, name="w")
    with contextlib.ExitStack() as scopes:
        for depth in range(2_000):
            scopes.enter_context(ag.scope(f"s{depth}"))
            x = x * 1.0001
        loss = x.sum()
    started = time.perf_counter()
    source = ag.draw(loss).source
    assert time.perf_counter() - started < 30, "hang guard (it takes well under a second)"
    assert f"one per module at depth {DEEPEST_MODULE}" in source


def test_escaped_dot_has_no_html_labels():
    w = Tensor(np.ones(2), requires_grad=True, name="<i>x</i>")
    source = ag.draw((w * 1.0).sum()).source
    assert "label=<" not in source


# ---------------------------------------------------------------------------------------
# Big graphs
# ---------------------------------------------------------------------------------------


@needs_dot
def test_a_20000_op_chain_is_collapsed_quickly_and_renders(tmp_path):
    x = Tensor(np.ones(4), requires_grad=True, name="x")
    y = x
    for _ in range(10_000):
        y = (y * 1.0001).tanh()  # 20,000 ops: (mul → tanh) × 10,000
    loss = y.sum()
    started = time.perf_counter()
    dot = ag.draw(loss)
    assert time.perf_counter() - started < 30, "hang guard (it takes well under a second)"
    source = dot.source
    assert "collapsed: 20,001 ops" in source
    assert "(mul → tanh) × 10000" in source
    assert source.count("label=") < 40
    boxes = svg_boxes(ag.save_svg(loss, tmp_path / "big.svg"))
    assert any(lines[0] == "sum" for lines in boxes.values()), "the loss is always drawn"


def test_a_stack_of_thousands_of_inputs_is_drawn_with_few_edges():
    n = 3_000
    xs = [Tensor(np.ones(2), requires_grad=True, name=f"x{i}") for i in range(n)]
    source = ag.draw(ag.stack(xs).sum()).source
    assert f"at most {WIDEST_JOIN} inputs of each" in source
    edges = [line for line in source.splitlines() if "->" in line and "legend_" not in line]
    assert len(edges) == WIDEST_JOIN + 2, "the drawn inputs, the rest box, the sum"
    assert f"… {n - WIDEST_JOIN:,} more boxes" in source


def test_a_deep_mlp_collapses_to_one_box_per_layer():
    model = nn.MLP([4] * 301, seed=0)  # 300 layers: 900 ops + 600 parameters
    loss = model(np.ones((2, 4))).sum()
    layout = ag.draw(loss, max_nodes=400).source
    assert "one per module at depth 2" in layout
    assert "layers.17: Linear(4→4)" in layout
    assert "3 ops (1 matmul, 1 add, 1 sigmoid), 2 parameters" in layout


def test_a_wide_graph_without_structure_is_truncated_but_keeps_the_loss():
    loss = wide_flat_loss()
    source = ag.draw(loss, max_nodes=50).source
    assert "truncated:" in source and "not drawn" in source
    assert "sum" in source


# ---------------------------------------------------------------------------------------
# Errors, Jupyter, no dot
# ---------------------------------------------------------------------------------------


def test_bad_arguments():
    t = (Tensor([1.0], requires_grad=True) * 2).sum()
    with pytest.raises(TypeError, match="Tensor or a non-empty list"):
        ag.draw("loss")
    with pytest.raises(TypeError, match="Tensor or a non-empty list"):
        ag.draw([])
    with pytest.raises(ValueError, match="rankdir must be one of"):
        ag.draw(t, rankdir="diagonal")
    with pytest.raises(ValueError, match="max_nodes must be an integer"):
        ag.draw(t, max_nodes=0)
    with pytest.raises(TypeError, match="explain: expected a Tensor"):
        ag.explain([t])


def test_several_roots_and_a_leaf_root():
    w = Tensor(np.ones(2), requires_grad=True, name="w")
    a, b = (w * 2).sum(), (w * 3).sum()
    source = ag.draw([a, b]).source
    assert source.count("peripheries=2") == 3, "two roots and the legend"
    assert "w" in ag.draw(w).source


@needs_dot
def test_jupyter_shows_the_digraph_inline(mlp_loss):
    _, loss = mlp_loss
    bundle = ag.draw(loss)._repr_mimebundle_()
    assert "image/svg+xml" in bundle and bundle["image/svg+xml"].lstrip().startswith(
        ("<?xml", "<svg")
    )


def test_without_dot_jupyter_shows_the_dot_source_and_the_hint(mlp_loss, tmp_path, monkeypatch):
    _, loss = mlp_loss
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    drawing = ag.draw(loss)
    bundle = drawing._repr_mimebundle_()  # what Jupyter calls: no traceback
    assert "image/svg+xml" not in bundle
    assert bundle["text/plain"].startswith("Graphviz's `dot` program is not installed")
    assert drawing.source in bundle["text/plain"]
    assert "apt-get install graphviz" in bundle["text/html"]
    assert "digraph computation_graph {" in bundle["text/html"]
    assert "<pre>" in bundle["text/html"] and "->" not in bundle["text/html"], "escaped"


def test_without_dot_draw_works_and_save_svg_says_how_to_install(mlp_loss, tmp_path, monkeypatch):
    _, loss = mlp_loss
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "digraph" in ag.draw(loss).source
    with pytest.raises(ag.GraphvizMissingError) as info:
        ag.save_svg(loss, tmp_path / "x.svg")
    message = str(info.value)
    for command in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert command in message
    assert not (tmp_path / "x.svg").exists()


def test_explain_shows_each_steps_lines_of_backward_code():
    model = nn.MLP([4, 3, 2], seed=0)
    loss = ag.quadratic_cost(model(np.ones((5, 4))), np.zeros((5, 2)))
    printed = [line.strip() for line in ag.backward_code(loss).splitlines()]
    steps = ag.explain(loss).steps
    shown = [line for step in steps for g in step.gradients for line in g.code]
    assert "dW1 = X.T @ dadd1" in shown and "db2 = np.sum(dadd2, axis=0)" in shown
    assert all(line in printed for line in shown if not line.startswith("#"))
    computed = [line for line in printed if " = " in line and not line.startswith("#")]
    backward = computed[computed.index("dloss = np.ones_like(loss)") + 1 :]
    assert sorted(backward) == sorted(line for line in shown if not line.startswith("#"))
    assert "          code: dW2 = sigmoid1.T @ dadd2" in str(ag.explain(loss)).split("\n")
