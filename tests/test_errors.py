"""Every bad input gets a specific exception whose message a student can act on."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor


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
    ],
    ids=["linear", "linear sigmoid"],
)
def test_linear_with_a_bias_of_the_wrong_size(layer, name):
    with pytest.raises(ag.ShapeError, match=rf"^{name}: shapes \(5, 4\) and \(3,\)"):
        layer(param((5, 3)), param((3, 4)), param((3,)))


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (lambda x, w, b: ag.linear(x, w, b), "linear"),
        (lambda x, w, b: ag.linear(x, w, b, "tanh"), "linear"),
    ],
    ids=["linear", "linear+tanh"],
)
def test_linear_with_a_bias_that_would_stretch_the_output(layer, name):
    with pytest.raises(ag.ShapeError, match=rf"^{name}: .*would stretch X @ W of shape \(4,\)"):
        layer(param((3,)), param((3, 4)), param((2, 4)))


@pytest.mark.parametrize("layer", [ag.linear, lambda x, w, b: ag.linear(x, w, b, "sigmoid")])
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
    with pytest.raises(TypeError, match=r"float32 or float64 data, got int64.*astype"):
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


@pytest.mark.parametrize(
    "power",
    [
        lambda y: Tensor([2.0, -1.5, 3.0]) ** y,
        lambda y: Tensor([2.0, 0.0, 3.0]) ** y,
        lambda y: (-2.0) ** y,
        lambda y: np.array([1.0, -1.0, 2.0]) ** y,
    ],
    ids=["negative base", "zero base", "negative number base", "array base"],
)
def test_tensor_exponent_needs_a_positive_base(power):
    """x ** y for a tensor y: dy = dz * z * log(x) is undefined for x ≤ 0."""
    with pytest.raises(
        ag.InputError, match=r"^power: .*positive base.*log\(x\).*x\.abs\(\) \*\* y"
    ):
        power(param(3))


def test_tensor_exponent_names_the_first_bad_base():
    with pytest.raises(ag.InputError, match=r"holds -1\.5 at index \(1, 0\) \(shape \(2, 1\)\)"):
        Tensor([[2.0], [-1.5]]) ** param(3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: x.min(axis=2), r"^min: axis 2 is out of bounds.*dimension 2.*\(2, 3\)"),
        (lambda x: x.var(axis=-3), r"^var: axis -3 is out of bounds.*\(2, 3\)"),
        (lambda x: x.std(axis=(0, 2)), r"^std: axis 2 is out of bounds.*\(2, 3\)"),
        (lambda x: ag.logsumexp(x, axis=5), r"^logsumexp: axis 5 is out of bounds.*\(2, 3\)"),
        (lambda x: x.squeeze(4), r"^squeeze: axis 4 is out of bounds.*\(2, 3\)"),
        (lambda x: x.squeeze(0), r"^squeeze: axis 0 of shape \(2, 3\) has size 2; only axes"),
        (lambda x: x.expand_dims(3), r"^expand_dims: axis 3 .*shape \(2, 3\).*\[-3, 2\]"),
        (
            lambda x: x.swapaxes(0, 2),
            r"^swapaxes: axes 0 and 2 do not both exist in shape \(2, 3\)",
        ),
        (
            lambda x: ag.concatenate([x, x], axis=2),
            r"^concatenate: axis 2 is out of bounds.*shape \(2, 3\).*\[-2, 1\]",
        ),
        (lambda x: ag.stack([x, x], axis=-4), r"^stack: axis -4 .*shape \(2, 3\).*\[-3, 2\]"),
    ],
)
def test_bad_axes_name_the_op_the_axis_and_the_shape(call, message):
    with pytest.raises(ag.ShapeError, match=message):
        call(param((2, 3)))


def test_a_permutation_that_is_not_one_points_to_swapping_two_axes():
    """Two axes are swapped, as torch's transpose(0, 1); three of four are no permutation."""
    assert param((2, 3, 4)).transpose(0, 1).shape == (3, 2, 4)
    with pytest.raises(ag.ShapeError, match=r"full permutation.*transpose\(0, 1\).*swapaxes"):
        param((2, 3, 4, 5)).transpose(0, 2, 1)
    with pytest.raises(ag.ShapeError, match=r"not a permutation of the 3 axes.*permute"):
        param((2, 3, 4)).permute(1, 0)


