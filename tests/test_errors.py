"""Every bad input gets a specific exception whose message a student can act on."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor, fused


def param(shape, dtype=np.float64):
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=True)


def test_matmul_inner_dimensions_name_both_shapes_and_suggest_the_transpose():
    with pytest.raises(ag.ShapeError) as info:
        Tensor(np.ones((10, 784))) @ param((30, 784))
    message = str(info.value)
    assert "(10, 784)" in message and "(30, 784)" in message
    assert "784" in message and "30" in message
    assert "A @ B.T" in message


def test_matmul_suggests_transposing_the_left_operand():
    with pytest.raises(ag.ShapeError, match=r"A.T @ B"):
        param((64, 30)) @ param((64, 10))


def test_matmul_with_a_scalar_says_to_use_star():
    with pytest.raises(ag.ShapeError, match=r"use \*"):
        param(()) @ param((3,))


def test_matmul_batch_dimensions_that_do_not_broadcast():
    with pytest.raises(ag.ShapeError, match=r"batch dimensions \(2,\) and \(3,\)"):
        param((2, 4, 5)) @ param((3, 5, 6))


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("add", operator.add),
        ("sub", operator.sub),
        ("mul", operator.mul),
        ("div", operator.truediv),
    ],
)
def test_non_broadcastable_shapes_name_the_op_and_both_shapes(name, op):
    with pytest.raises(ag.ShapeError) as info:
        op(param((10, 30)), param((10,)))
    message = str(info.value)
    assert message.startswith(name) and "(10, 30)" in message and "(10,)" in message
    assert "axis -1 has sizes 30 vs 10" in message
    assert "(10, 1)" in message, "the hint to make the vector a column"


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (lambda x, w, b: ag.linear(x, w, b), "add"),
        (lambda x, w, b: ag.linear(x, w, b, "sigmoid"), "add"),
        (lambda x, w, b: fused.linear(x, w, b), "linear"),
        (lambda x, w, b: fused.linear(x, w, b, "relu"), "linear\\+relu"),
    ],
    ids=["linear", "linear sigmoid", "fused linear", "fused linear+relu"],
)
def test_linear_with_a_bias_of_the_wrong_size(layer, name):
    with pytest.raises(ag.ShapeError, match=rf"^{name}: shapes \(5, 4\) and \(3,\)"):
        layer(param((5, 3)), param((3, 4)), param((3,)))


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (lambda x, w, b: ag.linear(x, w, b), "linear"),
        (lambda x, w, b: fused.linear(x, w, b, "sigmoid"), "linear\\+sigmoid"),
        (lambda x, w, b: fused.linear(x, w, b, "tanh"), "linear\\+tanh"),
    ],
    ids=["linear", "fused linear+sigmoid", "fused linear+tanh"],
)
def test_linear_with_a_bias_that_would_stretch_the_output(layer, name):
    with pytest.raises(ag.ShapeError, match=rf"^{name}: .*would stretch X @ W of shape \(4,\)"):
        layer(param((3,)), param((3, 4)), param((2, 4)))


@pytest.mark.parametrize(
    "layer", [ag.linear, fused.linear, lambda x, w, b: fused.linear(x, w, b, "sigmoid")]
)
def test_linear_with_mismatched_weight(layer):
    with pytest.raises(ag.ShapeError, match=r"did you mean A @ B.T"):
        layer(param((5, 3)), param((4, 3)), param((4,)))


def test_reshape_to_an_incompatible_shape():
    with pytest.raises(ag.ShapeError, match=r"reshape: .*\(2, 3\)"):
        param((2, 3)).reshape(4, 2)


def test_axis_out_of_range():
    with pytest.raises(ag.ShapeError, match=r"sum: axis 2 is out of bounds.*\(2, 3\)"):
        param((2, 3)).sum(axis=2)


def test_index_out_of_range_is_an_index_error_naming_the_op():
    with pytest.raises(IndexError, match=r"getitem: .*(3, 4)"):
        param((3, 4))[5]


def test_class_labels_out_of_range():
    with pytest.raises(ag.LabelError) as info:
        ag.cross_entropy(param((4, 10)), [1, 2, 10, 3])
    message = str(info.value)
    assert "label 10" in message and "position (2,)" in message
    assert "10 classes" in message and "[0, 9]" in message


def test_negative_class_labels():
    with pytest.raises(ag.LabelError, match="label -1"):
        ag.cross_entropy(param((2, 3)), np.array([0, -1]))


def test_fractional_class_labels():
    with pytest.raises(ag.LabelError, match=r"whole numbers.*probabilities of shape"):
        ag.cross_entropy(param((2, 3)), Tensor([0.0, 1.5]))


def test_class_labels_that_require_grad():
    with pytest.raises(ag.LabelError, match="cannot require grad"):
        ag.cross_entropy(param((2, 3)), param((2,)))


def test_cross_entropy_target_of_the_wrong_shape():
    with pytest.raises(ag.ShapeError, match=r"target shape \(3,\) fits neither.*\(2,\).*\(2, 3\)"):
        ag.cross_entropy(param((2, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize("loss", [ag.mse_loss, ag.quadratic_cost, ag.binary_cross_entropy])
def test_loss_refuses_shapes_that_would_broadcast_silently(loss):
    with pytest.raises(ag.ShapeError, match=r"\(8, 1\).*\(8,\).*\(8, 8\).*silently wrong"):
        loss(Tensor(np.full((8, 1), 0.5), requires_grad=True), np.zeros(8))


def test_loss_hints_at_class_labels_given_instead_of_one_hot():
    with pytest.raises(ag.ShapeError, match="class labels: one-hot encode"):
        ag.mse_loss(param((8, 10)), np.arange(8))


def test_binary_cross_entropy_needs_probabilities():
    with pytest.raises(ValueError, match=r"\[0, 1\].*-2.*sigmoid.*with_logits"):
        ag.binary_cross_entropy(Tensor([-2.0, 0.5], requires_grad=True), [0.0, 1.0])


def test_unknown_reduction():
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        ag.mse_loss(param(3), np.zeros(3), reduction="avg")


def test_nan_in_gradcheck_inputs():
    x = Tensor(np.array([1.0, np.nan]), requires_grad=True, name="x")
    with pytest.raises(
        ValueError, match=r"input 0 \('x', shape \(2,\)\) holds nan at index \(1,\)"
    ):
        ag.gradcheck(lambda t: t.sum(), x)


def test_gradcheck_without_any_input_requiring_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        ag.gradcheck(lambda t: t.sum(), Tensor([1.0]))


def test_requires_grad_on_integer_data():
    with pytest.raises(TypeError, match=r"floating-point.*int64.*astype"):
        Tensor(np.arange(3), requires_grad=True)


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(ag.BackwardError, match=r"does not require grad.*requires_grad=True"):
        (Tensor([1.0, 2.0]) * 2).sum().backward()


def test_backward_on_a_non_scalar_without_grad():
    with pytest.raises(ag.BackwardError, match=r"shape \(2, 3\).*scalar.*backward\(grad=\.\.\.\)"):
        (param((2, 3)) * 2).backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    with pytest.raises(ag.ShapeError, match=r"grad has shape \(3, 2\).*shape \(2, 3\)"):
        (param((2, 3)) * 2).backward(np.ones((3, 2)))


def test_tensor_exponent_is_refused_with_a_recipe():
    with pytest.raises(TypeError, match=r"exp\(b \* log\(a\)\)"):
        param(3) ** param(3)


def test_unsupported_operand_type():
    with pytest.raises(TypeError, match="operand of type str"):
        param(3) + "1"


def test_unsupported_data():
    with pytest.raises(TypeError, match="dtype <U1"):
        Tensor(np.array(["a"]))
    with pytest.raises(TypeError, match="cannot make a float64 array from dict"):
        Tensor({"a": 1})


def test_non_string_name():
    with pytest.raises(TypeError, match="name must be a string"):
        Tensor([1.0], name=3)


def test_switching_off_requires_grad_of_a_result():
    y = param(2) * 2
    with pytest.raises(ag.BackwardError, match="detach"):
        y.requires_grad = False
