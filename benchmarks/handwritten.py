"""The reference: one SGD step of a sigmoid MLP, hand-written in plain numpy.

This is the code a careful person writes without an autodiff engine (row-batch
convention, REFERENCE.md §3). Every engine is timed against it in the same process.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def gradients(params, X, Y, cost):
    """∂C/∂(W, b) for every layer. cost: "quadratic" (sigmoid output, C = 1/(2m) Σ‖a − y‖²)
    or "softmax" (sigmoid hidden layers, softmax cross-entropy on the last layer's logits,
    Y = integer labels)."""
    m = X.shape[0]
    activations = [X]
    a = X
    last = len(params) - 1
    for i, (W, b) in enumerate(params):
        z = a @ W + b
        a = z if (cost == "softmax" and i == last) else sigmoid(z)
        activations.append(a)
    if cost == "quadratic":
        delta = (a - Y) / m * a * (1 - a)
    else:
        e = np.exp(a - a.max(axis=1, keepdims=True))
        delta = e / e.sum(axis=1, keepdims=True)
        delta[np.arange(m), Y] -= 1
        delta /= m
    grads = [None] * len(params)
    for i in range(last, -1, -1):
        W = params[i][0]
        a_prev = activations[i]
        grads[i] = (a_prev.T @ delta, delta.sum(axis=0))
        if i:
            delta = (delta @ W.T) * a_prev * (1 - a_prev)
    return grads


def step(params, X, Y, lr, cost):
    """One SGD step, updating the arrays in place."""
    for (W, b), (dW, db) in zip(params, gradients(params, X, Y, cost), strict=True):
        W -= lr * dW
        b -= lr * db
