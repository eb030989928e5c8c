"""MNIST from the files people have: the four IDX files, or Nielsen's `mnist.pkl.gz`.

Both give the same arrays, bit for bit: images X float32 (n, 784) with pixel = byte / 256
(so in [0, 0.99609375], exactly as in Nielsen's pickle), labels y int64 (n,). The 60,000
official training images are split as Nielsen did: the first 50,000 train, the last 10,000
validation; the 10,000 official test images are the test set.

A pickle can run code when it is loaded, so `mnist.pkl.gz` is read with an unpickler that
admits numpy arrays and dtypes and nothing else.
"""

from __future__ import annotations

import codecs
import gzip
import math
import os
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
from numpy._core import multiarray
from numpy._core.numeric import _frombuffer as numeric_frombuffer

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


class SplitError(DataError):
    """The training images cannot give `validation_size` of them to validation: `images`
    says how many there are."""

    def __init__(self, message: str, images: int, validation_size: int) -> None:
        super().__init__(message)
        self.images = images
        self.validation_size = validation_size


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


MAX_IMAGES = 60_000
"""The most images (or labels) an MNIST IDX file holds: the official training set. A header
announcing more is refused before anything is allocated."""
CHUNK = 1 << 20  # bytes decompressed at a time


def open_stream(path: Path) -> IO[bytes]:
    """The file as a stream of bytes, decompressed on the fly when it is gzip (recognised by
    its magic bytes, not its name)."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(2) == b"\x1f\x8b"


def _corrupt(path: Path, exc: BaseException) -> DataError:
    return DataError(f"{path.name}: the gzip data is corrupt or cut short ({exc}).")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array of unsigned bytes in an MNIST IDX file (gzipped or not), read as a stream.

    The header is checked first (magic number, 28×28 images, at most `MAX_IMAGES` entries;
    an uncompressed file's size against the header), then exactly the announced number of
    bytes is read into an array of that size, and one byte more must not exist. So a file
    that decompresses to more than it announces (a decompression bomb) is refused after
    reading at most what a real MNIST file holds.
    """
    name = path.name
    compressed = is_gzip(path)
    try:
        with open_stream(path) as stream:
            head = stream.read(4)
            if len(head) < 4:
                raise DataError(f"{name}: only {len(head)} bytes, too short for an IDX file.")
            found = struct.unpack(">I", head)[0]
            if found != magic:
                kinds = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}
                looks = f" (this looks like {kinds[found]})" if found in kinds else ""
                raise DataError(
                    f"{name}: magic number {found} (0x{found:08x}), expected {magic} for "
                    f"{kinds[magic]}{looks}."
                )
            ndim = head[3]
            raw_dims = stream.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataError(f"{name}: truncated inside its header.")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            _check_dims(dims, magic, name)
            header, count = 4 + 4 * ndim, math.prod(dims)
            expected = header + count
            if not compressed and path.stat().st_size != expected:
                size = path.stat().st_size
                what = "truncated" if size < expected else "followed by extra bytes"
                raise DataError(
                    f"{name}: {what}: its header announces {dims} → {expected} bytes, "
                    f"the file has {size}."
                )
            data = np.empty(count, dtype=np.uint8)
            view, got = memoryview(data), 0
            while got < count and (n := stream.readinto(view[got : got + CHUNK])):
                got += n
            if got < count:
                raise DataError(
                    f"{name}: truncated: its header announces {dims} → {expected} bytes, "
                    f"the file has {header + got}."
                )
            if stream.read(1):
                raise DataError(
                    f"{name}: followed by extra bytes: its header announces {dims} → {expected} "
                    "bytes, the file has more (refused without reading the rest)."
                )
    except (OSError, EOFError, zlib.error) as exc:
        if not compressed:
            raise DataError(f"{name}: cannot be read ({exc}).") from None
        raise _corrupt(path, exc) from None
    return data.reshape(dims)


def _check_dims(dims: tuple[int, ...], magic: int, name: str) -> None:
    if magic == IMAGES_MAGIC and dims[1:] != (SIDE, SIDE):
        raise DataError(f"{name}: images of shape {dims[1:]}, expected {SIDE}×{SIDE}.")
    if dims[0] > MAX_IMAGES:
        raise DataError(
            f"{name}: its header announces {dims[0]:,} entries; MNIST files hold at most "
            f"{MAX_IMAGES:,}, so it is refused before reading."
        )


