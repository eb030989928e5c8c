"""Mini-batches, one-hot targets and accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from autograd_mini import Tensor


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def batches(
    X: Any,
    Y: Any,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(X_batch, Y_batch)` pairs of `batch_size` rows (the last one may be smaller).

    X: (n, ...) and Y: (n, ...) with the same n. With `shuffle`, the rows are visited in a
    random order drawn from `seed`; pass one `np.random.Generator` for every epoch to get a
    new, reproducible order each epoch. Without shuffling, batches are views (no copies).
    """
    X, Y = _array(X), _array(Y)
    if len(X) != len(Y):
        raise ValueError(f"batches: X has {len(X)} rows but Y has {len(Y)}; they must match.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}.")
    n = len(X)
    stop = n - n % batch_size if drop_last else n
    if not shuffle:
        for start in range(0, stop, batch_size):
            yield X[start : start + batch_size], Y[start : start + batch_size]
        return
    order = np.random.default_rng(seed).permutation(n)
    for start in range(0, stop, batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], Y[rows]


def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """Integer class labels (m,) as one-hot rows (m, num_classes): row i has a 1 at labels[i]."""
    labels = _array(labels)
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot: labels must be integers, got dtype {labels.dtype}.")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot: labels must lie in [0, {num_classes - 1}], got values from "
            f"{labels.min()} to {labels.max()}."
        )
    encoded = np.zeros((*labels.shape, num_classes), dtype=dtype)
    np.put_along_axis(encoded, labels[..., np.newaxis], 1, axis=-1)
    return encoded


def predictions(output: Any) -> np.ndarray:
    """Predicted classes: the argmax of each row, or `output > 0.5` for one output unit."""
    output = _array(output)
    if output.ndim >= 1 and output.shape[-1] == 1:
        return (output[..., 0] > 0.5).astype(np.int64)
    if output.ndim == 1:
        return (output > 0.5).astype(np.int64)
    return output.argmax(axis=-1)


def _labels(target: Any, output_shape: tuple[int, ...]) -> np.ndarray:
    target = _array(target)
    if target.ndim == len(output_shape) and target.shape[-1] > 1:  # one-hot rows
        return target.argmax(axis=-1)
    if target.ndim == len(output_shape) and target.shape[-1] == 1:
        target = target[..., 0]
    if target.dtype.kind == "f":
        target = np.round(target)
    return target.astype(np.int64)


def count_correct(output: Any, target: Any) -> int:
    """How many rows of `output` predict their target (labels (m,), one-hot (m, k), or 0/1)."""
    output = _array(output)
    guessed, truth = predictions(output), _labels(target, output.shape)
    if guessed.shape != truth.shape:
        raise ValueError(
            f"accuracy: {guessed.shape[0] if guessed.ndim else 1} predictions but target of "
            f"shape {_array(target).shape}."
        )
    return int(np.sum(guessed == truth))


def accuracy(output: Any, target: Any) -> float:
    """The fraction of rows whose prediction equals the target (see `count_correct`)."""
    n = len(_array(output))
    return count_correct(output, target) / n if n else 0.0
