"""MNIST loading (IDX and pickle), its error messages, the safe unpickler, and the download."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import LocalServer

from nn.data import DataError, load_mnist, shared_data_dir
from nn.download import CONTENT, download_mnist, verify

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/data is not available")


# ---------------------------------------------------------------------------------------
# Synthetic IDX files
# ---------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(directory: Path, n_train=12, n_test=5, compress=True, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": (rng.integers(0, 256, (n_train, 28, 28)), 2051),
        "train-labels-idx1-ubyte": (rng.integers(0, 10, n_train), 2049),
        "t10k-images-idx3-ubyte": (rng.integers(0, 256, (n_test, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte": (rng.integers(0, 10, n_test), 2049),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, (array, magic) in arrays.items():
        raw = idx_bytes(array, magic)
        if compress:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / stem).write_bytes(raw)
    return {stem: array for stem, (array, _) in arrays.items()}


@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory_loads_scaled_and_split(tmp_path, compress):
    arrays = write_idx_set(tmp_path, compress=compress)
    data = load_mnist(tmp_path, validation_size=4)
    X, y = data.train
    assert X.shape == (8, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(X * 256, arrays["train-images-idx3-ubyte"][:8].reshape(8, 784))
    assert np.array_equal(data.validation[1], arrays["train-labels-idx1-ubyte"][8:])
    assert data.test[0].shape == (5, 784) and X.max() < 1.0
    assert load_mnist(tmp_path, validation_size=0).validation[0].shape == (0, 784)


def test_dotted_file_names_are_found(tmp_path):
    write_idx_set(tmp_path, compress=False)
    for path in tmp_path.iterdir():
        path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    assert load_mnist(tmp_path, validation_size=2).train[0].shape == (10, 784)


def test_missing_file_names_what_is_expected(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte\(\.gz\) is missing.*train-images-idx3-ubyte\.gz"
    ):
        load_mnist(tmp_path, validation_size=2)


def test_labels_file_in_place_of_images(tmp_path):
    write_idx_set(tmp_path)
    shutil.copy(tmp_path / "train-labels-idx1-ubyte.gz", tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(
        DataError, match=r"magic number 2049 .*expected 2051.*looks like a labels file"
    ):
        load_mnist(tmp_path, validation_size=2)


def test_unknown_magic_number(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(100))
    )
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte.gz: magic number .* expected 2051"
    ):
        load_mnist(tmp_path, validation_size=2)


def test_truncated_file(tmp_path):
    write_idx_set(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(
        DataError,
        match=r"truncated: its header announces \(12, 28, 28\) → 9424 bytes, the file has 9324",
    ):
        load_mnist(tmp_path, validation_size=2)


def test_extra_bytes(tmp_path):
    write_idx_set(tmp_path, compress=False)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="followed by extra bytes"):
        load_mnist(tmp_path, validation_size=2)


def test_count_mismatch(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(11), 2049))
    )
    with pytest.raises(
        DataError, match=r"has 12 images but train-labels-idx1-ubyte\.gz has 11 labels"
    ):
        load_mnist(tmp_path, validation_size=2)


def test_wrong_image_size(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((5, 20, 20)), 2051))
    )
    with pytest.raises(DataError, match=r"images of shape \(20, 20\), expected 28×28"):
        load_mnist(tmp_path, validation_size=2)


def test_corrupt_gzip(tmp_path):
    write_idx_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-6] ^= 0xFF  # the CRC at the end no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="gzip data is corrupt"):
        load_mnist(tmp_path, validation_size=2)


def test_paths_that_are_neither(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_mnist(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a known MNIST format"):
        load_mnist(tmp_path / "notes.txt")


# ---------------------------------------------------------------------------------------
# Pickles
# ---------------------------------------------------------------------------------------


def nielsen_layout(n=(6, 3, 2)):
    rng = np.random.default_rng(1)
    return tuple(
        (rng.integers(0, 256, (k, 784)).astype(np.float32) / 256, rng.integers(0, 10, k)) for k in n
    )


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_legitimate_pickle_loads(tmp_path, protocol):
    content = nielsen_layout()
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(content, protocol=protocol)))
    data = load_mnist(path)
    for (X, y), (X0, y0) in zip((data.train, data.validation, data.test), content, strict=True):
        assert np.array_equal(X, X0) and np.array_equal(y, y0) and y.dtype == np.int64


class _Payload:
    """Unpickling this calls builtins.open(marker, "w"): harmless, but detectable."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_malicious_pickle_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps((_Payload(marker), 1, 2), protocol=2)))
    with pytest.raises(DataError, match=r"asks for (builtins|io)\.open.*may be malicious"):
        load_mnist(path)
    assert not marker.exists()


