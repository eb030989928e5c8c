"""The stepper page (save_html, stepper) without a browser: the numbers it embeds are the
engine's, what it does to .grad, sizes, escaping, collapsing, errors. In a real browser:
test_stepper_browser.py."""

from __future__ import annotations

import html.parser
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import any_name, needs_dot, printed_lines, wide_flat_loss
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_mini as ag
import nn
from autograd_mini import Tensor
from autograd_mini.specialize import rule
from autograd_mini.text import printable
from autograd_mini.visual import backward_page
from autograd_mini.visual.drawing import shortened
from autograd_mini.visual.layout import WIDEST_JOIN

PAGE = Path(backward_page.__file__).parent / "page"


def page_data(page: str | Path) -> dict:
    """The JSON the page script reads, parsed back from the page."""
    text = page.read_text(encoding="utf-8") if isinstance(page, Path) else page
    (raw,) = re.findall(
        r'<script type="application/json" id="stepper-data">(.*?)</script>', text, re.S
    )
    return json.loads(raw)


def values(view: dict) -> np.ndarray:
    """An embedded array view back as numbers (NaN and infinities come as strings)."""
    return np.array([float(v) for v in view["values"]]).reshape(view["shape"])


def twin_graphs(dtype=np.float64):
    """Two identical graphs with fan-in (w and h feed two ops each), a broadcast bias and a
    retained intermediate: (loss, leaves, retained) of each."""

    def make():
        rng = np.random.default_rng(7)
        w = Tensor(rng.standard_normal((3, 2)).astype(dtype), requires_grad=True, name="w")
        b = Tensor(rng.standard_normal(2).astype(dtype), requires_grad=True, name="b")
        X = rng.standard_normal((4, 3)).astype(dtype)
        h = (X @ w + b).tanh().retain_grad()
        loss = ((h + w.sum()) * h.exp()).mean()
        return loss, [w, b], [h]

    return make(), make()


# ---------------------------------------------------------------------------------------
# What it does to .grad
# ---------------------------------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_it_runs_backward_and_leaves_every_grad_bit_for_bit_as_backward_would(dtype, tmp_path):
    (loss, leaves, kept), (twin, twin_leaves, twin_kept) = twin_graphs(dtype)
    path = ag.save_html(loss, tmp_path / "backward.html")
    twin.backward()
    assert path == tmp_path / "backward.html" and path.exists()
    for mine, theirs in zip([*leaves, *kept], [*twin_leaves, *twin_kept], strict=True):
        assert mine.grad.dtype == theirs.grad.dtype == dtype
        assert mine.grad.tobytes() == theirs.grad.tobytes(), mine.name
    with pytest.raises(ag.BackwardError, match="already freed"):
        loss.backward()  # the page was this graph's backward(), as loss.backward() frees it


@needs_dot
def test_the_or_network_page_leaves_the_same_grads_as_backward(tmp_path):
    model, twin = nn.gates.network("OR"), nn.gates.network("OR")
    X, Y = nn.gates.INPUTS, nn.gates.TARGETS["OR"]
    ag.save_html(ag.quadratic_cost(model(X), Y), tmp_path / "or.html")
    ag.quadratic_cost(twin(X), Y).backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert p.grad.tobytes() == q.grad.tobytes(), name


@needs_dot
def test_retain_graph_keeps_the_graph_for_another_backward(tmp_path):
    (loss, leaves, _), _ = twin_graphs()
    ag.save_html(loss, tmp_path / "p.html", retain_graph=True)
    first = [w.grad.copy() for w in leaves]
    loss.backward()  # still possible, and it accumulates as backward() does
    for w, g in zip(leaves, first, strict=True):
        np.testing.assert_allclose(w.grad, 2 * g, rtol=1e-15)


