"""fit (training loop) and checkpoints: resuming equals an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from nn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nn.training import History, fit


def toy_data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, labels


def test_fit_learns_and_records_history():
    X, y = toy_data()
    model = nn.MLP([6, 8, 3], seed=0)
    seen = []
    history = fit(
        model, (X, y), epochs=60, batch_size=10, lr=3.0, evaluation=(X, y), callbacks=[seen.append]
    )
    assert [e.epoch for e in history.epochs] == list(range(60)) and seen == history.epochs
    assert history.epochs[-1].loss < history.epochs[0].loss
    assert history.best().accuracy > 0.9
    assert str(history.epochs[0]).startswith("Epoch 0: ") and " / 120" in str(history.epochs[0])
    assert History.from_list(history.to_list()) == history


def test_fit_with_softmax_cross_entropy_and_labels():
    X, y = toy_data()
    model = nn.MLP([6, 8, 3], output_activation=None, init="scaled_normal", seed=0)
    history = fit(
        model,
        (X, y),
        epochs=60,
        batch_size=10,
        lr=0.5,
        cost="softmax-cross-entropy",
        evaluation=(X, y),
    )
    assert history.best().accuracy > 0.9


def test_fit_needs_an_optimizer_or_a_learning_rate():
    with pytest.raises(ValueError, match="optimizer or a learning rate"):
        fit(nn.MLP([6, 3]), toy_data(), epochs=1, batch_size=10)


def train_in_pieces(tmp_path, stops):
    """Train for 6 epochs, saving and reloading (model and optimizer) at each stop."""
    X, y = toy_data(1)
    model = nn.MLP([6, 5, 3], seed=4)
    optimizer = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    history = History()
    done = 0
    for stop in [*stops, 6]:
        fit(
            model,
            (X, y),
            epochs=stop,
            batch_size=7,
            optimizer=optimizer,
            seed=11,
            start_epoch=done,
            evaluation=(X, y),
            history=history,
        )
        done = stop
        if stop < 6:
            path = save_checkpoint(
                tmp_path / "run.npz", model, optimizer, epoch=done, history=history.to_list()
            )
            checkpoint = load_checkpoint(path)
            model = checkpoint.model
            optimizer = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
            checkpoint.restore_optimizer(optimizer)
            history = History.from_list(checkpoint.meta["history"])
            assert checkpoint.epoch == done
    return model, history


def test_resuming_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    straight, history_straight = train_in_pieces(tmp_path, [])
    resumed, history_resumed = train_in_pieces(tmp_path, [2, 3])
    for (name, a), (_, b) in zip(
        straight.named_parameters(), resumed.named_parameters(), strict=True
    ):
        assert np.array_equal(a.data, b.data), name
    assert [e.loss for e in history_straight.epochs] == [e.loss for e in history_resumed.epochs]


def test_checkpoint_round_trip_keeps_architecture_dtype_and_values(tmp_path):
    model = nn.MLP([4, 3, 2], activation="tanh", output_activation=None, dtype=np.float32, seed=1)
    path = save_checkpoint(tmp_path / "sub" / "m.npz", model, note="hello")
    loaded = load_checkpoint(path)
    assert loaded.model.config() == model.config() and loaded.meta["note"] == "hello"
    for (_, a), (_, b) in zip(
        model.named_parameters(), loaded.model.named_parameters(), strict=True
    ):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a.data, b.data)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        loaded.restore_optimizer(nn.SGD(loaded.model.parameters(), lr=1.0))


def test_an_interrupted_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, nn.MLP([3, 2], seed=1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"], "no temporary file left behind"


def test_loading_broken_or_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "text.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not an autograd_mini checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "pickled.npz")  # allow_pickle=False refuses object arrays


def test_parameters_that_do_not_fit_the_saved_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["param/layers.0.weight"] = np.zeros((2, 2))
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"do not fit.*layers\.0\.weight has shape \(2, 2\)"):
        load_checkpoint(tmp_path / "tampered.npz")
