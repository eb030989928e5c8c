"""autograd_mini: a small reverse-mode automatic differentiation engine on numpy.

>>> import numpy as np, autograd_mini as ag
>>> W = ag.Tensor(np.ones((3, 2)), requires_grad=True)
>>> loss = ag.mse_loss(ag.Tensor(np.ones((4, 3))) @ W, np.zeros((4, 2)))
>>> loss.backward(); W.grad.shape
(3, 2)
"""

from .broadcasting import unbroadcast
from .drawing import GraphvizMissingError, draw, save_svg
from .errors import (
    AnomalyError,
    AutogradError,
    BackwardError,
    GradcheckError,
    LabelError,
    ShapeError,
)
from .explain import explain
from .functional import (
    as_tensor,
    exp,
    linear,
    log,
    log_softmax,
    matmul,
    max,
    mean,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    sum,
    tanh,
    transpose,
)
from .fused_costs import linear_cost
from .gradcheck import central_differences, gradcheck
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

__version__ = "0.1.0"

__all__ = [
    "OPS",
    "AnomalyError",
    "AutogradError",
    "BackwardError",
    "GradcheckError",
    "GraphvizMissingError",
    "LabelError",
    "Node",
    "Op",
    "ShapeError",
    "Tensor",
    "apply",
    "as_tensor",
    "backward_order",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "central_differences",
    "cross_entropy",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "exp",
    "explain",
    "gradcheck",
    "is_grad_enabled",
    "linear",
    "linear_cost",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "mean",
    "mse_loss",
    "no_grad",
    "quadratic_cost",
    "relu",
    "reshape",
    "save_svg",
    "scope",
    "sigmoid",
    "softmax",
    "sqrt",
    "sum",
    "tanh",
    "transpose",
    "unbroadcast",
]
