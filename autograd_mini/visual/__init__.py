"""Seeing the recorded graph: its facts (`graph`), what to draw as one box (`layout`), the
Graphviz drawing (`drawing`), the backward pass in words (`explain`) and the page that steps
through it (`stepper`: `save_html`, `stepper`; its template is in `page/`).

Nothing in the engine imports this package; it reads graphs only through their public
structure (`tensor.node`, `node.op`, `node.inputs`, ...).
"""

from .drawing import GraphvizMissingError, draw, save_svg
from .explain import Explanation, explain
from .stepper import Stepper, save_html, stepper

__all__ = [
    "Explanation",
    "GraphvizMissingError",
    "Stepper",
    "draw",
    "explain",
    "save_html",
    "save_svg",
    "stepper",
]