@needs_dot
def test_after_backward_with_retain_graph_looking_changes_no_grad(tmp_path):
    (loss, leaves, kept), _ = twin_graphs()
    loss.backward(retain_graph=True)
    before = [t.grad.copy() for t in (*leaves, *kept)]
    data = page_data(ag.save_html(loss, tmp_path / "look.html"))
    for t, g in zip((*leaves, *kept), before, strict=True):
        assert t.grad.tobytes() == g.tobytes(), "looking never adds to a gradient"
    assert any("every .grad was left as it was" in note for note in data["notes"])
    units = {u["title"]: u for u in data["units"].values()}
    np.testing.assert_array_equal(values(units["w"]["grad"]), leaves[0].grad)
    loss.backward()  # the kept graph is still kept
    np.testing.assert_allclose(leaves[0].grad, 2 * before[0], rtol=1e-15)


@needs_dot
def test_stale_grads_are_set_aside_and_put_back(tmp_path):
    """A .grad already there (not zeroed) is not added to: the page shows this pass alone."""
    (loss, leaves, _), (twin, twin_leaves, _) = twin_graphs()
    leaves[0].grad = np.full((3, 2), 100.0)
    data = page_data(ag.save_html(loss, tmp_path / "stale.html"))
    np.testing.assert_array_equal(leaves[0].grad, np.full((3, 2), 100.0))
    assert leaves[1].grad is None, "put back as it was: None"
    twin.backward()
    units = {u["title"]: u for u in data["units"].values()}
    assert values(units["w"]["grad"]).tobytes() == twin_leaves[0].grad.tobytes()


def test_a_freed_graph_is_refused_with_what_to_do(tmp_path):
    (loss, _, _), _ = twin_graphs()
    loss.backward()
    for make in (
        lambda: ag.save_html(loss, tmp_path / "late.html"),
        lambda: ag.stepper(loss),
    ):
        with pytest.raises(ag.BackwardError) as info:
            make()
        message = str(info.value)
        assert "already freed by backward()" in message
        assert "instead of loss.backward()" in message and "retain_graph=True" in message
    assert not (tmp_path / "late.html").exists()


@needs_dot
def test_the_same_loss_twice(tmp_path):
    """The first page's backward pass freed the graph: a second is refused, .grad untouched;
    with retain_graph=True the second page shows the same steps and leaves .grad alone."""
    for retain_graph in (False, True):
        (loss, leaves, _), _ = twin_graphs()
        first = page_data(ag.save_html(loss, tmp_path / "1.html", retain_graph=retain_graph))
        grads = [w.grad.copy() for w in leaves]
        if retain_graph:
            second = page_data(ag.stepper(loss, rankdir="TB").html)
            assert second["steps"] == first["steps"] and second["units"] == first["units"]
        else:
            with pytest.raises(ag.BackwardError, match=r"already freed.*Stepper"):
                ag.stepper(loss)
        for w, g in zip(leaves, grads, strict=True):
            assert w.grad.tobytes() == g.tobytes()


def test_a_path_that_cannot_be_written_is_refused_before_backward_runs(tmp_path):
    (loss, leaves, _), _ = twin_graphs()
    for path, problem in [(tmp_path, "is a folder"), (tmp_path / "no" / "x.html", "no folder")]:
        with pytest.raises(ag.FileWriteError, match=f"save_html: .*{problem}"):
            ag.save_html(loss, path)
    assert all(w.grad is None for w in leaves)
    loss.backward()  # the graph is intact


def test_without_dot_nothing_runs_and_the_error_says_how_to_install(tmp_path, monkeypatch):
    (loss, leaves, _), _ = twin_graphs()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ag.GraphvizMissingError) as info:
        ag.save_html(loss, tmp_path / "x.html")
    message = str(info.value)
    assert message.startswith("save_html: Graphviz's `dot` program is not installed")
    assert "\n" not in message and "apt-get install graphviz" in message
    assert not (tmp_path / "x.html").exists()
    assert all(w.grad is None for w in leaves), "the backward pass did not run"
    loss.backward()  # and the graph is intact


def test_bad_arguments():
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="expected a Tensor"):
        ag.stepper(np.ones(3))
    with pytest.raises(ag.BackwardError, match="not computed by a recorded op"):
        ag.stepper(w)
    with pytest.raises(ag.BackwardError, match="not computed by a recorded op"), ag.no_grad():
        ag.stepper(w * 2)
    with pytest.raises(ag.ShapeError, match=r"one element .* got shape \(3,\)"):
        ag.stepper(w * 2)


