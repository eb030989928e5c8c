"""The printed code made lean for running: results written into arrays no longer needed.

`backward_code` prints one expression per formula, and numpy makes a new array for every
operation in it: `1 / (1 + np.exp(-z))` makes four. A careful person writing the same step
by hand reuses them: `np.negative(z, out=a)`, `np.exp(a, out=a)`, and so on. `lean(source,
arguments)` does that to the printed function, knowing each value's shape and dtype from one
run on the arguments of the trace:

- an elementwise operation (`+ - * / **`, negation, numpy's ufuncs such as `np.exp`) writes
  into an operand made inside the same line, or into the array of a variable that nothing
  reads any more (same shape and dtype, its own memory, never an argument);
- a matrix product writes into such an array too (never into one of its operands);
- the loss's seed of 1 is left out where it multiplies (`dloss * d / 10` is `d / 10`:
  multiplying by 1 changes no bit).

Every operation is the same numpy operation on the same operands in the same order, so the
numbers are the same to the bit; the code that runs is then checked against what the printed
code returns on the trace's arguments. Only arrays no one can see are written: never an argument,
and never a value the function returns (those are read at the end, so they never die).
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .formulas import called

_UFUNCS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
# (`x ** 2` is not among them: numpy computes it as np.square, np.power may differ by an ulp)
_CALLABLE_UFUNCS = {
    name for name in dir(np) if isinstance(getattr(np, name), np.ufunc) and name != "matmul"
}


def lean(
    source: str, name: str, arguments: list[Any], namespace: dict[str, Any]
) -> tuple[str, Any]:
    """`source` (a function `name` as `backward_code` prints it) rewritten to reuse arrays,
    for the `arguments` it is run with (their shapes and dtypes; see the module's doc); and
    what `source` returns for them, which the lean code must give to the bit."""
    module = ast.parse(source)
    function = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == name)
    values = _probe(source, name, arguments, namespace)
    returned = function.body[-1].value  # the printed function ends with its return
    expected = eval(compile(ast.Expression(returned), "<returned>", "eval"), {}, values)
    changed: set[int] = set()
    lines = source.splitlines()
    body = _without_seed(function.body, values, changed, lines)
    methods = _Methods(values)
    for statement in body:
        methods.changed = False
        methods.visit(statement)
        if methods.changed:
            changed.add(id(statement))
    original = {id(s) for s in body} - changed
    body = _Rewriter(function, values).run(body)
    first = function.body[0]  # the docstring: its lines, and those before it, stay as they are
    out = lines[: first.end_lineno]
    for statement in body[1:] if body and body[0] is first else body:
        if id(statement) not in original:
            out += ["    " + line for line in ast.unparse(statement).splitlines()]
        else:
            out += lines[statement.lineno - 1 : statement.end_lineno]
    return "\n".join(out) + "\n", expected


def _probe(source: str, name: str, arguments: list, namespace: dict) -> dict:
    """Every variable's value after one run of the function (each is assigned once): the
    function with its `return` made `return locals()`."""
    lines = source.splitlines()
    last = max(k for k, line in enumerate(lines) if line.startswith("    return "))
    probe = "\n".join([*lines[:last], "    return locals()"]) + "\n"
    scope = dict(namespace)
    exec(compile(probe, "<probe>", "exec"), scope)
    with np.errstate(all="ignore"):
        return scope[name](*arguments)


def _without_seed(
    body: list[ast.stmt], values: dict, changed: set[int], lines: list[str]
) -> list[ast.stmt]:
    """`dloss = np.ones_like(loss)` left out where it multiplies, and left out entirely
    when nothing else reads it."""
    seeds = [
        s.targets[0].id
        for s in body
        if isinstance(s, ast.Assign)
        and isinstance(s.targets[0], ast.Name)
        and called(s.value, "np") == "ones_like"
        and np.size(values.get(s.targets[0].id)) == 1
    ]
    if not seeds:
        return body
    seed = seeds[0]

    def same_without_seed(kept: ast.expr) -> bool:
        """Whether `seed * kept` is `kept` itself, value and dtype: kept is an array of the
        product's dtype (a Python number would leave the seed's dtype, float32, for float64)."""
        value = values.get(kept.id) if isinstance(kept, ast.Name) else None
        return isinstance(value, np.ndarray) and value.dtype == np.result_type(values[seed], value)

    class Folded(ast.NodeTransformer):
        def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.op, ast.Mult):
                for kept, other in ((node.right, node.left), (node.left, node.right)):
                    if isinstance(other, ast.Name) and other.id == seed:
                        if not same_without_seed(kept):
                            return node
                        self.changed = True
                        return kept
            return node

    folded = Folded()
    mentions = [s for s in body if seed in "".join(lines[s.lineno - 1 : s.end_lineno])]
    for statement in mentions:
        if _reads(statement, seed):
            folded.changed = False
            folded.visit(statement)
            if folded.changed:
                changed.add(id(statement))
    if any(_reads(s, seed) for s in mentions if not _assigns(s, seed)):
        return body
    return [s for s in body if not _assigns(s, seed)]


class _Methods(ast.NodeTransformer):
    """`np.sum(x, axis=0)` written `x.sum(axis=0)` (and reshape, max, min, mean) where x is
    an array: the same operation, without numpy's Python-level wrapper around it."""

    NAMES = ("sum", "reshape", "max", "min", "mean")

    def __init__(self, values: dict) -> None:
        self.values = values
        self.changed = False

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        function = node.func
        if (
            called(node, "np") in self.NAMES
            and node.args
            and isinstance(node.args[0], ast.Name)
            and type(self.values.get(node.args[0].id)) is np.ndarray
        ):
            method = ast.Attribute(node.args[0], function.attr, ast.Load())
            self.changed = True
            return ast.Call(method, node.args[1:], node.keywords)
        return node


