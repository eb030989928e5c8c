"""The implementations the benchmark compares.

Each `make(params, X, Y, cost, lr)` takes the same starting parameters [(W, b), ...] (W:
(n_in, n_out)), a batch X (m, n_in) and targets Y (one-hot (m, k) for "quadratic", labels
(m,) for "softmax"), and returns `(step, first_gradients)`: a closure doing one SGD step on
its own copy of the parameters, and one returning the gradients of that first step as
[(dW, db), ...] numpy arrays in the same layout (for the honesty check).

The peers (PyTorch, HIPS autograd, mygrad) are used only when they are importable.
"""

from __future__ import annotations

import importlib.util

import numpy as np

import handwritten
import nn


def numpy_impl(params, X, Y, cost, lr):
    own = [(W.copy(), b.copy()) for W, b in params]
    return (
        lambda: handwritten.step(own, X, Y, lr, cost),
        lambda: handwritten.gradients(own, X, Y, cost),
    )


def _model(params, X, cost):
    """The nn.MLP of `params`, an SGD optimizer and the cost, as a user makes them."""
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
    return model, nn.get_cost("softmax-cross-entropy" if softmax else "quadratic")


def autograd_mini_impl(params, X, Y, cost, lr):
    """The eager engine, as a user writes a step: nn.MLP, nn.SGD and the cost, backward();
    the tape is the book's: matmul, add, the activation, each a node of its own."""
    model, cost = _model(params, X, cost)
    optimizer = nn.SGD(model.parameters(), lr=lr)

    def step():
        optimizer.zero_grad()
        cost.loss(model(X), Y).backward()
        optimizer.step()

    def first_gradients():
        optimizer.zero_grad()
        cost.loss(model(X), Y).backward()
        return [(layer.weight.grad, layer.bias.grad) for layer in model.layers]

    return step, first_gradients


def autograd_mini_compiled_impl(params, X, Y, cost, lr):
    """The compiled step, as nn.fit runs it: nn.compile(model, cost), its gradients given
    to the optimizer (the step's own arrays, updated in place)."""
    model, cost = _model(params, X, cost)
    optimizer = nn.SGD(model.parameters(), lr=lr)
    compiled = nn.compile(model, cost)

    def step():
        _, gradients = compiled.gradients(X, Y)
        optimizer.step(gradients)

    def first_gradients():
        _, gradients = compiled.gradients(X, Y)
        return [(gradients[layer.weight], gradients[layer.bias]) for layer in model.layers]

    return step, first_gradients


def torch_impl(params, X, Y, cost, lr):
    import torch

    dtype = {np.float32: torch.float32, np.float64: torch.float64}[X.dtype.type]
    weights = [torch.tensor(W, dtype=dtype, requires_grad=True) for W, _ in params]
    biases = [torch.tensor(b, dtype=dtype, requires_grad=True) for _, b in params]
    x = torch.from_numpy(X)
    y = torch.from_numpy(Y)
    last = len(params) - 1

    def loss():
        a = x
        for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
            z = torch.addmm(b, a, W)
            a = z if (cost == "softmax" and i == last) else torch.sigmoid(z)
        if cost == "softmax":
            return torch.nn.functional.cross_entropy(a, y)
        return 0.5 * ((a - y) ** 2).sum() / x.shape[0]

    def step():
        for t in (*weights, *biases):
            t.grad = None
        loss().backward()
        with torch.no_grad():
            for t in (*weights, *biases):
                t -= lr * t.grad

    def first_gradients():
        for t in (*weights, *biases):
            t.grad = None
        loss().backward()
        return [(W.grad.numpy(), b.grad.numpy()) for W, b in zip(weights, biases, strict=True)]

    return step, first_gradients


def hips_autograd_impl(params, X, Y, cost, lr):
    import autograd.numpy as anp
    from autograd import grad

    own = [(W.copy(), b.copy()) for W, b in params]
    last = len(own) - 1
    m = X.shape[0]

    def loss(ps):
        a = X
        for i, (W, b) in enumerate(ps):
            z = anp.dot(a, W) + b
            a = z if (cost == "softmax" and i == last) else 1.0 / (1.0 + anp.exp(-z))
        if cost == "softmax":
            shifted = a - anp.max(a, axis=1, keepdims=True)
            log_p = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
            return -anp.sum(log_p[np.arange(m), Y]) / m
        return 0.5 * anp.sum((a - Y) ** 2) / m

    gradient = grad(loss)

    def step():
        for (W, b), (dW, db) in zip(own, gradient(own), strict=True):
            W -= lr * dW
            b -= lr * db

    return step, lambda: [tuple(pair) for pair in gradient(own)]


def mygrad_impl(params, X, Y, cost, lr):
    import mygrad as mg

    weights = [mg.Tensor(W.copy()) for W, _ in params]
    biases = [mg.Tensor(b.copy()) for _, b in params]
    last = len(params) - 1
    m = X.shape[0]

    def loss():
        a = X
        for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
            z = mg.matmul(a, W) + b
            a = z if (cost == "softmax" and i == last) else 1.0 / (1.0 + mg.exp(-z))
        if cost == "softmax":
            from mygrad.nnet.losses import softmax_crossentropy

            return softmax_crossentropy(a, Y)
        return 0.5 * mg.sum((a - Y) ** 2) / m

    def step():
        loss().backward()
        for t in (*weights, *biases):
            t.data -= lr * t.grad

    def first_gradients():
        loss().backward()
        return [(W.grad, b.grad) for W, b in zip(weights, biases, strict=True)]

    return step, first_gradients


IMPLEMENTATIONS = {
    "numpy": numpy_impl,
    "autograd_mini": autograd_mini_impl,
    "autograd_mini compiled": autograd_mini_compiled_impl,
}
PEERS = {
    "torch": ("torch", torch_impl),
    "HIPS autograd": ("autograd", hips_autograd_impl),
    "mygrad": ("mygrad", mygrad_impl),
}
for label, (module, make) in PEERS.items():
    if importlib.util.find_spec(module) is not None:
        IMPLEMENTATIONS[label] = make
