"""Mini-batches, one-hot encoding and accuracy."""

from __future__ import annotations

import numpy as np
import pytest

import nn


def test_batches_cover_every_row_once_in_a_seeded_order():
    X, Y = np.arange(23).reshape(23, 1), np.arange(23)
    first = list(nn.batches(X, Y, 5, seed=1))
    again = list(nn.batches(X, Y, 5, seed=1))
    assert [len(y) for _, y in first] == [5, 5, 5, 5, 3]
    assert sorted(np.concatenate([y for _, y in first])) == list(range(23))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert all(np.array_equal(x[:, 0], y) for x, y in first), "rows stay paired"
    assert not np.array_equal(np.concatenate([y for _, y in first]), np.arange(23))


def test_a_shared_generator_gives_a_new_order_each_epoch():
    rng = np.random.default_rng(0)
    X = np.arange(10)
    epoch1 = np.concatenate([y for _, y in nn.batches(X, X, 4, seed=rng)])
    epoch2 = np.concatenate([y for _, y in nn.batches(X, X, 4, seed=rng)])
    assert not np.array_equal(epoch1, epoch2)


def test_batches_without_shuffling_are_views_and_drop_last():
    X = np.arange(10.0)
    chunks = list(nn.batches(X, X, 4, shuffle=False, drop_last=True))
    assert [c[0].tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert chunks[0][0].base is X


def test_batches_errors():
    with pytest.raises(ValueError, match="X has 3 rows but Y has 2"):
        list(nn.batches(np.zeros(3), np.zeros(2), 1))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(nn.batches(np.zeros(3), np.zeros(3), 0))


def test_one_hot():
    assert np.array_equal(nn.one_hot([2, 0, 1], 4), np.eye(4)[[2, 0, 1]])
    assert nn.one_hot(np.array([1, 1]), dtype=np.float32).dtype == np.float32
    assert nn.one_hot([0, 2]).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\[0, 2\].*from 0 to 3"):
        nn.one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="integers"):
        nn.one_hot([0.5])


def test_accuracy_with_labels_one_hot_and_single_outputs():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert nn.accuracy(scores, [1, 0, 0]) == pytest.approx(2 / 3)
    assert nn.count_correct(scores, nn.one_hot([1, 0, 1], 2)) == 3
    single = np.array([[0.2], [0.6], [0.9]])
    assert nn.count_correct(single, np.array([[0.0], [1.0], [0.0]])) == 2
    assert nn.accuracy(single, [0, 1, 1]) == 1.0
    with pytest.raises(ValueError, match="3 predictions"):
        nn.accuracy(scores, [1, 0])
