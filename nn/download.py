"""Fetch the four official MNIST IDX files into a cache, verified, never half-written.

Each file is streamed to a temporary file in the cache directory, its *content* (the
decompressed IDX bytes, so a recompressed copy is accepted too) is checked against the
pinned SHA-256 digest and length, and only then is it renamed into place. On any failure
(HTTP error, lost connection, checksum mismatch, interruption) the temporary file is
removed and nothing is left behind; a temporary file that a killed download left is removed
by the next download of that file. Nothing is downloaded at import time.

Nothing a server sends is trusted: a download must finish within `timeout` seconds in all
(connecting, through a proxy, redirects, headers and body: a server trickling bytes is cut
off), may not exceed what the file can be (`max_size`: the pinned length plus gzip's
overhead), and is verified by decompressing it as a stream that stops one chunk past the
pinned length (a gzip bomb costs no memory). Whatever goes wrong is a one-line DataError
naming the address (a disk that is full: FileWriteError naming the file).

Where the files come from: `base_url`, else the environment variable `MIRROR_VARIABLE`
(AUTOGRAD_MINI_MNIST_MIRROR), else `DEFAULT_MIRROR`; an http:// or https:// address of a
folder holding the four .gz files. Proxies are taken from the usual environment variables
(https_proxy, http_proxy, no_proxy).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from autograd_mini.errors import FileWriteError
from autograd_mini.files import remove_leftovers, replacing
from autograd_mini.text import printable

from .data import CHUNK, IDX_FILES, DataError, open_stream

DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # PyTorch's copy of the originals
MIRROR_VARIABLE = "AUTOGRAD_MINI_MNIST_MIRROR"
"""The environment variable naming the mirror to use when `base_url` is not given."""
DEFAULT_TIMEOUT = 300.0
"""Seconds one file may take in all (the largest, 9.9 MB, needs 33 kB/s)."""
STALL = 30.0
"""Seconds without any data (connecting, waiting for the next bytes) that end a download."""
MAX_REDIRECTS = 10
"""Redirects followed for one file, at most (each one within the same deadline)."""

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


def mirror_url(url: str) -> str:
    """`url` checked to be an http:// or https:// address with a host (ending in "/");
    ValueError saying what is wrong otherwise."""
    if not isinstance(url, str):
        raise ValueError(f"a mirror is an address (text), got {type(url).__name__}")
    shown = printable(url)
    if not url.isprintable() or " " in url:
        raise ValueError(f"{shown} holds spaces or control characters; no address does")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{shown} is not an http:// or https:// address of a folder (for files on disk, "
            "use --data or load_mnist)"
        )
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when it is asked for)
    except ValueError:
        raise ValueError(f"{shown} has an invalid port") from None
    return url if url.endswith("/") else url + "/"


def _base_url(base_url: str | None) -> str:
    if base_url is not None:
        try:
            return mirror_url(base_url)
        except ValueError as exc:
            raise ValueError(f"download_mnist: base_url {exc}.") from None
    variable = os.environ.get(MIRROR_VARIABLE)
    if variable:
        try:
            return mirror_url(variable)
        except ValueError as exc:
            raise DataError(
                f"the environment variable {MIRROR_VARIABLE}: {exc}; set it to a mirror's "
                "address or unset it."
            ) from None
    return DEFAULT_MIRROR


def _make_cache(cache: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in [cache, *cache.parents] if p.exists() and not p.is_dir()), None)
        reason = f"{printable(blocker)} is a file, not a folder" if blocker else exc.strerror
        raise DataError(
            f"download_mnist: cannot use {printable(cache)} as the cache folder ({reason}); "
            f"give another cache_dir (the command line uses $XDG_CACHE_HOME/autograd_mini/mnist)."
        ) from None


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Make sure `cache_dir` holds the four verified IDX files; return the directory.

    base_url: the mirror (None: $AUTOGRAD_MINI_MNIST_MIRROR, else `DEFAULT_MIRROR`).
    progress: a tqdm bar per file (None: only when writing to a terminal). timeout: seconds
    each file may take in all, from connecting to its last byte, redirects included;
    `STALL` seconds (or `timeout`, when shorter) without data also end it. Raises DataError,
    naming the file and the reason, when a file cannot be fetched, is too slow or too big,
    or fails its checksum, or when the cache folder cannot be made.
    """
    if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
        raise ValueError(f"download_mnist: timeout must be a positive number, got {timeout!r}.")
    base = _base_url(base_url)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    _make_cache(cache)
    for name in CONTENT:
        target = cache / name
        remove_leftovers(target, ".part")  # of a killed download
        if target.is_file() and verify(target) is None:
            continue
        _fetch(base + name, target, progress, timeout)
    return cache


def _content_length(response: http.client.HTTPResponse, url: str, limit: int) -> int | None:
    header = response.headers.get("Content-Length")
    if header is None:
        return None
    try:
        size = int(header)
    except ValueError:
        raise DataError(
            f"downloading {url}: the server's Content-Length {printable(repr(header))[:40]} is "
            "not a number."
        ) from None
    if size < 0 or size > limit:
        raise DataError(
            f"downloading {url}: the server announces {size:,} bytes; the file is at most "
            f"{limit:,}. Refused before downloading."
        )
    return size


