"""Nielsen's chapter 1, with the API: a 784-30-10 sigmoid network learns MNIST.

Quadratic cost, weights and biases from N(0, 1), 30 epochs of SGD with mini-batches of 10
and η = 3.0, scored on the 10,000 test images after every epoch: the book reports 95.42% at
its best epoch. (The command line does the same: autograd-mini train --data PATH.)

    python examples/nielsen_mnist.py --data ../shared/data/mnist.pkl.gz
    python examples/nielsen_mnist.py --epochs 1 --train-size 2000     # a quick look
"""

from __future__ import annotations

import argparse

import nn
from nn.data import load_mnist, shared_data_dir


def at_least_one(text: str) -> int:
    """argparse type of --epochs: 0 epochs would train nothing and have no best epoch."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = shared_data_dir()
    parser.add_argument(
        "--data",
        default=shared / "mnist.pkl.gz" if shared else None,
        help="mnist.pkl.gz or a directory of IDX files",
    )
    parser.add_argument("--epochs", type=at_least_one, default=30)
    parser.add_argument(
        "--train-size", type=int, default=50_000, help="use the first N training images"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data (mnist.pkl.gz or a directory of the IDX files)")

    data = load_mnist(args.data)
    X, y = data.train
    X, y = X[: args.train_size], y[: args.train_size]
    model = nn.MLP([784, 30, 10], seed=args.seed)  # sigmoid, N(0, 1) init: the book's network
    print(f"{model.describe()}: {len(X)} training images, quadratic cost, mini-batch 10, η = 3.0")
    history = nn.fit(
        model,
        (X, y),
        epochs=args.epochs,
        batch_size=10,
        lr=3.0,
        cost="quadratic",
        evaluation=data.test,
        seed=args.seed,
        callbacks=[print],  # prints "Epoch k: correct / total  (...)" as network.py does
    )
    best = history.best()
    print(f"best: epoch {best.epoch}, {best.correct} / {best.total} = {100 * best.accuracy:.2f}%")


if __name__ == "__main__":
    main()