def test_os_system_is_named(tmp_path):
    path = tmp_path / "mnist.pkl"
    path.write_bytes(b"cos\nsystem\n(S'true'\ntR.")  # protocol 0: os.system("true")
    with pytest.raises(DataError, match=r"asks for os\.system"):
        load_mnist(path)


def test_pickle_with_the_wrong_layout(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps({"train": np.zeros(3)})))
    with pytest.raises(DataError, match=r"expected Nielsen's layout.*got a dict"):
        load_mnist(path)
    bad = nielsen_layout()
    bad = ((bad[0][0][:, :100], bad[0][1]), bad[1], bad[2])
    path.write_bytes(gzip.compress(pickle.dumps(bad)))
    with pytest.raises(DataError, match=r"train images should be floats of shape \(n, 784\)"):
        load_mnist(path)


def test_a_broken_pickle(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(nielsen_layout())[:200]))
    with pytest.raises(DataError, match="not a readable pickle"):
        load_mnist(path)


# ---------------------------------------------------------------------------------------
# The real data, both formats
# ---------------------------------------------------------------------------------------


@needs_shared
def test_the_two_formats_give_identical_arrays():
    pickled = load_mnist(SHARED / "mnist.pkl.gz")
    idx = load_mnist(SHARED / "mnist-idx")
    for split in ("train", "validation", "test"):
        for a, b in zip(getattr(pickled, split), getattr(idx, split), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), split
    X, y = pickled.train
    assert X.shape == (50_000, 784) and pickled.test[0].shape == (10_000, 784)
    assert float(X.astype(np.float64).mean()) == 0.13044972207828445  # REFERENCE.md §1
    assert X.max() == 0.99609375 and set(np.unique(y)) == set(range(10))


# ---------------------------------------------------------------------------------------
# Download, from a local HTTP server
# ---------------------------------------------------------------------------------------


class _Server(LocalServer):
    """Serves the files of `directory` and keeps the paths asked for in `requests`."""

    def __init__(self, directory: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

        super().__init__(functools.partial(Handler, directory=str(directory)))


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name not in CONTENT)


@needs_shared
def test_download_verifies_and_skips_what_it_has(tmp_path):
    cache = tmp_path / "cache"
    with _Server(SHARED / "mnist-idx") as server:
        assert download_mnist(cache, base_url=server.url, progress=False) == cache
        assert len(server.requests) == 4
        assert all(verify(cache / name) is None for name in CONTENT)
        download_mnist(cache, base_url=server.url, progress=False)
        assert len(server.requests) == 4, "valid files are not fetched again"
    assert leftovers(cache) == []
    assert load_mnist(cache).train[0].shape == (50_000, 784)


@needs_shared
def test_a_corrupted_download_fails_its_checksum_and_leaves_nothing(tmp_path):
    served = tmp_path / "served"
    shutil.copytree(SHARED / "mnist-idx", served)
    raw = bytearray(gzip.decompress((served / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: valid gzip, wrong content
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    cache = tmp_path / "cache"
    with _Server(served) as server, pytest.raises(DataError) as info:
        download_mnist(cache, base_url=server.url, progress=False)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz: checksum mismatch" in message
    assert CONTENT["t10k-labels-idx1-ubyte.gz"][0] in message
    assert not (cache / "t10k-labels-idx1-ubyte.gz").exists() and leftovers(cache) == []


def test_a_missing_file_on_the_server(tmp_path):
    cache = tmp_path / "cache"
    with _Server(tmp_path) as server, pytest.raises(DataError, match=r"HTTP 404"):
        download_mnist(cache, base_url=server.url, progress=False)
    assert list(cache.iterdir()) == []


def test_no_server_at_all(tmp_path):
    with pytest.raises(DataError, match=r"downloading http://127\.0\.0\.1:9/train-images"):
        download_mnist(tmp_path, base_url="http://127.0.0.1:9/", progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_importing_downloads_nothing(tmp_path, monkeypatch):
    import importlib

    import nn.download

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("network used"))
    importlib.reload(nn.download)


def test_shared_data_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_MINI_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv("AUTOGRAD_MINI_DATA", str(tmp_path / "absent"))
    assert shared_data_dir() is None


def test_pickle_bytes_roundtrip_is_not_affected_by_io(tmp_path):
    """The unpickler reads from memory: a pickle of a gzip stream is handled as bytes."""
    content = nielsen_layout((1, 1, 1))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as file:
        pickle.dump(content, file)
    (tmp_path / "m.pkl.gz").write_bytes(buffer.getvalue())
    assert load_mnist(tmp_path / "m.pkl.gz").test[0].shape == (1, 784)
