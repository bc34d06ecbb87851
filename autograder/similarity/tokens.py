"""Student code -> the normalised token streams `autograder similarity` fingerprints.

A unit of code (a function, a method, a class's own statements, a cell's loose code) is
parsed, normalised on its syntax tree (autograder/similarity/normalize.py) and written
out one token per node in prefix order, the way JPlag compares token streams rather than
text: names the student binds are V and `self.<attr>` is `self.V`; imported names read as
the path they stand for (`F.relu`, `fn.relu` and `torch.nn.functional.relu` are one
token); builtins, attribute (API) names, keyword-argument names and numbers stay;
strings are S. `x += y` is written as `x = x + y`, literal arithmetic is folded
(`16 * 5 * 5` is 400), `range(n)` is `range(0, n)`, and each run of simple statements
comes out in canonical order. Each token carries the lines of the node it stands for, so
matches can be shown on the student's own text. A cell that does not parse falls back to
Python's tokenizer with the same naming rules.
"""
from __future__ import annotations

import ast
import builtins
import copy
import io
import keyword
import tokenize
from dataclasses import dataclass, field

from autograder.similarity.normalize import (DEFINITION, FUNCTION, SIMPLE, Scope, canonical_order, drop_noise,
                                             normalize_function)

Token = tuple[str, int, int]   # text, first and last line it stands for
OTHER = "(other code)"          # whatever is not an exercise: helpers, top-level statements

_BUILTINS = frozenset(dir(builtins))
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
        ast.Pow: "**", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
        ast.BitAnd: "&", ast.BitXor: "^", ast.And: "and", ast.Or: "or", ast.Not: "not",
        ast.Invert: "~", ast.UAdd: "+1", ast.USub: "-1", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<",
        ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
        ast.NotIn: "not in"}
_FOLDABLE = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv)
_PLAIN = {ast.Return: ("return", ("value",)), ast.Delete: ("del", ("targets",)), ast.Raise: ("raise", ("exc",)),
          ast.Assign: ("=", ("targets", "value")), ast.AnnAssign: ("=", ("target", "value")),
          ast.For: ("for", ("target", "iter")), ast.AsyncFor: ("for", ("target", "iter")),
          ast.While: ("while", ("test",)), ast.If: ("if", ("test",))}


@dataclass
class UnitCode:
    """One exercise of one submission: its text (what the report shows) and its token
    streams, each fingerprinted on its own so their order does not matter."""
    text: str = ""
    streams: list[list[Token]] = field(default_factory=list)


# ---- imports ------------------------------------------------------------------------

def import_aliases(sources: list[str]) -> dict[str, str]:
    """{local name: module path} for every import, so `import numpy as arr` reads like
    `import numpy as np`: a renamed alias is a renamed variable."""
    return _imports(tree for tree in map(_parse, sources) if tree is not None)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _statements(tree: ast.AST):
    """Every statement of tree, nested ones too (imports are statements: no need to walk
    expressions)."""
    stack = list(getattr(tree, "body", []))
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, name, None) or [])


