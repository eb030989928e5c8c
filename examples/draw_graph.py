"""Write the SVG drawings shown in the README: the loss graphs of Nielsen's 784-30-10
network (a mini-batch of 10, after backward) and of the OR-gate network.

    python examples/draw_graph.py                      # into the current folder
    python examples/draw_graph.py --output-dir docs    # replace the README's drawings
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import autograd_mini as ag
import nn
from nn.gates import INPUTS, TARGETS, network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(),
        help="folder to write into (default: the current one; docs/ holds the README's)",
    )
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(0)
    model = nn.MLP([784, 30, 10], seed=0)
    X = rng.uniform(0, 1, (10, 784))  # a mini-batch of 10 images
    Y = nn.one_hot(rng.integers(0, 10, 10), 10)
    loss = ag.quadratic_cost(model(X), Y)
    loss.backward()
    print("wrote", ag.save_svg(loss, args.output_dir / "nielsen_784_30_10.svg"))

    model = network("OR")
    loss = ag.quadratic_cost(model(INPUTS), TARGETS["OR"])
    loss.backward()
    print("wrote", ag.save_svg(loss, args.output_dir / "or_gate.svg"))


if __name__ == "__main__":
    main()
