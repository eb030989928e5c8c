"""The printed backward code on another array library: a network's code, with `np` bound to
`array_api_strict` (the Python array API standard and nothing more), gives the engine's
numbers. The path to CuPy or another library on a GPU, without touching the engine."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini.code import program

xp = pytest.importorskip("array_api_strict", reason="pip install array-api-strict (the dev extra)")


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_networks_code_runs_on_the_array_api_standard_alone(cost, dtype):
    rng = np.random.default_rng(0)
    model = nn.MLP([6, 5, 3], seed=0, dtype=dtype)
    X = rng.random((4, 6)).astype(dtype)
    Y = nn.one_hot(rng.integers(0, 3, 4), 3).astype(dtype)
    loss = nn.get_cost(cost).loss(model(X), Y)
    built = program(loss)
    namespace = {"np": xp}
    body = built.source.replace("import numpy as np\n", "")  # np is the namespace given
    assert "import" not in body
    exec(compile(body, "<printed>", "exec"), namespace)
    arguments = [
        xp.asarray(a.value.data if isinstance(a.value, ag.Tensor) else a.value)
        for a in built.arguments
    ]
    value, grads = namespace[built.name](*arguments)
    assert type(value).__module__.startswith("array_api_strict")
    loss.backward()
    assert np.asarray(value).tobytes() == loss.data.tobytes()
    for argument in built.arguments:
        if argument.parameter:
            got = np.asarray(grads[argument.key])
            assert got.dtype == argument.value.grad.dtype
            assert got.tobytes() == argument.value.grad.tobytes(), argument.key
