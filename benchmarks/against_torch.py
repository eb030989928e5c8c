"""Double backward against PyTorch's, over random graphs of the op table's ops (float64).

An independent check, outside the package: it needs torch (`pip install torch==2.13.0`,
a CPU build; torch is not a dependency of the project). Each graph starts from a few random
leaves, applies a random sequence of the table's ops (each written twice, with autograd_mini
and with torch), and ends in one of the losses. Then, in both engines:

    g = ∂L/∂leaves (create_graph=True),   s = Σ v ⊙ g (random v),   h = ∂s/∂leaves

and g and h must agree: |ours − torch| ≤ rtol·(|torch| + max|torch|) for each leaf, the
max over every leaf's derivative of that order, with rtol = 1e-9 (the max: a sum that
cancels to ≈ 0 is exact only to the rounding of its terms, REFERENCE §6).

    python benchmarks/against_torch.py                  # 300 graphs
    python benchmarks/against_torch.py --graphs 2000 --seed 7
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import autograd_mini as ag
from autograd_mini import Tensor

RTOL = 1e-9
SHAPE = (3, 4)


@dataclass(frozen=True)
class Step:
    """One op of a random graph, written for both engines: `ours(*values)` on Tensors,
    `theirs(torch, F, *values)` on torch tensors; `arity` values of shape (3, 4) in, one
    out. `ops` names the table's ops it exercises."""

    ops: tuple[str, ...]
    arity: int
    ours: Callable
    theirs: Callable


MASK = np.arange(12).reshape(SHAPE) % 3 != 0
DROPPED = np.arange(12).reshape(SHAPE) % 5 != 1  # keeps two of each column's three
ROWS = [2, 0, 1]
OFFSETS = np.array([[0.0], [1.0], [2.0]])


def _unary(ops: str, ours: Callable, theirs: Callable) -> Step:
    return Step(tuple(ops.split()), 1, ours, theirs)


def _binary(ops: str, ours: Callable, theirs: Callable) -> Step:
    return Step(tuple(ops.split()), 2, ours, theirs)


