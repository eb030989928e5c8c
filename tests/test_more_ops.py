"""The ops added for learners coming from PyTorch: their values against numpy's (or math's),
the conventions where they have no derivative, einsum's forms and dropout's randomness.

Their gradients are checked by the op table (test_ops.py); here, what a gradcheck cannot
see: the value itself, and the gradient chosen at a kink.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
UNIT = RNG.uniform(-0.9, 0.9, (3, 4))
POSITIVE = np.abs(X) + 0.5


def leaf(x):
    return Tensor(np.array(x, dtype=float), requires_grad=True)


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("sin", X, np.sin(X)),
        ("cos", X, np.cos(X)),
        ("tan", UNIT, np.tan(UNIT)),
        ("sinh", X, np.sinh(X)),
        ("cosh", X, np.cosh(X)),
        ("arcsin", UNIT, np.arcsin(UNIT)),
        ("arccos", UNIT, np.arccos(UNIT)),
        ("arctan", X, np.arctan(X)),
        ("arcsinh", X, np.arcsinh(X)),
        ("arccosh", POSITIVE + 1, np.arccosh(POSITIVE + 1)),
        ("arctanh", UNIT, np.arctanh(UNIT)),
        ("log2", POSITIVE, np.log2(POSITIVE)),
        ("log10", POSITIVE, np.log10(POSITIVE)),
        ("exp2", X, np.exp2(X)),
        ("deg2rad", X * 90, np.deg2rad(X * 90)),
        ("rad2deg", X, np.rad2deg(X)),
        ("sign", np.array([-2.0, 0.0, 3.0]), np.array([-1.0, 0.0, 1.0])),
        ("sinc", X, np.sinc(X)),
        ("erf", X, np.vectorize(math.erf)(X)),
        ("silu", X, X / (1 + np.exp(-X))),
        ("gelu", X, 0.5 * X * (1 + np.vectorize(math.erf)(X / math.sqrt(2)))),
    ],
)
def test_elementwise_values_agree_with_numpy(name, x, expected):
    via_method = getattr(Tensor(x), name)()
    via_function = getattr(ag, name)(x)
    np.testing.assert_allclose(via_method.data, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(via_function.data, via_method.data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["log2", "log10", "exp2", "erf", "gelu", "sinc", "deg2rad"])
def test_constants_keep_float32(name, dtype):
    x = Tensor(POSITIVE.astype(dtype), requires_grad=True)
    out = getattr(x, name)()
    assert out.dtype == dtype
    for tensor in ag.backward_order(out):
        g = tensor.node.op.vjp(0)(0, np.ones(out.shape, dtype), *tensor.node.saved)
        assert g.dtype == dtype, f"{name}'s VJP gives {g.dtype}"


def test_gelu_tanh_form_is_torchs_approximation():
    t = np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3))
    np.testing.assert_allclose(ag.gelu(X, approximate="tanh").data, 0.5 * X * (1 + t), rtol=1e-14)
    assert np.max(np.abs(ag.gelu(X, approximate="tanh").data - ag.gelu(X).data)) < 1e-3
    with pytest.raises(ag.InputError, match=r"approximate must be 'none'.*or 'tanh'"):
        ag.gelu(X, approximate="erf")


def test_sign_has_gradient_zero_everywhere_at_zero_too():
    x = leaf([-2.0, 0.0, 3.0])
    (x.sign() * 5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_sinc_is_one_with_gradient_zero_at_zero():
    x = leaf([0.0, 0.5])
    y = x.sinc()
    y.sum().backward()
    assert y.data[0] == 1.0 and x.grad[0] == 0.0
    assert np.isclose(x.grad[1], (np.cos(np.pi * 0.5) - np.sinc(0.5)) / 0.5)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),  # no zero: z / x
        ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]),  # one zero: only its own, the product of the rest
        ([0.0, 3.0, 0.0], [0.0, 0.0, 0.0]),  # two: every one is 0
        ([0.0], [1.0]),  # the empty product of the others is 1
    ],
)
def test_prod_with_zeros_is_exact_never_x_over_zero(values, expected):
    x = leaf(values)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad, expected)


def test_prod_with_zeros_along_an_axis_and_kept():
    x = leaf([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0], [0.0, 0.0, 7.0]])
    out = x.prod(axis=1, keepdims=True)
    np.testing.assert_array_equal(out.data, [[0.0], [60.0], [0.0]])
    out.backward(np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_array_equal(x.grad, [[0, 2, 0], [40, 30, 24], [0, 0, 0]])


def test_reductions_and_scans_agree_with_numpy():
    t = Tensor(X)
    pairs = [
        (t.prod(axis=0), np.prod(X, axis=0)),
        (t.prod(), np.prod(X)),
        (t.cumsum(), np.cumsum(X)),
        (t.cumsum(axis=1), np.cumsum(X, axis=1)),
        (ag.cumsum(X, dim=0), np.cumsum(X, axis=0)),
    ]
    for ours, numpys in pairs:
        assert ours.shape == np.shape(numpys)
        np.testing.assert_allclose(ours.data, numpys, rtol=1e-14)


def test_cumsum_gradient_is_the_running_sum_from_the_end():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    x.cumsum().backward(np.array([1.0, 10.0, 100.0, 1000.0]))
    np.testing.assert_array_equal(x.grad, [1111.0, 1110.0, 1100.0, 1000.0])


def test_argmax_and_argmin_are_plain_integer_arrays_not_recorded():
    x = leaf([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]])
    for found in (x.argmax(axis=1), ag.argmax(x, dim=1), x.argmin(), ag.argmin(x, 0, True)):
        assert type(found) is np.ndarray and found.dtype.kind == "i"
    np.testing.assert_array_equal(x.argmax(axis=1), [1, 0])  # the first of a tie
    assert x.argmin() == 4 and x.argmax().shape == ()
    np.testing.assert_array_equal(x.argmax(dim=0, keepdim=True), [[1, 0, 0]])


def test_shape_ops_agree_with_numpy():
    t = Tensor(X)
    v = RNG.standard_normal(3)
    pairs = [
        (t.flip(), np.flip(X)),
        (t.flip(1), np.flip(X, 1)),
        (t.roll(2), np.roll(X, 2)),
        (t.roll((1, -1), (0, 1)), np.roll(X, (1, -1), (0, 1))),
        (t.tile((2, 1, 3)), np.tile(X, (2, 1, 3))),
        (t.triu(), np.triu(X)),
        (t.tril(-1), np.tril(X, -1)),
        (t.diag(), np.diag(X)),
        (t.diag(2), np.diag(X, 2)),
        (ag.diag(v, -1), np.diag(v, -1)),
        (t.trace(), np.trace(X)),
        (t.trace(1), np.trace(X, 1)),
        (t.broadcast_to((2, 3, 4)), np.broadcast_to(X, (2, 3, 4))),
    ]
    for ours, numpys in pairs:
        assert ours.shape == np.shape(numpys)
        np.testing.assert_allclose(ours.data, numpys, rtol=1e-14)


def test_shape_ops_refuse_what_they_cannot_take_by_name():
    with pytest.raises(ag.ShapeError, match=r"triu: needs a at least 2-D input.*\(3,\)"):
        Tensor(np.ones(3)).triu()
    with pytest.raises(ag.ShapeError, match=r"trace: needs a 2-D input.*einsum\('...ii->...'"):
        Tensor(np.ones((2, 3, 3))).trace()
    with pytest.raises(ag.ShapeError, match=r"diag: needs a 1-D or 2-D input"):
        Tensor(np.ones((2, 3, 3))).diag()
    with pytest.raises(ag.InputError, match="tile: reps must be whole numbers"):
        Tensor(X).tile(-1)
    with pytest.raises(ag.InputError, match="roll: give one shift per axis"):
        Tensor(X).roll((1, 2), 0)
    with pytest.raises(ag.InputError, match="cumsum: axis must be one axis"):
        Tensor(X).cumsum((0, 1))


# ---------------------------------------------------------------------------------------
# einsum and tensordot
# ---------------------------------------------------------------------------------------

EINSUM_FORMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),  # matmul
    ("i,j->ij", [(3,), (4,)]),  # outer
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),  # batch matmul
    ("ij,ji->", [(3, 4), (4, 3)]),  # trace of a product
    ("ii->", [(3, 3)]),  # trace
    ("ii->i", [(3, 3)]),  # diagonal
    ("ij->ji", [(3, 4)]),  # transpose
    ("ij->", [(3, 4)]),  # sum
    ("ij->j", [(3, 4)]),
    ("ij,jk", [(3, 4), (4, 2)]),  # implicit output
    ("ji,jk", [(4, 3), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # broadcast batches
    ("...i,...i", [(2, 3), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("iii->i", [(2, 2, 2)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
    ("ij,kl->ijkl", [(2, 3), (1, 2)]),
    (",ij->ij", [(), (2, 3)]),
    ("i j , j k -> i k", [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize(("subscripts", "shapes"), EINSUM_FORMS, ids=[f[0] for f in EINSUM_FORMS])
def test_einsum_agrees_with_numpy_in_every_form_and_gradchecks(subscripts, shapes):
    arrays = [RNG.standard_normal(s) for s in shapes]
    out = ag.einsum(subscripts, *arrays)
    expected = np.einsum(subscripts.replace(" ", ""), *arrays)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    leaves = [leaf(a) for a in arrays]
    assert ag.gradcheck(lambda *ts: ag.einsum(subscripts, *ts), *leaves, atol=1e-7, rtol=1e-6)


def test_einsum_takes_torchs_list_of_operands_and_records_the_two_operand_op():
    x, y = leaf(RNG.standard_normal((3, 4))), leaf(RNG.standard_normal((4, 2)))
    out = ag.einsum("ij,jk->ik", [x, y])
    assert out.op == "einsum" and out.node.params == {"subscripts": "ij,jk->ik"}
    np.testing.assert_allclose(out.data, x.data @ y.data)
    assert ag.einsum("ij->ji", x).op == "transpose"
    assert ag.einsum("ij->ij", x) is x


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: ag.einsum("ij,jk->ik", np.ones((2, 3))), ag.InputError, "labels 2 operand"),
        (lambda: ag.einsum("ij->ik", np.ones((2, 3))), ag.InputError, "output label"),
        (lambda: ag.einsum("ijk->i", np.ones((2, 3))), ag.ShapeError, "does not label the 2"),
        (
            lambda: ag.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 2))),
            ag.ShapeError,
            "label 'j'.*sizes 3 and 4",
        ),
        (lambda: ag.einsum("...i->i", np.ones((2, 3))), ag.InputError, r"write '\.\.\.'"),
        (lambda: ag.einsum("i1->i", np.ones((2, 3))), ag.InputError, "letters"),
        (lambda: ag.einsum(3, np.ones(2)), ag.InputError, "must be a string"),
    ],
)
def test_einsum_errors_say_what_does_not_fit(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_einsum_op_refuses_forms_that_ag_einsum_brings_to_it():
    x = Tensor(np.ones((3, 3)), requires_grad=True)
    with pytest.raises(ag.InputError, match="a label repeats"):
        ag.apply(ag.OPS["einsum"], x, x, subscripts="ii,ij->j")
    with pytest.raises(ag.InputError, match=r"ag\.einsum takes the other forms"):
        ag.apply(ag.OPS["einsum"], x, x, subscripts="ij,jk->k")


@pytest.mark.parametrize(
    ("shapes", "axes"),
    [
        (((3, 4), (4, 5)), 1),
        (((2, 3, 4), (3, 4, 5)), 2),
        (((2, 3), (3, 2)), ([1, 0], [0, 1])),
        (((2, 3), (4, 3)), ([1], [1])),
        (((2,), (3,)), 0),
        (((3, 4), (4,)), (1, 0)),
    ],
)
def test_tensordot_agrees_with_numpy(shapes, axes):
    x, y = (RNG.standard_normal(s) for s in shapes)
    np.testing.assert_allclose(ag.tensordot(x, y, axes).data, np.tensordot(x, y, axes), rtol=1e-12)
    np.testing.assert_allclose(ag.tensordot(x, y, dims=axes).data, np.tensordot(x, y, axes))
    assert ag.gradcheck(lambda a, b: ag.tensordot(a, b, axes), leaf(x), leaf(y))


def test_tensordot_errors():
    with pytest.raises(ag.ShapeError, match="axes=3 pairs"):
        ag.tensordot(np.ones((2, 3)), np.ones((3, 2)), 3)
    with pytest.raises(ag.ShapeError, match="out of range"):
        ag.tensordot(np.ones((2, 3)), np.ones((3, 2)), ([5], [0]))


# ---------------------------------------------------------------------------------------
# dropout: explicit randomness, never numpy's global state
# ---------------------------------------------------------------------------------------


def test_dropout_zeroes_about_p_and_scales_the_rest():
    x = Tensor(np.ones((200, 100)), requires_grad=True)
    out = ag.dropout(x, 0.3, rng=np.random.default_rng(1))
    kept = out.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(out.data[kept], 1 / 0.7)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)  # dx = dz * mask / (1 − p)


def test_dropout_masks_come_from_the_generator_or_seed_given():
    x = np.ones((4, 5))
    rng = np.random.default_rng(3)
    first, second = ag.dropout(x, 0.5, rng=rng).data, ag.dropout(x, 0.5, rng=rng).data
    assert not np.array_equal(first, second), "a Generator draws a new mask at each call"
    again = np.random.default_rng(3)
    np.testing.assert_array_equal(ag.dropout(x, 0.5, rng=again).data, first)
    np.testing.assert_array_equal(ag.dropout(x, 0.5, rng=7).data, ag.dropout(x, 0.5, rng=7).data)
    np.testing.assert_array_equal(
        ag.dropout(x, 0.5, generator=np.random.default_rng(3)).data, first
    )


def test_dropout_never_touches_numpys_global_state():
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    ag.dropout(np.ones(10), 0.5)
    ag.rand(3)
    ag.randn(3)
    nn_dropout = __import__("nn").Dropout(0.5)
    nn_dropout(Tensor(np.ones(10)))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_dropout_outside_training_and_at_the_ends_of_p():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    assert ag.dropout(x, 0.5, training=False) is x
    assert ag.dropout(x, 0.0, rng=0) is x
    zeros = ag.dropout(x, 1.0)
    np.testing.assert_array_equal(zeros.data, 0.0)
    zeros.sum().backward()
    np.testing.assert_array_equal(x.grad, 0.0)
    for p in (-0.1, 1.5, "half"):
        with pytest.raises(ag.InputError, match=r"dropout: p is the probability.*\[0, 1\]"):
            ag.dropout(x, p)
    with pytest.raises(TypeError, match="rng or generator, not both"):
        ag.dropout(x, 0.5, rng=0, generator=np.random.default_rng(0))


def test_the_dropout_op_checks_its_mask_and_p():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ag.InputError, match=r"mask must be booleans of the input's shape \(2, 3\)"):
        ag.apply(ag.OPS["dropout"], x, mask=np.ones((2, 3)), p=0.5)
    with pytest.raises(ag.InputError, match=r"p in \[0, 1\).*p=1\) gives zeros"):
        ag.apply(ag.OPS["dropout"], x, mask=np.ones((2, 3), bool), p=1.0)


def test_explain_shows_the_new_ops_rules_made_concrete_one_line_each():
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    out = ag.dropout(x.cumsum(dim=1).flip(0).triu(1), 0.5, rng=0)
    text = str(ag.explain(ag.cross_entropy(out, [0, 1, 2], label_smoothing=0.1)))
    for shown in [
        "target = 0.9 * target + 0.1 / 4",
        "dz = dC / 3 * (p - target)  → (3, 4)",
        "dx = dz * mask / 0.5  → (3, 4)",
        "dx = np.triu(dz, 1)  → (3, 4)",
        "dx = np.flip(dz, axis=(0,))  → (3, 4)",
        "dx = np.flip(np.cumsum(np.flip(dz, axis=1), axis=1), axis=1)  → (3, 4) for parameter",
    ]:
        assert f"\n          {shown}" in text, shown
    assert "where k =" not in text, "triu's diagonal k is a parameter, not a count"
