"""Where the command line's text goes: outputs that cannot encode its symbols, pipes whose
reader has gone, outputs that are full. Each command runs as its own process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_dot

ROOT = Path(__file__).resolve().parents[1]


def command(*argv, stdout=subprocess.PIPE, encoding: str | None = None):
    """Run `python -m nn ARGV` with this checkout's packages and PYTHONIOENCODING=`encoding`;
    returns the exit code, standard output and standard error (decoded the same way)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONIOENCODING", None)
    if encoding is not None:
        env["PYTHONIOENCODING"] = encoding
    result = subprocess.run(
        [sys.executable, "-m", "nn", *map(str, argv)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        check=False,
        timeout=120,
    )
    codec = encoding or "utf-8"
    out = result.stdout.decode(codec) if result.stdout is not None else None
    return result.returncode, out, result.stderr.decode(codec)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_check_prints_ascii_spellings_where_the_encoding_lacks_the_symbols(encoding):
    code, out, err = command("check", "--sizes", "2", "2", "1", encoding=encoding)
    assert code == 0, err
    assert out.startswith("MLP(2->2->1, sigmoid), quadratic cost")
    table = [line for line in out.splitlines() if line.startswith("layers.")]
    assert len(table) == 4 and all(line.endswith("  ok") for line in table), out
    assert err == ""


def test_train_prints_ascii_spellings_on_an_ascii_output(tiny_mnist):
    argv = ["--sizes", "784", "5", "10", "--epochs", "1", "--quiet"]
    code, out, err = command("train", "--data", tiny_mnist, *argv, encoding="ascii")
    assert code == 0, err
    assert "Training MLP(784->5->10, sigmoid) on 40 images" in out
    assert "eta = 3.0" in out and "epochs 0-0" in out and "Epoch 0: " in out


def test_errors_print_ascii_spellings_on_an_ascii_output():
    code, _, err = command("check", "--seed", "-1", encoding="ascii")
    assert code == 2 and "argument --seed: -1 must be >= 0;" in err, err


def test_a_utf8_output_keeps_the_symbols():
    code, out, _ = command("check", "--sizes", "2", "2", "1", encoding="utf-8")
    assert code == 0 and out.startswith("MLP(2→2→1") and "✓" in out


def closed_pipe() -> int:
    """The writing end of a pipe whose reader has already gone."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--sizes", "2", "3", "1"],
        pytest.param(["graph", "-o", "-"], marks=needs_dot),
        ["train", "--data", "{data}", "--sizes", "784", "5", "10", "--epochs", "2", "--quiet"],
        ["--help"],
    ],
    ids=["check", "graph", "train", "help"],
)
def test_a_closed_pipe_ends_the_command_quietly(argv, tiny_mnist):
    pipe = closed_pipe()
    try:
        code, _, err = command(*[a.format(data=tiny_mnist) for a in argv], stdout=pipe)
    finally:
        os.close(pipe)
    assert (code, err) == (0, "")


FULL = Path("/dev/full")


@pytest.mark.skipif(not FULL.exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--sizes", "2", "3", "1"],
        ["train", "--data", "{data}", "--sizes", "784", "5", "10", "--epochs", "2", "--quiet"],
        ["--help"],
    ],
    ids=["check", "train", "help"],
)
def test_a_full_output_is_one_line_naming_standard_output(argv, tiny_mnist):
    with FULL.open("wb") as full:
        code, _, err = command(*[a.format(data=tiny_mnist) for a in argv], stdout=full)
    assert code == 1
    assert (
        err == "autograd-mini: error: cannot write to standard output (No space left on device).\n"
    )


def test_numpy_floating_point_warnings_become_one_line_errors(tiny_mnist):
    """A learning rate of 1e308 overflows the second mini-batch's X @ W: one line naming the
    epoch and mini-batch, not numpy's warning with a line of source code."""
    argv = ["--sizes", "784", "30", "10", "--epochs", "2", "--cost", "cross-entropy", "--quiet"]
    code, out, err = command("train", "--data", tiny_mnist, *argv, "--lr", "1e308")
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(
        "autograd-mini: error: fit: numpy reported overflow encountered in matmul at epoch 0, "
        "mini-batch 1 (of 4);"
    )
    assert "try a smaller learning rate" in err and "Epoch 0" not in out
