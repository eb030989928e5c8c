"""fit's arguments, checked before the first step: each refusal names fit and the bad value."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from nn.training import TrainingError, fit


def toy_data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, labels


# ---------------------------------------------------------------------------------------
# numpy's floating-point errors (np.errstate(...="raise"), as the command line sets it)
# ---------------------------------------------------------------------------------------


def test_numpy_overflow_names_the_epoch_and_the_mini_batch():
    X, y = toy_data()
    X[3, 0] = 1e300  # finite, but the cost's square overflows
    model = nn.MLP([6, 3], activation="relu", output_activation=None, seed=0)
    before = [p.data.copy() for p in model.parameters()]
    with np.errstate(over="raise", invalid="raise"), pytest.raises(TrainingError) as info:
        fit(model, (X, y), epochs=2, batch_size=120, lr=1.0)
    message = str(info.value)
    assert message.startswith("fit: numpy reported overflow encountered in ")
    assert "at epoch 0, mini-batch 0 (of 1); the inputs are finite" in message
    assert message.endswith("Training stopped before that batch changed the parameters.")
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters(), strict=True))
