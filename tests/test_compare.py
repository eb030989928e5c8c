"""compare_gradients: plant each classic mistake in a hand-written backprop; check the diagnosis."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import any_name, printed_lines
from hypothesis import given, settings

import nn
from autograd_mini.text import printable


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def handwritten(mistake: str | None = None, labels=None):
    """A learner's row-convention backprop for a 2-layer sigmoid MLP with the quadratic cost,
    with at most one planted mistake."""

    def backprop(params, X, Y):
        (W1, b1), (W2, b2) = params
        m = X.shape[0]
        Z1 = X @ W1 + b1
        A1 = sigmoid(Z1)
        Z2 = A1 @ W2 + b2
        A2 = sigmoid(Z2)
        target = labels.reshape(-1, 1) if mistake == "labels" else Y
        grad_a = (target - A2) / m if mistake == "sign" else (A2 - target) / m
        if mistake == "missing 1/m":
            grad_a = grad_a * m
        if mistake == "double 1/m":
            grad_a = grad_a / m
        if mistake == "bp1 without σ′":
            delta2 = grad_a
        elif mistake == "σ′ of a":
            delta2 = grad_a * sigmoid(A2) * (1 - sigmoid(A2))
        else:
            delta2 = grad_a * A2 * (1 - A2)
        if mistake == "σ for σ′":
            delta1 = (delta2 @ W2.T) * sigmoid(Z1)
        elif mistake == "σ′ of a":
            delta1 = (delta2 @ W2.T) * sigmoid(A1) * (1 - sigmoid(A1))
        else:
            delta1 = (delta2 @ W2.T) * A1 * (1 - A1)
        dW2 = delta2.T @ A1 if mistake == "transpose" else A1.T @ delta2
        db2 = delta2 if mistake == "bias not summed" else delta2.sum(axis=0)
        grads = [(X.T @ delta1, delta1.sum(axis=0)), (dW2, db2)]
        return grads[::-1] if mistake == "layer order" else grads

    return backprop


@pytest.fixture
def problem():
    model = nn.MLP([4, 5, 3], seed=2)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((8, 4))
    labels = rng.integers(0, 3, 8)
    return model, X, nn.one_hot(labels, 3), labels


def diagnose(problem, mistake):
    model, X, Y, labels = problem
    report = nn.compare_gradients("autodiff", handwritten(mistake, labels), model=model, X=X, Y=Y)
    assert not report.ok
    return report, " ".join(d for row in report.rows for d in row.diagnoses)


def test_a_correct_backprop_agrees(problem):
    model, X, Y, _ = problem
    report = nn.compare_gradients("autodiff", handwritten(None), model=model, X=X, Y=Y)
    assert report.ok, report
    assert "backprop vs autodiff" in str(report) and "✗" not in str(report)


def test_transposed_weight_gradient(problem):
    report, text = diagnose(problem, "transpose")
    assert report.row("layers.1.weight").actual_shape == (3, 5)
    assert "transpose of the right gradient" in report.diagnoses("layers.1.weight")[0]
    assert "A_prevᵀ @ Δ" in text


def test_missing_one_over_m(problem):
    report, _ = diagnose(problem, "missing 1/m")
    for name in ("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"):
        assert any("m = 8 times too large" in d for d in report.diagnoses(name)), name


def test_one_over_m_applied_twice(problem):
    report, _ = diagnose(problem, "double 1/m")
    assert any("m = 8 times too small" in d for d in report.diagnoses("layers.1.weight"))


def test_bias_not_summed_over_the_batch(problem):
    report, _ = diagnose(problem, "bias not summed")
    (message,) = report.diagnoses("layers.1.bias")
    assert "one row per example" in message and "Δ.sum(axis=0)" in message and "(8, 3)" in message
    assert report.row("layers.1.weight").ok


def test_sigma_instead_of_sigma_prime_in_bp2(problem):
    report, _ = diagnose(problem, "σ for σ′")
    assert report.row("layers.1.weight").ok, "BP2 only affects the earlier layers"
    assert any(
        "σ(z) is used where σ′(z) belongs in BP2" in d for d in report.diagnoses("layers.0.weight")
    )


def test_sign_flipped(problem):
    report, _ = diagnose(problem, "sign")
    for row in report.rows:
        assert any("sign is flipped" in d for d in row.diagnoses), row.name


def test_wrong_layer_order(problem):
    report, _ = diagnose(problem, "layer order")
    assert any(
        "wrong order" in d and "layers.1.weight" in d for d in report.diagnoses("layers.0.weight")
    )


def test_sigma_prime_of_the_activation(problem):
    report, _ = diagnose(problem, "σ′ of a")
    assert any("σ′ is taken of the activation" in d for d in report.diagnoses("layers.0.weight"))


def test_bp1_without_sigma_prime(problem):
    report, _ = diagnose(problem, "bp1 without σ′")
    assert any("BP1 is missing the σ′(zᴸ) factor" in d for d in report.diagnoses("layers.1.weight"))


def test_integer_labels_instead_of_one_hot(problem):
    report, _ = diagnose(problem, "labels")
    assert any("integer labels" in d for d in report.diagnoses("layers.1.weight"))


def tampered(problem, name, change):
    """The report for autodiff's own gradients with one of them changed by `change`."""
    model, X, Y, _ = problem
    grads = nn.autodiff_gradients(model, X, Y)
    grads[name] = change(grads[name])
    return nn.compare_gradients("autodiff", grads, model=model, X=X, Y=Y)


