"""Double backward against PyTorch's `create_graph=True` over random graphs of the op
table's ops, float64, rtol 1e-9 (benchmarks/against_torch.py). Skipped where torch is not
installed: it is not a dependency of the project, nor installed by CI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import autograd_mini as ag

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import against_torch


def test_double_backward_agrees_with_torch_on_random_graphs_of_every_op():
    result = against_torch.check(graphs=150, seed=3)
    assert result["second"] <= against_torch.RTOL
    assert set(ag.OPS) <= result["covered"], sorted(set(ag.OPS) - result["covered"])
