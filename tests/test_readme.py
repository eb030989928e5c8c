"""The README's Python examples run as written (in order, sharing one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import needs_dot

README = Path(__file__).resolve().parents[1] / "README.md"


@needs_dot
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README should show Python examples"
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)


def section(title: str) -> str:
    """The README's section under `## {title}`, its lines joined by spaces."""
    text = README.read_text(encoding="utf-8")
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return " ".join(body.split())


def test_readme_tests_section_says_what_the_tests_need():
    tests = section("Tests")
    for needed in ("`dot`", "chromium", "skipped", "`.ci/run`"):
        assert needed in tests


def test_readme_says_which_tensors_keep_a_grad_and_that_it_adds_up():
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "and so does every result computed from it" not in text
    assert "each later `backward()` adds to it" in text
    assert "keep no `.grad` unless you call `.retain_grad()`" in text
