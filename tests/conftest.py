"""Shared fixtures: a tiny MNIST-shaped data file, so that `autograd-mini train` can be
tested end to end without the real data, an HTTP server on 127.0.0.1 for the downloader's
tests, the temporary file a writer killed mid-write leaves, `needs_dot` for the tests that
render drawings, and arbitrary names."""

from __future__ import annotations

import gzip
import http.server
import pickle
import shutil
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from autograd_mini import Tensor

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="needs Graphviz's dot, which is not on PATH (apt-get install graphviz; .ci/run "
    "installs it)",
)
"""For tests that render a drawing (SVG, the stepper page, the CLI's graph and demo)."""


def write_tiny_mnist(path: Path, sizes=(40, 20, 30), seed: int = 0, nan: bool = False) -> Path:
    """Nielsen's pickle layout ((X, y) for train, validation, test) with few rows: float32
    images of 784 pixels in [0, 1), labels 0–9 (every digit present in the training split).
    nan: the training images are NaN."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in sizes:
        X = (rng.integers(0, 256, (n, 784)) / 256).astype(np.float32)
        y = np.arange(n) % 10
        splits.append((X, y))
    if nan:
        splits[0][0][:] = np.nan
    path.write_bytes(gzip.compress(pickle.dumps(tuple(splits), protocol=2), compresslevel=1))
    return path


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A small mnist.pkl.gz (40 training, 20 validation, 30 test images)."""
    return write_tiny_mnist(tmp_path / "tiny-mnist.pkl.gz")


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port) with `handler`, serving from a thread while
    the `with` block runs; `url` is its address."""

    def __init__(self, handler) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wide_flat_loss():
    """A loss of 300 parameters joined one by one, alternately by + exp(p) and by *: 450 ops
    and no module structure, so a drawing can only truncate it."""
    leaves = [Tensor(np.ones(1) * i, requires_grad=True, name=f"p{i}") for i in range(300)]
    total = leaves[0]
    for i, p in enumerate(leaves[1:]):
        total = total * p if i % 2 else total + p.exp()
    return total.sum()


_KILLED_WRITER = """
import os, signal, sys
from autograd_mini.files import replacing
with replacing(sys.argv[1], "killed", suffix=sys.argv[2]) as out:
    out.file.write(b"half a file")
    out.file.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_writer(target: Path, suffix: str) -> Path:
    """The temporary file that a process killed (SIGKILL) while writing `target` left: a real
    process, started and killed here."""
    before = set(target.parent.iterdir())
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target), suffix], check=False)
    (left,) = set(target.parent.iterdir()) - before
    return left


NOT_PLAIN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories a terminal or a reader may act on: controls (ANSI escapes, NUL),
formats (U+202E), surrogates, private use, unassigned, line and paragraph separators."""

TERMINAL_NASTY = ["\x1b[2J", "\x1b]0;title\x07", "\x00", "\u202e", "\n", "\r", "\u2028", "\x85"]

any_name = st.lists(
    st.characters(exclude_categories=()) | st.sampled_from(TERMINAL_NASTY), min_size=1, max_size=8
).map("".join)
"""Arbitrary names: every code point (controls, lone surrogates, U+202E...) and ANSI escapes."""


def printed_lines(text: str) -> list[str]:
    """The lines of a text meant for a terminal or a page, after checking that no line
    holds a character of the NOT_PLAIN categories (an escape, NUL, U+202E, a line break)."""
    lines = text.split("\n")
    for line in lines:
        bad = [c for c in line if unicodedata.category(c) in NOT_PLAIN]
        assert not bad, f"{bad!r} printed raw in {line!r}"
    return lines
