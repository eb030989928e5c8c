"""Optimizers against their update formulas, including Nielsen's L2 form."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from autograd_mini import Tensor


def param(values):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_sgd_step():
    w = param([1.0, -2.0])
    w.grad = np.array([0.5, 0.25])
    nn.SGD([w], lr=0.1).step()
    assert np.allclose(w.data, [0.95, -2.025])


def test_sgd_skips_parameters_without_gradient_and_zero_grad_clears():
    w, v = param([1.0]), param([2.0])
    w.grad = np.array([1.0])
    optimizer = nn.SGD([w, v], lr=1.0)
    optimizer.step()
    assert w.data[0] == 0.0 and v.data[0] == 2.0
    optimizer.zero_grad()
    assert w.grad is None


def test_sgd_momentum_follows_pytorchs_form():
    w = param([0.0])
    optimizer = nn.SGD([w], lr=0.1, momentum=0.9)
    velocity, expected = 0.0, 0.0
    for g in [1.0, 2.0, -1.0]:
        w.grad = np.array([g])
        optimizer.step()
        velocity = g if velocity == 0.0 and expected == 0.0 else 0.9 * velocity + g
        expected -= 0.1 * velocity
    assert np.isclose(w.data[0], expected)


def test_weight_decay_is_nielsens_l2_when_given_lambda_over_n():
    """w → (1 − ηλ/n) w − η ∂C₀/∂w on weights; biases → b − η ∂C₀/∂b."""
    eta, lmbda, n = 0.5, 5.0, 50_000
    model = nn.MLP([3, 2], seed=0)
    W, b = model.layers[0].weight, model.layers[0].bias
    W0, b0 = W.data.copy(), b.data.copy()
    gW, gb = np.full(W.shape, 0.3), np.full(b.shape, -0.2)
    W.grad, b.grad = gW, gb
    nn.SGD(nn.nielsen_l2(model, lmbda=lmbda, n=n), lr=eta).step()
    assert np.allclose(W.data, (1 - eta * lmbda / n) * W0 - eta * gW, rtol=1e-15)
    assert np.allclose(b.data, b0 - eta * gb, rtol=1e-15)


def test_adam_matches_its_formula():
    w = param([1.0, -1.0])
    optimizer = nn.Adam([w], lr=0.01, betas=(0.8, 0.9), eps=1e-8)
    m = v = np.zeros(2)
    expected = w.data.copy()
    for t, g in enumerate([np.array([0.5, -0.1]), np.array([0.2, 0.3])], start=1):
        w.grad = g
        optimizer.step()
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        expected -= 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-8)
    assert np.allclose(w.data, expected, rtol=1e-14)


def test_parameter_groups_have_their_own_settings():
    a, b = param([1.0]), param([1.0])
    a.grad = b.grad = np.array([1.0])
    nn.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1).step()
    assert np.isclose(a.data[0], 0.9) and np.isclose(b.data[0], 0.5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: nn.SGD([], lr=0.1), "empty list"),
        (lambda p: nn.SGD([p], lr=0), "lr must be a positive"),
        (lambda p: nn.SGD([p], lr=0.1, momentum=1.0), "momentum must lie in"),
        (lambda p: nn.SGD([p, p], lr=0.1), "appears twice"),
        (lambda p: nn.SGD([Tensor([1.0])], lr=0.1), "requires_grad=True"),
        (lambda p: nn.SGD([{"params": [p], "lrr": 1}], lr=0.1), r"unknown settings \['lrr'\]"),
        (lambda p: nn.Adam([p], betas=(0.9,)), "betas must be two"),
        (lambda p: nn.Adam([p], eps=0), "eps must be positive"),
        (lambda p: nn.nielsen_l2(nn.MLP([2, 2]), 5.0, 0), "training set size"),
    ],
)
def test_bad_settings_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make(param([1.0]))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: nn.SGD([p], lr=float("inf")),
            "SGD: lr must be a positive, finite number, got inf",
        ),
        (lambda p: nn.SGD([p], lr="0.1"), "SGD: lr must be a positive, finite number, got '0.1'"),
        (lambda p: nn.SGD([p], lr=True), "SGD: lr must be a positive, finite number, got True"),
        (lambda p: nn.Adam([p], lr=float("nan")), "Adam: lr must be a positive, finite number"),
        (
            lambda p: nn.SGD([{"params": [p], "lr": float("inf")}], lr=0.1),
            r"lr must be a positive, finite number \(group 0\), got inf",
        ),
        (
            lambda p: nn.SGD([p], lr=0.1, momentum="0.9"),
            "momentum must lie in \\[0, 1\\), got '0.9'",
        ),
        (
            lambda p: nn.SGD([p], lr=0.1, weight_decay=float("inf")),
            "weight_decay must be a finite number ≥ 0, got inf",
        ),
        (lambda p: nn.Adam([p], betas=("0.9", 0.999)), "betas must be two numbers in"),
        (lambda p: nn.Adam([p], eps="1e-8"), "eps must be positive and finite, got '1e-8'"),
    ],
)
def test_settings_that_are_not_finite_numbers_are_refused_naming_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make(param([1.0]))


@pytest.mark.parametrize("optimizer_class", [nn.SGD, nn.Adam])
def test_optimizer_state_dict_round_trip(optimizer_class):
    settings = {"lr": 0.1, "momentum": 0.9} if optimizer_class is nn.SGD else {"lr": 0.1}
    w1, w2 = param([1.0, 2.0]), param([1.0, 2.0])
    first, second = optimizer_class([w1], **settings), optimizer_class([w2], **settings)
    for g in ([1.0, -1.0], [0.5, 0.5]):
        w1.grad = np.array(g)
        first.step()
    second.load_state_dict(first.state_dict())
    w2.data[...] = w1.data
    w1.grad = w2.grad = np.array([0.3, 0.1])
    first.step()
    second.step()
    assert np.array_equal(w1.data, w2.data)


def test_optimizer_state_dict_mismatch():
    state = nn.SGD([param([1.0])], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="groups of sizes"):
        nn.SGD([param([1.0]), param([2.0])], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="not a Adam"):
        nn.Adam([param([1.0])]).load_state_dict(state)
