"""What to draw as one box: `plan(snapshot, max_nodes, group_modules)`.

Each op, leaf and constant gets a box of its own, unless there are more than `max_nodes`:
then whole modules (the recording scopes), or runs of a repeated op pattern, are collapsed
into one box each, and if that is still too many, only the boxes nearest the roots are kept
(at most WIDEST_JOIN inputs of each: a `stack` of 20,000 tensors shows 32 and one box for
the rest, with one arrow from it).
`dot`'s layout time grows faster than the number of boxes, so a big graph needs a summary,
not a bigger timeout. The stepper page steps through a collapsed box as one step.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from ..engine import Tensor
from .graph import Snapshot

DEEPEST_MODULE = 12
"""Module scopes count at most this deep: a box groups the modules nested deeper with their
enclosing module at this depth, and the drawing's clusters nest no deeper."""

WIDEST_JOIN = 32
"""A truncated drawing keeps at most this many of one box's inputs (e.g. of a `stack` of
20,000 tensors); the others go into the box of what is not drawn."""


@dataclass
class Unit:
    """One box of the drawing: a single op or leaf or constant, or a collapsed group of ops."""

    key: str
    members: list[Any]  # Tensors (ops and leaves) and Constants drawn as this box
    title: str | None = None  # set for collapsed groups
    scope: tuple[str, ...] = ()  # the cluster it is drawn in
    grouped_by: tuple[str, ...] = ()  # for a module's box: that module's scope

    @property
    def collapsed(self) -> bool:
        return self.title is not None


@dataclass
class Plan:
    units: list[Unit]
    unit_of: dict[int, Unit]  # id(member) → its unit
    note: str | None  # how the graph was collapsed, for the graph's label


def plan(snap: Snapshot, max_nodes: int, group_modules: bool) -> Plan:
    """Units for the drawing: one per op/leaf/constant, or collapsed to at most max_nodes."""
    n_items = len(snap.ops) + len(snap.leaves) + len(snap.constants)
    if n_items <= max_nodes:
        return _single_units(snap, group_modules)
    depth = min(max((len(t.node.scope) for t in snap.ops), default=0), DEEPEST_MODULE)
    root_ids = {id(r) for r in snap.roots}
    for level in range(depth, 0, -1):  # the finest module grouping that fits
        grouped = _grouped(snap, lambda t, level=level: _module_key(t, level), "modules", root_ids)
        if len(grouped.units) <= max_nodes:
            grouped.note = (
                f"collapsed: {len(snap.ops):,} ops drawn as {len(grouped.units):,} boxes, one per "
                f"module at depth {level} (max_nodes={max_nodes})"
            )
            return grouped
    runs = _grouped(snap, _run_keys(snap), "runs", root_ids)
    if len(runs.units) <= max_nodes:
        runs.note = (
            f"collapsed: {len(snap.ops):,} ops drawn as {len(runs.units):,} boxes, runs of "
            f"repeated ops as one box each (max_nodes={max_nodes})"
        )
        return runs
    return _truncated(runs, snap, max_nodes)


def _single_units(snap: Snapshot, group_modules: bool) -> Plan:
    units, unit_of = [], {}
    for i, tensor in enumerate(snap.ops):
        unit = Unit(f"op{i}", [tensor], scope=tensor.node.scope if group_modules else ())
        units.append(unit)
        unit_of[id(tensor)] = unit
    for i, leaf in enumerate(snap.leaves):
        scope = _shared_scope(snap.consumers.get(id(leaf), [])) if group_modules else ()
        unit = Unit(f"leaf{i}", [leaf], scope=scope)
        units.append(unit)
        unit_of[id(leaf)] = unit
    for i, constant in enumerate(snap.constants):
        scope = constant.consumer.node.scope if group_modules else ()
        unit = Unit(f"const{i}", [constant], scope=scope)
        units.append(unit)
        unit_of[id(constant)] = unit
    return Plan(units, unit_of, None)


def _shared_scope(ops: list[Tensor]) -> tuple[str, ...]:
    """The deepest scope that contains every op in `ops` (a leaf sits with its users)."""
    if not ops:
        return ()
    scopes = [t.node.scope for t in ops]
    common = scopes[0]
    for scope in scopes[1:]:
        n = 0
        while n < min(len(common), len(scope)) and common[n] == scope[n]:
            n += 1
        common = common[:n]
    return common


def _module_key(tensor: Tensor, level: int) -> tuple[str, ...] | None:
    scope = tensor.node.scope
    return None if len(scope) < level else scope[:level]


def _run_keys(snap: Snapshot):
    """Keys grouping chains of a repeated op pattern, e.g. (linear → sigmoid) × 64."""
    position = {id(t): i for i, t in enumerate(snap.ops)}
    key_of: dict[int, str] = {}
    ops = snap.ops
    i = 0
    while i < len(ops):
        chain = [ops[i]]
        while True:  # extend while the next op is fed only by the previous one in the chain
            last = chain[-1]
            users = snap.consumers.get(id(last), [])
            if len(users) != 1 or position[id(users[0])] != position[id(last)] + 1:
                break
            chain.append(users[0])
        names = [t.node.op.name for t in chain]
        start = 0
        while start < len(chain):
            period, repeats = _repetition(names, start)
            if repeats >= 3:
                label = "run:" + str(position[id(chain[start])])
                for t in chain[start : start + period * repeats]:
                    key_of[id(t)] = label
                start += period * repeats
            else:
                start += 1
        i += len(chain)
    return lambda t: key_of.get(id(t))


