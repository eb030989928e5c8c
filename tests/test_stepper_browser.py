"""The stepper page in a real browser: Debian's chromium driven by Playwright (no browser
download). Skipped only when /usr/bin/chromium or Graphviz's dot is not installed (`.ci/run`
installs both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_dot
from playwright.sync_api import expect, sync_playwright

import autograd_mini as ag
import nn
from autograd_mini import Tensor, specialize
from autograd_mini.visual import backward_page
from autograd_mini.visual.layout import WIDEST_JOIN

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOSTILE = '<img src=x onerror="window.x=1">'

pytestmark = needs_dot  # every page here draws its graph with dot


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Opened:
    """A page of the browser, with every console error, uncaught exception and request."""

    def __init__(self, browser, path: Path | None = None) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        if path is not None:
            self.page.goto(path.as_uri())

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def numbers(self, selector: str) -> np.ndarray:
        """The numbers shown in the table(s) under `selector`, as the page prints them."""
        return np.array([float(t) for t in self.page.locator(f"{selector} td").all_inner_texts()])

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)

    def click_box(self, key: str) -> None:
        self.page.click(f"#drawing g.node:has(title:text-is('{key}'))")


@pytest.fixture
def opened(browser):
    pages = []

    def open_(path: Path | None = None) -> Opened:
        pages.append(Opened(browser, path))
        return pages[-1]

    yield open_
    for page in pages:
        page.context.close()


def four_digits(shown: np.ndarray, engine: np.ndarray) -> None:
    """The page prints 4 significant digits of the engine's numbers."""
    np.testing.assert_allclose(shown, np.ravel(engine), rtol=1e-3, atol=0)


def or_network():
    """The demo's OR network and its cost, every intermediate result keeping its .grad."""
    model = nn.gates.network("OR")
    loss = ag.quadratic_cost(model(nn.gates.INPUTS), nn.gates.TARGETS["OR"])
    order = ag.backward_order(loss)
    for t in order:
        t.retain_grad()
    return model, loss, order


def test_the_or_page_steps_through_backward_with_the_engines_numbers(opened, tmp_path):
    _, loss, order = or_network()
    page = ag.stepper(loss)
    path = page.save(tmp_path / "or_gate.html")
    steps = page.data["steps"]
    printed = [line.strip() for line in ag.backward_code(loss).splitlines()]
    view = opened(path)
    n = len(order)
    assert view.text("#counter") == f"step 0 of {n}"
    assert view.page.locator("g.node.current").count() == 0
    for k, t in enumerate(order, start=1):
        view.press("ArrowRight")
        assert view.text("#counter") == f"step {k} of {n}"
        assert view.text("#step-op") == t.op
        assert view.text("#panel h2") == f"Step {k}: {t.op}"
        four_digits(view.numbers("#panel [data-array=upstream]"), t.grad)
        for i, x in enumerate(t.node.inputs):
            if isinstance(x, Tensor) and x.requires_grad:  # each input here has one user
                four_digits(view.numbers(f"#panel [data-array=input-{i}]"), x.grad)
            rule = view.text(f"#panel [data-input='{i}'] .rule")
            assert rule == specialize.rule(t, i), "the op table's rule, made concrete"
            if isinstance(x, Tensor) and x.requires_grad:  # its lines of backward_code
                code = view.text(f"#panel [data-input='{i}'] pre.code").split("\n")
                assert code and all(c in printed or c.startswith("# d") for c in code), code
        current = view.page.locator("#drawing g.node.current title").all_text_contents()
        assert current == [steps[k - 1]["unit"]]
        lit = view.page.locator("#drawing g.edge.lit title").all_text_contents()
        assert sorted(lit) == sorted(f"{a}->{b}" for a, b in steps[k - 1]["edges"])
        assert lit, "the gradients flow along at least one edge"
        done = view.page.locator("#drawing g.node.done").count()
        assert done >= k, "the gradients computed so far stay marked"
    view.press("ArrowRight")
    assert view.text("#counter") == f"step {n} of {n}", "stays at the end"
    view.press("ArrowLeft")
    assert view.text("#counter") == f"step {n - 1} of {n}"
    assert view.text("#step-op") == order[n - 2].op
    view.press("Home")
    assert view.text("#counter") == f"step 0 of {n}"
    assert view.page.locator("#drawing g.node.done").count() == 0
    view.press("End")
    assert view.text("#counter") == f"step {n} of {n}"
    view.page.click("#back")
    assert view.text("#counter") == f"step {n - 1} of {n}"
    view.page.click("#first")
    view.page.click("#next")
    assert view.text("#counter") == f"step 1 of {n}"
    assert view.errors == []
    assert view.requests == [path.as_uri()], "no network request: only the page itself"


