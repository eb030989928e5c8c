"""Training on the real MNIST data (skipped when ../shared/data is absent)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import nn
from nn.checkpoint import load_checkpoint
from nn.cli import main
from nn.data import load_mnist, shared_data_dir

SHARED = shared_data_dir()
pytestmark = pytest.mark.skipif(SHARED is None, reason="../shared/data is not available")
PICKLE = SHARED / "mnist.pkl.gz" if SHARED else None


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(PICKLE)


def test_three_epochs_on_10000_images_learn_the_digits(mnist):
    """Nielsen's settings (784-30-10, sigmoid, quadratic, N(0,1), η = 3.0, mini-batch 10) on
    the first 10,000 training images, 3 epochs. Measured over seeds 0-11: 71.9-88.8% on
    the test images (seed 0: 88.72%), so 85% is the bar here; 30,000 examples seen is
    0.6 of a full epoch, and a full epoch gives 91% (next test)."""
    X, y = mnist.train
    model = nn.MLP([784, 30, 10], seed=0)
    history = nn.fit(
        model,
        (X[:10_000], y[:10_000]),
        epochs=3,
        batch_size=10,
        lr=3.0,
        evaluation=mnist.test,
        seed=0,
    )
    assert history.best().accuracy >= 0.85, history.epochs


def test_one_full_epoch_reaches_the_books_first_epoch(mnist):
    """The book: 91.29% after epoch 0; REFERENCE.md's numpy port 90.98%; here (seed 0) 91.03%."""
    model = nn.MLP([784, 30, 10], seed=0)
    history = nn.fit(
        model, mnist.train, epochs=1, batch_size=10, lr=3.0, evaluation=mnist.test, seed=0
    )
    assert history.epochs[0].accuracy >= 0.90, history.epochs


def test_cli_train_save_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    straight, first = tmp_path / "straight.npz", tmp_path / "first.npz"
    common = ["train", "--data", str(PICKLE), "--quiet", "--seed", "3"]
    assert main([*common, "--epochs", "2", "--save", str(straight)]) == 0
    assert main([*common, "--epochs", "1", "--save", str(first)]) == 0
    assert (
        main(
            [
                "train",
                "--data",
                str(PICKLE),
                "--quiet",
                "--resume",
                str(first),
                "--epochs",
                "2",
                "--save",
                str(first),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("Epoch 0: ") == 2 and out.count("Epoch 1: ") == 2
    a, b = load_checkpoint(straight), load_checkpoint(first)
    for (name, p), (_, q) in zip(
        a.model.named_parameters(), b.model.named_parameters(), strict=True
    ):
        assert np.array_equal(p.data, q.data), name

    def without_times(history):
        return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]

    assert without_times(a.meta["history"]) == without_times(b.meta["history"]) and b.epoch == 2


def test_cli_resume_refuses_different_settings(tmp_path, capsys):
    path = tmp_path / "m.npz"
    assert (
        main(["train", "--data", str(PICKLE), "--quiet", "--epochs", "1", "--save", str(path)]) == 0
    )
    code = main(
        ["train", "--data", str(PICKLE), "--resume", str(path), "--epochs", "2", "--lr", "0.5"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "trained with --lr 3.0; --lr 0.5 would not continue the same run" in err


def test_cli_sizes_that_do_not_fit_the_data(capsys):
    assert main(["train", "--data", str(PICKLE), "--sizes", "100", "10"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--sizes 100 10 does not fit the data: the images have 784 pixels" in err


def test_cli_reads_the_idx_directory_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    code = main(
        [
            "train",
            "--data",
            str(SHARED / "mnist-idx"),
            "--epochs",
            "1",
            "--quiet",
            "--plot",
            str(png),
            "--eval",
            "validation",
        ]
    )
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "scored on validation data" in capsys.readouterr().out


def test_cli_plot_without_matplotlib_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    code = main(["train", "--data", str(PICKLE), "--plot", str(tmp_path / "c.png")])
    assert code == 1 and "pip install 'autograd-mini[plot]'" in capsys.readouterr().err