def test_concatenate_names_the_tensor_whose_shape_does_not_fit():
    with pytest.raises(ag.ShapeError) as info:
        ag.concatenate([param((2, 3)), param((2, 1)), param((3, 3))], axis=1)
    message = str(info.value)
    assert message.startswith("concatenate: tensors[2] has shape (3, 3)")
    assert "tensors[0] has shape (2, 3)" in message and "axis 1" in message
    with pytest.raises(ag.ShapeError, match=r"tensors\[1\] has shape \(3,\)"):
        ag.concatenate([param((2, 3)), param(3)])
    with pytest.raises(ag.ShapeError, match=r"0-d.*use stack"):
        ag.concatenate([param(()), param(())])


def test_stack_names_the_tensor_whose_shape_differs():
    with pytest.raises(
        ag.ShapeError, match=r"^stack: tensors\[1\] has shape \(3, 2\) and .*\(2, 3\)"
    ):
        ag.stack([param((2, 3)), param((3, 2))])


@pytest.mark.parametrize("join", [ag.concatenate, ag.stack])
def test_joining_needs_a_list_of_tensors(join):
    name = join.__name__
    with pytest.raises(ag.InputError, match=rf"^{name}: needs at least one tensor"):
        join([])
    with pytest.raises(ag.InputError, match=rf"^{name}: expected a list or tuple.*got Tensor"):
        join(param((2, 3)))
    with pytest.raises(ag.InputError, match=rf"^{name}: axis must be an integer, got 1.0"):
        join([param((2, 3))], axis=1.0)


def test_a_variadic_op_applies_directly_like_any_op():
    joined = ag.apply(ag.OPS["concatenate"], param(2), param(3), axis=0)
    assert joined.shape == (5,) and joined.op == "concatenate"


@pytest.mark.parametrize(
    "condition",
    [np.ones((2, 3)), Tensor([True, False, True]), np.array([1, 0, 1])],
    ids=["float array", "Tensor of a list", "integer array"],
)
def test_where_needs_a_boolean_condition(condition):
    with pytest.raises(ag.InputError, match=r"^where: the condition must be boolean.*got dtype"):
        ag.where(condition, param((2, 3)), 0.0)


def test_var_and_std_take_ddof_by_keyword_only():
    """torch's x.var(0, 1) means unbiased over dim 0; here it must not mean keepdims=1."""
    for reduce in (param((2, 3)).var, param((2, 3)).std, lambda *a: ag.var(param((2, 3)), *a)):
        with pytest.raises(TypeError, match="positional"):
            reduce(0, 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: x.var(ddof=6), r"^var: ddof=6 needs more than 6 elements.*\(2, 3\).*n = 6"),
        (lambda x: x.std(axis=0, ddof=2), r"^std: ddof=2 .*over axis 0 gives n = 2"),
        (lambda x: x.var(ddof=-1), r"^var: ddof must be a whole number ≥ 0, got -1"),
        (lambda x: x.std(ddof=0.5), r"^std: ddof must be a whole number ≥ 0, got 0.5"),
        (lambda x: x.clip(1.0, -1.0), r"^clip: lo = 1.0 is above hi = -1.0"),
        (lambda x: x.clip(), r"^clip: give lo, hi or both"),
        (lambda x: x.clip(np.zeros(3), 1.0), r"^clip: lo must be a number"),
        (lambda x: x.leaky_relu("0.1"), r"^leaky_relu: slope must be a number, got '0.1'"),
    ],
)
def test_bad_parameters_are_refused(call, message):
    with pytest.raises(ag.InputError, match=message):
        call(param((2, 3)))


@pytest.mark.parametrize("op", [ag.maximum, ag.minimum])
def test_maximum_of_shapes_that_do_not_broadcast(op):
    with pytest.raises(ag.ShapeError, match=rf"^{op.__name__}: shapes \(10, 30\) and \(10,\)"):
        op(param((10, 30)), param((10,)))


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


@pytest.mark.parametrize(
    ("dtype", "named"),
    [
        (str, r"<U0"),
        (object, "object"),
        (complex, "complex128"),
        ("M8[s]", r"datetime64\[s\]"),
        ("bogus", "'bogus' is not a dtype"),
    ],
)
def test_astype_refuses_dtypes_a_tensor_cannot_hold(dtype, named):
    with pytest.raises(TypeError, match=rf"astype: .*{named}"):
        param(2).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_astype_to_a_float_other_than_float32_or_float64_is_refused(dtype):
    with pytest.raises(ag.InputError, match=rf"astype: .*float32 and float64.*{np.dtype(dtype)}"):
        param(2).astype(dtype)