def test_a_click_shows_a_boxs_value_and_its_gradient_after_its_step(opened, tmp_path):
    model, loss, _ = or_network()
    page = ag.stepper(loss)
    view = opened(page.save(tmp_path / "or.html"))
    W = model.layers[0].weight
    key, unit = next((k, u) for k, u in page.data["units"].items() if u["title"] == W.name)
    view.click_box(key)
    assert view.text("#inspector h2") == "layers.0.weight"
    four_digits(view.numbers("#inspector [data-array=value]"), W.data)
    assert f"known after step {unit['grad_step']}" in view.text("#inspector")
    view.press("ArrowRight", unit["grad_step"])
    four_digits(view.numbers("#inspector [data-array=grad]"), W.grad)
    assert view.page.locator("#drawing g.node.selected").count() == 1
    assert view.errors == []


def test_space_plays_and_pauses(opened, tmp_path):
    _, loss, _ = or_network()
    view = opened(ag.save_html(loss, tmp_path / "or.html"))
    view.press(" ")
    assert view.text("#play") == "⏸ Pause"
    expect(view.page.locator("#counter")).not_to_have_text("step 0 of 7", timeout=20_000)
    view.press(" ")
    assert view.text("#play") == "▶ Play"
    paused_at = view.text("#counter")
    view.page.wait_for_timeout(1_500)  # longer than a play step: nothing moves when paused
    assert view.text("#counter") == paused_at
    assert view.errors == []


def test_a_hostile_name_is_shown_as_text_and_runs_nothing(opened, tmp_path):
    w = Tensor(np.ones((2, 2)), requires_grad=True, name=HOSTILE)
    with ag.scope(HOSTILE):
        loss = (w * 2).sum()
    loss.name = HOSTILE
    page = ag.stepper(loss)
    view = opened(page.save(tmp_path / "hostile.html"))
    view.press("ArrowRight", 2)
    assert view.text("#panel").count(HOSTILE) == 3, "the scope, the input w, into w.grad"
    key = next(k for k, u in page.data["units"].items() if u["title"] == HOSTILE)
    view.click_box(key)
    assert view.text("#inspector h2") == HOSTILE
    assert view.text("#title").startswith(f"Backward pass of {HOSTILE} = ")
    svg_text = view.page.locator("#drawing svg").text_content()
    assert HOSTILE in svg_text
    assert view.page.evaluate("typeof window.x") == "undefined"
    assert view.page.locator("img").count() == 0
    assert view.errors == []
    assert view.requests == [(tmp_path / "hostile.html").as_uri()]


def test_a_10000_op_graph_opens_and_steps_collapsed(opened, tmp_path):
    x = Tensor(np.ones(4), requires_grad=True, name="x")
    y = x
    for _ in range(5_000):
        y = (y * 1.0001).tanh()  # 10,000 ops, and the sum
    view = opened(ag.save_html(y.sum(), tmp_path / "big.html"))
    assert view.text("#counter") == "step 0 of 2"
    view.press("End")
    assert view.text("#counter") == "step 2 of 2"
    assert view.text("#panel h2") == "Step 2: (mul → tanh) × 5000: 10,000 ops as one step"
    four_digits(view.numbers("#panel [data-array=input-0]"), x.grad)
    assert view.page.locator("#drawing g.node.current").count() == 1
    assert view.errors == []


def test_a_wide_join_of_long_names_steps_and_marks_its_boxes(opened, tmp_path):
    """A stack of 3,000 inputs with names too long to show whole (each box has a tooltip,
    which puts its shapes inside an <a>): the page opens, steps, lists the inputs it shows
    and how many more, and marks the inputs' boxes done."""
    n = 3_000
    xs = [Tensor(np.ones(2), requires_grad=True, name=f"x{i}_" + "long" * 20) for i in range(n)]
    view = opened(ag.save_html(ag.stack(xs).sum(), tmp_path / "wide.html"))
    view.press("End")
    assert view.text("#counter") == "step 2 of 2"
    assert f"… and {n - backward_page.LISTED_INPUTS} more" in view.text("#panel")
    done = view.page.locator("#drawing g.node.done ellipse")
    assert done.count() == WIDEST_JOIN, "every drawn input got its gradient"
    done_colour = "rgb(39, 174, 96)"  # stepper.css: --done
    assert done.first.evaluate("e => getComputedStyle(e).stroke") == done_colour
    assert view.errors == []


def test_in_a_notebook_the_page_runs_inside_its_iframe(opened):
    _, loss, _ = or_network()
    view = opened()
    view.page.set_content(ag.stepper(loss)._repr_html_())
    frame = view.page.frame_locator("iframe")
    assert frame.locator("#counter").inner_text() == "step 0 of 7"
    frame.locator("#next").click()
    assert frame.locator("#counter").inner_text() == "step 1 of 7"
    assert view.errors == []
    assert all(url in ("about:blank", "about:srcdoc") for url in view.requests)


def test_the_readme_screenshot_script_writes_a_png_into_the_current_folder(browser, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "stepper_screenshot.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["or_gate_stepper.png"]
    assert (tmp_path / "or_gate_stepper.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
