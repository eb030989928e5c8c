"""The backward pass as code: `backward_code(loss)` prints a recorded graph's forward and
backward pass as one numpy function, made from the op table's formulas.

    >>> print(ag.backward_code(loss))     # doctest: +SKIP
    def forward_backward(X, Y, W1, b1, W2, b2):
        ...
        # matmul: dW = X.T @ dZ; X (10, 784), dZ (10, 30) → dW (784, 30)
        dW1 = X.T @ dadd1
        ...
        return loss, {"layers.0.weight": dW1, ...}

Each op of the forward pass is its forward formula, and each step of the backward pass its
VJP formulas, made concrete at that node (`specialize`: parameters and shapes written in,
the branches not taken left out) and written with the graph's names: a parameter's own name
(`layers.0.weight` as `W1`), the letter an op gives an array it reads (`X`, `Y`), and the op
and a number for every result (`sigmoid1`), its gradient a `d` before it (`dsigmoid1`).
Where numpy stretched an input, the sum back over the stretched axes is a line of its own;
where a tensor feeds several ops, its gradient is the sum of their contributions, written
out. Only gradients that reach a parameter are computed.

Names never become code: every identifier is made by `text.identifier` and every comment
by `text.printable`. The dict's keys are the names themselves, as string literals.

`Program` holds what `compiled.py` needs to run the code: the source, the arguments (which
array or Tensor each one is) and the parameters whose gradients it returns.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .engine import Tensor, backward_order, gradients
from .formulas import OPS, Op, _assigned, called
from .replay import replay
from .specialize import Array, Named, known, node_values, specialize
from .text import identifier, printable

LONGEST_IDENTIFIER = 32
"""Names are cut to this many characters as identifiers (comments show them in full)."""

LINE_WIDTH = 100
"""The longest line of the printed code, its indentation included (ruff's, in this project)."""

COMMENT_WIDTH = 96
"""The longest comment line, its indentation included."""

_LAYER_PARAMETER = re.compile(r"(?:.*\.)?layers\.(\d+)\.(weight|bias)")


@dataclass
class Argument:
    """One argument of the printed function: its name, and what it is bound to when the
    code runs (`value`: a Tensor, a numpy array, or another object a formula reads)."""

    name: str
    value: Any
    parameter: bool = False  # a leaf that requires grad: its gradient is returned
    key: str = ""  # a parameter's key in the dict of gradients: its name, unless shared


@dataclass
class Program:
    """The printed function of one graph: `source`, its `name`, its `arguments` in order,
    the loss's variable, and the errstate its ops compute under (numpy's warnings they
    silence, e.g. overflow in sigmoid's e^(−z))."""

    name: str
    source: str
    arguments: list[Argument]
    errstate: dict[str, str] = field(default_factory=dict)
    faithful: str = ""
    """The source with each formula's `with np.errstate(...)` block kept around its lines:
    numpy warns and raises exactly where the engine does (`compiled.py` runs it when the
    source, under errstate="raise" for what the formulas silence, raises)."""
    steps: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)
    """(id(tensor), input position) → the lines that compute that input's gradient at the
    op that made the tensor (its VJP, and the sum back over broadcast axes): what
    `explain()` and the stepper page show beside each step's rule."""

    def __str__(self) -> str:
        return self.source


def backward_code(loss: Tensor, name: str = "forward_backward") -> str:
    """The forward and backward pass of `loss`'s recorded graph as the source of one numpy
    function (see the module's doc). Its arguments are the graph's inputs and parameters by
    name; it returns the loss and a dict of the parameters' gradients by their names.

    loss: a Tensor computed by recorded ops, one element (∂loss/∂loss = 1), or any shape,
    then the function also takes `dloss`, ∂L/∂loss."""
    return program(loss, name).source


