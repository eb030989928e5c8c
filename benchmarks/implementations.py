"""The implementations the benchmark compares, each a `make(params, X, Y, cost)` that
returns `(step, first_gradients)`: a closure doing one SGD step on its own copy of the
parameters, and a function giving the gradients of the first step (for the honesty check).
"""

from __future__ import annotations

import handwritten
import nn


def numpy_impl(params, X, Y, cost, lr):
    own = [(W.copy(), b.copy()) for W, b in params]
    return (
        lambda: handwritten.step(own, X, Y, lr, cost),
        lambda: handwritten.gradients(own, X, Y, cost),
    )


def autograd_mini_impl(params, X, Y, cost, lr):
    """What a user writes: nn.MLP, nn.SGD and the cost, one SGD step per call."""
    sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
    softmax = cost == "softmax"
    model = nn.MLP(sizes, output_activation=None if softmax else "sigmoid", dtype=X.dtype)
    model.load_state_dict(
        {
            f"layers.{i}.{kind}": value
            for i, pair in enumerate(params)
            for kind, value in zip(("weight", "bias"), pair, strict=True)
        }
    )
    optimizer = nn.SGD(model.parameters(), lr=lr)
    loss_of = nn.get_cost("softmax-cross-entropy" if softmax else "quadratic").loss

    def step():
        optimizer.zero_grad()
        loss_of(model(X), Y).backward()
        optimizer.step()

    def first_gradients():
        optimizer.zero_grad()
        loss_of(model(X), Y).backward()
        return [(layer.weight.grad, layer.bias.grad) for layer in model.layers]

    return step, first_gradients


IMPLEMENTATIONS = {"numpy": numpy_impl, "autograd_mini": autograd_mini_impl}
