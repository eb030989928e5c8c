"""`einsum` and `tensordot` in any form, recorded as the ops they come down to.

The op `einsum` of the table takes two operands whose every label appears in two of the
three places (`ij,jk->ik`): then each operand's gradient is an einsum of dz and the other
operand. `ag.einsum` brings every other form to that one, recording each step:

- `...` becomes letters of their own, and an axis of size 1 that numpy would stretch to its
  label's size is stretched first (`broadcast_to`, whose gradient sums it back);
- a label twice in one operand (`ii`, a diagonal) is contracted with the identity:
  `ii->i` is `iI,iI->i` of x and the identity matrix;
- a label in one operand alone, and not in the output, is summed first (`sum`);
- one operand left: its labels are the output's in another order (`transpose`);
- more than two operands are contracted two at a time, left to right.

`tensordot(x, y, axes)` is the einsum it stands for.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from .engine import Tensor, apply
from .errors import InputError, ShapeError
from .formulas import OPS
from .tensor import TensorLike


def _parse(subscripts: Any, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Each operand's labels and the output's, explicit: `...` written as letters of its
    own, the output of the implicit form (no `->`) as numpy makes it."""
    if not isinstance(subscripts, str):
        raise InputError(f"einsum: subscripts must be a string, got {subscripts!r}.")
    spec = subscripts.replace(" ", "")
    inputs, arrow, out = spec.partition("->")
    parts = inputs.split(",")
    if len(parts) != len(shapes):
        raise InputError(
            f"einsum: {subscripts!r} labels {len(parts)} operand(s), but {len(shapes)} were given."
        )
    for part in [*parts, out]:
        if not all(c in string.ascii_letters for c in part.replace("...", "")):
            raise InputError(
                f"einsum: subscripts are letters (and '...'), got {part!r} in {subscripts!r}."
            )
    free = [c for c in string.ascii_letters if c not in spec]
    widths = []
    for part, shape in zip(parts, shapes, strict=True):
        letters = len(part.replace("...", ""))
        width = len(shape) - letters
        if part.count("...") > 1 or width < 0 or (width > 0 and "..." not in part):
            raise ShapeError(
                f"einsum: {part!r} does not label the {len(shape)} axes of shape {shape}."
            )
        widths.append(width)
    batch = "".join(free[: max(widths, default=0)])
    labels = [
        part.replace("...", batch[len(batch) - width :])
        for part, width in zip(parts, widths, strict=True)
    ]
    if not arrow:
        counts = "".join(labels)
        out = batch + "".join(sorted(c for c in set(counts) - set(batch) if counts.count(c) == 1))
    elif "..." in out:
        out = out.replace("...", batch)
    elif batch:
        raise InputError(
            f"einsum: the output of {subscripts!r} has no '...', but the operands' '...' "
            "stand for axes; write '...' in the output too."
        )
    unknown = set(out) - set("".join(labels))
    if unknown or len(set(out)) != len(out):
        raise InputError(
            f"einsum: each output label must appear in an operand, once in the output: "
            f"{subscripts!r}."
        )
    return labels, out


def _stretched(operands: list[Tensor], labels: list[str], subscripts: str) -> list[Tensor]:
    """The operands with their axes of size 1 stretched to their label's size."""
    sizes: dict[str, int] = {}
    for x, part in zip(operands, labels, strict=True):
        for label, n in zip(part, x.shape, strict=True):
            if n != 1 and sizes.setdefault(label, n) != n:
                raise ShapeError(
                    f"einsum: label {label!r} of {subscripts!r} stands for axes of sizes "
                    f"{sizes[label]} and {n}; they must be equal (or 1)."
                )
    stretched = []
    for x, part in zip(operands, labels, strict=True):
        shape = tuple(sizes.get(label, 1) for label in part)
        stretched.append(x if shape == x.shape else x.broadcast_to(shape))
    return stretched


def _identity(n: int, copies: int, dtype: Any) -> np.ndarray:
    """1 where all `copies` indices are equal, 0 elsewhere: the identity matrix for 2."""
    delta = np.zeros((n,) * copies, dtype=dtype)
    delta[(np.arange(n),) * copies] = 1
    return delta