def program(loss: Tensor, name: str = "forward_backward") -> Program:
    """The `Program` (source and arguments) that prints `loss`'s graph; see `backward_code`."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"backward_code: expected a Tensor (the loss), got {type(loss).__name__}.")
    if loss.node is None:
        raise ValueError(
            "backward_code: this tensor was not computed by a recorded op (a leaf, or computed "
            "inside no_grad() or from tensors that require no grad): there is no backward "
            "pass to print."
        )
    return _Printer(loss, name).program()


class _Printer:
    """Writes one graph's function: names first, then the forward lines, then backward's."""

    def __init__(self, loss: Tensor, name: str) -> None:
        self.loss = loss
        self.order = backward_order(loss)
        self.taken = {"np", *dir(builtins)}  # never shadowed by a name of the graph
        self.function = identifier(name, self.taken, "forward_backward")
        self.var: dict[int, str] = {}  # id(tensor or array) → its variable
        self.arguments: list[Argument] = []
        self.forward: list[str] = []
        self.backward: list[str] = []
        self.locals: dict[int, dict[str, str]] = {}  # id(tensor) → its forward's own names
        self.named: dict[int, dict[str, Named]] = {}  # id(tensor) → params held as arguments
        self.errstate: dict[str, str] = {}
        self.guarded: list[tuple[list[str], str]] = []  # lines a formula's errstate guards
        self.known: dict[int, dict[str, Any]] = {}  # id(tensor) → its formulas' values
        self.steps: dict[tuple[int, int], tuple[str, ...]] = {}
        self.inputs_of: dict[int, list[Any]] = {}  # id(tensor) → its op's inputs as written
        self.floats: dict[str, str] = {}  # an integer array's variable → its float64 copy's
        self.counts: dict[str, int] = {}

    # ------------------------------------------------------------------------------------
    # Names
    # ------------------------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        return identifier(base[:LONGEST_IDENTIFIER], self.taken, "t")

    def result_name(self, tensor: Tensor) -> str:
        if tensor.name:
            return self.fresh(tensor.name)
        if tensor is self.loss:
            return self.fresh("loss")
        op = tensor.node.op.name
        self.counts[op] = self.counts.get(op, 0) + 1
        return self.fresh(f"{op}{self.counts[op]}")

    def leaf_name(self, value: Any, op: Op, position: int) -> str:
        name = getattr(value, "name", None)
        if name:
            layer = _LAYER_PARAMETER.fullmatch(name)
            short = layer and f"{'W' if layer[2] == 'weight' else 'b'}{int(layer[1]) + 1}"
            return self.fresh(short if short and short not in self.taken else name)
        letter = op.inputs[min(position, len(op.inputs) - 1)]
        if np.ndim(value) >= 2:
            letter = letter.upper()
        return self.fresh(letter.rstrip("s") or "x")

    def operand(self, x: Any, op: Op, position: int) -> Any:
        """The variable of input x (a name), or x itself when it is a Python number."""
        if isinstance(x, Tensor) and x.node is not None:
            return self.var[id(x)]
        if not isinstance(x, (Tensor, np.ndarray, np.generic)):
            return x  # a Python number: written in by specialize
        if id(x) not in self.var:
            seen = self.view_of(x)
            if seen is not None:  # X.T of an array the function takes: written so
                value, suffix = seen
                self.var[id(x)] = f"{self.operand(value, op, position)}{suffix}"
                return self.var[id(x)]
            self.var[id(x)] = self.leaf_name(x, op, position)
            parameter = isinstance(x, Tensor) and x.requires_grad
            self.arguments.append(Argument(self.var[id(x)], x, parameter))
        return self.var[id(x)]

    def view_of(self, x: Any) -> tuple[Any, str] | None:
        """(value, "") when the array x is a view of all of an array (or leaf Tensor) the
        function takes, (value, ".T") when it is its transpose; None for any other array
        (gradients of gradients read `X.T` of the data)."""
        if type(x) is not np.ndarray or x.base is None:
            return None
        start = x.__array_interface__["data"][0]
        for value in [a.value for a in self.arguments] + [x.base]:
            array = value.data if isinstance(value, Tensor) else value
            if (
                not isinstance(array, np.ndarray)
                or array.dtype != x.dtype
                or array.__array_interface__["data"][0] != start
            ):
                continue
            if array.shape == x.shape and array.strides == x.strides:
                return value, ""
            if x.ndim == 2 and array.shape == x.shape[::-1] and array.strides == x.strides[::-1]:
                return value, ".T"
        return None

    def as_float(self, x: Any, name: Any) -> Any:
        """The variable of x in float64 when x holds integers or bools (a line of its own)."""
        array = x.data if isinstance(x, Tensor) else x
        if not isinstance(name, str) or np.asarray(array).dtype.kind not in "iub":
            return name
        if name not in self.floats:
            self.floats[name] = self.fresh(f"{name}_float")
            self.forward.append(self.comment(f"{name} holds {array.dtype}: computed in float64"))
            self.forward.append(f"    {self.floats[name]} = np.astype({name}, np.float64)")
        return self.floats[name]

    def held(self, tensor: Tensor) -> dict[str, Named]:
        """The op's parameters that hold arrays (an index, a condition), as arguments."""
        named: dict[str, Named] = {}
        for key, value in tensor.node.params.items():
            named[key] = self.hold(key, value)
        self.named[id(tensor)] = {k: v for k, v in named.items() if v is not None}
        return self.named[id(tensor)]

    def hold(self, key: str, value: Any) -> Any:
        if isinstance(value, tuple):
            parts = [self.hold(key, v) for v in value]
            if any(p is not None for p in parts):
                return tuple(p if p is not None else v for p, v in zip(parts, value, strict=True))
            return None
        if isinstance(value, (np.ndarray, np.generic)):
            if id(value) not in self.var:
                self.var[id(value)] = self.fresh(key)
                self.arguments.append(Argument(self.var[id(value)], value))
            return Named(self.var[id(value)])
        return None

    # ------------------------------------------------------------------------------------
    # The function
    # ------------------------------------------------------------------------------------

    def program(self) -> Program:
        for tensor in reversed(self.order):
            self.print_forward(tensor)
        self.print_backward()
        params = [a for a in self.arguments if not a.parameter]
        params += [a for a in self.arguments if a.parameter]
        self.arguments = params
        if self.loss.size != 1:
            self.arguments.append(Argument(f"d{self.var[id(self.loss)]}", None))
        signature = ", ".join(a.name for a in self.arguments)
        gradients = [a for a in self.arguments if a.parameter]
        lines = [f"def {self.function}({signature}):"]
        if len(lines[0]) > LINE_WIDTH:  # one argument line after another
            wrapped = textwrap.wrap(signature, LINE_WIDTH - 4, break_long_words=False)
            lines = [f"def {self.function}(", *(f"    {w}" for w in wrapped), "):"]
        lines += _docstring(self.loss, gradients)
        lines += ["    # forward pass", *self.forward]
        lines += ["    # backward pass", *self.backward]
        lines += [f"    return {self.var[id(self.loss)]}, {{"]
        _assign_keys(gradients)
        for argument in gradients:
            lines += [f"        {_key(argument.key)}: {self.grad[id(argument.value)]},"]
        lines += ["    }"]
        sources = []
        for body in ("\n".join(lines), "\n".join(_guarded(lines, self.guarded))):
            imports = [
                f"import {m}\n" for m in ("math", "numpy as np") if f"{m.split()[-1]}." in body
            ]
            sources.append("\n".join(imports) + "\n\n" + body + "\n" if imports else body + "\n")
        source, faithful = sources
        return Program(self.function, source, self.arguments, self.errstate, faithful, self.steps)

    def values(self, tensor: Tensor) -> dict[str, Any]:
        if id(tensor) in self.known:
            return self.known[id(tensor)]
        values = self.known[id(tensor)] = node_values(tensor)
        values.update(self.named.get(id(tensor)) or self.held(tensor))
        return values

    def print_forward(self, tensor: Tensor) -> None:
        node, op = tensor.node, tensor.node.op
        values = self.values(tensor)
        inputs = [self.operand(x, op, i) for i, x in enumerate(node.inputs)]
        if op.floats:  # integers computed in float64, as the engine does
            inputs = [
                self.as_float(x, name) if i in op.floats else name
                for i, (x, name) in enumerate(zip(node.inputs, inputs, strict=True))
            ]
        self.inputs_of[id(tensor)] = inputs
        names: dict[str, Any] = {}
        if op.variadic:
            names[op.inputs[0]] = inputs
        else:
            names.update(zip(op.inputs, inputs, strict=True))
        self.var[id(tensor)] = self.result_name(tensor)
        own = {}
        for local in _assigned_names(op.forward_tree):
            if local != op.output:
                own[local] = self.fresh(local)
        own[op.output] = self.var[id(tensor)]
        self.locals[id(tensor)] = own
        statements = self.unwrapped(specialize(op.forward_tree, values))
        statements = [s for s in statements if not _known_assignment(s, values)]
        statements = self.inlined(statements, values)
        shapes = ", ".join(str(shape) for shape in _shapes(node))
        self.forward.append(self.comment(f"{op.name}: {shapes} → {tensor.shape}"))
        for statement in statements:
            renamed = _Renamed({**names, **own}).visit(statement)
            self.forward += self.lines(renamed)

    def inlined(self, statements: list[ast.stmt], values: dict[str, Any]) -> list[ast.stmt]:
        """Each `ops.<name>(...)` a formula calls replaced by that op's own forward formula,
        written out before the line that uses its result (as `sigmoid3`)."""
        out: list[ast.stmt] = []
        for statement in statements:
            calls = [node for node in ast.walk(statement) if called(node, "ops")]
            replaced: dict[int, str] = {}
            for call in reversed(calls):  # the innermost last in a walk: written first
                out += self.called(call, values, replaced)
            out.append(_Replaced(replaced).visit(statement) if replaced else statement)
        return out

    def called(self, call: ast.Call, values: dict[str, Any], replaced: dict) -> list[ast.stmt]:
        """The statements of the op `call` names, on its arguments; `replaced[id(call)]` is
        the name of its result."""
        op = OPS[call.func.attr]
        out: list[ast.stmt] = []
        env: dict[str, Any] = {k.arg: _value_of(k.value) for k in call.keywords}
        names: dict[str, Any] = {}
        for name, argument in zip(op.inputs, call.args, strict=True):
            argument = _Replaced(replaced).visit(argument)
            if isinstance(argument, ast.Name):
                names[name] = argument.id
                env[name] = values.get(argument.id, Array(np.empty(0)))
            else:  # an expression: computed into a name of its own first
                held = self.fresh(name)
                out.append(ast.Assign([ast.Name(held, ast.Store())], argument, lineno=1))
                names[name], env[name] = held, Array(np.empty(0))
        result = self.fresh(f"{op.name}_of_{names[op.inputs[0]]}")
        own = {local: self.fresh(local) for local in _assigned_names(op.forward_tree)}
        own[op.output] = result
        statements = self.unwrapped(specialize(op.forward_tree, env))
        statements = [s for s in statements if not _known_assignment(s, env)]
        out += [_Renamed({**names, **own}).visit(s) for s in statements]
        replaced[id(call)] = result
        return out

    def unwrapped(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        """`with np.errstate(...)` blocks replaced by their bodies; their settings kept for the
        code that runs the function (`Program.errstate`), and on each statement of the body,
        for `Program.faithful`."""
        out: list[ast.stmt] = []
        for statement in statements:
            if isinstance(statement, ast.With):
                for item in statement.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call):
                        for keyword in call.keywords:
                            self.errstate[keyword.arg] = ast.literal_eval(keyword.value)
                guard = ast.unparse(statement.items[0].context_expr)
                for inner in self.unwrapped(statement.body):
                    inner.errstate = guard  # (an attribute of the node, read by `lines`)
                    out.append(inner)
            else:
                out.append(statement)
        return out

    def print_backward(self) -> None:
        users: dict[int, int] = {}
        for tensor in self.order:
            for x, _, _ in tensor.node.edges:
                users[id(x)] = users.get(id(x), 0) + 1
        self.grad: dict[int, str] = {}
        pending: dict[int, list[str]] = {}
        root = self.var[id(self.loss)]
        seed = f"d{root}"
        if self.loss.size == 1:
            self.backward.append(self.comment(f"∂{root}/∂{root} = 1"))
            self.backward.append(f"    {seed} = np.ones_like({root})")
        self.grad[id(self.loss)] = seed
        self.taken.add(seed)
        for tensor in self.order:
            self.complete(tensor, pending)
            node, op = tensor.node, tensor.node.op
            values = self.values(tensor)
            names: dict[str, Any] = {op.grad_name: self.grad[id(tensor)]}
            inputs = self.inputs_of[id(tensor)]
            if op.variadic:
                names[op.inputs[0]] = inputs
            else:
                names.update(zip(op.inputs, inputs, strict=True))
            names.update(self.locals[id(tensor)])
            for x, i, _ in node.edges:
                target = self.contribution(x, users, pending)
                statements = specialize(op.vjp_trees[0 if op.variadic else i], {**values, "i": i})
                statements = self.inlined(self.unwrapped(statements), values)
                rule = "\n".join(ast.unparse(s) for s in statements)
                before = len(self.backward)
                self.print_vjp(tensor, x, i, statements, names, target, pending, rule)
                written = [line.strip() for line in self.backward[before:]]
                code = tuple(line for line in written if not line.startswith("#"))
                passed = pending[id(x)][-1]
                self.steps[id(tensor), i] = code or (f"# {passed} passes on unchanged",)
        for tensor_id in list(pending):
            self.complete_id(tensor_id, pending)
        dtypes = _gradient_dtypes(self.loss)
        for argument in self.arguments:
            leaf = argument.value
            if argument.parameter and dtypes.get(id(leaf), leaf.dtype) != leaf.dtype:
                name = self.fresh(self.grad[id(leaf)])
                self.backward.append(
                    self.comment(f"{argument.name} is {leaf.dtype}: so is its .grad")
                )
                self.backward.append(
                    f"    {name} = np.astype({self.grad[id(leaf)]}, np.{leaf.dtype.name})"
                )
                self.grad[id(leaf)] = name

    def contribution(self, x: Tensor, users: dict[int, int], pending: dict) -> str:
        """The variable of one op's contribution to x's gradient: `dx` itself when x feeds
        one op, else `dx_1`, `dx_2`, ... summed when x's gradient is complete."""
        base = f"d{self.var[id(x)]}"
        if users[id(x)] == 1:
            return self.fresh(base)
        return self.fresh(f"{base}_{len(pending.get(id(x), [])) + 1}")

    def print_vjp(
        self,
        tensor: Tensor,
        x: Tensor,
        i: int,
        statements: list[ast.stmt],
        names: dict[str, Any],
        target: str,
        pending: dict,
        rule: str,
    ) -> None:
        op = tensor.node.op
        own = {
            local: self.fresh(local)
            for local in _assigned_names(statements)
            if local not in names and not local.startswith("d" + op.inputs[0][:1])
        }
        gradient = f"d{op.inputs[0 if op.variadic else i]}"
        mapping = {**names, **own, gradient: target}
        last = statements[-1]
        if (
            len(statements) == 1
            and isinstance(last, ast.Assign)
            and isinstance(last.value, ast.Name)
            and last.value.id == op.grad_name
        ):  # dx = dz: the same array passes back, no line of its own
            result = names[op.grad_name]
        else:
            shapes = _read_shapes(rule, tensor, i, self.values(tensor))
            if "\n" not in rule:
                self.backward += self.comments(f"{op.name}: {rule}", shapes)
            else:
                self.backward += self.comments(f"{op.name}, the VJP of its input {i}", shapes)
            for statement in statements:
                self.backward += self.lines(_Renamed(mapping).visit(statement))
            result = target
        shape, stretched = x.shape, op.stretched(i, _shapes(tensor.node), tensor.shape)
        if stretched != shape:
            result = self.unbroadcast(x, result, stretched, target)
        elif result != target:  # the name was not needed
            self.taken.discard(target)
        pending.setdefault(id(x), []).append(result)

    def unbroadcast(self, x: Tensor, result: str, stretched: tuple, target: str) -> str:
        shape = x.shape
        added = len(stretched) - len(shape)
        ones = tuple(added + k for k, n in enumerate(shape) if n == 1 and stretched[added + k] != 1)
        axes = tuple(range(added)) + ones
        shown = axes[0] if len(axes) == 1 else axes
        if not ones:
            line = f"np.sum({result}, axis={shown})"
        elif not added:
            line = f"np.sum({result}, axis={shown}, keepdims=True)"
        else:
            line = f"np.reshape(np.sum({result}, axis={shown}, keepdims=True), {shape})"
        name = target if result != target else self.fresh(f"{target}_summed")
        who = printable(x.name) if x.name else self.var[id(x)]
        self.backward.append(
            self.comment(f"{who} {shape} was broadcast to {stretched}: sum over axis {shown}")
        )
        self.backward.append(f"    {name} = {line}")
        return name

    def complete(self, tensor: Tensor, pending: dict) -> None:
        if id(tensor) in pending:
            self.complete_id(id(tensor), pending)

    def complete_id(self, tensor_id: int, pending: dict) -> None:
        parts = pending.pop(tensor_id)
        if len(parts) == 1:
            self.grad[tensor_id] = parts[0]
            return
        name = self.fresh(f"d{self.var[tensor_id]}")
        self.backward.append(
            self.comment(f"{self.var[tensor_id]} feeds {len(parts)} ops: its gradient adds up")
        )
        self.backward.append(f"    {name} = {' + '.join(parts)}")
        self.grad[tensor_id] = name

    def lines(self, statement: ast.stmt) -> list[str]:
        """The statement as lines of the function, each at most LINE_WIDTH long."""
        guard = getattr(statement, "errstate", None)
        statement = _Tidied().visit(statement)
        source = ast.unparse(statement)
        if len(source) > LINE_WIDTH - 4 and isinstance(statement, ast.Assign):
            source = "\n".join(ast.unparse(part) for part in _hoisted(statement, self.fresh))
        lines = ["    " + line for line in source.splitlines()]
        if guard is not None:
            self.guarded.append((lines, guard))
        return lines

    def comments(self, text: str, shapes: str) -> list[str]:
        """`text; shapes` as one comment line, or two where one would be too long."""
        joined = f"{text}; {shapes}"
        if len(f"    # {printable(joined)}") <= COMMENT_WIDTH:
            return [self.comment(joined)]
        return [self.comment(text), self.comment(f"  {shapes}")]

    def comment(self, text: str) -> str:
        line = f"    # {printable(text)}"
        return line if len(line) <= COMMENT_WIDTH else line[: COMMENT_WIDTH - 1] + "…"


