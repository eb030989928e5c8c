"""Checkpoints: a network's parameters, architecture and optimizer state in one `.npz` file.

The file holds plain arrays only: `param/<name>` for every parameter, `optim/<i>/<key>` for
the optimizer's per-parameter arrays, and `meta`, a JSON text (the architecture, the
optimizer's settings, the epoch, the history so far, anything extra). It is written to a
temporary file beside the target, loaded back as `load_checkpoint` would load it, and only
then renamed into place: an interrupted or refused save never replaces a good checkpoint.

Reading trusts nothing in the file: every member must be one a checkpoint holds, stored
uncompressed (so its size is the size on disk), with a numeric dtype; the meta data is
checked before any parameter is read, and each parameter's shape (from the `.npy` header)
against the architecture before anything is allocated for it. So a hostile or corrupt file
is refused with a `CheckpointError` naming it, having cost little more memory than its size.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from autograd_mini.files import replacing
from autograd_mini.text import printable

from .layers import ACTIVATIONS, MLP
from .optim import Optimizer

FORMAT = "autograd_mini checkpoint"
VERSION = 1
RESERVED = ("format", "version", "model", "optimizer")
"""Meta keys `save_checkpoint` writes itself; passing them as extra meta is refused."""
META_MAX_CHARACTERS = 1 << 24
"""The longest meta text read (16 Mi characters: 64 MiB as numpy stores text; a 1,000-epoch
history takes about 150 k)."""
_OPTIMIZER_MEMBER = re.compile(r"optim/(\d{1,9})/(\w{1,64})")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit what it is loaded into."""


@dataclass
class Checkpoint:
    model: MLP
    meta: dict[str, Any]  # epoch, history, extra, optimizer settings
    optimizer_state: dict[str, Any] | None
    path: Path | None = None  # the file it was loaded from

    @property
    def epoch(self) -> int:
        """How many epochs the saved model has been trained for."""
        return int(self.meta.get("epoch", 0))

    def restore_optimizer(self, optimizer: Optimizer) -> None:
        """Load the saved optimizer state (momentum, Adam moments) into `optimizer`;
        CheckpointError (naming the file) when it does not fit."""
        where = "this checkpoint" if self.path is None else printable(self.path)
        if self.optimizer_state is None:
            raise CheckpointError(f"{where} holds no optimizer state.")
        try:
            optimizer.load_state_dict(self.optimizer_state)
        except ValueError as exc:
            raise CheckpointError(
                f"{where}: the saved optimizer state does not fit: {exc}"
            ) from None


# ----------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike,
    model: MLP,
    optimizer: Optimizer | None = None,
    **meta: Any,
) -> Path:
    """Write `model` (an MLP), the optimizer's state and `meta` (JSON-ready values) atomically.

    The keys of `RESERVED` (format, version, model, optimizer) are the file's own and are
    refused as meta, as are values that are not JSON-ready and an `epoch` that is not a
    whole number ≥ 0, before anything is written. The file is checked by loading it before
    it replaces `path`; it gets the mode of any new file (0666 minus the umask).
    """
    if not hasattr(model, "config"):
        raise TypeError(
            f"save_checkpoint stores MLPs (their architecture is rebuilt on loading); for a "
            f"{type(model).__name__} save model.state_dict() with np.savez."
        )
    path = Path(path)
    taken = [key for key in RESERVED if key in meta]
    if taken:
        raise CheckpointError(
            f"save_checkpoint: meta {', '.join(map(repr, taken))} is reserved for the file's own "
            f"description ({', '.join(RESERVED)}); give it another name. Nothing was written."
        )
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
    try:
        text = json.dumps(description)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"save_checkpoint: the meta data must be JSON-ready (numbers, text, lists, dicts): "
            f"{exc}. Nothing was written."
        ) from None
    check_meta(json.loads(text), "save_checkpoint")
    arrays["meta"] = np.array(text)
    with replacing(path, "save_checkpoint", folders=True) as out:
        np.savez(out.file, **arrays)
        out.finish()
        try:
            load_checkpoint(out.temporary)
        except CheckpointError as exc:
            raise CheckpointError(
                f"save_checkpoint: {printable(path)} was left as it was: the file written would "
                f"not load ({exc})"
            ) from None
    return path


