"""What the engine records, and how: the grad switch, anomaly detection, scope labels.

This is the engine's only mutable state. The switches are per thread, like PyTorch's grad
mode, so a `no_grad()` in one thread never changes what another thread records; the
counter that numbers recorded ops is global and only increases.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


class _RecordingState(threading.local):
    grad_enabled: bool = True  # record ops so that backward() can run
    detect_anomaly: bool = False  # check outputs and gradients for NaN/inf, and saved arrays
    scope: tuple[str, ...] = ()  # labels of the scopes being recorded in, outermost first


STATE = _RecordingState()

RECORDING_ORDER = itertools.count()
"""Numbers the recorded ops in the order they are recorded. An op is recorded after its
inputs exist, so this order is topological: backward() runs the ops newest first. It is
shared by all threads (a graph may mix tensors made in several), and only ever increases."""


def is_grad_enabled() -> bool:
    """True when ops are being recorded for backward()."""
    return STATE.grad_enabled


@contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    previous = STATE.grad_enabled
    STATE.grad_enabled = enabled
    try:
        yield
    finally:
        STATE.grad_enabled = previous


def no_grad():
    """Context manager (or decorator): nothing computed inside is recorded.

    Results have `requires_grad=False`; use it for evaluation and for parameter updates.
    """
    return _grad_mode(False)


def enable_grad():
    """Context manager (or decorator): record again, even inside `no_grad()`."""
    return _grad_mode(True)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check the recording and the backward pass for what numpy would let through silently.

    Inside, every op's output is checked for NaN and inf as it is recorded, and
    `backward()` checks every gradient a VJP returns: the first non-finite one raises
    `AnomalyError` naming the op. Ops recorded inside also fingerprint the arrays their
    VJPs will read, and `backward()` refuses to run a VJP whose arrays were changed in
    place since (`w.data *= 5` between forward and backward), naming the op and the input.
    It costs a pass over each array. numpy's own floating-point warnings are silenced
    inside: the error names the op instead.
    """
    previous = STATE.detect_anomaly
    STATE.detect_anomaly = True
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        STATE.detect_anomaly = previous


class scope:  # noqa: N801 (used like a function: `with ag.scope("layers.0"):`)
    """`with scope("layers.0: Linear(784→30)"):` labels every op recorded inside.

    Labels nest, outermost first, and a drawing groups the ops of each label in a box:
    `nn.Module.__call__` records a module's ops in its scope, the engine knows nothing
    about modules. One `scope` object may be entered again and again (a module keeps
    its own), also inside itself.
    """

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(f"scope: the label must be a string, got {type(label).__name__}.")
        self.label = label

    def __enter__(self) -> scope:
        STATE.scope = (*STATE.scope, self.label)
        return self

    def __exit__(self, *exc_info: object) -> None:
        STATE.scope = STATE.scope[:-1]

    def __repr__(self) -> str:
        return f"scope({self.label!r})"
