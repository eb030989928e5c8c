"""`autograd-mini`: train, check and draw networks from the command line.

    autograd-mini demo                         # OR and XOR, gradient table, graph SVG
    autograd-mini train --data ../shared/data/mnist.pkl.gz
    autograd-mini check --sizes 2 3 1
    autograd-mini graph --sizes 2 3 1 -o graph.svg
    autograd-mini graph --html -o graph.html   # a page that steps through backward

Errors are reported in one line (exit code 1); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import autograd_mini as ag

from . import gates
from . import init as inits
from .batches import accuracy, one_hot
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .compare import check_backprop
from .costs import COSTS, get_cost
from .layers import MLP
from .optim import SGD, nielsen_l2
from .training import EpochResult, History, fit

PROGRAM = "autograd-mini"


class UsageError(Exception):
    """A request the CLI cannot carry out; its message is the one line the user sees."""


# ----------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    out = sys.stdout
    for gate, Y in gates.TARGETS.items():
        model = gates.network(gate)
        costs = gates.train(model, Y)
        with ag.no_grad():
            predictions = model(gates.INPUTS).data[:, 0]
        out.write(
            f"{gate} gate, network {model.describe()}, quadratic cost, η = 3.0, "
            "2000 full-batch steps\n"
        )
        out.write("  cost every 500 steps: " + "  ".join(f"{c:.4f}" for c in costs) + "\n")
        out.write("  x1 x2 | target | output\n")
        for (x1, x2), y, p in zip(gates.INPUTS, Y[:, 0], predictions, strict=True):
            out.write(f"   {x1:.0f}  {x2:.0f} |   {y:.0f}    | {p:.4f}\n")
        out.write(f"  accuracy: {accuracy(predictions[:, None], Y):.0%}\n\n")

    model = gates.network("OR")
    out.write("Gradients of the OR network's cost at its starting weights, four ways:\n")
    out.write(str(check_backprop(model, gates.INPUTS, gates.TARGETS["OR"], "quadratic")) + "\n\n")

    loss = ag.quadratic_cost(model(gates.INPUTS), gates.TARGETS["OR"])
    page = args.output.with_suffix(".html")
    try:
        ag.save_html(loss, page)  # runs the backward pass, recording each step
        path = ag.save_svg(loss, args.output)
    except ag.GraphvizMissingError:
        loss.backward()
        out.write(_without_dot(loss, args.output) + "\n")
        return 0
    out.write(f"Wrote the OR network's computation graph (after backward) to {path}\n")
    out.write(f"Wrote the page that steps through its backward pass to {page}\n")
    return 0


# ----------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------

TRAIN_DEFAULTS = {
    "sizes": [784, 30, 10],
    "epochs": 30,
    "batch_size": 10,
    "lr": 3.0,
    "cost": "quadratic",
    "l2": 0.0,
    "init": "normal",
    "seed": 0,
    "dtype": "float64",
}
SETTINGS_KEPT_ON_RESUME = ("sizes", "batch_size", "lr", "cost", "l2", "seed", "dtype")


def _load_data(path: str) -> Any:
    from .data import DataError, load_mnist

    try:
        return load_mnist(path)
    except DataError as exc:
        raise UsageError(str(exc)) from exc


def _settings(args: argparse.Namespace, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The run's settings: given options, else the checkpoint's (when resuming), else defaults."""
    given = {key: getattr(args, key) for key in TRAIN_DEFAULTS if getattr(args, key) is not None}
    if saved is None:
        return {**TRAIN_DEFAULTS, **given}
    for key in SETTINGS_KEPT_ON_RESUME:
        if key in given and given[key] != saved[key]:
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"--resume: the checkpoint was trained with {flag} {_show(saved[key])}; "
                f"{flag} {_show(given[key])} would not continue the same run (leave it out)."
            )
    return {**TRAIN_DEFAULTS, **saved, **given}


def _show(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _check_sizes(sizes: list[int], data: Any) -> None:
    n_pixels = data.train[0].shape[1]
    n_classes = int(data.train[1].max()) + 1
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise UsageError(f"--sizes needs at least two positive sizes, got {_show(sizes)}.")
    if sizes[0] != n_pixels or sizes[-1] != n_classes:
        raise UsageError(
            f"--sizes {_show(sizes)} does not fit the data: the images have {n_pixels} pixels "
            f"and there are {n_classes} classes, so the sizes must start with {n_pixels} and end "
            f"with {n_classes} (e.g. --sizes {n_pixels} 30 {n_classes})."
        )


def _plotter(path: Path | None):
    if path is None:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib: pip install 'autograd-mini[plot]' "
            "(or pip install matplotlib)."
        ) from None

    def plot(history: History) -> None:
        epochs = [e.epoch for e in history.epochs]
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.plot(epochs, [e.loss for e in history.epochs], marker="o")
        left.set(xlabel="epoch", ylabel="mean training cost", title="Cost")
        scored = [e for e in history.epochs if e.total]
        right.plot([e.epoch for e in scored], [100 * e.accuracy for e in scored], marker="o")
        right.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy on the evaluation data")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)

    return plot


