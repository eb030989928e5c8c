"""Fetch the four official MNIST IDX files into a cache, verified, never half-written.

Each file is streamed to a temporary file in the cache directory, its *content* (the
decompressed IDX bytes, so a recompressed copy is accepted too) is checked against the
pinned SHA-256 digest and length, and only then is it renamed into place. On any failure
(HTTP error, lost connection, checksum mismatch, interruption) the temporary file is
removed and nothing is left behind. Files already present and valid are not fetched again.
Nothing is downloaded at import time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .data import IDX_FILES, DataError, read_bytes

DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # PyTorch's copy of the originals

CONTENT = {  # file → (SHA-256 of the decompressed IDX bytes, their length)
    "train-images-idx3-ubyte.gz": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        47_040_016,
    ),
    "train-labels-idx1-ubyte.gz": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        60_008,
    ),
    "t10k-images-idx3-ubyte.gz": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        7_840_016,
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        10_008,
    ),
}
assert set(CONTENT) == {f"{stem}.gz" for pair in IDX_FILES.values() for stem in pair}


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/autograd_mini/mnist`, else `~/.cache/autograd_mini/mnist`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autograd_mini" / "mnist"


def verify(path: Path, name: str | None = None) -> str | None:
    """None when the file holds the content expected of `name` (default: its own name),
    else a sentence saying what is wrong with it."""
    name = name or path.name
    digest, length = CONTENT[name]
    try:
        content = read_bytes(path)
    except DataError as exc:
        return str(exc).replace(path.name, name)
    got = hashlib.sha256(content).hexdigest()
    if len(content) != length or got != digest:
        return (
            f"{name}: checksum mismatch: expected SHA-256 {digest} ({length} bytes), "
            f"got {got} ({len(content)} bytes)."
        )
    return None


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    base_url: str = DEFAULT_MIRROR,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make sure `cache_dir` holds the four verified IDX files; return the directory.

    progress: a tqdm bar per file (None: only when writing to a terminal). Raises DataError,
    naming the file and the reason, when a file cannot be fetched or fails its checksum.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for name in CONTENT:
        target = cache / name
        if target.is_file() and verify(target) is None:
            continue
        _fetch(base_url.rstrip("/") + "/" + name, target, progress, timeout)
    return cache


def _fetch(url: str, target: Path, progress: bool | None, timeout: float) -> None:
    from tqdm import tqdm

    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except urllib.error.HTTPError as exc:
                raise DataError(f"downloading {url}: HTTP {exc.code} {exc.reason}.") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DataError(f"downloading {url}: {reason}.") from None
            with response:
                size = int(response.headers.get("Content-Length") or 0) or None
                disable = None if progress is None else not progress
                with tqdm(
                    total=size,
                    unit="B",
                    unit_scale=True,
                    desc=target.name,
                    disable=disable,
                    leave=False,
                ) as bar:
                    try:
                        while chunk := response.read(1 << 16):
                            file.write(chunk)
                            bar.update(len(chunk))
                    except OSError as exc:
                        raise DataError(
                            f"downloading {url}: the connection broke ({exc})."
                        ) from None
        problem = verify(Path(temporary), target.name)
        if problem is not None:
            raise DataError(f"downloaded {url}, but {problem}")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
