"""The Python examples of docs/*.md run as written, and print what their comments say.

Each file's ```python blocks run in order in one namespace. A comment after a print
(`print(...)  # text`, on the line that closes the call when ruff has split it) says what
that print writes: the printed lines must be those texts, in order (a text ending in "..."
matches any line that starts with the rest), for every block whose prints all say.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest
from conftest import needs_dot

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
DRAWS = re.compile(r"save_html|save_svg|\bdraw\(|stepper\(")


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


def said(block: str) -> list[str] | None:
    """What the block's prints write, from their comments; None if a print says nothing."""
    lines = block.splitlines()
    ends = [
        statement.end_lineno
        for statement in ast.walk(ast.parse(block))
        if isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and getattr(statement.value.func, "id", None) == "print"
    ]
    texts = [
        lines[end - 1].split("  # ", 1)[1] if "  # " in lines[end - 1] else None for end in ends
    ]
    return None if None in texts else texts


def matches(line: str, text: str) -> bool:
    return line.startswith(text[:-3]) if text.endswith("...") else line == text


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=needs_dot) if DRAWS.search(p.read_text()) else p for p in PAGES],
    ids=[p.name for p in PAGES],
)
def test_python_blocks_run_and_print_what_they_say(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict = {}
    for number, block in enumerate(python_blocks(page), 1):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block, f"{page.name}, block {number}", "exec"), namespace)
        expected = said(block)
        if expected is None:
            continue
        lines = printed.getvalue().splitlines()
        assert len(lines) == len(expected), (page.name, number, lines)
        for line, text in zip(lines, expected, strict=True):
            assert matches(line, text), f"{page.name}, block {number}: {line!r} ≠ {text!r}"


def test_the_op_list_names_every_op_with_its_rules():
    """docs/ops.md lists each op of the table with its VJP rules as the table writes them."""
    import autograd_mini as ag

    text = " ".join((DOCS / "ops.md").read_text(encoding="utf-8").split())
    for name, op in ag.OPS.items():
        assert f"**`{op.signature}`**" in text, f"{name} is not in docs/ops.md"
        for formula in op.rules:
            assert " ".join(formula.split()) in text, f"{name}'s rule differs in docs/ops.md"


def test_every_public_function_added_for_pytorch_habits_has_a_running_example():
    import autograd_mini as ag

    code = "\n".join(python_blocks(DOCS / "ops.md"))
    names = [*ag.constructors.__all__, *(n for n in ag.functional.__all__ if n in ag.OPS)]
    names += ["einsum", "tensordot", "dropout", "argmax", "argmin", "permute", "unsqueeze"]
    names += ["cat", "concat", "clamp", "swish", "asin", "acos", "atan", "asinh", "acosh"]
    names += ["atanh", "pow", "permute_dims"]
    missing = [n for n in names if f"ag.{n}(" not in code and f".{n}(" not in code]
    assert not missing, f"no example in docs/ops.md runs {missing}"
