"""The README's Python examples run and print what they say (see blocks.py), and what it
says about the tests and about `.grad` holds."""

from __future__ import annotations

import pytest
from blocks import README, block_params, run_with_what_it_continues


@pytest.mark.parametrize("block", block_params([README]))
def test_readme_python_blocks_run_and_print_what_they_say(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    run_with_what_it_continues(block)


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
