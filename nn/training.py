"""`fit`: mini-batch training with per-epoch evaluation, as in Nielsen's `SGD`.

Each epoch shuffles the training rows with a generator seeded by `(seed, epoch)`, so the
order of epoch k never depends on how the run got there: a run resumed from a checkpoint
after epoch k continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import autograd_mini as ag

from .backprop import Layer, layers_of
from .batches import batches, count_correct
from .costs import Cost, check_inputs, check_labels, check_targets, get_cost
from .module import Module
from .optim import SGD, Optimizer, is_real


class TrainingError(ValueError):
    """Training cannot go on: the cost became NaN or infinite (its message names the epoch
    and the mini-batch)."""


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # counted from 0, as Nielsen prints "Epoch 0: ..."
    loss: float  # mean of the mini-batch costs during the epoch
    correct: int | None  # on the evaluation data (None without evaluation data)
    total: int | None
    seconds: float  # training time of the epoch (evaluation excluded)

    @property
    def accuracy(self) -> float | None:
        return None if not self.total else self.correct / self.total

    def __str__(self) -> str:
        score = f"{self.correct} / {self.total}" if self.total else "complete"
        extra = f"loss {self.loss:.4f}"
        if self.total:
            extra += f", {100 * self.accuracy:.2f}%"
        return f"Epoch {self.epoch}: {score}  ({extra}, {self.seconds:.1f} s)"


@dataclass
class History:
    """What `fit` measured, one `EpochResult` per epoch: data for plots and tests."""

    epochs: list[EpochResult] = field(default_factory=list)

    def best(self) -> EpochResult | None:
        """The epoch with the most correct answers on the evaluation data."""
        scored = [e for e in self.epochs if e.total]
        return max(scored, key=lambda e: e.correct) if scored else None

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.epochs]

    @classmethod
    def from_list(cls, rows: Sequence[dict[str, Any]]) -> History:
        """The History `to_list()` gave (e.g. read back from a checkpoint), checked: ValueError
        names the first row that is not an epoch's result."""
        if not isinstance(rows, list):
            raise ValueError(f"a history is a list of epochs, got a {type(rows).__name__}.")
        fields = {"epoch": int, "loss": float, "correct": int, "total": int, "seconds": float}
        optional = {"correct", "total"}
        epochs = []
        for i, row in enumerate(rows):
            good = isinstance(row, dict) and set(row) == set(fields)
            for key, kind in fields.items():
                value = row.get(key) if good else None
                if value is None and key in optional:
                    continue
                numeric = (int, float) if kind is float else int
                good = good and isinstance(value, numeric) and not isinstance(value, bool)
            if not good:
                raise ValueError(
                    f"history entry {i} is not an epoch's result {{{', '.join(fields)}}}: "
                    f"{row!r:.120}."
                )
            epochs.append(EpochResult(**row))
        return cls(epochs)


def evaluate(model: Module, X: np.ndarray, labels: np.ndarray, chunk: int = 2000) -> int:
    """How many rows of X the model classifies as `labels` (forward passes without recording)."""
    dtype = model.parameters()[0].dtype
    correct = 0
    with ag.no_grad():
        for start in range(0, len(X), chunk):
            output = model(np.asarray(X[start : start + chunk], dtype=dtype))
            correct += count_correct(output, labels[start : start + chunk])
    return correct


