"""Code ported from PyTorch tutorials runs: torch's spellings are one-line aliases of the ops
(or fail with an error that names the spelling that works here), and the constructors and
nn.Dropout behave as torch's, with explicit randomness."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini import Tensor

X = np.random.default_rng(0).standard_normal((2, 3, 4))


def leaf(x):
    return Tensor(np.array(x, dtype=float), requires_grad=True)


# ---------------------------------------------------------------------------------------
# transpose: torch's two axes swap, numpy's full permutation permutes
# ---------------------------------------------------------------------------------------


def test_transpose_of_two_axes_swaps_them_as_torchs():
    m = leaf(X[0])
    np.testing.assert_array_equal(m.transpose(0, 1).data, X[0].T)  # numpy: unchanged
    np.testing.assert_array_equal(m.transpose(1, 0).data, X[0].T)
    np.testing.assert_array_equal(ag.transpose(m, 0, 1).data, X[0].T)
    t = leaf(X)
    np.testing.assert_array_equal(t.transpose(0, 1).data, np.swapaxes(X, 0, 1))
    np.testing.assert_array_equal(t.transpose(-1, 0).data, np.swapaxes(X, -1, 0))
    assert "as torch's" in ag.Tensor.transpose.__doc__ and "swapped" in ag.Tensor.transpose.__doc__


def test_transpose_of_a_full_permutation_is_numpys():
    t = leaf(X)
    np.testing.assert_array_equal(t.transpose(1, 2, 0).data, np.transpose(X, (1, 2, 0)))
    np.testing.assert_array_equal(t.transpose((2, 0, 1)).data, np.transpose(X, (2, 0, 1)))
    np.testing.assert_array_equal(ag.transpose(t, (2, 0, 1)).data, np.transpose(X, (2, 0, 1)))
    np.testing.assert_array_equal(ag.transpose(t, axes=(2, 0, 1)).data, X.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.transpose().data, X.T)
    np.testing.assert_array_equal(t.T.data, X.T)  # numpy's: all axes reversed
    np.testing.assert_array_equal(t.mT.data, np.swapaxes(X, -1, -2))


def test_permute_is_always_a_full_permutation():
    t = leaf(X)
    for permuted in (t.permute(2, 0, 1), t.permute((2, 0, 1)), ag.permute(t, (2, 0, 1))):
        np.testing.assert_array_equal(permuted.data, np.transpose(X, (2, 0, 1)))
    np.testing.assert_array_equal(ag.permute_dims(t, (1, 0, 2)).data, np.transpose(X, (1, 0, 2)))
    m = leaf(X[0])
    np.testing.assert_array_equal(m.permute(0, 1).data, X[0])  # the identity, as torch's
    assert ag.gradcheck(lambda a: a.permute(2, 0, 1) * a.transpose(0, 2).mT, t)


# ---------------------------------------------------------------------------------------
# torch's names of ops and of their parameters
# ---------------------------------------------------------------------------------------


def test_torch_names_of_shape_ops_are_the_ops():
    t = leaf(X)
    pairs = [
        (t.view(6, 4), X.reshape(6, 4)),
        (t.view(-1), X.reshape(-1)),
        (t.view((4, -1)), X.reshape(4, -1)),
        (t.view_as(np.ones((3, 8))), X.reshape(3, 8)),
        (t.unsqueeze(1), X[:, None]),
        (ag.unsqueeze(t, -1), X[..., None]),
        (t[:, :1].expand(2, 5, 4), np.broadcast_to(X[:, :1], (2, 5, 4))),
        (t[:, :1].expand(-1, 5, -1), np.broadcast_to(X[:, :1], (2, 5, 4))),
        (t.expand(3, -1, -1, -1), np.broadcast_to(X, (3, 2, 3, 4))),
        (t[:1].expand_as(X), np.broadcast_to(X[:1], X.shape)),
        (t.repeat(1, 2, 1), np.tile(X, (1, 2, 1))),
        (t.repeat(2, 1, 1, 1), np.tile(X, (2, 1, 1, 1))),
        (t.flip(dims=(0, 2)), np.flip(X, (0, 2))),
        (t.roll(shifts=1, dims=2), np.roll(X, 1, 2)),
        (t.triu(diagonal=1), np.triu(X, 1)),
        (t.tril(diagonal=-1), np.tril(X, -1)),
        (t.clamp(min=-0.5, max=0.5), np.clip(X, -0.5, 0.5)),
        (t.clamp(min=0), np.maximum(X, 0)),
        (ag.clamp(t, max=0.1), np.minimum(X, 0.1)),
        (ag.cat([t, t], dim=1), np.concatenate([X, X], axis=1)),
        (ag.concat([t, t], axis=2), np.concatenate([X, X], axis=2)),
        (ag.stack([t, t], dim=1), np.stack([X, X], axis=1)),
        (t[:1].squeeze(dim=0), X[0]),
        (t.pow(2), X**2),
        (ag.pow(t, 3), X**3),
    ]
    for ours, expected in pairs:
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours.data, expected, rtol=1e-15)


@pytest.mark.parametrize(
    ("torch_name", "name"),
    [
        ("asin", "arcsin"),
        ("acos", "arccos"),
        ("atan", "arctan"),
        ("asinh", "arcsinh"),
        ("acosh", "arccosh"),
        ("atanh", "arctanh"),
        ("swish", "silu"),
    ],
)
def test_torch_names_of_elementwise_ops(torch_name, name):
    x = np.linspace(-0.9, 0.9, 5) if name != "arccosh" else np.linspace(1.1, 3, 5)
    expected = getattr(ag, name)(x).data
    np.testing.assert_array_equal(getattr(ag, torch_name)(x).data, expected)
    if hasattr(Tensor, torch_name):
        np.testing.assert_array_equal(getattr(Tensor(x), torch_name)().data, expected)


def test_dim_and_keepdim_are_taken_wherever_axis_and_keepdims_are():
    t = leaf(X)
    pairs = [
        (t.sum(dim=1, keepdim=True), X.sum(axis=1, keepdims=True)),
        (ag.sum(t, dim=(0, 2)), X.sum(axis=(0, 2))),
        (t.mean(dim=-1), X.mean(axis=-1)),
        (t.max(axis=0), X.max(axis=0)),
        (t.logsumexp(dim=1), np.log(np.exp(X).sum(axis=1))),
        (t.prod(dim=2, keepdim=True), X.prod(axis=2, keepdims=True)),
        (t.cumsum(dim=1), X.cumsum(axis=1)),
        (t.softmax(dim=1), np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)),
        (ag.log_softmax(t, dim=0), X - np.log(np.exp(X).sum(axis=0, keepdims=True))),
        (t.var(dim=1, correction=1), X.var(axis=1, ddof=1)),
        (t.std(dim=1, keepdim=True), X.std(axis=1, keepdims=True)),
        (t.squeeze(dim=None), X),
    ]
    for ours, expected in pairs:
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours.data, expected, rtol=1e-12)
    assert "dim" in inspect.signature(ag.Tensor.sum).parameters
    assert "keepdim" in inspect.signature(ag.mean).parameters


def test_a_parameter_given_under_both_names_is_refused():
    t = leaf(X)
    with pytest.raises(TypeError, match="sum: give axis or dim, not both"):
        t.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match="var: give ddof or correction, not both"):
        t.var(ddof=1, correction=1)
    with pytest.raises(TypeError, match=r"roll: missing shift \(or torch's shifts\)"):
        t.roll()


def test_max_and_min_with_torchs_dim_give_values_and_indices():
    t = leaf(X)
    values, indices = t.max(dim=1)
    np.testing.assert_array_equal(values.data, X.max(axis=1))
    np.testing.assert_array_equal(indices, X.argmax(axis=1))
    kept = t.min(1, keepdim=True)
    assert kept.values.shape == (2, 1, 4) and kept.indices.shape == (2, 1, 4)
    np.testing.assert_array_equal(ag.max(t, dim=-1).indices, X.argmax(axis=-1))
    assert isinstance(t.max(axis=1), Tensor)  # numpy's spelling: the values alone
    values.sum().backward()  # the values are recorded
    assert t.grad.shape == X.shape
    with pytest.raises(ag.ShapeError, match=r"along one axis.*axis=\(0, 1\)"):
        t.max(dim=(0, 1))


def test_torchs_positional_dim_gives_values_and_indices_and_the_pair_is_no_array():
    """`x.max(1)[1]` and `_, predicted = torch.max(out, 1)`, the accuracy idiom of
    tutorials, read the indices; a pair used as an array says to take `.values`."""
    t = leaf(X[0])  # (3, 4)
    np.testing.assert_array_equal(t.max(1)[0].data, X[0].max(axis=1))
    np.testing.assert_array_equal(t.max(1)[1], X[0].argmax(axis=1))
    _, predicted = ag.max(t, 1)
    np.testing.assert_array_equal(predicted, X[0].argmax(axis=1))
    np.testing.assert_array_equal(t.min(0, True).indices, X[0].argmin(axis=0, keepdims=True))
    assert isinstance(ag.max(t, axis=1), Tensor) and isinstance(t.max((0, 1)), Tensor)
    for misuse in (
        lambda: t - t.max(1, keepdim=True),  # torch: a TypeError too
        lambda: t.max(1) * 2,
        lambda: np.ones(3) - t.max(1),
        lambda: np.asarray(t.max(1)),
    ):
        with pytest.raises(TypeError, match=r"take \.values .*axis= \(x\.max\(axis=1\)\)"):
            misuse()
    with pytest.raises(AttributeError, match=r"ValuesIndices has no 'sum': .*\.values"):
        t.max(1).sum()
    with pytest.raises(TypeError, match="a positional axis and axis= given together"):
        t.max(1, axis=1)


def test_max_and_min_of_a_second_tensor_are_elementwise_as_torchs():
    t, other = leaf(X[0]), np.full((3, 4), 0.5)
    np.testing.assert_array_equal(t.max(other).data, np.maximum(X[0], 0.5))
    np.testing.assert_array_equal(ag.min(t, Tensor(other)).data, np.minimum(X[0], 0.5))
    with pytest.raises(TypeError, match=r"elementwise maximum of the two .* no axis"):
        t.max(other, 1)
    with pytest.raises(TypeError, match="True is neither an axis nor a tensor"):
        t.max(True)


def test_dim_numel_and_requires_grad_():
    t = Tensor(X)
    assert t.dim() == 3 and t.numel() == 24
    assert t.requires_grad_() is t and t.requires_grad


def test_more_habits_of_ported_models():
    t = leaf(X)
    np.testing.assert_array_equal(t.flatten(1).data, X.reshape(2, 12))
    np.testing.assert_array_equal(ag.flatten(t, 0, 1).data, X.reshape(6, 4))
    np.testing.assert_array_equal(t.flatten().data, X.reshape(-1))
    with pytest.raises(ag.ShapeError, match="start_dim 2 comes after end_dim 1"):
        t.flatten(2, 1)
    np.testing.assert_array_equal(t[0].t().data, X[0].T)
    with pytest.raises(ag.ShapeError, match=r"t: takes at most 2 axes.*mT or permute"):
        t.t()
    w = np.ones((4, 2))
    for product in (t.matmul(w), t.mm(w), t.bmm(w), ag.mm(t, w), ag.bmm(t, w)):
        np.testing.assert_allclose(product.data, X @ w)
    np.testing.assert_array_equal(ag.outer([1.0, 2.0], [3.0, 4.0]).data, [[3, 4], [6, 8]])
    filled = t.masked_fill(X > 0, -1.0)
    np.testing.assert_array_equal(filled.data, np.where(X > 0, -1.0, X))
    filled.sum().backward()
    np.testing.assert_array_equal(t.grad, X <= 0)
    assert t.tolist() == X.tolist()
    assert ag.leaky_relu(-1.0, negative_slope=0.2).item() == -0.2
    np.testing.assert_array_equal(ag.clip(X, min=0).data, np.maximum(X, 0))
    np.testing.assert_array_equal(t.clip(max=0).data, np.minimum(X, 0))


def test_size_is_numpys_count_and_torchs_size_called():
    t = leaf(X)
    assert t.size == 24 and isinstance(t.size, int) and t.size * 2 == 48  # numpy's
    assert t.size() == (2, 3, 4) and t.size(0) == 2 and t.size(-1) == 4  # torch's
    assert t.view(t.size(0), -1).shape == (2, 12)
    with pytest.raises(ag.ShapeError, match=r"size: dim 3 is not an axis of shape \(2, 3, 4\)"):
        t.size(3)


def test_float_double_and_long_cast_as_torchs():
    t = leaf(X)
    assert t.float().dtype == np.float32 and t.float().requires_grad
    assert t.float().double().dtype == np.float64
    with pytest.raises(TypeError, match=r"half: float16 is not supported.*x\.float\(\)"):
        t.half()
    labels = Tensor(np.array([0.0, 2.0])).long()
    assert labels.dtype == np.int64 and not labels.requires_grad


# ---------------------------------------------------------------------------------------
# Constructors: leaf tensors, sizes as torch's or numpy's, randomness from a Generator
# ---------------------------------------------------------------------------------------


def test_constructors_take_torchs_and_numpys_sizes():
    for made in (ag.zeros(2, 3), ag.zeros((2, 3)), ag.zeros([2, 3])):
        assert made.shape == (2, 3) and made.dtype == np.float64 and made.is_leaf
        assert not made.requires_grad and np.all(made.data == 0)
    assert ag.ones(4).shape == (4,) and np.all(ag.ones(4).data == 1)
    assert ag.zeros().shape == () and ag.zeros(()).shape == ()
    np.testing.assert_array_equal(ag.full((2, 2), 7.0).data, np.full((2, 2), 7.0))
    np.testing.assert_array_equal(ag.full(3, 1.5).data, [1.5, 1.5, 1.5])
    np.testing.assert_array_equal(ag.eye(3).data, np.eye(3))
    np.testing.assert_array_equal(ag.eye(2, 3, k=1).data, np.eye(2, 3, k=1))
    np.testing.assert_array_equal(ag.zeros_like(X).data, np.zeros_like(X))
    np.testing.assert_array_equal(ag.ones_like(Tensor(X)).data, np.ones_like(X))


def test_arange_as_numpys_and_torchs():
    np.testing.assert_array_equal(ag.arange(5).data, np.arange(5))
    assert ag.arange(5).dtype.kind == "i"  # integers, a constant
    np.testing.assert_array_equal(ag.arange(1, 4).data, [1, 2, 3])
    np.testing.assert_array_equal(ag.arange(0, 1, 0.25).data, [0, 0.25, 0.5, 0.75])
    w = ag.arange(3, dtype=np.float32, requires_grad=True)
    assert w.dtype == np.float32 and w.requires_grad


def test_constructors_take_dtype_and_requires_grad():
    w = ag.randn(3, 2, rng=0, dtype=np.float32, requires_grad=True)
    assert w.dtype == np.float32 and w.requires_grad and w.is_leaf
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, 2.0)
    assert ag.zeros(2, dtype="float32").dtype == np.float32
    with pytest.raises(TypeError, match="float16 is not supported"):
        ag.zeros(2, dtype=np.float16)
    with pytest.raises(TypeError, match="requires_grad=True needs float32 or float64"):
        ag.arange(3, requires_grad=True)
    with pytest.raises(ag.InputError, match="sizes are whole numbers"):
        ag.ones(2, -1)


def test_random_constructors_draw_from_the_generator_or_seed_given():
    np.testing.assert_array_equal(
        ag.rand(2, 3, rng=5).data, np.random.default_rng(5).random((2, 3))
    )
    np.testing.assert_array_equal(
        ag.randn(4, generator=np.random.default_rng(5)).data,
        np.random.default_rng(5).standard_normal(4),
    )
    rng = np.random.default_rng(1)
    assert not np.array_equal(ag.rand(3, rng=rng).data, ag.rand(3, rng=rng).data)
    assert ag.rand(100).data.min() >= 0 and ag.rand(100).data.max() < 1
    with pytest.raises(ag.InputError, match="rng must be a numpy Generator"):
        ag.randn(2, rng="seed")
    with pytest.raises(TypeError, match="rng or generator, not both"):
        ag.randn(2, rng=0, generator=np.random.default_rng(0))


# ---------------------------------------------------------------------------------------
# nn: Dropout with train() and eval(), GELU, SiLU
# ---------------------------------------------------------------------------------------


def test_nn_dropout_trains_with_its_own_generator_and_is_the_identity_in_eval():
    model = nn.Sequential(nn.Linear(4, 8, seed=0), nn.ReLU(), nn.Dropout(0.5, seed=1))
    x = Tensor(np.ones((16, 4)))
    assert model.training and model[2].training
    first = model(x).data
    assert (first == 0).mean() > 0.3, "about half of the units are dropped"
    again = nn.Sequential(nn.Linear(4, 8, seed=0), nn.ReLU(), nn.Dropout(0.5, seed=1))
    np.testing.assert_array_equal(again(x).data, first)  # reproducible from the seed
    model.eval()
    assert not model[2].training
    hidden = model[1](model[0](x))
    np.testing.assert_array_equal(model(x).data, hidden.data)
    model.train()
    assert model[2].training
    assert repr(model[2]) == "Dropout(p=0.5)"
    with pytest.raises(ag.InputError, match="dropout: p"):
        nn.Dropout(1.5)


def test_nn_gelu_and_silu_are_activation_layers():
    z = np.linspace(-3, 3, 7)
    np.testing.assert_array_equal(nn.GELU()(z).data, ag.gelu(z).data)
    np.testing.assert_array_equal(
        nn.GELU(approximate="tanh")(z).data, ag.gelu(z, approximate="tanh").data
    )
    np.testing.assert_array_equal(nn.SiLU()(z).data, ag.silu(z).data)
    assert repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    for layer in (nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU()):  # the closed form's f, f′
        np.testing.assert_allclose(layer.f(z), layer(z).data)
        x = Tensor(z, requires_grad=True)
        layer(x).sum().backward()
        np.testing.assert_allclose(layer.derivative(z), x.grad, rtol=1e-14)
    model = nn.MLP([3, 4, 2], activation="gelu", seed=0)
    assert model(np.ones((2, 3))).shape == (2, 2)
    assert nn.make_activation("silu").kind == "silu"


def test_every_alias_in_the_op_table_is_the_op_under_another_name():
    """An entry's `aliases` are methods and functions as its own name is: the same op
    recorded, the same signature, and a docstring that names the op."""
    aliased = [(op, alias) for op in ag.OPS.values() for alias in op.aliases]
    assert {alias for _, alias in aliased} >= {"clamp", "swish", "asin", "atanh"}
    for op, alias in aliased:
        for owner, flag in ((Tensor, op.method), (ag, op.function)):
            if not flag:
                continue
            made, original = getattr(owner, alias), getattr(owner, op.name)
            assert made.__doc__.startswith(f"Another name of `{op.name}`"), alias
            assert list(inspect.signature(made).parameters) == list(
                inspect.signature(original).parameters
            )
    x = leaf(np.linspace(0.1, 0.9, 4))
    assert x.clamp(0.2, 0.5).node.op is ag.OPS["clip"]
    assert ag.asin(x).node.op is ag.OPS["arcsin"]


def test_the_activations_are_the_entries_marked_as_such():
    marked = {op.name for op in ag.OPS.values() if op.activation}
    assert set(ag.ACTIVATIONS) == marked | {"identity"}
    assert marked >= {"sigmoid", "tanh", "relu", "softplus", "silu", "gelu"}
    for name in marked:
        assert ag.ACTIVATIONS[name].mistakes == ag.OPS[name].mistakes


def test_the_tutorials_update_p_minus_equals_lr_grad_under_no_grad_changes_the_parameter():
    model = nn.Linear(3, 2, seed=0)
    X = np.ones((4, 3))
    model(X).sum().backward()
    weight, before = model.weight, model.weight.data.copy()
    with ag.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad  # PyTorch's "Learning PyTorch" step
    assert model.weight is weight  # the same Tensor, its array changed in place
    np.testing.assert_allclose(model.weight.data, before - 0.1 * model.weight.grad)
    with pytest.raises(ag.InputError, match=r"-=: this tensor is a parameter .*ag\.no_grad"):
        weight -= 1  # while recording, as PyTorch refuses a leaf in place
    h = weight * 2.0
    kept = h
    h += 1.0  # a result: h = h + 1, recorded, the old Tensor left as it was
    assert h is not kept and h.node.op.name == "add"
    with ag.no_grad(), pytest.raises(ag.ShapeError, match=r"\+=: an operand of shape \(2, 2\)"):
        model.bias += np.ones((2, 2))


def test_more_spellings_of_ported_tutorials():
    C = ag.randn(27, 2, rng=0, requires_grad=True)
    ix = ag.tensor([[0, 5, 3], [1, 2, 3]])  # torch.tensor: whole numbers stay integers
    assert ix.dtype == np.int64 and C[ix].shape == (2, 3, 2)
    assert ag.tensor([1.5, 2]).dtype == np.float64 and ag.tensor(True).dtype == np.bool_
    with pytest.raises(IndexError, match=r"float64 cannot index.*ag\.tensor\(\[\.\.\.\]\)"):
        C[ag.Tensor([0, 5])]  # Tensor([...]) makes Python numbers float64
    x = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.var(0, unbiased=True).data, x.data.var(axis=0, ddof=1))
    np.testing.assert_array_equal(x.std(dim=1, unbiased=False).data, x.data.std(axis=1))
    with pytest.raises(TypeError, match="give ddof or unbiased, not both"):
        x.var(ddof=1, unbiased=False)
    with pytest.raises(TypeError, match=r"item assignment.*t\.data\[i\] = v.*ag\.where"):
        x[0, 0] = 1.0
    w = Tensor([1.0], requires_grad=True)

    @ag.no_grad  # torch's decorator, without the parentheses
    def doubled(t):
        return t * 2

    assert not doubled(w).requires_grad and ag.is_grad_enabled()
    probabilities = nn.Softmax(dim=1)(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(probabilities.data, [[0.5, 0.5], [0.25, 0.75]])
    (g,) = ag.gradients(w * w, w, grad_outputs=np.array([2.0]))  # torch's name of grad=
    np.testing.assert_array_equal(g.data, [4.0])

    class FakeTorchTensor:  # what a torch.Tensor looks like from here, without torch
        __module__ = "torch"

    with pytest.raises(TypeError, match=r"a torch\.FakeTorchTensor .*\.detach\(\)\.numpy\(\)"):
        Tensor(FakeTorchTensor())


def test_in_place_on_a_leaf_buffer_and_the_edges_of_the_torch_spellings():
    p = Tensor([1.0, 1.0], requires_grad=True)
    buffer = ag.zeros_like(p)  # torch's momentum SGD, written by hand
    for _ in range(3):
        p.grad = None
        (p * p).sum().backward()
        with ag.no_grad():
            buffer *= 0.9
            buffer += p.grad
            p -= 0.1 * buffer
    np.testing.assert_allclose(p.data, [0.062, 0.062])
    x = leaf(X[0])
    assert isinstance(x.max(None, True), Tensor)  # numpy's positional keepdims
    assert x.max(None, True).shape == (1, 1)
    with pytest.raises(TypeError, match=r"take \.values"):
        ag.stack(x.max(1))
    with pytest.raises(TypeError, match=r"take \.values"):
        np.array(x.max(1), dtype=object)
    with pytest.raises(TypeError, match="var: unbiased must be True or False, got 'no'"):
        x.var(unbiased="no")
    (g,) = ag.gradients(x * 2, x, grad_outputs=[np.ones((3, 4))])  # torch's list form
    np.testing.assert_array_equal(g.data, 2.0)
    gelu = nn.MLP([2, 3, 2], activation=nn.GELU(), output_activation=nn.GELU(approximate="tanh"))
    assert gelu.describe() == "MLP(2→3→2, gelu, output GELU(approximate='tanh'))"
