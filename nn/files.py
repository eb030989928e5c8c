"""Writing a file so that it is never half-written: a temporary file beside the target,
renamed into place when it is complete (checkpoints, downloads).

The temporary file is named `.<target name>.<random><suffix>` in the target's directory, so
the rename never crosses file systems, and it gets the mode any new file of the user gets
(0666 minus the umask; `tempfile.mkstemp` alone would leave 0600). Temporary files of the
same target left behind by a killed process (SIGKILL, power loss: nothing could remove them)
are removed by the next write of that target.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from pathlib import Path

RANDOM = re.compile("[a-z0-9_]{8}")  # what tempfile.mkstemp puts between prefix and suffix


def umask() -> int:
    """The process's umask (read from /proc on Linux; elsewhere set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def leftovers(target: Path, suffix: str) -> list[Path]:
    """Temporary files that earlier writes of `target` left behind (see `temporary_beside`):
    `.<name>.` + mkstemp's eight random characters + suffix, so never those of another
    target (whose name would put more characters between the dots)."""
    pattern = f".{glob.escape(target.name)}.{'?' * 8}{glob.escape(suffix)}"
    return sorted(
        p
        for p in target.parent.glob(pattern)
        if RANDOM.fullmatch(p.name[-len(suffix) - 8 : -len(suffix)])
    )


def temporary_beside(target: Path, suffix: str) -> tuple[int, Path]:
    """A new, empty temporary file for `target`: (open descriptor, path).

    Leftovers of earlier killed writes of the same target are removed first. The caller
    writes, then `os.replace(path, target)`, and removes `path` if anything fails.
    """
    for old in leftovers(target, suffix):
        old.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    try:
        os.chmod(name, 0o666 & ~umask())
    except BaseException:
        os.close(handle)
        Path(name).unlink(missing_ok=True)
        raise
    return handle, Path(name)
