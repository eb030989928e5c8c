"""ag.compile and nn.compile: a step traced once per signature and run as its printed numpy.
It gives backward()'s numbers to the bit, never overwrites what the caller holds, traces
again for new shapes, dtypes or replaced parameters, and refuses what it cannot run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_mini as ag
import autograd_mini.compiled as compiled_module
import nn
from autograd_mini import Tensor


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def mlp_problem(dtype=np.float64, cost="quadratic", batch=10, sizes=(12, 7, 5)):
    rng = np.random.default_rng(0)
    X = rng.random((batch, sizes[0])).astype(dtype)
    if cost == "quadratic":
        model = nn.MLP(list(sizes), seed=0, dtype=dtype)
        Y = nn.one_hot(rng.integers(0, sizes[-1], batch), sizes[-1]).astype(dtype)
    else:
        model = nn.MLP(list(sizes), seed=0, dtype=dtype, output_activation=None)
        Y = rng.integers(0, sizes[-1], batch)
    return model, X, Y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cost", ["quadratic", "softmax-cross-entropy"])
def test_a_compiled_step_fills_grad_as_backward_does_to_the_bit(dtype, cost):
    model, X, Y = mlp_problem(dtype, cost)
    cost = nn.get_cost(cost)
    eager = cost.loss(model(X), Y)
    eager.backward()
    expected = [p.grad for p in model.parameters()]
    model.zero_grad()
    step = nn.compile(model, cost)
    loss = step(X, Y)
    assert isinstance(loss, ag.Tensor) and loss.node is None and same(loss.data, eager.data)
    for p, g in zip(model.parameters(), expected, strict=True):
        assert same(p.grad, g)
    step(X, Y)  # .grad accumulates, as after a second backward()
    for p, g in zip(model.parameters(), expected, strict=True):
        assert same(p.grad, g + g)


def test_what_the_caller_holds_is_never_overwritten_by_the_next_call():
    model, X, Y = mlp_problem()
    step = nn.compile(model, "quadratic")
    loss, grads = step.gradients(X, Y)
    kept_loss, kept = np.array(loss), {p: g.copy() for p, g in grads.items()}
    step.gradients(X[::-1].copy(), Y)  # other numbers, same signature: the same code runs
    assert same(loss, kept_loss)
    for p, g in grads.items():
        assert same(g, kept[p]) and g.flags.owndata and g.flags.writeable
    arrays = list(grads.values())
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :]), (
        "each gradient is an array of its own (SGD writes into them)"
    )
    step(X, Y)
    held = [p.grad.copy() for p in model.parameters()]
    step.gradients(X[::-1].copy(), Y)
    assert all(same(p.grad, h) for p, h in zip(model.parameters(), held, strict=True))


def test_a_new_signature_traces_again_and_an_old_one_reuses_its_code():
    model, X, Y = mlp_problem(batch=10)
    step = nn.compile(model, "quadratic")
    step.gradients(X, Y)
    step.gradients(X[:3], Y[:3])  # the smaller last batch of an epoch
    step.gradients(X, Y)
    assert step.traces == 2
    step.gradients(X.astype(np.float32), Y)  # another dtype
    assert step.traces == 3
    loss, grads = step.gradients(X[:3], Y[:3])
    eager = nn.get_cost("quadratic").loss(model(X[:3]), Y[:3])
    eager.backward()
    assert same(loss, eager.data)
    assert all(same(grads[p], p.grad) for p in model.parameters())


def test_numbers_are_part_of_what_a_trace_is_for():
    w = ag.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    step = ag.compile(lambda x, scale: (w * x * scale).sum())
    assert float(step(np.ones(2), 2.0).data) == -2.0
    assert float(step(np.ones(2), 3.0).data) == -3.0
    assert step.traces == 2


def test_python_control_flow_is_fixed_when_traced_as_documented():
    """As jax.jit: the branch an `if` took at the trace is the code that runs."""
    w = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)

    def f(x):
        return (w * x).sum() if x[0] > 0 else (w * x * 10.0).sum()

    step = ag.compile(f)
    step(np.array([1.0, 1.0]))
    assert float(step(np.array([-1.0, 1.0])).data) == 1.0  # not 10: the traced branch
    assert "is fixed when it is traced" in compiled_module.__doc__


def test_a_replaced_parameter_array_is_read_and_another_shape_traces_again():
    model, X, Y = mlp_problem()
    step = nn.compile(model, "quadratic")
    step(X, Y)
    layer = model.layers[0]
    layer.weight.data = layer.weight.data * 0.5  # a new array of the same shape
    model.zero_grad()
    loss = step(X, Y)
    assert step.traces == 1
    eager = nn.get_cost("quadratic").loss(model(X), Y)
    assert same(loss.data, eager.data)


def test_a_parameter_array_of_another_shape_traces_again():
    w = ag.Tensor(np.ones((3, 2)), requires_grad=True)
    step = ag.compile(lambda x: (x @ w).sum())
    step(np.ones((4, 3)))
    w.data, w.grad = np.ones((3, 5)), None
    loss = step(np.ones((4, 3)))
    assert float(loss.data) == 60.0 and w.grad.shape == (3, 5)


def test_numpy_warns_and_raises_where_the_engine_does():
    """sigmoid silences its own overflow (e^(−z) → inf gives σ = 0, correct); an overflow
    anywhere else is numpy's to report, under the caller's errstate."""
    w = ag.Tensor(np.array([1.0]), requires_grad=True)
    step = ag.compile(lambda x: (x * w).sigmoid().sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            assert float(step(np.array([-1000.0])).data) == 0.0
    big = ag.compile(lambda x: ((x * w) * 1e308).sigmoid().sum())
    with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="overflow"):
        big(np.array([10.0]))


def test_compile_refuses_what_it_cannot_run():
    w = ag.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ag.CompileError, match="compile: expected a function"):
        ag.compile(3)
    with pytest.raises(ag.CompileError, match="must return a loss computed by recorded ops"):
        ag.compile(lambda x: 1.0)(np.ones(3))
    with pytest.raises(ag.CompileError, match="a Tensor with no graph"):
        ag.compile(lambda x: ag.Tensor(x))(np.ones(3))
    with pytest.raises(ag.CompileError, match=r"shape \(3,\); a step needs one number"):
        ag.compile(lambda x: w * x)(np.ones(3))
    with pytest.raises(ag.CompileError, match="neither an array nor a hashable value"):
        ag.compile(lambda x: (w * np.asarray(x)).sum())([1.0, 2.0, 3.0])
    with pytest.raises(ag.CompileError, match="nothing is traced yet"):
        _ = ag.compile(lambda x: (w * x).sum()).source


def test_a_graph_that_draws_random_numbers_is_refused_and_fit_runs_it_eagerly():
    w = ag.Tensor(np.ones(4), requires_grad=True)
    rng = np.random.default_rng(0)
    step = ag.compile(lambda x: ag.dropout(w * x, 0.5, rng=rng).sum())
    with pytest.raises(ag.CompileError, match=r"draws random numbers \(dropout\)"):
        step(np.ones(4))
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5, seed=1), nn.Linear(6, 2))
    assert model.draws_random and not model.eval().draws_random
    model.train()
    X, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 2
    twin = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5, seed=1), nn.Linear(6, 2))
    twin.load_state_dict(model.state_dict())
    a = nn.fit(model, (X, y), epochs=2, batch_size=5, lr=0.1, cost="softmax-cross-entropy")
    b = nn.fit(
        twin, (X, y), epochs=2, batch_size=5, lr=0.1, cost="softmax-cross-entropy", compile=False
    )
    assert [e.loss for e in a.epochs] == [e.loss for e in b.epochs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "softmax-cross-entropy"])
def test_fit_compiled_and_eager_give_the_same_costs_and_parameters_to_the_bit(dtype, cost):
    """Two epochs, a smaller last batch, momentum: every number equal."""
    rng = np.random.default_rng(3)
    X, labels = rng.random((53, 9)), rng.integers(0, 4, 53)
    output = None if cost == "softmax-cross-entropy" else "sigmoid"
    runs = []
    for compile_ in (True, False):
        model = nn.MLP([9, 6, 4], seed=0, dtype=dtype, output_activation=output)
        optimizer = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
        history = nn.fit(
            model,
            (X, labels),
            epochs=2,
            batch_size=10,
            cost=cost,
            optimizer=optimizer,
            evaluation=(X, labels),
            compile=compile_,
        )
        runs.append((history, [p.data.copy() for p in model.parameters()]))
    (compiled, params_c), (eager, params_e) = runs
    assert [(e.loss, e.correct) for e in compiled.epochs] == [
        (e.loss, e.correct) for e in eager.epochs
    ]
    assert all(same(a, b) for a, b in zip(params_c, params_e, strict=True))


def test_adam_trains_the_same_compiled_and_eager():
    X, labels = np.random.default_rng(4).random((30, 5)), np.arange(30) % 3
    results = []
    for compile_ in (True, False):
        model = nn.MLP([5, 4, 3], seed=0, output_activation=None)
        optimizer = nn.Adam(model.parameters(), lr=0.01)
        nn.fit(
            model,
            (X, labels),
            epochs=2,
            batch_size=8,
            cost="softmax-cross-entropy",
            optimizer=optimizer,
            compile=compile_,
        )
        results.append([p.data.copy() for p in model.parameters()])
    assert all(same(a, b) for a, b in zip(*results, strict=True))


class _FailsToAdd(np.ndarray):
    """A .grad array that runs out of memory when a step adds to it."""

    def __add__(self, other):
        raise MemoryError("injected: no memory for the sum")


def test_a_memory_error_in_a_compiled_step_adds_into_no_grad():
    w, v = ag.Tensor([1.0, 2.0], requires_grad=True), ag.Tensor([3.0, 4.0], requires_grad=True)
    step = ag.compile(lambda x: ((x * w).sigmoid() * v).sum())
    x = np.array([0.5, -1.0])
    step(x)
    first = (w.grad.copy(), v.grad.copy())
    for failing in (w, v):  # whichever is summed last, the other is not written either
        kept = failing.grad.copy()
        failing._grad = kept.view(_FailsToAdd)
        with pytest.raises(MemoryError, match="injected"):
            step(x)
        failing._grad = kept
        np.testing.assert_array_equal(w.grad, first[0])
        np.testing.assert_array_equal(v.grad, first[1])
    step(x)
    np.testing.assert_allclose(w.grad, 2 * first[0], rtol=1e-15)
    np.testing.assert_allclose(v.grad, 2 * first[1], rtol=1e-15)


def test_values_computed_from_an_argument_outside_the_graph_are_refused_not_frozen():
    """An op on an argument that records nothing (no input requires grad), or a numpy view
    of it, would be a constant of the printed code: the first call's values at every call.
    The trace refuses it and says what to do; X.T of an argument is read at each call."""
    W = ag.Tensor(np.ones((3, 2)), requires_grad=True)
    X = np.arange(12.0).reshape(4, 3)
    with pytest.raises(ag.CompileError, match=r"computes mul from its argument 0 with ops that"):
        ag.compile(lambda X: ((ag.Tensor(X) * 2.0) @ W).sum())(X)
    with pytest.raises(ag.CompileError, match=r"computes transpose from its argument 0"):
        ag.compile(lambda X: (ag.Tensor(X).T.T @ W).sum())(X)
    with pytest.raises(ag.CompileError, match=r"reads a numpy view of its argument 0"):
        ag.compile(lambda X: (X[:, ::-1] @ W).sum())(X)
    step = ag.compile(lambda X: (X.T.T @ W).sum() + (ag.Tensor(X) @ W).sum())
    for k in range(3):  # X.T of an argument: written X.T, read at each call
        X = np.arange(12.0).reshape(4, 3) * (k + 1)
        assert float(step(X).data) == 2 * float((X @ W.data).sum())
    assert "X.T" in step.source


def test_arguments_by_keyword_are_bound_to_their_positions():
    W = Tensor(np.random.default_rng(0).normal(size=(3, 2)), requires_grad=True, name="W")

    def penalised(X, lam=0.0):
        return ((X @ W).tanh() ** 2).mean() + lam * (W * W).sum()

    X = np.random.default_rng(1).normal(size=(4, 3))
    step = ag.compile(penalised)
    by_position = step(X, 0.1).item()
    assert step(X, lam=0.1).item() == by_position
    assert step(lam=0.1, X=X).item() == by_position
    assert step.traces == 1  # one trace for the three spellings
    assert step(X).item() == penalised(Tensor(X)).item()  # the default, as fn has it
    with pytest.raises(TypeError, match=r"compile: penalised\(X, lam=0\.0\): multiple values"):
        step(X, 0.1, lam=0.2)

    def keyword_only(X, *, lam):
        return penalised(X, lam)

    with pytest.raises(ag.CompileError, match="lam by keyword only"):
        ag.compile(keyword_only)(X, lam=0.1)

    def scaled(X, lam=0.0, scale=1.0):
        return penalised(X, lam) * scale

    assert ag.compile(scaled)(X, scale=2.0).item() == 2 * penalised(Tensor(X)).item()


def test_a_tensor_that_requires_grad_passed_in_gets_its_own_gradient_at_each_call():
    step = ag.compile(lambda w: (w * w).sum())
    first, second = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    step(first)
    step(second)
    step(first)
    assert step.traces == 2  # a parameter is part of the signature itself
    np.testing.assert_array_equal(first.grad, [4.0, 8.0])
    np.testing.assert_array_equal(second.grad, [6.0, 8.0])
    W = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    both = ag.compile(lambda w: (w * W).sum())  # W as the argument and where it is
    both(W)
    v = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    W.grad = None
    assert both(v).item() == 140.0
    np.testing.assert_array_equal(W.grad, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(v.grad, [1.0, 2.0, 3.0])
    with pytest.raises(ag.CompileError, match=r"argument 0 is a Tensor computed by recorded ops"):
        step(W * 2)  # its graph would be traced, not this call's values


def test_a_tensor_made_inside_from_an_argument_is_refused():
    W = Tensor([1.0, 2.0], requires_grad=True)

    def penalised(x):
        xt = Tensor(x, requires_grad=True)  # its values would be the first call's
        return (xt * W).sum()

    with pytest.raises(ag.CompileError, match=r"makes a Tensor that requires grad each time"):
        ag.compile(penalised)(np.array([1.0, 1.0]))
    b = ag.zeros(2, requires_grad=True)  # a parameter equal to an argument is no such Tensor
    step = ag.compile(lambda h: ((h + b) * W).sum())
    assert step(np.zeros(2)).item() == 0.0


def test_arguments_that_are_one_array_or_a_parameters_array_trace_as_such():
    rng = np.random.default_rng(0)
    W = Tensor(np.eye(2), requires_grad=True)
    f = lambda X, Z: (X @ W * Z).sum()  # noqa: E731
    step = ag.compile(f)
    X = rng.normal(size=(3, 2))
    step(X, X)  # one array for both: a trace of its own
    A, B = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    assert step(A, B).item() == f(A, B).item() and step.traces == 2
    g = ag.compile(lambda X: (X @ W).sum())
    g(W.data)  # the parameter's own array as the argument
    other = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert g(other).item() == (other @ W.data).sum() == 10.0


def test_a_gradient_is_never_an_array_the_caller_holds():
    """`dx = dloss * y` is `y` for a one-element loss: an argument, or another parameter's
    array, which the caller (an optimizer, in place) would change."""
    W, V = Tensor(2.0, requires_grad=True), Tensor(3.0, requires_grad=True)
    X = np.array(3.0)
    _, gradients = ag.compile(lambda X: W * X).gradients(X)
    assert gradients[W] is not X and not np.shares_memory(gradients[W], X)
    step = ag.compile(lambda v: W * v)
    step(V)
    assert not np.shares_memory(V.grad, W.data) and not np.shares_memory(W.grad, V.data)


def test_a_boolean_masks_number_of_true_values_is_part_of_the_signature():
    W = Tensor(np.ones((2, 2)), requires_grad=True)
    f = lambda X, m: (X @ W)[m].mean()  # noqa: E731
    step = ag.compile(f)
    X = np.arange(6.0).reshape(3, 2)
    step(X, np.array([False, False, True]))
    W.grad = None
    step(X, np.array([True, True, False]))
    compiled = W.grad
    W.grad = None
    f(X, np.array([True, True, False])).backward()
    np.testing.assert_array_equal(compiled, W.grad)
    assert step.traces == 2


def test_a_float_argument_is_keyed_by_its_bits():
    W = Tensor([1.0], requires_grad=True)
    step = ag.compile(lambda s: (W / s).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        assert step(0.0).item() == np.inf and step(-0.0).item() == -np.inf
        step(float("nan"))
        step(float("nan"))
    assert step.traces == 3  # 0.0, -0.0, and one NaN


def test_float32_steps_keep_the_seeds_dtype_on_every_call():
    """The multiply by ∂L/∂L = 1 is left out only where that changes nothing: `1 * 0.1`
    of a float32 seed is float32, a Python 0.1 alone would make what follows float64."""
    rng = np.random.default_rng(19)
    W = Tensor(rng.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
    f = lambda X: (X @ W).sum() + 0.1 * (W * W).sum()  # noqa: E731
    step = ag.compile(f)
    for _ in range(30):
        X = rng.normal(size=(2, 3)).astype(np.float32)
        W.grad = None
        step(X)
        compiled = W.grad
        W.grad = None
        f(X).backward()
        assert compiled.dtype == np.float32
        np.testing.assert_array_equal(compiled, W.grad)
    big = ag.compile(lambda x: (W[0] * x).sum() * 2**70)
    assert (
        big(np.ones(4, np.float32)).item() == ((W[0] * np.ones(4, np.float32)).sum() * 2**70).item()
    )