def _guarded(lines: list[str], guarded: list[tuple[list[str], str]]) -> list[str]:
    """`lines` with each guarded run of lines inside its `with np.errstate(...)` block."""
    out, start = [], 0
    for block, guard in guarded:
        at = start
        while lines[at : at + len(block)] != block:
            at += 1
        out += lines[start:at]
        out += [f"    with {guard}:", *(f"    {line}" for line in block)]
        start = at + len(block)
    return out + lines[start:]


def _read_shapes(rule: str, tensor: Tensor, i: int, values: dict) -> str:
    """The shapes of the arrays a VJP's rule reads, and of what it gives: `X (10, 784), dZ
    (10, 30) → dW (784, 30)` (before any sum back over broadcast axes)."""
    op = tensor.node.op
    assigned = set(re.findall(r"^\s*([A-Za-z_]\w*)\s*=(?!=)", rule, re.MULTILINE))
    read = dict.fromkeys(re.findall(r"(?<![\w.])[A-Za-z_]\w*", rule))  # as the rule reads
    read = [name for name in read if name not in assigned]
    shown = [f"{name} {values[name].shape}" for name in read if isinstance(values.get(name), Array)]
    stretched = op.stretched(i, _shapes(tensor.node), tensor.shape)
    given = f"d{op.inputs[0 if op.variadic else i]}"
    return f"{', '.join(shown)} → {given} {stretched}"