def _assigns(statement: ast.stmt, name: str) -> bool:
    return isinstance(statement, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == name for t in statement.targets
    )


def _reads(statement: ast.stmt, name: str) -> bool:
    return any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
        for n in ast.walk(statement)
    )


def _root(array: Any) -> int | None:
    """The id of the array whose memory `array` is (itself, or the array it is a view of)."""
    if not isinstance(array, np.ndarray):
        return None
    while isinstance(array.base, np.ndarray):
        array = array.base
    return id(array)


class _Rewriter:
    """Walks the function's statements once, keeping which memory holds which variables.

    A block is the memory of one array the code makes (a view lives in its base's block).
    A block with no live variable in it may be written: a variable is live from its line to
    the last line that reads it. The arguments' blocks are never written."""

    def __init__(self, function: ast.FunctionDef, values: dict) -> None:
        self.values = values
        self.block_of_root: dict[int, int] = {}  # id(probed array's memory) → its block
        self.holders: dict[int, set[str]] = {}  # block → the live variables in it
        self.kind: dict[int, tuple] = {}  # block → (shape, dtype) where it may be written
        self.frozen = {self.block(a.arg) for a in function.args.args} - {None}
        self.dying: set[str] = set()  # variables read for the last time (once) in this line
        self.name_of: dict[int, str] = {}  # block → the variable that made it
        self.emptied: dict[tuple, list[int]] = {}  # (shape, dtype) → blocks left empty

    def block(self, name: str) -> int | None:
        array = self.values.get(name)
        root = _root(array)
        if root is None:
            return None
        if root not in self.block_of_root:
            self.block_of_root[root] = root
            base = array
            while isinstance(base.base, np.ndarray):
                base = base.base
            if base.flags.writeable and base.flags.c_contiguous and base.flags.owndata:
                self.kind[root] = (base.shape, base.dtype)
        return self.block_of_root[root]

    def run(self, body: list[ast.stmt]) -> list[ast.stmt]:
        last_read: dict[str, int] = {}
        for k, statement in enumerate(body):
            for node in ast.walk(statement):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    last_read[node.id] = k
        dying_at: dict[int, list[str]] = {}
        for name, last in last_read.items():
            dying_at.setdefault(last, []).append(name)
        out: list[ast.stmt] = []
        for k, statement in enumerate(body):
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
            ):
                reads = [
                    n.id
                    for n in ast.walk(statement.value)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                ]
                self.dying = {n for n in reads if last_read.get(n) == k and reads.count(n) == 1}
                out += self.statement(statement)
            else:
                out.append(statement)
            for name in dying_at.get(k, ()):  # who dies here leaves its block
                block = self.block_of_root.get(_root(self.values.get(name)) or -1)
                if block is not None:
                    holders = self.holders.get(block, set())
                    holders.discard(name)
                    if not holders and block in self.kind:
                        self.emptied.setdefault(self.kind[block], []).append(block)
        return out

    def writable(self, block: int | None, shape: tuple, dtype: np.dtype, others: set) -> bool:
        """Whether a block may be written with an array of this shape and dtype, when the
        variables `others` are the only ones that may still be in it."""
        return (
            block is not None
            and block not in self.frozen
            and self.kind.get(block) == (shape, dtype)
            and not self.holders.get(block, set()) - others
        )

    def free_block(self, shape: tuple, dtype: np.dtype) -> str | None:
        """A variable (any) of a block nothing lives in, to write into, or None."""
        candidates = self.emptied.get((shape, dtype), [])
        while candidates:
            block = candidates.pop()
            if self.writable(block, shape, dtype, set()) and block in self.name_of:
                return self.name_of[block]
        return None

    def statement(self, statement: ast.Assign) -> list[ast.stmt]:
        target = statement.targets[0].id
        value = self.values.get(target)
        before: list[ast.stmt] = []
        written = None
        if isinstance(value, np.ndarray) and value.base is None:
            written = self.lower(statement.value, value.shape, value.dtype, before, value)
        if written is None:
            block = self.block(target)
            if block is not None:
                self.holders.setdefault(block, set()).add(target)
                self.name_of.setdefault(block, target)
            return [statement]
        buffer, call = written
        block = self.block_of_root[_root(self.values[buffer.id])]
        self.block_of_root[_root(value)] = block  # target lives in the buffer's memory
        self.holders.setdefault(block, set()).add(target)
        assign = ast.Assign([ast.Name(target, ast.Store())], buffer, lineno=1)
        return [*before, ast.Expr(call), assign]

    def lower(
        self,
        node: ast.expr,
        shape: tuple,
        dtype: np.dtype,
        before: list[ast.stmt],
        result: Any = None,
    ) -> tuple[ast.Name, ast.Call] | None:
        """The node as a call writing into an array (out=), and the variable whose memory
        that is; the calls of its operands that can write there first go into `before`."""
        function, operands = _ufunc(node)
        if function is None:
            return None
        result = self.evaluate(node) if result is None else result
        if not isinstance(result, np.ndarray) or result.shape != shape or result.dtype != dtype:
            return None
        written_operands: list[ast.expr] = []
        buffer = None
        for operand in operands:
            inner = None
            if buffer is None and function != "matmul":
                inner = self.lower(operand, shape, dtype, before)
            if inner is not None:
                buffer, call = inner
                before.append(ast.Expr(call))
                written_operands.append(buffer)
            else:
                written_operands.append(operand)
        if buffer is None and function != "matmul":  # an operand read here for the last time
            for operand in operands:
                if isinstance(operand, ast.Name) and operand.id in self.dying:
                    block = self.block(operand.id)
                    if self.writable(block, shape, dtype, {operand.id}):
                        self.dying.discard(operand.id)
                        buffer = ast.Name(operand.id, ast.Load())
                        break
        if buffer is None:
            name = self.free_block(shape, dtype)
            if name is None:
                return None
            buffer = ast.Name(name, ast.Load())
        call = ast.Call(
            ast.Attribute(ast.Name("np", ast.Load()), function, ast.Load()),
            written_operands,
            [ast.keyword("out", buffer)],
        )
        return buffer, call

    def evaluate(self, node: ast.expr) -> Any:
        """The value of an expression of the function, from the probed variables."""
        try:
            code = compile(ast.fix_missing_locations(ast.Expression(node)), "<value>", "eval")
            with np.errstate(all="ignore"):
                return eval(code, {"np": np}, self.values)
        except Exception:
            return None


def _ufunc(node: ast.expr) -> tuple[str | None, list[ast.expr]]:
    """The numpy function an expression is (`a * b` → multiply, `np.exp(x)` → exp,
    `a @ b` → matmul) and its operands, or (None, [])."""
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.MatMult):
            return "matmul", [node.left, node.right]
        name = _UFUNCS.get(type(node.op))
        return (name, [node.left, node.right]) if name else (None, [])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return "negative", [node.operand]
    name = called(node, "np")
    if name in _CALLABLE_UFUNCS and not node.keywords:
        return name, list(node.args)
    return None, []


__all__ = ["lean"]
