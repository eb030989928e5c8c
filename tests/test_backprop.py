"""Closed-form backprop (both conventions) == autodiff == finite differences, and by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_mini as ag
import nn

COSTS = sorted(nn.COSTS)


def network(sizes, activation, cost, seed):
    output = {"quadratic": activation, "cross-entropy": "sigmoid", "softmax-cross-entropy": None}[
        cost
    ]
    # scaled_normal keeps deep sigmoid/tanh nets out of saturation: informative gradients
    return nn.MLP(
        sizes, activation=activation, output_activation=output, init="scaled_normal", seed=seed
    )


def batch(sizes, m, cost, seed):
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((m, sizes[0]))
    labels = rng.integers(0, sizes[-1], m)
    if cost == "softmax-cross-entropy":
        return X, labels
    if cost == "cross-entropy":
        return X, rng.uniform(0, 1, (m, sizes[-1]))
    return X, nn.one_hot(labels, sizes[-1])


def max_relative_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    worst = 0.0
    for name in a:
        assert a[name].shape == b[name].shape, name
        scale = np.abs(a[name]).max()
        if scale > 0:
            worst = max(worst, np.abs(a[name] - b[name]).max() / scale)
    return worst


@settings(max_examples=60, deadline=None)
@given(
    widths=st.lists(st.integers(1, 50), min_size=2, max_size=5),  # depth 1–4 layers
    activation=st.sampled_from(["sigmoid", "tanh", "relu"]),
    cost=st.sampled_from(COSTS),
    m=st.sampled_from([1, 10, 64]),
    seed=st.integers(0, 10_000),
)
def test_autodiff_equals_both_closed_forms(widths, activation, cost, m, seed):
    """Every cost and every network the closed forms accept: they agree with autodiff (to
    1e-10 relative, also by compare_gradients' verdict); the networks they refuse are refused
    by both, by check_backprop and by fit, with the reason."""
    model = network(widths, activation, cost, seed)
    X, Y = batch(widths, m, cost, seed)
    if widths[-1] < nn.get_cost(cost).min_outputs:  # one softmax output: a constant cost
        for refuses in (nn.backprop_rows, nn.backprop_columns, nn.check_backprop):
            with pytest.raises(ValueError, match="needs at least 2 output units"):
                refuses(model, X, Y, cost)
        with pytest.raises(ValueError, match="needs at least 2 output units"):
            nn.fit(model, (X, Y), epochs=1, batch_size=m, lr=0.1, cost=cost)
        return
    autodiff = nn.autodiff_gradients(model, X, Y, cost)
    rows = nn.backprop_rows(model, X, Y, cost)
    columns = nn.backprop_columns(model, X, Y, cost)
    assert max_relative_difference(autodiff, rows) < 1e-10
    assert max_relative_difference(autodiff, columns) < 1e-10
    for closed_form in ("rows", "columns"):
        report = nn.compare_gradients(
            "autodiff", closed_form, model=model, X=X, Y=Y, cost=cost, rtol=1e-10
        )
        assert report.ok, report


# Correct closed forms that a tighter allowance (8 × measured, at least 2u) marked wrong:
# 3 to 26 units of rounding apart from autodiff (sums in another order, terms that cancel).
ROUNDING_CASES = [  # widths, activation, cost, m, seed
    ([1, 2, 1, 1], "relu", "quadratic", 64, 8935),
    ([3, 2], "tanh", "softmax-cross-entropy", 10, 2854),
    ([2, 3, 1], "sigmoid", "cross-entropy", 64, 7524),
    ([3, 1], "tanh", "quadratic", 10, 8669),
    ([1, 1], "sigmoid", "quadratic", 10, 4948),
    ([1, 1], "sigmoid", "cross-entropy", 64, 2),
]


def _random_problems(count, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        high = 4 if rng.random() < 0.5 else 51  # half of them tiny: short sums, lucky replays
        widths = [int(w) for w in rng.integers(1, high, rng.integers(2, 6))]
        cost = str(rng.choice(COSTS))
        if widths[-1] >= nn.get_cost(cost).min_outputs:
            activation = str(rng.choice(["sigmoid", "tanh", "relu"]))
            yield widths, activation, cost, int(rng.choice([1, 10, 64])), int(rng.integers(10**4))


@pytest.mark.parametrize(
    "problem", ROUNDING_CASES + list(_random_problems(60)), ids=lambda p: str(p).replace(" ", "")
)
def test_correct_closed_forms_agree_to_rounding_by_the_default_allowance(problem):
    """No false ✗ in `autograd-mini check`: the stated allowance covers correct rounding."""
    widths, activation, cost, m, seed = problem
    model = network(widths, activation, cost, seed)
    X, Y = batch(widths, m, cost, seed)
    for closed_form in ("rows", "columns"):
        report = nn.compare_gradients("autodiff", closed_form, model=model, X=X, Y=Y, cost=cost)
        assert report.ok, report


def test_a_one_output_softmax_is_refused_not_marked_wrong():
    """softmax over one class is 1 whatever z is: the cost is constant and autodiff gives 0,
    while BP1's softmax(z) − y would take the label as the target."""
    model = network([2, 3, 1], "sigmoid", "softmax-cross-entropy", seed=0)
    X, labels = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"softmax-cross-entropy cost needs at least 2 output"):
        nn.backprop_rows(model, X, labels, "softmax-cross-entropy")
    with pytest.raises(ValueError, match="a softmax over one class is always 1"):
        nn.check_backprop(model, X, labels, "softmax-cross-entropy")


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_closed_forms_equal_finite_differences(activation, cost):
    sizes = [3, 4, 3, 2]
    model = network(sizes, activation, cost, seed=3)
    X, Y = batch(sizes, 5, cost, seed=3)
    numeric = nn.numerical_gradients(model, X, Y, cost)
    for closed_form in (nn.backprop_rows, nn.backprop_columns):
        assert max_relative_difference(numeric, closed_form(model, X, Y, cost)) < 1e-6