def _gradient_dtypes(loss: Tensor) -> dict[int, np.dtype]:
    """id(leaf) → the dtype of the gradient the backward pass gives it before `.grad` is cast
    to the leaf's dtype (float64 where a float64 constant met a float32 parameter): from the
    engine's own gradients, on the graph (or its replay, once backward has freed it)."""
    order = backward_order(loss)
    root = loss
    if any(t.node.saved is None for t in order):
        twins = replay(loss, None)
        root, order = twins[id(loss)], backward_order(twins[id(loss)])
        back = {id(twin): key for key, twin in twins.items()}
    else:
        back = {id(t): id(t) for t in order}
    seed = np.ones_like(root.data)
    with np.errstate(all="ignore"):
        grads = gradients(root, seed, order)
    return {back.get(id(t), id(t)): np.asarray(g).dtype for t, g in grads.items() if t.node is None}


def _shapes(node: Any) -> list[tuple[int, ...]]:
    return [np.shape(x.data if isinstance(x, Tensor) else x) for x in node.inputs]


class _Replaced(ast.NodeTransformer):
    """The expressions of `replaced` (by id) written as the names of their values."""

    def __init__(self, replaced: dict[int, str]) -> None:
        self.replaced = replaced

    def visit(self, node: ast.AST) -> ast.AST:
        if id(node) in self.replaced:
            return ast.Name(self.replaced[id(node)], ast.Load())
        return super().visit(node)


