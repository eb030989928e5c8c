"""Time training steps of MLPs: autograd_mini and its peers against hand-written numpy.

    python benchmarks/bench.py                        # everything; about two minutes
    python benchmarks/bench.py --workloads W1 W4 --rounds 3 --no-mnist --no-memory
    python benchmarks/bench.py --save benchmarks/RESULTS.md

Steps: for each workload and dtype every implementation runs in interleaved rounds in this
one process (the order rotates each round); a round times `steps` consecutive SGD steps.
The table gives the median µs per step and, in brackets, the median over rounds of the
per-round ratio to hand-written numpy: ratios, not absolute times, survive a noisy shared
machine. Before anything is timed, each implementation's first-step gradients must agree
with the hand-written ones. Peers (torch, HIPS autograd, mygrad) are measured when they are
importable (`pip install -e ".[bench]"`). autograd_mini is measured twice: eager, as a user
writes a step (`cost.loss(model(X), Y).backward()`, then the SGD step; the tape is the book's:
`matmul`, `add`, the activation, then the cost), and compiled, as `nn.fit` runs it
(`nn.compile(model, cost)`: the printed numpy of that graph, then `optimizer.step(gradients)`).

MNIST: one epoch of Nielsen's 784-30-10 run (quadratic cost, mini-batch 10, η = 3.0) with
`nn.fit` (compiled, its default, and `compile=False`) against the same loop hand-written in
numpy, on ../shared/data/mnist.pkl.gz (skipped when absent); all visit the mini-batches in the
same order, and their parameters after 50 steps must agree.

Tracing: the time `ag.compile` takes at a step's first call (the eager step, printing its
code, exec'ing it and checking the lean code), for W1's and W4's networks.

Memory: the peak resident-memory growth during one W3 step (after a warm-up step), each
implementation alone in a fresh process (Linux /proc; skipped elsewhere). And the peak that
tracemalloc sees during `nn.fit` over four W3-sized steps against one step written out: fit
must release a step's graph before the next forward pass, so the two should be about equal.

check_backward: its cost against a plain backward() of W1's network, the same graph.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import handwritten  # noqa: E402
import implementations  # noqa: E402
from implementations import IMPLEMENTATIONS  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    batch: int
    cost: str  # "quadratic" (sigmoid output) or "softmax" (softmax cross-entropy on logits)
    steps: int  # steps per round
    description: str


WORKLOADS = {
    w.name: w
    for w in [
        Workload("W1", (784, 30, 10), 10, "quadratic", 200, "784-30-10, quadratic, batch 10"),
        Workload("W2", (784, 100, 10), 64, "softmax", 100, "784-100-10, softmax CE, batch 64"),
        Workload(
            "W3",
            (784, 1024, 1024, 10),
            256,
            "softmax",
            5,
            "784-1024-1024-10, softmax CE, batch 256",
        ),
        Workload("W4", (32,) * 65, 32, "softmax", 20, "64 layers × 32, softmax CE, batch 32"),
    ]
}


def problem(workload: Workload, dtype, seed: int = 0):
    """Starting parameters, a batch and its targets, drawn directly in `dtype`."""
    rng = np.random.default_rng(seed)
    params = [
        (
            rng.standard_normal((n_in, n_out), dtype=dtype) / np.sqrt(n_in).astype(dtype),
            rng.standard_normal(n_out, dtype=dtype),
        )
        for n_in, n_out in zip(workload.sizes[:-1], workload.sizes[1:], strict=True)
    ]
    X = rng.random((workload.batch, workload.sizes[0]), dtype=dtype)
    k = workload.sizes[-1]
    labels = rng.integers(0, k, workload.batch)
    Y = np.eye(k, dtype=dtype)[labels] if workload.cost == "quadratic" else labels
    return params, X, Y


def check_gradients(name, got, want, dtype):
    rtol = 1e-3 if dtype == np.float32 else 1e-8  # relative to each array's largest entry
    for layer, (pair_got, pair_want) in enumerate(zip(got, want, strict=True)):
        for what, g, w in zip(("W", "b"), pair_got, pair_want, strict=True):
            g = np.asarray(g)
            scale = np.abs(w).max() + np.finfo(dtype).tiny
            if g.shape != w.shape or np.abs(g - w).max() > rtol * scale:
                raise SystemExit(f"{name}: layer {layer} d{what} disagrees with hand-written numpy")


def measure_steps(workload: Workload, dtype, rounds: int, names: list[str]) -> dict[str, tuple]:
    params, X, Y = problem(workload, dtype)
    lr = 1e-3  # small: many rounds of steps stay in the same regime
    steps, reference = {}, handwritten.gradients(params, X, Y, workload.cost)
    for name in names:
        step, first_gradients = IMPLEMENTATIONS[name](params, X, Y, workload.cost, lr)
        check_gradients(name, first_gradients(), reference, dtype)
        step()  # warm-up
        steps[name] = step
    return interleave(
        {name: lambda s=steps[name]: [s() for _ in range(workload.steps)] for name in names},
        rounds,
        per=workload.steps,
    )


def interleave(runs: dict, rounds: int, per: int) -> dict[str, tuple[float, float]]:
    """Median µs per unit and median per-round ratio to "numpy", rounds interleaved."""
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append((time.perf_counter() - start) / per * 1e6)
    base = np.array(times["numpy"])
    return {
        n: (float(np.median(t)), float(np.median(np.array(t) / base))) for n, t in times.items()
    }


# ----------------------------------------------------------------------------------------
# One MNIST epoch
# ----------------------------------------------------------------------------------------


def mnist_path() -> Path | None:
    root = os.environ.get("AUTOGRAD_MINI_DATA")
    path = Path(root) if root else HERE.parent.parent / "shared" / "data"
    path = path / "mnist.pkl.gz"
    return path if path.is_file() else None


def measure_mnist_epoch(dtype, rounds: int) -> dict[str, tuple] | None:
    path = mnist_path()
    if path is None:
        return None
    import nn
    from nn.data import load_mnist

    X, labels = load_mnist(path).train
    Y = np.eye(10, dtype=dtype)[labels]
    rng = np.random.default_rng(0)
    start = [
        (rng.standard_normal((784, 30)), rng.standard_normal(30)),
        (rng.standard_normal((30, 10)), rng.standard_normal(10)),
    ]
    start = [(W.astype(dtype), b.astype(dtype)) for W, b in start]

    def numpy_epoch(params, n=None):
        n = n or len(X)
        order = np.random.default_rng([7, 0]).permutation(n)  # fit's order for seed 7
        for i in range(0, n, 10):
            rows = order[i : i + 10]
            handwritten.step(params, X[rows].astype(dtype, copy=False), Y[rows], 3.0, "quadratic")

    def engine_epoch(model, n=None, compile=True):
        n = n or len(X)
        nn.fit(model, (X[:n], labels[:n]), epochs=1, batch_size=10, lr=3.0, seed=7, compile=compile)

    def fresh_model():
        model = nn.MLP([784, 30, 10], dtype=dtype)
        model.load_state_dict(
            {
                f"layers.{i}.{k}": v
                for i, (W, b) in enumerate(start)
                for k, v in (("weight", W), ("bias", b))
            }
        )
        return model

    # honesty: 50 steps from the same start in the same order give the same parameters (over
    # a whole epoch, rounding differences between two correct implementations grow chaotically)
    params = [(W.copy(), b.copy()) for W, b in start]
    numpy_epoch(params, n=500)
    for compile in (True, False):
        model = fresh_model()
        engine_epoch(model, n=500, compile=compile)
        check_gradients(
            "autograd_mini (MNIST, parameters after 50 steps)",
            [(layer.weight.data, layer.bias.data) for layer in model.layers],
            params,
            dtype,
        )
    runs = {
        "numpy": lambda: numpy_epoch([(W.copy(), b.copy()) for W, b in start]),
        "autograd_mini": lambda: engine_epoch(fresh_model(), compile=False),
        "autograd_mini compiled": lambda: engine_epoch(fresh_model()),
    }
    return interleave(runs, rounds, per=1)


# ----------------------------------------------------------------------------------------
# Peak memory of a W3 step, one implementation per process
# ----------------------------------------------------------------------------------------


def _proc_status(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # MiB
    raise RuntimeError(f"{key} not in /proc/self/status")


def memory_child(name: str, dtype_name: str) -> None:
    """Run in a fresh process: print the peak RSS growth (MiB) during one W3 step."""
    dtype = np.dtype(dtype_name).type
    params, X, Y = problem(WORKLOADS["W3"], dtype)
    step, _ = IMPLEMENTATIONS[name](params, X, Y, "softmax", 1e-3)
    step()  # warm-up: imports, caches, first allocations
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back, so reuse cannot hide
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the current resident size
    before = _proc_status("VmRSS")
    step()
    print(json.dumps({"growth_mib": _proc_status("VmHWM") - before}))


def measure_memory(dtype_name: str, names: list[str]) -> dict[str, float] | None:
    if not Path("/proc/self/clear_refs").exists():
        return None
    growth = {}
    for name in names:
        result = subprocess.run(
            [sys.executable, __file__, "--memory-child", name, dtype_name],
            capture_output=True,
            text=True,
            check=True,
        )
        growth[name] = json.loads(result.stdout.strip().splitlines()[-1])["growth_mib"]
    return growth


def measure_fit_memory(dtype) -> dict[str, tuple[float, float]]:
    """Peak MiB allocated (tracemalloc: numpy reports its arrays to it) during one W3-sized
    step written out (zero_grad, the cost, backward, step) and during `nn.fit` over four such
    steps, eager and compiled. A loop that kept the previous step's loss until the next
    forward pass would hold two graphs at once: about twice one step."""
    import tracemalloc

    import nn

    workload = WORKLOADS["W3"]
    params, X, labels = problem(workload, dtype)
    state = {
        f"layers.{i}.{kind}": value
        for i, pair in enumerate(params)
        for kind, value in zip(("weight", "bias"), pair, strict=True)
    }
    cost = nn.get_cost("softmax-cross-entropy")
    X4, labels4 = np.concatenate([X] * 4), np.concatenate([labels] * 4)

    def peak(run) -> float:
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    results = {}
    for name, compiled in (("autograd_mini", False), ("autograd_mini compiled", True)):
        model = nn.MLP(workload.sizes, output_activation=None, dtype=dtype)
        model.load_state_dict(state)
        optimizer = nn.SGD(model.parameters(), lr=1e-3)
        traced = nn.compile(model, cost)

        def step(model=model, optimizer=optimizer, traced=traced, compiled=compiled):
            if compiled:
                _, gradients = traced.gradients(X, labels)
                optimizer.step(gradients)
                return
            optimizer.zero_grad()
            loss = cost.loss(model(X), labels)
            loss.backward()
            optimizer.step()

        step()  # warm-up
        one = peak(step)
        model = nn.MLP(workload.sizes, output_activation=None, dtype=dtype)
        model.load_state_dict(state)
        fitted = peak(
            lambda model=model, compiled=compiled: nn.fit(
                model,
                (X4, labels4),
                epochs=1,
                batch_size=workload.batch,
                lr=1e-3,
                cost=cost,
                compile=compiled,
            )
        )
        results[name] = (one, fitted)
    return results


# ----------------------------------------------------------------------------------------
# The cost of ag.check_backward against a plain backward() of the same graph
# ----------------------------------------------------------------------------------------


def measure_check_backward(dtype, rounds: int) -> dict[str, float]:
    """µs of backward() and of check_backward() (every parameter's gradient by the closed
    form) on W1's network, each on a freshly recorded graph; the forward is not counted."""
    import autograd_mini as ag
    import nn

    rng = np.random.default_rng(0)
    model = nn.MLP([784, 30, 10], seed=0, dtype=dtype)
    X = rng.random((10, 784), dtype=dtype)
    Y = nn.one_hot(rng.integers(0, 10, 10), 10, dtype=dtype)
    manual = nn.backprop_rows(model, X, Y)
    if not ag.check_backward(ag.quadratic_cost(model(X), Y), manual).ok:
        raise SystemExit("check_backward: the closed form should agree with autodiff")

    def timed(run) -> float:
        losses = [ag.quadratic_cost(model(X), Y) for _ in range(20)]
        start = time.perf_counter()
        for loss in losses:
            run(loss)
        return (time.perf_counter() - start) / len(losses) * 1e6

    times: dict[str, list[float]] = {"backward": [], "check_backward": []}
    for _ in range(rounds):
        times["backward"].append(timed(lambda loss: loss.backward()))
        times["check_backward"].append(timed(lambda loss: ag.check_backward(loss, manual)))
    ratio = np.array(times["check_backward"]) / np.array(times["backward"])
    return {
        "backward": float(np.median(times["backward"])),
        "check_backward": float(np.median(times["check_backward"])),
        "ratio": float(np.median(ratio)),
    }


