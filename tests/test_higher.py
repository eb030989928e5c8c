"""Gradients of gradients, from the same VJP formulas (higher.py).

The op table drives the second-derivative tests as it drives the first (test_ops.py): every
case is gradgradchecked in float64, and its second derivatives in float32 are checked
against float64's. Then the conventions where a first derivative has a kink, tanh's six
derivatives against their closed forms, the public functions (`gradients`, `grad`, `hvp`,
`jacobian`, `hessian`), their errors, and the printed code of a recorded gradient graph.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_ops import CASES, TIGHT, make_inputs

import autograd_mini as ag
from autograd_mini import Tensor
from autograd_mini.code import program
from autograd_mini.formulas import SCOPE
from autograd_mini.higher import CONSTANT, RecordingNumpy

# ----------------------------------------------------------------------------------------
# Every op of the table has a second derivative
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradgradcheck_float64(case):
    """The derivative of each op's gradient agrees with finite differences of the gradient
    (test_ops.py checks that every op of ag.OPS has a case)."""
    assert ag.gradgradcheck(case.fn, *make_inputs(case), **TIGHT)


def second_derivatives(case, xs, seed=1):
    """∂/∂x Σ w ⊙ ∂(v ⊙ fn)/∂x for each input x: the double backward gradgradcheck checks."""
    out = case.fn(*xs)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(out.shape).astype(out.dtype)
    firsts = ag.gradients(out, xs, grad=v, create_graph=True)
    total = sum((g * rng.standard_normal(g.shape).astype(g.dtype)).sum() for g in firsts)
    return [h.data for h in ag.gradients(total, xs)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_second_derivatives_in_float32_agree_with_float64(case):
    """A double backward is a chain of at most ~40 ops, each within a few units of roundoff
    u = 6e-8 of its result (REFERENCE §6): ~40 · 4u ≈ 1e-5 worst case, so rtol 1e-4. Where
    terms cancel (a softmax's gradient sums to ~0) the error is a few u of the terms, not of
    the result: atol is measured against the largest second derivative, as in the
    first-order test (test_ops.py)."""
    inputs32 = make_inputs(case, np.float32)
    inputs64 = [Tensor(x.data.astype(np.float64), requires_grad=True) for x in inputs32]
    second32, second64 = second_derivatives(case, inputs32), second_derivatives(case, inputs64)
    largest = max(np.abs(h).max(initial=0.0) for h in second64)
    for x32, h32, h64 in zip(inputs32, second32, second64, strict=True):
        assert h32.shape == x32.shape and h32.dtype == np.float32
        # (floored: where every second derivative is 0, as norm's of one element, |x|,
        # float64's roundoff leaves ~1e-16 that float32 need not reproduce)
        scale = max(np.abs(h64).max(initial=0.0), 0.1 * largest, 1e-6)
        np.testing.assert_allclose(h32, h64, rtol=1e-4, atol=1e-5 * scale)


def test_every_numpy_name_a_vjp_formula_calls_has_a_recording_equivalent():
    """Each `np.<name>` in a VJP formula is an op's numpy function, an `ag.` function, a
    constant-valued function or a constant (the forwards' values a VJP reads are computed
    again on Tensors too: the gradgradchecks above run every one of them)."""
    import ast

    recording = RecordingNumpy()
    for op in ag.OPS.values():
        for tree in op.vjp_trees:
            for node in (n for statement in tree for n in ast.walk(statement)):
                if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "np":
                    getattr(recording, node.attr)  # raises for one with no equivalent
    assert "take_along_axis" not in CONSTANT


def test_a_numpy_function_with_no_op_is_refused_by_name():
    with pytest.raises(NotImplementedError, match=r"np\.cbrt has no op that records it"):
        _ = RecordingNumpy().cbrt


# ----------------------------------------------------------------------------------------
# Where the first derivative has a kink: the convention decides, and the second is 0
# ----------------------------------------------------------------------------------------


def hessian_at(f, x):
    return ag.hessian(f)(np.asarray(x, dtype=float)).data


def test_relu_at_0_takes_gradient_0_and_second_derivative_0():
    """relu′ is 0 for z ≤ 0 and 1 above (0 at the kink, by convention); relu″ is 0 at every
    point, the kink too (the convention is a constant, so its derivative is 0)."""
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(ag.grad(lambda t: t.relu().sum())(z).data, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(hessian_at(lambda t: t.relu().sum(), z), np.zeros((3, 3)))
    np.testing.assert_array_equal(
        hessian_at(lambda t: (t.relu() ** 2).sum(), z), np.diag([0, 0, 2])
    )


def test_max_at_a_tie_shares_the_gradient_and_has_second_derivative_0():
    """max splits dz evenly among ties; the split is constant, so max″ is 0 there too. Under
    a square, (max x)² has Hessian 2 ∇max ∇maxᵀ: with the convention's ∇max = (½, ½, 0)."""
    x = np.array([3.0, 3.0, 1.0])
    np.testing.assert_array_equal(ag.grad(lambda t: t.max())(x).data, [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(hessian_at(lambda t: t.max(), x), np.zeros((3, 3)))
    share = np.array([0.5, 0.5, 0.0])
    np.testing.assert_allclose(hessian_at(lambda t: t.max() ** 2, x), 2 * np.outer(share, share))


def test_maximum_abs_and_clip_at_their_kinks():
    x = np.array([0.0, 0.5])
    np.testing.assert_array_equal(hessian_at(lambda t: ag.maximum(t, 0.0).sum(), x), 0)
    np.testing.assert_array_equal(hessian_at(lambda t: t.abs().sum(), x), 0)
    np.testing.assert_array_equal(hessian_at(lambda t: t.clip(0.0, 0.5).sum(), x), 0)
    np.testing.assert_array_equal(ag.grad(lambda t: t.abs().sum())(x).data, [0.0, 1.0])


def test_sinc_has_its_second_derivative_at_0():
    """sinc″(0) = −π²/3 (sinc x = 1 − (πx)²/6 + ...): the rule writes its value 0 at 0 as
    −(π²/3)·x, whose derivative is right."""
    second = ag.grad(ag.grad(lambda t: t.sinc()))
    assert second(0.0).item() == pytest.approx(-(math.pi**2) / 3, rel=1e-15)
    assert ag.gradgradcheck(lambda t: t.sinc(), Tensor([0.3, -1.2], requires_grad=True), **TIGHT)


def test_prod_at_zeros_has_its_exact_hessian():
    """∂²(x₀x₁x₂)/∂xᵢ∂xⱼ is the product of the third: exact where some x are 0."""
    for x in ([0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0]):
        a, b, c = x
        expected = np.array([[0, c, b], [c, 0, a], [b, a, 0]])
        np.testing.assert_array_equal(hessian_at(lambda t: t.prod(), x), expected)


def test_std_where_it_is_0_takes_gradient_0_and_second_derivative_0():
    x = np.full(3, 2.0)
    np.testing.assert_array_equal(ag.grad(lambda t: t.std())(x).data, 0)
    np.testing.assert_array_equal(hessian_at(lambda t: t.std(), x), 0)


def test_norm_where_it_is_0_takes_gradient_0_and_second_derivative_0():
    x = np.zeros(3)
    np.testing.assert_array_equal(ag.grad(lambda t: t.norm())(x).data, 0)
    np.testing.assert_array_equal(hessian_at(lambda t: t.norm(), x), 0)


# ----------------------------------------------------------------------------------------
# tanh and its first six derivatives (HIPS autograd's picture)
# ----------------------------------------------------------------------------------------

TANH_DERIVATIVES = [  # t = tanh x; each is p′(t)(1 − t²) of the one before (REFERENCE §9)
    lambda t: 1 - t**2,
    lambda t: -2 * t + 2 * t**3,
    lambda t: -2 + 8 * t**2 - 6 * t**4,
    lambda t: 16 * t - 40 * t**3 + 24 * t**5,
    lambda t: 16 - 136 * t**2 + 240 * t**4 - 120 * t**6,
    lambda t: -272 * t + 1232 * t**3 - 1680 * t**5 + 720 * t**7,
]


def test_the_closed_forms_are_the_derivatives_of_each_other():
    p = np.polynomial.Polynomial([0, 1])  # tanh itself, as a polynomial in t
    one_minus_t2 = np.polynomial.Polynomial([1, 0, -1])
    t = np.linspace(-1, 1, 11)
    for closed in TANH_DERIVATIVES:
        p = p.deriv() * one_minus_t2
        np.testing.assert_allclose(closed(t), p(t), atol=1e-12)


def test_tanh_and_its_first_six_derivatives_match_their_closed_forms():
    x = np.linspace(-7, 7, 201)
    f = ag.tanh
    for order, closed in enumerate(TANH_DERIVATIVES, start=1):
        f = ag.grad(lambda x, f=f: f(x).sum())  # elementwise: the sum's gradient is f′
        got = f(Tensor(x, requires_grad=True))
        assert got.requires_grad, "recorded, so that it can be differentiated again"
        np.testing.assert_allclose(
            got.data, closed(np.tanh(x)), rtol=1e-12, atol=1e-12, err_msg=f"order {order}"
        )


# ----------------------------------------------------------------------------------------
# The public functions
# ----------------------------------------------------------------------------------------


def test_gradients_returns_tensors_and_leaves_grad_alone():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, -1.0], requires_grad=True)
    y = (x * w).sum() ** 2
    gx, _ = ag.gradients(y, [x, w], create_graph=True)
    assert isinstance(gx, Tensor) and gx.requires_grad and gx.node is not None
    np.testing.assert_allclose(gx.data, 2 * 1.0 * w.data)  # 2 (x·w) w, x·w = 1
    assert x.grad is None and w.grad is None
    (hxx,) = ag.gradients(gx.sum(), [x])
    np.testing.assert_allclose(hxx.data, 2 * w.data * w.data.sum())
    y2 = (x * w).sum() ** 2
    y2.backward()
    assert type(x.grad) is np.ndarray  # .grad stays an array for first-order users
    np.testing.assert_allclose(x.grad, gx.data)


def test_without_create_graph_nothing_is_recorded():
    x = Tensor(np.linspace(-1, 1, 5), requires_grad=True)
    y = (x.sin() * x).sum()
    seen = []

    class Count(ag.Observer):
        def recorded(self, op, inputs, tensor):
            seen.append(op.name)

    with ag.observe(Count()):
        (g,) = ag.gradients(y, x)  # a tuple of one, as torch's
    assert seen == [] and not g.requires_grad and g.node is None
    np.testing.assert_allclose(g.data, np.sin(x.data) + x.data * np.cos(x.data))
    with pytest.raises(ag.BackwardError, match="already freed"):
        ag.gradients(y, x)  # freed, as after backward()
    y = (x.sin() * x).sum()
    with ag.observe(Count()):
        ag.gradients(y, x, create_graph=True)
    assert seen, "with create_graph the VJPs are recorded"


def test_gradients_of_several_inputs_unused_ones_and_dtypes():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    unused = Tensor(np.ones(2), requires_grad=True)
    gx, gu = ag.gradients((x * 3.0).sum(), (x, unused), create_graph=True)
    assert gx.dtype == np.float32 and gu.dtype == np.float64
    np.testing.assert_array_equal(gu.data, 0)
    y = Tensor(np.arange(3.0), requires_grad=True)
    (g,) = ag.gradients(y * y, [y], grad=np.ones(3))
    np.testing.assert_array_equal(g.data, 2 * np.arange(3.0))


def test_a_seed_that_requires_grad_gives_a_jacobian_vector_product():
    """Jᵀ v is linear in v: with the seed v a Tensor that requires grad, its gradient with
    respect to v, taken along u, is J u (forward mode from two reverse passes)."""
    x = Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    v = Tensor(np.zeros(3), requires_grad=True)
    u = np.array([1.0, 2.0, -1.0])
    y = x.sin() * x[[1, 2, 0]]
    (vjp,) = ag.gradients(y, [x], grad=v, create_graph=True)
    (jvp,) = ag.gradients((vjp * u).sum(), [v])
    J = ag.jacobian(lambda t: t.sin() * t[[1, 2, 0]])(x.data).data
    np.testing.assert_allclose(jvp.data, J @ u, rtol=1e-14)


def test_grad_composes_and_takes_argnum():
    def f(x, y):
        return (x**3 * y).sum()

    assert ag.grad(f)(2.0, 5.0).item() == 60.0  # 3x² y
    assert ag.grad(f, argnum=1)(2.0, 5.0).item() == 8.0  # x³
    assert ag.grad(f, argnum=-1)(2.0, 5.0).item() == 8.0
    assert ag.grad(ag.grad(f))(2.0, 5.0).item() == 60.0  # 6x y
    assert ag.grad(ag.grad(ag.grad(f)))(2.0, 5.0).item() == 30.0  # 6 y
    mixed = ag.grad(lambda x, y: ag.grad(f)(x, y).sum(), argnum=1)
    assert mixed(2.0, 5.0).item() == 12.0  # 3x²
    assert not ag.grad(f)(2.0, 5.0).requires_grad, "at the top, with a number: a constant"
    assert ag.grad(f)(Tensor(2.0, requires_grad=True), 5.0).requires_grad
    assert ag.grad(lambda x: x.sum() * 0 + 7.0)(np.ones(2)).data.tolist() == [0.0, 0.0]


def test_hvp_is_the_hessian_times_v_without_the_hessian():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))

    def f(x):
        return (x.tanh() @ A @ x.sin()) + (x**4).sum()

    x, v = rng.standard_normal(4), rng.standard_normal(4)
    H = ag.hessian(f)(x).data
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ag.hvp(f, x, v).data, H @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ag.hvp(lambda x: (x * 2.0).sum(), x, v).data, 0)


