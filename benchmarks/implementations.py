"""The implementations the benchmark compares, each a `make(params, X, Y, cost)` that
returns `(step, first_gradients)`: a closure doing one SGD step on its own copy of the
parameters, and a function giving the gradients of the first step (for the honesty check).
"""

from __future__ import annotations

import autograd_mini as ag
import handwritten


def numpy_impl(params, X, Y, cost, lr):
    own = [(W.copy(), b.copy()) for W, b in params]
    return (
        lambda: handwritten.step(own, X, Y, lr, cost),
        lambda: handwritten.gradients(own, X, Y, cost),
    )


def autograd_mini_impl(params, X, Y, cost, lr):
    tensors = [
        (ag.Tensor(W, requires_grad=True), ag.Tensor(b, requires_grad=True)) for W, b in params
    ]
    flat = [t for pair in tensors for t in pair]
    x = ag.Tensor(X)
    last = len(tensors) - 1

    def loss():
        a = x
        for i, (W, b) in enumerate(tensors):
            z = ag.linear(a, W, b)
            a = z if (cost == "softmax" and i == last) else z.sigmoid()
        return ag.quadratic_cost(a, Y) if cost == "quadratic" else ag.cross_entropy(a, Y)

    def step():
        loss().backward()
        for t in flat:
            t.data -= lr * t.grad
            t.grad = None

    def first_gradients():
        loss().backward()
        grads = [(W.grad, b.grad) for W, b in tensors]
        for t in flat:
            t.grad = None
        return grads

    return step, first_gradients


IMPLEMENTATIONS = {"numpy": numpy_impl, "autograd_mini": autograd_mini_impl}
