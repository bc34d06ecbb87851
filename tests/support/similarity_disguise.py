"""How the copiers of tests/support/similarity_realistic.py disguise a classmate's notebook, at
three levels, as source-to-source rewrites on Python's syntax tree:

0. verbatim: the same cells, a comment added here and there;
1. renamed/reordered: every local name and layer attribute renamed, methods reordered
   (forward before __init__), independent neighbouring statements swapped, the code
   reformatted (ast.unparse: comments gone, quotes and spacing changed);
2. interleaved/rewritten: level 1, then a print, an assert or an unused temporary every
   2-4 statements, for loops rewritten as while loops (counters, iterators; some in a
   form a normaliser may not know), nested calls split in two with a temporary, and
   numbers moved into variables.

These are the disguises issue 23 lists. Their forms vary (a third of the counter loops
become `while True: if i >= n: break`, which the normaliser does not turn back into a for
loop), so a disguised copy is not a template of what the normaliser undoes.
"""
from __future__ import annotations

import ast
import builtins
import random

_NAMES = ["a", "b", "tmp", "val", "res", "acc", "cnt", "buf", "item", "elem", "feat", "act", "hidden", "prob",
          "batch_in", "batch_lbl", "model_out", "err", "score_sum", "n_ok", "num", "count_all", "layer_out",
          "cur", "agg", "store", "thing", "stuff", "xx", "yy", "my_var", "vals", "q", "k", "m", "r"]
_ATTRS = ["layer_a", "layer_b", "layer_c", "layer_d", "layer_e", "block1", "block2", "lin_a", "lin_b", "lin_c",
          "pooling", "activation", "part1", "part2", "extractor", "decider"]
_KEEP = set(dir(builtins)) | {"self", "torch", "nn", "F", "np", "math", "transforms", "optim", "torchvision"}


def copy_cells(cells: dict[str, str], level: int, rng: random.Random) -> dict[str, str]:
    copied = {}
    for name, source in cells.items():
        if level == 0:
            copied[name] = ("# my solution\n" + source) if rng.random() < 0.3 else source
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            copied[name] = source
            continue
        rename(tree, rng)
        reorder(tree, rng)
        if level >= 2:
            for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
                rewrite_loops(fn, rng)
                split_expressions(fn, rng)
                move_constants(fn, rng)
                interleave(fn, rng)
        ast.fix_missing_locations(tree)
        text = ast.unparse(tree)
        ast.parse(text)
        copied[name] = text
    return copied


def _fresh(rng: random.Random, pool: list[str], taken: set[str]) -> str:
    free = [n for n in pool if n not in taken]
    name = rng.choice(free) if free else f"v{len(taken)}"
    taken.add(name)
    return name


# ---- level 1 ------------------------------------------------------------------------

