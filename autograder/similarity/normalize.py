"""Rewrites of a student's syntax tree that change how code looks but not what it does,
so a disguised copy reads like its original (as JPlag's token normalisation does for
Java). Run on every submission alike; autograder/similarity/tokens.py writes the result
out as tokens.

- noise goes: print/display/logging calls, asserts, `pass`, expression statements that
  call nothing (docstrings, a bare `x.shape`), an `if` left empty by that, and, in a
  function, assignments to names it never reads (repeated, so a temporary that only a
  dropped print read goes too);
- in a function, a name assigned a literal once (`hidden = 120`) is replaced by the
  literal, and a temporary that the next statement reads once and nothing else reads
  (`h = self.fc1(x)` then `x = F.relu(h)`) is put back (`x = F.relu(self.fc1(x))`);
- `i = a; while i < b: ...; i += 1` is `for i in range(a, b)`, and `it = iter(xs);
  while True: try: v = next(it) except StopIteration: break` is `for v in xs`; an unused
  enumerate index and a loop variable only unpacked on the loop's first line go;
- consecutive simple statements that do not depend on each other are written in one
  canonical order (`canonical_order`), so swapping two layer definitions changes nothing.
"""
from __future__ import annotations

import ast
import copy
from collections import Counter

_DISPLAY = frozenset({"print", "display", "pprint"})
_LOGGING = ("logging.", "warnings.warn")
FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)
DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp) + DEFINITION
_BLOCK_FIELDS = ("body", "orelse", "finalbody")


class Scope:
    """One walk over a tree: its statement lists, how often each name is read and bound,
    the names declared global or nonlocal, and the names the student binds."""

    def __init__(self, root: ast.AST):
        self.blocks: list[list[ast.stmt]] = []
        self.loads: Counter = Counter()
        self.stores: Counter = Counter()
        self.declared: set[str] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if not isinstance(node, ast.AST):
                continue
            kind = type(node)
            if kind is ast.Name:
                if type(node.ctx) is ast.Load:
                    self.loads[node.id] += 1
                else:
                    self.stores[node.id] += 1
                continue
            if kind is ast.arg:
                self.stores[node.arg] += 1
            elif kind is ast.AugAssign and type(node.target) is ast.Name:
                self.stores[node.target.id] += 1  # a second store: `x = 0; x += 1` is no constant
            elif kind is ast.Global or kind is ast.Nonlocal:
                self.declared.update(node.names)
            elif kind is ast.ExceptHandler and node.name:
                self.stores[node.name] += 1
            elif isinstance(node, DEFINITION) and node is not root:
                self.stores[node.name] += 1
            for name in node._fields:
                if name == "ctx":
                    continue
                value = getattr(node, name, None)
                if type(value) is list:
                    if value and isinstance(value[0], ast.stmt) and name in _BLOCK_FIELDS:
                        self.blocks.append(value)
                    stack.extend(value)  # a str (global names) or None (dict keys) is skipped below
                elif isinstance(value, ast.AST):
                    stack.append(value)

    @property
    def bound(self) -> set[str]:
        return set(self.stores)


def loads(node: ast.AST) -> Counter:
    return Scope(node).loads


# ---- noise --------------------------------------------------------------------------

def _has_call(node: ast.AST | None) -> bool:
    return node is not None and any(isinstance(n, ast.Call) for n in ast.walk(node))


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return dotted(node.value) + "." + node.attr
    return "?"


def is_noise(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Assert, ast.Pass)):
        return True
    if isinstance(stmt, ast.Expr):
        if not _has_call(stmt.value):
            return True  # a docstring, a bare `x.shape` shown in a notebook
        if isinstance(stmt.value, ast.Call):
            callee = dotted(stmt.value.func)
            return callee in _DISPLAY or callee.startswith(_LOGGING)
    if isinstance(stmt, ast.If):
        return not stmt.body and not stmt.orelse and not _has_call(stmt.test)
    return False


def drop_noise(statements: list[ast.stmt]) -> list[ast.stmt]:
    kept = []
    for stmt in statements:
        for name in _BLOCK_FIELDS:
            block = getattr(stmt, name, None)
            if type(block) is list and block and isinstance(block[0], ast.stmt):
                setattr(stmt, name, drop_noise(block))
        for handler in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
            handler.body = drop_noise(handler.body)
        if not is_noise(stmt):
            kept.append(stmt)
    return kept


# ---- functions ----------------------------------------------------------------------

