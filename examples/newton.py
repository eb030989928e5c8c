"""Newton's method with second derivatives from the engine: x ← x − H⁻¹ ∇f(x).

1. Rosenbrock's valley f(a, b) = (1 − a)² + 100 (b − a²)² from (−1.2, 1), with the 2 × 2
   Hessian from `ag.hessian` and its gradient from `ag.grad`: the minimum (1, 1) in a few
   steps, where gradient descent needs thousands.
2. Logistic regression on 200 points in 5 dimensions, Newton-CG: each Newton step solves
   H d = −∇f by conjugate gradients, which needs only products H v, each one double
   backward (`ag.hvp`); the Hessian itself is never formed.

    python examples/newton.py
"""

from __future__ import annotations

import numpy as np

import autograd_mini as ag


def rosenbrock(x: ag.Tensor) -> ag.Tensor:
    a, b = x[0], x[1]
    return (1 - a) ** 2 + 100 * (b - a**2) ** 2


def newton_rosenbrock() -> None:
    print("Rosenbrock, Newton's method with ag.hessian:")
    x = np.array([-1.2, 1.0])
    for step in range(1, 20):
        g = ag.grad(rosenbrock)(x).numpy()
        H = ag.hessian(rosenbrock)(x).numpy()
        x = x - np.linalg.solve(H, g)
        value = rosenbrock(ag.Tensor(x)).item()
        print(f"  step {step}: x = ({x[0]:+.6f}, {x[1]:+.6f})  f = {value:.3e}")
        if value < 1e-20:
            break


def conjugate_gradients(hv, b: np.ndarray, iterations: int = 20, tol: float = 1e-12):
    """Solve H d = b with products hv(v) = H v alone (H symmetric positive definite)."""
    d, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), r @ r
    for _ in range(iterations):
        Hp = hv(p)
        alpha = rr / (p @ Hp)
        d, r = d + alpha * p, r - alpha * Hp
        rr, previous = r @ r, rr
        if np.sqrt(rr) < tol:
            break
        p = r + (rr / previous) * p
    return d


def newton_logistic_regression() -> None:
    print("Logistic regression, Newton-CG with ag.hvp (no Hessian formed):")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = (X @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + rng.standard_normal(200) > 0) * 1.0

    def loss(w: ag.Tensor) -> ag.Tensor:  # mean cross-entropy, plus a small L2 term
        return ag.binary_cross_entropy_with_logits(ag.Tensor(X) @ w, y) + 0.01 * (w * w).sum()

    w = np.zeros(5)
    for step in range(1, 10):
        g = ag.grad(loss)(w).numpy()
        value, norm = loss(ag.Tensor(w)).item(), np.linalg.norm(g)
        print(f"  step {step}: loss = {value:.10f}  |∇| = {norm:.2e}")
        if norm < 1e-12:
            break
        w = w + conjugate_gradients(lambda v, w=w: ag.hvp(loss, w, v).numpy(), -g)


def main() -> None:
    newton_rosenbrock()
    newton_logistic_regression()


if __name__ == "__main__":
    main()
