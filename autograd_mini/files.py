"""Files written whole or not at all: pages, drawings, checkpoints, downloads, CLI outputs.

    with replacing("page.html", "save_html") as out:   # the temporary file exists now
        out.file.write(data)                            # a binary file
    # here page.html holds all of `data`, or (on any exception) is exactly as it was

`replacing` creates a temporary file beside the target *first*, so a path that cannot be
written (no such folder, a read-only file system, no permission, a NUL in the name) fails
before any work is done. What is written goes to that file; when the block ends, the file
is flushed, synced to disk and renamed over the target (`os.replace`, atomic on one file
system). On any failure the temporary file is removed and the target is untouched. A failed
write raises `FileWriteError` (an `OSError`), whose one-line message names the caller, the
file and the reason: "save_svg: could not write g.svg: No space left on device; g.svg is
unchanged."

A symbolic link is written through, as `open()` would: its target is replaced and the link
kept. What exists and is no regular file (a device such as /dev/null or /dev/stdout, a pipe)
cannot be replaced, and is written directly. The new file gets the permission bits of the
file it replaces, or those of any new file of the user (0666 minus the umask;
`tempfile.mkstemp` alone would give 0600).

The temporary file is `.<target name>.<pid>.<random><suffix>` (pid: the writing process).
A writer killed by SIGKILL or a power cut cannot remove it; the next write of the same
target removes such leftovers, but only those whose process is gone: a live writer's file
(another process saving the same checkpoint, downloading into the same cache) is never
touched.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FileWriteError
from .text import printable

_OWNER_AND_RANDOM = re.compile(r"([1-9][0-9]{0,9})\.[a-z0-9_]{8}")
"""What follows `.<target name>.` in a temporary file's name: the writer's pid, a dot and
the eight random characters of `tempfile.mkstemp`."""
_NAME_BYTES = 120
"""The longest target name (in bytes) a temporary file repeats: the temporary name stays
within the 255 bytes a file name may have."""


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


def _prefix(target: Path) -> str:
    name = os.fsdecode(os.fsencode(target.name)[:_NAME_BYTES])
    return f".{name}."


def _running(pid: int) -> bool:
    """Whether process `pid` exists (elsewhere than on POSIX: assumed, so nothing is removed)."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only the process's existence is checked
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    except OSError:  # e.g. PermissionError: another user's process, alive
        return True
    return True


def leftovers(target: str | os.PathLike, suffix: str) -> list[Path]:
    """Temporary files of `target` (see the module's docstring) whose writer has died: never
    those of a live process, nor of another target (whose name would put more characters
    between the dots)."""
    target = Path(target)
    prefix = _prefix(target)
    found = []
    for path in target.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        middle = path.name[len(prefix) : len(path.name) - len(suffix)]
        match = _OWNER_AND_RANDOM.fullmatch(middle)
        if match and not _running(int(match.group(1))):
            found.append(path)
    return sorted(found)


def remove_leftovers(target: str | os.PathLike, suffix: str) -> None:
    """Remove `leftovers(target, suffix)` (those that cannot be removed stay)."""
    for path in leftovers(target, suffix):
        with contextlib.suppress(OSError):
            path.unlink()


def _failed(caller: str, shown: str, exc: OSError, outcome: str) -> FileWriteError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return FileWriteError(
        f"{caller}: could not write {shown}: {printable(reason)}{outcome}.", exc.errno, shown
    )


class _Raw(io.FileIO):
    """The temporary file: a failed write raises FileWriteError naming the target."""

    replacement: Replacement

    def write(self, data) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as exc:
            raise self.replacement.error(exc) from None


