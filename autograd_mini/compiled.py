"""`compile(fn)`: a training step run as the numpy code `backward_code` prints.

    step = ag.compile(lambda X, Y: ag.quadratic_cost(model(X), Y))
    loss = step(X_batch, Y_batch)   # the loss, and .grad filled as loss.backward() fills it

The first call with arguments of some shapes and dtypes traces `fn`: it runs it eagerly,
records the graph, prints the graph's code (`code.program`) and `exec`s it. Every later call
with arguments of the same shapes and dtypes runs that code alone: no recording, no graph,
one numpy line per formula, the speed of hand-written numpy. New shapes or dtypes (the
smaller last batch of an epoch) trace again. `step.source` is the code it runs.

As with `jax.jit`, what `fn` decides in Python is fixed when it is traced: an `if` on the
values of its arguments takes the branch it took then, and an array `fn` makes from them with
numpy keeps the values it had. What the trace sees of that is refused (`CompileError`): an
op on an argument that records nothing (none of its inputs requires grad), or a numpy view
of part of one; `X.T` of an argument is written as such. The arguments are read
where `fn` hands them to ops; the parameters (every leaf that requires grad) are read at each
call, so an optimizer's updates between calls are seen, and so is a new array given to a
parameter (`p.data = ...`; one of another shape or dtype traces again). The tensors are the
ones the trace met: a model given other layers or parameter tensors needs a new `compile`.
Numbers and other arguments that are not arrays are part of what a trace is for: a new value
traces again. A graph that draws random numbers (dropout) is refused: its trace would reuse
the first call's draw.
"""

from __future__ import annotations

import builtins
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .code import Program, program
from .engine import Tensor, backward_order
from .errors import AutogradError
from .inplace import lean
from .recording import Observer, enable_grad, observe


class CompileError(AutogradError, TypeError):
    """`compile`: a function whose result cannot be run as code (not a recorded loss)."""


class _RetraceError(Exception):
    """A trace's code no longer fits the tensors it reads: trace again."""