# ---------------------------------------------------------------------------------------
# The numbers are the engine's, step by step
# ---------------------------------------------------------------------------------------


@needs_dot
def test_each_step_is_the_engines_step_in_backward_order():
    (loss, leaves, _), _ = twin_graphs()
    order = ag.backward_order(loss)
    for t in order:
        t.retain_grad()  # the engine's own ∂L/∂t of every step, to compare with
    page = ag.stepper(loss)
    data = page_data(page.html)
    steps = data["steps"]
    assert page.steps == len(steps) == len(order) == 8
    for k, (step, t) in enumerate(zip(steps, order, strict=True), start=1):
        assert step["op"] == t.op
        assert data["units"][step["unit"]]["title"] == f"{t.op} (step {k})"
        assert values(step["upstream"]).tobytes() == t.grad.tobytes(), f"step {k}"
        node_inputs = t.node.inputs
        rules = [rule(t, i) for i in range(len(t.node.inputs))]
        assert [i["rule"] for i in step["inputs"]] == rules, "the op table's rules, made concrete"
        assert len(step["inputs"]) == len(node_inputs)
        for entry, x in zip(step["inputs"], node_inputs, strict=True):
            assert entry["shape"] == list(np.shape(x.data if isinstance(x, Tensor) else x))
            if not (isinstance(x, Tensor) and x.requires_grad):
                assert entry["grad"] is None and entry["note"].startswith("not computed")
                continue
            assert values(entry["grad"]).shape == x.shape, "after un-broadcast"
    w, b = leaves
    units = {u["title"]: u for u in data["units"].values()}
    assert values(units["w"]["grad"]).tobytes() == w.grad.tobytes()
    assert values(units["b"]["grad"]).tobytes() == b.grad.tobytes()


@needs_dot
def test_fan_in_says_which_steps_contributed():
    (loss, _, kept), _ = twin_graphs()
    order = ag.backward_order(loss)
    data = page_data(ag.stepper(loss).html)
    (h,) = kept
    k = next(i for i, t in enumerate(order, start=1) if t is h)  # Tensor == is elementwise
    users = [i + 1 for i, t in enumerate(order) if any(x is h for x in t.node.inputs)]
    assert len(users) == 2, "h feeds the add and the exp"
    assert data["steps"][k - 1]["fan_in"] == (
        f"sum of 2 contributions: from step {users[0]} and step {users[1]}"
    )
    assert data["steps"][0]["fan_in"] == "the seed: ∂L/∂L = 1"
    w_unit = next(u for u in data["units"].values() if u["title"] == "w")
    assert w_unit["note"].startswith(".grad sum of 2 contributions: from step ")
    assert w_unit["grad_step"] == max(w_unit["contributions"])
    assert backward_page.fan_in([3, 3]) == "sum of 2 contributions: from step 3 (2×)"
    assert backward_page.fan_in([1, 2, 5]) == (
        "sum of 3 contributions: from step 1, step 2 and step 5"
    )


@needs_dot
def test_the_passed_gradients_add_up_to_each_leafs_grad():
    (loss, leaves, _), _ = twin_graphs()
    data = page_data(ag.stepper(loss).html)
    for w in leaves:
        passed = [
            values(entry["grad"])
            for step in data["steps"]
            for entry in step["inputs"]
            if entry.get("to") == f"added into {w.name}.grad"
        ]
        assert len(passed) == (2 if w.name == "w" else 1)
        np.testing.assert_allclose(sum(passed), w.grad, rtol=1e-14)


@needs_dot
def test_an_unbroadcast_is_shown_as_summed_axes(mlp_784_30_10):
    _, loss = mlp_784_30_10
    data = page_data(ag.stepper(loss).html)
    notes = [e["broadcast"] for s in data["steps"] for e in s["inputs"] if e.get("broadcast")]
    assert notes == ["(10, 10) summed over axis 0 → (10,)", "(10, 30) summed over axis 0 → (30,)"]
    assert backward_page.unbroadcast_note((2, 3, 4), (3, 1)) == (
        "(2, 3, 4) summed over axes 0, 2 → (3, 1)"
    )