# ----------------------------------------------------------------------------------------
# Tracing: what a compiled step's first call costs
# ----------------------------------------------------------------------------------------


def measure_tracing(workload: Workload, dtype, rounds: int) -> tuple[float, float]:
    """ms of a compiled step's first call (trace, print, exec, check) and of an eager step
    (forward and backward) of the same network, medians over `rounds` fresh steps."""
    import autograd_mini as ag

    params, X, Y = problem(workload, dtype)
    model, cost = implementations._model(params, X, workload.cost)
    traced, eager = [], []
    for _ in range(rounds):
        step = ag.compile(lambda X, Y: cost.loss(model(X), Y))
        start = time.perf_counter()
        step.gradients(X, Y)
        traced.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        cost.loss(model(X), Y).backward()
        eager.append((time.perf_counter() - start) * 1e3)
    return float(np.median(traced)), float(np.median(eager))


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def versions(names: list[str]) -> str:
    packages = {"numpy": "numpy", "torch": "torch", "HIPS autograd": "autograd", "mygrad": "mygrad"}
    parts = [f"python {platform.python_version()}"]
    for name in names:
        if name in packages:
            parts.append(f"{packages[name]} {metadata.version(packages[name])}")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores; " + ", ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per workload")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument(
        "--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"]
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(IMPLEMENTATIONS),
        help="implementations to run (numpy always)",
    )
    parser.add_argument("--no-mnist", action="store_true", help="skip the MNIST epoch")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the W3 and nn.fit memory measurements"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip the cost of ag.check_backward"
    )
    parser.add_argument(
        "--no-trace", action="store_true", help="skip the time a compiled step takes to trace"
    )
    parser.add_argument("--save", type=Path, help="also write the report (markdown) to this file")
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("IMPL", "DTYPE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    names = [
        "numpy",
        *[n for n in IMPLEMENTATIONS if n != "numpy" and (not args.only or n in args.only)],
    ]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {versions(names)}.",
        f"{args.rounds} interleaved rounds; µs per step (median), in brackets the ratio to "
        "hand-written numpy (median of the per-round ratios).",
        "",
        "| workload | dtype | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    print("\n".join(lines), flush=True)

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    for key in args.workloads:
        workload = WORKLOADS[key]
        for dtype_name in args.dtypes:
            result = measure_steps(workload, np.dtype(dtype_name).type, args.rounds, names)
            cells = [f"{result[n][0]:,.0f} ({result[n][1]:.2f}×)" for n in names]
            emit(f"| {key}: {workload.description} | {dtype_name} | " + " | ".join(cells) + " |")
    if not args.no_mnist:
        for dtype_name in args.dtypes:
            result = measure_mnist_epoch(np.dtype(dtype_name).type, max(3, args.rounds // 2))
            if result is None:
                emit("| MNIST epoch | - | skipped: ../shared/data/mnist.pkl.gz not found |")
                break
            cells = [
                f"{result[n][0] / 1e6:.2f} s ({result[n][1]:.2f}×)" if n in result else "-"
                for n in names
            ]
            emit(f"| MNIST epoch, 784-30-10, nn.fit | {dtype_name} | " + " | ".join(cells) + " |")
    if not args.no_trace:
        emit("")
        emit(
            "Tracing: a compiled step's first call (trace, print, exec, check), against one "
            "eager step of the same network (ms, median):"
        )
        emit("")
        emit("| workload | dtype | first call | eager step |")
        emit("|---|---|---|---|")
        for key in [k for k in ("W1", "W4") if k in args.workloads]:
            for dtype_name in args.dtypes:
                first, eager = measure_tracing(
                    WORKLOADS[key], np.dtype(dtype_name).type, max(3, args.rounds)
                )
                emit(f"| {key} | {dtype_name} | {first:.1f} | {eager:.2f} |")
    if not args.no_check:
        emit("")
        emit(
            "ag.check_backward on W1's network (every parameter's gradient, from the closed "
            "form), against a plain backward() of the same graph (µs, median; forward not "
            "counted):"
        )
        emit("")
        emit("| dtype | backward() | check_backward() | ratio |")
        emit("|---|---|---|---|")
        for dtype_name in args.dtypes:
            cost = measure_check_backward(np.dtype(dtype_name).type, args.rounds)
            emit(
                f"| {dtype_name} | {cost['backward']:,.0f} | {cost['check_backward']:,.0f} | "
                f"{cost['ratio']:.1f}× |"
            )
    if not args.no_memory and "W3" in args.workloads:
        growth = measure_memory("float32", names)
        if growth is not None:
            base = growth["numpy"]
            emit("")
            emit(
                "Peak resident-memory growth during one W3 step, float32 (MiB; each alone in a "
                "fresh process, after a warm-up step):"
            )
            emit("")
            emit("| " + " | ".join(names) + " |")
            emit("|" + "---|" * len(names))
            emit(
                "| "
                + " | ".join(f"{growth[n]:.1f} ({growth[n] / base:.2f}×)" for n in names)
                + " |"
            )
    if not args.no_memory:
        emit("")
        emit(
            "Peak memory allocated (tracemalloc, MiB) by one W3 step written out and by nn.fit "
            "over four W3 steps, float32 (compiled: fit's first step traces, a peak it has "
            "once):"
        )
        emit("")
        emit("| implementation | one step | nn.fit, 4 steps | ratio |")
        emit("|---|---|---|---|")
        for name, (one, fitted) in measure_fit_memory(np.float32).items():
            emit(f"| {name} | {one:.1f} | {fitted:.1f} | {fitted / one:.2f}× |")
    if args.save:
        args.save.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
