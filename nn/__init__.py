"""nn: layers, networks, optimizers and the closed-form backprop, on autograd_mini.

>>> import nn
>>> model = nn.MLP([784, 30, 10], seed=0)        # Nielsen's chapter-1 network
>>> optimizer = nn.SGD(model.parameters(), lr=3.0)
"""

from autograd_mini.compare import GradientReport

from . import gates, init, optim
from .backprop import backprop_columns, backprop_rows, layers_of
from .batches import accuracy, batches, count_correct, one_hot, predictions
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .compare import autodiff_gradients, check_backprop, compare_gradients, numerical_gradients
from .costs import COSTS, Cost, get_cost
from .data import MNIST, DataError, load_mnist
from .layers import (
    GELU,
    MLP,
    Activation,
    Dropout,
    Identity,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
    make_activation,
)
from .module import Module, Sequential, StateDictError
from .optim import SGD, Adam, Optimizer, nielsen_l2
from .training import EpochResult, History, TrainingError, evaluate, fit
from .training import compiled as compile

__all__ = [
    "COSTS",
    "GELU",
    "MLP",
    "MNIST",
    "SGD",
    "Activation",
    "Adam",
    "Checkpoint",
    "CheckpointError",
    "Cost",
    "DataError",
    "Dropout",
    "EpochResult",
    "GradientReport",
    "History",
    "Identity",
    "Linear",
    "Module",
    "Optimizer",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "StateDictError",
    "Tanh",
    "TrainingError",
    "accuracy",
    "autodiff_gradients",
    "backprop_columns",
    "backprop_rows",
    "batches",
    "check_backprop",
    "compare_gradients",
    "compile",
    "count_correct",
    "evaluate",
    "fit",
    "gates",
    "get_cost",
    "init",
    "layers_of",
    "load_checkpoint",
    "load_mnist",
    "make_activation",
    "nielsen_l2",
    "numerical_gradients",
    "one_hot",
    "optim",
    "predictions",
    "save_checkpoint",
]
