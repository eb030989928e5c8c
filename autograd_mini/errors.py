"""The exceptions autograd_mini raises, each meant to be read by a person.

Every message names the op, the shapes involved and what to do about it.
"""

from __future__ import annotations


class AutogradError(Exception):
    """Base class of every error autograd_mini raises on purpose."""


class ShapeError(AutogradError, ValueError):
    """Operands whose shapes do not fit the op (broadcasting, matmul, losses)."""


class InputError(AutogradError, ValueError):
    """An argument an op cannot take: an unknown reduction, probabilities outside [0, 1]."""


class BackwardError(AutogradError, RuntimeError):
    """`backward()` cannot run: no grad required, freed graph, bad seed gradient."""


class AnomalyError(AutogradError, FloatingPointError):
    """Inside `detect_anomaly()`: an op produced NaN or inf (forward or backward)."""


class GradcheckError(AutogradError, AssertionError):
    """`gradcheck` found the engine's gradient and finite differences disagreeing."""


class LabelError(AutogradError, ValueError):
    """Class labels that are not whole numbers in [0, k) for k classes."""


class FileWriteError(AutogradError, OSError):
    """A file that could not be written (no space, no permission, no such folder). The one-line
    message names the caller, the file and the reason; the file there, if any, is unchanged.
    `errno` is the operating system's error number and `filename` the file, as shown."""

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None):
        super().__init__(message)
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0])