def test_jacobian_row_by_row():
    x = np.array([0.5, -1.0, 2.0])
    J = ag.jacobian(lambda t: t.softmax())(x).data
    s = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15)
    J = ag.jacobian(lambda t: t.reshape(3, 1) * t)(x).data
    assert J.shape == (3, 3, 3)
    assert ag.jacobian(lambda t: t.sum())(x).shape == (3,)
    assert ag.hessian(lambda t: (t * t).sum())(np.ones((2, 2))).shape == (2, 2, 2, 2)


def test_hessian_agrees_with_finite_differences_of_grad():
    def f(x):
        return ag.log_softmax(x * x[::-1]).sum() + (x.exp() * x).mean()

    x = np.array([0.3, -0.7, 1.1, 0.2])
    H = ag.hessian(f)(x).data
    step = 1e-6
    columns = [
        (ag.grad(f)(x + step * e).data - ag.grad(f)(x - step * e).data) / (2 * step)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(H, np.array(columns).T, rtol=1e-7, atol=1e-8)


def test_backward_inside_create_graph_and_detect_anomaly():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    with ag.detect_anomaly():
        (g,) = ag.gradients((x.log() * x).sum(), x, create_graph=True)
        (g * g).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (np.log(x.data) + 1) / x.data)


# ----------------------------------------------------------------------------------------
# The recorded gradient graph as code
# ----------------------------------------------------------------------------------------


