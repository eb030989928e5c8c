"""Hostile and broken input files: decompression bombs, pickles that allocate, and servers
(or proxies) that trickle, redirect, never stop, lie or do not speak HTTP. Each is refused
with a DataError, within the download's one deadline, and the peak memory spent on it
(numpy's and Python's allocations, as tracemalloc sees them) stays within about twice the
size of a legitimate file."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import http.server
import json
import pickle
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import LocalServer, killed_writer, write_tiny_mnist

import nn.data
import nn.download
from nn.cli import main
from nn.data import DataError, load_mnist
from nn.download import download_mnist, verify

MiB = 1 << 20
SLACK = MiB  # buffers of gzip, zlib and the interpreter, whatever the file


def peak_of(function) -> tuple[int, BaseException | None]:
    """(peak bytes allocated while `function()` ran, the exception it raised)."""
    tracemalloc.start()
    error = None
    try:
        function()
    except Exception as exc:
        error = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, error


def gzip_of_zeros(path: Path, head: bytes, zeros: int) -> None:
    """A gzip file of `head` followed by `zeros` zero bytes, written without holding them."""
    with gzip.open(path, "wb", compresslevel=1) as file:
        file.write(head)
        block = bytes(MiB)
        for _ in range(zeros // MiB):
            file.write(block)
        file.write(bytes(zeros % MiB))


def idx_header(magic: int, *dims: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)


# ---------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------


def write_labels_and_tests(directory: Path, n_train: int) -> None:
    """The three other files of an IDX directory, small and valid."""
    labels = np.arange(n_train, dtype=np.uint8) % 10
    (directory / "train-labels-idx1-ubyte").write_bytes(
        idx_header(2049, n_train) + labels.tobytes()
    )
    (directory / "t10k-images-idx3-ubyte").write_bytes(idx_header(2051, 2, 28, 28) + bytes(1568))
    (directory / "t10k-labels-idx1-ubyte").write_bytes(idx_header(2049, 2) + bytes(2))


def test_an_idx_gzip_bomb_is_refused_after_the_announced_size(tmp_path):
    """12 images announced (9,424 bytes), 64 MiB of zeros behind them, 65 KB compressed."""
    write_labels_and_tests(tmp_path, 12)
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_of_zeros(bomb, idx_header(2051, 12, 28, 28), 64 * MiB)
    assert bomb.stat().st_size < 300_000
    peak, error = peak_of(lambda: load_mnist(tmp_path, validation_size=2))
    assert isinstance(error, DataError) and "followed by extra bytes" in str(error)
    legitimate = 16 + 12 * 784
    assert peak < 2 * legitimate + SLACK, peak


def test_an_idx_header_announcing_too_much_is_refused_before_reading(tmp_path):
    """4,000,000,000 images (3 TB) announced in a 16-byte header: refused, nothing read."""
    write_labels_and_tests(tmp_path, 12)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_header(2051, 4_000_000_000, 28, 28) + bytes(100))
    )
    peak, error = peak_of(lambda: load_mnist(tmp_path, validation_size=2))
    assert isinstance(error, DataError) and "4,000,000,000 entries" in str(error)
    assert peak < SLACK, peak


def test_an_uncompressed_idx_file_is_checked_against_its_header_before_reading(tmp_path):
    write_labels_and_tests(tmp_path, 60_000)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_header(2051, 60_000, 28, 28) + bytes(9))
    peak, error = peak_of(lambda: load_mnist(tmp_path, validation_size=2))
    assert isinstance(error, DataError) and "the file has 25." in str(error)
    assert peak < SLACK, peak  # not the 47 MB the header announces


# ---------------------------------------------------------------------------------------
# Pickles
# ---------------------------------------------------------------------------------------

_reconstruct = np._core.multiarray._reconstruct


class Reduce:
    """Pickles as `function(*args)` (then `__setstate__(state)` when a state is given)."""

    def __init__(self, function, args, state=None):
        self.value = (function, args) if state is None else (function, args, state)

    def __reduce__(self):
        return self.value


OBJECTS = np.dtype(object)
HOSTILE_PICKLES = {
    "numpy.ndarray called directly (320 MB of object pointers)": (
        Reduce(np.ndarray, ((40_000_000,), OBJECTS)),
        "calls numpy.ndarray(...) itself",
    ),
    "_reconstruct of a full array": (
        Reduce(_reconstruct, (np.ndarray, (40_000_000,), OBJECTS)),
        "_reconstruct in a way numpy never does",
    ),
    "an object array filled in by __setstate__": (
        Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, (40_000_000,), OBJECTS, False, [])),
        "an array of Python objects",
    ),
    "a 800 MB float array with 2 bytes of data": (
        Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, (10**8,), np.dtype("f8"), False, b"ab")),
        "more than a whole MNIST pickle",
    ),
    "a 80 MB float array with 8 bytes of data": (
        Reduce(
            _reconstruct, (np.ndarray, (0,), b"b"), (1, (10**7,), np.dtype("f8"), False, b"x" * 8)
        ),
        "comes with 8 bytes of data instead of 80000000",
    ),
    "a 100 MB scalar made of nothing": (
        Reduce(np._core.multiarray.scalar, (np.dtype(("V", 10**8)),)),
        "scalar from data of the wrong size",
    ),
    "bytes(n): n zero bytes": (Reduce(bytes, (10**8,)), "bytes(...) with arguments"),
    "a codec that grows its input": (
        Reduce(codecs.encode, (b"x" * 100, "hex_codec")),
        "encodes with 'hex_codec'",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_PICKLES))
def test_a_pickle_of_allowed_globals_cannot_allocate(tmp_path, name):
    payload, message = HOSTILE_PICKLES[name]
    path = tmp_path / "mnist.pkl"
    path.write_bytes(pickle.dumps((payload, 1, 2), protocol=2))
    assert path.stat().st_size < 300
    peak, error = peak_of(lambda: load_mnist(path))
    assert isinstance(error, DataError), error
    assert message in str(error) and "may be malicious" in str(error)
    assert peak < SLACK, peak


def test_a_pickle_of_many_instructions_is_stopped(tmp_path):
    """One byte, `}`, builds an empty dict of 64 bytes: 240 MB of them would be 15 GB."""
    body = b"\x80\x02(" + b"}" * 1_000_000 + b"l."  # PROTO 2, MARK, EMPTY_DICT ×10⁶, LIST, STOP
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(body))
    peak, error = peak_of(lambda: load_mnist(path))
    assert isinstance(error, DataError) and "more than 10,000 instructions" in str(error)
    assert peak < SLACK, peak


def test_a_pickle_gzip_bomb_is_stopped_at_the_cap(tmp_path, monkeypatch):
    """The cap is PICKLE_MAX_BYTES (240 MB, just above Nielsen's 222 MB); here 2 MiB, for a
    bomb of 32 MiB: decompression stops at the cap, and no more than it is held."""
    cap = 2 * MiB
    monkeypatch.setattr(nn.data, "PICKLE_MAX_BYTES", cap)
    path = tmp_path / "mnist.pkl.gz"
    content = nn_layout_with(np.zeros((32 * MiB // 3136, 784), dtype=np.float32))
    path.write_bytes(gzip.compress(pickle.dumps(content, protocol=4), compresslevel=1))
    assert path.stat().st_size < 200_000
    peak, error = peak_of(lambda: load_mnist(path))
    assert isinstance(error, DataError) and "decompresses to more than 2,097,152 bytes" in str(
        error
    )
    assert peak < 2 * cap + SLACK, peak


def nn_layout_with(X):
    y = np.zeros(len(X), dtype=np.int64)
    return ((X, y), (X[:1], y[:1]), (X[:1], y[:1]))


def test_a_pickle_right_at_the_cap_loads_and_one_byte_over_is_refused(tmp_path, monkeypatch):
    path = write_tiny_mnist(tmp_path / "mnist.pkl.gz")
    size = len(gzip.decompress(path.read_bytes()))
    monkeypatch.setattr(nn.data, "PICKLE_MAX_BYTES", size)
    assert load_mnist(path).train[0].shape == (40, 784)
    monkeypatch.setattr(nn.data, "PICKLE_MAX_BYTES", size - 1)
    with pytest.raises(DataError, match=f"decompresses to more than {size - 1:,} bytes"):
        load_mnist(path)


def test_the_cap_is_above_the_real_pickle():
    assert nn.data.PICKLE_MAX_BYTES > 222_134_543  # gzip -l ../shared/data/mnist.pkl.gz


def test_legitimate_pickles_of_every_protocol_still_load(tmp_path):
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path = write_tiny_mnist(tmp_path / f"p{protocol}.pkl.gz", sizes=(40, 0, 30))
        content = pickle.loads(gzip.decompress(path.read_bytes()))
        path.write_bytes(gzip.compress(pickle.dumps(content, protocol=protocol)))
        data = load_mnist(path)
        assert type(data.train[0]) is np.ndarray and data.train[0].shape == (40, 784)
        assert np.array_equal(data.train[0], content[0][0])
        assert data.validation[0].shape == (0, 784)  # an empty array: bytes() in protocol 2


# ---------------------------------------------------------------------------------------
# The downloader, against servers on 127.0.0.1 that misbehave
# ---------------------------------------------------------------------------------------


class Server(LocalServer):
    """An HTTP server on 127.0.0.1 answering every GET with `respond(handler)`."""

    def __init__(self, respond):
        outer = self
        self.stop = threading.Event()
        self.sent = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with contextlib.suppress(OSError):  # the client hung up, as these tests expect
                    respond(self, outer)

            do_CONNECT = do_GET  # noqa: N815 (http.server calls do_<method>): as a proxy

        super().__init__(Handler)

    def __exit__(self, *exc):
        self.stop.set()
        super().__exit__(*exc)


def trickle(handler, server):
    """2 bytes every half second (for at most 30 s, so that a broken client cannot hang)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "10000")
    handler.end_headers()
    for _ in range(60):
        if server.stop.wait(0.5):
            return
        handler.wfile.write(b"\x1f\x8b")
        handler.wfile.flush()
        server.sent += 2