class _Trace:
    """The code of one trace: the function exec'd from its source, and where each of its
    arguments comes from at a call (the k-th argument of the call, a parameter's `.data`,
    or a constant kept from the trace)."""

    def __init__(self, built: Program, arguments: tuple) -> None:
        """built: the printed code of the traced graph; arguments: the traced call's."""
        self.program = built
        given = {id(a if not isinstance(a, Tensor) else a.data): k for k, a in enumerate(arguments)}
        given |= {id(a): k for k, a in enumerate(arguments)}
        self.sources: list[tuple[str, Any]] = []
        self.parameters: list[tuple[Tensor, str, int | None]] = []  # (tensor, key, argument)
        for argument in built.arguments:
            value = argument.value
            array = value.data if isinstance(value, Tensor) else value
            if argument.parameter:  # a Tensor that requires grad: an argument only as itself
                k = given.get(id(value))
            else:  # an array or constant Tensor: the argument, or the array of one
                k = given.get(id(value), given.get(id(array)))
            if k is not None:
                self.sources.append(("argument", k))
            elif isinstance(value, Tensor):
                self.sources.append(("tensor", value))
            else:
                self.sources.append(("constant", value))
            if argument.parameter:
                self.parameters.append((value, argument.key, k))
        self.faithful_function: Callable | None = None  # made at its first use
        values = self.values(arguments)
        self.source, expected = lean(built.source, built.name, values, {})
        del values
        self.function = _function(self.source, built.name)
        with np.errstate(**built.errstate):
            got = self.function(*self.values(arguments))
        if not _same(expected, got):  # the lean code must compute the printed code's bits
            self.source, self.function = built.source, _function(built.source, built.name)
            with np.errstate(**built.errstate):
                got = self.function(*self.values(arguments))
        seen = {id(v) for v in self.values(arguments)}  # what the caller holds: copied
        self.copies = []  # per parameter: whether its gradient needs a copy of its own
        for parameter, key, _ in self.parameters:
            g = got[1][key]
            self.copies.append(not _owned(g, parameter.dtype) or id(g) in seen)
            seen.add(id(g))
        self.traced = {  # the shape and dtype of each tensor's array the code was made for
            k: (source.data.shape, source.data.dtype)
            for k, (kind, source) in enumerate(self.sources)
            if kind == "tensor"
        }
        self.run = self.runner(arguments)

    def runner(self, arguments: tuple) -> Callable:
        """`run(*arguments) -> (loss, {parameter: gradient})`, written out for this trace:
        which argument goes where, and which gradients need a copy to be arrays of their
        own (a view, or one shared by two parameters: the code does the same each call).
        It first checks that each parameter's `.data` is the array it was written for."""
        namespace: dict[str, Any] = {"step": self.function, "np": np, "stale": self.stale}
        namespace["faithful"] = self.faithful
        values, guards = [], []
        for k, (kind, source) in enumerate(self.sources):
            if kind == "argument":
                values.append(
                    f"a{source}.data" if isinstance(arguments[source], Tensor) else f"a{source}"
                )
            else:
                namespace[f"v{k}"] = source
                values.append(f"v{k}.data" if kind == "tensor" else f"v{k}")
            if kind == "tensor":
                namespace[f"e{k}"] = source.data
                guards.append(f"v{k}.data is not e{k}")
        entries = []
        for j, (parameter, key, k) in enumerate(self.parameters):
            copy = self.copies[j]
            namespace[f"p{j}"], namespace[f"k{j}"] = parameter, key
            owner = f"p{j}" if k is None else f"a{k}"  # an argument: this call's Tensor
            entries.append(
                f"{owner}: np.array(g[k{j}], dtype={owner}.dtype)" if copy else f"{owner}: g[k{j}]"
            )
        given = ", ".join(f"a{k}" for k in range(len(arguments)))
        call = f"loss, g = step({', '.join(values)})"
        if self.program.errstate:
            # The code runs with numpy raising on what the formulas silence (sigmoid's
            # overflow); where that happens it runs again as the code that keeps each
            # formula's errstate block, so numpy warns and raises where the engine does.
            raised = ", ".join(f"{k}='raise'" for k in self.program.errstate)
            again = call.replace("step(", "faithful(", 1)
            call = (
                f"try:\n        with np.errstate({raised}):\n            {call}\n"
                f"    except FloatingPointError:\n        {again}"
            )
        if guards:
            call = f"if {' or '.join(guards)}:\n        return stale({given})\n    {call}"
        source = f"def run({given}):\n    {call}\n    return loss, {{{', '.join(entries)}}}\n"
        exec(builtins.compile(source, "<compiled run>", "exec"), namespace)
        return namespace["run"]

    def faithful(self, *values: Any) -> tuple[Any, dict[str, Any]]:
        """The printed code with each formula's errstate block kept (`Program.faithful`)."""
        if self.faithful_function is None:
            self.faithful_function = _function(self.program.faithful, self.program.name)
        return self.faithful_function(*values)

    def stale(self, *arguments: Any) -> tuple[Any, dict[Tensor, np.ndarray]]:
        """A call after a tensor's `.data` was replaced (`p.data = ...`): an array of the
        shape and dtype the code was made for is taken (the runner is written again for
        it); another shape or dtype needs a new trace."""
        for k, (shape, dtype) in self.traced.items():
            data = self.sources[k][1].data
            if not isinstance(data, np.ndarray) or (data.shape, data.dtype) != (shape, dtype):
                raise _RetraceError
        self.run = self.runner(arguments)
        return self.run(*arguments)

    def values(self, arguments: tuple) -> list:
        """The values of the function's arguments at a call with `arguments`."""
        values = []
        for kind, source in self.sources:
            if kind == "argument":
                given = arguments[source]
                values.append(given.data if isinstance(given, Tensor) else given)
            elif kind == "tensor":
                values.append(source.data)
            else:
                values.append(source)
        return values


def _signature(fn: Callable) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


def _function(source: str, name: str) -> Callable:
    namespace: dict[str, Any] = {}
    exec(builtins.compile(source, f"<compiled {name}>", "exec"), namespace)
    return namespace[name]


def _same(a: Any, b: Any) -> bool:
    """Whether two results (loss, {name: gradient}) are the same arrays, to the bit."""
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    if grads_a.keys() != grads_b.keys():
        return False
    pairs = [(loss_a, loss_b), *((grads_a[k], grads_b[k]) for k in grads_a)]
    return all(
        np.shape(x) == np.shape(y)
        and np.asarray(x).dtype == np.asarray(y).dtype
        and np.asarray(x).tobytes() == np.asarray(y).tobytes()
        for x, y in pairs
    )


def _owned(g: Any, dtype: np.dtype) -> bool:
    """Whether g is a new array of its own (not a view, not read-only) of `dtype`."""
    return type(g) is np.ndarray and g.flags.owndata and g.flags.writeable and g.dtype == dtype