@pytest.mark.parametrize(
    ("values", "dtype", "bad"),
    [
        ([1.5, np.nan], np.int64, r"nan at index \(1,\)"),
        ([np.inf], np.int32, r"inf at index \(0,\)"),
        ([300.0, 1.0], np.uint8, r"300\.0 at index \(0,\) has no uint8 value \(from 0 to 255"),
        ([-1.0], np.uint8, r"-1\.0 at index \(0,\)"),
        ([2.0**63], np.int64, r"9.22\S+ at index \(0,\) has no int64 value"),
    ],
)
def test_astype_to_integers_refuses_values_numpy_would_wrap(values, dtype, bad):
    """numpy makes NaN, inf and out-of-range floats some other integer, at best warning."""
    with pytest.raises(ag.InputError, match=rf"astype: {bad}.*clip"):
        Tensor(values, requires_grad=True).astype(dtype)


@pytest.mark.parametrize(
    "operand",
    [
        np.array([1 + 1j, 2.0]),
        1 + 1j,
        np.complex64(1),
        np.array([1.0, 2.0], dtype=object),
        np.array([1.0, 2.0], dtype=np.longdouble),
        np.longdouble(2.0),
        None,
        [1.0, None],
        "1",
    ],
    ids=lambda v: type(v).__name__ + getattr(getattr(v, "dtype", None), "name", ""),
)
def test_complex_object_and_none_operands_are_refused_naming_the_op(operand):
    """numpy would give a complex or object Tensor, or NaN for None, or float128."""
    x = param(2)
    with pytest.raises(TypeError, match=r"mul: unsupported operand of type \w+: "):
        x * operand
    with pytest.raises(TypeError, match=r"add: unsupported operand"):
        operand + x


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "None is not a number"),
        ([1.0, None], "None is not a number"),
        ([[1.0], [None]], "None is not a number"),
        (1 + 2j, "from complex"),
        (np.array([1j]), "dtype complex128"),
        (np.array([1.0], dtype=object), "dtype object"),
        (np.array([1.0], dtype=np.longdouble), f"dtype {np.dtype(np.longdouble)}"),
        (np.ma.array([1.0, 2.0], mask=[0, 1]), "masked arrays are not supported"),
    ],
)
def test_data_that_is_not_real_numbers_is_refused(data, message):
    with pytest.raises(TypeError, match=rf"Tensor: .*{message}"):
        Tensor(data)


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        (["a", "b"], "could not convert string to float: 'a'"),
        (np.array([1 + 1j, 2.0]), "dtype complex128"),
        ([1j, 2.0], "complex"),
        ("ab", "from str"),
        ([1.0, None], "None is not a number"),
        (np.ma.array([1.0, 2.0], mask=[0, 1]), "masked arrays"),
        (np.array([1.0, 2.0], dtype=object), "dtype object"),
    ],
)
def test_a_seed_gradient_that_is_not_real_numbers_is_refused(seed, message):
    """A complex seed is never made real, and nothing is written or freed."""
    x = param(2)
    y = x * 3.0
    with pytest.raises(
        ag.BackwardError, match=rf"backward: grad must be .*real numbers: .*{message}"
    ):
        y.backward(seed)
    assert x.grad is None
    y.backward(np.array([1.0, 2.0]))  # the graph is still there
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])


def test_a_complex_seed_of_a_scalar_loss_is_refused():
    x = param(2)
    with pytest.raises(ag.BackwardError, match="real numbers: cannot make a float64 array from"):
        x.sum().backward(1j)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([1j, 2.0]), "dtype complex128"),
        (["a", "b"], "could not convert string"),
        (np.ma.array([1.0, 2.0], mask=[1, 0]), "masked arrays"),
        (np.array([None, 1.0]), "dtype object"),
    ],
)
def test_grad_setter_refuses_what_is_not_real_numbers(value, message):
    """Setting .grad to a complex array dropped the imaginary part with only a warning."""
    x = param(2)
    with pytest.raises(TypeError, match=rf"grad: .*{message}"):
        x.grad = value
    assert x.grad is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ag.full((2,), 300.0, dtype=np.uint8), r"full: astype: 300\.0 .* no uint8 value"),
        (lambda: ag.arange(-1.0, 1.0, dtype=np.uint8), r"arange: astype: -1\.0 .* no uint8"),
        (lambda: ag.full((2,), None), "full: fill_value must be a number, got None"),
        (lambda: ag.full((2,), 1j), "full: fill_value must be a number, got 1j"),
        (lambda: ag.zeros(2, dtype=complex), "zeros: data of dtype complex128 is not supported"),
        (lambda: ag.randn(2, rng=0, dtype="bogus"), "randn: data type 'bogus' not understood"),
        (lambda: ag.zeros_like(np.array(["a"])), "zeros_like: data of dtype <U1"),
    ],
)
def test_constructors_name_themselves_and_never_wrap_values(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()
