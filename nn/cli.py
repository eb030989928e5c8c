"""autograd-mini: train, check and draw networks from the command line.

    autograd-mini demo                         # OR and XOR, gradient table, graph SVG
    autograd-mini train --data ../shared/data/mnist.pkl.gz
    autograd-mini train --download             # fetch MNIST into the cache, then train
    autograd-mini train --download --mirror http://mirror.example/mnist/
    autograd-mini check --sizes 2 3 1
    autograd-mini graph --sizes 2 3 1 -o graph.svg
    autograd-mini graph --html -o graph.html   # a page that steps through backward

Errors are reported in one line (exit code 1); `--debug` (before or after the command)
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import graphviz
import numpy as np

import autograd_mini as ag
from autograd_mini.files import replacing, write_file
from autograd_mini.text import printable

from . import gates, terminal
from . import init as inits
from .batches import accuracy, one_hot
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .compare import check_backprop
from .costs import COSTS, get_cost
from .download import DEFAULT_MIRROR, MIRROR_VARIABLE, mirror_url
from .layers import MLP
from .optim import SGD, nielsen_l2
from .training import EpochResult, History, fit

PROGRAM = "autograd-mini"


class UsageError(Exception):
    """A request the CLI cannot carry out; its message is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with a bad command line reported in one line (not the usage block):
    the problem, then where the usage is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message)}; see {self.prog} --help\n")


# ----------------------------------------------------------------------------------------
# Files the commands write: one way to check them, before any work is done
# ----------------------------------------------------------------------------------------

DRAWING_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".gv": None, ".dot": None}
"""What a drawing's file name ends with → Graphviz's output format (None: the DOT text)."""
PLOT_FORMATS = (".png", ".svg", ".pdf")
STDOUT = "-"


def _prepare_output(path: Path, option: str) -> Path:
    """Make `path` writable before the work starts: its missing parent folders are created,
    and a directory in its place or a folder that cannot be written is a UsageError."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name.")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in [parent, *parent.parents] if p.is_file()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else exc.strerror or str(exc)
        raise UsageError(f"{option} {path}: cannot create its folder ({reason}).") from None
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(
            f"{option} {path}: cannot write in {parent} ({exc.strerror or exc})."
        ) from None
    return path


def _drawing_output(output: Path | str, option: str = "-o") -> Path | str:
    """A drawing's destination, checked: standard output, or a file whose name says its
    format (see DRAWING_FORMATS)."""
    if output == STDOUT:
        return output
    if output.is_dir():
        raise UsageError(f"{option} {output}: is a directory; give a file name.")
    if output.suffix.lower() not in DRAWING_FORMATS:
        raise UsageError(
            f"{option} {output}: cannot tell the format from the name; end it in "
            f"{', '.join(DRAWING_FORMATS)} (or give - for SVG on standard output)."
        )
    return _prepare_output(output, option)


def _page_output(output: Path | str, option: str = "-o") -> Path:
    """The stepper page's destination, checked: a file ending in .html."""
    if output == STDOUT or output.suffix.lower() != ".html":
        raise UsageError(f"{option} {output}: --html writes a page; give a file ending in .html.")
    return _prepare_output(output, option)


INSTALL_GRAPHVIZ = "apt-get install graphviz, brew install graphviz or conda install graphviz"


class DotMissingError(UsageError):
    """Graphviz's `dot` program is missing (a file's drawing then goes to a .gv beside it)."""


def _render(dot: graphviz.Digraph, fmt: str) -> bytes:
    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise DotMissingError(
            f"rendering {fmt.upper()} needs Graphviz's dot program (apt-get install graphviz, "
            "brew install graphviz or conda install graphviz); a .gv file needs nothing."
        ) from None
    except graphviz.CalledProcessError as exc:
        raise UsageError(f"Graphviz's dot failed: {exc.stderr!r:.300}") from None


def _save_graph(loss: ag.Tensor, output: Path | str) -> str:
    """Draw `loss`'s graph into `output` (checked by `_drawing_output`) in the format its
    name says, or as SVG on standard output; returns where it went. Without Graphviz's `dot`
    a file's drawing goes to the .gv beside it, and DotMissingError says so and how to render it."""
    dot = ag.draw(loss)
    if output == STDOUT:
        sys.stdout.buffer.write(_render(dot, "svg"))
        sys.stdout.flush()
        return "standard output"
    fmt = DRAWING_FORMATS[output.suffix.lower()]
    try:
        write_file(output, dot.source if fmt is None else _render(dot, fmt), "-o")
    except DotMissingError:
        raise DotMissingError(_without_dot(dot, output, fmt)) from None
    return str(output)