def endless(handler, server):
    """No Content-Length, zeros until the client hangs up (or 1 GiB: a broken client)."""
    handler.send_response(200)
    handler.end_headers()
    block = bytes(64 * 1024)
    while server.sent < 1 << 30 and not server.stop.is_set():
        handler.wfile.write(block)
        server.sent += len(block)


def announcing(length):
    def respond(handler, server):
        handler.send_response(200)
        handler.send_header("Content-Length", length)
        handler.end_headers()
        handler.wfile.write(b"\x1f\x8b")

    return respond


@pytest.fixture
def small_pin(monkeypatch):
    """Pin train-images to 1,000 bytes (so that the size cap is small)."""
    pinned = dict(nn.download.CONTENT)
    pinned["train-images-idx3-ubyte.gz"] = (hashlib.sha256(bytes(1000)).hexdigest(), 1000)
    monkeypatch.setattr(nn.download, "CONTENT", pinned)
    return pinned


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_a_trickling_server_is_cut_off_at_the_deadline(tmp_path):
    with Server(trickle) as server, pytest.raises(DataError) as info:
        download_mnist(tmp_path, base_url=server.url, progress=False, timeout=1.5)
    assert "not finished after 1.5 s" in str(info.value) and "too slow" in str(info.value)
    assert server.sent < 100 and leftovers(tmp_path) == []


