"""Backprop by hand, tensor by tensor, checked step by step with `ag.check_backward`.

A two-layer network on token contexts: an embedding lookup (integer indexing), a hidden layer
with batch norm written out of primitive ops (mean, −, **2, ** −0.5), tanh, and softmax
cross-entropy written out of max, exp, sum, log and indexing: about twenty named tensors. The
backward pass below is written by hand in numpy, one line per tensor, the way a learner
writes it; `ag.check_backward` compares every one of them with the engine's gradient.

    python examples/backprop_exercise.py                 # float64, all agree
    python examples/backprop_exercise.py --dtype float32
    python examples/backprop_exercise.py --mistake fan-out   # see how a mistake is reported

Batch norm here uses the biased variance (divided by n, not n − 1), as batch norm does when
it normalises a batch in training.
"""

from __future__ import annotations

import argparse

import numpy as np

import autograd_mini as ag
from autograd_mini import Tensor

VOCABULARY, CONTEXT, EMBEDDING, HIDDEN, BATCH = 27, 3, 10, 64, 32
EPSILON = 1e-5  # added to the variance before the square root, as in batch norm

MISTAKES = {
    "transpose": "dW2 = dlogitsᵀ @ h, the transpose of hᵀ @ dlogits",
    "keepdims": "db2 = dlogits.sum(0, keepdims=True): a row (1, 27) for the bias (27,)",
    "not summed": "dbnbias = dhpreact, not summed over the batch",
    "missing 1/n": "dlogprobs without the 1/n of the mean",
    "1/n twice": "dlogprobs divided by n twice",
    "sign": "dlogprobs with the wrong sign",
    "tanh for tanh′": "dhpreact = h ⊙ dh: tanh where 1 − tanh² belongs",
    "tanh′ of a": "dhpreact = (1 − tanh(h)²) ⊙ dh: the derivative taken of the output",
    "fan-out": "dbndiff = bnvar_inv ⊙ dbnraw only: the branch through bndiff2 is missing",
    "no −1": "dlogits = softmax(logits) / n, without the −1 at the label",
    "swapped": "dcounts and dprobs given under each other's names",
    "other": "dbnvar with a wrong exponent: −0.5 · (bnvar + ε)^−0.5 ⊙ dbnvar_inv",
}
"""Classic mistakes that `manual_backward(..., mistake=...)` can plant, and what each is."""


def make_parameters(dtype=np.float64, seed: int = 0) -> dict[str, Tensor]:
    """The network's parameters: embedding C, W1, b1, batch norm's gain and bias, W2, b2."""
    rng = np.random.default_rng(seed)
    shapes = {
        "C": (VOCABULARY, EMBEDDING),
        "W1": (CONTEXT * EMBEDDING, HIDDEN),
        "b1": (HIDDEN,),
        "bngain": (1, HIDDEN),
        "bnbias": (1, HIDDEN),
        "W2": (HIDDEN, VOCABULARY),
        "b2": (VOCABULARY,),
    }
    scale = {"W1": (5 / 3) / (CONTEXT * EMBEDDING) ** 0.5, "W2": 0.1, "b1": 0.1, "b2": 0.1}
    values = {
        name: rng.standard_normal(shape) * scale.get(name, 1.0) for name, shape in shapes.items()
    }
    values["bngain"] = 1 + 0.1 * values["bngain"]  # near 1 and 0, but not exactly:
    values["bnbias"] = 0.1 * values["bnbias"]  # a wrong gradient cannot hide behind a 0 or 1
    return {
        name: Tensor(value.astype(dtype), requires_grad=True, name=name)
        for name, value in values.items()
    }