def _without_dot(dot: graphviz.Digraph, output: Path, fmt: str) -> str:
    """Write the DOT source beside `output` (as .gv) and return the one line that says so,
    which package to install and how to render it then."""
    source = output.with_suffix(".gv")
    write_file(source, dot.source, "-o")
    render = f"dot -T{fmt} {shlex.quote(str(source))} -o {shlex.quote(str(output))}"
    return (
        f"Graphviz's `dot` program is not installed, so the drawing was written as DOT source "
        f"to {source}; install the graphviz package (apt-get install graphviz, brew install "
        f"graphviz or conda install graphviz) and render it with `{render}`."
    )


def _plot_output(path: Path) -> Path:
    """--plot: a .png/.svg/.pdf file, or an existing directory (curves.png goes there)."""
    if path.is_dir():
        path = path / "curves.png"
    elif path.suffix.lower() not in PLOT_FORMATS:
        raise UsageError(
            f"--plot {path}: give a file ending in {', '.join(PLOT_FORMATS)}, or an existing "
            "folder (the curves are then written to curves.png in it)."
        )
    return _prepare_output(path, "--plot")


# ----------------------------------------------------------------------------------------
# Memory: refuse what cannot fit before allocating it
# ----------------------------------------------------------------------------------------


def available_memory() -> int:
    """Bytes of memory this process can still get (Linux: MemAvailable; else all of it)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: refuse nothing


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError


def _check_memory(
    sizes: Sequence[int],
    rows: int,
    itemsize: int,
    copies: tuple[int, int],
    doing: str,
    least_rows: int = 1,
) -> None:
    """Refuse, naming the option to change, when a network of `sizes` run on `rows` rows at a
    time (at least `least_rows`, e.g. evaluation chunks) would need more memory than is
    available. copies: how many arrays the size of all parameters, and of all layer outputs,
    the command keeps at once (a rough upper bound). The blame goes to --sizes when the
    network does not fit even with one row, else to --batch-size."""
    params = sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))

    def needed(n_rows: int) -> int:
        return (copies[0] * params + copies[1] * max(n_rows, least_rows) * sum(sizes)) * itemsize

    available = available_memory()
    if needed(rows) <= available:
        return
    if needed(1) > available:
        option, advice = f"--sizes {_show(list(sizes))}", "smaller --sizes"
    else:
        option, advice = f"--batch-size {rows}", "a smaller --batch-size"
    raise UsageError(
        f"{option}: {doing} would need about {_bytes(needed(rows))} of memory ({params:,} "
        f"parameters, {rows:,} rows at a time), more than the {_bytes(available)} available; "
        f"use {advice}."
    )


# ----------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    if args.output == STDOUT:
        raise UsageError("-o -: the demo prints its report on standard output; give a file.")
    output = _drawing_output(args.output)
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
    page = output.with_suffix(".html")
    try:
        ag.save_html(loss, page)  # runs the backward pass, recording each step
        made_page = True
    except ag.GraphvizMissingError:  # it ran nothing
        made_page = False
        loss.backward()
    try:
        path = _save_graph(loss, output)
    except DotMissingError as missing:  # the lesson above is the demo's main output: exit 0
        out.write(f"{missing}\n")
    else:
        out.write(
            f"Wrote the OR network's computation graph (after backward) to {printable(path)}\n"
        )
    if made_page:
        out.write(f"Wrote the page that steps through its backward pass to {printable(page)}\n")
    else:
        out.write(
            f"Skipped {printable(page)}, the page that steps through the backward pass: it "
            f"draws the graph with Graphviz's `dot` too; install graphviz ({INSTALL_GRAPHVIZ}) "
            "and run the demo again to have it.\n"
        )
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
    "eval": "test",
}
SETTINGS_KEPT_ON_RESUME = ("sizes", "batch_size", "lr", "cost", "l2", "seed", "dtype", "eval")
INITS = sorted(n.replace("_", "-") for n in inits.BY_NAME)


def _load_data(args: argparse.Namespace) -> Any:
    from . import download
    from .data import DataError, SplitError, load_mnist

    try:
        if args.download:
            cache = download.download_mnist(
                base_url=args.mirror, progress=False if args.quiet else None
            )
            print(f"MNIST (verified) in {printable(cache)}", flush=True)
            return load_mnist(cache)
        data = load_mnist(args.data)
    except SplitError as exc:
        raise _too_few_images(args.data, exc.images, exc.validation_size) from None
    except DataError as exc:
        raise UsageError(str(exc)) from exc
    if len(data.train[0]) == 0:
        if data.source.is_dir():
            validation = len(data.validation[0])
            raise _too_few_images(args.data, validation, validation)
        raise UsageError(f"--data {args.data}: it holds no training images.")
    return data


def _too_few_images(path: str, images: int, validation: int) -> UsageError:
    """The folder's IDX training file holds `images`; `validation` of them go to validation."""
    return UsageError(
        f"--data {path}: its training images file holds {images:,} images, and train keeps "
        f"the last {validation:,} of them as validation data (Nielsen's split), so it needs "
        f"more than {validation:,}; the official train-images-idx3-ubyte.gz has 60,000."
    )


