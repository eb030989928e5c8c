"""The command line: demo, check, graph, train errors (train on MNIST: test_mnist.py)."""

from __future__ import annotations

import gc
import json
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_dot, printed_lines

from autograd_mini.text import printable
from nn.cli import DRAWING_FORMATS, PLOT_FORMATS, main, parser

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@needs_dot
def test_demo_trains_both_gates_prints_the_table_and_writes_the_graph(capsys, tmp_path):
    svg = tmp_path / "or.svg"
    code, out, err = run(capsys, "demo", "-o", str(svg))
    assert code == 0, err
    assert out.count("accuracy: 100%") == 2
    assert "OR gate" in out and "XOR gate" in out
    for column in ("rows vs autodiff", "columns vs autodiff", "finite differences vs autodiff"):
        assert column in out
    assert "✗" not in out
    ET.parse(svg)  # a well-formed SVG
    assert f"Wrote the OR network's computation graph (after backward) to {svg}" in out
    page = tmp_path / "or.html"
    assert f"Wrote the page that steps through its backward pass to {page}" in out
    assert len(page_steps(page)) == 7, "the OR network's 7 ops, one step each"
    assert "∇ (2, 2)" in " ".join(t.text or "" for t in ET.parse(svg).iter()), "after backward"


def page_steps(path) -> list[dict]:
    (raw,) = re.findall(r'id="stepper-data">(.*?)</script>', path.read_text(encoding="utf-8"))
    return json.loads(raw)["steps"]