def steps(torch) -> list[Step]:
    """The ops of the table, each kept inside its domain by ops of the table (x·x + 0.5 is
    positive, 0.9·tanh x inside (−1, 1))."""
    positive = (lambda x: x * x + 0.5, lambda t: t * t + 0.5)
    unit = (lambda x: x.tanh() * 0.9, lambda t: torch.tanh(t) * 0.9)
    pos, tpos = positive
    uni, tuni = unit
    M = np.random.default_rng(99).standard_normal((4, 4)) / 2
    Mt = torch.tensor(M)
    mask, dropped, offsets = torch.tensor(MASK), torch.tensor(DROPPED), torch.tensor(OFFSETS)
    return [
        _unary("neg", lambda x: -x, lambda t, F: -t),
        _unary("exp tanh", lambda x: x.tanh().exp(), lambda t, F: torch.exp(torch.tanh(t))),
        _unary("log mul add", lambda x: pos(x).log(), lambda t, F: torch.log(tpos(t))),
        _unary("sigmoid", lambda x: x.sigmoid(), lambda t, F: torch.sigmoid(t)),
        _unary("tanh", lambda x: x.tanh(), lambda t, F: torch.tanh(t)),
        _unary("relu", lambda x: x.relu(), lambda t, F: F.relu(t)),
        _unary("abs", lambda x: x.abs(), lambda t, F: torch.abs(t)),
        _unary("clip", lambda x: x.clip(-0.5, 0.5), lambda t, F: torch.clamp(t, -0.5, 0.5)),
        _unary("log1p", lambda x: (x * x).log1p(), lambda t, F: torch.log1p(t * t)),
        _unary("expm1", lambda x: uni(x).expm1(), lambda t, F: torch.expm1(tuni(t))),
        _unary("leaky_relu", lambda x: x.leaky_relu(0.1), lambda t, F: F.leaky_relu(t, 0.1)),
        _unary("softplus", lambda x: x.softplus(), lambda t, F: F.softplus(t)),
        _unary("silu", lambda x: x.silu(), lambda t, F: F.silu(t)),
        _unary("gelu erf", lambda x: x.gelu(), lambda t, F: F.gelu(t)),
        _unary(
            "gelu",
            lambda x: x.gelu(approximate="tanh"),
            lambda t, F: F.gelu(t, approximate="tanh"),
        ),
        _unary("erf", lambda x: x.erf(), lambda t, F: torch.erf(t)),
        _unary("sin", lambda x: x.sin(), lambda t, F: torch.sin(t)),
        _unary("cos", lambda x: x.cos(), lambda t, F: torch.cos(t)),
        _unary("tan", lambda x: uni(x).tan(), lambda t, F: torch.tan(tuni(t))),
        _unary("sinh", lambda x: uni(x).sinh(), lambda t, F: torch.sinh(tuni(t))),
        _unary("cosh", lambda x: uni(x).cosh(), lambda t, F: torch.cosh(tuni(t))),
        _unary("arcsin", lambda x: uni(x).arcsin(), lambda t, F: torch.asin(tuni(t))),
        _unary("arccos", lambda x: uni(x).arccos(), lambda t, F: torch.acos(tuni(t))),
        _unary("arctan", lambda x: x.arctan(), lambda t, F: torch.atan(t)),
        _unary("arcsinh", lambda x: x.arcsinh(), lambda t, F: torch.asinh(t)),
        _unary("arccosh", lambda x: (pos(x) + 1).arccosh(), lambda t, F: torch.acosh(tpos(t) + 1)),
        _unary("arctanh", lambda x: uni(x).arctanh(), lambda t, F: torch.atanh(tuni(t))),
        _unary("log2", lambda x: pos(x).log2(), lambda t, F: torch.log2(tpos(t))),
        _unary("log10", lambda x: pos(x).log10(), lambda t, F: torch.log10(tpos(t))),
        _unary("exp2", lambda x: uni(x).exp2(), lambda t, F: torch.exp2(tuni(t))),
        _unary("deg2rad", lambda x: x.deg2rad(), lambda t, F: torch.deg2rad(t)),
        _unary(
            "rad2deg", lambda x: uni(x).rad2deg() / 50, lambda t, F: torch.rad2deg(tuni(t)) / 50
        ),
        _unary(  # away from 0, where torch's sinc″ is nan (ours is −π²/3: test_higher.py)
            "sinc", lambda x: pos(x).sinc(), lambda t, F: torch.sinc(tpos(t))
        ),
        _unary("sign", lambda x: x.sign() * x, lambda t, F: torch.sign(t) * t),
        _unary("astype", lambda x: x.astype(np.float64), lambda t, F: t.to(torch.float64)),
        _unary("pow", lambda x: x**2, lambda t, F: t**2),
        _unary("pow", lambda x: uni(x) ** 3, lambda t, F: tuni(t) ** 3),
        _unary("pow", lambda x: pos(x) ** -1.5, lambda t, F: tpos(t) ** -1.5),
        _unary("pow", lambda x: pos(x).sqrt(), lambda t, F: torch.sqrt(tpos(t))),
        _unary(
            "sum",
            lambda x: x - x.sum(axis=1, keepdims=True) / 4,
            lambda t, F: t - t.sum(dim=1, keepdim=True) / 4,
        ),
        _unary("mean", lambda x: x * x.mean(axis=0), lambda t, F: t * t.mean(dim=0)),
        _unary("max", lambda x: x - x.max(axis=1, keepdims=True), lambda t, F: t - t.amax(1, True)),
        _unary("min", lambda x: x * x.min(axis=0), lambda t, F: t * t.amin(0)),
        _unary(
            "var",
            lambda x: x * x.var(axis=1, ddof=1, keepdims=True),
            lambda t, F: t * torch.var(t, dim=1, correction=1, keepdim=True),
        ),
        _unary(  # the offsets keep a column from being constant (std 0 has no derivative)
            "std",
            lambda x: x / (x + OFFSETS).std(axis=0),
            lambda t, F: t / torch.std(t + offsets, dim=0, correction=0),
        ),
        _unary(  # the offsets keep a row from being 0 (norm 0 has no derivative)
            "norm",
            lambda x: x / (x + OFFSETS).norm(axis=1, keepdims=True),
            lambda t, F: t / torch.linalg.vector_norm(t + offsets, dim=1, keepdim=True),
        ),
        _unary(
            "logsumexp",
            lambda x: x - x.logsumexp(axis=1, keepdims=True),
            lambda t, F: t - torch.logsumexp(t, dim=1, keepdim=True),
        ),
        _unary(
            "prod",
            lambda x: x * uni(x).prod(axis=1, keepdims=True),
            lambda t, F: t * torch.prod(tuni(t), dim=1, keepdim=True),
        ),
        _unary("cumsum", lambda x: x.cumsum(axis=1) / 3, lambda t, F: torch.cumsum(t, 1) / 3),
        _unary("softmax", lambda x: x.softmax(axis=1), lambda t, F: torch.softmax(t, 1)),
        _unary("log_softmax", lambda x: x.log_softmax(axis=0), lambda t, F: F.log_softmax(t, 0)),
        _unary(
            "reshape transpose",
            lambda x: x.reshape(4, 3).T,
            lambda t, F: t.reshape(4, 3).T,
        ),
        _unary(
            "expand_dims squeeze",
            lambda x: x.expand_dims(0).squeeze(0),
            lambda t, F: t.unsqueeze(0).squeeze(0),
        ),
        _unary("flip", lambda x: x.flip(axis=1), lambda t, F: torch.flip(t, (1,))),
        _unary("roll", lambda x: x.roll(1, axis=1), lambda t, F: torch.roll(t, 1, 1)),
        _unary("getitem scatter", lambda x: x[ROWS], lambda t, F: t[ROWS]),
        _unary(
            "tile getitem scatter",
            lambda x: x[:, 1:3].tile((1, 2)),
            lambda t, F: torch.tile(t[:, 1:3], (1, 2)),
        ),
        _unary(
            "scatter getitem",
            lambda x: ag.apply(
                ag.OPS["scatter"], x[:, :2], index=(slice(None), slice(1, 3)), shape=SHAPE
            ),
            lambda t, F: F.pad(t[:, :2], (1, 1)),
        ),
        _unary("triu", lambda x: x.triu(1), lambda t, F: torch.triu(t, 1)),
        _unary("tril", lambda x: x.tril(), lambda t, F: torch.tril(t)),
        _unary(
            "diag",
            lambda x: x + x[:, :3].diag().reshape(3, 1),
            lambda t, F: t + torch.diag(t[:, :3]).reshape(3, 1),
        ),
        _unary("trace", lambda x: x * x[:, :3].trace(), lambda t, F: t * torch.trace(t[:, :3])),
        _unary("matmul", lambda x: x @ M, lambda t, F: t @ Mt),
        _unary(
            "einsum",
            lambda x: ag.einsum("ij,kj->ik", x, x) @ x / 4,
            lambda t, F: torch.einsum("ij,kj->ik", t, t) @ t / 4,
        ),
        _unary(
            "broadcast_to",
            lambda x: ag.broadcast_to(x[0], SHAPE) * x,
            lambda t, F: t[0].expand(*SHAPE) * t,
        ),
        _unary(
            "dropout",
            lambda x: ag.apply(ag.OPS["dropout"], x, mask=DROPPED, p=0.25),
            lambda t, F: t * dropped / 0.75,
        ),
        _binary("add", lambda x, y: x + y[0], lambda t, u, F: t + u[0]),
        _binary("sub", lambda x, y: x - y[:, :1], lambda t, u, F: t - u[:, :1]),
        _binary("mul", lambda x, y: x * y, lambda t, u, F: t * u),
        _binary("div", lambda x, y: x / pos(y), lambda t, u, F: t / tpos(u)),
        _binary("power", lambda x, y: pos(x) ** uni(y), lambda t, u, F: tpos(t) ** tuni(u)),
        _binary("maximum", lambda x, y: ag.maximum(x, y), lambda t, u, F: torch.maximum(t, u)),
        _binary("minimum", lambda x, y: ag.minimum(x, y), lambda t, u, F: torch.minimum(t, u)),
        _binary(
            "where", lambda x, y: ag.where(MASK, x, y), lambda t, u, F: torch.where(mask, t, u)
        ),
        _binary("matmul", lambda x, y: x @ y.T @ x / 4, lambda t, u, F: t @ u.T @ t / 4),
        _binary(
            "concatenate",
            lambda x, y: ag.concatenate([x[:, :1], y[:, 1:]], axis=1),
            lambda t, u, F: torch.cat([t[:, :1], u[:, 1:]], 1),
        ),
        _binary(
            "stack",
            lambda x, y: ag.stack([x, y]).mean(axis=0),
            lambda t, u, F: torch.stack([t, u]).mean(0),
        ),
    ]