def run_printed(loss):
    """exec the code `backward_code` prints for `loss`, on the graph's own values."""
    printed = program(loss)
    namespace = {"np": np}
    exec(printed.source, namespace)
    values = [a.value.data if isinstance(a.value, Tensor) else a.value for a in printed.arguments]
    return namespace[printed.name](*values)


def test_backward_code_of_a_gradient_norm_penalty_prints_and_runs():
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
    X = Tensor(rng.standard_normal((4, 3)), name="X")
    loss = ((X @ W).tanh() ** 2).mean()
    (gW,) = ag.gradients(loss, [W], create_graph=True)
    penalty = loss + 0.1 * (gW * gW).sum()
    text = ag.backward_code(penalty)
    assert "def forward_backward(" in text and "np.tanh" in text and '"W": dW' in text
    value, grads = run_printed(penalty)
    assert value == penalty.item()
    np.testing.assert_allclose(grads["W"], ag.gradients(penalty, W)[0].data, rtol=1e-14)


def test_backward_code_of_a_hessian_vector_product_prints_and_runs():
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal(5), requires_grad=True, name="x")
    v = rng.standard_normal(5)
    (g,) = ag.gradients((x.sin() * x).sum(), x, create_graph=True)
    directional = (g * v).sum()  # ∇f · v, whose gradient is H v
    value, grads = run_printed(directional)
    assert value == directional.item()
    np.testing.assert_allclose(grads["x"], ag.hvp(lambda t: (t.sin() * t).sum(), x.data, v).data)


