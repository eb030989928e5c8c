"""The Python examples of docs/*.md run and print what they say (see blocks.py), the op
list names every op with its rules, and every public name is shown by an example."""

from __future__ import annotations

import re

import pytest
from blocks import (
    DOCS,
    PAGES,
    block_params,
    python_blocks,
    run,
    run_with_what_it_continues,
    shown_code,
)

import autograd_mini as ag
import nn


@pytest.mark.parametrize("block", block_params(sorted(DOCS.glob("*.md"))))
def test_python_blocks_run_and_print_what_they_say(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    run_with_what_it_continues(block)


@pytest.mark.parametrize(
    ("page", "wrong"),
    [
        ("```python\nprint(1 + 1)  # 3\n```\n", "line 1: printed '2', says '3'"),
        ("```python\nprint(12)  # 2...\n```\n", "printed '12', says '2...'"),
        ("```python\nprint(1)\n```\n", "the print on line 1 says nothing"),
        ("```python\nprint(1)\nprint(2)\n```\n\n```text\n1\n3\n```\n", "not what the text"),
        ("```python\nprint('a\\nb')\n```\n```text\n...\nc\n```\n", "not what the text"),
    ],
)
def test_a_block_that_prints_other_than_it_says_fails(page, wrong, tmp_path):
    (tmp_path / "page.md").write_text(page, encoding="utf-8")
    (block,) = python_blocks(tmp_path / "page.md")
    with pytest.raises(AssertionError, match=re.escape(wrong)):
        run(block, {})


def test_what_a_block_prints_may_be_said_in_part_or_shown_after_it(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 12\nprint(\n    x\n)  # 1...\n```\n\n"
        "```python\n# continues the block above: x\nfor i in range(3):\n    print(x + i)\n```\n"
        "```text\n12\n...\n```\n",
        encoding="utf-8",
    )
    page.write_text(
        page.read_text(encoding="utf-8")
        + "```python\n# continues block 1: x, not what block 2 did\nprint(x, i)\n```\n"
        "```text\n```\n",
        encoding="utf-8",
    )
    first, second, third = python_blocks(page)
    assert (first.continues, second.continues, third.continues) == (None, 1, 1)
    run_with_what_it_continues(first)
    run_with_what_it_continues(second)
    with pytest.raises(NameError, match="'i' is not defined"):
        run_with_what_it_continues(third)


def test_the_op_list_names_every_op_with_its_rules():
    """docs/ops.md lists each op of the table with its VJP rules as the table writes them."""
    text = " ".join((DOCS / "ops.md").read_text(encoding="utf-8").split())
    for name, op in ag.OPS.items():
        assert f"**`{op.signature}`**" in text, f"{name} is not in docs/ops.md"
        for formula in op.rules:
            assert " ".join(formula.split()) in text, f"{name}'s rule differs in docs/ops.md"


def test_every_public_function_added_for_pytorch_habits_has_a_running_example():
    code = "\n".join(block.code for block in python_blocks(DOCS / "ops.md"))
    names = [*ag.constructors.__all__, *(n for n in ag.functional.__all__ if n in ag.OPS)]
    names += ["einsum", "tensordot", "dropout", "argmax", "argmin", "permute", "unsqueeze"]
    names += ["cat", "concat", "clamp", "swish", "asin", "acos", "atan", "asinh", "acosh"]
    names += ["atanh", "pow", "permute_dims"]
    missing = [n for n in names if f"ag.{n}(" not in code and f".{n}(" not in code]
    assert not missing, f"no example in docs/ops.md runs {missing}"


@pytest.mark.parametrize(("module", "prefix"), [(ag, "ag"), (nn, "nn")])
def test_every_public_name_is_shown_by_an_example_the_tests_run(module, prefix):
    """Each name of `ag.__all__` and `nn.__all__` appears, spelled `ag.<name>` or
    `nn.<name>`, in a python block of README.md or docs/*.md (blocks that the tests above
    and test_readme.py run)."""
    code = shown_code(PAGES)
    missing = [name for name in module.__all__ if not re.search(rf"\b{prefix}\.{name}\b", code)]
    assert not missing, f"no example in README.md or docs/ shows {prefix}.{missing}"
