"""Every example runs as a script (small settings where it trains on MNIST)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import needs_dot
from nbclient import NotebookClient

from nn.data import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd or ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_or_gate():
    out = run_example("or_gate.py")
    for text in ("dW1 = Xᵀ @ Δ1", "(2, 1)", "db2 = Δ2.sum(axis=0)", "BP2", "accuracy 100%", "✓"):
        assert text in out
    assert "✗" not in out


def test_or_gate_prints_labels_shapes_and_numbers_in_columns():
    """Every `label  shape  numbers` line has its shape in one column, at least two spaces
    after the label (the longest labels too), and a matrix's rows under its first row."""
    lines = run_example("or_gate.py").splitlines()
    shape = re.compile(r"^  (?P<label>.+?)(?P<shape>\(\d+,(?: \d+)?\))\s+\[")
    rows = [(i, m) for i, line in enumerate(lines) if (m := shape.match(line))]
    assert len(rows) >= 10
    assert all(m["label"].endswith("  ") for _, m in rows), [m["label"] for _, m in rows]
    assert len({m.start("shape") for _, m in rows}) == 1
    for i, _ in rows:
        start = lines[i].index("[[") + 1 if "[[" in lines[i] else None
        if start is not None:  # the next row of the matrix starts under the first
            assert lines[i + 1].index("[") == start, lines[i : i + 2]


def test_my_backprop_diagnoses_then_passes():
    out = run_example("my_backprop.py")
    first, fixed = out.split("After the fix")
    assert "transpose of the right gradient" in first and "(30, 784) ≠ (784, 30)" in first
    assert "✗" not in fixed


def test_nielsen_mnist_runs_one_short_epoch():
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is not available")
    path = shared / "mnist.pkl.gz"
    out = run_example(
        "nielsen_mnist.py", "--data", str(path), "--epochs", "1", "--train-size", "2000"
    )
    assert "Epoch 0: " in out and "/ 10000" in out


def test_tanh_derivatives_checks_six_orders_and_writes_the_png_into_the_current_folder(
    tmp_path,
):
    docs = {p.name: p.stat().st_mtime_ns for p in (ROOT / "docs").iterdir()}
    out = run_example("tanh_derivatives.py", cwd=tmp_path)
    differences = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if "order" in line]
    assert len(differences) == 6 and max(differences) <= 1e-12, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tanh_derivatives.png"], out
    assert (tmp_path / "tanh_derivatives.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name: p.stat().st_mtime_ns for p in (ROOT / "docs").iterdir()} == docs


def test_the_docs_picture_of_tanh_is_the_one_the_example_writes(tmp_path):
    """The same picture, pixel for pixel up to how another matplotlib or FreeType draws
    text and lines (the bytes differ between versions)."""
    from matplotlib.image import imread

    run_example("tanh_derivatives.py", "--output-dir", str(tmp_path))
    written = imread(tmp_path / "tanh_derivatives.png")
    committed = imread(ROOT / "docs" / "tanh_derivatives.png")
    assert written.shape == committed.shape
    assert np.abs(written - committed).mean() < 0.01


def test_newton_converges_in_a_few_steps():
    out = run_example("newton.py")
    rosenbrock, logistic = out.split("Logistic regression")
    assert "x = (+1.000000, +1.000000)  f = 0.000e+00" in rosenbrock
    assert rosenbrock.count("step") <= 8
    norms = [float(line.rsplit("= ", 1)[1]) for line in logistic.splitlines() if "|∇|" in line]
    assert norms[-1] < 1e-10 and len(norms) <= 8, out


@needs_dot
def test_draw_graph_writes_the_svgs(tmp_path):
    out = run_example("draw_graph.py", "--output-dir", str(tmp_path))
    written = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert written == ["nielsen_784_30_10.svg", "or_gate.svg"], out


@needs_dot
def test_draw_graph_writes_into_the_current_folder_not_docs(tmp_path):
    docs = {p.name: p.stat().st_mtime_ns for p in (ROOT / "docs").iterdir()}
    out = run_example("draw_graph.py", cwd=tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["nielsen_784_30_10.svg", "or_gate.svg"], out
    assert {p.name: p.stat().st_mtime_ns for p in (ROOT / "docs").iterdir()} == docs


@needs_dot
def test_the_backprop_tour_notebook_runs_and_is_committed_without_outputs(tmp_path):
    notebook = nbformat.read(ROOT / "examples" / "backprop_tour.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "no outputs kept"
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    outputs = [[o for o in cell.outputs if "data" in o or "text" in o] for cell in code]
    drawing, page, report = outputs[1][0], outputs[2][0], outputs[-1][0]
    assert drawing["data"]["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    assert page["data"]["text/html"].startswith('<iframe srcdoc="')
    assert "Step" in page["data"]["text/plain"] or "steps" in page["data"]["text/plain"]
    assert "step  7  matmul" in outputs[3][0]["text"], "explain() prints the 7 steps"
    assert (
        "7 steps; the page's backward pass left the hand-written gradients"
        in (outputs[4][0]["text"])
    )
    assert "✓" in report["data"]["text/plain"] and "✗" not in report["data"]["text/plain"]
