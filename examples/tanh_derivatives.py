"""tanh and its first six derivatives, each the gradient of the one before (HIPS autograd's
picture), plotted to a PNG with matplotlib (`pip install 'autograd-mini[plot]'`).

    python examples/tanh_derivatives.py                      # into the current folder
    python examples/tanh_derivatives.py --output-dir docs    # replace the docs' picture

Each derivative is `ag.grad` of the one before: the VJPs of the ops that computed it run
on Tensors and are recorded, so they can be differentiated again. tanh is elementwise, so
the gradient of the sum of f(x) is f′ at each point. Each is checked against its closed
form in t = tanh x (d/dx p(t) = p′(t)(1 − t²)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import autograd_mini as ag

CLOSED_FORMS = [  # t = tanh x
    ("1 − t²", lambda t: 1 - t**2),
    ("−2t + 2t³", lambda t: -2 * t + 2 * t**3),
    ("−2 + 8t² − 6t⁴", lambda t: -2 + 8 * t**2 - 6 * t**4),
    ("16t − 40t³ + 24t⁵", lambda t: 16 * t - 40 * t**3 + 24 * t**5),
    ("16 − 136t² + 240t⁴ − 120t⁶", lambda t: 16 - 136 * t**2 + 240 * t**4 - 120 * t**6),
    (
        "−272t + 1232t³ − 1680t⁵ + 720t⁷",
        lambda t: -272 * t + 1232 * t**3 - 1680 * t**5 + 720 * t**7,
    ),
]


def derivative(f):
    """f′ of an elementwise f, at each element: the gradient of the sum of f(x)."""
    return ag.grad(lambda x: f(x).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(),
        help="folder to write into (default: the current one; docs/ holds the docs' picture)",
    )
    args = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit(
            "tanh_derivatives.py needs matplotlib: pip install 'autograd-mini[plot]'"
        ) from None

    x = ag.Tensor(np.linspace(-7, 7, 300), requires_grad=True)
    curves = [ag.tanh(x)]
    f = ag.tanh
    for order, (formula, closed) in enumerate(CLOSED_FORMS, start=1):
        f = derivative(f)
        curves.append(f(x))
        error = np.max(np.abs(curves[-1].data - closed(np.tanh(x.data))))
        print(f"order {order}: {formula:<32} largest difference {error:.1e}")

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for order, curve in enumerate(curves):
        axes.plot(x.data, curve.data, linewidth=1.6, label=f"order {order}")
    axes.set_xlim(-7, 7)
    axes.set_title("tanh and its first six derivatives, each ag.grad of the one before")
    axes.axis("off")
    axes.legend(loc="upper right", fontsize=7, frameon=False)
    figure.tight_layout()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / "tanh_derivatives.png"
    figure.savefig(path, metadata={"Software": None})  # no version: the same bytes each run
    print("wrote", path)


if __name__ == "__main__":
    main()
