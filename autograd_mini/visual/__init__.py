"""Seeing the recorded graph: its facts (`graph`), what to draw as one box (`layout`), the
Graphviz drawing (`drawing`) and the backward pass in words (`explain`).

Nothing in the engine imports this package; it reads graphs only through their public
structure (`tensor.node`, `node.op`, `node.inputs`, ...).
"""

from .drawing import GraphvizMissingError, draw, save_svg
from .explain import Explanation, explain

__all__ = ["Explanation", "GraphvizMissingError", "draw", "explain", "save_svg"]