def test_an_endless_body_is_cut_at_the_size_the_file_can_have(tmp_path, small_pin):
    with Server(endless) as server, pytest.raises(DataError) as info:
        download_mnist(tmp_path, base_url=server.url, progress=False, timeout=60)
    limit = nn.download.max_size("train-images-idx3-ubyte.gz")
    assert f"sends more than {limit:,} bytes" in str(info.value)
    assert leftovers(tmp_path) == [] and server.sent < 10 * MiB


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("lots", "Content-Length 'lots' is not a number"),
        ("99999999999", "announces 99,999,999,999"),
    ],
)
def test_a_content_length_that_is_not_a_size_is_a_data_error(tmp_path, small_pin, length, message):
    with Server(announcing(length)) as server, pytest.raises(DataError, match=message):
        download_mnist(tmp_path, base_url=server.url, progress=False, timeout=10)
    assert leftovers(tmp_path) == []


def test_a_served_gzip_bomb_is_verified_in_a_stream(tmp_path):
    """A 64 MiB gzip bomb in place of the 7.8 MB test images: verify() decompresses it as a
    stream, stops one chunk past the pinned length, and holds one chunk at a time."""
    served = tmp_path / "served"
    served.mkdir()
    gzip_of_zeros(served / "bomb.gz", b"", 64 * MiB)
    problems = []
    peak, _ = peak_of(
        lambda: problems.append(verify(served / "bomb.gz", "t10k-images-idx3-ubyte.gz"))
    )
    assert "holds more than the 7,840,016 bytes of the real file" in problems[0]
    assert peak < 8 * MiB, peak  # a few chunks of 1 MiB; the real file is 7.8 MB


