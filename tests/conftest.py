"""Shared fixtures: a tiny MNIST-shaped data file, so that `autograd-mini train` can be
tested end to end without the real data."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest


def write_tiny_mnist(path: Path, sizes=(40, 20, 30), seed: int = 0, nan: bool = False) -> Path:
    """Nielsen's pickle layout ((X, y) for train, validation, test) with few rows: float32
    images of 784 pixels in [0, 1), labels 0–9 (every digit present in the training split).
    nan: the training images are NaN."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in sizes:
        X = (rng.integers(0, 256, (n, 784)) / 256).astype(np.float32)
        y = np.arange(n) % 10
        splits.append((X, y))
    if nan:
        splits[0][0][:] = np.nan
    path.write_bytes(gzip.compress(pickle.dumps(tuple(splits), protocol=2), compresslevel=1))
    return path


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A small mnist.pkl.gz (40 training, 20 validation, 30 test images)."""
    return write_tiny_mnist(tmp_path / "tiny-mnist.pkl.gz")
