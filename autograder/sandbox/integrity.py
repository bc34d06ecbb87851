"""Tamper detection for the kit code that shares the sandbox's interpreter.

Before the student's cells run, `Snapshot` records what the request loop, the wire
encoder and the probe registry are made of: every function's code object, defaults and
closure cells, every class's attributes, the modules' globals. `changed()` compares the
live objects with that record by identity; the request loop calls it after every call
into student code. A difference is a tamper attempt: the grader fails the affected
tests and flags the report.

This runs in the sandbox, so a thorough attacker can defeat it (by rewriting this very
check, say). It is a tripwire that flags ordinary-Python tampering; the points never
depend on it, they rest on values the grader fetched and checked itself.
"""
from __future__ import annotations

import types
from itertools import chain
from operator import attrgetter, is_

# Student code may replace builtins; the check keeps the originals.
from builtins import (RuntimeError, ValueError, all, any, dict, getattr, id, isinstance, len, list, map, set,  # noqa: A004
                      sorted, tuple, type, vars, zip)

_PARTS = attrgetter("__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__")
_CELL_CONTENTS = attrgetter("cell_contents")  # ValueError for an empty cell


def _function_parts(fn) -> tuple:
    closure = fn.__closure__ or ()
    contents = []
    for cell in closure:
        try:
            contents.append(cell.cell_contents)
        except ValueError:  # an empty cell
            contents.append(_EMPTY)
    return (fn.__code__, fn.__defaults__, fn.__kwdefaults__, fn.__globals__, closure, tuple(contents))


_EMPTY = object()
# Attributes Python itself caches on a class (copy/pickle store __slotnames__ on first use).
_CACHES = frozenset({"__slotnames__"})


def _cell_contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _EMPTY


class Snapshot:
    """Identity record of kit objects. `strict` containers may not gain attributes
    (a subclass method shadowing an inherited one is an added key); module globals may,
    because importing a submodule adds one."""

    def __init__(self):
        self._functions: dict = {}   # label -> (function, parts)
        self._namespaces: dict = {}  # label -> (live dict, copy, strict)
        self._seen: set = set()
        self._verified: tuple | None = None  # what the last clean check saw (_record): see changed()

    def add_function(self, label: str, fn) -> None:
        if id(fn) in self._seen:
            return
        self._seen.add(id(fn))
        self._functions[label] = (fn, _function_parts(fn))

    def add_namespace(self, label: str, namespace: dict, strict: bool) -> None:
        self._namespaces[label] = (namespace, dict(namespace), strict)
        for name, value in list(namespace.items()):
            self._add_member(f"{label}.{name}", value)

    def _add_member(self, label: str, value) -> None:
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            for part in (value.fget, value.fset, value.fdel):
                if isinstance(part, types.FunctionType):
                    self.add_function(label, part)
            return
        if isinstance(value, types.FunctionType):
            self.add_function(label, value)

    def add_class(self, label: str, cls) -> None:
        if id(cls) in self._seen:
            return
        self._seen.add(id(cls))
        # vars() of a class is a read-only proxy onto the live dict: changes show through it
        self.add_namespace(label, vars(cls), strict=True)

    def add_module(self, label: str, module, own_classes: bool = True) -> None:
        """The module's globals, its functions and (when own_classes) the classes it
        defines; plain dicts it holds (registries such as TEST_FUNCTIONS) strictly."""
        namespace = vars(module)
        self.add_namespace(label, namespace, strict=False)
        for name, value in list(namespace.items()):
            if isinstance(value, type) and own_classes and getattr(value, "__module__", None) == module.__name__:
                self.add_class(f"{label}.{name}", value)
            elif type(value) is dict and name != "__builtins__":  # builtins: the faults tests' turf
                self.add_namespace(f"{label}.{name}", value, strict=True)

    def changed(self) -> list[str]:
        """Labels of what differs from the record (empty when nothing does).

        It runs after every reply of the request loop (about 90 a student), so it first
        asks, in C, whether everything is the very object it was at the last check that
        found nothing: every function's parts and cells' contents and every recorded
        namespace's keys and values, in order (`all(map(operator.is_, ...))`, about half
        the time of comparing tuples of their ids). That record keeps the objects alive,
        so no object compared can be a new one at a reused address. Only when something
        differs are the live objects compared with the first record one by one (a module
        that gained a global is then found unchanged and the fast check starts from that
        state)."""
        if self._verified is not None and self._unchanged(self._verified):
            return []
        before = self._record()
        out = self._compare()
        # Taken as the new starting point only if nothing moved while it was compared
        # (student code may run threads).
        self._verified = before if not out and self._unchanged(before) else None
        return out

    def _record(self) -> tuple:
        functions = [fn for fn, _parts in self._functions.values()]
        parts = list(chain.from_iterable(map(_PARTS, functions)))
        cells = list(chain.from_iterable(fn.__closure__ or () for fn in functions))
        contents = list(map(_cell_contents, cells))
        namespaces = [(live, len(live), list(live), list(live.values())) for live, _copy, _strict
                      in self._namespaces.values()]
        return functions, parts, cells, contents, namespaces

    @staticmethod
    def _unchanged(record: tuple) -> bool:
        functions, parts, cells, contents, namespaces = record
        try:
            if not (all(map(is_, chain.from_iterable(map(_PARTS, functions)), parts))
                    and all(map(is_, map(_CELL_CONTENTS, cells), contents))):
                return False
            for live, size, keys, values in namespaces:
                # the sizes first: map() stops at the shorter of the two
                if len(live) != size or not (all(map(is_, live, keys)) and all(map(is_, live.values(), values))):
                    return False
        except (ValueError, RuntimeError):  # an emptied cell; a namespace changed while it was read
            return False
        return True

    def _compare(self) -> list[str]:
        out = []
        for label, (fn, parts) in self._functions.items():
            now = _function_parts(fn)
            if any(a is not b for a, b in zip(now[:5], parts[:5])) or len(now[5]) != len(parts[5]) \
                    or any(a is not b for a, b in zip(now[5], parts[5])):
                out.append(label)
        for label, (live, copy, strict) in self._namespaces.items():
            if strict and len(live) != len(copy) and any(k not in copy and k not in _CACHES for k in list(live)):
                out.append(label)
                continue
            for name, value in copy.items():
                if name not in live or live[name] is not value:
                    out.append(f"{label}.{name}")
        return sorted(set(out))