# ---------------------------------------------------------------------------------------
# Sizes: big arrays are summarised
# ---------------------------------------------------------------------------------------


@pytest.fixture
def mlp_784_30_10():
    model = nn.MLP([784, 30, 10], seed=0)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(10, 784))
    return model, ag.quadratic_cost(model(X), nn.one_hot(rng.integers(0, 10, 10), 10))


@needs_dot
def test_the_784_30_10_page_stays_small_and_summarises_big_arrays(mlp_784_30_10, tmp_path):
    model, loss = mlp_784_30_10
    path = ag.save_html(loss, tmp_path / "mlp.html")
    assert path.stat().st_size < 2_000_000
    data = page_data(path)
    W = model.layers[0].weight
    unit = next(u for u in data["units"].values() if u["title"] == "layers.0.weight")
    view = unit["grad"]
    assert "values" not in view and view["shape"] == [784, 30]
    stats = view["stats"]
    assert stats["min"] == W.grad.min() and stats["max"] == W.grad.max()
    assert stats["norm"] == pytest.approx(np.linalg.norm(W.grad), rel=1e-12)
    assert stats["mean"] == pytest.approx(W.grad.mean(), rel=1e-9, abs=1e-15)
    heat = view["heat"]
    assert (heat["rows"], heat["cols"]) == (32, 30) and len(heat["cells"]) == 32 * 30
    edges = np.linspace(0, 784, 33).astype(int)  # 32 blocks of 24 or 25 rows
    for block in (0, 17, 31):
        mean = W.grad[edges[block] : edges[block + 1], 5].mean()
        assert heat["cells"][30 * block + 5] == pytest.approx(mean, rel=1e-2), "3 digits"
    small = next(u for u in data["units"].values() if u["title"] == "layers.1.bias")
    assert values(small["grad"]).tobytes() == model.layers[1].bias.grad.tobytes()


def test_array_view_of_special_values_and_shapes():
    view = backward_page.array_view(np.array([1.0, np.nan, np.inf, -np.inf]))
    assert view["values"] == [1.0, "NaN", "Infinity", "-Infinity"]
    assert backward_page.array_view(np.zeros((0, 3)))["values"] == []
    assert backward_page.array_view(np.float32(0.1))["values"] == [float(np.float32(0.1))]
    big = backward_page.array_view(np.full((3, 4, 100), np.nan))
    assert big["stats"]["min"] == "NaN" and big["heat"]["rows"] == 12
    assert all(c == "NaN" for c in big["heat"]["cells"])
    json.dumps(big, allow_nan=False)  # valid JSON, no bare NaN


# ---------------------------------------------------------------------------------------
# Big graphs: a collapsed box steps as one step
# ---------------------------------------------------------------------------------------


@needs_dot
def test_a_collapsed_box_steps_as_one_step_and_says_how_many_ops_it_holds():
    x = Tensor(np.ones(4), requires_grad=True, name="x")
    y = x
    for _ in range(5_000):
        y = (y * 1.0001).tanh()
    loss = y.sum()
    order = ag.backward_order(loss)
    data = page_data(ag.stepper(loss).html)
    assert [s["ops"] for s in data["steps"]] == [1, 10_000]
    box = data["steps"][1]
    assert box["op"] == "(mul → tanh) × 5000: 10,000 ops as one step"
    assert box["fan_in"] == "from step 1"
    assert values(box["upstream"]).tobytes() == np.ones(4).tobytes()
    (out,) = box["inputs"]  # the one gradient leaving the box: into x.grad
    assert out["to"] == "added into x.grad" and out["rule"] == "mul: dx = dz * 1.0001"
    assert values(out["grad"]).tobytes() == x.grad.tobytes()
    assert any("collapsed: 10,001 ops" in note for note in data["notes"])
    units = data["units"]
    assert units[box["unit"]]["note"] == "a collapsed box of 10,000 ops; it steps as one step"
    assert len(order) == 10_001