def fit(
    model: Module,
    train: tuple[Any, Any],
    *,
    epochs: int,
    batch_size: int,
    cost: str | Cost = "quadratic",
    optimizer: Optimizer | None = None,
    lr: float | None = None,
    evaluation: tuple[Any, Any] | None = None,
    seed: int = 0,
    start_epoch: int = 0,
    callbacks: Sequence[Callable[[EpochResult], None]] = (),
    progress: bool | None = False,
    history: History | None = None,
    compile: bool = True,
) -> History:
    """Train `model` for epochs `start_epoch, ..., epochs − 1` with mini-batch SGD.

    train: (X, Y) with X (n, n_in) and Y either targets of the output's shape or integer
    labels (n,) (one-hot encoded here for the costs that need it). evaluation: (X, labels)
    scored after every epoch. Either `optimizer` or `lr` (plain SGD) must be given.
    Each mini-batch's cost is `cost.loss(model(X_batch), Y_batch)`.
    callbacks: called with each epoch's `EpochResult` (printing, checkpoints). progress:
    a tqdm bar over the mini-batches (None: only when writing to a terminal).
    compile: each step runs as the numpy code of its graph (`nn.compile`, traced once per
    mini-batch shape), the same numbers as the eager steps of `compile=False` to the bit.
    A model whose graph draws random numbers (Dropout in training mode) runs eagerly.
    Returns the `History` (extended in place when one is passed, e.g. when resuming).

    Before the first step, raises ValueError naming the bad value for: settings that are not
    whole numbers (epochs, batch_size ≥ 1; seed, start_epoch ≥ 0) or a learning rate that is
    not a positive finite number; training data that is empty, not 2-D, of the wrong width or
    with targets the network cannot be given (labels outside 0..outputs − 1, integer labels
    beyond 0 and 1 for one output, targets outside what the cost or the output layer allows:
    see `costs.check_targets`); evaluation data with NaN, labels out of range or another
    width; a cost that cannot train the model (e.g. softmax cross-entropy on one output).
    Raises `TrainingError` at the first mini-batch whose cost is NaN or infinite (before that
    batch changes the parameters). Each step's graph is released before the next forward
    pass: only the cost's value is kept.
    """
    cost = get_cost(cost)
    for name, value, least in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("seed", seed, 0),
        ("start_epoch", start_epoch, 0),
    ):
        _check_whole(name, value, least)
    if start_epoch > epochs:
        raise ValueError(f"fit: start_epoch {start_epoch} is outside 0..{epochs}.")
    if optimizer is None:
        if lr is None:
            raise ValueError("fit: give an optimizer or a learning rate lr.")
        if not (is_real(lr) and 0 < lr < math.inf):
            raise ValueError(f"fit: lr must be a positive, finite number, got {lr!r}.")
        optimizer = SGD(model.parameters(), lr=lr)
    elif lr is not None:
        raise ValueError(
            f"fit: got both an optimizer and lr={lr!r}; the optimizer has its own lr, so give one."
        )
    if not isinstance(train, (tuple, list)) or len(train) != 2:
        raise ValueError(f"fit: train must be a pair (X, Y), got {type(train).__name__}.")
    layers = _closed_form_layers(model)
    X = check_inputs(
        _array(train[0]),
        "fit",
        n_inputs=None if layers is None else layers[0].W.shape[0],
        data="the training data",
        finite=False,  # NaN inputs are named by the mini-batch whose cost they make NaN
    )
    dtype = model.parameters()[0].dtype
    n_outputs = _output_size(model, X[:1].astype(dtype))
    Y = check_targets(
        cost,
        _array(train[1]),
        len(X),
        n_outputs,
        "fit",
        output_activation=None if layers is None else layers[-1].f.name,
    )
    if evaluation is not None:
        evaluation = _checked_evaluation(evaluation, X.shape[1], n_outputs)
    targets = Y if cost.takes_labels else cost.targets(Y, n_outputs, dtype)
    history = History() if history is None else history
    step = compiled(model, cost) if compile and not model.draws_random else None
    takes_gradients = "gradients" in inspect.signature(optimizer.step).parameters
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, epoch])
        pairs = batches(X, targets, batch_size, seed=rng)
        bar = _progress_bar(pairs, len(X), batch_size, epoch, progress)
        started, total_loss, count = time.perf_counter(), 0.0, 0
        for X_batch, Y_batch in bar:
            where = (epoch, count, len(X), batch_size, X_batch)
            optimizer.zero_grad()
            gradients = None
            try:
                if step is not None:
                    loss, gradients = step.gradients(X_batch.astype(dtype, copy=False), Y_batch)
                else:
                    loss = cost.loss(model(X_batch.astype(dtype, copy=False)), Y_batch)
                value = float(loss)
                if not math.isfinite(value):
                    raise _diverged(f"the cost is {value}", *where)
                if step is None:
                    loss.backward()
            except FloatingPointError as exc:  # under np.errstate(...="raise")
                raise _numpy_error(exc, *where) from exc
            del loss  # the step's graph (every layer's output) goes now, not after the next forward
            if gradients is not None and not takes_gradients:  # an optimizer of your own
                for p, g in gradients.items():
                    p.grad = g
                gradients = None
            try:
                optimizer.step() if gradients is None else optimizer.step(gradients)
            except FloatingPointError as exc:
                raise _numpy_error(exc, *where, updating=True) from exc
            total_loss += value
            count += 1
        seconds = time.perf_counter() - started
        correct = total = None
        if evaluation is not None:
            X_eval, labels = evaluation
            try:
                correct, total = evaluate(model, X_eval, labels), len(labels)
            except FloatingPointError as exc:
                if isinstance(exc, ag.AutogradError):
                    raise
                raise TrainingError(
                    f"fit: numpy reported {exc} while scoring the evaluation data after epoch "
                    f"{epoch}; the parameters diverged or the evaluation inputs are too large: "
                    "try a smaller learning rate, or scale the data."
                ) from exc
        result = EpochResult(epoch, total_loss / max(count, 1), correct, total, seconds)
        history.epochs.append(result)
        for callback in callbacks:
            callback(result)
    return history