def _read_split(image_path: Path, label_path: Path) -> Split:
    images = read_idx(image_path, IMAGES_MAGIC)  # (n, 28, 28): the magic number fixes ndim
    labels = read_idx(label_path, LABELS_MAGIC)  # (n,)
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
        raise SplitError(
            f"validation_size must lie in [0, {len(X)}] (the training images), "
            f"got {validation_size}.",
            len(X),
            validation_size,
        )
    cut = len(X) - validation_size
    return MNIST((X[:cut], y[:cut]), (X[cut:], y[cut:]), test, directory)


# ----------------------------------------------------------------------------------------
# Nielsen's pickle, through an unpickler that admits numpy arrays only
# ----------------------------------------------------------------------------------------

PICKLE_MAX_BYTES = 240_000_000
"""The most bytes a pickle may decompress to. Nielsen's mnist.pkl.gz decompresses to
222,134,543 bytes (70,000 float32 images of 784 pixels, 219.5 MB, plus the labels and the
pickle's own framing); the cap leaves 8% for a re-pickled copy. Anything larger is refused
when it gets there, so a decompression bomb costs at most this much memory."""


class _UnsafePickleError(Exception):
    """Raised while unpickling: what the pickle asks for is never in a data file."""


class _Capped:
    """A read-only stream that refuses to deliver more than `limit` bytes in total (a request
    that would pass the limit is refused before anything is read for it), and reports gzip
    errors of the file beneath as such."""

    def __init__(self, stream: IO[bytes], limit: int, path: Path) -> None:
        self.stream, self.limit, self.path, self.count = stream, limit, path, 0

    def _take(self, n: int) -> None:
        if self.count + n > self.limit:
            raise DataError(
                f"{self.path.name}: decompresses to more than {self.limit:,} bytes, more than "
                "any MNIST pickle (Nielsen's: 222,134,543); refused (a decompression bomb?)."
            )

    def _do(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except (OSError, EOFError, zlib.error) as exc:
            raise _corrupt(self.path, exc) from None

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.limit - self.count + 1  # one byte past the limit tells if there is more
        else:
            self._take(n)  # a request past the limit is refused before anything is read
        data = self._do(self.stream.read, n)
        self.count += len(data)
        self._take(0)
        return data

    def readinto(self, buffer: Any) -> int:
        n = memoryview(buffer).nbytes
        self._take(n)
        got = self._do(self.stream.readinto, buffer)
        self.count += got
        return got

    def readline(self) -> bytes:
        line = self._do(self.stream.readline, self.limit - self.count + 1)
        self.count += len(line)
        self._take(0)
        return line


class _GuardedArray(np.ndarray):
    """The ndarray class as the unpickler hands it out: calling it (as a hostile pickle may,
    `numpy.ndarray((40_000_000,), object)`) is refused, and its `__setstate__` (how numpy's
    pickles fill an array in) checks the dtype and size before numpy allocates anything."""

    def __new__(cls, *args: Any, **kwargs: Any) -> None:
        raise _UnsafePickleError(
            "the pickle calls numpy.ndarray(...) itself, which numpy's pickles never do"
        )

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _UnsafePickleError("the pickle gives an array a state numpy never writes")
        shape, dtype, _, data = state[-4:]
        if not (
            isinstance(shape, tuple)
            and all(isinstance(n, int) and n >= 0 for n in shape)
            and isinstance(dtype, np.dtype)
        ):
            raise _UnsafePickleError(
                "the pickle gives an array a shape or dtype numpy never writes"
            )
        nbytes = _checked_size(dtype, shape)
        if not isinstance(data, (bytes, bytearray, str)) or len(data) != nbytes:
            raise _UnsafePickleError(
                f"an array of dtype {dtype} and shape {shape} comes with "
                f"{len(data) if isinstance(data, (bytes, bytearray, str)) else 'no'} bytes of "
                f"data instead of {nbytes}"
            )
        super().__setstate__(state)


def _checked_size(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    if dtype.hasobject:
        raise _UnsafePickleError(
            f"the pickle builds an array of Python objects (dtype {dtype}); data files hold "
            "numbers only"
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > PICKLE_MAX_BYTES:
        raise _UnsafePickleError(
            f"the pickle announces an array of {nbytes:,} bytes ({dtype} {shape}), more than a "
            f"whole MNIST pickle ({PICKLE_MAX_BYTES:,})"
        )
    return nbytes


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's `_reconstruct`, which starts every pickled array empty (shape (0,)) before
    `__setstate__` fills it in; nothing else is accepted."""
    if subtype is not _GuardedArray or not isinstance(shape, tuple) or math.prod(shape) != 0:
        raise _UnsafePickleError("the pickle calls numpy's _reconstruct in a way numpy never does")
    dtype = np.dtype(dtype)
    _checked_size(dtype, shape)
    return np.ndarray.__new__(_GuardedArray, shape, dtype)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any, axis_order: Any = None) -> Any:
    """numpy's `_frombuffer` (protocol 5: an array viewing its bytes), size checked first."""
    dtype = np.dtype(dtype)
    if not isinstance(shape, tuple) or _checked_size(dtype, shape) != memoryview(buf).nbytes:
        raise _UnsafePickleError(
            f"the pickle's buffer does not hold a {dtype} array of shape {shape}"
        )
    return numeric_frombuffer(buf, dtype, shape, order, axis_order)


def _scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's `scalar` (a 0-d value from its bytes), for numbers only."""
    dtype = np.dtype(dtype)
    _checked_size(dtype, ())
    if not isinstance(data, (bytes, str)) or len(data) != dtype.itemsize:
        raise _UnsafePickleError(f"the pickle builds a {dtype} scalar from data of the wrong size")
    return multiarray.scalar(dtype, data)


def _encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it: text to bytes, latin-1 only (any other
    codec could be chained to grow data without bound)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _UnsafePickleError(
            f"the pickle encodes with {encoding!r}, where numpy's pickles use latin1"
        )
    return codecs.encode(text, "latin1", errors)


def _bytes(*args: Any) -> bytes:
    """`bytes()`, as protocol-2 pickles write an empty bytes object; `bytes(n)` would make n
    zero bytes out of nothing."""
    if args:
        raise _UnsafePickleError("the pickle calls bytes(...) with arguments")
    return b""


SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    **{
        (m, "_reconstruct"): _reconstruct
        for m in ("numpy._core.multiarray", "numpy.core.multiarray")
    },
    **{(m, "scalar"): _scalar for m in ("numpy._core.multiarray", "numpy.core.multiarray")},
    **{(m, "_frombuffer"): _frombuffer for m in ("numpy._core.numeric", "numpy.core.numeric")},
    ("numpy", "ndarray"): _GuardedArray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode,
    ("__builtin__", "bytes"): _bytes,
    ("builtins", "bytes"): _bytes,
}
"""What the unpickler hands out for each global a numpy pickle names: checked stand-ins for
numpy's own functions (the dtype and the size of every array before numpy allocates it),
and nothing else."""
ALLOWED_GLOBALS = set(SAFE_GLOBALS)


MAX_OPCODES = 10_000
"""The most pickle instructions a data file may take. Nielsen's file takes 234 (a few per
array); a cap keeps a small file from building millions of objects (`}` alone, one byte,
makes an empty dict of 64)."""


def _counted(load: Callable[[Any], None]) -> Callable[[Any], None]:
    def counted(unpickler: Any) -> None:
        unpickler.opcodes += 1
        if unpickler.opcodes > MAX_OPCODES:
            raise _UnsafePickleError(
                f"the pickle runs more than {MAX_OPCODES:,} instructions, where a data file of "
                "a few arrays needs a few hundred"
            )
        load(unpickler)

    return counted


class _NumpyOnlyUnpickler(pickle._Unpickler):
    """Python's own unpickler (its pure-Python twin, so that every instruction can be
    counted), handing out only the checked stand-ins of `SAFE_GLOBALS`."""

    dispatch: ClassVar[dict] = {
        code: _counted(load) for code, load in pickle._Unpickler.dispatch.items()
    }

    def __init__(self, file: Any, name: str) -> None:
        super().__init__(file, encoding="latin1")
        self.name = name
        self.opcodes = 0

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_GLOBALS:
            raise DataError(
                f"{self.name}: the pickle asks for {module}.{name}, which a data file never "
                "needs (only numpy arrays are allowed); refusing to load it: the file may be "
                "malicious."
            )
        return SAFE_GLOBALS[module, name]


def _load_pickle(path: Path) -> MNIST:
    """Nielsen's pickle, streamed (never more than `PICKLE_MAX_BYTES` decompressed) through
    an unpickler that admits numpy arrays of numbers only."""
    try:
        with open_stream(path) as stream:
            content = _NumpyOnlyUnpickler(_Capped(stream, PICKLE_MAX_BYTES, path), path.name).load()
    except DataError:
        raise
    except _UnsafePickleError as exc:
        raise DataError(
            f"{path.name}: {exc}; refusing to load it: the file may be malicious."
        ) from None
    except MemoryError:
        raise DataError(f"{path.name}: not enough memory to unpickle it.") from None
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
        X, y = np.asarray(X), np.asarray(y)  # plain ndarrays, not the unpickler's class
        splits.append((X.astype(np.float32, copy=False), y.astype(np.int64, copy=False)))
    return splits
