"""The command line: demo, check, graph, train errors (train on MNIST: test_mnist.py)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nn.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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


def test_check_prints_the_four_way_table(capsys):
    code, out, _ = run(capsys, "check", "--sizes", "3", "4", "2", "--cost", "softmax-cross-entropy")
    assert code == 0
    assert "layers.1.bias" in out and "finite differences vs autodiff" in out and "✓" in out


def test_check_skips_finite_differences_for_big_networks(capsys):
    code, out, _ = run(
        capsys, "check", "--sizes", "50", "40", "2", "--max-finite-differences", "100"
    )
    assert code == 0 and "finite differences skipped" in out


def test_graph_writes_an_svg(capsys, tmp_path):
    svg = tmp_path / "g.svg"
    code, out, _ = run(
        capsys, "graph", "--sizes", "2", "3", "1", "--batch-size", "5", "-o", str(svg)
    )
    assert code == 0 and str(svg) in out
    assert "layers.0.weight" in svg.read_text()


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