def run_train(args: argparse.Namespace) -> int:
    checkpoint = None
    if args.resume:
        try:
            checkpoint = load_checkpoint(args.resume)
        except CheckpointError as exc:
            raise UsageError(str(exc)) from exc
    settings = _settings(args, None if checkpoint is None else checkpoint.meta["training"])
    plot = _plotter(args.plot)
    data = _load_data(args.data)
    _check_sizes(settings["sizes"], data)
    cost = get_cost(settings["cost"])
    dtype = np.dtype(settings["dtype"])
    X_train, y_train = data.train
    evaluation = data.test if args.eval == "test" else data.validation
    if checkpoint is not None:
        model, history = checkpoint.model, History.from_list(checkpoint.meta.get("history", []))
        model.fuse = True  # one node per layer: faster, the same numbers
        wanted = MLP(
            settings["sizes"], output_activation=_output_activation(cost), dtype=dtype
        ).config()
        if model.config() != wanted:
            raise UsageError(
                f"--resume: {args.resume} holds {model.describe()} ({model.config()['dtype']}), "
                f"not the network these settings describe."
            )
    else:
        model = MLP(
            settings["sizes"],
            output_activation=_output_activation(cost),
            init=inits.get(settings["init"]),
            seed=settings["seed"],
            dtype=dtype,
            fuse=True,  # one node per layer: faster, the same numbers (nothing is drawn here)
        )
        history = History()
    params = (
        nielsen_l2(model, settings["l2"], len(X_train)) if settings["l2"] else model.parameters()
    )
    optimizer = SGD(params, lr=settings["lr"])
    if checkpoint is not None and checkpoint.optimizer_state is not None:
        checkpoint.restore_optimizer(optimizer)
    start = 0 if checkpoint is None else checkpoint.epoch
    if start >= settings["epochs"]:
        raise UsageError(
            f"--resume: the checkpoint has already trained {start} epochs; "
            "ask for more with --epochs."
        )

    print(
        f"Training {model.describe()} on {len(X_train)} images: {settings['cost']} cost, "
        f"mini-batch {settings['batch_size']}, η = {settings['lr']}"
        + (f", L2 λ = {settings['l2']}" if settings["l2"] else "")
        + f", {settings['dtype']}, epochs {start}–{settings['epochs'] - 1}; "
        f"scored on {args.eval} data.",
        flush=True,
    )

    def after_epoch(result: EpochResult) -> None:
        print(result, flush=True)
        if args.save:
            meta_training = {key: settings[key] for key in (*SETTINGS_KEPT_ON_RESUME, "init")}
            save_checkpoint(
                args.save,
                model,
                optimizer,
                epoch=result.epoch + 1,
                training=meta_training,
                history=history.to_list(),
            )
        if plot is not None:
            plot(history)

    fit(
        model,
        (X_train, y_train),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        cost=cost,
        optimizer=optimizer,
        evaluation=evaluation,
        seed=settings["seed"],
        start_epoch=start,
        callbacks=[after_epoch],
        progress=None if not args.quiet else False,
        history=history,
    )
    best = history.best()
    if best is not None:
        print(
            f"Best: epoch {best.epoch}, {best.correct} / {best.total} ({100 * best.accuracy:.2f}%)."
        )
    if args.save:
        print(f"Saved the model to {args.save}")
    if args.plot:
        print(f"Wrote the curves to {args.plot}")
    return 0


def _output_activation(cost: Any) -> str | None:
    """The output layer a cost needs: logits (None) for softmax cross-entropy, else sigmoid."""
    if cost.output_activation == "identity":
        return None
    return cost.output_activation or "sigmoid"


# ----------------------------------------------------------------------------------------
# check and graph
# ----------------------------------------------------------------------------------------


def _random_problem(args: argparse.Namespace):
    sizes = args.sizes
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise UsageError(f"--sizes needs at least two positive sizes, got {_show(sizes)}.")
    cost = get_cost(args.cost)
    model = MLP(
        sizes,
        activation=args.activation,
        output_activation=_output_activation(cost),
        init="scaled_normal",
        seed=args.seed,
    )
    rng = np.random.default_rng(args.seed + 1)
    X = rng.standard_normal((args.batch_size, sizes[0]))
    labels = rng.integers(0, sizes[-1], args.batch_size)
    if cost.takes_labels:
        Y = labels
    elif sizes[-1] == 1:
        Y = (labels[:, None] % 2).astype(float)
    else:
        Y = one_hot(labels, sizes[-1])
    return model, X, Y, cost


def run_check(args: argparse.Namespace) -> int:
    model, X, Y, cost = _random_problem(args)
    n_params = sum(p.size for p in model.parameters())
    finite = n_params <= args.max_finite_differences
    print(
        f"{model.describe()}, {cost.name} cost, "
        f"a random batch of {args.batch_size} (seed {args.seed}):"
    )
    report = check_backprop(model, X, Y, cost, finite_differences=finite)
    print(report)
    if not finite:
        print(f"(finite differences skipped: {n_params} parameters > --max-finite-differences)")
    return 0 if report.ok else 1


