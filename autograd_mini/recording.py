"""What the engine records, and who watches it: the grad switch, scope labels, observers.

This is the engine's only mutable state. The switches are per thread, like PyTorch's grad
mode, so a `no_grad()` in one thread never changes what another thread records; the
counter that numbers recorded ops is global and only increases.

Observers are the one hook into the engine. An `Observer` sees every op as it is recorded
(`recorded(op, inputs, tensor)`) and every step of a backward pass (`stepped(tensor, g,
passed)`), while it is attached with `with observe(observer):`. `detect_anomaly()` is one;
the stepper page attaches its own to watch the engine's own numbers.
"""

from __future__ import annotations

import itertools
import threading
import weakref
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .errors import AnomalyError


class Observer:
    """Watches the engine while attached (`with observe(observer):`); the methods do nothing
    unless overridden. They must not change the arrays they are shown (copy what they keep).
    """

    def recorded(self, op: Any, inputs: tuple, tensor: Any) -> None:
        """`tensor` was just computed by `op` from `inputs` (recorded or not: `tensor.node`)."""

    def stepped(self, tensor: Any, g: Any, passed: list[tuple[Any, Any]]) -> None:
        """backward ran the VJPs of `tensor`'s op: g = ∂L/∂tensor (the sum of what its users
        passed back), and `passed` holds (input, ∂L/∂input through this op) for each input
        that requires grad, in input order, before they are added up."""

    def made(self, tensor: Any) -> None:
        """`tensor`, a leaf, was just made to require grad (a new parameter)."""


class _RecordingState(threading.local):
    grad_enabled: bool = True  # record ops so that backward() can run
    scope: tuple[str, ...] = ()  # labels of the scopes being recorded in, outermost first
    observers: tuple[Observer, ...] = ()  # attached with observe()


STATE = _RecordingState()

RECORDING_ORDER = itertools.count()
"""Numbers the recorded ops in the order they are recorded. An op is recorded after its
inputs exist, so this order is topological: backward() runs the ops newest first. It is
shared by all threads (a graph may mix tensors made in several), and only ever increases."""


@contextmanager
def observe(observer: Observer) -> Iterator[Observer]:
    """Attach `observer` to the engine (in this thread) while the block runs."""
    if not isinstance(observer, Observer):
        raise TypeError(
            f"observe: expected an ag.Observer, got {type(observer).__name__}; subclass "
            "ag.Observer and override the methods you need (recorded, stepped, made)."
        )
    previous = STATE.observers
    STATE.observers = (*previous, observer)
    try:
        yield observer
    finally:
        STATE.observers = previous


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


def no_grad(function: Callable | None = None) -> Any:
    """Context manager (or decorator, `@no_grad()` or `@no_grad`): nothing computed inside
    is recorded.

    Results have `requires_grad=False`; use it for evaluation and for parameter updates.
    """
    return _mode("no_grad", False, function)


def enable_grad(function: Callable | None = None) -> Any:
    """Context manager (or decorator): record again, even inside `no_grad()`."""
    return _mode("enable_grad", True, function)


def _mode(name: str, enabled: bool, function: Callable | None) -> Any:
    if function is None:
        return _grad_mode(enabled)
    if not callable(function):
        raise TypeError(f"{name}: takes no argument, got {function!r}; write `with ag.{name}():`.")
    return _grad_mode(enabled)(function)  # `@ag.no_grad` without the parentheses


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


# ----------------------------------------------------------------------------------------
# detect_anomaly(): non-finite numbers, and saved arrays changed in place
# ----------------------------------------------------------------------------------------


def _checksum(value: Any) -> Any:
    """A checksum of an array, of each array in a tuple or list, and None for the rest."""
    if isinstance(value, np.ndarray):
        return zlib.crc32(np.ascontiguousarray(value).view(np.uint8))
    if isinstance(value, (tuple, list)):
        return tuple(_checksum(v) for v in value)
    return None


def _check_finite(array: Any, what: str, shapes: Sequence) -> None:
    array = np.asarray(array)
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return
    bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0]) if array.ndim else ()
    raise AnomalyError(
        f"detect_anomaly: {what} ({array[bad]} at index {bad}, shape {array.shape}; "
        f"inputs of shapes {' and '.join(str(s) for s in shapes)})."
    )


class AnomalyCheck(Observer):
    """What `detect_anomaly()` attaches: every op's output and every gradient a VJP passes
    back must be finite, and the arrays an op saved for its VJPs must not change between
    the forward pass and backward (their checksums are compared)."""

    def __init__(self) -> None:
        self.checksums: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def recorded(self, op: Any, inputs: tuple, tensor: Any) -> None:
        shapes = [np.shape(x) for x in inputs]
        _check_finite(tensor.data, f"{op.name} produced a non-finite output", shapes)
        if tensor.node is not None:
            self.checksums[tensor.node] = _checksum(tensor.node.saved)

    def stepped(self, tensor: Any, g: Any, passed: list[tuple[Any, Any]]) -> None:
        node = tensor.node
        before = self.checksums.get(node)
        for name, value, checksum in zip(
            node.op.saved_names, node.saved, before or (), strict=False
        ):
            if checksum is not None and _checksum(value) != checksum:
                raise AnomalyError(_changed(node, name, value))
        for x, gx in passed:
            what = f"the gradient that {node.op.name} passed back is non-finite"
            _check_finite(gx, what, [x.shape])


def _changed(node: Any, name: str, value: Any) -> str:
    """The error for a saved value changed in place, naming whose array it is."""
    arrays = [value] if isinstance(value, np.ndarray) else [v for v in value if hasattr(v, "shape")]
    owners = [
        f"input {i}"
        + (f" ({x.name!r})" if getattr(x, "name", None) else "")
        + f" of shape {np.shape(x)}"
        for i, x in enumerate(node.inputs)
        if any(np.may_share_memory(getattr(x, "data", x), a) for a in arrays)
    ]
    if owners:
        whose = owners[0]
    elif name == node.op.output:
        whose = "its output"
    elif name in node.op.params:
        whose = "its parameter"
    else:
        whose = "a value its forward computed"
    return (
        f"detect_anomaly: {node.op.name} saved an array for its backward pass ({name!r}, "
        f"{whose}) that was changed in place after the forward pass (e.g. by .data -= ... or "
        "out=); its gradients would be silently wrong. Change .data only after backward(), "
        "or compute the forward pass again."
    )


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check the recording and the backward pass for what numpy would let through silently.

    Inside, every op's output is checked for NaN and inf as it is recorded, and backward()
    checks every gradient a VJP returns: the first non-finite one raises `AnomalyError`
    naming the op. Ops recorded inside also checksum the values their VJPs will read, and a
    backward() run inside refuses a VJP whose arrays were changed in place since (`w.data
    *= 5` between forward and backward), naming the op and the input. It costs a pass over
    each array. numpy's own floating-point warnings are silenced inside: the error names
    the op instead.
    """
    with observe(AnomalyCheck()), np.errstate(all="ignore"):
        yield
