"""Tensor semantics: construction, dtypes, graph shapes (fan-out, diamonds), backward rules."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor, enable_grad, no_grad


def leaf(values, dtype=np.float64, name=None):
    return Tensor(np.asarray(values, dtype=dtype), requires_grad=True, name=name)


# ---------------------------------------------------------------------------------------
# Construction and attributes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, 2.5, True, [1, 2], [[1, 0], [0, 1]], (1, 2, 3)])
def test_python_values_become_float64(value):
    assert Tensor(value).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_arrays_keep_their_dtype(dtype):
    t = Tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    assert t.dtype == dtype
    (t * 2.0).sum().backward()
    assert t.grad.dtype == dtype


def test_integer_arrays_stay_integers_as_constants():
    labels = Tensor(np.array([1, 2, 3]))
    assert labels.dtype == np.int64 and not labels.requires_grad


def test_attributes_and_repr():
    t = leaf([[1.0, 2.0], [3.0, 4.0]], np.float32, name="W1")
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and t.dtype == np.float32
    assert t.is_leaf and t.op is None and t.name == "W1"
    text = repr(t)
    assert "shape=(2, 2)" in text and "float32" in text and "'W1'" in text
    assert "requires_grad=True" in text
    z = t @ t
    assert z.op == "matmul" and not z.is_leaf and "op=matmul" in repr(z)


def test_data_is_the_tensors_own_array_for_parameters():
    source = np.ones(3)
    w = Tensor(source, requires_grad=True)
    w.data -= 0.5  # an optimizer's in-place update
    assert np.all(w.data == 0.5) and np.all(source == 1.0), "the caller's array must not change"
    w.grad = np.ones(3)
    w.data -= 0.1 * w.grad
    assert np.allclose(w.numpy(), 0.4) and w.numpy() is w.data


def test_constant_wraps_the_array_without_copying():
    x = np.arange(4.0)
    assert Tensor(x).data is x


def test_item_numpy_len_and_array_protocol():
    t = Tensor([[1.0, 2.0]])
    assert Tensor(3.5).item() == 3.5 and Tensor([[7.0]]).item() == 7.0
    assert len(t) == 1
    assert np.allclose(np.asarray(t), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="exactly one element"):
        t.item()


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 3).detach()
    assert not y.requires_grad and y.is_leaf
    z = (y * x).sum()
    z.backward()
    assert np.allclose(x.grad, y.data), "the detached factor acts as a constant"


@pytest.mark.parametrize(
    ("cast", "dtype"),
    [
        (lambda t: t.astype(int), np.int64),
        (lambda t: t.astype(np.int32), np.int32),
        (lambda t: t.astype(bool), np.bool_),
        (lambda t: t.long(), np.int64),
        (lambda t: ag.astype(t, np.uint8), np.uint8),
    ],
)
def test_astype_to_integers_or_bools_gives_a_constant_cut_from_the_graph(cast, dtype):
    """As torch's x.long(): x.detach() then cast, since integers have no gradient."""
    x = leaf([1.7, 2.2, 0.0])
    n = cast(x * 1.0)
    assert n.dtype == dtype and not n.requires_grad and n.is_leaf
    np.testing.assert_array_equal(n.data, np.array([1.7, 2.2, 0.0]).astype(dtype))
    (x * n).sum().backward()
    np.testing.assert_array_equal(x.grad, n.data), "the cast acts as a constant factor"
    with pytest.raises(TypeError, match="float32 or float64"):
        n.requires_grad = True


def test_astype_to_a_float_dtype_is_recorded_and_casts_the_gradient_back():
    x = leaf([1.5, 2.5])
    y = x.astype(np.float32)
    assert y.dtype == np.float32 and y.op == "astype" and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [3.0, 5.0])


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_numpy_subclasses_become_plain_arrays():
    """np.matrix made `*` a matrix product: as data, as an operand and as a seed."""
    values = [[1.0, 2.0], [3.0, 4.0]]
    m = Tensor(np.matrix(values), requires_grad=True)
    assert type(m.data) is np.ndarray
    np.testing.assert_array_equal((m * m).data, [[1.0, 4.0], [9.0, 16.0]])
    product = Tensor(np.array(values)) * np.matrix(values)
    assert type(product.data) is np.ndarray
    np.testing.assert_array_equal(product.data, [[1.0, 4.0], [9.0, 16.0]])
    (m * m).backward(np.matrix(np.ones((2, 2))))
    assert type(m.grad) is np.ndarray
    np.testing.assert_array_equal(m.grad, 2 * np.array(values))

    class Labelled(np.ndarray):
        pass

    assert type(Tensor(np.ones(2).view(Labelled)).data) is np.ndarray
    assert type((leaf([1.0, 2.0]) + np.ones(2).view(Labelled)).data) is np.ndarray


