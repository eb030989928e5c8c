"""Names as text that leaves the engine: on a terminal, in a page, in a comment, as code.

A tensor's name is whatever the user (or a file, or a data set) put there. Printed raw, a
newline in it ends a comment and starts a line of code, an ANSI escape recolours or clears
the terminal, and a right-to-left override (U+202E) reverses what the reader sees. Every
place that shows a name goes through one of these:

- `printable(text)`: the text with every character that is not plain printable text (control
  characters, format characters such as U+202E, line and paragraph separators, surrogates,
  unassigned code points) written as a visible escape, `\\x1b` or `\\u202e`. The result has no
  line break of any kind, so it is also safe in a Python comment (REFERENCE §8 lists the
  characters that end a line for some reader: all of them are escaped).
- `identifier(name, taken)`: a Python identifier made from the name, ASCII letters, digits and
  `_` only, never a keyword or a name in `taken`, which it is added to. A name never becomes
  code: at most an identifier that resembles it.
"""

from __future__ import annotations

import keyword
import re
import unicodedata

_NOT_PLAIN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escaped(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object) -> str:
    """`text` (made a string) with every non-printable character as a visible escape.

    >>> printable("loss\\n; import os")
    'loss\\\\x0a; import os'
    """
    text = str(text)
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escaped(c) if unicodedata.category(c) in _NOT_PLAIN else c for c in text)


_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def identifier(name: object, taken: set[str], fallback: str = "t") -> str:
    """A fresh ASCII identifier for `name`, added to `taken`.

    Runs of other characters become one `_` (`layers.0.weight` → `layers_0_weight`); a
    leading digit gets a `_` before it; an empty result becomes `fallback`; a keyword, or a
    name already in `taken`, gets a number after it (`W_2`).

    >>> taken = set()
    >>> identifier("layers.0.weight", taken), identifier("layers 0 weight", taken)
    ('layers_0_weight', 'layers_0_weight_2')
    """
    base = _NOT_IDENTIFIER.sub("_", str(name)).strip("_") or fallback
    if base[0].isdigit():
        base = "_" + base
    if keyword.iskeyword(base) or keyword.issoftkeyword(base):
        base += "_"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}_{number}"
    taken.add(candidate)
    return candidate