def _key(arguments: tuple) -> tuple:
    """What a trace is for: each array's shape and dtype (and a boolean mask's number of
    True values, which shapes what it selects), each other argument's value (a float's
    bits: -0.0 is not 0.0, and a NaN is itself), each Tensor that requires grad itself (the
    function may also read it where it is: one trace per parameter), and which arguments
    are one object."""
    quick = []  # the common case, quickly: distinct arrays, none boolean
    for a in arguments:
        if type(a) is not np.ndarray or a.dtype.kind == "b":
            break
        quick.append((a.shape, a.dtype))
    else:
        if len(arguments) < 2 or len({id(a) for a in arguments}) == len(arguments):
            return tuple(quick)
    ids = [id(a.data) if isinstance(a, Tensor) else id(a) for a in arguments]
    shared = () if len(set(ids)) == len(ids) else tuple(ids.index(i) for i in ids)
    key: list[Any] = [shared]
    for k, a in enumerate(arguments):
        if isinstance(a, Tensor) and a.node is not None:
            raise CompileError(
                f"compile: argument {k} is a Tensor computed by recorded ops (it has a graph); "
                "the trace would keep the ops that made it, not this call's. Pass the tensors "
                "it is made from and compute it inside the function, or pass a.detach()."
            )
        if isinstance(a, Tensor) and a.requires_grad:  # a parameter: itself, not its values
            key.append(("parameter", id(a), a.shape, a.dtype.str))
            continue
        array = a.data if isinstance(a, Tensor) else a
        if isinstance(array, np.ndarray):
            selected = int(np.count_nonzero(array)) if array.dtype.kind == "b" else None
            key.append(("array", array.shape, array.dtype.str, isinstance(a, Tensor), selected))
        elif isinstance(a, (float, np.floating)):
            key.append(("float", type(a), float(a).hex()))
        else:
            try:
                hash(a)
            except TypeError:
                raise CompileError(
                    f"compile: an argument of type {type(a).__name__} is neither an array nor "
                    "a hashable value (a number, a string); pass arrays, Tensors or numbers."
                ) from None
            key.append(("value", type(a), a))
    return tuple(key)


class Compiled:
    """What `compile(fn)` returns: call it as `fn`; `source` is the code it runs (after the
    first call), `traces` how many signatures it has traced."""

    def __init__(self, fn: Callable[..., Tensor]) -> None:
        self.fn = fn
        self._traces: dict[tuple, _Trace] = {}
        self._last: _Trace | None = None
        functools.update_wrapper(self, fn)

    def __call__(self, *arguments: Any, **keywords: Any) -> Tensor:
        """The loss (a Tensor without a graph); each parameter's gradient is added into its
        `.grad`, as `loss.backward()` adds it."""
        loss, gradients = self.gradients(*arguments, **keywords)
        totals = {p: g if p._grad is None else p._grad + g for p, g in gradients.items()}
        for parameter, total in totals.items():  # all summed first: a MemoryError adds none
            parameter._grad = total
        return Tensor(loss)

    def gradients(self, *arguments: Any, **keywords: Any) -> tuple[Any, dict[Tensor, np.ndarray]]:
        """The loss (a numpy number) and {parameter: its gradient}, `.grad` left alone: for a
        training loop that updates the parameters itself. The arrays are new and its own."""
        if keywords:
            arguments = self._positional(arguments, keywords)
        key = _key(arguments)
        trace = self._traces.get(key)
        if trace is None:
            trace = self._traces[key] = self._trace(arguments)
        self._last = trace
        try:
            return trace.run(*arguments)
        except _RetraceError:  # a parameter's array was replaced by one of another shape or dtype
            trace = self._traces[key] = self._last = self._trace(arguments)
            return trace.run(*arguments)

    def _positional(self, arguments: tuple, keywords: dict[str, Any]) -> tuple:
        """The arguments of a call with keywords, as fn's positional arguments (`f(X, lam=0.1)`
        is `f(X, 0.1)`, one trace for both spellings)."""
        name = getattr(self.fn, "__name__", "step")
        try:
            bound = inspect.signature(self.fn).bind(*arguments, **keywords)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"compile: {name}{_signature(self.fn)}: {exc}") from None
        bound.apply_defaults()  # (a keyword after a skipped default: all by position)
        if bound.kwargs:
            raise CompileError(
                f"compile: {name} takes {', '.join(bound.kwargs)} by keyword only; the compiled "
                "step passes its arguments by position: make them positional parameters."
            )
        return bound.args

    def _trace(self, arguments: tuple) -> _Trace:
        derived = _Derived(arguments)
        with enable_grad(), observe(derived):
            loss = self.fn(*arguments)
        name = getattr(self.fn, "__name__", "step")
        if not isinstance(loss, Tensor) or loss.node is None:
            got = type(loss).__name__ if not isinstance(loss, Tensor) else "a Tensor with no graph"
            raise CompileError(
                f"compile: {name} must return a loss computed by recorded ops from parameters "
                f"that require grad, got {got}."
            )
        drawn = next((t for t in backward_order(loss) if t.node.op.random), None)
        if drawn is not None:
            raise CompileError(
                f"compile: {name} draws random numbers ({drawn.node.op.name}); its trace would "
                "use the numbers of the first call at every call. Run it eagerly, or without "
                "the randomness (a model in eval() mode)."
            )
        if loss.size != 1:
            raise CompileError(
                f"compile: {name} returned a tensor of shape {loss.shape}; a step needs one "
                "number, the loss (reduce it, e.g. with .mean())."
            )
        built = program(loss, _identifier(name))
        derived.check(built, name)
        for tensor in backward_order(loss):  # the graph's arrays go before the code runs
            tensor.node.saved = None
        return _Trace(built, arguments)

    @property
    def traces(self) -> int:
        return len(self._traces)

    @property
    def source(self) -> str:
        """The code of the latest trace."""
        if self._last is None:
            raise CompileError("compile: nothing is traced yet; call the step once first.")
        return self._last.source