def test_masked_arrays_are_refused_everywhere_they_would_lose_the_mask():
    masked = np.ma.array([1.0, 2.0], mask=[0, 1])
    x = leaf([1.0, 1.0])
    for attempt in (
        lambda: Tensor(masked),
        lambda: x * masked,
        lambda: ag.exp(masked),
        lambda: (x * 2).backward(masked),
    ):
        with pytest.raises((TypeError, ag.BackwardError), match="masked arrays are not supported"):
            attempt()
    with pytest.raises(TypeError, match="grad: masked arrays"):
        x.grad = masked


@pytest.mark.parametrize(
    ("call", "spelling"),
    [
        (np.exp, r"Use t\.exp\(\.\.\.\) or ag\.exp\(\.\.\.\)"),
        (np.tanh, r"t\.tanh\(\.\.\.\)"),
        (np.abs, r"np\.absolute .*t\.abs\(\.\.\.\)"),
        (np.negative, r"Use -t"),
        (lambda t: np.maximum(t, 0.0), r"ag\.maximum\(\.\.\.\)"),
        (lambda t: np.add(t, 1.0, out=np.zeros(2)), r"a new name \(a = a \+ t, not out=\)"),
        (np.add.reduce, r"np\.add\.reduce .*t\.sum\(\.\.\.\)"),
        (
            lambda t: np.floor_divide(t, 2.0),
            r"autograd_mini has no op floor_divide: call np\.floor_divide on t\.data",
        ),
        (np.sum, r"np\.sum .*t\.sum\(\.\.\.\) or ag\.sum\(\.\.\.\)"),
        (np.mean, r"t\.mean\(\.\.\.\)"),
        (lambda t: np.dot(t, t), r"np\.dot .*the operator, t @ y"),
        (lambda t: np.concatenate([t, t]), r"ag\.concatenate\(\.\.\.\)"),
        (
            np.linalg.norm,
            r"np\.linalg\.norm on a Tensor.*no op linalg\.norm: call np\.linalg\.norm",
        ),
    ],
)
def test_numpy_functions_on_a_tensor_are_refused_with_the_spelling_that_records(call, spelling):
    """np.exp(t) raised numpy's "operand 'Tensor' does not support ufuncs"; np.sum(t) a raw
    TypeError; np.dot(t, t) and np.concatenate gave a plain array, silently without gradient."""
    with pytest.raises(TypeError, match=r"on a Tensor is not recorded: .*no gradient") as info:
        call(leaf([1.0, 2.0]))
    assert re.search(spelling, str(info.value)), str(info.value)


def test_numpy_functions_that_read_shapes_or_compare_run_on_the_data():
    t = leaf([1.0, np.inf])
    assert np.shape(t) == (2,) and np.ndim(t) == 1 and np.size(t) == 2
    assert np.allclose(t, [1.0, np.inf]) and np.array_equal(t, t)
    np.testing.assert_array_equal(np.isfinite(t), [True, False])
    np.testing.assert_array_equal(np.argwhere(t > 1.0), [[1]])
    recorded = np.array([2.0, 3.0]) * t  # an array on the left records, as t * array does
    assert isinstance(recorded, Tensor) and recorded.op == "mul"


def test_grad_setter_accepts_none_or_the_right_shape():
    w = leaf(np.zeros((2, 3)), np.float32)
    w.grad = np.ones((2, 3))
    assert w.grad.dtype == np.float32
    w.grad = None
    assert w.grad is None
    with pytest.raises(ag.ShapeError, match=r"shape \(3, 2\).*shape \(2, 3\)"):
        w.grad = np.ones((3, 2))


# ---------------------------------------------------------------------------------------
# Graph shapes
# ---------------------------------------------------------------------------------------


def test_fan_out_accumulates():
    x = leaf([1.0, -2.0, 3.0])
    y = x.exp()
    (y * 2 + y.sigmoid()).sum().backward()  # y feeds two ops
    s = 1 / (1 + np.exp(-np.exp(x.data)))
    assert np.allclose(x.grad, np.exp(x.data) * (2 + s * (1 - s)))


def test_diamond():
    x = leaf([0.5, 1.5])
    a, b = x * 3, x.tanh()
    (a * b).sum().backward()
    t = np.tanh(x.data)
    assert np.allclose(x.grad, 3 * t + 3 * x.data * (1 - t**2))


def test_tensor_used_by_itself():
    x = leaf([1.0, 2.0, -3.0])
    (x * x).sum().backward()
    assert np.allclose(x.grad, 2 * x.data)
    y = leaf([2.0])
    (y @ y).backward()
    assert np.allclose(y.grad, [4.0])