def _value_of(node: ast.expr) -> Any:
    """The value a keyword argument of a call of an op is written with: numbers, tuples,
    slices, and names (arrays held as arguments) as `Named`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value_of(e) for e in node.elts)
    if isinstance(node, ast.Slice):
        return slice(
            *(None if p is None else _value_of(p) for p in (node.lower, node.upper, node.step))
        )
    if isinstance(node, ast.Name):
        return Named(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value_of(node.operand)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "slice":
        return slice(*(_value_of(a) for a in node.args))
    return Named(ast.unparse(node))


class _Renamed(ast.NodeTransformer):
    """The formula with its names replaced: a variable's name, a list of them (the inputs
    of a join), or a Python number written in."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in self.names:
            return node
        value = self.names[node.id]
        if isinstance(value, list):
            return ast.List([self._written(v, node.ctx) for v in value], ast.Load())
        return self._written(value, node.ctx)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        target = node.targets[0]
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            name = target.value.id  # `dxs[1] = ...`: the contribution of one input
            if (
                name.startswith("d")
                and name in self.names
                and isinstance(target.slice, ast.Constant)
            ):
                node.targets = [ast.Name(self.names[name], ast.Store())]
                node.value = self.visit(node.value)
                return node
        return self.generic_visit(node)

    @staticmethod
    def _written(value: Any, ctx: ast.expr_context) -> ast.expr:
        if isinstance(value, str):
            return ast.Name(value, ctx)
        return ast.Constant(value)