def _number(value: Any, low: float, whole: bool = False) -> bool:
    kinds = int if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and low <= value < float("inf")


SAVED_SETTING_CHECKS = {
    "sizes": lambda v: isinstance(v, list) and len(v) >= 2 and all(_number(n, 1, True) for n in v),
    "batch_size": lambda v: _number(v, 1, True),
    "lr": lambda v: _number(v, 0) and v > 0,
    "cost": lambda v: v in COSTS,
    "l2": lambda v: _number(v, 0),
    "seed": lambda v: _number(v, 0, True),
    "dtype": lambda v: v in ("float32", "float64"),
    "init": lambda v: isinstance(v, str) and v.replace("_", "-") in INITS,
    "eval": lambda v: v in ("test", "validation"),
}


def _saved_settings(checkpoint: Checkpoint, path: Path) -> dict[str, Any]:
    """The settings a checkpoint was trained with, checked. A checkpoint written by
    `nn.save_checkpoint` without them gives what its network says (sizes, dtype, and for
    logits the softmax cross-entropy cost); the options and defaults supply the rest."""
    training = checkpoint.meta.get("training")
    if training is None:
        config = checkpoint.model.config()
        print(
            f"({path} holds no training settings: the network's sizes and dtype are kept, the "
            "rest comes from the options and the defaults.)",
            flush=True,
        )
        derived = {"sizes": config["sizes"], "dtype": config["dtype"]}
        if config["output_activation"] is None:
            derived["cost"] = "softmax-cross-entropy"
        return derived
    if not isinstance(training, dict):
        raise CheckpointError(
            f"{path}: its training settings are a JSON {type(training).__name__}, not an object."
        )
    for key, value in training.items():
        if key in SAVED_SETTING_CHECKS and not SAVED_SETTING_CHECKS[key](value):
            raise CheckpointError(f"{path}: its training setting {key} = {value!r:.60} is invalid.")
    return {key: value for key, value in training.items() if key in SAVED_SETTING_CHECKS}