def test_engine_gradcheck_through_an_mlp():
    model = nn.MLP([3, 4, 2], activation="tanh", seed=0)
    X, Y = batch([3, 4, 2], 6, "quadratic", seed=0)
    W = model.layers[0].weight
    assert ag.gradcheck(lambda w: ag.quadratic_cost(model(X), Y) + (w * 0).sum(), W)


def test_check_backprop_table():
    model = nn.MLP([2, 3, 2], seed=0)
    X, Y = batch([2, 3, 2], 4, "quadratic", seed=0)
    report = nn.check_backprop(model, X, Y, "quadratic")
    assert report.ok and len(report.rows) == 4 * 3, "each parameter, by each method"
    assert {row.source for row in report.rows} == {"rows", "columns", "finite differences"}
    text = str(report)
    for word in (
        "layers.0.weight",
        "rows vs autodiff",
        "columns vs autodiff",
        "finite differences",
        "✓",
    ):
        assert word in text


def test_check_backprop_float32_model():
    model = nn.MLP([2, 3, 2], seed=0, dtype=np.float32)
    X, Y = batch([2, 3, 2], 4, "quadratic", seed=0)
    assert nn.check_backprop(model, X.astype(np.float32), Y.astype(np.float32)).ok


@pytest.mark.parametrize(
    ("X", "Y", "message"),
    [
        (np.ones((4, 2)), np.ones((4, 3)), "Y has shape (4, 3), but the network has 2 outputs"),
        (np.ones((0, 2)), np.ones((0, 2)), "the batch has 0 rows; give at least one example."),
        (np.ones((4, 3)), np.ones((4, 2)), "X has 3 columns, but the network takes 2 inputs."),
        (np.ones((4, 2)), np.ones((3, 2)), "X has 4 rows but Y has 3 rows"),
        (np.ones((4, 2)), np.array([0, 1, 2, 1]), "label 2 in row 2 of Y is outside 0..1"),
        (np.full((4, 2), np.nan), np.ones((4, 2)), "X holds NaN or infinite values"),
    ],
    ids=["Y too wide", "empty batch", "X too wide", "rows differ", "label too big", "NaN X"],
)
def test_check_backprop_refuses_a_batch_the_network_cannot_take(X, Y, message):
    model = nn.MLP([2, 3, 2], seed=0)
    with pytest.raises(ValueError, match=re.escape(f"check_backprop: {message}")):
        nn.check_backprop(model, X, Y, "quadratic")