class Replacement:
    """A file being written to replace `target`, from `replacing`: write to `.file` (binary);
    `.temporary` is its path (read it back, after `finish()`, to check it). A target that is
    no regular file (a device such as /dev/null, a pipe) cannot be replaced: it is written
    directly, as `open` would."""

    def __init__(
        self,
        target: Path,
        shown: str,
        caller: str,
        suffix: str = ".tmp",
        folders: bool = False,
        direct: bool = False,
    ) -> None:
        self.target, self.shown, self.caller, self.direct = target, shown, caller, direct
        if direct:
            self.outcome = ""
        elif target.exists():
            self.outcome = f"; {shown} is unchanged"
        else:
            self.outcome = "; nothing was written"
        if folders:
            _make_folders(target.parent, self)
        if direct:
            try:
                handle = os.open(target, os.O_WRONLY)
            except OSError as exc:
                raise self.error(exc) from None
            self.temporary = target
        else:
            handle = self._create(suffix)
        raw = _Raw(handle, "w")
        raw.replacement = self
        self.file = io.BufferedWriter(raw)

    def _create(self, suffix: str) -> int:
        """The temporary file, open, with the mode the target will have."""
        target = self.target
        remove_leftovers(target, suffix)
        try:
            mode = target.stat().st_mode & 0o7777 if target.is_file() else 0o666 & ~umask()
            handle, name = tempfile.mkstemp(
                dir=target.parent, prefix=f"{_prefix(target)}{os.getpid()}.", suffix=suffix
            )
        except FileNotFoundError as exc:
            if target.parent.is_dir():
                raise self.error(exc) from None
            raise self.error(
                FileNotFoundError(errno.ENOENT, f"there is no folder {printable(target.parent)}")
            ) from None
        except OSError as exc:
            raise self.error(exc) from None
        self.temporary = Path(name)
        try:
            os.chmod(name, mode)
        except OSError as exc:
            os.close(handle)
            self.temporary.unlink(missing_ok=True)
            raise self.error(exc) from None
        return handle

    def error(self, exc: OSError) -> FileWriteError:
        """`exc` as the FileWriteError of this write."""
        return _failed(self.caller, self.shown, exc, self.outcome)

    def finish(self) -> None:
        """Flush the file, sync it to disk and close it (once; later calls do nothing)."""
        if self.file.closed:
            return
        try:
            self.file.flush()
            if not self.direct:  # a device or a pipe has nothing to sync
                os.fsync(self.file.fileno())
            self.file.close()
        except FileWriteError:
            raise
        except OSError as exc:
            raise self.error(exc) from None

    def commit(self) -> None:
        """Finish the file and rename it over the target."""
        self.finish()
        if self.direct:
            return
        try:
            os.replace(self.temporary, self.target)
        except OSError as exc:
            raise self.error(exc) from None
        with contextlib.suppress(OSError):  # the rename itself, on disk (POSIX only)
            folder = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def discard(self) -> None:
        """Close and remove the temporary file; the target stays as it was."""
        with contextlib.suppress(OSError):
            self.file.close()
        if not self.direct:
            self.temporary.unlink(missing_ok=True)


def _make_folders(folder: Path, replacement: Replacement) -> None:
    """Create `folder` and its missing parents; FileWriteError (naming the file in the way, if
    that is the reason) when they cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next(
            (p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None
        )
        reason = exc
        if blocker is not None:
            reason = NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder")
        raise replacement.error(reason) from None


def _target(path: str | os.PathLike, caller: str) -> tuple[Path, str, bool]:
    """The file to replace (a symbolic link's target, followed as `open` would), the path as
    the messages show it, and whether it is to be written directly (it exists and is no
    regular file: a device such as /dev/null or /dev/stdout, a pipe). FileWriteError for a
    path no file can have, and for a folder."""
    shown = printable(os.fspath(path))
    if "\0" in os.fspath(path):
        raise FileWriteError(
            f"{caller}: the path {shown} holds a NUL character, which no file name can; "
            "give another path.",
            errno.EINVAL,
            shown,
        )
    try:
        kind = os.stat(path).st_mode
    except OSError:  # nothing there (yet), or a dangling link: a new file
        kind = None
    if kind is not None and stat.S_ISDIR(kind):
        raise FileWriteError(
            f"{caller}: {shown} is a folder; give the path of a file.", errno.EISDIR, shown
        )
    if kind is not None and not stat.S_ISREG(kind):
        return Path(path), shown, True
    return Path(os.path.realpath(path)), shown, False


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike, caller: str, *, suffix: str = ".tmp", folders: bool = False
) -> Iterator[Replacement]:
    """Write the file at `path` whole or not at all (see the module's docstring): yields a
    `Replacement` whose `.file` the block writes; the temporary file exists before the block
    runs. `caller` starts the messages of FileWriteError ("save_html", "--save"); `folders`:
    create the missing folders of `path` first."""
    target, shown, direct = _target(path, caller)
    replacement = Replacement(target, shown, caller, suffix, folders, direct)
    try:
        yield replacement
        replacement.commit()
    except BaseException:
        replacement.discard()
        raise


def write_file(path: str | os.PathLike, data: bytes | str, caller: str) -> Path:
    """Write `data` (text as UTF-8) to `path`, whole or not at all; returns `Path(path)`."""
    with replacing(path, caller) as out:
        out.file.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