def normalize_function(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Scope:
    """Normalise fn in place; its Scope afterwards."""
    fn.body = drop_noise(fn.body)
    scope = Scope(fn)
    if _canonical_loops(fn, scope):
        scope = Scope(fn)
    for _ in range(8):  # each pass can enable another; a few rounds reach the fixed point
        # Counts may go stale within a round; stale counts only hold a rewrite back.
        changed = _drop_dead_assignments(scope)
        changed |= _propagate_literals(fn, scope)
        changed |= _inline_temporaries(scope)
        if not changed:
            break
        scope = Scope(fn)
    return scope


def _target_names(target: ast.AST) -> list[str] | None:
    """Names a target binds, or None when it stores elsewhere (an attribute, an item)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        names = []
        for element in target.elts:
            inner = _target_names(element)
            if inner is None:
                return None
            names += inner
        return names
    return None


def _assigned_names(stmt: ast.stmt) -> list[str] | None:
    """The names an assignment binds; None for anything else or a store elsewhere."""
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    else:
        return None
    names: list[str] = []
    for target in targets:
        inner = _target_names(target)
        if inner is None:
            return None
        names += inner
    return names


def _drop_dead_assignments(scope: Scope) -> bool:
    changed = False
    for block in scope.blocks:
        kept = []
        for stmt in block:
            names = _assigned_names(stmt)
            if names is not None and not any(scope.loads[n] or n in scope.declared for n in names):
                changed = True  # nothing reads it: a temporary left for show, or junk
                continue
            kept.append(stmt)
        block[:] = kept or [ast.Pass()]
    return changed


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd)) and _is_literal(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) and _is_literal(node.right)
    return False


def _relocated(node: ast.AST, where: ast.AST) -> ast.AST:
    fresh = copy.deepcopy(node)
    for part in ast.walk(fresh):
        if hasattr(part, "lineno"):
            part.lineno, part.end_lineno = where.lineno, where.end_lineno
    return fresh


def _propagate_literals(fn: ast.AST, scope: Scope) -> bool:
    literals = {}
    for block in scope.blocks:
        for stmt in block:
            if isinstance(stmt, ast.Assign) and _is_literal(stmt.value):
                for target in stmt.targets:
                    if isinstance(target, ast.Name) and scope.stores[target.id] == 1 \
                            and target.id not in scope.declared:
                        literals[target.id] = stmt.value
    if not literals:
        return False

    class Replace(ast.NodeTransformer):
        def visit_Name(self, node):
            if isinstance(node.ctx, ast.Load) and node.id in literals:
                return _relocated(literals[node.id], node)
            return node

    Replace().visit(fn)
    values = {id(v) for v in literals.values()}
    for block in scope.blocks:
        for stmt in list(block):
            if isinstance(stmt, ast.Assign) and id(stmt.value) in values:
                stmt.targets = [t for t in stmt.targets if not (isinstance(t, ast.Name) and t.id in literals)]
                if not stmt.targets:
                    block.remove(stmt)
        if not block:
            block.append(ast.Pass())
    return True


def _evaluated_once(stmt: ast.stmt) -> list[tuple[ast.AST, str]]:
    """(node, field) of the expressions of stmt that run once when it runs (not a loop's
    body or a while's test)."""
    if isinstance(stmt, ast.Assign):
        return [(stmt, "value")] + [(stmt.targets, str(i)) for i in range(len(stmt.targets))]
    if isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        return [(stmt, "value"), (stmt, "target")] if stmt.value else []
    if isinstance(stmt, (ast.Expr, ast.Return)):
        return [(stmt, "value")] if stmt.value else []
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [(stmt, "iter")]
    if isinstance(stmt, ast.If):
        return [(stmt, "test")]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [(item, "context_expr") for item in stmt.items]
    return []


def _get(holder, field: str):
    return holder[int(field)] if isinstance(holder, list) else getattr(holder, field)


def _set(holder, field: str, value) -> None:
    if isinstance(holder, list):
        holder[int(field)] = value
    else:
        setattr(holder, field, value)


def _reads(places: list[tuple[ast.AST, str]], name: str) -> list[tuple[object, str]]:
    """(holder, field) of each read of name in those places, not inside inner scopes."""
    found, stack = [], list(places)
    while stack:
        holder, field = stack.pop()
        node = _get(holder, field)
        if node is None:
            continue
        if isinstance(node, ast.Name):
            if node.id == name and isinstance(node.ctx, ast.Load):
                found.append((holder, field))
            continue
        if isinstance(node, _SCOPES) or not isinstance(node, ast.AST):
            continue
        for child in node._fields:
            value = getattr(node, child, None)
            if type(value) is list:
                stack += [(value, str(i)) for i, v in enumerate(value) if isinstance(v, ast.AST)]
            elif isinstance(value, ast.AST):
                stack.append((node, child))
    return found


def _count_reads(node: ast.AST, name: str) -> int:
    return sum(1 for n in _walk(node) if type(n) is ast.Name and n.id == name and type(n.ctx) is ast.Load)


def _inline_temporaries(scope: Scope) -> bool:
    changed = False
    for block in scope.blocks:
        i = 0
        while i < len(block) - 1:
            first, second = block[i], block[i + 1]
            name = (first.targets[0].id if isinstance(first, ast.Assign) and len(first.targets) == 1
                    and isinstance(first.targets[0], ast.Name) else None)
            if name and name not in scope.declared and _inline_into(first.value, name, second, scope):
                del block[i]
                changed = True
                continue
            i += 1
    return changed


def _inline_into(value: ast.AST, name: str, stmt: ast.stmt, scope: Scope) -> bool:
    """Put value where stmt reads name, when that is the one read of it that matters:
    stmt overwrites name, or nothing else in the function reads it."""
    overwrites = isinstance(stmt, ast.Assign) and any(name in (_target_names(t) or []) for t in stmt.targets)
    if not (overwrites or scope.loads[name] == 1):
        return False
    places = _evaluated_once(stmt)
    if not places or _count_reads(stmt, name) != 1:
        return False
    reads = _reads(places, name)
    if len(reads) != 1:
        return False
    _set(*reads[0], value)
    scope.loads[name] -= 1
    return True


# ---- loops --------------------------------------------------------------------------

def _canonical_loops(fn: ast.AST, scope: Scope) -> bool:
    changed = False
    for block in scope.blocks:
        j = 0
        while j < len(block):
            stmt = block[j]
            if isinstance(stmt, ast.While):
                replaced = _counter_loop(block, j)
                replaced = _iterator_loop(block, j, scope) if replaced is None else replaced
                if replaced is not None:
                    j, stmt, changed = replaced, block[replaced], True
            if isinstance(stmt, ast.For):
                changed |= _simplify_for(stmt, scope)
            j += 1
    return changed


def _is_increment(stmt: ast.stmt, name: str) -> bool:
    def one(v):
        return isinstance(v, ast.Constant) and v.value == 1
    if isinstance(stmt, ast.AugAssign):
        return (isinstance(stmt.target, ast.Name) and stmt.target.id == name and isinstance(stmt.op, ast.Add)
                and one(stmt.value))
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        v = stmt.value
        return (stmt.targets[0].id == name and isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add)
                and isinstance(v.left, ast.Name) and v.left.id == name and one(v.right))
    return False


def _same_loop(stmt: ast.stmt):
    """Nodes of stmt that belong to the enclosing loop (not to a loop nested in it)."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.For, ast.While, ast.AsyncFor) + DEFINITION) and node is not stmt:
            continue
        stack.extend(ast.iter_child_nodes(node))


def _init_of(block: list[ast.stmt], j: int, name: str) -> int | None:
    """Index of `name = ...` before block[j], with nothing between reading or binding name."""
    for k in range(j - 1, -1, -1):
        before = block[k]
        if isinstance(before, ast.Assign) and len(before.targets) == 1 and \
                isinstance(before.targets[0], ast.Name) and before.targets[0].id == name:
            return k
        touched = Scope(before)
        if touched.loads[name] or touched.stores[name]:
            return None
    return None


def _counter_loop(block: list[ast.stmt], j: int) -> int | None:
    """`i = a; while i < b: ...; i += 1` -> `for i in range(a, b)`; the new index of the loop."""
    loop = block[j]
    test = loop.test
    if loop.orelse or not isinstance(test, ast.Compare) or len(test.ops) != 1 or not loop.body:
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, ast.Gt) and isinstance(right, ast.Name):
        left, right, op = right, left, ast.Lt()
    if not (isinstance(left, ast.Name) and isinstance(op, (ast.Lt, ast.NotEq))):
        return None
    name, body = left.id, loop.body
    if not _is_increment(body[-1], name) or Scope(ast.Module(body=body[:-1], type_ignores=[])).stores[name]:
        return None
    if any(isinstance(n, ast.Continue) for s in body for n in _same_loop(s)):
        return None
    k = _init_of(block, j, name)
    if k is None or loads(block[k].value)[name]:
        return None
    call = ast.Call(func=ast.Name(id="range", ctx=ast.Load()), args=[block[k].value, right], keywords=[])
    target = ast.Name(id=name, ctx=ast.Store())
    for node in (call, call.func, target):
        ast.copy_location(node, loop)
        node.end_lineno = loop.lineno
    del body[-1]  # in place: the loop's inner blocks are still to be visited
    block[j] = ast.copy_location(ast.For(target=target, iter=call, body=body or [ast.Pass()], orelse=[],
                                         type_comment=None), loop)
    del block[k]
    return j - 1


def _iterator_loop(block: list[ast.stmt], j: int, scope: Scope) -> int | None:
    """`it = iter(xs); while True: try: v = next(it) except StopIteration: break` -> `for v in xs`."""
    loop = block[j]
    if loop.orelse or not (isinstance(loop.test, ast.Constant) and loop.test.value in (True, 1)) or not loop.body:
        return None
    head = loop.body[0]
    if not (isinstance(head, ast.Try) and len(head.body) == 1 and len(head.handlers) == 1
            and not head.orelse and not head.finalbody):
        return None
    fetch, handler = head.body[0], head.handlers[0]
    if not (isinstance(fetch, ast.Assign) and len(fetch.targets) == 1 and isinstance(fetch.value, ast.Call)
            and dotted(fetch.value.func) == "next" and len(fetch.value.args) == 1
            and isinstance(fetch.value.args[0], ast.Name) and handler.type is not None
            and dotted(handler.type) == "StopIteration"
            and len(handler.body) == 1 and isinstance(handler.body[0], ast.Break)):
        return None
    it = fetch.value.args[0].id
    k = _init_of(block, j, it)
    if k is None or scope.loads[it] != 1:
        return None
    value = block[k].value
    if not (isinstance(value, ast.Call) and dotted(value.func) == "iter" and len(value.args) == 1):
        return None
    del loop.body[0]
    block[j] = ast.copy_location(ast.For(target=fetch.targets[0], iter=value.args[0], body=loop.body or [ast.Pass()],
                                         orelse=[], type_comment=None), loop)
    del block[k]
    return j - 1


def _simplify_for(loop: ast.For, scope: Scope) -> bool:
    changed = False
    it = loop.iter
    if (isinstance(it, ast.Call) and dotted(it.func) == "enumerate" and it.args and not it.keywords
            and isinstance(loop.target, ast.Tuple) and len(loop.target.elts) == 2
            and isinstance(loop.target.elts[0], ast.Name) and not scope.loads[loop.target.elts[0].id]):
        loop.iter, loop.target, changed = it.args[0], loop.target.elts[1], True
    first = loop.body[0] if loop.body else None
    if (isinstance(loop.target, ast.Name) and isinstance(first, ast.Assign) and len(first.targets) == 1
            and isinstance(first.value, ast.Name) and first.value.id == loop.target.id
            and scope.loads[loop.target.id] == 1):
        loop.target, changed = first.targets[0], True
        del loop.body[0]
        if not loop.body:
            loop.body.append(ast.Pass())
    return changed


# ---- canonical order ----------------------------------------------------------------

SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Import, ast.ImportFrom, ast.Delete)


def canonical_order(run: list[ast.stmt], keys: list[tuple]) -> list[int]:
    """Positions of a run of simple statements in canonical order: repeatedly the one with
    the smallest key (its tokens) among those whose predecessors it depends on are out."""
    effects = [_effects(s) for s in run]
    after = {i: {j for j in range(i) if _conflict(effects[j], effects[i])} for i in range(len(run))}
    order: list[int] = []
    done: set[int] = set()
    while len(order) < len(run):
        pick = min((i for i in range(len(run)) if i not in done and after[i] <= done), key=lambda i: (keys[i], i))
        done.add(pick)
        order.append(pick)
    return order


def _effects(stmt: ast.stmt) -> tuple[set[str], set[str], bool]:
    """(reads, writes, has a side effect): names, or `self.attr` for a layer. A call
    statement (`opt.step()`) writes what it is called on and its arguments, and keeps
    its place among the other call statements."""
    reads, writes = set(), set()
    for node in _walk(stmt):
        if isinstance(node, ast.Name):
            (reads if isinstance(node.ctx, ast.Load) else writes).add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            (reads if isinstance(node.ctx, ast.Load) else writes).add("self." + node.attr)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            root = node
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                writes.add(root.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            writes.update(a.asname or a.name.split(".")[0] for a in node.names)
    if isinstance(stmt, ast.AugAssign):
        reads |= writes
    side_effect = isinstance(stmt, (ast.Expr, ast.Delete))
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
            func = func.func if isinstance(func, ast.Call) else func.value
        if isinstance(func, ast.Name):
            writes.add(func.id)
        writes.update(a.id for a in stmt.value.args if isinstance(a, ast.Name))
    reads.discard("self")
    return reads, writes, side_effect


def _walk(node: ast.AST):
    """ast.walk without the Load/Store markers (a third of the nodes)."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        for name in node._fields:
            if name != "ctx":
                value = getattr(node, name, None)
                if type(value) is list:
                    stack.extend(v for v in value if isinstance(v, ast.AST))
                elif isinstance(value, ast.AST):
                    stack.append(value)


def _conflict(earlier: tuple[set[str], set[str], bool], later: tuple[set[str], set[str], bool]) -> bool:
    r1, w1, s1 = earlier
    r2, w2, s2 = later
    return (s1 and s2) or bool(w1 & (r2 | w2) or r1 & w2)