def _assigned_names(statements: Sequence[ast.stmt]) -> list[str]:
    if isinstance(statements, tuple) or id(statements) in _ASSIGNED:  # an op's own formula
        if id(statements) not in _ASSIGNED:
            _ASSIGNED[id(statements)] = _assigned_in(statements)
        return _ASSIGNED[id(statements)]
    return _assigned_in(statements)


_ASSIGNED: dict[int, list[str]] = {}


def _assigned_in(statements: Sequence[ast.stmt]) -> list[str]:
    return list(dict.fromkeys(_assigned(list(statements))))


def _known_assignment(statement: ast.stmt, values: dict[str, Any]) -> bool:
    """`parts = [...]`, `m = 10`: a value the formulas' uses already have written in."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return False
    target = statement.targets[0]
    if isinstance(target, ast.Name) and target.id in values and known(values[target.id]):
        return True
    return not any(isinstance(n, ast.Name) for n in ast.walk(statement.value))


class _Mirrored(ast.NodeTransformer):
    """`1.0 == y` written `y == 1.0`: the variable first, as a reader (and ruff) expects. A
    name in capitals (`Y`, a matrix) reads as a constant too."""

    MIRROR: ClassVar[dict] = {ast.Eq: ast.Eq, ast.NotEq: ast.NotEq, ast.Lt: ast.Gt}
    MIRROR |= {ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and _constancy(node.left) < _constancy(node.comparators[0]):
            mirrored = self.MIRROR[type(node.ops[0])]()
            return ast.Compare(node.comparators[0], [mirrored], [node.left])
        return node


class _Tidied(_Mirrored):
    """Comparisons mirrored (`_Mirrored`), and `np.sum(x, axis=None, keepdims=False)`
    written `np.sum(x)`: a reduction's keywords left out where they have numpy's defaults."""

    REDUCTIONS = frozenset({"sum", "mean", "max", "min", "prod", "std", "var", "any", "all"})
    DEFAULTS: ClassVar[dict[str, Any]] = {"axis": None, "keepdims": False}

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if called(node, "np") in self.REDUCTIONS:
            node.keywords = [
                k
                for k in node.keywords
                if not (
                    k.arg in self.DEFAULTS
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is self.DEFAULTS[k.arg]
                )
            ]
        return node


def _constancy(node: ast.expr) -> int:
    """0 for a literal, 1 for a name in capitals (read as a constant), 2 for the rest."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand  # -0.5: a literal too
    if isinstance(node, ast.Constant):
        return 0
    return 1 if isinstance(node, ast.Name) and node.id.upper() == node.id else 2