def test_shared_gradient_arrays_are_not_aliased():
    """add passes the same array back to both inputs: their .grad must be separate arrays."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).backward(np.array([1.0, 1.0]))
    a.grad += 10  # a user clipping or scaling one gradient in place
    assert np.allclose(b.grad, 1.0)


def test_backward_through_a_chain_of_100000_ops():
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert np.isclose(x.grad, 1.00001**100_000)


def test_deep_fan_out_graph_is_processed_once_per_node():
    x = leaf([1.0])
    y = x
    for _ in range(200):
        y = y + y * 0.0  # each level uses the previous twice: 2^200 paths, 400 nodes
    y.backward(np.array([1.0]))
    assert np.allclose(x.grad, 1.0)


# ---------------------------------------------------------------------------------------
# backward() rules
# ---------------------------------------------------------------------------------------


def test_grad_accumulates_across_backward_calls():
    w = leaf([1.0, 2.0])
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    assert np.allclose(w.grad, 6.0)
    w.grad = None
    (w * 3).sum().backward()
    assert np.allclose(w.grad, 3.0)


def test_second_backward_needs_retain_graph():
    w = leaf([1.0, 2.0])
    loss = (w.sigmoid() * w).sum()
    loss.backward(retain_graph=True)
    first = w.grad.copy()
    loss.backward()
    assert np.allclose(w.grad, 2 * first)
    with pytest.raises(ag.BackwardError, match=r"already freed.*retain_graph=True"):
        loss.backward()


def test_freed_graph_is_refused_before_any_gradient_is_written():
    w = leaf([1.0])
    hidden = w.exp()
    hidden.sum().backward()  # frees hidden's node
    v = leaf([2.0])
    w.grad = None
    with pytest.raises(ag.BackwardError, match="already freed"):
        (hidden * v).sum().backward()
    assert v.grad is None and w.grad is None


class _FailsToAdd(np.ndarray):
    """A .grad array that runs out of memory when backward() adds to it."""

    def __add__(self, other):
        raise MemoryError("injected: no memory for the sum")


def _memory_error_graph():
    """Three leaves with earlier gradients, a fan-out and a retained intermediate."""
    a, b, c = leaf([1.0, 2.0], name="a"), leaf([3.0, 4.0], name="b"), leaf([0.5, 0.25], name="c")
    for t, value in ((a, 10.0), (b, 20.0), (c, 30.0)):
        t.grad = np.full(2, value)
    h = (a * b).exp()
    h.retain_grad()
    loss = (h * c + h).sum()
    return (a, b, c, h), loss


def _expected_gradients():
    (a, b, c, h), loss = _memory_error_graph()
    for t in (a, b, c):
        t.grad = None
    loss.backward()
    return [t.grad.copy() for t in (a, b, c, h)]


def test_a_memory_error_in_a_vjp_leaves_every_grad_and_the_graph_as_they_were(monkeypatch):
    """backward() computes every gradient before it writes one: it can be run again."""
    exp = ag.ops.OPS["exp"]
    calls = []

    def fails_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("injected: no memory for the VJP")
        return vjp(*args)

    (vjp,) = exp.vjps
    monkeypatch.setattr(exp, "vjps", (fails_once,))
    tensors, loss = _memory_error_graph()
    before = [np.copy(t._grad) if t._grad is not None else None for t in tensors]
    with pytest.raises(MemoryError, match="injected"):
        loss.backward()
    for t, old in zip(tensors, before, strict=True):
        assert (t._grad is None) == (old is None), t.name
        if old is not None:
            np.testing.assert_array_equal(t._grad, old, err_msg=t.name)
    assert all(t.node.saved is not None for t in ag.backward_order(loss)), "nothing freed"
    loss.backward()  # the retry: no "already freed by an earlier backward()"
    expected = _expected_gradients()
    for t, g, old in zip(tensors[:3], expected[:3], (10.0, 20.0, 30.0), strict=True):
        np.testing.assert_allclose(t.grad, g + old, rtol=1e-15, err_msg=t.name)
    np.testing.assert_allclose(tensors[3].grad, expected[3], rtol=1e-15)


def test_a_memory_error_while_adding_into_grad_writes_no_grad():
    """The new .grad of every tensor is summed before any is written, so a sum that fails
    for the last leaf leaves the others as they were (not added once, then twice on retry)."""
    (a, b, c, h), loss = _memory_error_graph()
    c._grad = np.full(2, 30.0).view(_FailsToAdd)
    with pytest.raises(MemoryError, match="injected"):
        loss.backward()
    np.testing.assert_array_equal(a.grad, [10.0, 10.0])
    np.testing.assert_array_equal(b.grad, [20.0, 20.0])
    assert h._grad is None, "the retained intermediate got nothing either"
    assert all(t.node.saved is not None for t in ag.backward_order(loss)), "nothing freed"
    c.grad = np.full(2, 30.0)
    loss.backward()
    expected = _expected_gradients()
    for t, g, old in zip((a, b, c), expected[:3], (10.0, 20.0, 30.0), strict=True):
        np.testing.assert_allclose(t.grad, g + old, rtol=1e-15, err_msg=t.name)


def test_intermediate_results_keep_no_grad_unless_retained():
    w = leaf([1.0, 2.0])
    hidden = w * 2
    kept = (w * 3).retain_grad()
    (hidden * kept).sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert hidden.grad is None
    assert np.allclose(kept.grad, hidden.data)


def test_backward_with_an_explicit_gradient():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    y.backward(np.array([[1.0, 0.0], [0.0, 2.0]]))
    assert np.allclose(x.grad, [[2.0, 0.0], [0.0, 16.0]])


def test_one_element_non_scalar_needs_no_gradient():
    x = leaf([[2.0]])
    (x * x).backward()
    assert np.allclose(x.grad, [[4.0]])


def test_backward_on_a_leaf():
    x = leaf([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    assert np.allclose(x.grad, [3.0, 4.0])


# ---------------------------------------------------------------------------------------
# Recording switches
# ---------------------------------------------------------------------------------------


def test_no_grad_records_nothing_and_enable_grad_restores():
    w = leaf([1.0])
    with no_grad():
        y = w * 2
        assert not ag.is_grad_enabled()
        with enable_grad():
            z = w * 2
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.op == "mul"
    assert ag.is_grad_enabled()


def test_no_grad_as_decorator():
    @no_grad()
    def evaluate(w):
        return w * 2

    assert not evaluate(leaf([1.0])).requires_grad


def test_no_grad_is_per_thread():
    seen = []
    with no_grad():
        worker = threading.Thread(target=lambda: seen.append(ag.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def test_scope_labels_are_recorded():
    w = leaf([1.0])
    with ag.scope("layers.0: Linear(1→1)"), ag.scope("inner"):
        y = w * 2
    assert y.node.scope == ("layers.0: Linear(1→1)", "inner")
    assert (w * 2).node.scope == ()


def test_detect_anomaly_names_the_op_in_the_forward_pass():
    x = leaf([1.0, -1.0])
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match=r"log produced a non-finite"):
        x.log()


def test_detect_anomaly_in_the_backward_pass():
    x = leaf([0.0, 1.0])
    y = x.sqrt().sum()  # finite forward, but d√x/dx = ∞ at 0
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="pow passed back"):
        y.backward()


def test_without_detect_anomaly_nan_passes_silently_as_in_numpy():
    x = leaf([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().data[1])


# ---------------------------------------------------------------------------------------
# Numerical stability and operator forms
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_plus_minus_1000(dtype):
    x = leaf([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype)
    s = x.sigmoid()  # pytest turns any overflow warning into an error
    s.sum().backward()
    assert np.all(np.isfinite(s.data)) and np.all(np.isfinite(x.grad))
    assert s.data[0] < 1e-37 and s.data[2] == 0.5 and s.data[-1] == 1.0
    exact = 1 / (1 + np.exp(-np.array([-50.0, 50.0])))
    assert np.allclose(s.data[[1, 3]], exact, rtol=np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sigmoid_of_a_0d_tensor(dtype):
    """A ufunc returns a numpy scalar for a 0-d array."""
    z = Tensor(np.array(2, dtype=dtype))
    a = z.sigmoid()
    assert a.shape == () and a.item() == pytest.approx(1 / (1 + np.exp(-2)), rel=1e-3)


def test_float16_is_refused_with_the_dtype_to_use():
    x = np.linspace(-3, 3, 7).astype(np.float16)
    with pytest.raises(ag.InputError, match=r"astype: .*float32 and float64.*got float16"):
        Tensor(x.astype(np.float32)).astype(np.float16)
    with pytest.raises(TypeError, match=r"dtype float16 is not supported; use float32"):
        Tensor(x)
    assert (Tensor(np.ones(7, np.float32), requires_grad=True) * x).dtype == np.float32


def test_softmax_family_is_stable_for_large_logits():
    z = leaf([[1000.0, 0.0, -1000.0]])
    assert np.allclose(z.softmax().data, [[1.0, 0.0, 0.0]])
    assert np.allclose(z.log_softmax().data, [[0.0, -1000.0, -2000.0]])
    loss = ag.cross_entropy(z, [1])
    loss.backward()
    assert np.isclose(loss.item(), 1000.0) and np.allclose(z.grad, [[1.0, -1.0, 0.0]])


def test_numpy_array_on_the_left_gives_a_tensor():
    w = leaf([1.0, 2.0])
    for result in (np.ones(2) + w, np.ones(2) * w, np.ones(2) - w, np.ones(2) / w, np.eye(2) @ w):
        assert isinstance(result, Tensor) and result.requires_grad


def test_float32_stays_float32_with_python_scalars():
    w = leaf([1.0, 2.0], np.float32)
    y = ((w * 2.0 + 1) / 3.0 - 0.5) ** 2
    assert y.dtype == np.float32


def test_rpow_with_a_number_base():
    x = leaf([1.0, 2.0])
    y = 2.0**x
    assert np.allclose(y.data, [2.0, 4.0])
    assert ag.gradcheck(lambda t: 2.0**t, x)


def test_functions_match_methods():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = Tensor(x)
    pairs = [
        (ag.exp(x), t.exp()),
        (ag.log(np.abs(x)), Tensor(np.abs(x)).log()),
        (ag.sigmoid(x), t.sigmoid()),
        (ag.tanh(x), t.tanh()),
        (ag.relu(x), t.relu()),
        (ag.sum(x, axis=0), t.sum(axis=0)),
        (ag.mean(x, axis=1, keepdims=True), t.mean(axis=1, keepdims=True)),
        (ag.max(x), t.max()),
        (ag.reshape(x, (4, 3)), t.reshape(4, 3)),
        (ag.transpose(x), t.T),
        (ag.softmax(x), t.softmax()),
        (ag.log_softmax(x, axis=0), t.log_softmax(axis=0)),
        (ag.matmul(x, x.T), t @ t.T),
        (ag.linear(x, np.ones((4, 2)), np.ones(2)), t @ np.ones((4, 2)) + np.ones(2)),
        (ag.linear(x, np.ones((4, 2))), t @ np.ones((4, 2))),
        (ag.abs(x), t.abs()),
        (ag.abs(x), abs(t)),
        (ag.clip(x, -0.5, 0.5), t.clip(-0.5, 0.5)),
        (ag.log1p(np.abs(x)), Tensor(np.abs(x)).log1p()),
        (ag.expm1(x), t.expm1()),
        (ag.leaky_relu(x, 0.2), t.leaky_relu(0.2)),
        (ag.softplus(x), t.softplus()),
        (ag.min(x, axis=0), t.min(axis=0)),
        (ag.var(x, axis=1, ddof=1), t.var(axis=1, ddof=1)),
        (ag.std(x, keepdims=True), t.std(keepdims=True)),
        (ag.logsumexp(x, axis=-1), t.logsumexp(axis=-1)),
        (ag.flatten(x), t.flatten()),
        (ag.squeeze(x[None]), t.expand_dims(0).squeeze()),
        (ag.expand_dims(x, 1), t.expand_dims(1)),
        (ag.swapaxes(x, 0, 1), t.swapaxes(0, 1)),
    ]
    for via_function, via_method in pairs:
        assert via_function.shape == via_method.shape
        assert np.allclose(via_function.data, via_method.data)


def test_new_ops_agree_with_numpy():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = Tensor(x)
    y = np.random.default_rng(1).standard_normal(4)
    pairs = [
        (t.abs(), np.abs(x)),
        (t.clip(-0.5, 0.5), np.clip(x, -0.5, 0.5)),
        (t.expm1(), np.expm1(x)),
        (Tensor(np.abs(x)).log1p(), np.log1p(np.abs(x))),
        (t.leaky_relu(0.1), np.where(x > 0, x, 0.1 * x)),
        (t.softplus(), np.log(1 + np.exp(x))),
        (ag.maximum(t, y), np.maximum(x, y)),
        (ag.minimum(y, t), np.minimum(y, x)),
        (ag.where(x > 0, t, y), np.where(x > 0, x, y)),
        (Tensor(np.abs(x)) ** Tensor(y), np.abs(x) ** y),
        (t.min(axis=1), x.min(axis=1)),
        (t.logsumexp(axis=0), np.log(np.exp(x).sum(axis=0))),
        (ag.concatenate([t, t[:1]]), np.concatenate([x, x[:1]])),
        (ag.stack([t, t], axis=-1), np.stack([x, x], axis=-1)),
        (t.flatten(), x.ravel()),
        (t.swapaxes(0, 1), x.T),
    ]
    for ddof in (0, 1):
        for axis in (None, 0, (0, 1)):
            pairs.append((t.var(axis=axis, ddof=ddof), np.var(x, axis=axis, ddof=ddof)))
            pairs.append((t.std(axis=axis, ddof=ddof), np.std(x, axis=axis, ddof=ddof)))
    for ours, numpys in pairs:
        assert ours.shape == np.shape(numpys)
        np.testing.assert_allclose(ours.data, numpys, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------------------
# Kinks and ties take their documented gradient (the op table stays away from them)
# ---------------------------------------------------------------------------------------


def test_abs_has_gradient_zero_at_zero():
    x = leaf([-2.0, 0.0, 3.0])
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


def test_clip_counts_its_bounds_as_inside():
    x = leaf([-2.0, -1.0, 0.5, 1.0, 2.0])
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_with_one_open_side():
    x = leaf([-2.0, 0.0, 2.0])
    out = x.clip(0, None)
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0])


@pytest.mark.parametrize("op", [ag.maximum, ag.minimum])
def test_maximum_and_minimum_split_ties_evenly(op):
    x, y = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    op(x, y).sum().backward()
    wins = [0.0, 1.0, 0.0] if op is ag.maximum else [1.0, 0.0, 1.0]
    np.testing.assert_array_equal(y.grad, [0.5, *wins[1:]])
    np.testing.assert_array_equal(x.grad, [0.5, *(1 - w for w in wins[1:])])


def test_maximum_ties_with_a_broadcast_operand_are_summed_back():
    x, b = leaf([[0.0, 1.0], [2.0, 0.0]]), leaf([0.0])
    ag.maximum(x, b).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.5, 1.0], [1.0, 0.5]])
    np.testing.assert_array_equal(b.grad, [1.0])  # two ties, half each


@pytest.mark.parametrize("slope", [0.01, 0.3])
def test_leaky_relu_has_gradient_slope_at_zero(slope):
    z = leaf([-2.0, 0.0, 3.0])
    a = z.leaky_relu(slope)
    a.sum().backward()
    np.testing.assert_allclose(a.data, [-2.0 * slope, 0.0, 3.0])
    np.testing.assert_allclose(z.grad, [slope, slope, 1.0])


@pytest.mark.parametrize("ddof", [0, 1])
def test_std_of_equal_values_has_gradient_zero(ddof):
    x = leaf([[0.5, 0.5, 0.5], [1.0, 2.0, 4.0]])  # a mean that rounds would leave z ≈ 1e-17
    s = x.std(axis=1, ddof=ddof)
    s.sum().backward()
    assert s.data[0] == 0.0
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(x.grad[0], 0.0)
    d = x.data[1] - x.data[1].mean()
    np.testing.assert_allclose(x.grad[1], d / ((3 - ddof) * s.data[1]))


def test_norm_of_zeros_has_gradient_zero_and_torch_spellings_work():
    x = leaf([[3.0, 4.0], [0.0, 0.0]])
    n = x.norm(dim=1)  # torch's dim; ord (torch's p) 2 is the default
    n.sum().backward()
    np.testing.assert_array_equal(n.data, [5.0, 0.0])
    np.testing.assert_allclose(x.grad, [[0.6, 0.8], [0.0, 0.0]])  # x / ‖x‖, 0 where ‖x‖ = 0
    assert x.norm(2).item() == x.norm(p="fro").item() == 5.0  # all entries (torch's x.norm())
    assert ag.norm(np.array([[1.0, 2.0], [2.0, 4.0]])).item() == 5.0  # Frobenius, not spectral
    with pytest.raises(ag.InputError, match=r"norm: ord \(torch's p\) = 1: .*x\.abs\(\)\.sum"):
        x.norm(p=1)


def test_var_gradient_is_two_deviations_over_n_minus_ddof():
    x = leaf([1.0, 2.0, 6.0])
    x.var(ddof=1).backward()
    np.testing.assert_allclose(x.grad, 2 * (x.data - 3.0) / 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_is_stable_at_plus_minus_1000(dtype):
    z = leaf([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype)
    a = z.softplus()  # pytest turns any overflow warning into an error
    a.sum().backward()
    assert a.dtype == dtype and z.grad.dtype == dtype
    np.testing.assert_allclose(a.data, [0.0, np.exp(-30.0), np.log(2.0), 30.0, 1000.0], rtol=1e-6)
    np.testing.assert_allclose(z.grad, [0.0, np.exp(-30.0), 0.5, 1.0, 1.0], rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_is_stable_and_handles_rows_of_minus_infinity(dtype):
    x = leaf([[1000.0, 1000.0, -np.inf], [-np.inf, -np.inf, -np.inf], [-1000.0, 0.0, 1.0]], dtype)
    z = x.logsumexp(axis=1)
    z.sum().backward()
    assert z.dtype == dtype
    np.testing.assert_allclose(z.data[[0, 2]], [1000.0 + np.log(2.0), np.logaddexp(0.0, 1.0)])
    assert z.data[1] == -np.inf
    np.testing.assert_allclose(x.grad[0], [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(x.grad[1], [0.0, 0.0, 0.0]), "no nan from −inf − (−inf)"
    np.testing.assert_allclose(x.grad[2], [0.0, 1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-6)


def test_transcendental_ops_compute_integers_in_float64():
    i = Tensor(np.array([1, 2, 3], dtype=np.int8))
    results = [i.log1p(), i.expm1(), i.softplus(), i.leaky_relu(), i.logsumexp(), i.var(), i.std()]
    results += [i ** Tensor(np.array([1, -2, 3])), 2 ** Tensor(np.array([-1, 2]))]
    for result in results:
        assert result.dtype == np.float64
    np.testing.assert_allclose(results[-2].data, [1.0, 0.25, 27.0])


def test_a_tensor_exponent_gives_both_gradients():
    x, y = leaf([2.0, 3.0]), leaf(2.0)
    z = x**y
    z.sum().backward()
    np.testing.assert_allclose(z.data, [4.0, 9.0])
    np.testing.assert_allclose(x.grad, [4.0, 6.0])  # y·x^(y−1)
    np.testing.assert_allclose(y.grad, 4 * np.log(2) + 9 * np.log(3))  # Σ z ln x, summed back
    assert z.op == "power" and (x**2).op == "pow"


def test_where_takes_a_list_of_bools_and_differentiates_neither_condition_nor_constant():
    a, b = leaf([1.0, 2.0, 3.0]), leaf(10.0)
    out = ag.where([True, False, True], a, b)
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [1.0, 10.0, 3.0])
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    assert b.grad == 1.0


def test_backward_order_is_the_order_backward_runs():
    """backward_order (used by explain) and backward() share one scheduler: check it."""
    w, v = leaf([1.0, 2.0]), leaf([0.5, -1.0])
    h = (w * v).tanh()
    loss = ((h + w) * h.exp()).sum()
    planned = ag.backward_order(loss)
    ran = []

    class Log(ag.Observer):  # the order the steps actually run in
        def stepped(self, tensor, g, passed):
            ran.append(tensor)

    with ag.observe(Log()):
        loss.backward()
    assert len(planned) == 6 and planned[0] is loss
    assert list(dict.fromkeys(ran)) == planned
    assert ag.backward_order(loss) == planned, "still available after the graph is freed"


def test_an_observer_sees_every_step_with_the_engines_own_gradients():
    w, v = leaf([1.0, 2.0], name="w"), leaf([0.5, -1.0], name="v")
    h = (w * v).tanh().retain_grad()
    loss = ((h + w) * h.exp()).sum()
    steps = []

    class Steps(ag.Observer):
        def stepped(self, t, g, passed):
            steps.append((t, np.array(g), [(x, np.array(gx)) for x, gx in passed]))

    with ag.observe(Steps()):
        loss.backward()
    assert [t for t, _, _ in steps] == ag.backward_order(loss), "one call per step, in order"
    by_tensor = {id(t): g for t, g, _ in steps}
    np.testing.assert_array_equal(by_tensor[id(h)], h.grad), "g is the summed gradient"
    contributions_to_w = [gx for _, _, passed in steps for x, gx in passed if x is w]
    assert len(contributions_to_w) == 2, "w feeds two ops"
    np.testing.assert_allclose(sum(contributions_to_w), w.grad, rtol=1e-15)


def test_detect_anomaly_refuses_saved_arrays_changed_in_place():
    """y = (x * w).sum(); w.data *= 5; y.backward() gave x.grad = 5 (right: 1) silently."""
    x, w = leaf([1.0, 1.0], name="x"), leaf([1.0, 1.0], name="w")
    with ag.detect_anomaly():
        y = (x * w).sum()
        w.data *= 5
        with pytest.raises(ag.AnomalyError, match=r"mul saved an array .*input 1 \('w'\)"):
            y.backward()
    assert x.grad is None and w.grad is None, "refused before any gradient was written"


def test_detect_anomaly_refuses_an_output_overwritten_that_its_op_saved():
    x = Tensor(np.ones((2, 3)))
    W, b = leaf(np.ones((3, 2)), name="W"), leaf(np.zeros(2), name="b")
    with ag.detect_anomaly():
        a = (x @ W + b).sigmoid()
        loss = a.sum()
        a.data[...] = 0.0  # sigmoid saved a = σ(z) for its VJP dz = da * (a * (1 - a))
        with pytest.raises(ag.AnomalyError, match=r"sigmoid saved .*'a', its output"):
            loss.backward()


def test_detect_anomaly_names_a_changed_constant_and_a_where_condition():
    x = leaf([1.0, 2.0], name="x")
    c = np.array([3.0, 4.0])
    condition = np.array([True, False])
    with ag.detect_anomaly():
        y = (x * c).sum()
        z = ag.where(condition, x, 0.0).sum()
        c[0] = 9.0
        condition[0] = False
        with pytest.raises(ag.AnomalyError, match=r"mul saved .*'y', input 1 of shape \(2,\)"):
            y.backward()
        with pytest.raises(ag.AnomalyError, match=r"where saved .*'condition', its parameter"):
            z.backward()


def test_unchanged_saved_arrays_pass_and_cost_nothing_outside_detect_anomaly():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    with ag.detect_anomaly():
        y = (x * w).sum()
        w.data -= 0.0  # written in place, but the same numbers
        y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    assert ag.recording.STATE.observers == (), "no checksums are taken outside detect_anomaly"


@pytest.mark.parametrize(
    ("name", "f"),
    [
        ("sigmoid", lambda t: t.sigmoid()),
        ("tanh", lambda t: t.tanh()),
        ("relu", lambda t: (t - 0.25).relu()),
        ("exp, log", lambda t: t.exp().log()),
        ("bce with logits", lambda t: ag.binary_cross_entropy_with_logits(t, 1.0)),
        ("bce", lambda t: ag.binary_cross_entropy(t, 1.0)),
        ("quadratic", lambda t: ag.quadratic_cost(t, 0.0)),
        (
            "linear, a 0-d bias",
            lambda t: ag.linear(Tensor(np.ones(3)), Tensor(np.ones(3)), t, "tanh"),
        ),
    ],
)
def test_scalars_micrograd_style(name, f):
    """0-d tensors go through every op, and .grad stays a 0-d array over accumulations."""
    x = Tensor(0.5, requires_grad=True)
    f(x).backward()
    first = x.grad.copy()
    f(x).backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-15)
    assert ag.gradcheck(f, Tensor(0.5, requires_grad=True))


def test_python_number_habits_on_one_element_tensors():
    loss = (Tensor([1.0, 2.0], requires_grad=True) ** 2).sum() / 2
    assert float(loss) == 2.5 and int(loss) == 2 and f"{loss:.3f}" == "2.500"
    assert f"{loss}" == str(loss)
    assert int(Tensor([[7.9]])) == 7
    with pytest.raises(TypeError, match=r"format: the spec '.2f' applies to one number.*\(2,\)"):
        f"{Tensor([1.0, 2.0]):.2f}"
    with pytest.raises(ValueError, match="exactly one element"):
        float(Tensor([1.0, 2.0]))


def test_comparisons_give_boolean_arrays_without_grad():
    t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    results = {
        "==": t == 2.0,
        "!=": t != Tensor([1.0, 0.0, 3.0]),
        "<": t < [2.0, 2.0, 2.0],
        "<=": t <= 2.0,
        ">": t > np.array(2.0),
        ">=": 2.0 <= t,  # noqa: SIM300 (the reflected form, on purpose)
    }
    expected = {
        "==": [False, True, False],
        "!=": [False, True, False],
        "<": [True, False, False],
        "<=": [True, True, False],
        ">": [False, False, True],
        ">=": [False, True, True],
    }
    for op, result in results.items():
        assert type(result) is np.ndarray and result.dtype == bool, op
        np.testing.assert_array_equal(result, expected[op], err_msg=op)
    assert not isinstance(t == t, Tensor)


def test_tensors_stay_hashable_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert hash(a) != hash(b) and len({a, b}) == 2 and {a: 1, b: 2}[b] == 2
    assert a in [a] and [a, b] == [a, b], "containers compare by identity first"


def test_float32_gradients_stay_float32_inside_the_backward_pass():
    """Leaves cast their .grad, so a float64 step in the middle would go unseen there."""
    x = leaf(np.random.default_rng(0).standard_normal((4, 5)), np.float32)
    loss = ((x.max(axis=1, keepdims=True) - x).exp().sum(axis=1).log()).mean()
    dtypes = set()

    class Dtypes(ag.Observer):
        def stepped(self, t, g, passed):
            dtypes.update({np.asarray(g).dtype, *(np.asarray(gx).dtype for _, gx in passed)})

    with ag.observe(Dtypes()):
        loss.backward()
    assert dtypes == {np.dtype(np.float32)}


def test_every_grad_is_an_array_of_its_own():
    """.grad never is the caller's seed, another tensor's .grad, nor a view of an array
    the graph holds: writing into one changes nothing else."""
    x = Tensor(np.ones(3), requires_grad=True)
    seed = np.full(3, 2.0)
    (x + 1.0).backward(seed)  # add's VJP passes dz on: x's gradient is the seed's values
    assert x.grad is not seed and not np.shares_memory(x.grad, seed)
    a = Tensor(np.ones(3), requires_grad=True)
    b = a + 0.0
    b.retain_grad()
    (b + 0.0).sum().backward()  # a and b get the same values, in arrays of their own
    assert not np.shares_memory(a.grad, b.grad)
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    w.reshape(6).sum().backward()  # reshape's VJP gives a view of sum's broadcast
    assert w.grad.flags.owndata and w.grad.flags.writeable
    w.grad[0, 0] = 7.0
    assert w.grad.sum() == 12.0


def test_observe_takes_an_observer_and_sees_new_parameters():
    made = []

    class New(ag.Observer):
        def made(self, tensor):
            made.append(tensor)

    with ag.observe(New()):
        w = Tensor([1.0], requires_grad=True)
        Tensor([2.0]).requires_grad_()
        _ = w * 2  # a result is no new parameter
    assert len(made) == 2 and made[0] is w
    with (
        pytest.raises(TypeError, match=r"observe: expected an ag\.Observer, got object"),
        ag.observe(object()),
    ):
        pass