def test_transposed_and_also_wrong(problem):
    report = tampered(problem, "layers.0.weight", lambda g: g.T * 8)
    (message,) = report.diagnoses("layers.0.weight")
    assert "transposed shape (5, 4)" in message and "m = 8 times too large" in message


def test_bias_as_a_column(problem):
    report = tampered(problem, "layers.0.bias", lambda g: g.reshape(-1, 1))
    assert "values are right but it is a column (5, 1)" in report.diagnoses("layers.0.bias")[0]


def test_unexplained_difference_points_at_the_worst_entry(problem):
    report = tampered(problem, "layers.1.bias", lambda g: g + np.array([0.0, 1.0, 0.0]))
    (message,) = report.diagnoses("layers.1.bias")
    assert "no known mistake explains it" in message and "(1,)" in message


def test_missing_and_unexpected_entries(problem):
    model, X, Y, _ = problem
    grads = nn.autodiff_gradients(model, X, Y)
    grads["extra"] = grads.pop("layers.0.bias")
    report = nn.compare_gradients("autodiff", grads, model=model, X=X, Y=Y)
    assert "missing" in report.diagnoses("layers.0.bias")[0]
    assert "unexpected" in report.diagnoses("extra")[0]


def test_assert_ok_raises_with_the_report(problem):
    model, X, Y, labels = problem
    with pytest.raises(AssertionError, match=r"(?s)gradients disagree.*layers\.1\.bias"):
        nn.compare_gradients(
            "autodiff", handwritten("bias not summed", labels), model=model, X=X, Y=Y
        ).assert_ok()


def test_dicts_compare_without_a_model():
    a = {"w": np.ones((2, 3))}
    assert nn.compare_gradients(a, {"w": np.ones((2, 3))}).ok
    report = nn.compare_gradients(a, {"w": np.full((2, 3), -1.0)})
    assert "sign is flipped" in report.diagnoses("w")[0]


def test_built_in_sources_need_the_network():
    with pytest.raises(ValueError, match="needs model=, X= and Y="):
        nn.compare_gradients("autodiff", "rows")
    with pytest.raises(ValueError, match="unknown source 'torch'"):
        nn.compare_gradients("torch", {})


def test_columns_and_rows_agree_with_autodiff(problem):
    model, X, Y, _ = problem
    nn.compare_gradients("autodiff", "rows", model=model, X=X, Y=Y, rtol=1e-12).assert_ok()
    nn.compare_gradients("autodiff", "columns", model=model, X=X, Y=Y, rtol=1e-12).assert_ok()


@settings(max_examples=60, deadline=None)
@given(name=any_name)
def test_reports_print_any_name_as_printable_text(name):
    """Two gradients given under each other's names, one name arbitrary (ANSI escapes, NUL,
    U+202E, line breaks): the table and the diagnoses that name it show it escaped, on as
    many lines as plain names give."""

    def report(name: str) -> str:
        a, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
        return str(nn.compare_gradients({name: a, "b": b}, {name: b, "b": a}))

    lines = printed_lines(report(name))
    assert len(lines) == len(report("a").split("\n"))
    assert any(line.startswith(printable(name) + " ") for line in lines), "its row"
    swapped = f"• b: it equals the gradient of {printable(name)}: the arrays are given under"
    assert any(line.startswith(swapped) for line in lines), "a diagnosis that names it"


@pytest.mark.parametrize(
    ("returned", "says"),
    [
        (None, "returned None"),
        ("oops", "returned the string 'oops'"),
        (3, "returned an object of type int"),
    ],
)
def test_a_function_that_returns_no_gradients_is_told_so(returned, says):
    model = nn.MLP([2, 2, 1], seed=0)
    X, Y = np.ones((3, 2)), np.ones((3, 1))

    def my_backprop(params, X, Y):
        return returned

    with pytest.raises(ValueError, match=f"^compare_gradients: your function my_backprop {says}"):
        nn.compare_gradients("autodiff", my_backprop, model=model, X=X, Y=Y)
    with pytest.raises(ValueError, match="a list of \\(dW, db\\) pairs"):
        nn.compare_gradients("autodiff", lambda *a: returned, model=model, X=X, Y=Y)


def test_a_source_that_is_no_gradients_is_told_so():
    with pytest.raises(ValueError, match=r"^compare_gradients: a source must be .*got None\.$"):
        nn.compare_gradients("autodiff", None, model=nn.MLP([2, 1]), X=np.ones((1, 2)), Y=[[1.0]])


def test_gradients_that_vanished_below_the_normal_range_are_compared_to_their_rounding():
    model = nn.MLP([1] * 401, init="scaled_normal", seed=0)  # gradients vanish to 1e-322
    X = np.random.default_rng(1).standard_normal((4, 1))
    Y = np.zeros((4, 1))
    grads = nn.autodiff_gradients(model, X, Y)
    assert 0 < min(abs(g).max() for g in grads.values() if abs(g).max()) < 1e-310
    report = nn.check_backprop(model, X, Y, finite_differences=False)
    assert report.ok, "\n".join(
        f"{r.name} {r.source}: {r.allowance}" for r in report.rows if not r.ok
    )
    tiny = [r for r in report.rows if "smallest subnormal" in r.allowance]
    assert tiny and all(0 < r.allowed < 1e-300 for r in tiny)