def _without_dot(loss: ag.Tensor, output: Path) -> str:
    """Graphviz's `dot` is missing: write the DOT source beside `output` (as .gv) and return
    the one line that says so, which package to install and how to render it then."""
    source = output.with_suffix(".gv")
    source.write_text(ag.draw(loss).source, encoding="utf-8")
    render = (
        f"dot -Tsvg {shlex.quote(str(source))} -o {shlex.quote(str(source.with_suffix('.svg')))}"
    )
    return (
        f"Graphviz's `dot` program is not installed, so the drawing was written as DOT source "
        f"to {source}; install the graphviz package (apt-get install graphviz, brew install "
        f"graphviz or conda install graphviz) and render it with `{render}`."
    )


def run_graph(args: argparse.Namespace) -> int:
    model, X, Y, cost = _random_problem(args)
    loss = cost.loss(model(X), Y)
    output = args.output or Path("graph.html" if args.html else "graph.svg")
    described = f"{model.describe()}'s {cost.name} cost (batch {args.batch_size})"
    try:
        if args.html:
            path = ag.save_html(loss, output)  # runs the backward pass, recording each step
            print(f"Wrote the page that steps through the backward pass of {described} to {path}")
            return 0
        loss.backward()
        path = ag.save_svg(loss, output)
    except ag.GraphvizMissingError:
        if args.html:
            loss.backward()  # save_html ran nothing: the DOT shows the gradients too
        raise UsageError(_without_dot(loss, output)) from None
    print(f"Wrote the graph of {described} to {path}")
    return 0


# ----------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------


def _number(convert, accept, requirement: str, kind: str):
    """An argparse type: `convert` the text, and insist that `accept(value)` holds."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{value} must be {requirement}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "at least 1", "a whole number")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "positive", "a number")
_non_negative_float = _number(
    float, lambda v: 0 <= v < float("inf"), "a finite number ≥ 0", "a number"
)


def parser() -> argparse.ArgumentParser:
    costs = sorted(COSTS)
    top = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    top.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="command")

    demo = commands.add_parser("demo", help="OR and XOR, a gradient table and a graph, in seconds")
    demo.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("or_gate.svg"),
        help="SVG to write (the page that steps through backward goes beside it, as .html)",
    )
    demo.set_defaults(run=run_demo)

    train = commands.add_parser("train", help="train an MLP on MNIST, as in Nielsen's book")
    train.add_argument(
        "--data", required=True, help="mnist.pkl.gz, or a directory of the four IDX files"
    )
    train.add_argument(
        "--sizes", type=_positive_int, nargs="+", help="layer sizes (default 784 30 10)"
    )
    train.add_argument("--epochs", type=_positive_int, help="total epochs (default 30)")
    train.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default 10)")
    train.add_argument("--lr", type=_positive_float, help="learning rate η (default 3.0)")
    train.add_argument("--cost", choices=costs, help="default quadratic")
    train.add_argument(
        "--l2", type=_non_negative_float, help="L2 regularisation λ (Nielsen's; default 0)"
    )
    train.add_argument(
        "--init", choices=sorted(n.replace("_", "-") for n in inits.BY_NAME), help="default normal"
    )
    train.add_argument(
        "--seed", type=int, help="seed of the initialisation and the shuffles (default 0)"
    )
    train.add_argument("--dtype", choices=["float32", "float64"], help="default float64")
    train.add_argument(
        "--eval", choices=["test", "validation"], default="test", help="data scored each epoch"
    )
    train.add_argument("--save", type=Path, help="checkpoint (.npz) written after every epoch")
    train.add_argument("--resume", type=Path, help="checkpoint to continue from")
    train.add_argument(
        "--plot", type=Path, help="write loss and accuracy curves (PNG; needs matplotlib)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)

    for name, run, help_text in (
        ("check", run_check, "compare autodiff, both closed forms and finite differences"),
        ("graph", run_graph, "draw the computation graph of a network's cost as SVG"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--sizes", type=_positive_int, nargs="+", default=[2, 3, 1])
        command.add_argument("--cost", choices=costs, default="quadratic")
        command.add_argument("--activation", choices=["sigmoid", "tanh", "relu"], default="sigmoid")
        command.add_argument("--batch-size", type=_positive_int, default=4)
        command.add_argument("--seed", type=int, default=0)
        if name == "graph":
            command.add_argument(
                "-o", "--output", type=Path, help="default graph.svg (graph.html with --html)"
            )
            command.add_argument(
                "--html",
                action="store_true",
                help="write a page that steps through the backward pass instead of the SVG",
            )
        else:
            command.add_argument(
                "--max-finite-differences",
                type=int,
                default=20_000,
                help="skip finite differences above this many parameters",
            )
        command.set_defaults(run=run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ag.AutogradError, CheckpointError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