def test_the_next_download_removes_parts_left_by_a_killed_one(tmp_path):
    killed_writer(tmp_path / "train-images-idx3-ubyte.gz", ".part")
    with pytest.raises(DataError):  # nothing listens there; the leftover goes all the same
        download_mnist(tmp_path, base_url="http://127.0.0.1:9/", progress=False, timeout=5)
    assert leftovers(tmp_path) == []


def test_parts_left_beside_files_already_cached_are_removed_too(tmp_path, monkeypatch):
    pins = idx_set(tmp_path / "cache", n_train=3, n_test=2)  # the cache holds valid files
    monkeypatch.setattr(nn.download, "CONTENT", pins)
    part = killed_writer(tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz", ".part")
    download_mnist(tmp_path / "cache", base_url="http://127.0.0.1:9/", progress=False)
    assert not part.exists()  # and nothing was fetched: there is no server at all


# ---------------------------------------------------------------------------------------
# autograd-mini train --download, from a local mirror
# ---------------------------------------------------------------------------------------


def idx_set(directory: Path, n_train: int = 10_010, n_test: int = 20) -> dict:
    """The four IDX files, gzipped, of a small MNIST-shaped set (every digit present), and
    their pins (SHA-256 and length of the decompressed content)."""
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": idx_header(2051, n_train, 28, 28)
        + rng.integers(0, 256, n_train * 784, dtype=np.uint8).tobytes(),
        "train-labels-idx1-ubyte.gz": idx_header(2049, n_train)
        + (np.arange(n_train) % 10).astype(np.uint8).tobytes(),
        "t10k-images-idx3-ubyte.gz": idx_header(2051, n_test, 28, 28) + bytes(n_test * 784),
        "t10k-labels-idx1-ubyte.gz": idx_header(2049, n_test)
        + (np.arange(n_test) % 10).astype(np.uint8).tobytes(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(gzip.compress(content, compresslevel=1))
    return {name: (hashlib.sha256(c).hexdigest(), len(c)) for name, c in files.items()}


def serve_directory(directory: Path):
    def respond(handler, server):
        path = directory / handler.path.lstrip("/")
        if not path.is_file():
            handler.send_error(404)
            return
        data = path.read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return respond


def test_train_download_fetches_into_the_cache_and_trains(tmp_path, monkeypatch, capsys):
    pins = idx_set(tmp_path / "mirror")
    monkeypatch.setattr(nn.download, "CONTENT", pins)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with Server(serve_directory(tmp_path / "mirror")) as server:
        monkeypatch.setattr(nn.download, "DEFAULT_MIRROR", server.url)
        argv = ["train", "--download", "--sizes", "784", "5", "10", "--epochs", "1", "--quiet"]
        code = main(argv)
    out, err = capsys.readouterr()
    cache = tmp_path / "cache" / "autograd_mini" / "mnist"
    assert code == 0, err
    assert f"MNIST (verified) in {cache}" in out and "Training MLP(784→5→10" in out
    assert "on 10 images" in out and "Epoch 0: " in out and "/ 20" in out
    assert sorted(p.name for p in cache.iterdir()) == sorted(pins)


def test_train_download_reports_a_failed_download_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(nn.download, "DEFAULT_MIRROR", "http://127.0.0.1:9/")
    assert main(["train", "--download", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("autograd-mini: error: downloading http://127.0.0.1:9/")
    assert err.count("\n") == 1


def test_train_download_from_a_mirror_given_by_option_or_environment(tmp_path, monkeypatch, capsys):
    pins = idx_set(tmp_path / "mirror")
    monkeypatch.setattr(nn.download, "CONTENT", pins)
    argv = ["train", "--download", "--sizes", "784", "5", "10", "--epochs", "1", "--quiet"]
    with Server(serve_directory(tmp_path / "mirror")) as server:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "by-option"))
        monkeypatch.setenv(nn.download.MIRROR_VARIABLE, "http://127.0.0.1:9/not-this-one/")
        code = main([*argv, "--mirror", server.url.rstrip("/")])  # the option comes first
        assert code == 0, capsys.readouterr().err
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "by-environment"))
        monkeypatch.setenv(nn.download.MIRROR_VARIABLE, server.url)
        code = main(argv)
        assert code == 0, capsys.readouterr().err
    for cache in ("by-option", "by-environment"):
        fetched = tmp_path / cache / "autograd_mini" / "mnist"
        assert sorted(p.name for p in fetched.iterdir()) == sorted(pins)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--download", "--mirror", "ftp://example.org/mnist/"], "not an http:// or https://"),
        (["--download", "--mirror", "http://"], "not an http:// or https://"),
        (["--download", "--mirror", "http://host:port/"], "has an invalid port"),
        (["--download", "--mirror", "http://a b/"], "holds spaces or control characters"),
    ],
)
def test_a_mirror_that_is_not_an_address_is_refused_by_the_parser(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["train", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_a_mirror_needs_download_and_a_bad_environment_mirror_is_one_line(
    tmp_path, monkeypatch, capsys
):
    assert main(["train", "--data", "x", "--mirror", "http://127.0.0.1:9/"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "autograd-mini: error: --mirror says where --download fetches MNIST from; add --download.\n"
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(nn.download.MIRROR_VARIABLE, "file:///data/mnist")
    assert main(["train", "--download", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"autograd-mini: error: the environment variable {nn.download.MIRROR_VARIABLE}: "
    )
    assert "file:///data/mnist is not an http:// or https:// address" in err
    assert err.count("\n") == 1


# ---------------------------------------------------------------------------------------
# One deadline for the whole download: headers and redirects too
# ---------------------------------------------------------------------------------------


def dribbled_headers(handler, server):
    """The status line and headers, one byte every 0.2 s (46 s in all, unless stopped)."""
    head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200 + b"\r\nContent-Length: 10\r\n\r\n"
    for byte in head:
        if server.stop.wait(0.2):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def slow_redirects(handler, server):
    """After 2 s, a redirect to the next address, 9 times (then a small body)."""
    hop = int(handler.path.rpartition("/hop")[2] or 0) if "/hop" in handler.path else 0
    if server.stop.wait(2):
        return
    if hop < 9:
        handler.send_response(302)
        handler.send_header("Location", f"/hop{hop + 1}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    handler.send_response(200)
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"\x1f\x8b")


@pytest.mark.parametrize("respond", [dribbled_headers, slow_redirects])
def test_the_deadline_holds_while_headers_arrive_and_across_redirects(tmp_path, respond):
    """A 3 s deadline, where the old per-read timeout allowed 46 s (headers) or 18 s
    (redirects): cut off well before either."""
    started = time.monotonic()
    with Server(respond) as server, pytest.raises(DataError) as info:
        download_mnist(tmp_path, base_url=server.url, progress=False, timeout=3)
    elapsed = time.monotonic() - started
    assert "not finished after 3 s" in str(info.value) and "too slow" in str(info.value)
    assert elapsed < 12, elapsed
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------
# Answers that are not HTTP, from the server or a proxy: one line, no traceback
# ---------------------------------------------------------------------------------------


def answering(raw: bytes):
    def respond(handler, server):
        handler.wfile.write(raw)

    return respond


NOT_HTTP = {
    "a status line that is not HTTP": (b"garbage\r\n\r\n", "BadStatusLine: garbage"),
    "a header line too long": (
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n",
        "LineTooLong",
    ),
    "101 headers": (
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n",
        "got more than 100 headers",
    ),
}


@pytest.mark.parametrize("answer", list(NOT_HTTP))
def test_an_answer_that_is_not_http_is_a_data_error(tmp_path, answer):
    raw, fragment = NOT_HTTP[answer]
    with Server(answering(raw)) as server, pytest.raises(DataError) as info:
        download_mnist(tmp_path, base_url=server.url, progress=False, timeout=10)
    message = str(info.value)
    assert message.startswith(
        f"downloading {server.url}train-images-idx3-ubyte.gz: the answer is not valid HTTP ("
    )
    assert fragment in message and "\n" not in message and "\r" not in message, message
    assert leftovers(tmp_path) == []


def test_a_proxy_answering_garbage_is_one_line_from_train_download(tmp_path, monkeypatch, capsys):
    for variable in ("no_proxy", "NO_PROXY", "HTTPS_PROXY", nn.download.MIRROR_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with Server(answering(b"garbage\r\n\r\n")) as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        code = main(["train", "--download", "--quiet"])  # the default https mirror
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"autograd-mini: error: downloading {nn.download.DEFAULT_MIRROR}")
    assert "the answer is not valid HTTP (BadStatusLine: garbage)" in err


# ---------------------------------------------------------------------------------------
# The cache folder
# ---------------------------------------------------------------------------------------


def test_a_cache_folder_that_is_a_file_is_a_data_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(DataError) as info:
        download_mnist(tmp_path / "cache", base_url="http://127.0.0.1:9/", progress=False)
    assert str(info.value).startswith(
        f"download_mnist: cannot use {tmp_path / 'cache'} as the cache folder "
        f"({tmp_path / 'cache'} is a file, not a folder); give another cache_dir"
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # under the file, too
    assert main(["train", "--download", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"autograd-mini: error: download_mnist: cannot use {tmp_path}/cache/autograd_mini/mnist "
        f"as the cache folder ({tmp_path / 'cache'} is a file, not a folder)"
    )
    assert err.count("\n") == 1


# ---------------------------------------------------------------------------------------
# Two downloads into one cache at once
# ---------------------------------------------------------------------------------------

DOWNLOADER = """
import json, sys
import nn.download
nn.download.CONTENT = {k: tuple(v) for k, v in json.loads(sys.argv[3]).items()}
try:
    nn.download.download_mnist(sys.argv[1], base_url=sys.argv[2], progress=False, timeout=60)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
else:
    print("ok")
"""


def meeting(directory: Path, first: str):
    """Serves `directory`; the request for `first` is answered only when two have come (or
    after 20 s): both downloads have then made their temporary file for it."""
    both = threading.Barrier(2, timeout=20)
    serve = serve_directory(directory)

    def respond(handler, server):
        if handler.path.endswith(first):
            with contextlib.suppress(threading.BrokenBarrierError):
                both.wait()
        serve(handler, server)

    return respond


def test_two_downloads_into_one_cache_both_succeed(tmp_path):
    pins = idx_set(tmp_path / "mirror", n_train=50, n_test=20)
    first = next(iter(nn.download.CONTENT))
    with Server(meeting(tmp_path / "mirror", first)) as server:
        downloads = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    DOWNLOADER,
                    str(tmp_path / "cache"),
                    server.url,
                    json.dumps(pins),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [download.communicate(timeout=120)[0] for download in downloads]
    assert outputs == ["ok\n", "ok\n"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(pins)
