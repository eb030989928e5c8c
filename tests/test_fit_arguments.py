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


# ---------------------------------------------------------------------------------------
# Bad arguments: refused before the first step, naming fit and the value
# ---------------------------------------------------------------------------------------


INF = float("inf")


def with_nan(array: np.ndarray, row: int) -> np.ndarray:
    array = np.array(array, dtype=float)
    array[row] = np.nan
    return array


def logits(X, y):
    return nn.MLP([6, 8, 3], output_activation=None, seed=0)


def one_output(X, y):
    return nn.MLP([6, 8, 1], seed=0)


REFUSALS = {  # case: (fit's arguments that differ from a good call, the start of the error)
    "lr inf": ({"lr": INF}, "fit: lr must be a positive, finite number, got inf."),
    "lr text": ({"lr": "0.1"}, "fit: lr must be a positive, finite number, got '0.1'."),
    "epochs 2.5": ({"epochs": 2.5}, "fit: epochs must be a whole number ≥ 1, got 2.5."),
    "epochs 0": ({"epochs": 0}, "fit: epochs must be a whole number ≥ 1, got 0."),
    "batch_size 0": ({"batch_size": 0}, "fit: batch_size must be a whole number ≥ 1, got 0."),
    "seed -1": ({"seed": -1}, "fit: seed must be a whole number ≥ 0, got -1."),
    "seed None": ({"seed": None}, "fit: seed must be a whole number ≥ 0, got None."),
    "lr and an optimizer": (
        {"optimizer": lambda model: nn.SGD(model.parameters(), lr=0.5)},
        "fit: got both an optimizer and lr=1.0;",
    ),
    "softmax labels beyond the outputs, in the last row": (
        {"model": logits, "cost": "softmax-cross-entropy", "y": lambda y: np.r_[y[:-1], 3]},
        "fit: label 3 in row 119 of Y is outside 0..2: the network has 3 outputs, one per class.",
    ),
    "labels 0..2 for one output": (
        {"model": one_output, "evaluation": None},
        "fit: Y holds the integer labels 0..2, but a network with one output tells two classes "
        "(0 and 1) only;",
    ),
    "targets beyond the sigmoid's range": (
        {"model": one_output, "evaluation": None, "y": lambda y: y[:, None].astype(float)},
        "fit: Y holds targets from 0 to 2, but the network's sigmoid outputs lie in [0, 1];",
    ),
    "targets beyond the cross-entropy's range": (
        {"cost": "cross-entropy", "y": lambda y: 2 * nn.one_hot(y, 3)},
        "fit: Y holds targets from 0 to 2, but the cross-entropy cost is defined for targets "
        "in [0, 1];",
    ),
    "NaN targets": (
        {"y": lambda y: with_nan(nn.one_hot(y, 3), 70)},
        "fit: Y holds NaN or infinite values (the first in row 70); clean the targets.",
    ),
    "targets of the wrong width": (
        {"y": lambda y: nn.one_hot(y, 4)},
        "fit: Y has shape (120, 4), but the network has 3 outputs: give targets of shape "
        "(120, 3) or labels of shape (120,).",
    ),
    "NaN evaluation inputs": (
        {"evaluation": lambda X, y: (with_nan(X[:30], 12), y[:30])},
        "fit: the evaluation X holds NaN or infinite values (the first in row 12);",
    ),
    "evaluation labels beyond the outputs": (
        {"evaluation": lambda X, y: (X[:30], np.r_[y[:29], 7])},
        "fit: label 7 in row 29 of the evaluation labels is outside 0..2:",
    ),
    "evaluation labels that are not whole": (
        {"evaluation": lambda X, y: (X[:30], np.r_[y[:29], 1.5])},
        "fit: row 29 of the evaluation labels holds 1.5, not a whole number",
    ),
    "evaluation inputs of another width": (
        {"evaluation": lambda X, y: (X[:30, :5], y[:30])},
        "fit: the evaluation X has 5 columns, but the network takes 6 inputs.",
    ),
}


def arguments(changes: dict) -> dict:
    """fit's arguments: a good call (a 6-8-3 sigmoid network, labels 0..2, evaluation data)
    with `changes` (functions of the data or the model are called here)."""
    X, y = toy_data()
    changes = dict(changes)
    model = changes.pop("model", lambda X, y: nn.MLP([6, 8, 3], seed=0))(X, y)
    Y = changes.pop("y", lambda y: y)(y)
    call = {"epochs": 2, "batch_size": 10, "lr": 1.0, "evaluation": (X[:30], y[:30])}
    for key, value in changes.items():
        if key == "evaluation" and callable(value):
            value = value(X, y)
        elif key == "optimizer":
            value = value(model)
        call[key] = value
    return {"model": model, "train": (X, Y), **call}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_arguments_are_refused_before_the_first_step(case):
    changes, message = REFUSALS[case]
    call = arguments(changes)
    model = call.pop("model")
    before = [p.data.copy() for p in model.parameters()]
    epochs_seen = []
    with pytest.raises(ValueError) as info:
        fit(model, **call, callbacks=[epochs_seen.append])
    assert str(info.value).startswith(message), str(info.value)
    assert not isinstance(info.value, TrainingError) and epochs_seen == []
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(
    ("model", "train"),
    [
        (nn.MLP([6, 8, 1], seed=0), (toy_data()[0], toy_data()[1] % 2)),
        (
            nn.MLP([6, 8, 1], output_activation=None, seed=0),
            (toy_data()[0], np.linspace(-3, 3, 120)),
        ),
        (nn.MLP([6, 8, 3], seed=0), (toy_data()[0], toy_data()[1].astype(float))),  # whole floats
    ],
    ids=["binary labels", "regression targets", "float labels"],
)
def test_what_the_checks_let_through_trains(model, train):
    history = fit(model, train, epochs=1, batch_size=10, lr=0.5, evaluation=None)
    assert len(history.epochs) == 1