def _hoisted(statement: ast.stmt, fresh: Callable[[str], str]) -> list[ast.stmt]:
    """The statement, and before it the largest parts of its value computed into names of
    their own (`t`), until each line fits: numpy computes the same numbers either way."""
    out: list[ast.stmt] = []
    while len(ast.unparse(statement)) > LINE_WIDTH - 4 and isinstance(statement, ast.Assign):
        before = len(ast.unparse(statement))
        parts = [
            n
            for n in ast.walk(statement.value)
            if n is not statement.value
            and isinstance(n, (ast.Call, ast.BinOp))
            and len(ast.unparse(n)) < LINE_WIDTH - 12
        ]
        if not parts:
            break
        part = max(parts, key=lambda n: len(ast.unparse(n)))
        name = fresh("t")
        out.append(ast.Assign([ast.Name(name, ast.Store())], part, lineno=1))
        statement = _Replaced({id(part): name}).visit(statement)
        if len(ast.unparse(statement)) >= before:  # a name as long as the part: stop
            break
    return [*out, statement]


def _assign_keys(parameters: list[Argument]) -> None:
    """Each parameter's key in the returned dict: its name where no other parameter has it,
    else its variable's name (two tensors may share a name; keys never do)."""
    names = [a.value.name for a in parameters]
    unique = {name for name in names if name and names.count(name) == 1}
    used = set(unique)
    for argument, name in zip(parameters, names, strict=True):
        if name in unique:
            argument.key = name
            continue
        key = argument.name
        while key in used:
            key += "'"
        argument.key = key
        used.add(key)


def _key(name: str) -> str:
    """A string literal of `name` (split into pieces where it is long), as a dict key."""
    if len(name) <= 40:
        return _string(name)
    pieces = [_string(name[k : k + 40]) for k in range(0, len(name), 40)]
    return "(\n            " + "\n            ".join(pieces) + "\n        )"


def _string(text: str) -> str:
    """A Python string literal of `text` (repr's escapes: no line break, no control or
    format character stays raw), in double quotes where repr's single ones are not needed."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1] + '"'
    return literal


def _docstring(loss: Tensor, gradients: list[Argument]) -> list[str]:
    """The function's docstring, as lines of at most LINE_WIDTH."""
    wanted = ", ".join(a.name for a in gradients) or "nothing"
    shape = "a number" if loss.size == 1 else f"shape {loss.shape}"
    text = f"The loss ({shape}) and its gradient with respect to {wanted}."
    wrapped = textwrap.wrap(text, LINE_WIDTH - 10, break_long_words=False)
    if len(wrapped) == 1:
        return [f'    """{wrapped[0]}"""']
    return [f'    """{wrapped[0]}', *(f"    {line}" for line in wrapped[1:]), '    """']


__all__ = ["Argument", "Program", "backward_code", "program"]
