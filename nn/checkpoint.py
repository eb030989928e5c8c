"""Checkpoints: a network's parameters, architecture and optimizer state in one `.npz` file.

The file holds plain arrays only: `param/<name>` for every parameter, `optim/<i>/<key>` for
the optimizer's per-parameter arrays, and `meta`, a JSON text (the architecture, the
optimizer's settings, the epoch, the history so far, anything extra). It is written to a
temporary file beside the target and renamed into place, so an interrupted save never
leaves a broken checkpoint; it is read with `allow_pickle=False`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .layers import MLP
from .optim import Optimizer

FORMAT = "autograd_mini checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit what it is loaded into."""


@dataclass
class Checkpoint:
    model: MLP
    meta: dict[str, Any]  # epoch, history, extra, optimizer settings
    optimizer_state: dict[str, Any] | None

    @property
    def epoch(self) -> int:
        """How many epochs the saved model has been trained for."""
        return int(self.meta.get("epoch", 0))

    def restore_optimizer(self, optimizer: Optimizer) -> None:
        """Load the saved optimizer state (momentum, Adam moments) into `optimizer`."""
        if self.optimizer_state is None:
            raise CheckpointError("this checkpoint holds no optimizer state.")
        try:
            optimizer.load_state_dict(self.optimizer_state)
        except ValueError as exc:
            raise CheckpointError(f"the saved optimizer state does not fit: {exc}") from None


def save_checkpoint(
    path: str | os.PathLike,
    model: MLP,
    optimizer: Optimizer | None = None,
    **meta: Any,
) -> Path:
    """Write `model` (an MLP), the optimizer's state and `meta` (JSON-ready values) atomically."""
    if not hasattr(model, "config"):
        raise TypeError(
            f"save_checkpoint stores MLPs (their architecture is rebuilt on loading); for a "
            f"{type(model).__name__} save model.state_dict() with np.savez."
        )
    path = Path(path)
    arrays = {f"param/{name}": p.data for name, p in model.named_parameters()}
    description: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": model.config()}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for position, entry in state["state"].items():
            for key, value in entry.items():
                if isinstance(value, np.ndarray):
                    arrays[f"optim/{position}/{key}"] = value
                else:
                    scalars.setdefault(str(position), {})[key] = value
        description["optimizer"] = {
            "type": state["type"],
            "groups": state["groups"],
            "scalars": scalars,
        }
    description.update(meta)
    arrays["meta"] = np.array(json.dumps(description))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, validating everything it holds."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint (.npz): {exc}") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path} is an .npz file but not an autograd_mini checkpoint.")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint format {meta.get('format')!r} version "
            f"{meta.get('version')!r} (this version reads {FORMAT!r} version {VERSION})."
        )
    model = MLP.from_config(meta["model"])
    params = {k.removeprefix("param/"): v for k, v in arrays.items() if k.startswith("param/")}
    try:
        model.load_state_dict(params)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: the parameters do not fit the saved architecture: {exc}"
        ) from None
    optimizer_state = None
    if "optimizer" in meta:
        saved = meta["optimizer"]
        per_parameter: dict[int, dict[str, Any]] = {}
        for key, value in arrays.items():
            if key.startswith("optim/"):
                _, position, name = key.split("/", 2)
                per_parameter.setdefault(int(position), {})[name] = value
        for position, entry in saved["scalars"].items():
            per_parameter.setdefault(int(position), {}).update(entry)
        groups = [
            dict(group, betas=tuple(group["betas"])) if "betas" in group else group
            for group in saved["groups"]
        ]
        optimizer_state = {"type": saved["type"], "groups": groups, "state": per_parameter}
    return Checkpoint(model, meta, optimizer_state)
