"""What the command line writes to standard output and standard error, made to arrive.

- An output whose encoding cannot show a symbol the commands print (→ × ✓ ✗ σ η …, e.g. under
  `PYTHONIOENCODING=ascii`, latin-1 or a Windows cp1252 redirect) gets the symbol's ASCII
  spelling from `ASCII_SPELLINGS` (`->`, `x`, `ok`, `NO`, `sigma`, `eta`, …); any other such
  character is written as a backslash escape (`\\u2207`).
- A failed write to standard output raises `StandardOutputError`, which says "standard output"
  and whether the reader went away (a closed pipe, `| head -1`): a command then stops quietly,
  as Unix tools do, instead of reporting an error about a file it never named.

`command_output()` sets both up for one command and restores the streams afterwards.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any

ASCII_SPELLINGS: dict[str, str] = {
    "→": "->",
    "←": "<-",
    "↔": "<->",
    "×": "x",
    "✓": "ok",
    "✗": "NO",
    "•": "*",
    "·": "*",
    "⊙": "*",
    "−": "-",
    "–": "-",
    "—": "--",
    "…": "...",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "≈": "~",
    "±": "+/-",
    "′": "'",
    "″": "''",
    "‴": "'''",
    "²": "^2",
    "³": "^3",
    "ᵀ": "^T",
    "ᴸ": "^L",
    "ˡ": "^l",
    "ℓ": "l",
    "√": "sqrt",
    "‖": "||",
    "∂": "d",
    "∇": "grad ",
    "∞": "inf",
    "σ": "sigma",
    "η": "eta",
    "λ": "lambda",
    "μ": "mu",
    "µ": "mu",
    "β": "beta",
    "δ": "delta",
    "Δ": "Delta",
    "Σ": "Sum",
}
"""ASCII spellings of the symbols the commands print, for outputs that cannot encode them."""

ERROR_HANDLER = "autograd_mini.ascii_spelling"
"""The codec error handler (see `codecs.register_error`) that writes those spellings."""


def _spell(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    spelled = "".join(
        ASCII_SPELLINGS.get(c) or c.encode("ascii", "backslashreplace").decode("ascii")
        for c in text
    )
    return spelled, error.end


codecs.register_error(ERROR_HANDLER, _spell)


def _cannot_show_symbols(stream: Any) -> bool:
    try:
        "".join(ASCII_SPELLINGS).encode(stream.encoding)
    except (UnicodeEncodeError, LookupError, TypeError):
        return True
    except AttributeError:  # not a text stream: nothing to spell
        return False
    return False


class StandardOutputError(OSError):
    """Writing to standard output failed. `closed`: the reader went away (a broken pipe)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.closed = isinstance(cause, BrokenPipeError) or cause.errno == errno.EPIPE

    def __str__(self) -> str:
        return f"cannot write to standard output ({self.strerror or 'write failed'})."


class _Watched:
    """A stream whose failed writes and flushes raise StandardOutputError; everything else
    (encoding, isatty, fileno, …) is the stream's own. A failed write is raised again by the
    next flush, for callers that swallow it (argparse's --help does)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._failure: StandardOutputError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._stream.write(data)
        except OSError as exc:
            self._failure = StandardOutputError(exc)
            raise self._failure from exc

    def flush(self) -> None:
        if self._failure is not None:
            raise self._failure
        try:
            self._stream.flush()
        except OSError as exc:
            raise StandardOutputError(exc) from exc

    @property
    def buffer(self) -> _Watched:
        return _Watched(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def discard_standard_output(stream: Any = None) -> None:
    """Point standard output's file descriptor at os.devnull: what is still buffered for an
    output that failed is then dropped when Python flushes it at exit, without a second error."""
    stream = sys.stdout if stream is None else stream
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no file descriptor (a captured stream): nothing to drop
        return
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def report(line: str) -> None:
    """Write one line to standard error; an error output that is itself gone is let go."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def command_output() -> Iterator[None]:
    """For one command: ASCII spellings on standard output and error where their encoding
    needs them, and writes to standard output that raise `StandardOutputError`."""
    spelled = []
    for stream in (sys.stdout, sys.stderr):
        reconfigurable = hasattr(stream, "reconfigure") and _cannot_show_symbols(stream)
        if reconfigurable and stream.errors in ("strict", "backslashreplace"):  # the defaults
            spelled.append((stream, stream.errors))
            stream.reconfigure(errors=ERROR_HANDLER)
    original = sys.stdout
    sys.stdout = _Watched(original)
    try:
        yield
    finally:
        sys.stdout = original
        for stream, errors in spelled:
            with contextlib.suppress(OSError):
                stream.reconfigure(errors=errors)
