"""Fetch the four official MNIST IDX files into a cache, verified, never half-written.

Each file is streamed to a temporary file in the cache directory, its *content* (the
decompressed IDX bytes, so a recompressed copy is accepted too) is checked against the
pinned SHA-256 digest and length, and only then is it renamed into place. On any failure
(HTTP error, lost connection, checksum mismatch, interruption) the temporary file is
removed and nothing is left behind; a temporary file that a killed download left is removed
by the next download of that file. Nothing is downloaded at import time.

Nothing a server sends is trusted: a download must finish within `timeout` seconds (a
server trickling bytes is cut off), may not exceed what the file can be (`max_size`: the
pinned length plus gzip's overhead), and is verified by decompressing it as a stream that
stops one chunk past the pinned length (a gzip bomb costs no memory).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from autograd_mini.files import remove_leftovers, replacing

from .data import CHUNK, IDX_FILES, DataError, open_stream

DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # PyTorch's copy of the originals
DEFAULT_TIMEOUT = 300.0
"""Seconds one file may take in all (the largest, 9.9 MB, needs 33 kB/s)."""
STALL = 30.0
"""Seconds without any data (connecting, waiting for the next bytes) that end a download."""

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


def max_size(name: str) -> int:
    """The most bytes a download of `name` may take: its pinned (decompressed) length, served
    as it is or gzipped (deflate adds at most 5 bytes per 64 KiB block, gzip ~20 bytes and the
    file name), with room to spare."""
    length = CONTENT[name][1]
    return length + length // 1000 + 4096


def verify(path: Path, name: str | None = None) -> str | None:
    """None when the file holds the content expected of `name` (default: its own name),
    else a sentence saying what is wrong with it. The file is decompressed as a stream and
    given up as soon as it holds more than the pinned length."""
    name = name or path.name
    digest, length = CONTENT[name]
    hasher, count = hashlib.sha256(), 0
    try:
        with open_stream(path) as stream:
            while chunk := stream.read(CHUNK):
                count += len(chunk)
                if count > length:
                    return (
                        f"{name}: holds more than the {length:,} bytes of the real file "
                        "(decompression stopped there)."
                    )
                hasher.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        return f"{name}: the gzip data is corrupt or cut short ({exc})."
    got = hasher.hexdigest()
    if count != length or got != digest:
        return (
            f"{name}: checksum mismatch: expected SHA-256 {digest} ({length} bytes), "
            f"got {got} ({count} bytes)."
        )
    return None


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    base_url: str = DEFAULT_MIRROR,
    progress: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Make sure `cache_dir` holds the four verified IDX files; return the directory.

    progress: a tqdm bar per file (None: only when writing to a terminal). timeout: seconds
    each file may take in all; `STALL` seconds (or `timeout`, when shorter) without data
    also end it. Raises DataError, naming the file and the reason, when a file cannot be
    fetched, is too slow or too big, or fails its checksum.
    """
    if not timeout > 0:
        raise ValueError(f"download_mnist: timeout must be a positive number, got {timeout!r}.")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for name in CONTENT:
        target = cache / name
        remove_leftovers(target, ".part")  # of a killed download
        if target.is_file() and verify(target) is None:
            continue
        _fetch(base_url.rstrip("/") + "/" + name, target, progress, timeout)
    return cache


def _content_length(response: http.client.HTTPResponse, url: str, limit: int) -> int | None:
    header = response.headers.get("Content-Length")
    if header is None:
        return None
    try:
        size = int(header)
    except ValueError:
        raise DataError(
            f"downloading {url}: the server's Content-Length {header!r:.40} is not a number."
        ) from None
    if size < 0 or size > limit:
        raise DataError(
            f"downloading {url}: the server announces {size:,} bytes; the file is at most "
            f"{limit:,}. Refused before downloading."
        )
    return size


def _fetch(url: str, target: Path, progress: bool | None, timeout: float) -> None:
    from tqdm import tqdm

    limit = max_size(target.name)
    deadline = time.monotonic() + timeout
    with replacing(target, "download_mnist", suffix=".part") as out:
        file = out.file
        try:
            response = urllib.request.urlopen(url, timeout=min(timeout, STALL))
        except urllib.error.HTTPError as exc:
            raise DataError(f"downloading {url}: HTTP {exc.code} {exc.reason}.") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(f"downloading {url}: {reason}.") from None
        with response:
            size = _content_length(response, url, limit)
            disable = None if progress is None else not progress
            with tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc=target.name,
                disable=disable,
                leave=False,
            ) as bar:
                received = 0
                while True:
                    if time.monotonic() > deadline:
                        raise DataError(
                            f"downloading {url}: not finished after {timeout:g} s "
                            f"({received:,} bytes received); the server is too slow. Try "
                            "again later, or allow more time (timeout=)."
                        )
                    try:
                        chunk = response.read1(1 << 16)  # whatever has arrived, ≤ 64 KiB
                    except (OSError, http.client.HTTPException) as exc:
                        reason = str(exc) or type(exc).__name__
                        raise DataError(
                            f"downloading {url}: the connection broke ({reason})."
                        ) from None
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > limit:
                        raise DataError(
                            f"downloading {url}: the server sends more than {limit:,} "
                            f"bytes, more than {target.name} can be; stopped."
                        )
                    file.write(chunk)
                    bar.update(len(chunk))
        out.finish()
        problem = verify(out.temporary, target.name)
        if problem is not None:
            raise DataError(f"downloaded {url}, but {problem}")