# ----------------------------------------------------------------------------------------
# One deadline for everything a download does
# ----------------------------------------------------------------------------------------


class _Deadline:
    """The time one file's download may take, enforced on every connection made for it (to
    the server or a proxy, and after each redirect): when it is up, they are all shut down,
    which ends whatever waits on them (a TLS handshake, headers arriving a byte at a time, the
    body). `received` counts the body's bytes, for the message."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self.received = 0
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for watched in self._watched:
                watched.close()
            self._watched.clear()

    def over(self) -> bool:
        return self.expired or time.monotonic() >= self.end

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for watched in self._watched:
                _shut(watched)

    def connect(self, address: tuple[str, int], timeout: object = None, source=None):
        """`socket.create_connection` within the deadline: each address tried with what is
        left of it (at most STALL), and the socket watched (a duplicate of it, which a TLS
        wrapper does not take over) until the download ends."""
        host, port = address
        failure: OSError = TimeoutError(errno.ETIMEDOUT, "timed out")
        for family, kind, protocol, _, where in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            left = self.end - time.monotonic()
            if self.expired or left <= 0:
                break
            sock = socket.socket(family, kind, protocol)
            try:
                sock.settimeout(min(STALL, left))
                if source:
                    sock.bind(source)
                sock.connect(where)
                with self._lock:
                    self._watched.append(sock.dup())
                    if self.expired:
                        _shut(sock)
                return sock
            except OSError as exc:
                sock.close()
                failure = exc
        raise failure

    def connection(self, cls: type[http.client.HTTPConnection]):
        """A factory of `cls` connections whose sockets are made by `connect`."""

        def make(host: str, **options) -> http.client.HTTPConnection:
            connection = cls(host, **options)
            connection._create_connection = self.connect  # how http.client makes its sockets
            return connection

        return make


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed, or never connected
        sock.shutdown(socket.SHUT_RDWR)


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(self.deadline.connection(http.client.HTTPConnection), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline
        self.context = ssl.create_default_context()

    def https_open(self, req):
        connection = self.deadline.connection(http.client.HTTPSConnection)
        return self.do_open(connection, req, context=self.context)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS redirects, without reading their bodies."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            fp.close()  # what a redirect's body holds is not needed (nor read)
        return new


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """http and https (through the environment's proxies), within `deadline`; nothing else."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTP(deadline),
        _HTTPS(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        _Redirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


# ----------------------------------------------------------------------------------------
# Fetching one file
# ----------------------------------------------------------------------------------------


def _broken(exc: BaseException) -> str:
    """What an error of the connection or of the server's answer says, in one line."""
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
        detail = printable(str(exc).strip())[:100]
        return (
            f"the answer is not valid HTTP ({type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + "): check the address, and the proxy if one is set (https_proxy, http_proxy)"
        )
    return printable(str(exc) or type(exc).__name__)[:200]


def _fetch(url: str, target: Path, progress: bool | None, timeout: float) -> None:
    shown = printable(url)
    with replacing(target, "download_mnist", suffix=".part") as out:
        with _Deadline(timeout) as deadline:
            try:
                _receive(url, out.file, target.name, progress, deadline)
            except FileWriteError:
                raise
            except Exception:
                if not deadline.over():
                    raise
                # whatever failed, failed because the time was up (its connection was shut)
            if deadline.expired or deadline.over():
                raise DataError(
                    f"downloading {shown}: not finished after {timeout:g} s "
                    f"({deadline.received:,} bytes received); the server is too slow. Try "
                    "again later, or allow more time (timeout=)."
                ) from None
        out.finish()
        problem = verify(out.temporary, target.name)
        if problem is not None:
            raise DataError(f"downloaded {shown}, but {problem}")


def _receive(url: str, file, name: str, progress: bool | None, deadline: _Deadline) -> None:
    """Stream `url` into `file`, within `deadline` and the size `name` can have."""
    from tqdm import tqdm

    shown = printable(url)
    limit = max_size(name)
    try:
        response = _opener(deadline).open(url, timeout=min(deadline.seconds, STALL))
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DataError(f"downloading {shown}: HTTP {exc.code} {printable(exc.reason)}.") from None
    except urllib.error.URLError as exc:
        raise DataError(f"downloading {shown}: {_broken(exc.reason)}.") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DataError(f"downloading {shown}: {_broken(exc)}.") from None
    with response:
        size = _content_length(response, shown, limit)
        disable = None if progress is None else not progress
        with tqdm(
            total=size, unit="B", unit_scale=True, desc=name, disable=disable, leave=False
        ) as bar:
            while True:
                if deadline.over():
                    raise TimeoutError  # _fetch says what happened
                try:
                    chunk = response.read1(1 << 16)  # whatever has arrived, ≤ 64 KiB
                except (OSError, http.client.HTTPException) as exc:
                    raise DataError(
                        f"downloading {shown}: the connection broke ({_broken(exc)})."
                    ) from None
                if not chunk:
                    return
                deadline.received += len(chunk)
                if deadline.received > limit:
                    raise DataError(
                        f"downloading {shown}: the server sends more than {limit:,} bytes, more "
                        f"than {name} can be; stopped."
                    )
                file.write(chunk)
                bar.update(len(chunk))