def _own_labels(x: Tensor, part: str, elsewhere: str) -> tuple[Tensor, str]:
    """x with its labels made distinct (diagonals taken) and those that appear nowhere in
    `elsewhere` (the other operands and the output) summed."""
    free = [c for c in string.ascii_letters if c not in part + elsewhere]
    while len(set(part)) != len(part):
        label = next(c for c in part if part.count(c) > 1)
        renamed = part
        extra = ""
        for _ in range(part.count(label) - 1):  # every repeat of it but the first
            at = renamed.rindex(label)
            renamed = renamed[:at] + free[0] + renamed[at + 1 :]
            extra, free = extra + free[0], free[1:]
        kept = "".join(c for c in renamed if c not in extra)
        delta = _identity(x.shape[part.index(label)], 1 + len(extra), x.dtype)
        x = apply(OPS["einsum"], x, delta, subscripts=f"{renamed},{label}{extra}->{kept}")
        part = kept
    summed = tuple(i for i, label in enumerate(part) if label not in elsewhere)
    if summed:
        x = x.sum(axis=summed)
        part = "".join(label for label in part if label in elsewhere)
    return x, part


def einsum(subscripts: str, *operands: TensorLike) -> Tensor:
    """Einstein summation, as numpy's and torch's: `einsum("ij,jk->ik", x, y)` is `x @ y`.

    The products of the operands' elements whose labels match, summed over the labels the
    output lacks. Every form numpy takes is taken: implicit output (`"ij,jk"`), `...`
    (`"...ij,...jk->...ik"`, batch matmul), one operand (`"ii->"`, the trace; `"ij->ji"`),
    more than two (`"ij,jk,kl->il"`), and the operands as one list (torch's
    `einsum("ij,jk", [x, y])`). Recorded as the op einsum of two operands, whose gradient is
    an einsum of dz and the other operand (`dx = einsum("ik,jk->ij", dz, y)`), and the steps
    that bring the other forms to it (see this module's doc).
    """
    listed = len(operands) == 1 and isinstance(operands[0], (list, tuple))
    if listed and all(isinstance(o, (Tensor, np.ndarray)) for o in operands[0]):
        operands = tuple(operands[0])
    if not operands:
        raise InputError("einsum: needs at least one operand.")
    tensors = [o if isinstance(o, Tensor) else Tensor(o) for o in operands]
    labels, out = _parse(subscripts, [t.shape for t in tensors])
    tensors = _stretched(tensors, labels, subscripts)
    for i in range(len(tensors)):
        elsewhere = "".join(labels[:i] + labels[i + 1 :]) + out
        tensors[i], labels[i] = _own_labels(tensors[i], labels[i], elsewhere)
    x, part = tensors[0], labels[0]
    for i in range(1, len(tensors)):
        later = "".join(labels[i + 1 :]) + out
        both = part + "".join(c for c in labels[i] if c not in part)
        kept = out if i == len(tensors) - 1 else "".join(c for c in both if c in later)
        x = apply(OPS["einsum"], x, tensors[i], subscripts=f"{part},{labels[i]}->{kept}")
        part = kept
    if part != out:  # one operand: its labels are the output's, in another order
        x = x.permute(*(part.index(label) for label in out))
    return x


def tensordot(x: TensorLike, y: TensorLike, axes: Any = 2, *, dims: Any = None) -> Tensor:
    """The sum of products over `axes` of x and y, as numpy's tensordot (torch's `dims=`):
    an integer n pairs x's last n axes with y's first n; a pair of sequences names them
    (`axes=([1, 0], [0, 1])`). Recorded as the einsum it is."""
    if dims is not None:
        axes = dims
    x = x if isinstance(x, Tensor) else Tensor(x)
    y = y if isinstance(y, Tensor) else Tensor(y)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        if not 0 <= axes <= min(x.ndim, y.ndim):
            raise ShapeError(
                f"tensordot: axes={axes} pairs x's last {axes} axes with y's first, but the "
                f"shapes are {x.shape} and {y.shape}."
            )
        pairs = (list(range(x.ndim - axes, x.ndim)), list(range(axes)))
    elif isinstance(axes, Sequence) and len(axes) == 2:
        pairs = tuple([a] if isinstance(a, (int, np.integer)) else list(a) for a in axes)
    else:
        raise InputError(
            f"tensordot: axes must be an integer or a pair of axis sequences, got {axes!r}."
        )
    if len(pairs[0]) != len(pairs[1]):
        raise ShapeError(f"tensordot: axes {axes!r} pair {len(pairs[0])} with {len(pairs[1])}.")
    letters = iter(string.ascii_letters)
    x_labels = [next(letters) for _ in range(x.ndim)]
    y_labels = [next(letters) for _ in range(y.ndim)]
    try:
        for a, b in zip(*pairs, strict=True):
            y_labels[b] = x_labels[a]
    except IndexError:
        raise ShapeError(
            f"tensordot: axes {axes!r} are out of range for shapes {x.shape} and {y.shape}."
        ) from None
    summed = {x_labels[a] for a in pairs[0]}
    out = [c for c in x_labels if c not in summed] + [c for c in y_labels if c not in summed]
    return einsum(f"{''.join(x_labels)},{''.join(y_labels)}->{''.join(out)}", x, y)