LABELS = np.array([0, 3, 1])


def losses(torch) -> list[Step]:
    """The table's losses, each of two (3, 4) values."""
    labels = torch.tensor(LABELS)
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0])
    return [
        _binary("mse_loss", ag.mse_loss, lambda t, u, F: F.mse_loss(t, u)),
        _binary(
            "quadratic_cost",
            ag.quadratic_cost,
            lambda t, u, F: 0.5 * ((t - u) ** 2).sum() / t.shape[0],
        ),
        _binary(  # probabilities kept in (0.05, 0.95): near 0, the second derivative of
            # ln σ(x) is a difference of terms ~1/p², and the two engines round those apart
            "binary_cross_entropy sigmoid",
            lambda x, y: ag.binary_cross_entropy((x.tanh() * 3).sigmoid(), y.sigmoid()),
            lambda t, u, F: F.binary_cross_entropy(
                torch.sigmoid(torch.tanh(t) * 3), torch.sigmoid(u)
            ),
        ),
        _binary(
            "binary_cross_entropy_with_logits",
            lambda x, y: ag.binary_cross_entropy_with_logits(
                x, y.sigmoid(), pos_weight=np.array([0.5, 2.0, 1.0, 3.0])
            ),
            lambda t, u, F: F.binary_cross_entropy_with_logits(
                t, torch.sigmoid(u), pos_weight=weight
            ),
        ),
        _binary(
            "cross_entropy",
            lambda x, y: ag.cross_entropy(x, LABELS, label_smoothing=0.1) + (y * 0).sum(),
            lambda t, u, F: F.cross_entropy(t, labels, label_smoothing=0.1) + (u * 0).sum(),
        ),
        _binary(
            "cross_entropy softmax",
            lambda x, y: ag.cross_entropy(x, y.softmax(axis=1)),
            lambda t, u, F: F.cross_entropy(t, torch.softmax(u, 1)),
        ),
        _binary(
            "nll_loss log_softmax",
            lambda x, y: ag.nll_loss(x.log_softmax(axis=1), LABELS, reduction="sum") * y.mean(),
            lambda t, u, F: F.nll_loss(F.log_softmax(t, 1), labels, reduction="sum") * u.mean(),
        ),
    ]