def test_demo_without_dot_writes_the_dot_source_and_says_what_to_install(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, out, err = run(capsys, "demo", "-o", str(tmp_path / "or_gate.svg"))
    assert code == 0, err
    assert out.count("accuracy: 100%") == 2 and "finite differences vs autodiff" in out
    source = tmp_path / "or_gate.gv"
    assert source.read_text(encoding="utf-8").startswith("digraph computation_graph {")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["or_gate.gv"]
    (hint,) = [line for line in out.splitlines() if "not installed" in line]
    assert "install the graphviz package (apt-get install graphviz" in hint
    assert f"dot -Tsvg {source} -o {tmp_path / 'or_gate.svg'}" in hint
    assert "draw(" not in out + err and ".source" not in out + err
    (skipped,) = [line for line in out.splitlines() if line.startswith("Skipped")]
    assert skipped.startswith(f"Skipped {tmp_path / 'or_gate.html'}, the page that steps")
    assert "install graphviz (apt-get install graphviz" in skipped


def test_graph_html_without_dot_says_what_to_install_and_writes_nothing(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    output = tmp_path / "g.html"
    code, out, err = run(capsys, "graph", "--html", "-o", str(output))
    assert code == 1 and out == ""
    assert err.startswith("autograd-mini: error: --html: the page draws the graph with Graphviz's")
    assert f"so {output} was not written; install graphviz (apt-get install graphviz" in err
    assert err.rstrip().endswith("run the same command again.") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [], "no page, no drawing, no DOT text"


def test_graph_without_dot_writes_the_dot_source_and_fails(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    output = tmp_path / "g.svg"
    code, _, err = run(capsys, "graph", "-o", str(output))
    assert code == 1
    assert err.startswith("autograd-mini: error: Graphviz's `dot` program is not installed")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"`dot -Tsvg {tmp_path / 'g.gv'} -o {tmp_path / 'g.svg'}`" in err
    assert "draw(" not in err and ".source" not in err
    assert "layers.0.weight" in (tmp_path / "g.gv").read_text(encoding="utf-8")
    assert not output.exists()


def test_check_prints_the_four_way_table(capsys):
    code, out, _ = run(capsys, "check", "--sizes", "3", "4", "2", "--cost", "softmax-cross-entropy")
    assert code == 0
    assert "layers.1.bias" in out and "finite differences vs autodiff" in out and "✓" in out


def test_check_skips_finite_differences_for_big_networks(capsys):
    code, out, _ = run(
        capsys, "check", "--sizes", "50", "40", "2", "--max-finite-differences", "100"
    )
    assert code == 0 and "finite differences skipped" in out


def test_check_time_grows_linearly_with_depth(capsys):
    def seconds(layers):
        gc.collect()  # not the garbage of the tests before
        started = time.perf_counter()
        code, out, _ = run(capsys, "check", "--sizes", *["1"] * (layers + 1))
        elapsed = time.perf_counter() - started
        assert code in (0, 1) and out.count("layers.") >= 2 * layers
        assert f"× {layers} layers / 2 = " in out and "each difference runs every layer" in out
        return elapsed

    run(capsys, "check", "--sizes", *["1"] * 21)  # warm up
    small = min(seconds(300) for _ in range(2))  # the best of two: the machine is noisy
    large = min(seconds(1200) for _ in range(2))
    assert large / small < 10, (small, large)  # linear: 4; quadratic: 16


@needs_dot
def test_graph_html_writes_the_stepper_page(capsys, tmp_path, monkeypatch):
    page = tmp_path / "g.html"
    code, out, _ = run(capsys, "graph", "--sizes", "2", "3", "1", "--html", "-o", str(page))
    assert code == 0 and f"to {page}" in out and "steps through the backward pass" in out
    steps = page_steps(page)
    assert [s["op"] for s in steps][:2] == ["quadratic_cost", "sigmoid"] and len(steps) == 7
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "graph", "--html")
    assert code == 0 and (tmp_path / "graph.html").exists(), "the default with --html"


@needs_dot
def test_graph_writes_an_svg(capsys, tmp_path):
    svg = tmp_path / "g.svg"
    code, out, _ = run(
        capsys, "graph", "--sizes", "2", "3", "1", "--batch-size", "5", "-o", str(svg)
    )
    assert code == 0 and str(svg) in out
    assert "layers.0.weight" in svg.read_text()


@needs_dot
def test_file_names_are_printed_escaped(capsys, tmp_path):
    """A file name holding an ANSI escape, U+202E and a newline is printed escaped."""
    name = "g\x1b[2J\u202e\nx"
    for argv in (
        ["graph", "-o", f"{tmp_path / name}.svg"],
        ["demo", "-o", f"{tmp_path / name}.svg"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        printed_lines(out)
        assert f"{printable(str(tmp_path / name))}.svg" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "/no/such/file.pkl.gz"], "/no/such/file.pkl.gz"),
        (["train", "--data", __file__], "not a known MNIST format"),
        (["check", "--sizes", "3"], "--sizes needs at least two"),
        (
            ["train", "--data", "x", "--resume", "/no/such/model.npz"],
            "no checkpoint at /no/such/model.npz",
        ),
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("autograd-mini: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_traceback():
    with pytest.raises(Exception, match="at least two"):
        main(["--debug", "check", "--sizes", "3"])


def test_bad_option_values_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "x", "--lr", "-1"])
    assert info.value.code == 2 and "must be positive" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_program():
    result = subprocess.run(
        [sys.executable, "-m", "nn", "check", "--sizes", "2", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rows vs autodiff" in result.stdout


def test_help_shows_no_markdown_backticks():
    top = parser()
    commands = next(a for a in top._actions if a.dest == "command").choices
    for command in [top, *commands.values()]:
        assert "`" not in command.format_help(), command.prog


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_what_the_commands_write_is_ignored_by_git_but_the_page_template_is_not():
    written = [f"or_gate{suffix}" for suffix in (*DRAWING_FORMATS, ".html")]
    written += [f"curves{suffix}" for suffix in PLOT_FORMATS] + ["model.npz"]

    def ignored(path: str) -> bool:
        check = ["git", "check-ignore", "--quiet", "--no-index", path]
        return subprocess.run(check, cwd=ROOT, check=False).returncode == 0

    assert [name for name in written if not ignored(name)] == []
    assert not ignored("autograd_mini/visual/page/stepper.html")
    assert not ignored("docs/or_gate.svg")


def test_code_prints_a_networks_forward_and_backward_pass_that_runs(capsys, tmp_path):
    code, out, _ = run(
        capsys, "code", "--sizes", "6", "4", "3", "--cost", "softmax-cross-entropy",
        "--batch-size", "5",
    )  # fmt: skip
    assert code == 0
    assert out.startswith("# MLP(6→4→3, sigmoid, output identity), softmax-cross-entropy cost")
    assert "def forward_backward(X, y, W1, b1, W2, b2):" in out
    assert "    dW1 = X.T @ dadd1\n" in out and "    db2 = np.sum(dadd2, axis=0)\n" in out
    printed = tmp_path / "step.py"
    printed.write_text(out, encoding="utf-8")
    config = ROOT / "pyproject.toml"
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", config, printed],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    namespace: dict = {}
    exec(compile(out, str(printed), "exec"), namespace)
    rng = np.random.default_rng(0)
    X, y = rng.random((5, 6)), rng.integers(0, 3, 5)
    W1, b1, W2, b2 = rng.random((6, 4)), rng.random(4), rng.random((4, 3)), rng.random(3)
    loss, grads = namespace["forward_backward"](X, y, W1, b1, W2, b2)
    assert set(grads) == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}
    assert grads["layers.0.weight"].shape == (6, 4) and float(loss) > 0


def test_code_refuses_sizes_that_make_no_network(capsys):
    code, _, err = run(capsys, "code", "--sizes", "3")
    assert code == 1 and "--sizes needs at least two positive sizes" in err


def test_train_eager_runs_the_recorded_graph_with_the_same_numbers(capsys, tiny_mnist):
    argv = ["train", "--data", str(tiny_mnist), "--sizes", "784", "8", "10", "--epochs", "2"]
    argv += ["--quiet", "--seed", "3"]
    outputs = []
    for extra in ([], ["--eager"]):
        code, out, _ = run(capsys, *argv, *extra)
        assert code == 0
        outputs.append(re.sub(r"\d+\.\d+ ?s\b", "", out))  # the epochs' times differ
    assert outputs[0] == outputs[1] and "Epoch 1" in outputs[0]
