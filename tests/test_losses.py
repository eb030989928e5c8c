"""Loss values against their formulas, and where each one's 1/m goes."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor

RNG = np.random.default_rng(7)
M, K = 5, 3
A = RNG.uniform(0.05, 0.95, (M, K))
Y = RNG.uniform(0.0, 1.0, (M, K))
LOGITS = RNG.standard_normal((M, K))
LABELS = np.array([0, 2, 1, 1, 2])


def grad_of(loss_fn, x, *args, **kwargs):
    t = Tensor(x, requires_grad=True)
    loss = loss_fn(t, *args, **kwargs)
    loss.backward()
    return loss.data, t.grad


def test_mse_loss_is_the_mean_over_all_elements():
    value, grad = grad_of(ag.mse_loss, A, Y)
    assert np.isclose(value, np.mean((A - Y) ** 2))
    assert np.allclose(grad, 2 * (A - Y) / (M * K))
    assert np.isclose(ag.mse_loss(A, Y, reduction="sum").item(), np.sum((A - Y) ** 2))
    assert np.allclose(ag.mse_loss(A, Y, reduction="none").data, (A - Y) ** 2)


def test_quadratic_cost_is_nielsens_one_over_2m():
    value, grad = grad_of(ag.quadratic_cost, A, Y)
    per_example = 0.5 * np.sum((A - Y) ** 2, axis=1)
    assert np.isclose(value, per_example.sum() / M)
    assert np.allclose(grad, (A - Y) / M), "∂C/∂a = (a − y)/m: the ½ cancels the square's 2"
    assert np.isclose(value, ag.mse_loss(A, Y).item() * K / 2)
    assert np.allclose(ag.quadratic_cost(A, Y, reduction="none").data, per_example)
    assert np.isclose(ag.quadratic_cost(A, Y, reduction="sum").item(), per_example.sum())


def test_quadratic_cost_of_a_single_example():
    assert np.isclose(ag.quadratic_cost(A[0], Y[0]).item(), 0.5 * np.sum((A[0] - Y[0]) ** 2))


def test_binary_cross_entropy_matches_its_formula():
    value, grad = grad_of(ag.binary_cross_entropy, A, Y)
    losses = -(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    assert np.isclose(value, losses.mean())
    assert np.allclose(grad, (A - Y) / (A * (1 - A)) / (M * K))
    assert np.allclose(ag.binary_cross_entropy(A, Y, reduction="none").data, losses)


def test_binary_cross_entropy_clamps_like_pytorch():
    p = Tensor([0.0, 1.0], requires_grad=True)
    loss = ag.binary_cross_entropy(p, [1.0, 0.0], reduction="sum")
    loss.backward()
    assert loss.item() == 200.0, "each log is clamped at −100"
    assert np.all(np.isfinite(p.grad))


def test_binary_cross_entropy_with_logits_equals_the_probability_form():
    value, grad = grad_of(ag.binary_cross_entropy_with_logits, LOGITS, Y)
    s = 1 / (1 + np.exp(-LOGITS))
    assert np.isclose(value, ag.binary_cross_entropy(s, Y).item())
    assert np.allclose(grad, (s - Y) / (M * K))


def test_binary_cross_entropy_with_logits_is_exact_for_huge_logits():
    loss = ag.binary_cross_entropy_with_logits(
        np.array([1000.0, -1000.0]), np.array([0.0, 1.0]), reduction="none"
    )
    assert np.allclose(loss.data, [1000.0, 1000.0])


def test_cross_entropy_with_labels_is_the_mean_over_the_batch():
    value, grad = grad_of(ag.cross_entropy, LOGITS, LABELS)
    p = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    onehot = np.eye(K)[LABELS]
    assert np.isclose(value, -np.log(p[np.arange(M), LABELS]).mean())
    assert np.allclose(grad, (p - onehot) / M), "(softmax − onehot)/m: the 1/m is per example"


@pytest.mark.parametrize("form", ["list", "int32", "tensor", "float labels"])
def test_cross_entropy_accepts_labels_in_every_form(form):
    target = {
        "list": LABELS.tolist(),
        "int32": LABELS.astype(np.int32),
        "tensor": Tensor(LABELS),
        "float labels": Tensor(LABELS.tolist()),  # lists become float64 tensors
    }[form]
    assert np.isclose(
        ag.cross_entropy(LOGITS, target).item(), ag.cross_entropy(LOGITS, LABELS).item()
    )


def test_cross_entropy_with_one_hot_targets_equals_labels():
    onehot = np.eye(K)[LABELS]
    assert np.isclose(
        ag.cross_entropy(LOGITS, onehot).item(), ag.cross_entropy(LOGITS, LABELS).item()
    )
    _, g_onehot = grad_of(ag.cross_entropy, LOGITS, onehot)
    _, g_labels = grad_of(ag.cross_entropy, LOGITS, LABELS)
    assert np.allclose(g_onehot, g_labels)


def test_cross_entropy_reductions():
    none = ag.cross_entropy(LOGITS, LABELS, reduction="none").data
    assert none.shape == (M,)
    assert np.isclose(ag.cross_entropy(LOGITS, LABELS, reduction="sum").item(), none.sum())


def test_losses_keep_float32():
    a32, y32 = A.astype(np.float32), Y.astype(np.float32)
    for loss in (ag.mse_loss, ag.quadratic_cost, ag.binary_cross_entropy):
        t = Tensor(a32, requires_grad=True)
        out = loss(t, y32)
        out.backward()
        assert out.dtype == np.float32 and t.grad.dtype == np.float32
    z = Tensor(LOGITS.astype(np.float32), requires_grad=True)
    out = ag.cross_entropy(z, LABELS)
    out.backward()
    assert out.dtype == np.float32 and z.grad.dtype == np.float32


@pytest.mark.parametrize(
    "loss",
    [ag.mse_loss, ag.quadratic_cost, ag.binary_cross_entropy, ag.cross_entropy],
    ids=["mse", "quadratic", "bce", "cross_entropy"],
)
def test_float16_parameters_are_refused_with_the_dtype_to_use(loss):
    """float16 sums overflow at 65504 and its gradients underflow: not supported, clearly."""
    x = np.full((4, 3), 0.5, dtype=np.float16)
    with pytest.raises(TypeError, match=r"dtype float16 is not supported; use float32"):
        loss(Tensor(x, requires_grad=True), x)


# ---------------------------------------------------------------------------------------
# PyTorch's loss habits: nll_loss, classes along axis 1, label smoothing, pos_weight
# ---------------------------------------------------------------------------------------

NDLOGITS = RNG.standard_normal((2, K, 4, 5))  # (m, k, d1, d2): the classes along axis 1
NDLABELS = RNG.integers(0, K, (2, 4, 5))


def softmax_along(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_nll_loss_of_log_softmax_is_cross_entropy():
    logp = Tensor(LOGITS, requires_grad=True)
    for reduction in ("mean", "sum", "none"):
        nll = ag.nll_loss(logp.log_softmax(axis=1), LABELS, reduction=reduction)
        ce = ag.cross_entropy(LOGITS, LABELS, reduction=reduction)
        np.testing.assert_allclose(nll.data, ce.data, rtol=1e-14)
    value, grad = grad_of(ag.nll_loss, LOGITS, LABELS)
    assert np.isclose(value, -LOGITS[np.arange(M), LABELS].mean())
    np.testing.assert_array_equal(grad, -np.eye(K)[LABELS] / M)


def test_cross_entropy_and_nll_loss_take_the_classes_along_axis_1_as_torch():
    """(m, k, d1, d2) logits with (m, d1, d2) labels: each position is an example."""
    rows = np.moveaxis(NDLOGITS, 1, -1).reshape(-1, K)
    labels = NDLABELS.reshape(-1)
    value, grad = grad_of(ag.cross_entropy, NDLOGITS, NDLABELS)
    assert np.isclose(value, ag.cross_entropy(rows, labels).item())
    onehot = np.moveaxis(np.eye(K)[NDLABELS], -1, 1)
    np.testing.assert_allclose(grad, (softmax_along(NDLOGITS, 1) - onehot) / labels.size)
    none = ag.cross_entropy(NDLOGITS, NDLABELS, reduction="none")
    assert none.shape == NDLABELS.shape
    logp = ag.log_softmax(NDLOGITS, dim=1)
    np.testing.assert_allclose(ag.nll_loss(logp, NDLABELS, "none").data, none.data, rtol=1e-13)
    soft = softmax_along(RNG.standard_normal(NDLOGITS.shape), 1)
    expected = -(soft * np.log(softmax_along(NDLOGITS, 1))).sum(axis=1).mean()
    assert np.isclose(ag.cross_entropy(NDLOGITS, soft).item(), expected)


def test_cross_entropy_label_smoothing_is_torchs():
    eps = 0.1
    q = (1 - eps) * np.eye(K)[LABELS] + eps / K
    p = softmax_along(LOGITS, 1)
    value, grad = grad_of(ag.cross_entropy, LOGITS, LABELS, label_smoothing=eps)
    assert np.isclose(value, -(q * np.log(p)).sum(axis=1).mean())
    np.testing.assert_allclose(grad, (p - q) / M)
    soft = softmax_along(Y, 1)
    q_soft = (1 - eps) * soft + eps / K
    smoothed = ag.cross_entropy(LOGITS, soft, label_smoothing=eps).item()
    assert np.isclose(smoothed, -(q_soft * np.log(p)).sum(axis=1).mean())
    assert ag.cross_entropy(LOGITS, LABELS, label_smoothing=0).item() == (
        ag.cross_entropy(LOGITS, LABELS).item()
    )


def test_binary_cross_entropy_with_logits_pos_weight_is_torchs():
    w = np.array([0.5, 2.0, 4.0])
    s = 1 / (1 + np.exp(-LOGITS))
    value, grad = grad_of(ag.binary_cross_entropy_with_logits, LOGITS, Y, pos_weight=w)
    assert np.isclose(value, np.mean(-(w * Y * np.log(s) + (1 - Y) * np.log(1 - s))))
    np.testing.assert_allclose(grad, (s * (1 + (w - 1) * Y) - w * Y) / (M * K))
    ones = ag.binary_cross_entropy_with_logits(LOGITS, Y, pos_weight=1.0)
    assert np.isclose(ones.item(), ag.binary_cross_entropy_with_logits(LOGITS, Y).item())
    huge = ag.binary_cross_entropy_with_logits(
        np.array([1000.0, -1000.0]), np.array([0.0, 1.0]), reduction="none", pos_weight=3.0
    )
    np.testing.assert_allclose(huge.data, [1000.0, 3000.0])
    y = Tensor(Y, requires_grad=True)
    assert ag.gradcheck(lambda t: ag.binary_cross_entropy_with_logits(LOGITS, t, pos_weight=w), y)


def test_the_new_loss_parameters_are_checked_by_name():
    with pytest.raises(ag.InputError, match=r"label_smoothing must be a number in \[0, 1\]"):
        ag.cross_entropy(LOGITS, LABELS, label_smoothing=1.5)
    with pytest.raises(ag.ShapeError, match=r"pos_weight must be.*\(5, 3\).*\(3,\)"):
        ag.binary_cross_entropy_with_logits(LOGITS, Y, pos_weight=np.ones(5))
    with pytest.raises(ag.LabelError, match=r"nll_loss: class label 3 .* \[0, 2\]"):
        ag.nll_loss(LOGITS, [0, 1, 3, 0, 0])
    with pytest.raises(ag.ShapeError, match=r"nll_loss: target shape \(5, 3\) fits class labels"):
        ag.nll_loss(LOGITS, np.zeros((5, 3), int))
    with pytest.raises(ag.ShapeError, match=r"fits neither class labels \(2, 4, 5\).*axis 1"):
        ag.cross_entropy(NDLOGITS, NDLABELS[..., 0])
    with pytest.raises(ag.InputError, match="reduction must be one of"):
        ag.nll_loss(LOGITS, LABELS, reduction="avg")