def _imports(trees) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in _statements(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


# ---- units of a submission ----------------------------------------------------------

def split_units(sources: list[str], exercises: list[str], aliases: dict[str, str]) -> dict[str, UnitCode]:
    """{exercise: UnitCode} from a submission's cells: the functions and classes named
    like an exercise, and everything else as OTHER. A function and each method of a
    class is its own stream; a later definition replaces an earlier one, as it does
    when the notebook runs. aliases: the starter's imports (the cells' own are added)."""
    wanted = set(exercises)
    trees = [_parse(source) for source in sources]
    aliases = {**aliases, **_imports(tree for tree in trees if tree is not None)}
    units: dict[str, UnitCode] = {}
    for source, tree in zip(sources, trees):
        lines = source.split("\n")
        if tree is None:
            mapping = _append(units.setdefault(OTHER, UnitCode()), lines, 1, len(lines))
            units[OTHER].streams.append(_mapped(lexical_tokens(source, aliases), mapping))
            continue
        loose: list[ast.stmt] = []
        loose_map: dict[int, int] = {}
        for stmt in tree.body:
            first, last = _span(stmt)
            if isinstance(stmt, DEFINITION):
                name = stmt.name if stmt.name in wanted else OTHER
                if name != OTHER:
                    units[name] = UnitCode()
                unit = units.setdefault(name, UnitCode())
                mapping = _append(unit, lines, first, last)
                unit.streams += [_mapped(s, mapping) for s in definition_streams(stmt, aliases)]
            else:
                loose.append(stmt)
                loose_map.update(_append(units.setdefault(OTHER, UnitCode()), lines, first, last))
        if loose:
            units[OTHER].streams.append(_mapped(module_stream(loose, aliases), loose_map))
    return {name: unit for name, unit in units.items() if unit.streams}


def _span(stmt: ast.stmt) -> tuple[int, int]:
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return first, stmt.end_lineno or stmt.lineno


def _append(unit: UnitCode, lines: list[str], first: int, last: int) -> dict[int, int]:
    """Add cell lines first..last (1-based) to the unit's text; {cell line: unit line}."""
    text = unit.text.split("\n") if unit.text else []
    if text:
        text.append("")
    start = len(text) + 1
    text += lines[first - 1:last]
    unit.text = "\n".join(text)
    return {line: start + line - first for line in range(first, last + 1)}


def _mapped(tokens: list[Token], mapping: dict[int, int]) -> list[Token]:
    out = []
    for text, lo, hi in tokens:
        if lo == hi:
            line = mapping.get(lo, 0)
            out.append((text, line, line))
        else:
            lines = [mapping[n] for n in range(lo, hi + 1) if n in mapping] or [0]
            out.append((text, min(lines), max(lines)))
    return out


def definition_streams(stmt: ast.stmt, aliases: dict[str, str]) -> list[list[Token]]:
    """A function: one stream. A class: its header and own statements, then one stream
    per method, so the order of methods does not matter."""
    if isinstance(stmt, FUNCTION):
        return [function_stream(stmt, aliases)]
    methods = [s for s in stmt.body if isinstance(s, FUNCTION)]
    own = [s for s in stmt.body if not isinstance(s, FUNCTION)]
    header = copy.copy(stmt)
    header.body = drop_noise(own)
    writer = _Writer(aliases, Scope(header).bound)
    return [writer.statement(header)] + [function_stream(m, aliases) for m in methods]


def function_stream(fn: ast.FunctionDef | ast.AsyncFunctionDef, aliases: dict[str, str]) -> list[Token]:
    scope = normalize_function(fn)
    return _Writer(aliases, scope.bound).statement(fn)


def module_stream(statements: list[ast.stmt], aliases: dict[str, str]) -> list[Token]:
    statements = drop_noise(statements)
    holder = ast.Module(body=statements, type_ignores=[])
    return _Writer(aliases, Scope(holder).bound).block(statements)


def normalized_tokens(text: str, aliases: dict[str, str]) -> list[tuple[str, int]]:
    """(token, line) pairs for a piece of code, as the fingerprints see it."""
    tree = _parse(text)
    if tree is None:
        return [(t, lo) for t, lo, _ in lexical_tokens(text, aliases)]
    body, tokens = tree.body, []
    loose = [s for s in body if not isinstance(s, DEFINITION)]
    for stmt in body:
        if isinstance(stmt, DEFINITION):
            for stream in definition_streams(stmt, aliases):
                tokens += stream
    tokens += module_stream(loose, aliases) if loose else []
    return [(t, lo) for t, lo, _ in tokens]


# ---- writing tokens -----------------------------------------------------------------

class _Writer:
    def __init__(self, aliases: dict[str, str], bound: set[str]):
        self.aliases, self.bound = aliases, bound

    # statements
    def block(self, statements: list[ast.stmt]) -> list[Token]:
        """Statements in canonical order: within a run of simple statements, the one with
        the smallest tokens first among those whose predecessors they depend on are out."""
        out: list[Token] = []
        run: list[ast.stmt] = []
        for stmt in statements + [None]:
            if isinstance(stmt, SIMPLE):
                run.append(stmt)
                continue
            out += self._ordered(run)
            run = []
            if stmt is not None:
                out += self.statement(stmt)
        return out

    def _ordered(self, run: list[ast.stmt]) -> list[Token]:
        written = [self.statement(s) for s in run]
        if len(run) < 2:
            return [t for w in written for t in w]
        order = canonical_order(run, [tuple(t for t, _, _ in w) for w in written])
        return [t for i in order for t in written[i]]

    def statement(self, s: ast.stmt) -> list[Token]:
        out: list[Token] = []
        self._stmt(s, out)
        return out

    def _tok(self, out: list[Token], text: str, node: ast.AST, header: bool = False) -> None:
        lo = getattr(node, "lineno", 0)
        hi = lo if header else (getattr(node, "end_lineno", None) or lo)
        out.append((text, lo, hi))

    def _close(self, out: list[Token], text: str, node: ast.AST) -> None:
        end = getattr(node, "end_lineno", None) or getattr(node, "lineno", 0)
        out.append((text, end, end))

    def _body(self, out: list[Token], statements: list[ast.stmt], owner: ast.AST, tag: str = "}") -> None:
        out += self.block(statements)
        self._close(out, tag, owner)

    def _stmt(self, s: ast.stmt, out: list[Token]) -> None:
        e, t = self._expr, self._tok
        kind = type(s)
        if kind in _PLAIN:  # a token, the statement's expressions, its blocks
            token, fields = _PLAIN[kind]
            if kind is ast.AnnAssign and s.value is None:
                return
            t(out, token, s, header=hasattr(s, "body"))
            for name in fields:
                value = getattr(s, name)
                for part in value if isinstance(value, list) else [value]:
                    if part is not None:
                        e(part, out)
            if hasattr(s, "body"):
                self._body(out, s.body, s)
            if getattr(s, "orelse", None):
                self._body(out, s.orelse, s, "else}")
        elif isinstance(s, FUNCTION):
            t(out, "def", s, header=True)
            for d in s.decorator_list:
                t(out, "@", d)
                e(d, out)
            a = s.args
            out += [("arg", arg.lineno, arg.lineno) for arg in a.posonlyargs + a.args + a.kwonlyargs]
            for default in a.defaults + [d for d in a.kw_defaults if d is not None]:
                t(out, "=", default)
                e(default, out)
            out += [(star, arg.lineno, arg.lineno) for star, arg in (("*arg", a.vararg), ("**arg", a.kwarg)) if arg]
            self._body(out, s.body, s)
        elif isinstance(s, ast.ClassDef):
            t(out, "class", s, header=True)
            for part in s.bases + [kw.value for kw in s.keywords]:
                e(part, out)
            self._body(out, s.body, s)
        elif isinstance(s, ast.AugAssign):  # x += y is x = x + y
            t(out, "=", s)
            e(s.target, out)
            t(out, _OPS.get(type(s.op), "op"), s)
            e(s.target, out)
            e(s.value, out)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            t(out, "with", s, header=True)
            for item in s.items:
                e(item.context_expr, out)
                if item.optional_vars is not None:
                    e(item.optional_vars, out)
            self._body(out, s.body, s)
        elif isinstance(s, ast.Try) or kind.__name__ == "TryStar":
            t(out, "try", s, header=True)
            out += self.block(s.body)
            for handler in s.handlers:
                t(out, "except", handler, header=True)
                if handler.type is not None:
                    e(handler.type, out)
                out += self.block(handler.body)
            for tag, block in (("else}", s.orelse), ("finally}", s.finalbody)):
                if block:
                    self._body(out, block, s, tag)
            t(out, "}", s)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            module = f"{s.module}." if isinstance(s, ast.ImportFrom) and s.module else ""
            out += [("import " + module + a.name, s.lineno, s.lineno) for a in s.names]
        elif isinstance(s, ast.Expr):
            e(s.value, out)
        elif isinstance(s, (ast.Break, ast.Continue)):
            t(out, kind.__name__.lower(), s)
        elif not isinstance(s, (ast.Pass, ast.Global, ast.Nonlocal)):  # match, and whatever comes later
            t(out, kind.__name__, s, header=True)
            for child in ast.iter_child_nodes(s):
                if isinstance(child, ast.stmt):
                    self._stmt(child, out)
                elif isinstance(child, ast.expr):
                    e(child, out)

    # expressions
    def _name(self, name: str) -> str:
        if name in ("self", "cls"):
            return "self"
        if name in self.bound:
            return "V"
        if name in self.aliases:
            return self.aliases[name]
        if name in _BUILTINS or keyword.iskeyword(name):
            return name
        return "V"

    def _path(self, node: ast.AST) -> str | None:
        """`F.relu` -> torch.nn.functional.relu when F is an import; None otherwise."""
        if isinstance(node, ast.Name):
            return self.aliases[node.id] if node.id in self.aliases and node.id not in self.bound else None
        if isinstance(node, ast.Attribute):
            root = self._path(node.value)
            return f"{root}.{node.attr}" if root else None
        return None

    def _expr(self, n: ast.AST, out: list[Token]) -> None:
        e, t = self._expr, self._tok
        if isinstance(n, ast.Name):
            t(out, self._name(n.id), n)
        elif isinstance(n, ast.Attribute):
            path = self._path(n)
            if path:
                t(out, path, n)
            elif isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"):
                t(out, "self.V", n)  # the student's name for a layer; `x.view` is torch's
            else:
                e(n.value, out)
                t(out, "." + n.attr, n)
        elif isinstance(n, ast.Call):
            e(n.func, out)
            t(out, "(", n, header=True)
            args = list(n.args)
            if isinstance(n.func, ast.Name) and self._name(n.func.id) == "range" and not n.keywords:
                if len(args) == 3 and isinstance(args[2], ast.Constant) and args[2].value == 1:
                    args = args[:2]
                if len(args) == 1:
                    args = [ast.copy_location(ast.Constant(0), n)] + args
            for arg in args:
                e(arg, out)
            for kw in n.keywords:
                t(out, f"{kw.arg}=" if kw.arg else "**", kw.value)
                e(kw.value, out)
            self._close(out, ")", n)
        elif isinstance(n, ast.Constant):
            t(out, _constant(n.value), n)
        elif isinstance(n, (ast.BinOp, ast.UnaryOp)) and _folded(n) is not None:
            t(out, _constant(_folded(n)), n)
        elif isinstance(n, ast.BinOp):
            t(out, _OPS.get(type(n.op), "op"), n)
            e(n.left, out)
            e(n.right, out)
        elif isinstance(n, ast.UnaryOp):
            t(out, _OPS.get(type(n.op), "op"), n)
            e(n.operand, out)
        elif isinstance(n, ast.BoolOp):
            t(out, _OPS[type(n.op)] + "(", n)
            for value in n.values:
                e(value, out)
            self._close(out, ")", n)
        elif isinstance(n, ast.Compare):
            t(out, "cmp", n)
            e(n.left, out)
            for op, right in zip(n.ops, n.comparators):
                t(out, _OPS.get(type(op), "op"), right)
                e(right, out)
        elif isinstance(n, ast.Subscript):
            t(out, "[", n)
            e(n.value, out)
            e(n.slice, out)
            self._close(out, "]", n)
        elif isinstance(n, ast.Slice):
            t(out, ":", n)
            for part in (n.lower, n.upper, n.step):
                if part is None:
                    t(out, "_", n)
                else:
                    e(part, out)
        elif isinstance(n, (ast.Tuple, ast.List, ast.Set)):
            opener = {ast.Tuple: "(,", ast.List: "[,", ast.Set: "{,"}[type(n)]
            t(out, opener, n)
            for element in n.elts:
                e(element, out)
            self._close(out, ")", n)
        elif isinstance(n, ast.Starred):
            t(out, "*", n)
            e(n.value, out)
        elif isinstance(n, ast.Dict):
            t(out, "{:", n)
            for key, value in zip(n.keys, n.values):
                if key is None:
                    t(out, "**", value)
                else:
                    e(key, out)
                e(value, out)
            self._close(out, ")", n)
        elif isinstance(n, (ast.JoinedStr, ast.FormattedValue)):
            t(out, "S", n)
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            t(out, type(n).__name__, n)
            if isinstance(n, ast.DictComp):
                e(n.key, out)
                e(n.value, out)
            else:
                e(n.elt, out)
            for gen in n.generators:
                t(out, "for", gen.target)
                e(gen.target, out)
                e(gen.iter, out)
                for condition in gen.ifs:
                    t(out, "if", condition)
                    e(condition, out)
            self._close(out, ")", n)
        elif isinstance(n, ast.Lambda):
            t(out, "lambda", n)
            for arg in n.args.posonlyargs + n.args.args + n.args.kwonlyargs:
                t(out, "arg", arg)
            e(n.body, out)
        elif isinstance(n, ast.IfExp):
            t(out, "?:", n)
            e(n.test, out)
            e(n.body, out)
            e(n.orelse, out)
        else:  # NamedExpr, Await, Yield, ...: the node's name and its parts
            t(out, type(n).__name__, n)
            for child in ast.iter_child_nodes(n):
                if isinstance(child, ast.expr):
                    e(child, out)


def _constant(value) -> str:
    if isinstance(value, (str, bytes)):
        return "S"
    return repr(value)


def _folded(node: ast.AST):
    """The value of literal arithmetic (`16 * 5 * 5`, `-1`), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _folded(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.BinOp) and isinstance(node.op, _FOLDABLE):
        left, right = _folded(node.left), _folded(node.right)
        if left is None or right is None or max(abs(left), abs(right)) > 1e9:
            return None
        try:
            value = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}.get(type(node.op))
            if value is None:
                value = left / right if isinstance(node.op, ast.Div) else left // right
        except ZeroDivisionError:
            return None
        return value
    return None


# ---- the fallback for code that does not parse --------------------------------------

_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)   # Python 3.12 splits f-strings
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def lexical_tokens(text: str, aliases: dict[str, str]) -> list[Token]:
    """Tokens of code that does not parse (unfinished work still has its first lines):
    Python's tokenizer, names as above, strings S, comments and layout gone."""
    raw = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            raw.append(tok)
    except (tokenize.TokenError, SyntaxError):
        pass
    out: list[Token] = []
    depth, in_fstring = 0, 0
    for i, tok in enumerate(raw):
        if in_fstring:
            in_fstring += (tok.type == _FSTRING_START) - (tok.type == _FSTRING_END)
            continue
        line = tok.start[0]
        if tok.type in _DROPPED:
            continue
        if tok.type == tokenize.STRING or tok.type == _FSTRING_START:
            in_fstring = int(tok.type == _FSTRING_START)
            out.append(("S", line, line))
        elif tok.type == tokenize.NAME:
            prev = raw[i - 1].string if i else ""
            if keyword.iskeyword(tok.string) or prev == ".":
                name = tok.string
            elif depth and i + 1 < len(raw) and raw[i + 1].string == "=":
                name = tok.string + "="
            else:
                name = aliases.get(tok.string) or (tok.string if tok.string in _BUILTINS else "V")
            out.append((name, line, line))
        elif tok.type == tokenize.OP:
            depth += tok.string in "([{"
            depth -= tok.string in ")]}"
            if tok.string not in (",", ";"):
                out.append((tok.string, line, line))
        else:
            out.append((tok.string, line, line))
    return out
