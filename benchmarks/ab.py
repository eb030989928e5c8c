"""Same-run A/B of the eager training step of two checkouts of the project.

Each round runs one child process per checkout (in alternating order), and each child
times `--steps` eager steps of W1 (784-30-10, sigmoid, quadratic cost, batch 10) or W4 (64
layers of width 32, softmax cross-entropy, batch 32) after a warm-up: the step as a user
writes it (zero_grad, the cost of model(X), backward, SGD step) and backward() alone. The
medians of the per-round times and of the per-round ratios B / A are printed.

On a busy machine the times of a round can differ by 2× either way. `--instructions` counts
instructions instead (valgrind's callgrind, one thread), which do not depend on the load:
per step, from runs of K and 4K steps (the difference cancels start-up), for the forward
pass alone and for forward and backward, so backward's own count is their difference.

    git archive main | tar -x -C /tmp/a             # a checkout to compare against
    python benchmarks/ab.py /tmp/a . --rounds 15
    python benchmarks/ab.py /tmp/a . --instructions
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
import numpy as np
import autograd_mini as ag, nn
workload, dtype, steps, mode = sys.argv[1], np.dtype(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
if workload == "W1":
    sizes, batch, cost = [784, 30, 10], 10, "quadratic"
else:
    sizes, batch, cost = [32] * 65, 32, "softmax-cross-entropy"
model = nn.MLP(sizes, seed=0, dtype=dtype,
               output_activation="sigmoid" if cost == "quadratic" else None)
X = rng.random((batch, sizes[0])).astype(dtype)
labels = rng.integers(0, sizes[-1], batch)
Y = nn.one_hot(labels, sizes[-1]).astype(dtype) if cost == "quadratic" else labels
loss_of = nn.get_cost(cost).loss
optimizer = nn.SGD(model.parameters(), lr=1e-3)
def step():
    optimizer.zero_grad()
    loss_of(model(X), Y).backward()
    optimizer.step()
for _ in range(20 if mode == "time" else 3):
    step()
if mode != "time":  # counted by callgrind: the forward pass alone, or with backward
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of(model(X), Y)
        if mode == "backward":
            loss.backward()
    sys.exit()
start = time.perf_counter()
for _ in range(steps):
    step()
whole = (time.perf_counter() - start) / steps
backward = 0.0
for _ in range(steps):
    optimizer.zero_grad()
    loss = loss_of(model(X), Y)
    start = time.perf_counter()
    loss.backward()
    backward += time.perf_counter() - start
print(json.dumps({"step": whole * 1e6, "backward": backward / steps * 1e6}))
"""


def run(checkout: Path, workload: str, dtype: str, steps: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, workload, dtype, str(steps), "time"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(checkout.resolve())},
        cwd=checkout.resolve(),  # (python -c puts the current folder before PYTHONPATH)
    )
    return json.loads(result.stdout)


def instructions(checkout: Path, workload: str, dtype: str, steps: int, mode: str) -> int:
    """Instructions callgrind counts in a child running `steps` steps in `mode`."""
    result = subprocess.run(
        [
            *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
            *(sys.executable, "-c", CHILD, workload, dtype, str(steps), mode),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "PYTHONPATH": str(checkout.resolve()),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        },
        cwd=checkout.resolve(),
    )
    return int(re.search(r"Collected : (\d+)", result.stderr)[1])


def count(a: Path, b: Path, cases: str) -> None:
    """Instructions per step of each checkout, and B / A."""
    for case in cases.split(","):
        workload, dtype, steps = case.split(":")
        k = max(2, int(steps) // 30)
        per: dict[str, dict[str, float]] = {}
        for name, path in (("A", a), ("B", b)):
            per[name] = {
                mode: (
                    instructions(path, workload, dtype, 4 * k, mode)
                    - instructions(path, workload, dtype, k, mode)
                )
                / (3 * k)
                for mode in ("forward", "backward")
            }
            per[name]["backward"] -= per[name]["forward"]
        for mode in ("forward", "backward"):
            a_count, b_count = per["A"][mode], per["B"][mode]
            print(
                f"{workload} {dtype} {mode:<8}: A {a_count:12,.0f}  B {b_count:12,.0f} "
                f"instructions per step  B/A {b_count / a_count:.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="checkout A (the baseline)")
    parser.add_argument("b", type=Path, help="checkout B")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--cases", default="W1:float32:300,W1:float64:300,W4:float32:30,W4:float64:30"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with callgrind"
    )
    args = parser.parse_args()
    if args.instructions:
        count(args.a, args.b, args.cases)
        return
    for case in args.cases.split(","):
        workload, dtype, steps = case.split(":")
        times: dict[str, dict[str, list[float]]] = {
            "A": {"step": [], "backward": []},
            "B": {"step": [], "backward": []},
        }
        ratios: dict[str, list[float]] = {"step": [], "backward": []}
        for k in range(args.rounds):
            order = [("A", args.a), ("B", args.b)][:: 1 if k % 2 == 0 else -1]
            measured = {name: run(path, workload, dtype, int(steps)) for name, path in order}
            for kind in ("step", "backward"):
                for name in "AB":
                    times[name][kind].append(measured[name][kind])
                ratios[kind].append(measured["B"][kind] / measured["A"][kind])
        for kind in ("step", "backward"):
            a, b = (statistics.median(times[n][kind]) for n in "AB")
            ratio = statistics.median(ratios[kind])
            spread = (min(ratios[kind]), max(ratios[kind]))
            print(
                f"{workload} {dtype} {kind:<8}: A {a:8.1f} µs  B {b:8.1f} µs  B/A median "
                f"{ratio:.3f} (rounds {spread[0]:.3f}–{spread[1]:.3f}, n={args.rounds})"
            )


if __name__ == "__main__":
    main()