def _settings(args: argparse.Namespace, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The run's settings: given options, else the checkpoint's (when resuming), else defaults."""
    given = {key: getattr(args, key) for key in TRAIN_DEFAULTS if getattr(args, key) is not None}
    if saved is None:
        return {**TRAIN_DEFAULTS, **given}
    for key in SETTINGS_KEPT_ON_RESUME:
        if key in given and key in saved and given[key] != saved[key]:
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
        try:
            with replacing(path, "--plot") as out:
                figure.savefig(out.file, format=path.suffix[1:].lower(), dpi=100)
        finally:
            plt.close(figure)

    return plot


def _resume(path: Path) -> tuple[Checkpoint, dict[str, Any], History]:
    checkpoint = load_checkpoint(path)
    saved = _saved_settings(checkpoint, path)
    try:
        history = History.from_list(checkpoint.meta.get("history", []))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return checkpoint, saved, history


def run_train(args: argparse.Namespace) -> int:
    for option, value in (("--save", args.save), ("--plot", args.plot)):
        if value == STDOUT:
            raise UsageError(f"{option} -: it writes a file, not standard output; give a name.")
    if args.mirror is not None and not args.download:
        raise UsageError("--mirror says where --download fetches MNIST from; add --download.")
    save = None if args.save is None else _prepare_output(args.save, "--save")
    plot_path = None if args.plot is None else _plot_output(args.plot)
    checkpoint = saved = None
    history = History()
    if args.resume:
        checkpoint, saved, history = _resume(args.resume)
    settings = _settings(args, saved)
    dtype = np.dtype(settings["dtype"])
    cost = get_cost(settings["cost"])
    plot = _plotter(plot_path)
    # parameters, gradients, the optimizer's and a checkpoint's copies; a step's layer
    # outputs, or those of an evaluation chunk of 2000 rows
    rows = min(settings["batch_size"], 60_000)
    _check_memory(settings["sizes"], rows, dtype.itemsize, (4, 6), "training", least_rows=2000)
    data = _load_data(args)
    _check_sizes(settings["sizes"], data)
    X_train, y_train = data.train
    evaluation = data.test if settings["eval"] == "test" else data.validation
    if checkpoint is not None:
        model = checkpoint.model
        wanted = MLP(
            settings["sizes"], output_activation=_output_activation(cost), dtype=dtype
        ).config()
        if model.config() != wanted:
            raise UsageError(
                f"--resume: {args.resume} holds {model.describe()} ({model.config()['dtype']}), "
                f"not the network these settings describe ({settings['cost']} cost: "
                f"{MLP.from_config(wanted).describe()}, {settings['dtype']})."
            )
    else:
        model = MLP(
            settings["sizes"],
            output_activation=_output_activation(cost),
            init=inits.get(settings["init"]),
            seed=settings["seed"],
            dtype=dtype,
        )
    params = (
        nielsen_l2(model, settings["l2"], len(X_train)) if settings["l2"] else model.parameters()
    )
    optimizer = SGD(params, lr=settings["lr"])
    if checkpoint is not None and checkpoint.optimizer_state is not None:
        checkpoint.restore_optimizer(optimizer)  # CheckpointError names the file
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
        f"scored on {settings['eval']} data.",
        flush=True,
    )

    def after_epoch(result: EpochResult) -> None:
        print(result, flush=True)
        if save is not None:
            meta_training = {key: settings[key] for key in (*SETTINGS_KEPT_ON_RESUME, "init")}
            save_checkpoint(
                save,
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
        compile=not args.eager,
    )
    best = history.best()
    if best is not None:
        print(
            f"Best: epoch {best.epoch}, {best.correct} / {best.total} ({100 * best.accuracy:.2f}%)."
        )
    if save is not None:
        print(f"Saved the model to {printable(save)}")
    if plot_path is not None:
        print(f"Wrote the curves to {printable(plot_path)}")
    return 0


def _output_activation(cost: Any) -> str | None:
    """The output layer a cost needs: logits (None) for softmax cross-entropy, else sigmoid."""
    if cost.output_activation == "identity":
        return None
    return cost.output_activation or "sigmoid"


# ----------------------------------------------------------------------------------------
# check and graph
# ----------------------------------------------------------------------------------------


def _random_problem(args: argparse.Namespace, copies: tuple[int, int], doing: str):
    sizes = args.sizes
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise UsageError(f"--sizes needs at least two positive sizes, got {_show(sizes)}.")
    cost = get_cost(args.cost)
    try:
        cost.check_outputs(sizes[-1])
    except ValueError as exc:
        raise UsageError(f"--cost {cost.name} with --sizes {_show(sizes)}: {exc}") from None
    _check_memory(sizes, args.batch_size, 8, copies, doing)
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
    # autodiff, its rounding replay, both closed forms (the column one per example) and
    # finite differences keep about a dozen arrays the size of the parameters at once
    model, X, Y, cost = _random_problem(args, (12, 8), "checking this network")
    n_params = sum(p.size for p in model.parameters())
    # each difference runs every layer twice: their cost grows as parameters × layers
    layers = len(args.sizes) - 1
    work = n_params * max(layers, 2) // 2  # = n_params for the usual two layers
    finite = work <= args.max_finite_differences
    print(
        f"{model.describe()}, {cost.name} cost, "
        f"a random batch of {args.batch_size} (seed {args.seed}):"
    )
    report = check_backprop(model, X, Y, cost, finite_differences=finite)
    print(report)
    if not finite and layers <= 2:
        print(f"(finite differences skipped: {n_params} parameters > --max-finite-differences)")
    elif not finite:
        print(
            f"(finite differences skipped: {n_params} parameters × {layers} layers / 2 = "
            f"{work} > --max-finite-differences; each difference runs every layer twice)"
        )
    return 0 if report.ok else 1


def run_graph(args: argparse.Namespace) -> int:
    if args.html:
        output = _page_output(args.output or Path("graph.html"))
    else:
        output = _drawing_output(args.output or Path("graph.svg"))
    model, X, Y, cost = _random_problem(args, (3, 4), "drawing this network")
    loss = cost.loss(model(X), Y)
    described = f"{model.describe()}'s {cost.name} cost (batch {args.batch_size})"
    if args.html:
        try:
            ag.save_html(loss, output)  # runs the backward pass, recording each step
        except ag.GraphvizMissingError:  # it ran nothing and wrote nothing
            raise DotMissingError(
                f"--html: the page draws the graph with Graphviz's `dot` program, which is not "
                f"installed, so {printable(output)} was not written; install graphviz "
                f"({INSTALL_GRAPHVIZ}) and run the same command again."
            ) from None
        print(
            "Wrote the page that steps through the backward pass of "
            f"{described} to {printable(output)}"
        )
        return 0
    loss.backward()
    where = _save_graph(loss, output)
    print(
        f"Wrote the graph of {described} to {printable(where)}",
        file=sys.stderr if output == STDOUT else sys.stdout,
    )
    return 0


def run_code(args: argparse.Namespace) -> int:
    model, X, Y, cost = _random_problem(args, (3, 4), "printing this network's code")
    print(f"# {model.describe()}, {cost.name} cost, a batch of {args.batch_size}")
    print(ag.backward_code(cost.loss(model(X), Y)), end="")
    return 0


# ----------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------


def _number_type(convert, accept, requirement: str, kind: str):
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


_positive_int = _number_type(int, lambda v: v >= 1, "at least 1", "a whole number")
_non_negative_int = _number_type(int, lambda v: v >= 0, "≥ 0", "a whole number")
_positive_float = _number_type(float, lambda v: 0 < v < float("inf"), "positive", "a number")
_non_negative_float = _number_type(
    float, lambda v: 0 <= v < float("inf"), "a finite number ≥ 0", "a number"
)


def _output_file(text: str) -> Path | str:
    """An argparse type for files the commands write: not empty; `-` is standard output."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty file name; give one, e.g. graph.svg")
    return STDOUT if text == STDOUT else Path(text)