# ----------------------------------------------------------------------------------------
# The meta data
# ----------------------------------------------------------------------------------------


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def check_meta(meta: Any, where: str) -> None:
    """Raise CheckpointError (prefixed with `where`) unless `meta` is what a checkpoint's
    meta data must be: a dict with this format and version, an MLP architecture, and (when
    present) an optimizer description and a whole-number epoch."""

    def require(condition: bool, problem: str) -> None:
        if not condition:
            raise CheckpointError(f"{where}: {problem}")

    require(
        isinstance(meta, dict), f"its meta data is a JSON {type(meta).__name__}, not an object."
    )
    require(
        meta.get("format") == FORMAT and meta.get("version") == VERSION,
        f"unsupported checkpoint format {meta.get('format')!r} version {meta.get('version')!r} "
        f"(this version reads {FORMAT!r} version {VERSION}).",
    )
    require("model" in meta, "its meta data has no 'model' (the architecture).")
    model = meta["model"]
    require(
        isinstance(model, dict) and model.get("type") == "MLP",
        f"meta 'model' is not an MLP description: {model!r:.100}.",
    )
    for key in ("sizes", "activation", "output_activation", "dtype", "bias"):
        require(key in model, f"meta 'model' has no {key!r}.")
    sizes = model["sizes"]
    require(
        isinstance(sizes, list) and len(sizes) >= 2 and all(_is_int(n, 1) for n in sizes),
        f"meta 'model' 'sizes' must be a list of at least two positive whole numbers, "
        f"got {sizes!r:.100}.",
    )
    names = sorted(ACTIVATIONS)
    require(
        model["activation"] in ACTIVATIONS,
        f"meta 'model' has activation {model['activation']!r:.50}; known: {names}.",
    )
    require(
        model["output_activation"] is None or model["output_activation"] in ACTIVATIONS,
        f"meta 'model' has output activation {model['output_activation']!r:.50}; "
        f"known: {names} or null.",
    )
    require(
        model["dtype"] in ("float16", "float32", "float64"),
        f"meta 'model' has dtype {model['dtype']!r:.50}; a network's parameters are float16, "
        "float32 or float64.",
    )
    require(isinstance(model["bias"], bool), "meta 'model' 'bias' must be true or false.")
    if "epoch" in meta:
        require(
            _is_int(meta["epoch"]),
            f"meta 'epoch' must be a whole number ≥ 0, got {meta['epoch']!r:.50}.",
        )
    if "optimizer" in meta:
        _check_optimizer(meta["optimizer"], require)


def _is_number(value: Any) -> bool:
    """A finite JSON number (not a bool; not an integer too big for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


SETTING_CHECKS: dict[str, tuple[Any, str]] = {
    "lr": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "momentum": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: _is_number(v) and v >= 0, "a number ≥ 0"),
    "eps": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "betas": (
        lambda v: (
            isinstance(v, list) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v)
        ),
        "two numbers in [0, 1)",
    ),
}
"""An optimizer setting saved with its parameter group → (its check, what it must be)."""


@dataclass(frozen=True)
class SavedOptimizer:
    """What a checkpoint may hold of one optimizer type: its group settings (all of them, as
    `state_dict` writes them), and per parameter either nothing or all of `scalars` (in the
    meta data: whole numbers ≥ 1) and `arrays` (members optim/<position>/<key>)."""

    settings: frozenset[str]
    scalars: frozenset[str]
    arrays: frozenset[str]


OPTIMIZERS = {
    "SGD": SavedOptimizer(
        frozenset({"lr", "momentum", "weight_decay"}), frozenset(), frozenset({"velocity"})
    ),
    "Adam": SavedOptimizer(
        frozenset({"lr", "betas", "eps", "weight_decay"}),
        frozenset({"step"}),
        frozenset({"m", "v"}),
    ),
}
_POSITION = re.compile(r"0|[1-9][0-9]{0,8}")  # ASCII digits: str.isdigit() also admits "²"


def _check_optimizer(saved: Any, require) -> None:
    """The optimizer's description in the meta data: a known type, parameter groups with
    valid settings and sizes, and per-parameter scalars only where the type keeps them, for
    positions the groups have."""
    require(
        isinstance(saved, dict)
        and isinstance(saved.get("groups"), list)
        and isinstance(saved.get("scalars"), dict),
        "meta 'optimizer' is not an optimizer description (type, groups with their sizes, "
        "scalars by parameter position).",
    )
    kind = saved.get("type")
    require(
        isinstance(kind, str) and kind in OPTIMIZERS,
        f"meta 'optimizer' has type {printable(repr(kind))[:60]}; checkpoints restore "
        f"{' and '.join(OPTIMIZERS)}.",
    )
    spec = OPTIMIZERS[kind]
    for number, group in enumerate(saved["groups"]):
        where = f"meta 'optimizer' group {number}"
        require(isinstance(group, dict), f"{where} is not an object.")
        require(
            _is_int(group.get("size")),
            f"{where} has size {printable(repr(group.get('size')))[:60]}, not a whole number ≥ 0.",
        )
        keys = set(group) - {"size"}
        require(
            keys == spec.settings,
            f"{where} has the settings {sorted(keys)}; {kind} saves the settings "
            f"{sorted(spec.settings)}.",
        )
        for key in sorted(keys):
            check, must = SETTING_CHECKS[key]
            require(
                check(group[key]),
                f"{where} has {key} = {printable(repr(group[key]))[:60]}; it must be {must}.",
            )
    n_positions = sum(group["size"] for group in saved["groups"])
    for position, entry in saved["scalars"].items():
        where = f"meta 'optimizer' state of parameter {printable(repr(position))[:40]}"
        require(
            isinstance(position, str) and _POSITION.fullmatch(position) is not None,
            f"{where}: a parameter position is a whole number in the digits 0-9, without "
            "leading zeros.",
        )
        require(
            int(position) < n_positions,
            f"{where}: the groups hold {n_positions} parameters (positions 0 to "
            f"{n_positions - 1}).",
        )
        require(isinstance(entry, dict), f"{where} is not an object.")
        for key, value in entry.items():
            require(
                key not in spec.arrays,
                f"{where}: {key} = {printable(repr(value))[:40]} must be an array the shape of "
                f"the parameter (member optim/{position}/{key}).",
            )
            require(
                key in spec.scalars,
                f"{where}: {kind} keeps no {printable(repr(key))[:40]}.",
            )
            require(
                _is_int(value, 1),
                f"{where}: {key} = {printable(repr(value))[:40]} must be a whole number ≥ 1.",
            )


def _check_optimizer_arrays(
    saved: dict[str, Any], arrays: dict[tuple[int, str], np.ndarray], path: Path
) -> None:
    """Per parameter, all of its optimizer type's state or none, with finite arrays (and
    Adam's second moments ≥ 0)."""
    spec = OPTIMIZERS[saved["type"]]
    positions = {position for position, _ in arrays} | {int(p) for p in saved["scalars"]}
    for position in sorted(positions):
        have = {key for p, key in arrays if p == position}
        have |= set(saved["scalars"].get(str(position), {}))
        missing = sorted((spec.arrays | spec.scalars) - have)
        if missing:
            raise CheckpointError(
                f"{path}: the {saved['type']} state of parameter {position} lacks {missing} "
                f"(it has {sorted(have)})."
            )
    for (position, key), value in arrays.items():
        if not np.isfinite(value).all():
            raise CheckpointError(
                f"{path}: the {saved['type']} state {key!r} of parameter {position} holds "
                "NaN or infinite values."
            )
        if key == "v" and (value < 0).any():
            raise CheckpointError(
                f"{path}: the Adam state 'v' of parameter {position} (running mean of squared "
                "gradients) holds negative values."
            )


