"""fit (training loop) and checkpoints: resuming equals an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import killed_writer

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
    with pytest.raises(CheckpointError, match=r"holds Python objects.*refused unread"):
        load_checkpoint(tmp_path / "pickled.npz")  # object arrays are pickles: never loaded


def test_parameters_that_do_not_fit_the_saved_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["param/layers.0.weight"] = np.zeros((2, 2))
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"do not fit.*layers\.0\.weight has shape \(2, 2\)"):
        load_checkpoint(tmp_path / "tampered.npz")


# ---------------------------------------------------------------------------------------
# fit refuses what it cannot train, stops at a non-finite cost, keeps one graph at a time
# ---------------------------------------------------------------------------------------


def test_fit_refuses_empty_training_data():
    with pytest.raises(ValueError, match="the training data has 0 rows"):
        fit(nn.MLP([6, 3]), (np.zeros((0, 6)), np.zeros(0, int)), epochs=1, batch_size=10, lr=1)


def test_fit_stops_at_the_first_non_finite_cost_before_it_changes_anything():
    X, y = toy_data()
    X[55] = np.nan  # one bad row: the mini-batch that holds it is named
    model = nn.MLP([6, 8, 3], seed=0)
    seen = []

    def watch(result):
        seen.append(result)

    with pytest.raises(nn.TrainingError) as info:
        fit(model, (X, y), epochs=3, batch_size=10, lr=1.0, seed=5, callbacks=[watch])
    order = np.random.default_rng([5, 0]).permutation(len(X))  # epoch 0's shuffle
    batch = int(np.flatnonzero(order == 55)[0]) // 10
    message = str(info.value)
    assert f"the cost is nan at epoch 0, mini-batch {batch} (of 12)" in message
    assert "inputs hold NaN" in message and seen == []
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_fit_blames_divergence_when_the_data_are_finite():
    X, y = toy_data()
    X[3, 0] = 1e300  # finite, but the cost overflows to inf
    model = nn.MLP([6, 3], activation="relu", seed=0)
    with np.errstate(all="ignore"), pytest.raises(nn.TrainingError, match="smaller learning rate"):
        fit(model, (X, y), epochs=1, batch_size=120, lr=1.0)


def test_eager_fit_releases_each_steps_graph_before_the_next_forward():
    """The previous step's output (and with it every array of its graph) is gone when the next
    forward pass starts: fit keeps the cost's value, not the cost. (The compiled step records
    no graph after its trace.)"""
    import weakref

    class Watched(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.previous, self.alive = inner, None, []

        def forward(self, x):
            if self.previous is not None:
                self.alive.append(self.previous() is not None)
            out = self.inner(x)
            self.previous = weakref.ref(out)
            return out

    model = Watched(nn.MLP([6, 5, 3], seed=0))
    X, y = toy_data()
    fit(model, (X, y), epochs=2, batch_size=10, lr=0.5, compile=False)
    assert len(model.alive) == 24 and not any(model.alive)


# ---------------------------------------------------------------------------------------
# Saving never replaces a good file with a bad one, leaves nothing behind, honours umask
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"version": 2}, "meta 'version' is reserved"),
        ({"format": "mine"}, "meta 'format' is reserved"),
        ({"epoch": "one"}, "'epoch' must be a whole number"),
        ({"epoch": -1}, "'epoch' must be a whole number"),
        ({"weights": np.zeros(2)}, "must be JSON-ready"),
    ],
)
def test_meta_that_would_not_load_is_refused_before_writing(tmp_path, meta, message):
    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=message):
        save_checkpoint(path, nn.MLP([3, 2], seed=1), **meta)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_a_file_that_would_not_load_never_replaces_the_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    before = path.read_bytes()
    savez = np.savez

    def drops_a_parameter(file, **arrays):  # a writer bug: one array is lost
        arrays.pop("param/layers.0.bias")
        savez(file, **arrays)

    monkeypatch.setattr(np, "savez", drops_a_parameter)
    with pytest.raises(CheckpointError, match=r"m\.npz was left as it was.*missing"):
        save_checkpoint(path, nn.MLP([3, 2], seed=1))
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_leftovers_of_killed_saves_of_that_file_are_removed(tmp_path):
    mine = killed_writer(tmp_path / "m.npz", ".tmp")
    other = killed_writer(tmp_path / "other.npz", ".tmp")  # another file's: not ours to remove
    longer = killed_writer(tmp_path / "m.npz.x", ".tmp")  # the temporary file of "m.npz.x"
    save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    assert not mine.exists() and other.exists() and longer.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_checkpoints_get_the_mode_of_any_new_file(tmp_path, umask, mode):
    import os
    import stat

    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 2], seed=0))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


# ---------------------------------------------------------------------------------------
# Hostile checkpoints: refused before their arrays (or the network they describe) exist
# ---------------------------------------------------------------------------------------


def peak_while(function) -> int:
    """Peak bytes allocated (as tracemalloc sees numpy's and Python's allocations) while
    `function()` runs; its exception, if any, is swallowed."""
    import tracemalloc

    tracemalloc.start()
    try:
        function()
    except Exception:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_meta_sizes_that_do_not_match_the_arrays_allocate_nothing(tmp_path):
    """sizes [100000, 100000, 10] would be a 74.5 GiB network: the arrays' headers say
    otherwise, and that is found before the network is built."""
    import json

    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 4, 2], seed=0))
    size = path.stat().st_size
    with np.load(path) as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))
    meta["model"]["sizes"] = [100_000, 100_000, 10]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "huge.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"needs \(100000, 100000\)"):
        load_checkpoint(tmp_path / "huge.npz")
    assert peak_while(lambda: load_checkpoint(tmp_path / "huge.npz")) < 2 * size + (1 << 20)


def test_an_extra_member_is_refused_unread(tmp_path):
    import zipfile

    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 4, 2], seed=0))
    legitimate = path.stat().st_size
    with (  # 32 MiB that a reader must not touch
        zipfile.ZipFile(path, "a") as archive,
        archive.open("param/big.npy", "w", force_zip64=True) as member,
    ):
        np.lib.format.write_array(member, np.zeros(1 << 22))
    with pytest.raises(CheckpointError, match="unknown parameter 'big'"):
        load_checkpoint(path)
    assert peak_while(lambda: load_checkpoint(path)) < 2 * legitimate + (1 << 20)


def test_a_header_that_lies_about_its_size_is_refused_unread(tmp_path):
    """A member whose .npy header announces far more than it holds (numpy would allocate the
    announced array, then fail reading it)."""
    import zipfile

    path = save_checkpoint(tmp_path / "m.npz", nn.MLP([3, 4, 2], seed=0))
    with np.load(path) as archive:
        arrays = dict(archive)
    (tmp_path / "liar.npz").unlink(missing_ok=True)
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                if name == "param/layers.0.weight":
                    header = {"descr": "<f8", "fortran_order": False, "shape": (3, 4)}
                    np.lib.format.write_array_header_1_0(member, header)
                    member.write(b"\0" * 16)  # 2 of the 12 numbers
                else:
                    np.lib.format.write_array(member, value)
    with pytest.raises(CheckpointError, match=r"announces float64 \(3, 4\).*but holds"):
        load_checkpoint(tmp_path / "liar.npz")


# ---------------------------------------------------------------------------------------
# Optimizer state: all of it checked on loading, so that training never starts from it wrong
# ---------------------------------------------------------------------------------------


def adam_checkpoint(path):
    model = nn.MLP([3, 4, 2], seed=0)
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    optimizer.step()
    return save_checkpoint(path, model, optimizer)


def edited(path, meta_change=None, arrays_change=None):
    """The checkpoint at `path` rewritten (with np.savez) after changing its meta data and
    arrays in place."""
    import json

    with np.load(path) as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))
    if meta_change:
        meta_change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    if arrays_change:
        arrays_change(arrays)
    path.unlink()
    np.savez(path, **arrays)
    return path


ADAM_DAMAGE = {
    "a moment missing": (
        None,
        lambda a: a.pop("optim/2/v"),
        r"the Adam state of parameter 2 lacks \['v'\]",
    ),
    "a negative second moment": (
        None,
        lambda a: a["optim/0/v"].fill(-1.0),
        "'v' of parameter 0 .* holds negative values",
    ),
    "step zero": (
        lambda m: m["optimizer"]["scalars"]["1"].update(step=0),
        None,
        "step = 0 must be a whole number ≥ 1",
    ),
    "step true": (
        lambda m: m["optimizer"]["scalars"]["1"].update(step=True),
        None,
        "step = True must be a whole number ≥ 1",
    ),
    "betas of one number": (
        lambda m: m["optimizer"]["groups"][0].update(betas=[0.9]),
        None,
        "betas = \\[0.9\\]; it must be two numbers in",
    ),
    "eps not finite": (
        lambda m: m["optimizer"]["groups"][0].update(eps=float("inf")),
        None,
        "eps = inf; it must be a positive number",
    ),
    "a setting missing": (
        lambda m: m["optimizer"]["groups"][0].pop("eps"),
        None,
        "has the settings .*; Adam saves the settings",
    ),
    "an unknown optimizer": (
        lambda m: m["optimizer"].update(type="Lion"),
        None,
        "type 'Lion'; checkpoints restore SGD and Adam",
    ),
}


@pytest.mark.parametrize("damage", list(ADAM_DAMAGE))
def test_adam_state_that_would_break_training_is_refused_on_loading(tmp_path, damage):
    meta_change, arrays_change, message = ADAM_DAMAGE[damage]
    path = edited(adam_checkpoint(tmp_path / "adam.npz"), meta_change, arrays_change)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_optimizer_state_that_does_not_fit_the_optimizer_names_the_file(tmp_path):
    path = adam_checkpoint(tmp_path / "adam.npz")
    loaded = load_checkpoint(path)
    other = nn.Adam([loaded.model.parameters()[0]], lr=0.01)  # one parameter, not four
    with pytest.raises(CheckpointError, match=f"^{path}: the saved optimizer state does not fit"):
        loaded.restore_optimizer(other)
    optimizer = nn.Adam(loaded.model.parameters(), lr=0.5)
    loaded.restore_optimizer(optimizer)  # the good state restores, settings and moments
    assert optimizer.param_groups[0]["lr"] == 0.01
    assert [s["step"] for s in optimizer.state.values()] == [1, 1, 1, 1]