@needs_dot
def test_a_truncated_graph_steps_through_its_rest_box():
    loss = wide_flat_loss()
    n_ops = len(ag.backward_order(loss))
    page = ag.stepper(loss, max_nodes=50)
    assert any(note.startswith("truncated: ") for note in page.data["notes"])
    rest = page.data["units"]["rest"]
    assert rest["kind"] == "box" and rest["title"].endswith("not drawn")
    in_rest = sum(s["ops"] for s in page.data["steps"] if s["unit"] == "rest")
    assert rest["note"] == f"a collapsed box of {in_rest:,} ops; it steps as one step"
    assert sum(s["ops"] for s in page.data["steps"]) == n_ops
    assert values(rest["grad"]).shape == (1,)


@needs_dot
def test_a_stack_of_thousands_of_inputs_makes_a_small_page(tmp_path):
    """A join of 3,000 inputs (more than max_nodes boxes): WIDEST_JOIN of them are drawn,
    the others go into the rest box with one arrow, and the join's step lists
    LISTED_INPUTS of them and says how many more; the page stays small."""
    n = 3_000
    xs = [Tensor(np.full(2, float(i)), requires_grad=True, name=f"x{i}") for i in range(n)]
    loss = ag.stack(xs).sum()
    page = ag.save_html(loss, tmp_path / "wide.html").read_text(encoding="utf-8")
    assert len(page) < 300_000
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count('class="edge"') <= WIDEST_JOIN + 2, "the drawn inputs, the rest, the sum"
    data = page_data(page)
    stack = next(s for s in data["steps"] if s["op"] == "stack")
    assert len(stack["inputs"]) == backward_page.LISTED_INPUTS
    assert stack["more"] == n - backward_page.LISTED_INPUTS
    assert ["rest", stack["unit"]] in stack["edges"]
    assert data["units"]["rest"]["title"].startswith(f"… {n - WIDEST_JOIN:,} more boxes")
    assert all(x.grad is not None for x in xs), "backward ran through all of them"


@needs_dot
def test_a_wide_join_reads_its_inputs_a_bounded_number_of_times(tmp_path, monkeypatch):
    """The page asks for the rule of each listed and each drawn input of a join: the join's
    values (one Array per input, and the forward run again when backward freed it) are
    found once, not once per rule, which made a stack of 20,000 inputs take 30 s."""
    from autograd_mini import specialize

    made = []
    monkeypatch.setattr(specialize.Array, "__init__", counted(specialize.Array.__init__, made))
    n = 3_000
    xs = [Tensor(np.full(2, float(i)), requires_grad=True) for i in range(n)]
    ag.save_html(ag.stack(xs).sum(), tmp_path / "wide.html")
    assert len(made) < 3 * n, f"{len(made):,} arrays described for a join of {n:,}"


