"""The Python examples of README.md and docs/*.md, run as written and checked against what
they say they print (used by test_readme.py and test_docs.py).

Each ```python block runs on its own, in a fresh namespace. A block whose first line is a
comment starting "# continues" ("# continues the block above: model, X and Y") runs after
the block before it, in that block's namespace (and so after whatever that one continues);
"# continues block 1" names the block of the page it runs after.

What a block prints is checked two ways, and every print must say it one way or the other:
- a comment after a print (`print(x.shape)  # (2, 3)`, on the line that closes the call when
  ruff has split it) is what each run of that call writes: all of it, or, when the comment
  ends in "...", its start;
- a ```text block right after the python block is everything the block writes, line by
  line (but for blank lines at its end): a line "..." stands for any number of lines, and a
  line ending in "..." for one line that starts with the rest.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nn.data import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

BLOCK = re.compile(r"```python\n(.*?)```(?:\s*\n```text\n(.*?)```)?", re.S)

NEEDS = [  # (what a block's code mentions, what that needs, why it would skip)
    (
        re.compile(r"save_html|save_svg|\bdraw\(|stepper\("),
        lambda: shutil.which("dot") is not None,
        "it draws, and Graphviz's dot is not on PATH (apt-get install graphviz; .ci/run "
        "installs it)",
    ),
    (
        re.compile(r"shared_data_dir|load_mnist\("),
        lambda: shared_data_dir() is not None,
        "it reads MNIST from ../shared/data, which is not there",
    ),
]


@dataclass
class Block:
    page: Path
    number: int  # 1, 2, ... on its page
    code: str
    shown: str | None  # the ```text block right after it: what it prints
    continues: int | None  # the number of the block it runs after

    @property
    def name(self) -> str:
        return f"{self.page.name}, block {self.number}"


def python_blocks(page: Path) -> list[Block]:
    found = BLOCK.finditer(page.read_text(encoding="utf-8"))
    return [
        Block(page, number, m[1], m[2], _continued(m[1], number))
        for number, m in enumerate(found, 1)
    ]


def _continued(code: str, number: int) -> int | None:
    """The block that `code`, block `number` of its page, says it continues, if any."""
    if not code.startswith("# continues"):
        return None
    named = re.match(r"# continues block (\d+)", code)
    earlier = int(named[1]) if named else number - 1
    assert 1 <= earlier < number, f"block {number} continues block {earlier}, not one before it"
    return earlier


def shown_code(pages: list[Path] = PAGES) -> str:
    """The code of every python block of these pages, joined."""
    return "\n".join(block.code for page in pages for block in python_blocks(page))


def chain(block: Block) -> list[Block]:
    """The blocks that run for `block`: those it continues, then itself."""
    if block.continues is None:
        return [block]
    return [*chain(python_blocks(block.page)[block.continues - 1]), block]


def block_params(pages: list[Path]) -> list:
    """One pytest param per block of these pages, skipped where it needs what is missing."""
    params = []
    for page in pages:
        for block in python_blocks(page):
            code = "\n".join(b.code for b in chain(block))
            marks = [
                pytest.mark.skip(reason=f"{block.name}: {why}")
                for mentions, available, why in NEEDS
                if mentions.search(code) and not available()
            ]
            params.append(pytest.param(block, marks=marks, id=f"{page.name}:{block.number}"))
    return params


def said(code: str) -> dict[range, str | None]:
    """Each print statement's lines, with the comment on the line that closes it (None
    where it has none)."""
    lines = code.splitlines()
    prints = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
            closing = lines[node.end_lineno - 1]
            comment = closing.split("  # ", 1)[1] if "  # " in closing else None
            prints[range(node.lineno, node.end_lineno + 1)] = comment
    return prints


def matches(output: str, text: str) -> bool:
    return output.startswith(text[:-3]) if text.endswith("...") else output == text


def matches_lines(lines: list[str], shown: list[str]) -> bool:
    """`lines` as `shown` says them ("..." for any number of lines, "text..." for a line
    that starts with text)."""
    if not shown:
        return not lines
    if shown[0] == "...":
        return any(matches_lines(lines[i:], shown[1:]) for i in range(len(lines) + 1))
    return bool(lines) and matches(lines[0], shown[0]) and matches_lines(lines[1:], shown[1:])


def run(block: Block, namespace: dict) -> None:
    """Run `block` in `namespace`, checking what it prints against what it says."""
    filename = block.name
    prints = said(block.code)
    if block.shown is None:
        silent = [lines.start for lines, comment in prints.items() if comment is None]
        assert not silent, f"{filename}: the print on line {silent[0]} says nothing"
    calls: list[tuple[int, str]] = []

    def recording_print(*args, file=None, **kwargs):  # the block's print
        if file is not None:
            return builtins.print(*args, file=file, **kwargs)
        written = io.StringIO()
        builtins.print(*args, file=written, **kwargs)
        caller = sys._getframe(1)
        if caller.f_code.co_filename == filename:
            calls.append((caller.f_lineno, written.getvalue()))
        sys.stdout.write(written.getvalue())
        return None

    namespace["print"] = recording_print
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.code, filename, "exec"), namespace)
    for line, output in calls:
        comment = next((text for lines, text in prints.items() if line in lines), None)
        if comment is not None:
            assert matches(output.rstrip("\n"), comment), (
                f"{filename}, line {line}: printed {output.rstrip()!r}, says {comment!r}"
            )
    if block.shown is not None:
        lines, shown = printed.getvalue().rstrip("\n").splitlines(), block.shown.splitlines()
        assert matches_lines(lines, shown), (
            f"{filename} printed, not what the text after it shows:\n{printed.getvalue()}"
        )


def run_with_what_it_continues(block: Block) -> None:
    namespace: dict = {}
    for earlier in chain(block)[:-1]:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(earlier.code, earlier.name, "exec"), namespace)
    run(block, namespace)