def _repetition(names: list[str], start: int, longest: int = 8) -> tuple[int, int]:
    """The period (≤ longest) that repeats most often from `start`, and how often."""
    best = (1, 1)
    for period in range(1, longest + 1):
        pattern = names[start : start + period]
        if len(pattern) < period:
            break
        repeats = 1
        while names[start + repeats * period : start + (repeats + 1) * period] == pattern:
            repeats += 1
        if repeats * period > best[0] * best[1] and repeats >= 2:
            best = (period, repeats)
    return best


def _grouped(snap: Snapshot, key, kind: str, root_ids: set[int]) -> Plan:
    units: list[Unit] = []
    unit_of: dict[int, Unit] = {}
    groups: dict[Any, Unit] = {}
    for i, tensor in enumerate(snap.ops):
        group = key(tensor)
        follower_of = (
            None if group is not None or id(tensor) in root_ids else _follows(tensor, snap, unit_of)
        )
        if follower_of is not None:  # e.g. a layer's activation: drawn inside the layer's box
            follower_of.members.append(tensor)
            unit_of[id(tensor)] = follower_of
            continue
        if group is None:
            unit = Unit(
                f"op{i}", [tensor], scope=tensor.node.scope[:1] if kind == "modules" else ()
            )
        elif group in groups:
            groups[group].members.append(tensor)
            unit_of[id(tensor)] = groups[group]
            continue
        else:
            grouped_by = group if kind == "modules" else ()
            unit = groups[group] = Unit(
                f"group{len(groups)}", [tensor], title="", grouped_by=grouped_by
            )
        units.append(unit)
        unit_of[id(tensor)] = unit

    def place(member: Any, key: str, owner: Unit | None) -> None:
        """Into its only user's collapsed box, else a box of its own."""
        if owner is not None and owner.collapsed:
            owner.members.append(member)
            unit_of[id(member)] = owner
        else:
            unit = Unit(key, [member])
            units.append(unit)
            unit_of[id(member)] = unit

    for i, leaf in enumerate(snap.leaves):
        owners = {id(unit_of[id(t)]): unit_of[id(t)] for t in snap.consumers.get(id(leaf), [])}
        place(leaf, f"leaf{i}", next(iter(owners.values())) if len(owners) == 1 else None)
    for i, constant in enumerate(snap.constants):
        place(constant, f"const{i}", unit_of[id(constant.consumer)])
    for unit in groups.values():
        unit.title = _group_title(unit, kind)
    return Plan(units, unit_of, None)


def _follows(tensor: Tensor, snap: Snapshot, unit_of: dict[int, Unit]) -> Unit | None:
    """The collapsed group an op belongs with when it only transforms that group's output
    (its one recorded input comes from the group, and nothing else uses that input) and it
    was recorded in an enclosing module's scope."""
    recorded = [x for x in tensor.node.inputs if isinstance(x, Tensor) and x.node is not None]
    if len(recorded) != 1 or len(snap.consumers.get(id(recorded[0]), [])) != 1:
        return None
    group = unit_of.get(id(recorded[0]))
    if group is None or not group.collapsed:
        return None
    scope, inner = tensor.node.scope, recorded[0].node.scope
    return group if scope and len(scope) < len(inner) and inner[: len(scope)] == scope else None


def _group_title(unit: Unit, kind: str) -> str:
    ops = [m for m in unit.members if isinstance(m, Tensor) and m.node is not None]
    n_params = sum(1 for m in unit.members if isinstance(m, Tensor) and m.node is None)
    if kind == "modules":
        heading = unit.grouped_by[-1]
    else:
        names = [t.node.op.name for t in ops]
        period, repeats = _repetition(names, 0)
        pattern = " → ".join(names[:period])
        heading = f"({pattern}) × {repeats}" if period > 1 else f"{pattern} × {repeats}"
    counts = Counter(t.node.op.name for t in ops)
    detail = ", ".join(f"{n} {name}" for name, n in counts.most_common(4))
    extra = f", {n_params} parameter{'s' * (n_params != 1)}" if n_params else ""
    return f"{heading}\n{len(ops)} ops ({detail}){extra}"


def _truncated(runs: Plan, snap: Snapshot, max_nodes: int) -> Plan:
    """Too many boxes even collapsed: keep those nearest the roots, breadth first, at most
    WIDEST_JOIN inputs of each box, and one box saying how many are not drawn (the roots
    are always kept)."""
    inputs_of: dict[int, dict[int, Unit]] = {}  # id(unit) → its input units, in order
    for edge in snap.edges:
        source = runs.unit_of[id(edge.source)]
        inputs_of.setdefault(id(runs.unit_of[id(edge.target)]), {})[id(source)] = source
    keep: dict[int, Unit] = {}
    frontier = deque(runs.unit_of[id(root)] for root in snap.roots)
    while frontier and len(keep) < max_nodes - 1:
        unit = frontier.popleft()
        if id(unit) not in keep:
            keep[id(unit)] = unit
            inputs = inputs_of.get(id(unit), {}).values()
            frontier.extend(itertools.islice(inputs, WIDEST_JOIN))
    dropped = [u for u in runs.units if id(u) not in keep]
    n_ops = sum(1 for u in dropped for m in u.members if isinstance(m, Tensor) and m.node)
    rest = Unit("rest", [], title=f"… {len(dropped):,} more boxes ({n_ops:,} ops) not drawn")
    unit_of = {key: unit if id(unit) in keep else rest for key, unit in runs.unit_of.items()}
    note = (
        f"truncated: {len(snap.ops):,} ops; the {len(keep):,} boxes nearest the output are "
        f"drawn (at most {WIDEST_JOIN} inputs of each), the other {len(dropped):,} as one box "
        f"(max_nodes={max_nodes})"
    )
    return Plan([*keep.values(), rest], unit_of, note)