def rename(tree: ast.Module, rng: random.Random) -> None:
    """Local variables of every function and the layer attributes of every class."""
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | _KEEP
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        attrs = {n.attr for n in ast.walk(cls) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                 and isinstance(n.value, ast.Name) and n.value.id == "self"}
        new = {a: _fresh(rng, _ATTRS, taken) for a in sorted(attrs)}
        for n in ast.walk(cls):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self" and n.attr in new:
                n.attr = new[n.attr]
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        local = sorted({n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                       - params - _KEEP)
        new = {name: _fresh(rng, _NAMES, taken) for name in local}
        for n in ast.walk(fn):
            if isinstance(n, ast.Name) and n.id in new:
                n.id = new[n.id]


def _effects(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    reads, writes = set(), set()
    for n in ast.walk(stmt):
        if isinstance(n, ast.Name):
            (reads if isinstance(n.ctx, ast.Load) else writes).add(n.id)
        elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            (reads if isinstance(n.ctx, ast.Load) else writes).add(f"{n.value.id}.{n.attr}")
    return reads, writes


def _independent(a: ast.stmt, b: ast.stmt) -> bool:
    simple = (ast.Assign, ast.AugAssign)
    if not (isinstance(a, simple) and isinstance(b, simple)):
        return False
    (ra, wa), (rb, wb) = _effects(a), _effects(b)
    if isinstance(a, ast.AugAssign):
        ra |= wa
    if isinstance(b, ast.AugAssign):
        rb |= wb
    return not (wa & (rb | wb) or ra & wb)


def _blocks(fn: ast.AST):
    """Statement lists of fn, not entering nested functions or classes."""
    stack = [fn]
    while stack:
        node = stack.pop()
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block
                stack += [s for s in block if not isinstance(s, (ast.FunctionDef, ast.ClassDef))]
        for handler in getattr(node, "handlers", []):
            yield handler.body
            stack += handler.body


def reorder(tree: ast.Module, rng: random.Random) -> None:
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        methods = [s for s in cls.body if isinstance(s, ast.FunctionDef)]
        rest = [s for s in cls.body if not isinstance(s, ast.FunctionDef)]
        cls.body = rest + methods[::-1]
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        for block in _blocks(fn):
            for i in range(len(block) - 1):
                if _independent(block[i], block[i + 1]) and rng.random() < 0.7:
                    block[i], block[i + 1] = block[i + 1], block[i]


# ---- level 2 ------------------------------------------------------------------------

def _parse(text: str) -> list[ast.stmt]:
    return ast.parse(text).body


def rewrite_loops(fn: ast.FunctionDef, rng: random.Random) -> None:
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | _KEEP
    for block in list(_blocks(fn)):
        i = 0
        while i < len(block):
            loop = block[i]
            if not isinstance(loop, ast.For) or loop.orelse or any(isinstance(n, ast.Continue) for n in ast.walk(loop)):
                i += 1
                continue
            target = ast.unparse(loop.target)
            it = loop.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and len(it.args) == 1:
                counter = target if isinstance(loop.target, ast.Name) and target != "_" else _fresh(rng, _NAMES, taken)
                stop = ast.unparse(it.args[0])
                form = rng.random()
                if form < 0.7:
                    head = _parse(f"{counter} = 0\nwhile {counter} < {stop}:\n    pass")
                    head[1].body = loop.body + _parse(f"{counter} += 1")
                else:  # a form a normaliser is less likely to know
                    head = _parse(f"{counter} = 0\nwhile True:\n    if {counter} >= {stop}:\n        break")
                    head[1].body += loop.body + _parse(f"{counter} = {counter} + 1")
            elif rng.random() < 0.6:
                source = _fresh(rng, _NAMES, taken)
                head = _parse(f"{source} = iter({ast.unparse(it)})\nwhile True:\n    try:\n"
                              f"        {target} = next({source})\n    except StopIteration:\n        break")
                head[1].body += loop.body
            else:
                i += 1
                continue
            block[i:i + 1] = head
            i += len(head)


_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _calls(node: ast.AST):
    """Calls in node outside comprehensions and lambdas (whose names are their own)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, _SCOPES):
            continue
        if isinstance(n, ast.Call):
            yield n
        stack.extend(ast.iter_child_nodes(n))


def _nested_call(stmt: ast.stmt) -> tuple[ast.Call, ast.Call] | None:
    """(outer, inner): a call that is an argument of another, or the object of a method call."""
    value = getattr(stmt, "value", None)
    if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Return, ast.Expr)) or value is None:
        return None
    for call in _calls(value):
        for arg in call.args:
            if isinstance(arg, ast.Call):
                return call, arg
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call) \
                and not (isinstance(call.func.value.func, ast.Name) and call.func.value.func.id == "super"):
            return call, call.func.value
    return None


def split_expressions(fn: ast.FunctionDef, rng: random.Random) -> None:
    """`x = f(g(y))` -> `t = g(y); x = f(t)`, in up to three places."""
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | _KEEP
    sites = [(block, stmt) for block in _blocks(fn) for stmt in block if _nested_call(stmt) is not None]
    for block, stmt in rng.sample(sites, min(len(sites), rng.randint(1, 3))):
        outer, inner = _nested_call(stmt)
        name = _fresh(rng, _NAMES, taken)
        if inner in outer.args:
            outer.args[outer.args.index(inner)] = ast.Name(name, ast.Load())
        else:
            outer.func.value = ast.Name(name, ast.Load())
        block.insert(block.index(stmt), ast.Assign([ast.Name(name, ast.Store())], inner, lineno=0))


def move_constants(fn: ast.FunctionDef, rng: random.Random) -> None:
    """`nn.Linear(120, 84)` -> `hidden = 84; nn.Linear(120, hidden)`, in up to two places."""
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | _KEEP
    sites = []
    for block in _blocks(fn):
        for stmt in block:
            if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Return, ast.Expr)):
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Call):
                        sites += [(block, stmt, node, i) for i, a in enumerate(node.args)
                                  if isinstance(a, ast.Constant) and isinstance(a.value, (int, float))
                                  and not isinstance(a.value, bool)]
    for block, stmt, call, index in rng.sample(sites, min(len(sites), rng.randint(1, 2))):
        name = _fresh(rng, ["hidden", "n_out", "size", "dim", "axis", "scale", "k_size", "chans"], taken)
        block.insert(block.index(stmt), ast.Assign([ast.Name(name, ast.Store())], call.args[index], lineno=0))
        call.args[index] = ast.Name(name, ast.Load())


def interleave(fn: ast.FunctionDef, rng: random.Random) -> None:
    """A print, an assert or a temporary nobody reads every 2-4 statements."""
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | _KEEP
    params = [a.arg for a in fn.args.args if a.arg != "self"] or ["self"]
    for block in list(_blocks(fn)):
        known = list(params)
        out, gap = [], rng.randint(1, 3)
        for stmt in list(block):
            out.append(stmt)
            known += [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
            gap -= 1
            if gap == 0 and not isinstance(stmt, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
                v = rng.choice(known)
                tmp = _fresh(rng, ["dbg", "check", "tmp_val", "shape_info", "n_items", "marker", "debug_val", "probe"], taken)
                out += _parse(rng.choice([f"print({v})", f"print('{v}:', {v})", f"assert {v} is not None",
                                          f"{tmp} = type({v}).__name__", f"{tmp} = {v}", f"{tmp} = 0",
                                          f"print(f'step {{{v}}}')", f"{tmp} = str({v})[:20]"]))
                gap = rng.randint(2, 4)
        block[:] = out