def make_batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A batch of token contexts (BATCH, CONTEXT) and the next token of each (BATCH,)."""
    rng = np.random.default_rng(seed)
    Xb = rng.integers(0, VOCABULARY, (BATCH, CONTEXT))
    Yb = (Xb @ np.array([3, 5, 7]) + 1) % VOCABULARY  # a rule the network could learn
    return Xb, Yb


def forward(p: dict[str, Tensor], Xb: np.ndarray, Yb: np.ndarray) -> dict[str, Tensor]:
    """The forward pass, every intermediate a named tensor; returns them all by name."""
    n = Xb.shape[0]
    t = {}
    t["emb"] = p["C"][Xb]  # (n, 3, 10): row Xb[i, j] of C
    t["embcat"] = t["emb"].reshape(n, -1)  # (n, 30)
    t["hprebn"] = t["embcat"] @ p["W1"] + p["b1"]  # (n, 64)
    t["bnmean"] = t["hprebn"].sum(axis=0, keepdims=True) * (1 / n)  # (1, 64)
    t["bndiff"] = t["hprebn"] - t["bnmean"]
    t["bndiff2"] = t["bndiff"] ** 2
    t["bnvar"] = t["bndiff2"].sum(axis=0, keepdims=True) * (1 / n)  # biased, as in training
    t["bnvar_inv"] = (t["bnvar"] + EPSILON) ** -0.5
    t["bnraw"] = t["bndiff"] * t["bnvar_inv"]
    t["hpreact"] = p["bngain"] * t["bnraw"] + p["bnbias"]
    t["h"] = t["hpreact"].tanh()
    t["logits"] = t["h"] @ p["W2"] + p["b2"]  # (n, 27)
    t["logit_maxes"] = t["logits"].max(axis=1, keepdims=True)
    t["norm_logits"] = t["logits"] - t["logit_maxes"]  # for a stable exp
    t["counts"] = t["norm_logits"].exp()
    t["counts_sum"] = t["counts"].sum(axis=1, keepdims=True)
    t["counts_sum_inv"] = t["counts_sum"] ** -1
    t["probs"] = t["counts"] * t["counts_sum_inv"]
    t["logprobs"] = t["probs"].log()
    t["loss"] = -t["logprobs"][np.arange(n), Yb].mean()
    for name, tensor in t.items():
        tensor.name = name
    return t


def manual_backward(
    p: dict[str, Tensor], t: dict[str, Tensor], Xb: np.ndarray, Yb: np.ndarray, mistake=None
) -> dict[str, np.ndarray]:
    """∂loss/∂tensor for every tensor, by hand, from the forward pass's values: the order
    backward runs in, last tensor first. `mistake`: plant one of MISTAKES."""
    v = {name: tensor.data for name, tensor in {**p, **t}.items()}  # the values, as arrays
    n = Xb.shape[0]
    d = {}
    d["logprobs"] = np.zeros_like(v["logprobs"])
    d["logprobs"][np.arange(n), Yb] = -1 / n  # loss = −mean of the picked log-probabilities
    if mistake == "missing 1/n":
        d["logprobs"] *= n
    elif mistake == "1/n twice":
        d["logprobs"] /= n
    elif mistake == "sign":
        d["logprobs"] *= -1
    d["probs"] = d["logprobs"] / v["probs"]
    d["counts_sum_inv"] = (v["counts"] * d["probs"]).sum(axis=1, keepdims=True)
    d["counts"] = v["counts_sum_inv"] * d["probs"]
    d["counts_sum"] = -(v["counts_sum"] ** -2) * d["counts_sum_inv"]
    d["counts"] = d["counts"] + d["counts_sum"]  # counts is used twice: the sum's share
    d["norm_logits"] = v["counts"] * d["counts"]  # (e^x)′ = e^x
    d["logit_maxes"] = -d["norm_logits"].sum(axis=1, keepdims=True)  # ≈ 0, as it should
    winners = v["logits"] == v["logits"].max(axis=1, keepdims=True)
    d["logits"] = d["norm_logits"] + winners * d["logit_maxes"]  # logits is used twice too
    if mistake == "no −1":
        shifted = v["logits"] - v["logits"].max(axis=1, keepdims=True)
        d["logits"] = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True) / n
    d["h"] = d["logits"] @ v["W2"].T
    d["W2"] = d["logits"].T @ v["h"] if mistake == "transpose" else v["h"].T @ d["logits"]
    d["b2"] = d["logits"].sum(axis=0, keepdims=mistake == "keepdims")
    if mistake == "tanh for tanh′":
        d["hpreact"] = v["h"] * d["h"]
    elif mistake == "tanh′ of a":
        d["hpreact"] = (1 - np.tanh(v["h"]) ** 2) * d["h"]
    else:
        d["hpreact"] = (1 - v["h"] ** 2) * d["h"]  # tanh′(z) = 1 − tanh²(z) = 1 − h²
    d["bngain"] = (v["bnraw"] * d["hpreact"]).sum(axis=0, keepdims=True)
    d["bnraw"] = v["bngain"] * d["hpreact"]
    d["bnbias"] = d["hpreact"] if mistake == "not summed" else d["hpreact"].sum(0, keepdims=True)
    d["bndiff"] = v["bnvar_inv"] * d["bnraw"]
    d["bnvar_inv"] = (v["bndiff"] * d["bnraw"]).sum(axis=0, keepdims=True)
    exponent = -0.5 if mistake == "other" else -1.5
    d["bnvar"] = -0.5 * (v["bnvar"] + EPSILON) ** exponent * d["bnvar_inv"]
    d["bndiff2"] = np.ones_like(v["bndiff2"]) * d["bnvar"] / n
    if mistake != "fan-out":
        d["bndiff"] = d["bndiff"] + 2 * v["bndiff"] * d["bndiff2"]  # bndiff is used twice
    d["bnmean"] = -d["bndiff"].sum(axis=0, keepdims=True)
    d["hprebn"] = d["bndiff"] + d["bnmean"] / n  # hprebn feeds bndiff and, through the sum, bnmean
    d["embcat"] = d["hprebn"] @ v["W1"].T
    d["W1"] = v["embcat"].T @ d["hprebn"]
    d["b1"] = d["hprebn"].sum(axis=0)
    d["emb"] = d["embcat"].reshape(v["emb"].shape)
    d["C"] = np.zeros_like(v["C"])
    np.add.at(d["C"], Xb, d["emb"])  # a row of C used k times gets k contributions
    if mistake == "swapped":
        d["counts"], d["probs"] = d["probs"], d["counts"]
    return d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--mistake", choices=sorted(MISTAKES), help="plant a classic mistake")
    args = parser.parse_args()
    p = make_parameters(np.dtype(args.dtype))
    Xb, Yb = make_batch()
    t = forward(p, Xb, Yb)
    manual = manual_backward(p, t, Xb, Yb, args.mistake)
    if args.mistake:
        print(f"Planted: {MISTAKES[args.mistake]}\n")
    report = ag.check_backward(t["loss"], manual)
    print(report)


if __name__ == "__main__":
    main()
