"""The reference: one SGD step of a sigmoid MLP, hand-written in plain numpy.

This is the code a careful person writes without an autodiff engine (row-batch convention,
REFERENCE.md §3). Like every engine, its forward pass computes the loss value as well as
what the backward pass needs. Every implementation is timed against it in the same process.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def loss_and_gradients(params, X, Y, cost):
    """The cost and ∂C/∂(W, b) for every layer.

    cost: "quadratic" (sigmoid output, C = 1/(2m) Σ‖a − y‖², Y one-hot (m, k)) or "softmax"
    (sigmoid hidden layers, softmax cross-entropy on the last layer's logits, Y labels (m,)).
    """
    m = X.shape[0]
    activations = [X]
    a = X
    last = len(params) - 1
    for i, (W, b) in enumerate(params):
        z = a @ W + b
        a = z if (cost == "softmax" and i == last) else sigmoid(z)
        activations.append(a)
    if cost == "quadratic":
        error = a - Y
        loss = 0.5 * np.vdot(error, error) / m
        delta = error / m * a * (1 - a)
    else:
        shifted = a - a.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(total[:, 0]) - shifted[np.arange(m), Y])
        delta = e / total
        delta[np.arange(m), Y] -= 1
        delta /= m
    grads = [None] * len(params)
    for i in range(last, -1, -1):
        W = params[i][0]
        a_prev = activations[i]
        grads[i] = (a_prev.T @ delta, delta.sum(axis=0))
        if i:
            delta = (delta @ W.T) * a_prev * (1 - a_prev)
    return loss, grads


def gradients(params, X, Y, cost):
    return loss_and_gradients(params, X, Y, cost)[1]


def step(params, X, Y, lr, cost):
    """One SGD step, updating the arrays in place; returns the loss before the step."""
    loss, grads = loss_and_gradients(params, X, Y, cost)
    for (W, b), (dW, db) in zip(params, grads, strict=True):
        W -= lr * dW
        b -= lr * db
    return loss
