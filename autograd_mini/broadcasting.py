"""Shapes: which axes broadcasting stretched, and readable errors when shapes do not fit.

numpy broadcasting stretches an operand along axes it lacks (leading axes) or has with
size 1. The forward pass reuses its values along those axes, so the backward pass sums the
gradient over them (`engine.unbroadcast`, over the axes `summed_axes` gives). The bias of a
linear layer is the classic case: `Z = X @ W + b` with `Z: (m, k)` and `b: (k,)` gives
`db = dZ.sum(axis=0)`, the sum over the batch.
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError


def summed_axes(shape: tuple[int, ...], grad_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of a `grad_shape` gradient that are summed to bring it back to `shape`:
    the leading axes numpy added, and those where `shape` has size 1."""
    added = len(grad_shape) - len(shape)
    return tuple(range(added)) + tuple(
        added + i for i, n in enumerate(shape) if n == 1 and grad_shape[added + i] != 1
    )


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of `A @ B` for operands of shapes a and b that fit (numpy's matmul rules:
    a 1-D operand loses its axis, leading axes broadcast)."""
    batch = np.broadcast_shapes(a[:-2], b[:-2])
    return batch + a[-2:-1] + (b[-1:] if len(b) >= 2 else ())


def explain_error(name: str, exc: Exception, arrays: list) -> Exception:
    """numpy's error from op `name`'s forward, restated with the op's name and the shapes."""
    shapes = [np.shape(a) for a in arrays]
    shown = " and ".join(str(s) for s in shapes)
    if isinstance(exc, ValueError):  # numpy's AxisError is a ValueError and an IndexError
        if "broadcast" in str(exc):
            return broadcast_error(name, *shapes)
        return ShapeError(f"{name}: {exc} (input shapes {shown})")
    if isinstance(exc, IndexError):
        return IndexError(f"{name}: {exc} (tensor shape {shown})")
    return TypeError(f"{name}: {exc} (input shapes {shown})")


def broadcast_error(op_name: str, *shapes: tuple[int, ...]) -> ShapeError:
    """The error for operands that cannot be broadcast together, naming the clashing axis."""
    described = " and ".join(str(s) for s in shapes)
    ndim = max(len(s) for s in shapes)
    clash = ""
    for axis in range(1, ndim + 1):
        sizes = {s[-axis] for s in shapes if len(s) >= axis} - {1}
        if len(sizes) > 1:
            clash = (
                f" Aligned from the right, axis {-axis} has sizes "
                f"{' vs '.join(str(s[-axis]) if len(s) >= axis else '-' for s in shapes)}; "
                "each pair must be equal or one of them 1."
            )
            break
    hint = ""
    vectors = [s for s in shapes if len(s) == 1]
    matrices = [s for s in shapes if len(s) == 2]
    for v in vectors:
        for mat in matrices:
            if v[0] == mat[0] != mat[1]:
                hint = (
                    f" A vector of shape {v} broadcasts along the *last* axis; to apply it "
                    f"row by row, reshape it to a column ({v[0]}, 1)."
                )
    return ShapeError(f"{op_name}: shapes {described} cannot be broadcast together.{clash}{hint}")


def matmul_error(a: tuple[int, ...], b: tuple[int, ...]) -> ShapeError:
    """The error for `A @ B` with shapes that do not fit, suggesting a transpose that would."""
    if len(a) == 0 or len(b) == 0:
        return ShapeError(
            f"matmul: operands need at least 1 dimension, got shapes {a} and {b}; "
            "use * to multiply by a scalar."
        )
    inner_a = a[-1]
    inner_b = b[-2] if len(b) >= 2 else b[0]
    if inner_a == inner_b:
        return ShapeError(
            f"matmul: shapes {a} and {b} fit in their last two dimensions, but the batch "
            f"dimensions {a[:-2]} and {b[:-2]} cannot be broadcast together."
        )
    which_b = "second-to-last" if len(b) >= 2 else "only"
    message = (
        f"matmul: shapes {a} and {b} do not fit: A @ B needs A's last dimension "
        f"({inner_a}) to equal B's {which_b} dimension ({inner_b})."
    )
    hints = []
    if len(b) == 2 and b[1] == inner_a:
        hints.append(f"B.T has shape {(b[1], b[0])} and would fit: did you mean A @ B.T?")
    if len(a) == 2 and a[0] == inner_b:
        hints.append(f"A.T has shape {(a[1], a[0])} and would fit: did you mean A.T @ B?")
    if len(a) == 2 and len(b) == 2 and a == (b[1], b[0]) and not hints:
        hints.append("did you mean B @ A?")
    return ShapeError(" ".join([message, *hints]))