def _mirror(text: str) -> str:
    """An argparse type for --mirror: an http:// or https:// address."""
    try:
        return mirror_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_debug(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show tracebacks instead of one-line errors",
    )


def parser() -> argparse.ArgumentParser:
    costs = sorted(COSTS)
    top = _Parser(prog=PROGRAM, description=__doc__.splitlines()[0])
    _add_debug(top, False)
    commands = top.add_subparsers(dest="command", required=True, metavar="command")

    demo = commands.add_parser("demo", help="OR and XOR, a gradient table and a graph, in seconds")
    demo.add_argument(
        "-o",
        "--output",
        type=_output_file,
        default=Path("or_gate.svg"),
        help="the OR network's graph: .svg, .png, .pdf or .gv/.dot (default or_gate.svg); "
        "the page that steps through its backward pass goes beside it, as .html",
    )
    demo.set_defaults(run=run_demo)

    train = commands.add_parser("train", help="train an MLP on MNIST, as in Nielsen's book")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="mnist.pkl.gz, or a directory of the four IDX files")
    source.add_argument(
        "--download",
        action="store_true",
        help="fetch the four IDX files (verified) into ~/.cache/autograd_mini/mnist and use them",
    )
    train.add_argument(
        "--mirror",
        type=_mirror,
        metavar="URL",
        help="with --download: the http(s) address of a folder holding the four .gz files "
        f"(default ${MIRROR_VARIABLE}, else {DEFAULT_MIRROR})",
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
    train.add_argument("--init", choices=INITS, help="default normal")
    train.add_argument(
        "--seed",
        type=_non_negative_int,
        help="seed of the initialisation and the shuffles (default 0)",
    )
    train.add_argument("--dtype", choices=["float32", "float64"], help="default float64")
    train.add_argument(
        "--eval",
        choices=["test", "validation"],
        help="data scored each epoch (default test; a resumed run keeps its own)",
    )
    train.add_argument(
        "--save", type=_output_file, help="checkpoint (.npz) written after every epoch"
    )
    train.add_argument("--resume", type=Path, help="checkpoint to continue from")
    train.add_argument(
        "--plot",
        type=_output_file,
        help="write loss and accuracy curves (.png, .svg or .pdf, or a folder: curves.png in "
        "it; needs matplotlib)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--eager",
        action="store_true",
        help="run each step on the recorded graph (backward()) instead of its compiled numpy "
        "code: the same numbers, slower",
    )
    train.set_defaults(run=run_train)

    for name, run, help_text in (
        ("check", run_check, "compare autodiff, both closed forms and finite differences"),
        ("graph", run_graph, "draw the computation graph of a network's cost"),
        ("code", run_code, "print a network's forward and backward pass as numpy code"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--sizes",
            type=_positive_int,
            nargs="+",
            default=[2, 3, 1],
            help="layer sizes, inputs first (default 2 3 1)",
        )
        command.add_argument(
            "--cost", choices=costs, default="quadratic", help="the cost (default %(default)s)"
        )
        command.add_argument(
            "--activation",
            choices=["sigmoid", "tanh", "relu"],
            default="sigmoid",
            help="of the hidden layers (default %(default)s)",
        )
        command.add_argument(
            "--batch-size",
            type=_positive_int,
            default=4,
            help="rows of the random batch (default %(default)s)",
        )
        command.add_argument(
            "--seed",
            type=_non_negative_int,
            default=0,
            help="seed of the weights and the batch (default %(default)s)",
        )
        if name == "graph":
            command.add_argument(
                "-o",
                "--output",
                type=_output_file,
                help="file to write: .svg, .png, .pdf or .gv/.dot (the DOT text), or - for SVG "
                "on standard output (default graph.svg; with --html, an .html file, default "
                "graph.html)",
            )
            command.add_argument(
                "--html",
                action="store_true",
                help="write a page that steps through the backward pass instead of the drawing "
                "(default: the drawing)",
            )
        elif name == "check":
            command.add_argument(
                "--max-finite-differences",
                type=_non_negative_int,
                default=20_000,
                help="skip finite differences above this many parameters, or, for a network "
                "of more than two layers, when parameters × layers / 2 is above it (each "
                "difference runs every layer twice) (default %(default)s)",
            )
        command.set_defaults(run=run)
    for command in commands.choices.values():
        _add_debug(command, argparse.SUPPRESS)  # --debug after the command, too
    return top


def main(argv: Sequence[str] | None = None) -> int:
    with terminal.command_output():
        try:
            try:
                return _main(argv)
            finally:  # here, so that an output that cannot take the rest is reported below
                sys.stdout.flush()
        except terminal.StandardOutputError as exc:
            terminal.discard_standard_output()
            if exc.closed:  # the reader stopped reading (`| head -1`): stop quietly, as Unix does
                return 0
            terminal.report(f"{PROGRAM}: error: {exc}")
            return 1


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        # numpy's overflow, invalid and divide warnings are errors: on a terminal they would
        # print a line of numpy's source and let the command go on with inf or NaN
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            return args.run(args)
    except terminal.StandardOutputError:
        raise  # not an error of the command: main() reports it
    except KeyboardInterrupt:
        terminal.report(f"{PROGRAM}: interrupted")
        return 130
    except (UsageError, ag.AutogradError, CheckpointError, ValueError, OSError) as exc:
        if args.debug:
            raise
        terminal.report(f"{PROGRAM}: error: {printable(exc)}")
        return 1
    except FloatingPointError as exc:
        if args.debug:
            raise
        terminal.report(
            f"{PROGRAM}: error: numpy: {exc}; a result left the range of floating-point "
            "numbers, so the command stopped (--debug shows where)."
        )
        return 1
    except MemoryError as exc:
        if args.debug:
            raise
        terminal.report(f"{PROGRAM}: error: out of memory ({exc or 'numpy could not allocate'}).")
        return 1


if __name__ == "__main__":
    sys.exit(main())
