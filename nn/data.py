"""MNIST from the files people have: the four IDX files, or Nielsen's `mnist.pkl.gz`.

Both give the same arrays, bit for bit: images X float32 (n, 784) with pixel = byte / 256
(so in [0, 0.99609375], exactly as in Nielsen's pickle), labels y int64 (n,). The 60,000
official training images are split as Nielsen did: the first 50,000 train, the last 10,000
validation; the 10,000 official test images are the test set.

A pickle can run code when it is loaded, so `mnist.pkl.gz` is read with an unpickler that
admits numpy arrays and dtypes and nothing else.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # big-endian 0x00000803 and 0x00000801
SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10
VALIDATION_SIZE = 10_000

IDX_FILES = {  # split → (images, labels), the official names
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

Split = tuple[np.ndarray, np.ndarray]


class DataError(ValueError):
    """A data file that is missing, truncated, of the wrong kind, or unsafe to load."""


@dataclass(frozen=True)
class MNIST:
    """train, validation, test: each (X float32 (n, 784) in [0, 1), y int64 (n,))."""

    train: Split
    validation: Split
    test: Split
    source: Path


# ----------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------


def load_mnist(path: str | os.PathLike, validation_size: int = VALIDATION_SIZE) -> MNIST:
    """Load MNIST from a directory of IDX files (gzipped or not) or from `mnist.pkl.gz`.

    validation_size: how many of the last official training images become validation data
    (IDX only; Nielsen's pickle is already split 50,000 / 10,000). 0 keeps all 60,000 in train.
    """
    path = Path(path)
    if path.is_dir():
        return _load_idx_directory(path, validation_size)
    if path.is_file():
        if path.name.endswith((".pkl.gz", ".pkl", ".pickle", ".pickle.gz")):
            return _load_pickle(path)
        raise DataError(
            f"{path}: not a known MNIST format; give Nielsen's mnist.pkl.gz or a directory "
            "holding the four IDX files (train-images-idx3-ubyte.gz, ...)."
        )
    raise DataError(f"{path}: no such file or directory.")


def shared_data_dir() -> Path | None:
    """The project's shared data directory (`$AUTOGRAD_MINI_DATA`, else `../shared/data` beside
    the repository), or None when it is absent: tests and benchmarks skip without it."""
    root = os.environ.get("AUTOGRAD_MINI_DATA")
    path = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


# ----------------------------------------------------------------------------------------
# IDX
# ----------------------------------------------------------------------------------------


def _find(directory: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")  # some copies are named train-images.idx3-ubyte
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (directory / name).is_file():
            return directory / name
    expected = ", ".join(f"{s}.gz" for pair in IDX_FILES.values() for s in pair)
    raise DataError(f"{directory}: {stem}(.gz) is missing; an MNIST directory holds {expected}.")


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (recognised by its magic bytes)."""
    with open(path, "rb") as file:
        head = file.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip data is corrupt or cut short ({exc}).") from None


def parse_idx(raw: bytes, name: str, magic: int) -> np.ndarray:
    """The array in an IDX file of unsigned bytes, checking its magic number and size."""
    if len(raw) < 8:
        raise DataError(f"{name}: only {len(raw)} bytes, too short for an IDX file.")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        kinds = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}
        looks = f" (this looks like {kinds[found]})" if found in kinds else ""
        raise DataError(
            f"{name}: magic number {found} (0x{found:08x}), expected {magic} for "
            f"{kinds[magic]}{looks}."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated inside its header.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "followed by extra bytes"
        raise DataError(
            f"{name}: {what}: its header announces {dims} → {expected} bytes, "
            f"the file has {len(raw)}."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_split(image_path: Path, label_path: Path) -> Split:
    images = parse_idx(read_bytes(image_path), image_path.name, IMAGES_MAGIC)
    labels = parse_idx(read_bytes(label_path), label_path.name, LABELS_MAGIC)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(
            f"{image_path.name}: images of shape {images.shape[1:]}, expected {SIDE}×{SIDE}."
        )
    if labels.ndim != 1:
        raise DataError(
            f"{label_path.name}: labels should be one number each, got shape {labels.shape}."
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path.name} has {len(images)} images but {label_path.name} "
            f"has {len(labels)} labels."
        )
    if labels.size and labels.max() >= CLASSES:
        raise DataError(f"{label_path.name}: label {labels.max()} is not a digit 0-9.")
    X = images.reshape(len(images), PIXELS).astype(np.float32)
    X /= 256  # exact in float32, and what Nielsen's pickle holds
    return X, labels.astype(np.int64)


def _load_idx_directory(directory: Path, validation_size: int) -> MNIST:
    paths = {
        split: [_find(directory, stem) for stem in stems] for split, stems in IDX_FILES.items()
    }
    X, y = _read_split(*paths["train"])
    test = _read_split(*paths["test"])
    if not 0 <= validation_size <= len(X):
        raise DataError(
            f"validation_size must lie in [0, {len(X)}] (the training images), "
            f"got {validation_size}."
        )
    cut = len(X) - validation_size
    return MNIST((X[:cut], y[:cut]), (X[cut:], y[cut:]), test, directory)


# ----------------------------------------------------------------------------------------
# Nielsen's pickle, through an unpickler that admits numpy arrays only
# ----------------------------------------------------------------------------------------

ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),  # builds an ndarray (numpy ≥ 2)
    ("numpy.core.multiarray", "_reconstruct"),  # the same, as older numpy wrote it
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),  # protocol 5: an array from its raw bytes
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles store bytes; it only re-encodes text
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, name: str) -> None:
        super().__init__(file, encoding="latin1")
        self.name = name

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataError(
                f"{self.name}: the pickle asks for {module}.{name}, which a data file never "
                "needs (only numpy arrays are allowed); refusing to load it: the file may be "
                "malicious."
            )
        return super().find_class(module, name)


def _load_pickle(path: Path) -> MNIST:
    raw = read_bytes(path)
    import io

    try:
        content = _NumpyOnlyUnpickler(io.BytesIO(raw), path.name).load()
    except DataError:
        raise
    except Exception as exc:  # a broken pickle can fail in many ways
        raise DataError(
            f"{path.name}: not a readable pickle ({type(exc).__name__}: {exc})."
        ) from None
    splits = _check_pickle_layout(content, path.name)
    return MNIST(*splits, source=path)


def _check_pickle_layout(content, name: str) -> list[Split]:
    layout = "((X_train, y_train), (X_valid, y_valid), (X_test, y_test))"
    if not (
        isinstance(content, tuple)
        and len(content) == 3
        and all(isinstance(pair, tuple) and len(pair) == 2 for pair in content)
    ):
        raise DataError(
            f"{name}: expected Nielsen's layout {layout}, got a {type(content).__name__}."
        )
    splits = []
    for split, (X, y) in zip(("train", "validation", "test"), content, strict=True):
        if not (isinstance(X, np.ndarray) and isinstance(y, np.ndarray)):
            raise DataError(f"{name}: the {split} split does not hold numpy arrays.")
        if X.dtype.kind != "f" or X.ndim != 2 or X.shape[1] != PIXELS:
            raise DataError(
                f"{name}: {split} images should be floats of shape (n, {PIXELS}), "
                f"got {X.dtype} {X.shape}."
            )
        if y.dtype.kind not in "iu" or y.shape != (len(X),):
            raise DataError(
                f"{name}: {split} labels should be {len(X)} integers, got {y.dtype} {y.shape}."
            )
        splits.append((X.astype(np.float32, copy=False), y.astype(np.int64, copy=False)))
    return splits
