"""What the engine records, and how: the grad switch, anomaly detection, module scopes.

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
    detect_anomaly: bool = False  # check every op's output and gradients for NaN/inf
    scope: tuple[str, ...] = ()  # labels of the modules being called, outermost first


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
    """Raise `AnomalyError` at the first op whose output or gradient holds NaN or inf.

    Ops recorded inside are checked in the forward pass; `backward()` called inside
    checks every gradient a VJP returns. It costs one `isfinite` pass per array. numpy's
    own floating-point warnings are silenced inside: the error names the op instead.
    """
    previous = STATE.detect_anomaly
    STATE.detect_anomaly = True
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        STATE.detect_anomaly = previous


def enter_scope(label: str) -> tuple[str, ...]:
    """Push a scope label (e.g. `layers.0: Linear(784→30)`); return the token for `exit_scope`.

    Every op recorded until `exit_scope` remembers the labels, outermost first, so that a
    drawing can group the ops of a module. `nn.Module.__call__` uses this pair; the
    engine knows nothing about modules.
    """
    previous = STATE.scope
    STATE.scope = (*previous, label)
    return previous


def exit_scope(token: tuple[str, ...]) -> None:
    """Restore the scope that `enter_scope` returned."""
    STATE.scope = token


@contextmanager
def scope(label: str) -> Iterator[None]:
    """Context-manager form of `enter_scope`/`exit_scope`."""
    token = enter_scope(label)
    try:
        yield
    finally:
        exit_scope(token)
