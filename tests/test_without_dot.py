"""Without Graphviz's `dot` the tests that render drawings are skipped, with the reason,
and the rest pass: the drawing's and the command line's tests run again in a fresh pytest
whose PATH has no `dot`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_dot_the_tests_that_render_skip_with_the_reason(tmp_path):
    files = ["tests/test_graph.py", "tests/test_cli.py"]
    marked = sum((ROOT / f).read_text(encoding="utf-8").count("@needs_dot") for f in files)
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no dot, no other program
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *files, "-q", "-rs", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    summary = out.strip().splitlines()[-1]
    skipped = int(re.search(r"(\d+) skipped", summary)[1])
    assert skipped >= marked, summary  # parametrized tests skip once per case
    assert "failed" not in summary and "error" not in summary
    reasons = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    others = [line for line in reasons if "needs Graphviz's dot" not in line]
    assert reasons and len(others) < len(reasons), reasons
    assert all("needs a git checkout" in line for line in others), others  # no git on PATH
