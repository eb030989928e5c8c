"""Initialisers. Each is called as `init(shape, rng)` with a weight shape `(n_in, n_out)` or a
bias shape `(n_out,)`, and returns a float64 array of that shape.

| name            | weight W: (n_in, n_out)  | bias b: (n_out,) | source                  |
|-----------------|--------------------------|------------------|-------------------------|
| `normal`        | N(0, 1)                  | N(0, 1)          | Nielsen ch. 1           |
| `scaled_normal` | N(0, 1/n_in)             | N(0, 1)          | Nielsen ch. 3           |
| `uniform(a, b)` | U(a, b)                  | U(a, b)          |                         |
| `xavier_uniform`| U(±√(6/(n_in + n_out)))  | 0                | Glorot & Bengio, 2010   |
| `he_normal`     | N(0, 2/n_in)             | 0                | He et al., 2015 (ReLU)  |
| `zeros`         | 0                        | 0                |                         |

Randomness always comes from the `np.random.Generator` passed in, so a seed reproduces a run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def _is_bias(shape: tuple[int, ...]) -> bool:
    return len(shape) == 1


def normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """N(0, 1) for weights and biases (Nielsen's chapter 1)."""
    return rng.standard_normal(shape)


def scaled_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights N(0, 1/n_in), so each z starts with variance ~1; biases N(0, 1) (Nielsen ch. 3)."""
    if _is_bias(shape):
        return rng.standard_normal(shape)
    return rng.standard_normal(shape) / np.sqrt(shape[0])


def uniform(a: float, b: float) -> Initializer:
    """An initialiser drawing weights and biases from U(a, b)."""
    if not a < b:
        raise ValueError(f"uniform(a, b) needs a < b, got a={a}, b={b}.")

    def draw(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(a, b, shape)

    draw.__name__ = f"uniform({a}, {b})"
    return draw


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights U(±√(6/(n_in + n_out))) (Glorot & Bengio); biases 0."""
    if _is_bias(shape):
        return np.zeros(shape)
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, shape)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights N(0, 2/n_in) (He et al., for ReLU); biases 0."""
    if _is_bias(shape):
        return np.zeros(shape)
    return rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])


def zeros(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """All zeros (every unit then computes the same thing: fine for biases, bad for weights)."""
    return np.zeros(shape)


BY_NAME: dict[str, Initializer] = {
    "normal": normal,
    "scaled_normal": scaled_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "zeros": zeros,
}


def get(init: str | Initializer) -> Initializer:
    """An initialiser from its name ("scaled-normal" or "scaled_normal"), or itself."""
    if callable(init):
        return init
    if isinstance(init, str) and init.replace("-", "_") in BY_NAME:
        return BY_NAME[init.replace("-", "_")]
    raise ValueError(
        f"unknown initialiser {init!r}; choose one of {sorted(BY_NAME)}, "
        "nn.init.uniform(a, b), or a function (shape, rng) -> array."
    )
