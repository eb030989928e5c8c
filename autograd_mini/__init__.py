"""autograd_mini: a small reverse-mode automatic differentiation engine on numpy.

>>> import numpy as np, autograd_mini as ag
>>> W = ag.Tensor(np.ones((3, 2)), requires_grad=True)
>>> loss = ag.mse_loss(ag.Tensor(np.ones((4, 3))) @ W, np.zeros((4, 2)))
>>> loss.backward(); W.grad.shape
(3, 2)

Read `engine.py` first (recording and backward), then the op table (`ops.py`, `losses.py`,
and `formulas.py` for how an entry becomes functions). Around them: `tensor.py` (the Tensor
API), `functional.py` (the `ag.` functions), `activations.py`, the checkers (`gradcheck.py`,
`compare.py`, `replay.py`, `backward_check.py`) and `visual/` (drawings, `explain`, the
worksheet, the page that steps through backward).
"""

from . import constructors, functional
from .activations import ACTIVATIONS
from .backward_check import check_backward
from .code import backward_code
from .compare import GradientReport, Row
from .compiled import Compiled, CompileError, compile
from .constructors import *  # noqa: F403 (zeros, ones, ..., randn: leaf Tensors made from nothing)
from .engine import Node, Tensor, apply, backward_order, unbroadcast
from .errors import (
    AnomalyError,
    AutogradError,
    BackwardError,
    FileWriteError,
    GradcheckError,
    InputError,
    LabelError,
    ShapeError,
)
from .formulas import OPS, Op
from .functional import *  # noqa: F403 (every op that is a function, made from the op table)
from .gradcheck import central_differences, gradcheck, gradcheck_graph, gradgradcheck
from .higher import grad, gradients, hessian, hvp, jacobian
from .recording import (
    Observer,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    observe,
    scope,
)
from .tensor import ValuesIndices
from .visual import (
    GraphvizMissingError,
    Stepper,
    backward_worksheet,
    draw,
    explain,
    save_html,
    save_svg,
    stepper,
)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "OPS",
    "AnomalyError",
    "AutogradError",
    "CompileError",
    "Compiled",
    "BackwardError",
    "FileWriteError",
    "GradcheckError",
    "GradientReport",
    "GraphvizMissingError",
    "InputError",
    "LabelError",
    "Node",
    "Observer",
    "Op",
    "Row",
    "ShapeError",
    "Stepper",
    "Tensor",
    "ValuesIndices",
    "apply",
    "backward_code",
    "backward_order",
    "backward_worksheet",
    "central_differences",
    "check_backward",
    "compile",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "explain",
    "gradcheck",
    "gradcheck_graph",
    "gradgradcheck",
    "grad",
    "gradients",
    "hessian",
    "hvp",
    "jacobian",
    "is_grad_enabled",
    "no_grad",
    "observe",
    "save_html",
    "save_svg",
    "scope",
    "stepper",
    "unbroadcast",
    *functional.__all__,
    *constructors.__all__,
]
