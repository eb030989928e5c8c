"""Seeing the recorded graph: its facts (`graph`), what to draw as one box (`layout`), the
Graphviz drawing (`drawing`), the backward pass in words (`explain`) and as a worksheet to
fill in by hand (`worksheet`).

Nothing in the engine imports this package; it reads graphs only through their public
structure (`tensor.node`, `node.op`, `node.inputs`, ...).
"""

from .drawing import GraphvizMissingError, draw, save_svg
from .explain import Explanation, explain
from .worksheet import backward_worksheet

__all__ = [
    "Explanation",
    "GraphvizMissingError",
    "backward_worksheet",
    "draw",
    "explain",
    "save_svg",
]
