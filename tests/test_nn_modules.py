"""Modules: registration, dotted names, scopes, state dicts, Linear, MLP, activations, init."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini import Tensor


def test_mlp_is_nielsens_network():
    model = nn.MLP([784, 30, 10], seed=0)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes == {
        "layers.0.weight": (784, 30),
        "layers.0.bias": (30,),
        "layers.1.weight": (30, 10),
        "layers.1.bias": (10,),
    }
    assert [p.name for p in model.parameters()] == list(shapes), "names are set on the tensors"
    assert isinstance(model.output_activation, nn.Sigmoid)
    out = model(np.zeros((5, 784)))
    assert out.shape == (5, 10) and np.all((out.data > 0) & (out.data < 1))


def test_repr_prints_the_architecture():
    text = repr(nn.MLP([784, 30, 10], seed=0))
    assert "(0): Linear(784→30)" in text and "(1): Linear(30→10)" in text
    assert "Sigmoid()" in text
    assert nn.MLP([2, 3], output_activation=None).describe() == "MLP(2→3, sigmoid, output identity)"


def test_module_calls_record_scopes_with_dotted_paths():
    model = nn.MLP([4, 3, 2], seed=0)
    out = model(np.ones((2, 4)))
    recorded = [(t.op, t.node.scope) for t in reversed(ag.backward_order(out))]
    mlp = "MLP(4→3→2, sigmoid)"
    assert recorded == [
        ("matmul", (mlp, "layers.0: Linear(4→3)")),
        ("add", (mlp, "layers.0: Linear(4→3)")),
        ("sigmoid", (mlp,)),
        ("matmul", (mlp, "layers.1: Linear(3→2)")),
        ("add", (mlp, "layers.1: Linear(3→2)")),
        ("sigmoid", (mlp,)),
    ], "the book's tape: Z = X @ W + b in the layer, A = σ(Z) in the network"
    assert ag.recording.STATE.scope == (), "every scope is left again"


def test_a_module_call_that_raises_leaves_its_scope():
    model = nn.MLP([4, 3], seed=0)
    with pytest.raises(ag.ShapeError):
        model(np.ones((2, 5)))
    assert ag.recording.STATE.scope == ()


def test_custom_module_registers_parameters_and_submodules():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = Tensor(np.ones(3), requires_grad=True)
            self.inner = nn.Linear(3, 3, seed=0)
            self.constant = Tensor(np.ones(3))  # not a parameter: requires no grad

        def forward(self, x):
            return self.inner(x) * self.scale + self.constant

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = nn.Linear(3, 1, seed=1)

        def forward(self, x):
            return self.head(self.block(x))

    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == [
        "block.scale",
        "block.inner.weight",
        "block.inner.bias",
        "head.weight",
        "head.bias",
    ]
    assert net.block.inner.weight.name == "block.inner.weight"
    loss = net(np.ones((2, 3))).sum()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.w = Tensor(np.ones(2), requires_grad=True)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_train_and_eval_flags_reach_every_module():
    model = nn.MLP([2, 2, 1])
    model.eval()
    assert not any(m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_state_dict_round_trip():
    a, b = nn.MLP([3, 4, 2], seed=0), nn.MLP([3, 4, 2], seed=1)
    state = a.state_dict()
    b.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((5, 3))
    assert np.array_equal(a(x).data, b(x).data)
    state["layers.0.weight"][0, 0] = 123.0  # a copy: the model is not changed through it
    assert a.layers[0].weight.data[0, 0] != 123.0


def test_load_state_dict_keeps_the_parameter_arrays():
    """An optimizer holds the parameters: loading must write into them, not replace them."""
    model = nn.MLP([2, 2], seed=0)
    weight_array = model.layers[0].weight.data
    model.load_state_dict(nn.MLP([2, 2], seed=5).state_dict())
    assert model.layers[0].weight.data is weight_array


def test_load_state_dict_with_a_wrong_shape():
    model = nn.MLP([3, 4, 2], seed=0)
    state = nn.MLP([3, 5, 2], seed=0).state_dict()
    before = model.state_dict()
    with pytest.raises(ag.ShapeError, match=r"layers.0.weight has shape \(3, 5\).*\(3, 4\)"):
        model.load_state_dict(state)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items()), "unchanged"


def test_load_state_dict_of_torchs_layout_says_to_transpose():
    layer = nn.Linear(3, 2)
    with pytest.raises(ag.ShapeError, match=r"Transposed\? torch's Linear\.weight is \(out, in\)"):
        layer.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})

    class FakeTorchTensor:  # a torch.Tensor as seen from here (numpy would take it as is)
        __module__ = "torch._tensor"

        def __array__(self, dtype=None, copy=None):
            return np.ones((3, 2))

    with pytest.raises(nn.StateDictError, match=r"torch\.FakeTorchTensor.*\.detach\(\)\.numpy"):
        layer.load_state_dict({"weight": FakeTorchTensor(), "bias": np.zeros(2)})


def test_load_state_dict_with_unknown_or_missing_names():
    model = nn.MLP([3, 2], seed=0)
    state = model.state_dict()
    state["layers.1.weight"] = np.zeros((2, 2))
    with pytest.raises(nn.StateDictError, match=r"unknown \['layers.1.weight'\]"):
        model.load_state_dict(state)
    del state["layers.1.weight"], state["layers.0.bias"]
    with pytest.raises(nn.StateDictError, match=r"missing \['layers.0.bias'\]"):
        model.load_state_dict(state)


def test_linear_single_example_and_batch():
    layer = nn.Linear(3, 2, seed=0)
    x = np.array([1.0, 2.0, 3.0])
    single, batch = layer(x), layer(x[np.newaxis])
    assert single.shape == (2,) and batch.shape == (1, 2)
    assert np.allclose(single.data, x @ layer.weight.data + layer.bias.data)
    assert np.allclose(batch.data[0], single.data)


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert "bias=False" in layer.describe()
    assert layer(np.ones((4, 3))).shape == (4, 2)


def test_linear_rejects_the_wrong_number_of_features():
    model = nn.MLP([784, 30, 10])
    with pytest.raises(
        ag.ShapeError, match=r"layers.0: Linear\(784→30\): expected inputs with 784.*\(10, 100\)"
    ):
        model(np.zeros((10, 100)))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "3"])
def test_linear_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive integer"):
        nn.Linear(bad, 2)


def test_mlp_rejects_too_few_sizes():
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.MLP([784])


def test_unknown_activation_and_initialiser():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'"):
        nn.Linear(2, 2, init="glorot")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_dtype(dtype):
    model = nn.MLP([3, 4, 2], dtype=dtype, seed=0)
    assert all(p.dtype == dtype for p in model.parameters())
    loss = ag.quadratic_cost(model(np.ones((2, 3), dtype=dtype)), np.zeros((2, 2), dtype=dtype))
    loss.backward()
    assert loss.dtype == dtype and all(p.grad.dtype == dtype for p in model.parameters())


def test_seeds_make_models_reproducible():
    a, b, c = nn.MLP([5, 4, 3], seed=7), nn.MLP([5, 4, 3], seed=7), nn.MLP([5, 4, 3], seed=8)
    assert all(
        np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )
    assert not np.array_equal(a.layers[0].weight.data, c.layers[0].weight.data)
    rng = np.random.default_rng(3)
    d = nn.Linear(5, 4, seed=rng)
    e = nn.Linear(5, 4, seed=rng)
    assert not np.array_equal(d.weight.data, e.weight.data), "a shared generator advances"


@pytest.mark.parametrize(
    ("init", "weight_std", "bias_std"),
    [
        ("normal", 1.0, 1.0),
        ("scaled_normal", 1 / np.sqrt(400), 1.0),
        ("scaled-normal", 1 / np.sqrt(400), 1.0),
        ("he_normal", np.sqrt(2 / 400), 0.0),
        ("xavier_uniform", np.sqrt(6 / 700) / np.sqrt(3), 0.0),
        ("zeros", 0.0, 0.0),
        (nn.init.uniform(-0.5, 0.5), 1 / np.sqrt(12), 1 / np.sqrt(12)),
    ],
)
def test_initialisers_have_the_documented_spread(init, weight_std, bias_std):
    layer = nn.Linear(400, 300, init=init, seed=0)
    assert np.isclose(layer.weight.data.std(), weight_std, rtol=0.02, atol=1e-12)
    assert np.isclose(layer.bias.data.std(), bias_std, rtol=0.2, atol=1e-12)
    assert abs(layer.weight.data.mean()) < 0.01


def test_uniform_bounds_and_validation():
    w = nn.Linear(50, 50, init=nn.init.uniform(2.0, 3.0), seed=0).weight.data
    assert w.min() >= 2.0 and w.max() < 3.0
    with pytest.raises(ValueError, match="a < b"):
        nn.init.uniform(1.0, 1.0)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "identity"])
def test_activation_numpy_forms_match_the_engine(name):
    activation = nn.make_activation(name)
    z = np.linspace(-3, 3, 13) + 0.05  # avoid relu's kink at 0
    t = Tensor(z, requires_grad=True)
    out = activation(t)
    out.sum().backward()
    assert np.allclose(out.data, activation.f(z))
    assert np.allclose(t.grad, activation.derivative(z))


def test_softmax_module():
    z = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(nn.Softmax()(z).data, np.exp(z) / np.exp(z).sum())
    assert np.isclose(nn.Softmax()(z).data.sum(), 1.0)


def test_sequential():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1))
    assert len(model) == 3 and isinstance(model[1], nn.Tanh)
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    x = np.ones((5, 3))
    expected = np.tanh(x @ model[0].weight.data + model[0].bias.data) @ model[2].weight.data
    assert np.allclose(model(x).data, expected + model[2].bias.data)
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        nn.Sequential(np.tanh)


def test_reassigning_a_parameter_renames_and_replaces_it():
    layer = nn.Linear(2, 2)
    new = Tensor(np.zeros((2, 2)), requires_grad=True)
    layer.weight = new
    assert new.name == "weight" and layer.parameters()[0] is new
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_an_activation_of_the_registry_is_a_layer_with_its_f_and_derivative():
    """Every activation of ag.ACTIVATIONS is an nn layer by name; f and f′ are the op's
    forward and its VJP from da = 1, the formulas written once in the op table."""
    z = np.linspace(-3, 3, 7)
    for name in ag.ACTIVATIONS:
        layer = nn.make_activation(name)
        a = layer(z)
        np.testing.assert_array_equal(a.data, layer.f(z))
        if name != "identity":
            t = Tensor(z, requires_grad=True)
            assert layer(t).op == name
            layer(t).sum().backward()
            np.testing.assert_array_equal(t.grad, layer.derivative(z))
    np.testing.assert_allclose(nn.Activation("tanh").derivative(z), 1 - np.tanh(z) ** 2)
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; choose one of"):
        nn.Activation("swish")


def test_linear_records_matmul_then_add_in_its_scope():
    layer = nn.Linear(3, 2, seed=0)
    z = layer(np.ones((4, 3)))
    assert z.op == "add" and z.node.inputs[0].op == "matmul"
    assert z.node.scope == z.node.inputs[0].node.scope == ("Linear(3→2)",)
    assert nn.Linear(3, 2, bias=False)(np.ones((4, 3))).op == "matmul"
