"""Comparing gradients: one row per tensor, a verdict, and what is wrong, in words.

Everything in the project that puts two gradients side by side goes through here:
`ag.check_backward` (a hand-written backward pass, intermediate by intermediate),
`nn.compare_gradients` (a network's parameter gradients) and `nn.check_backprop` (autodiff
against the closed forms and finite differences). Each comparison is a `Row`; a
`GradientReport` holds the rows, prints them as a table and says which one is the first
wrong one.

Verdicts: "exact" (bit for bit), "agrees to rounding", "wrong", "wrong shape", "not finite"
(the given array holds NaN or inf), "wrong dtype" (integers or booleans, where a gradient is
floating point), "not an array" and "missing".

How "agrees to rounding" is decided. Two correct computations of the same gradient
differ because each rounds differently (REFERENCE: Higham, ch. 3): each op is off by up to
u of its result (u = 2⁻²⁴ in float32, 2⁻⁵³ in float64), sums by up to n·u of the sum of
the magnitudes of their terms, and errors grow along a chain of ops. How large that is
depends on the graph: where terms cancel (a softmax row's gradient sums to ≈ 0), the
rounding error is large next to the result. So, when the graph is known, it is measured
on the graph itself: the forward and backward pass are replayed in the other precision
(float32 ↔ float64, `replay.gradients_in`) and the difference of the two gradients is the
rounding error of the less precise one; scaled by the ratio of the unit roundoffs when the
checked gradient is the more precise one (float64: the float32 difference × 2⁻²⁹). The
allowance is `SAFETY` (16) times that, since another correct order of the same operations
rounds differently but by the same order of magnitude, and one measurement of a short sum
can be lucky; and at least `SAFETY · √m · u` of the largest entry, m the batch size when it
is known (every parameter's gradient is a sum over the batch; the probabilistic bound of
Higham & Mary). Without a graph (two dicts of arrays), the allowance is that bound with n,
the number of entries, standing in for the length of the sums. Below the normal range a
rounding errs by up to half the smallest subnormal η whatever the value, so the bound is at
least `SAFETY · √m · η` (a gradient that vanished to 1e-320 in a deep network is compared to
within a few η, not to 0, where u·max|g| underflows). Either way the row states
the allowance ("rounding allows ≤ 2e-08 in float64 here"). Over 5,600 comparisons of
autodiff with the closed forms on random networks of 1 to 50 units (float64), none is
beyond it, while a factor of 8 or a bound of 2u would call 2 % of them wrong; a float64 bug
of relative size 1e-6 is far above it, and a correct float32 pass far below.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .broadcasting import summed_axes
from .text import printable

SAFETY = 16.0
"""How many times the measured rounding error of one correct computation the allowance is,
and how many √m·u of the largest entry it is at least."""

OK_VERDICTS = ("exact", "agrees to rounding")


_UNIT_ROUNDOFF = {
    np.dtype(t): float(np.finfo(t).eps) / 2 for t in (np.float16, np.float32, np.float64)
}


_SMALLEST_SUBNORMAL = {
    np.dtype(t): float(np.finfo(t).smallest_subnormal) for t in (np.float16, np.float32, np.float64)
}


def unit_roundoff(dtype: Any) -> float:
    """u = 2⁻ᵖ for a float dtype with p bits of mantissa: 2⁻²⁴ float32, 2⁻⁵³ float64."""
    dtype = np.dtype(dtype)
    u = _UNIT_ROUNDOFF.get(dtype)
    if u is None:
        u = float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps) / 2
    return u


def allowance(
    expected: np.ndarray,
    dtype: Any,
    measured: float | None = None,
    scale: float | None = None,
    batch_size: int | None = None,
) -> tuple[float, str]:
    """How far a correct gradient computed in `dtype` may be from `expected` by rounding,
    and the sentence that says so. `measured`: the rounding error found by replaying the
    graph in the other precision (see the module docstring), when the graph is known.
    `scale`: max |expected|, when the caller has it. `batch_size`: m, when known."""
    u = unit_roundoff(dtype)
    if scale is None:
        scale = float(np.abs(expected).max()) if expected.size else 0.0
    name = np.dtype(dtype).name if np.dtype(dtype).kind == "f" else "float64"
    if measured is None:
        n, letter = max(expected.size, 1), "n"
    else:
        n, letter = batch_size or 1, "m"
    bound = SAFETY * math.sqrt(n) * u * scale
    how = f"{SAFETY:g}·√{letter}·u·max|g|" if n > 1 else f"{SAFETY:g}u·max|g|"
    # below the normal range a rounding errs by up to half the smallest subnormal η, not by a
    # fraction of the value: u·max|g| underflows to 0 there, η does not
    eta = _SMALLEST_SUBNORMAL.get(np.dtype(dtype), _SMALLEST_SUBNORMAL[np.dtype(np.float64)])
    if SAFETY * math.sqrt(n) * eta > bound:
        bound = SAFETY * math.sqrt(n) * eta
        how = f"{SAFETY:g}·√{letter}·η, η the smallest subnormal" if n > 1 else f"{SAFETY:g}η"
    allowed = bound
    if measured is not None and SAFETY * measured > bound:
        allowed, how = SAFETY * measured, "measured on this graph"
    return allowed, f"rounding allows ≤ {allowed:.1g} in {name} here ({how})"


# ----------------------------------------------------------------------------------------
# Rows and reports
# ----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One tensor's gradient against the reference.

    name: the tensor's name. op: the op that produced the tensor (None for a leaf or a
    parameter), or, in `gradcheck_graph`, the op whose VJP was checked. gradient_by: the
    ops whose rules pass this tensor's gradient back to it, the ops that use it
    (`check_backward`; "(the loss)" for the loss itself). source: whose gradient was
    compared with the reference ("your gradients",
    "rows", "finite differences"...). verdict: see the module docstring. max_abs_error,
    max_rel_error (relative to the largest reference entry), worst_index: where the two
    differ most (None when the shapes differ). allowed, allowance: the tolerance and the
    sentence stating it. diagnoses: what is wrong, in words.
    """

    name: str
    verdict: str
    expected_shape: tuple[int, ...] | None = None
    actual_shape: tuple[int, ...] | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    worst_index: tuple[int, ...] | None = None
    allowed: float | None = None
    allowance: str = ""
    diagnoses: list[str] = field(default_factory=list)
    op: str | None = None
    source: str = "actual"
    gradient_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS


@dataclass
class GradientReport:
    """Rows of comparisons, in order: print it, check `.ok`, `assert_ok()`, or find the
    `first_wrong` row. With several sources per tensor (`check_backprop`), the table has
    one column of errors per source."""

    rows: list[Row]
    expected_label: str = "expected"
    actual_label: str = "actual"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def first_wrong(self) -> Row | None:
        """The first row that does not agree, in the report's order (None when all agree)."""
        return next((row for row in self.rows if not row.ok), None)

    def row(self, name: str, source: str | None = None) -> Row:
        """The row of the tensor called `name` (of `source`, when there are several)."""
        for row in self.rows:
            if row.name == name and (source is None or row.source == source):
                return row
        names = list(dict.fromkeys(r.name for r in self.rows))
        raise KeyError(f"no row {name!r} in this report; it has {names}")

    def diagnoses(self, name: str) -> list[str]:
        """What was found wrong with one tensor's gradient (empty when it agrees)."""
        return [d for row in self.rows if row.name == name for d in row.diagnoses]

    def assert_ok(self) -> None:
        """Raise AssertionError with the whole report unless every row agrees."""
        if not self.ok:
            raise AssertionError(f"gradients disagree:\n{self}")

    def __str__(self) -> str:
        sources = list(dict.fromkeys(row.source for row in self.rows))
        if len(sources) > 1:
            return self._by_source(sources)
        with_op = any(row.op for row in self.rows)
        by = any(row.gradient_by for row in self.rows)  # then "op" would be ambiguous
        header = ["tensor", *([("made by" if by else "op")] if with_op else [])]
        header += [*(["gradient by"] if by else []), "shape", "verdict", "max abs err"]
        header += ["allowed", "max rel err", "at"]
        body = []
        for row in self.rows:
            cells = [row.name, *([row.op or "(leaf)"] if with_op else [])]
            cells += [*([row.gradient_by or "-"] if by else []), _shape_cell(row)]
            cells += [_mark(row) + " " + row.verdict, _number(row.max_abs_error)]
            cells += [_allowed(row), _number(row.max_rel_error), _index(row.worst_index)]
            body.append(cells)
        table = format_table(header, body).split("\n")  # its cells are printable already
        lines = [f"{self.actual_label} vs {self.expected_label}:", *table]
        for row in self.rows:
            lines += [f"• {row.name}: {d}" for d in row.diagnoses]
        notes = [row.allowance for row in self.rows if row.allowance]
        if notes:
            lines.append(f"(allowed: what rounding may do to a correct gradient; {notes[-1]})")
        lines += self.notes
        return _printed(lines)

    def _by_source(self, sources: list[str]) -> str:
        names = list(dict.fromkeys(row.name for row in self.rows))
        header = ["parameter", "shape", *(f"{s} vs {self.expected_label}" for s in sources), "ok"]
        body = []
        for name in names:
            rows = {row.source: row for row in self.rows if row.name == name}
            first = next(iter(rows.values()))
            cells = [name, _shape_cell(first)]
            cells += [_number(rows[s].max_rel_error) if s in rows else "-" for s in sources]
            body.append([*cells, "✓" if all(r.ok for r in rows.values()) else "✗"])
        lines = [*format_table(header, body).split("\n")]  # its cells are printable already
        lines.append("(errors are max |difference| / max |reference|)")
        for row in self.rows:
            lines += [f"• {row.name} ({row.source}): {d}" for d in row.diagnoses]
        lines += self.notes
        return _printed(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:  # Jupyter shows the same table, as text
        from html import escape

        return f"<pre>{escape(str(self))}</pre>"


def _mark(row: Row) -> str:
    return "✓" if row.ok else "✗"


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def _allowed(row: Row) -> str:
    return "-" if row.allowed is None else f"{row.allowed:.0e}"


def _index(index: tuple[int, ...] | None) -> str:
    return "-" if index is None else str(index)


def _shape_cell(row: Row) -> str:
    if row.expected_shape == row.actual_shape or row.actual_shape is None:
        return str(row.expected_shape)
    return f"{row.actual_shape} ≠ {row.expected_shape}"


def _printed(lines: list[str]) -> str:
    """The report's lines as one text, each through `printable`: a name in a row, a
    diagnosis or a label cannot add a line or reach the terminal as an escape."""
    return "\n".join(printable(line) for line in lines)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header; every
    cell through `printable`, so the columns line up whatever the names hold."""
    lines = [list(map(printable, header)), *(list(map(printable, row)) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(rendered)


# ----------------------------------------------------------------------------------------
# Comparing one array with its reference
# ----------------------------------------------------------------------------------------


@dataclass
class Hints:
    """What the diagnosis may use beyond the two arrays.

    batch_size: m, to recognise a missing or doubled 1/m. others: the reference gradients
    of the other tensors, by name, or a `GradientIndex` of them (an array equal to one of
    them is that tensor's gradient). alternatives: (description, array) pairs, known wrong
    answers for this tensor (a planted mistake, one branch of a fan-out). rule: the op
    table's rule for this gradient, quoted with a transpose. role: "weight" or "bias" of a
    layer, for the book's wording of the classic mistakes. upstream: the name of the
    gradient this one is summed from where the tensor was broadcast (e.g. "dhpreact"), for
    the sum to write.
    """

    batch_size: int | None = None
    others: Mapping[str, np.ndarray] | GradientIndex = field(default_factory=dict)
    alternatives: list[tuple[str, np.ndarray]] = field(default_factory=list)
    rule: str | None = None
    role: str | None = None
    upstream: str | None = None


def compare(
    name: str,
    expected: np.ndarray,
    actual: Any,
    *,
    measured: float | None = None,
    extra: float = 0.0,
    hints: Hints | None = None,
    op: str | None = None,
    source: str = "actual",
    allowed: tuple[float, str] | None = None,
    reference: str = "the reference",
) -> Row:
    """The row comparing `actual` (anything: it is checked) with the reference `expected`.

    measured: the rounding error measured on the graph (see `allowance`). extra: error the
    method of `actual` is allowed on top of rounding (finite differences' truncation).
    allowed: (the allowance, the sentence stating it), decided by the caller instead.
    reference: what `expected` is, in words ("the engine's gradient"), for the diagnoses.
    The same inf at the same place in both agrees there; any other inf, and any NaN, in
    either array, gives the verdict "not finite" (a NaN is never a checked value).
    """
    hints = hints or Hints()
    expected = np.asarray(expected)
    row = Row(name, "wrong", expected.shape, None, op=op, source=source)
    if actual is None:
        row.verdict, row.diagnoses = "missing", ["missing: no gradient was given for it"]
        return row
    if hasattr(actual, "data") and not isinstance(actual, np.ndarray):  # a Tensor
        actual = actual.data
    try:
        actual = np.asarray(actual)
    except (TypeError, ValueError):
        actual = np.array(None)
    if actual.dtype.kind not in "fiub":
        row.verdict = "not an array"
        row.diagnoses = [
            f"it is not an array of numbers ({type(actual).__name__} of dtype {actual.dtype})"
        ]
        return row
    row.actual_shape = actual.shape
    if actual.dtype.kind in "iub":
        row.verdict = "wrong dtype"
        same = actual.shape == expected.shape and np.array_equal(actual, expected)
        row.diagnoses = [
            f"it is an array of {actual.dtype}, where a gradient is floating point (an "
            "integer division, or np.zeros_like of an integer array?)"
            + ("; its values are right" if same else "")
        ]
        return row
    difference = None
    if actual.shape == expected.shape and expected.size:  # one pass finds the worst entry
        with np.errstate(invalid="ignore"):  # inf − inf: NaN, sorted out below
            difference = np.asarray(np.subtract(actual, expected, dtype=np.float64))
        np.abs(difference, out=difference)
        worst = np.unravel_index(int(difference.argmax()), expected.shape)
        row.max_abs_error = float(difference[worst])
    if not (
        math.isfinite(row.max_abs_error)
        if difference is not None
        else _all_finite(actual) and _all_finite(expected)
    ):
        unexplained = _non_finite(row, expected, actual, difference, reference)
        if unexplained:
            return row
        agree = ~np.isfinite(expected)  # the same inf in both: left out from here on
        expected, actual = np.where(agree, 0.0, expected), np.where(agree, 0.0, actual)
        worst = np.unravel_index(int(difference.argmax()), expected.shape)
        row.max_abs_error = float(difference[worst])
    dtype = lower_precision(expected.dtype, actual.dtype)
    scale = _finite_max(expected)
    if allowed is None:
        row.allowed, row.allowance = allowance(expected, dtype, measured, scale, hints.batch_size)
        row.allowed += extra
    else:
        row.allowed, row.allowance = allowed
    if actual.shape == expected.shape:
        if difference is not None:
            row.worst_index = tuple(map(int, worst))
        else:
            row.worst_index, row.max_abs_error = (), 0.0
        row.max_rel_error = row.max_abs_error / scale if scale else row.max_abs_error
        if row.max_abs_error == 0:  # (the reference is finite: equal everywhere)
            row.verdict = "exact"
            return row
        if row.max_abs_error <= row.allowed:
            row.verdict = "agrees to rounding"
            return row
    else:
        row.verdict = "wrong shape"

    close = Closeness(row.allowed)
    row.diagnoses = diagnose(expected, actual, close, hints) or [_fallback(expected, actual)]
    return row


@dataclass(frozen=True)
class Closeness:
    """Whether two arrays are equal to the allowance: same shape, max |a − b| ≤ allowed."""

    allowed: float

    def __call__(self, a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= self.allowed


class GradientIndex:
    """Reference gradients by name, to tell which of them an array equals (to an allowance):
    "it equals the gradient of h". Built once and asked once per wrong row, each question
    compares the array only with the gradients of its shape whose random projection p·g is
    within reach of its own: |p·a − p·b| ≤ ‖p‖₁·max|a − b|, so nothing within the allowance
    is missed, and a report of n rows makes about n comparisons, not n². Gradients holding
    NaN or inf are left out (nothing equals them). `without(key)` leaves out one more (the
    row's own tensor) without copying anything."""

    def __init__(
        self, grads: Mapping[Any, np.ndarray], labels: Mapping[Any, str] | None = None
    ) -> None:
        groups: dict[tuple[int, ...], list[tuple[Any, np.ndarray]]] = {}
        for key, grad in grads.items():
            array = np.asarray(grad)
            if array.size and array.dtype.kind == "f" and np.isfinite(array).all():
                groups.setdefault(array.shape, []).append((key, array))
        self._groups = {shape: _Group(members) for shape, members in groups.items()}
        self._labels = labels
        self._excluded: Any = _NOTHING
        self._count = sum(len(members) for members in groups.values())

    def __len__(self) -> int:
        return self._count

    def without(self, key: Any) -> GradientIndex:
        """The same index without the gradient of `key`."""
        view = copy.copy(self)
        view._excluded = key
        return view

    def matching(self, actual: np.ndarray, close: Any, limit: int = 3) -> list[str]:
        """The labels of (at most `limit`) gradients that `actual` equals by `close`."""
        group = self._groups.get(actual.shape)
        if group is None or actual.dtype.kind != "f" or not np.isfinite(actual).all():
            return []
        allowed = getattr(close, "allowed", None)
        candidates = group.near(actual, allowed) if allowed is not None else group.everything()
        found = []
        for i in candidates:
            key = group.keys[i]
            if key != self._excluded and close(actual, group.arrays[i]):
                found.append(str(key if self._labels is None else self._labels[key]))
                if len(found) == limit:
                    break
        return found


_NOTHING = object()


class _Group:
    """The gradients of one shape, sorted by their projection on one random vector."""

    def __init__(self, members: list[tuple[Any, np.ndarray]]) -> None:
        size = members[0][1].size
        self.direction = np.random.default_rng(size).uniform(-1.0, 1.0, size)
        self.reach = float(np.abs(self.direction).sum())
        projections = np.array([self._project(array) for _, array in members])
        self.magnitude = max(self._magnitude(array) for _, array in members)
        order = np.argsort(projections, kind="stable")
        self.projections = projections[order]
        self.keys = [members[i][0] for i in order]
        self.arrays = [members[i][1] for i in order]

    def _project(self, array: np.ndarray) -> float:
        return float(np.asarray(array, dtype=np.float64).reshape(-1) @ self.direction)

    def _magnitude(self, array: np.ndarray) -> float:
        return float(
            np.abs(np.asarray(array, dtype=np.float64)).reshape(-1) @ np.abs(self.direction)
        )

    def near(self, actual: np.ndarray, allowed: float) -> range:
        """Where the gradients within `allowed` of `actual` (max |difference|) may be; the
        window also covers the rounding of the projections themselves (REFERENCE §6:
        γₙ·Σ|aᵢ||pᵢ| each)."""
        centre = self._project(actual)
        rounding = 4 * self.direction.size * _UNIT_ROUNDOFF[np.dtype(np.float64)]
        slack = allowed * self.reach + rounding * (self._magnitude(actual) + self.magnitude)
        lo = int(np.searchsorted(self.projections, centre - slack, side="left"))
        hi = int(np.searchsorted(self.projections, centre + slack, side="right"))
        return range(lo, hi)

    def everything(self) -> range:
        return range(len(self.keys))


def _all_finite(array: np.ndarray) -> bool:
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


def _finite_max(array: np.ndarray) -> float:
    """max |entry| over the finite entries (0 when there is none)."""
    if not array.size:
        return 0.0
    with np.errstate(invalid="ignore"):
        largest = float(np.max(np.abs(array)))
    if math.isfinite(largest):
        return largest
    finite = np.abs(array[np.isfinite(array)])
    return float(finite.max()) if finite.size else 0.0


def _non_finite(
    row: Row,
    expected: np.ndarray,
    actual: np.ndarray,
    difference: np.ndarray | None,
    reference: str,
) -> bool:
    """NaN or inf in either array. Where both hold the same inf, they agree:
    `difference` (|actual − expected|, when the shapes are equal) is set to 0 there, and
    False is returned when that is all. Otherwise the row gets the verdict "not finite",
    says where and whose, and True is returned."""
    bad_actual = ~np.isfinite(actual) if actual.dtype.kind == "f" else np.zeros(actual.shape, bool)
    bad_expected = ~np.isfinite(expected)
    if difference is not None:
        agreeing = bad_actual & bad_expected & (actual == expected)  # the same inf (NaN ≠ NaN)
        difference[agreeing] = 0.0
        bad_actual, bad_expected = bad_actual & ~agreeing, bad_expected & ~agreeing
        if not (bad_actual.any() or bad_expected.any()):
            return False
    row.verdict, row.max_abs_error = "not finite", None
    if bad_actual.any():
        bad = tuple(int(i) for i in np.argwhere(bad_actual)[0])
        there = f", where {reference} holds {expected[bad]:.6g}" if difference is not None else ""
        row.diagnoses = [
            f"it holds {actual[bad]} at {bad}{there} ({int(bad_actual.sum())} of "
            f"{actual.size} entries are NaN or inf)"
        ]
    else:
        bad = tuple(int(i) for i in np.argwhere(bad_expected)[0])
        this = f", where this one holds {actual[bad]:.6g}" if difference is not None else ""
        row.diagnoses = [
            f"{reference} holds {expected[bad]} at {bad}{this}; {int(bad_expected.sum())} of "
            f"its {expected.size} entries are NaN or inf, so it cannot be compared there (the "
            "function has no finite derivative at that point, or a NaN reached it)"
        ]
    return True


CONVENTIONS = ("rows", "columns")
"""The layouts gradients may be given in: the engine's rows (one example per row, W as
in × out) or Nielsen's columns (one example per column, w = Wᵀ as out × in)."""


def to_rows(value: Any, shape: tuple[int, ...]) -> Any:
    """A gradient in Nielsen's column layout turned into the engine's row layout for a tensor
    of `shape`: every 2-D array transposed (w → W, δ → Δ), a column (n, 1) read as (n,).
    Anything that is not an array of numbers is returned as it is (compare says so)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return value
    if array.dtype.kind not in "fiub":
        return value
    if array.ndim == 2 and len(shape) == 1 and array.shape == (shape[0], 1):
        return array.reshape(shape)
    return array.T if array.ndim == 2 else array


def lower_precision(*dtypes: np.dtype) -> np.dtype:
    """The float dtype with the fewest bits among these (float64 when none is a float)."""
    lowest = None
    for dtype in dtypes:
        if dtype.kind == "f" and (lowest is None or dtype.itemsize < lowest.itemsize):
            lowest = dtype
    return np.dtype(np.float64) if lowest is None else lowest


def _fallback(expected: np.ndarray, actual: np.ndarray) -> str:
    if actual.shape != expected.shape:
        return (
            f"its shape is {actual.shape} where {expected.shape} is needed; no known mistake fits"
        )
    worst = np.unravel_index(int(np.argmax(np.abs(actual - expected))), expected.shape)
    index = tuple(int(i) for i in worst)
    return (
        f"no known mistake explains it; the largest difference is at {index}: expected "
        f"{expected[worst]:.6g}, got {actual[worst]:.6g}"
    )


# ----------------------------------------------------------------------------------------
# Diagnoses
# ----------------------------------------------------------------------------------------


def diagnose(
    expected: np.ndarray, actual: np.ndarray, close: Any, hints: Hints, depth: int = 0
) -> list[str]:
    """Sentences naming the mistakes that explain `actual` exactly (to rounding)."""
    found: list[str] = []
    m = hints.batch_size
    if actual.shape == expected.shape:
        if close(actual, -expected):
            found.append("the sign is flipped: it points uphill; (y − a) where (a − y) belongs?")
        ratio = constant_ratio(actual, expected)
        if ratio is not None and not np.isclose(ratio, 1) and not np.isclose(ratio, -1):
            found.append(_describe_factor(ratio, m))
        found += _one_hot_messages(expected, actual, close, m)
        if actual.ndim == 2 and actual.shape[0] == actual.shape[1] and close(actual.T, expected):
            found.append(_transpose_message(actual.shape, expected.shape, hints))
    elif actual.ndim == 2 and actual.shape[::-1] == expected.shape:
        if close(actual.T, expected):
            found.append(_transpose_message(actual.shape, expected.shape, hints))
        elif depth == 0:
            inner = diagnose(expected, actual.T, close, hints, depth + 1)
            found += [
                f"it has the transposed shape {actual.shape}, and after transposing: {d}"
                for d in inner
            ]
    else:
        found += _broadcast_messages(expected, actual, close, hints, depth)
    reshaped = actual.size == expected.size and actual.shape != expected.shape
    if not found and reshaped and close(actual.reshape(expected.shape), expected):
        found.append(
            f"the numbers are right but the shape is {actual.shape}: {expected.shape} is needed"
        )
    if not found and len(hints.others):
        others = hints.others
        index = others if isinstance(others, GradientIndex) else GradientIndex(others)
        found += [
            f"it equals the gradient of {other}: {_swapped(hints)}"
            for other in index.matching(actual, close)
        ]
    if actual.shape == expected.shape:
        for description, array in hints.alternatives:
            if array.shape == actual.shape and close(actual, array):
                found.append(description)
    return found


def _swapped(hints: Hints) -> str:
    if hints.role in ("weight", "bias"):
        return (
            "the layers are in the wrong order (backprop produces the last layer first; "
            "reverse your list)"
        )
    return "the arrays are given under each other's names"


def constant_ratio(actual: np.ndarray, expected: np.ndarray) -> float | None:
    if not expected.size:
        return None
    mask = np.abs(expected) > 1e-12 * (np.abs(expected).max() or 1)
    if not mask.any() or np.any(np.abs(actual[~mask]) > 1e-9 * (np.abs(actual).max() or 1)):
        return None
    ratios = actual[mask] / expected[mask]
    ratio = float(np.median(ratios))
    tolerance = 1e-3 if np.float32 in (actual.dtype, expected.dtype) else 1e-6
    return ratio if np.allclose(ratios, ratio, rtol=tolerance) else None


def _describe_factor(ratio: float, m: int | None) -> str:
    if m and m > 1 and np.isclose(ratio, m, rtol=1e-3):
        return (
            f"it is m = {m} times too large: the 1/m of the mean over the batch is missing "
            "(the cost is a mean over the m examples, so every gradient below it carries a 1/m)"
        )
    if m and m > 1 and np.isclose(ratio, 1 / m, rtol=1e-3):
        return (
            f"it is m = {m} times too small: the 1/m is applied twice "
            "(once in ∇_A C = (A − Y)/m, and once more after the sum)"
        )
    if np.isclose(ratio, 2, rtol=1e-3):
        return "it is 2 times too large: the ½ of C = ½‖a − y‖² cancels the 2 of the square"
    if np.isclose(ratio, 0.5, rtol=1e-3):
        return "it is half the right value: did you write ½ twice, or forget the 2 of the square?"
    if ratio == 0:
        return "it is all zeros: nothing was passed back to it (a missing +=, or a branch cut?)"
    return f"it is off by a constant factor {ratio:.6g}"


def _transpose_message(actual: tuple, expected: tuple, hints: Hints) -> str:
    if actual == expected:
        message = (
            f"it is the transpose of the right gradient (a square {actual[0]} × {actual[1]} "
            "matrix, so its shape is right but its entries are mirrored across the diagonal)"
        )
    else:
        message = (
            f"it is the transpose of the right gradient (shape {actual} where {expected} is needed)"
        )
    if hints.role == "weight":
        return message + (
            ": in the row convention ∂C/∂W = A_prevᵀ @ Δ has shape (n_in, n_out); "
            "Δᵀ @ A_prev, like Nielsen's δ aᵀ with w = Wᵀ, gives its transpose"
        )
    if hints.rule:
        return message + f": the rule is {hints.rule}"
    return message


def _broadcast_messages(
    expected: np.ndarray, actual: np.ndarray, close: Any, hints: Hints, depth: int
) -> list[str]:
    """The right numbers in a shape with extra or missing size-1 axes ((1, n) for (n,)), or
    the gradient of a broadcast input not summed back: it has the stretched shape ((m, n)
    for a bias (n,) or (1, n) added to every row), or one column per example ((n, m))."""
    if not expected.size or not actual.size:
        return []
    if actual.size == expected.size:
        if close(actual.reshape(expected.shape), expected):
            keepdims = "keepdims=False" if actual.ndim > expected.ndim else "keepdims=True"
            kind = (
                "a column"
                if actual.ndim == 2 and actual.shape[1] == 1
                else "a row"
                if actual.ndim == 2 and actual.shape[0] == 1
                else "of shape"
            )
            return [
                f"the values are right but it is {kind} {actual.shape}; the tensor and its "
                f"gradient have shape {expected.shape} (a size-1 axis too many or too few: "
                f"{keepdims} in the sum, or .reshape({expected.shape}))"
            ]
        return []
    try:
        stretched = np.broadcast_shapes(expected.shape, actual.shape)
    except ValueError:
        stretched = None
    if stretched == actual.shape:
        return _sum_messages(
            expected, actual, summed_axes(expected.shape, actual.shape), close, hints, depth
        )
    if expected.ndim == 1 and actual.ndim == 2 and actual.shape[0] == expected.shape[0]:
        return _sum_messages(expected, actual, (1,), close, hints, depth)  # one column each
    return []


def _sum_messages(
    expected: np.ndarray,
    actual: np.ndarray,
    axes: tuple[int, ...],
    close: Any,
    hints: Hints,
    depth: int,
) -> list[str]:
    where = "axis " + ", ".join(map(str, axes))
    layout = (
        "one row per example"
        if axes == (0,)
        else "one column per example"
        if axes == (1,) and expected.ndim == 1
        else f"the broadcast {where} kept"
    )
    summed = actual.sum(axis=axes).reshape(expected.shape)
    count = actual.size // expected.size
    keepdims = ", keepdims=True" if expected.ndim == actual.ndim else ""
    what = "Δ" if hints.role == "bias" else hints.upstream or "it"
    total = f"{what}.sum(axis={_axis_text(axes)}{keepdims})"
    if close(summed, expected):
        if hints.role == "bias":
            return [
                f"it is the error Δ itself, {layout} (shape {actual.shape}): a bias is "
                f"broadcast over the batch, so its gradient is the sum over the batch: "
                f"{total} → {expected.shape}"
            ]
        return [
            f"it is not summed over the broadcast {where}: the tensor, of shape "
            f"{expected.shape}, was stretched to {actual.shape} in the forward pass (used "
            f"once per row), so its gradient is the sum of those uses: {total} → "
            f"{expected.shape}"
        ]
    if close(summed / count, expected):
        return [
            f"it is an error term {layout} (shape {actual.shape}) that lacks the batch's 1/m: "
            f"its mean over {where} is right; the sum {total} of an error that carries "
            f"the 1/m (Δ = ∇_A C ⊙ σ′(Z), ∇_A C = (A − Y)/m) → {expected.shape}"
        ]
    if depth == 0 and count > 1:
        inner = diagnose(expected, summed, close, hints, depth + 1)
        return [
            f"it is not summed over the broadcast {where} ({layout}, shape {actual.shape}; "
            f"use {total}), and after summing: {d}"
            for d in inner
        ]
    return []


def _one_hot_messages(
    expected: np.ndarray, actual: np.ndarray, close: Any, m: int | None
) -> list[str]:
    """The gradient of softmax cross-entropy written without (or with twice) its one-hot
    term: it differs from the right one by the same c at exactly one place in every row."""
    if actual.ndim != 2 or actual.shape[1] < 2 or close(actual, expected):
        return []
    difference = actual - expected
    places = np.argmax(np.abs(difference), axis=1)
    rows = np.arange(len(difference))
    c = difference[rows, places]
    rest = difference.copy()
    rest[rows, places] = 0
    if not (np.allclose(c, c[0], rtol=1e-6, atol=0) and close(rest, np.zeros_like(rest))):
        return []
    scale = f"1/m = 1/{m}" if m and np.isclose(abs(c[0]), 1 / m, rtol=1e-6) else f"{abs(c[0]):.4g}"
    if c[0] > 0:
        return [
            f"it is {scale} too large at exactly one place in every row (columns "
            f"{places[:6].tolist()}{'…' if len(places) > 6 else ''}): the one-hot term is "
            "missing — softmax cross-entropy's gradient is (softmax(z) − onehot(y)) / m, so "
            "the −1 at each row's label (divided by m) must be subtracted"
        ]
    return [
        f"it is {scale} too small at exactly one place in every row (columns "
        f"{places[:6].tolist()}{'…' if len(places) > 6 else ''}): the one-hot term is "
        "subtracted twice (or with the wrong scale) — (softmax(z) − onehot(y)) / m has one −1/m "
        "per row, at the label"
    ]


def _axis_text(axes: tuple[int, ...]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(axes)
