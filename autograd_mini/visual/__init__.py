"""Seeing the recorded graph: its facts (`graph`), what to draw as one box (`layout`), the
Graphviz drawing (`drawing`), the backward pass in words (`explain`), as a worksheet to fill
in by hand (`worksheet`) and as a page that steps through it (`backward_page`: `save_html`,
`stepper`; its template is in `page/`).

Nothing in the engine imports this package; it reads graphs only through their public
structure (`tensor.node`, `node.op`, `node.inputs`, ...).
"""

from .backward_page import Stepper, save_html, stepper
from .drawing import GraphvizMissingError, draw, save_svg
from .explain import Explanation, explain
from .worksheet import backward_worksheet

__all__ = [
    "Explanation",
    "GraphvizMissingError",
    "Stepper",
    "backward_worksheet",
    "draw",
    "explain",
    "save_html",
    "save_svg",
    "stepper",
]