def counted(function, calls):
    def wrapper(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------------
# Escaping: names are data, never markup
# ---------------------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="window.x=1">'


@needs_dot
def test_hostile_names_are_embedded_as_escaped_data(tmp_path):
    name = HOSTILE + "</script><!-- & &amp; \u2028 \x01 \ud800"
    w = Tensor(np.ones((2, 2)), requires_grad=True, name=name)
    with ag.scope(name):
        loss = (w * 2).sum()
    loss.name = name
    page = ag.save_html(loss, tmp_path / "hostile.html").read_text(encoding="utf-8")
    assert "<img" not in page and "<!-- &" not in page
    assert page.count("</script>") == 2, "the data's and the script's own closing tags only"
    assert "\u2028" not in page.split('id="stepper-data">')[1].split("</script>")[0]
    data = page_data(page)
    shown = HOSTILE + "</script><!-- & &amp; \\u2028 \\x01 \\ud800"
    titles = [u["title"] for u in data["units"].values()]
    assert shown in titles
    assert data["steps"][0]["scope"] == shown
    assert data["title"].startswith(f"Backward pass of {shortened(name)} = ")


@needs_dot
def test_a_long_name_is_whole_in_the_panel_and_shortened_in_the_drawing(tmp_path):
    name = "start " + "x" * 100_000 + " end"
    w = Tensor(np.ones(2), requires_grad=True, name=name)
    with ag.scope(name):
        loss = (w * 2).sum()
    loss.name = name
    page = ag.save_html(loss, tmp_path / "long.html").read_text(encoding="utf-8")
    data = page_data(page)
    assert name in [u["title"] for u in data["units"].values()], "the inspector's title"
    assert data["steps"][0]["scope"] == name
    assert data["title"].startswith(f"Backward pass of {shortened(name)} = ")
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "x" * 2_000 not in svg, "the drawing shows its start and end, the tooltip 2,000"


NASTY = ["<", ">", "&", "/", '"', "'", "\\", "\n", "\x01", "\ud800", "\uffff", "\u2028", "s"]


@needs_dot
@settings(max_examples=25, deadline=None)
@given(name=st.one_of(any_name, st.text(st.sampled_from(NASTY), min_size=1, max_size=12)))
def test_any_name_is_data_in_the_page(name):
    """Arbitrary strings (controls, ANSI escapes, lone surrogates, `</script>` pieces,
    U+2028, U+202E) as a tensor name, a module label and the loss's name: the page is valid
    UTF-8, its data holds no character that could end or change the script element, its SVG
    parses as XML, and the name comes back from the data exactly as the drawing shows it,
    `printable(name)`, with no control, format or line-break character in any text."""
    w = Tensor(np.ones(2), requires_grad=True, name=name)
    with ag.scope(name):
        loss = (w * 2).sum()
    loss.name = name
    page = ag.stepper(loss, retain_graph=True).html
    page.encode("utf-8")  # no lone surrogate got in
    raw = page.split('id="stepper-data">')[1].split("</script>")[0]
    assert not set(raw) & set("<>&\u2028\u2029")
    ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])
    shown = printable(name)
    data = page_data(page)
    assert shown in [u["title"] for u in data["units"].values()]
    assert data["steps"][0]["scope"] == shown
    assert data["title"].startswith(f"Backward pass of {shortened(name)} = ")
    for text in strings(data):
        printed_lines(text)
    collapsed = ag.stepper(loss, max_nodes=2)  # the module's box is titled by its label
    collapsed.html.encode("utf-8")
    assert any(u["title"].startswith(shown + "\n2 ops") for u in collapsed.data["units"].values())


def strings(data) -> list[str]:
    """Every string in the page's data (keys and values, at any depth)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (k, *strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in strings(v)]
    return []


def test_script_json_escapes_what_could_end_the_script():
    text = backward_page.script_json({"a": "</script><!--&\u2028\u2029"})
    assert text == '{"a":"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028\\u2029"}'
    assert json.loads(text) == {"a": "</script><!--&\u2028\u2029"}


def test_the_template_is_plain_files_that_use_no_network_and_no_inner_html():
    files = {p.name: p.read_text(encoding="utf-8") for p in PAGE.iterdir()}
    assert sorted(files) == ["stepper.css", "stepper.html", "stepper.js"]
    for name, text in files.items():
        assert "http:" not in text and "https:" not in text and "//cdn" not in text, name
    script = files["stepper.js"]
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "eval(" not in script and "</script" not in script


class _Iframe(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.attrs = dict(attrs)


@needs_dot
def test_in_jupyter_the_page_is_an_isolated_iframe(tmp_path):
    (loss, _, _), _ = twin_graphs()
    page = ag.stepper(loss)
    parser = _Iframe()
    parser.feed(page._repr_html_())
    assert parser.attrs["srcdoc"] == page.html, "the whole page, escaped in the attribute"
    assert parser.attrs["sandbox"] == "allow-scripts"
    assert page.save(tmp_path / "p.html").read_text(encoding="utf-8") == page.html
    assert repr(page).startswith("Stepper('Backward pass of mean = ") and "8 steps" in repr(page)