def test_sequential_of_linear_and_activations():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1), nn.Sigmoid())
    X, Y = batch([3, 4, 2], 5, "quadratic", seed=1)
    autodiff = nn.autodiff_gradients(model, X, Y)
    assert set(autodiff) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert max_relative_difference(autodiff, nn.backprop_rows(model, X, Y)) < 1e-12
    assert max_relative_difference(autodiff, nn.backprop_columns(model, X, Y)) < 1e-12


def test_unsupported_models_and_costs_are_explained():
    with pytest.raises(TypeError, match=r"MLP or an nn\.Sequential"):
        nn.backprop_rows(nn.Linear(2, 2), np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(TypeError, match="at most one activation"):
        nn.backprop_rows(
            nn.Sequential(nn.Tanh(), nn.Linear(2, 2)), np.ones((1, 2)), np.ones((1, 2))
        )
    with pytest.raises(TypeError, match="elementwise"):
        nn.backprop_rows(nn.MLP([2, 2], output_activation="softmax"), np.ones((1, 2)), [1])
    with pytest.raises(ValueError, match="needs a sigmoid output layer"):
        nn.backprop_rows(
            nn.MLP([2, 2], output_activation=None),
            np.ones((1, 2)),
            np.ones((1, 2)),
            "cross-entropy",
        )
    with pytest.raises(ValueError, match="Keep logits"):
        nn.backprop_rows(nn.MLP([2, 2]), np.ones((1, 2)), [1], "softmax-cross-entropy")
    with pytest.raises(ValueError, match="unknown cost 'hinge'"):
        nn.backprop_rows(nn.MLP([2, 2]), np.ones((1, 2)), [1], "hinge")


# ---------------------------------------------------------------------------------------
# By hand: every number below is scalar arithmetic, one neuron at a time.
# ---------------------------------------------------------------------------------------


def sigma(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def set_weights(model, W1, b1, W2, b2):
    model.load_state_dict(
        {
            "layers.0.weight": np.array(W1),
            "layers.0.bias": np.array(b1),
            "layers.1.weight": np.array(W2),
            "layers.1.bias": np.array(b2),
        }
    )


def test_or_gate_gradients_by_hand():
    """2 inputs → 2 sigmoid hidden → 1 sigmoid output, quadratic cost over the 4 rows of OR.

    Starting weights (row convention, W[i][j] from unit i to unit j):
        W1 = [[0.5, -0.4], [0.3, 0.8]], b1 = [0.1, -0.2], W2 = [[0.7], [-0.6]], b2 = [0.05]
    so h1 = σ(0.5·x1 + 0.3·x2 + 0.1), h2 = σ(−0.4·x1 + 0.8·x2 − 0.2), a = σ(0.7·h1 − 0.6·h2 + 0.05),
    and C = 1/(2·4) Σ_x (a − y)².
    """
    X = [[0, 0], [0, 1], [1, 0], [1, 1]]
    Y = [0, 1, 1, 1]
    m = 4
    # the first row by hand: x = (0, 0)
    assert math.isclose(sigma(0.1), 0.52497918747894)  # h1
    assert math.isclose(sigma(-0.2), 0.45016600268752216)  # h2
    assert math.isclose(
        sigma(0.7 * 0.52497918747894 - 0.6 * 0.45016600268752216 + 0.05), 0.5367799019591589
    )

    dW1 = [[0.0, 0.0], [0.0, 0.0]]
    db1 = [0.0, 0.0]
    dW2 = [0.0, 0.0]
    db2 = 0.0
    for (x1, x2), y in zip(X, Y, strict=True):
        h1 = sigma(0.5 * x1 + 0.3 * x2 + 0.1)
        h2 = sigma(-0.4 * x1 + 0.8 * x2 - 0.2)
        a = sigma(0.7 * h1 - 0.6 * h2 + 0.05)
        delta_out = (a - y) * a * (1 - a) / m  # ∂C/∂z_out: (a − y)/m times σ′ = a(1 − a)
        delta_h1 = delta_out * 0.7 * h1 * (1 - h1)  # back through w = 0.7, times σ′(z_h1)
        delta_h2 = delta_out * -0.6 * h2 * (1 - h2)
        dW2[0] += delta_out * h1
        dW2[1] += delta_out * h2
        db2 += delta_out
        for i, xi in enumerate((x1, x2)):
            dW1[i][0] += delta_h1 * xi
            dW1[i][1] += delta_h2 * xi
        db1[0] += delta_h1
        db1[1] += delta_h2

    model = nn.MLP([2, 2, 1])
    set_weights(model, [[0.5, -0.4], [0.3, 0.8]], [0.1, -0.2], [[0.7], [-0.6]], [0.05])
    by_hand = {
        "layers.0.weight": np.array(dW1),
        "layers.0.bias": np.array(db1),
        "layers.1.weight": np.array(dW2).reshape(2, 1),
        "layers.1.bias": np.array([db2]),
    }
    X, Y = np.array(X, float), np.array(Y, float).reshape(4, 1)
    for method in ("autodiff", "rows", "columns"):
        nn.compare_gradients(by_hand, method, model=model, X=X, Y=Y, rtol=1e-13).assert_ok()


def test_two_three_one_sigmoid_example_by_hand():
    """One example x = (1, 0.5), y = 0.8 through 2 → 3 sigmoid → 1 sigmoid, C = ½(a − y)².

    W1 = [[0.1, 0.2, −0.3], [0.4, −0.5, 0.6]], b1 = [0, 0.1, −0.1]
    W2 = [[0.7], [−0.8], [0.9]],               b2 = [0.2]
    """
    h = [
        sigma(1 * 0.1 + 0.5 * 0.4 + 0.0),
        sigma(1 * 0.2 + 0.5 * -0.5 + 0.1),
        sigma(1 * -0.3 + 0.5 * 0.6 - 0.1),
    ]
    assert np.allclose(h, [0.574442516811659, 0.5124973964842103, 0.47502081252106])
    z_out = 0.7 * h[0] - 0.8 * h[1] + 0.9 * h[2] + 0.2
    a = sigma(z_out)
    assert math.isclose(z_out, 0.6196305758497471) and math.isclose(a, 0.6501345241565002)
    delta_out = (a - 0.8) * a * (1 - a)  # BP1: ∂C/∂a = a − y, times σ′(z) = a(1 − a)
    w_out = [0.7, -0.8, 0.9]
    delta_hidden = [delta_out * w_out[j] * h[j] * (1 - h[j]) for j in range(3)]  # BP2
    by_hand = {
        "layers.0.weight": np.array(
            [[1 * d for d in delta_hidden], [0.5 * d for d in delta_hidden]]
        ),  # BP4
        "layers.0.bias": np.array(delta_hidden),  # BP3
        "layers.1.weight": np.array([[delta_out * hj] for hj in h]),  # BP4: h_j · δ_out
        "layers.1.bias": np.array([delta_out]),  # BP3
    }
    model = nn.MLP([2, 3, 1])
    set_weights(
        model, [[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]], [0.0, 0.1, -0.1], [[0.7], [-0.8], [0.9]], [0.2]
    )
    X, Y = np.array([[1.0, 0.5]]), np.array([[0.8]])
    for method in ("autodiff", "rows", "columns"):
        nn.compare_gradients(by_hand, method, model=model, X=X, Y=Y, rtol=1e-13).assert_ok()