def parameter_shapes(model: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The parameters an MLP of this (checked) architecture has, by name, with their shapes."""
    shapes = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(model["sizes"])):
        shapes[f"layers.{i}.weight"] = (n_in, n_out)
        if model["bias"]:
            shapes[f"layers.{i}.bias"] = (n_out,)
    return shapes


# ----------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, validating everything it holds."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}.")
    with open(path, "rb") as file:
        start = file.read(6)
    if start == b"\x93NUMPY":
        raise CheckpointError(
            f"{path} is a single numpy array (.npy), not a checkpoint (an .npz archive)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            if "meta.npy" not in archive.namelist():
                raise CheckpointError(
                    f"{path} is an .npz file but not an autograd_mini checkpoint (no meta)."
                )
            members = _members(archive, path)
            meta = _read_meta(archive, members.pop("meta"), path)
            check_meta(meta, str(path))
            arrays = _read_arrays(archive, members, meta, path)
    except CheckpointError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint (.npz): {exc}") from None
    model = MLP.from_config(meta["model"])
    model.load_state_dict(arrays["param"])
    optimizer_state = None
    if "optimizer" in meta:
        saved = meta["optimizer"]
        _check_optimizer_arrays(saved, arrays["optim"], path)
        per_parameter: dict[int, dict[str, Any]] = {}
        for (position, name), value in arrays["optim"].items():
            per_parameter.setdefault(position, {})[name] = value
        for position, entry in saved["scalars"].items():
            per_parameter.setdefault(int(position), {}).update(entry)
        groups = [
            dict(group, betas=tuple(group["betas"])) if "betas" in group else group
            for group in saved["groups"]
        ]
        optimizer_state = {"type": saved["type"], "groups": groups, "state": per_parameter}
    return Checkpoint(model, meta, optimizer_state, path)


def _members(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by array name, each checked to be one a checkpoint can hold."""
    members: dict[str, zipfile.ZipInfo] = {}
    size = path.stat().st_size
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        known = info.filename.endswith(".npy") and (
            name == "meta" or name.startswith("param/") or _OPTIMIZER_MEMBER.fullmatch(name)
        )
        if not known:
            raise CheckpointError(
                f"{path}: unknown member {info.filename!r:.100} (a checkpoint holds meta.npy, "
                "param/*.npy and optim/*.npy only); refused unread."
            )
        if name in members:
            raise CheckpointError(f"{path}: member {info.filename!r} appears twice.")
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{path}: member {info.filename!r} is compressed; checkpoints store their arrays "
                "uncompressed (a compressed member could unpack to any size), refused unread."
            )
        if info.compress_size > size or info.file_size != info.compress_size:
            raise CheckpointError(
                f"{path}: member {info.filename!r} claims {info.file_size} bytes, more than the "
                f"file holds ({size})."
            )
        members[name] = info
    return members


