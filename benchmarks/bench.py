"""Time one training step of several MLPs: autograd_mini against hand-written numpy.

    python benchmarks/bench.py                 # all workloads, float32 and float64
    python benchmarks/bench.py --rounds 3 --workloads W1

For each workload and dtype, the implementations run in interleaved rounds in this one
process (the order rotates each round); a round times `steps` consecutive SGD steps. The
table gives the median µs per step and the median over rounds of the per-round ratio to
hand-written numpy: ratios, not absolute times, are what survive a noisy shared machine.
Before anything is timed, each implementation's first-step gradients must agree with the
hand-written ones.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from implementations import IMPLEMENTATIONS


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    batch: int
    cost: str  # "quadratic" or "softmax"
    steps: int  # steps per round
    description: str


WORKLOADS = {
    w.name: w
    for w in [
        Workload("W1", (784, 30, 10), 10, "quadratic", 200, "784-30-10, quadratic, batch 10"),
        Workload("W4", (32,) * 65, 32, "softmax", 20, "64 layers × 32, softmax CE, batch 32"),
    ]
}


def problem(workload: Workload, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = [
        (rng.standard_normal((n_in, n_out)).astype(dtype), rng.standard_normal(n_out).astype(dtype))
        for n_in, n_out in zip(workload.sizes[:-1], workload.sizes[1:], strict=True)
    ]
    X = rng.random((workload.batch, workload.sizes[0])).astype(dtype)
    k = workload.sizes[-1]
    labels = rng.integers(0, k, workload.batch)
    Y = np.eye(k, dtype=dtype)[labels] if workload.cost == "quadratic" else labels
    return params, X, Y


def check_gradients(name, first_gradients, reference, dtype):
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    for layer, (got, want) in enumerate(zip(first_gradients(), reference, strict=True)):
        for what, g, w in zip(("W", "b"), got, want, strict=True):
            scale = np.abs(w).max() + np.finfo(dtype).tiny
            if g.shape != w.shape or not np.allclose(g, w, rtol=rtol, atol=rtol * scale):
                raise SystemExit(f"{name}: layer {layer} d{what} disagrees with hand-written numpy")


def measure(workload: Workload, dtype, rounds: int, names: list[str]) -> dict[str, tuple]:
    params, X, Y = problem(workload, dtype)
    lr = 1e-3  # small, so that many rounds of steps stay in the same regime
    steps, reference = {}, None
    for name in names:
        step, first_gradients = IMPLEMENTATIONS[name](params, X, Y, workload.cost, lr)
        if reference is None:
            reference = first_gradients()
        check_gradients(name, first_gradients, reference, dtype)
        step()  # warm-up
        steps[name] = step
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            for _ in range(workload.steps):
                steps[name]()
            times[name].append((time.perf_counter() - start) / workload.steps * 1e6)
    base = np.array(times["numpy"])
    return {
        name: (float(np.median(t)), float(np.median(np.array(t) / base)))
        for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = parser.parse_args(argv)
    names = list(IMPLEMENTATIONS)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{args.rounds} interleaved rounds; µs per step (median) and ratio to numpy "
        "(median of the per-round ratios)\n"
    )
    print("| workload | dtype | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for key in args.workloads:
        workload = WORKLOADS[key]
        for dtype_name in args.dtypes:
            result = measure(workload, np.dtype(dtype_name).type, args.rounds, names)
            cells = [f"{result[n][0]:,.0f} µs ({result[n][1]:.2f}×)" for n in names]
            row = f"| {key} {workload.description} | {dtype_name} | " + " | ".join(cells)
            print(row + " |", flush=True)


if __name__ == "__main__":
    main()