def test_a_compiled_step_with_a_gradient_penalty_matches_the_eager_one():
    """ag.compile traces the recorded gradient graph like any other: the parameters are read
    at each call, and so is the data, also where the gradient's graph reads it as X.T."""
    rng = np.random.default_rng(2)
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
    X = rng.standard_normal((4, 3))

    def step(X):
        loss = ((Tensor(X) @ W).sigmoid() ** 2).mean()
        (gW,) = ag.gradients(loss, [W], create_graph=True)
        return loss + 0.1 * (gW * gW).sum()

    compiled = ag.compile(step)
    for _ in range(3):
        X = rng.standard_normal((4, 3))  # a new batch each call
        W.grad = None
        compiled(X)
        got = W.grad
        W.grad = None
        step(X).backward()
        np.testing.assert_allclose(got, W.grad, rtol=1e-13)
        W.data -= 0.5 * W.grad


# ----------------------------------------------------------------------------------------
# Bad inputs: a clear error naming the function, the value and what to do
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: ag.gradients([1.0], x), TypeError, r"gradients: y must be a Tensor, got list"),
        (lambda x: ag.gradients(x.sum(), []), TypeError, r"xs must be a Tensor or a non-empty"),
        (lambda x: ag.gradients(x.sum(), [x, 3]), TypeError, r"xs\[1\] must be a Tensor, got int"),
        (
            lambda x: ag.gradients(x.sum(), [x, Tensor(1.0)]),
            ag.InputError,
            r"xs\[1\] \(shape \(\)\) does not require grad",
        ),
        (lambda x: ag.gradients(x * 2, x), ag.ShapeError, r"y has shape \(3,\); without grad="),
        (
            lambda x: ag.gradients(x * 2, x, grad=np.ones(2)),
            ag.ShapeError,
            r"grad has shape \(2,\) but y has shape \(3,\)",
        ),
        (
            lambda x: ag.gradients(x.sum(), x, create_graph="yes"),
            TypeError,
            r"create_graph must be True or False, got 'yes'",
        ),
        (lambda x: ag.grad(3), TypeError, r"grad: f must be a function of Tensors, got int"),
        (lambda x: ag.grad(ag.tanh, argnum=0.5), TypeError, r"argnum must be the position"),
        (lambda x: ag.grad(ag.tanh, argnum=2)(x), ag.InputError, r"grad: argnum 2 is not"),
        (lambda x: ag.grad(ag.tanh)(x), ag.ShapeError, r"grad: f must return one number"),
        (lambda x: ag.grad(lambda t: 3.0)(x), TypeError, r"grad: f must return a Tensor"),
        (lambda x: ag.grad(ag.sum)("abc"), ag.InputError, r"grad: argument 0 must be numbers"),
        (lambda x: ag.hvp(ag.sum, x, np.ones(2)), ag.ShapeError, r"hvp: v has shape \(2,\)"),
        (lambda x: ag.hvp(ag.tanh, x, np.ones(3)), ag.ShapeError, r"hvp: f must return one"),
        (lambda x: ag.jacobian(lambda t: [t])(x), TypeError, r"jacobian: f must return a Tensor"),
        (lambda x: ag.hessian(ag.tanh)(x), ag.ShapeError, r"grad: f must return one number"),
        (
            lambda x: ag.gradgradcheck(lambda t: t * 2, Tensor(np.ones(2))),
            ValueError,
            r"gradgradcheck: no input requires grad",
        ),
        (
            lambda x: ag.gradgradcheck(lambda t: 3, x),
            TypeError,
            r"gradgradcheck: fn must return a Tensor",
        ),
        (
            lambda x: ag.gradgradcheck(ag.tanh, Tensor([np.nan, 1.0], requires_grad=True)),
            ValueError,
            r"gradgradcheck: input 0 \(shape \(2,\)\) holds nan at index \(0,\)",
        ),
    ],
)
def test_bad_inputs_get_clear_errors(call, error, message):
    x = Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    with pytest.raises(error, match=message):
        call(x)