def one_graph(torch, F, pool: list[Step], ends: list[Step], rng, length: int):
    """A random graph of `length` steps on three leaves, and its loss: (ours, torch's)
    leaves and losses, and the names of the ops used."""
    leaves = [rng.standard_normal(SHAPE) for _ in range(3)]
    ours = [Tensor(a, requires_grad=True) for a in leaves]
    theirs = [torch.tensor(a, requires_grad=True) for a in leaves]
    values = list(zip(ours, theirs, strict=True))
    used = []
    for _ in range(length):
        step = pool[rng.integers(len(pool))]
        picked = [values[k] for k in rng.integers(len(values), size=step.arity)]
        values.append((step.ours(*(p[0] for p in picked)), step.theirs(*(p[1] for p in picked), F)))
        used += step.ops
    end = ends[rng.integers(len(ends))]
    (a, ta), (b, tb) = values[-1], values[rng.integers(len(values) - 1)]
    loss, tloss = end.ours(a, b), end.theirs(ta, tb, F)
    used += end.ops
    weights = [rng.standard_normal(SHAPE) / 10 for _ in values]  # every value counts
    for (x, t), w in zip(values, weights, strict=True):
        loss = loss + (x * w).sum()
        tloss = tloss + (t * torch.tensor(w)).sum()
    return ours, theirs, loss, tloss, used


