"""autograd_mini: a small reverse-mode automatic differentiation engine on numpy.

>>> import numpy as np, autograd_mini as ag
>>> W = ag.Tensor(np.ones((3, 2)), requires_grad=True)
>>> loss = ag.mse_loss(ag.Tensor(np.ones((4, 3))) @ W, np.zeros((4, 2)))
>>> loss.backward(); W.grad.shape
(3, 2)

The engine is `tensor.py` (recording and backward), `ops.py` and `losses.py` (the op table)
and `broadcasting.py`; read those first. Around it: `functional.py` (the `ag.` spellings),
`gradcheck.py`, `compare.py`, `replay.py` and `backward_check.py` (checking gradients),
`visual/` (drawings, `explain`, the worksheet, the page that steps through backward:
`save_html`, `stepper`), and the optional `fused.py` (a layer as one node, for speed), which
nothing else needs.
"""

from .backward_check import check_backward
from .broadcasting import unbroadcast
from .compare import GradientReport, Row
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
from .functional import (
    abs,
    as_tensor,
    clip,
    concatenate,
    exp,
    expand_dims,
    expm1,
    flatten,
    leaky_relu,
    linear,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    swapaxes,
    tanh,
    transpose,
    var,
    where,
)
from .gradcheck import central_differences, gradcheck, gradcheck_graph
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    quadratic_cost,
)
from .ops import OPS, Op
from .recording import detect_anomaly, enable_grad, is_grad_enabled, no_grad, scope
from .tensor import Node, Tensor, apply, backward_order
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
    "OPS",
    "AnomalyError",
    "AutogradError",
    "BackwardError",
    "FileWriteError",
    "GradcheckError",
    "GradientReport",
    "GraphvizMissingError",
    "InputError",
    "LabelError",
    "Node",
    "Op",
    "Row",
    "ShapeError",
    "Stepper",
    "Tensor",
    "abs",
    "apply",
    "as_tensor",
    "backward_order",
    "backward_worksheet",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "central_differences",
    "check_backward",
    "clip",
    "concatenate",
    "cross_entropy",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "exp",
    "expand_dims",
    "explain",
    "expm1",
    "flatten",
    "gradcheck",
    "gradcheck_graph",
    "is_grad_enabled",
    "leaky_relu",
    "linear",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mse_loss",
    "no_grad",
    "quadratic_cost",
    "relu",
    "reshape",
    "save_html",
    "save_svg",
    "scope",
    "sigmoid",
    "softmax",
    "softplus",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "stepper",
    "sum",
    "swapaxes",
    "tanh",
    "transpose",
    "unbroadcast",
    "var",
    "where",
]