class _Derived(Observer):
    """Watches a trace for values computed from its arguments by ops that record nothing
    (none of their inputs requires grad): the printed code would hold them as constants,
    the first call's values, so `check` refuses a graph that reads one."""

    def __init__(self, arguments: tuple) -> None:
        self.arrays = [a.data if isinstance(a, Tensor) else a for a in arguments]
        self.unrecorded: dict[int, tuple[str, Any]] = {}  # id → (op, value), kept alive
        self.argument_of = {id(a): k for k, a in enumerate(self.arrays)}  # the arguments'
        self.argument_of |= {id(a): k for k, a in enumerate(arguments)}
        self.source_of = dict(self.argument_of)  # and every value made from one: which
        self.new_parameters: dict[int, Tensor] = {}  # made during the trace (kept alive)

    def made(self, tensor: Tensor) -> None:
        self.new_parameters[id(tensor)] = tensor

    def recorded(self, op: Any, inputs: tuple, tensor: Tensor) -> None:
        sources = [
            self.source_of.get(id(x), self.source_of.get(id(getattr(x, "data", None))))
            for x in inputs
        ]
        k = next((s for s in sources if s is not None), None)
        if k is not None:
            self.source_of[id(tensor)] = self.source_of[id(tensor.data)] = k
            if tensor.node is None:
                self.unrecorded[id(tensor)] = self.unrecorded[id(tensor.data)] = (op.name, tensor)

    def check(self, built: Program, name: str) -> None:
        for argument in built.arguments:
            value = argument.value
            if argument.parameter and id(value) not in self.argument_of:
                self.check_parameter(value, name)
            if argument.parameter or value is None or id(value) in self.argument_of:
                continue
            array = value.data if isinstance(value, Tensor) else value
            if id(array) in self.argument_of and id(array) not in self.unrecorded:
                continue  # an argument itself (or its array)
            found = self.unrecorded.get(id(value)) or self.unrecorded.get(id(array))
            if found is not None:
                k = self.source_of[id(found[1])]
                raise CompileError(
                    f"compile: {name} computes {found[0]} from its argument {k} with ops that "
                    "record nothing (none of their inputs requires grad), so its trace would "
                    "keep the first call's values. Compute it outside the compiled function "
                    "and pass it in as an argument, or run the function eagerly."
                )
            viewed = next(
                (
                    k
                    for k, a in enumerate(self.arrays)
                    if isinstance(a, np.ndarray)
                    and isinstance(array, np.ndarray)
                    and np.may_share_memory(a, array)
                ),
                None,
            )
            if viewed is not None:
                raise CompileError(
                    f"compile: {name} reads a numpy view of its argument {viewed} (shape "
                    f"{np.shape(array)}, e.g. X.T made with numpy), which its trace would keep "
                    "as a constant. Use the whole argument or its transpose X.T (both are read "
                    "at each call), or pass the view in as an argument."
                )

    def check_parameter(self, parameter: Tensor, name: str) -> None:
        """Refuse a parameter made while the function ran (`Tensor(x, requires_grad=True)`
        of an argument, say): the trace would keep that first call's Tensor and values."""
        if id(parameter) in self.new_parameters:
            raise CompileError(
                f"compile: {name} makes a Tensor that requires grad each time it runs (e.g. "
                "Tensor(x, requires_grad=True) of an argument); its trace would keep the first "
                "call's Tensor and values. Make it outside and pass it in as an argument (a "
                "Tensor that requires grad is part of what a trace is for)."
            )


def _identifier(name: str) -> str:
    return name if name.isidentifier() and name != "<lambda>" else "step"


def compile(fn: Callable[..., Tensor]) -> Compiled:
    """`fn` run as the numpy code of its graph: see the module's doc.

    fn(*arguments) returns the loss, a one-element Tensor computed by recorded ops. The
    compiled step returns the loss as a Tensor without a graph, and adds each parameter's
    gradient into its `.grad` exactly as `loss.backward()` would.
    """
    if not callable(fn):
        raise CompileError(f"compile: expected a function, got {type(fn).__name__}.")
    return Compiled(fn)