def worst(ours: np.ndarray, theirs: np.ndarray, scale: float) -> float:
    """max |ours − theirs| / (|theirs| + scale): within RTOL when they agree. `scale`: the
    largest of all the leaves' derivatives of that order (a derivative that is 0 exactly
    comes out as the rounding of the terms that cancel to it)."""
    return float(np.max(np.abs(ours - theirs) / (np.abs(theirs) + scale + 1e-300), initial=0.0))


def check(graphs: int = 300, seed: int = 0, length: int = 5) -> dict:
    """Run `graphs` random graphs; returns the worst relative differences and the ops used
    (raises AssertionError at the first graph outside RTOL)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own spelling)

    torch.set_default_dtype(torch.float64)
    pool, ends = steps(torch), losses(torch)
    rng = np.random.default_rng(seed)
    used: Counter = Counter()
    first = second = 0.0
    skipped = 0
    for number in range(graphs):
        with np.errstate(all="ignore"):
            ours, theirs, loss, tloss, names = one_graph(torch, F, pool, ends, rng, length)
        if not np.isfinite(tloss.item()):  # a value overflowed: nothing to compare
            skipped += 1
            continue
        used.update(names)
        g = ag.gradients(loss, ours, create_graph=True)
        tg = torch.autograd.grad(tloss, theirs, create_graph=True)
        v = [rng.standard_normal(SHAPE) for _ in ours]
        s = sum((gk * vk).sum() for gk, vk in zip(g, v, strict=True))
        ts = sum((gk * torch.tensor(vk)).sum() for gk, vk in zip(tg, v, strict=True))
        h = ag.gradients(s, ours)
        th = torch.autograd.grad(ts, theirs, allow_unused=True, materialize_grads=True)
        for mine, its, kind in [(g, tg, "first"), (h, th, "second")]:
            arrays = [b.detach().numpy(force=True) for b in its]
            scale = max(np.abs(b).max() for b in arrays)
            for k, (a, b) in enumerate(zip(mine, arrays, strict=True)):
                error = worst(a.data, b, scale)
                assert error <= RTOL, (
                    f"graph {number} (seed {seed}): the {kind} derivative of leaf {k} differs "
                    f"by {error:.3g} (relative) through {names}"
                )
                if kind == "first":
                    first = max(first, error)
                else:
                    second = max(second, error)
    covered = {name for name in used}
    return {
        "graphs": graphs,
        "skipped": skipped,
        "first": first,
        "second": second,
        "used": used,
        "covered": covered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length", type=int, default=5, help="ops per graph before the loss")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("against_torch.py needs torch: pip install torch==2.13.0") from None
    result = check(args.graphs, args.seed, args.length)
    missing = sorted(set(ag.OPS) - result["covered"])
    print(
        f"torch {torch.__version__}, float64, {result['graphs']} random graphs of "
        f"{args.length} ops ({result['skipped']} skipped: a value overflowed)"
    )
    print(
        f"worst relative difference: first derivatives {result['first']:.2e}, second "
        f"{result['second']:.2e} (allowed {RTOL:g})"
    )
    print(f"ops of the table covered: {len(result['covered'] & set(ag.OPS))} of {len(ag.OPS)}")
    if missing:
        print("not covered:", ", ".join(missing))


if __name__ == "__main__":
    main()