def test_a_freed_graph_is_refused_with_what_to_do():
    x = Tensor(np.ones(2), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(ag.BackwardError, match=r"gradients: .* retain_graph=True"):
        ag.gradients(y, x, create_graph=True)


def test_a_wrong_second_derivative_is_reported_by_gradgradcheck():
    """An op whose VJP has the right value but reads e^x outside the ops (a learner's
    mistake): its first derivative passes gradcheck, its second does not."""

    def plain(x):
        return np.asarray(getattr(x, "data", x))

    SCOPE["plain"] = plain
    try:
        op = ag.Op(
            "frozen_exp(x)",
            forward="z = np.exp(x)",
            vjps=["dx = dz * np.exp(plain(x))"],
            function=False,
        )
        x = Tensor(np.array([0.1, 0.5]), requires_grad=True)
        assert ag.gradcheck(lambda t: ag.apply(op, t), x)
        with pytest.raises(ag.GradcheckError, match=r"gradgradcheck: the second derivative of"):
            ag.gradgradcheck(lambda t: ag.apply(op, t), x)
    finally:
        del ag.OPS["frozen_exp"], SCOPE["plain"]


def test_backward_with_create_graph_names_the_spelling_that_records_gradients():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ag.BackwardError, match=r"ag\.gradients\(loss, \[x, \.\.\.\], create_"):
        (x * x).sum().backward(create_graph=True)
    assert x.grad is None  # nothing ran
    (x * x).sum().backward(create_graph=False)  # torch's default, accepted
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_gradients_returns_a_tuple_even_for_one_tensor_as_torch_autograd_grad():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    result = ag.gradients((x * x).sum(), x, create_graph=True)
    assert isinstance(result, tuple) and len(result) == 1
    np.testing.assert_array_equal(result[0].data, [2.0, 4.0, 6.0])  # torch's idiom: grad(y, x)[0]