def _header(file: IO[bytes], info: zipfile.ZipInfo, path: Path) -> tuple[tuple, np.dtype]:
    """The shape and dtype in a member's `.npy` header, checked against the member's size."""
    try:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as exc:
        raise CheckpointError(
            f"{path}: member {info.filename!r} is not a numpy array ({exc})."
        ) from None
    if dtype.hasobject:
        raise CheckpointError(
            f"{path}: member {info.filename!r} holds Python objects (dtype {dtype}, a pickle); "
            "checkpoints hold numbers only, refused unread."
        )
    expected = file.tell() + math.prod(shape) * dtype.itemsize
    if expected != info.file_size:
        raise CheckpointError(
            f"{path}: member {info.filename!r} announces {dtype} {shape} ({expected} bytes with "
            f"its header) but holds {info.file_size} bytes."
        )
    return shape, dtype


def _read_meta(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> Any:
    with archive.open(info) as file:
        shape, dtype = _header(file, info, path)
    if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * META_MAX_CHARACTERS:
        raise CheckpointError(
            f"{path}: its meta data is {dtype} {shape}, not one JSON text (of at most "
            f"{META_MAX_CHARACTERS} characters)."
        )
    with archive.open(info) as file:
        text = str(np.lib.format.read_array(file, allow_pickle=False))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its meta data is not JSON ({exc}).") from None


def _read_arrays(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], meta: dict, path: Path
) -> dict[str, dict]:
    """The parameters (by name) and optimizer arrays (by (position, key)), after checking
    every member's header against the architecture in `meta`: nothing is read before all
    members are known to be what the architecture needs."""
    model = meta["model"]
    wanted = parameter_shapes(model)
    shapes = set(wanted.values())
    n_positions = sum(group["size"] for group in meta.get("optimizer", {}).get("groups", []))
    missing = sorted(name for name in wanted if f"param/{name}" not in members)
    if missing:
        raise CheckpointError(
            f"{path}: the parameters do not fit the saved architecture "
            f"{'→'.join(map(str, model['sizes']))}: missing {missing}."
        )
    for name, info in members.items():
        with archive.open(info) as file:
            shape, dtype = _header(file, info, path)
        if name.startswith("param/"):
            key = name.removeprefix("param/")
            if key not in wanted:
                raise CheckpointError(
                    f"{path}: the parameters do not fit the saved architecture: unknown "
                    f"parameter {key!r:.100}."
                )
            fits = shape == wanted[key]
            need = f"{wanted[key]}"
        else:
            match = _OPTIMIZER_MEMBER.fullmatch(name)
            position = int(match.group(1))
            if "optimizer" not in meta or position >= n_positions:
                raise CheckpointError(
                    f"{path}: member {name!r} is optimizer state for parameter {position}, but the "
                    f"meta data describes {n_positions} optimized parameters."
                )
            kind = meta["optimizer"]["type"]
            if match.group(2) not in OPTIMIZERS[kind].arrays:
                raise CheckpointError(
                    f"{path}: member {name!r}: {kind} keeps no {match.group(2)!r}; its arrays "
                    f"are {sorted(OPTIMIZERS[kind].arrays)}."
                )
            fits = shape in shapes
            need = "the shape of a parameter"
        if not fits:
            raise CheckpointError(
                f"{path}: the parameters do not fit the saved architecture: "
                f"{name.removeprefix('param/')} has shape {shape}, the architecture needs {need}."
            )
        if dtype != np.dtype(model["dtype"]):
            raise CheckpointError(
                f"{path}: {name} is {dtype}, but the network is {model['dtype']}."
            )
    arrays: dict[str, dict] = {"param": {}, "optim": {}}
    for name, info in members.items():
        with archive.open(info) as file:
            value = np.lib.format.read_array(file, allow_pickle=False)
        if name.startswith("param/"):
            arrays["param"][name.removeprefix("param/")] = value
        else:
            match = _OPTIMIZER_MEMBER.fullmatch(name)
            arrays["optim"][(int(match.group(1)), match.group(2))] = value
    return arrays