def compiled(model: Module, cost: str | Cost = "quadratic") -> ag.Compiled:
    """`model` and `cost` as one compiled step (`ag.compile`): `step(X, Y)` returns the
    cost of the mini-batch and fills every parameter's `.grad`, as `cost.loss(model(X),
    Y).backward()` does, running the printed numpy of that graph (`step.source`).
    `step.gradients(X, Y)` gives the cost and the gradients without touching `.grad`, for
    `optimizer.step(gradients)`."""
    cost = get_cost(cost)

    def step(X: Any, Y: Any) -> ag.Tensor:
        return cost.loss(model(X), Y)

    return ag.compile(step)


def _diverged(
    what: str,
    epoch: int,
    batch: int,
    n: int,
    batch_size: int,
    X_batch: np.ndarray,
    updating: bool = False,
) -> TrainingError:
    steps = -(-n // batch_size)
    if not np.all(np.isfinite(X_batch)):
        cause = "its inputs hold NaN or infinite values: clean the data"
    else:
        cause = (
            "the inputs are finite, so the parameters diverged or the inputs are too large: "
            "try a smaller learning rate, or scale the data"
        )
    stopped = (
        "Training stopped while that batch updated the parameters, which are not usable now."
        if updating
        else "Training stopped before that batch changed the parameters."
    )
    return TrainingError(
        f"fit: {what} at epoch {epoch}, mini-batch {batch} (of {steps}); {cause}. {stopped}"
    )


def _numpy_error(
    exc: FloatingPointError, *where: Any, updating: bool = False
) -> FloatingPointError | TrainingError:
    """numpy's floating-point error (raised under np.errstate(...="raise")) as a TrainingError
    naming the epoch and the mini-batch; detect_anomaly()'s own report is kept as it is."""
    if isinstance(exc, ag.AutogradError):
        return exc
    return _diverged(f"numpy reported {exc}", *where, updating=updating)


def _array(value: Any) -> np.ndarray:
    return value.data if isinstance(value, ag.Tensor) else np.asarray(value)


def _check_whole(name: str, value: Any, least: int) -> None:
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not (whole and value >= least):
        raise ValueError(f"fit: {name} must be a whole number ≥ {least}, got {value!r}.")


def _closed_form_layers(model: Module) -> list[Layer] | None:
    """The model's layers as the closed forms see them (an MLP, a Sequential of Linear layers
    and activations), or None for another module."""
    try:
        return layers_of(model)
    except TypeError:
        return None


def _checked_evaluation(
    evaluation: tuple[Any, Any], n_inputs: int, n_outputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """(X, labels) to score after each epoch, refused before training when they would be
    scored wrongly: NaN inputs (counted as wrong answers), labels the network cannot give."""
    if not isinstance(evaluation, (tuple, list)) or len(evaluation) != 2:
        raise ValueError(
            f"fit: evaluation must be a pair (X, labels), got {type(evaluation).__name__}."
        )
    X = check_inputs(
        _array(evaluation[0]),
        "fit",
        n_inputs=n_inputs,
        name="the evaluation X",
        data="the evaluation data",
    )
    labels = _array(evaluation[1])
    if labels.dtype.kind not in "biuf" or labels.ndim not in (1, 2) or len(labels) != len(X):
        raise ValueError(
            f"fit: the evaluation data has {len(X)} rows of X, so its labels must be an array "
            f"of {len(X)} class labels (or one-hot rows), got {labels.dtype} of shape "
            f"{labels.shape}."
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("fit: the evaluation labels hold NaN or infinite values.")
    if labels.ndim == 1:
        check_labels(labels, n_outputs, "fit", name="the evaluation labels")
    elif labels.shape[1] != n_outputs:
        raise ValueError(
            f"fit: the evaluation labels have shape {labels.shape}, but the network has "
            f"{n_outputs} outputs: give labels of shape ({len(X)},) or one-hot rows "
            f"({len(X)}, {n_outputs})."
        )
    return X, labels


def _output_size(model: Module, one_row: np.ndarray) -> int:
    with ag.no_grad():
        return int(model(one_row).shape[-1])


def _progress_bar(pairs, n: int, batch_size: int, epoch: int, progress: bool | None):
    if progress is False:
        return pairs
    from tqdm import tqdm

    steps = -(-n // batch_size)
    # disable=None: tqdm shows the bar only when writing to a terminal
    disable = None if progress is None else not progress
    return tqdm(
        pairs, total=steps, desc=f"Epoch {epoch}", leave=False, unit="batch", disable=disable
    )
