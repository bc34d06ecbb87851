"""One pytest session for many gradings: a batch worker collects the course's test files
once and runs their items for every student it grades.

A grading run on its own (`GradingPlugin.run`) starts pytest: configuration, plugins,
importing and collecting the test files, then the tests. For a worker that grades
hundreds of students against the same files, everything before the tests is the same
each time; measured per student it was a third of the worker's time. So the worker's
whole loop runs inside one pytest session (`serve_gradings`): the session collects the
files, then hands itself to the loop, and each student's run is the student's own
GradingPlugin over the items of its files, through pytest's own test protocol (setup,
call, teardown; fixtures and reports as in any session).

What keeps students apart:
* Per-test state lives in the student's GradingPlugin; the session's hooks and fixtures
  (`SharedSession`, a PerTestHooks) act on the run being served and on nothing else.
* A run ends with nothing set up: its last test is torn down with no next test, which
  tears down every fixture and node up to the session (as at the end of any session).
* What pytest keeps per item between runs (captured output sections) is cleared
  before each run; the session has no terminal reporter, which would keep every report.
* The hidden tests keep no state at module level (their fixtures are per test).
A session that was stopped in the middle of a run (pytest.exit, an interrupt) is not
used again: the runs after it start pytest on their own, as without a session.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Callable, TypeVar

import pytest

from autograder.plugin import (PYTEST_ARGS, GradingPlugin, PerTestHooks, ShortFailureReports, TestOutcome,
                               _forget_modules, _without_assertion_rewriting, _without_plugin_autoload, real_path)

T = TypeVar("T")


class _Discard(io.TextIOBase):
    """Where pytest's own terminal output goes: nothing reads it."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


class SharedSession(PerTestHooks):
    """The plugin of the shared session: collects once, then serves one GradingPlugin
    at a time (`run`)."""

    def __init__(self, test_files: list[str], body: Callable[["SharedSession"], T]):
        self.files = frozenset(real_path(f) for f in test_files)
        self.body = body
        self.current: GradingPlugin | None = None
        self.collection_errors: list[str] = []
        self.items: list = []
        self.descriptions: dict = {}  # each test's description, read once (GradingPlugin._describe)
        self.session = None
        self.broken = False
        self.served = False
        self.result = None
        self.error: BaseException | None = None
        self.streams = (sys.stdout, sys.stderr)  # the loop's own, restored around it

    def grading(self) -> GradingPlugin:
        if self.current is None:
            raise RuntimeError("a test ran outside a grading run of the shared session")
        return self.current

    # -- the session ---------------------------------------------------------------------
    def pytest_collectreport(self, report):
        if report.failed:
            last = (report.longreprtext or "").strip().splitlines()[-1:] or ["unknown error"]
            self.collection_errors.append(f"{report.nodeid}: {last[0]}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        """Instead of running the collected tests once: the loop that grades students."""
        self.session, self.items, self.served = session, list(session.items), True
        with contextlib.redirect_stdout(self.streams[0]), contextlib.redirect_stderr(self.streams[1]):
            try:
                self.result = self.body(self)
            except BaseException as exc:  # noqa: BLE001 - pytest would swallow it: handed back after
                self.error = exc
        return True

    # -- one grading run ---------------------------------------------------------------------
    def serves(self, plugin: GradingPlugin) -> bool:
        """Whether this session has collected every file the run needs."""
        return not self.broken and self.session is not None and self.current is None \
            and plugin.exercise is None and set(plugin.test_files) <= self.files

    def run(self, plugin: GradingPlugin) -> list[TestOutcome]:
        """What `plugin.run()` does, over the items collected once."""
        wanted = set(plugin.test_files)
        items = [i for i in self.items if real_path(i.path) in wanted]
        plugin.files_collected = list(plugin.test_files)
        plugin.collection_errors.extend(self.collection_errors)
        plugin.pytest_output = io.StringIO()
        plugin.exit_code = pytest.ExitCode.OK
        plugin.descriptions = self.descriptions
        self._forget_last_run()
        self.current = plugin
        try:
            kept = plugin._record(items)
            if self.collection_errors:
                kept = []  # as pytest does after collection errors: no test runs
            with contextlib.redirect_stdout(plugin.pytest_output), \
                    contextlib.redirect_stderr(plugin.pytest_output):
                self._run_items(kept)
        finally:
            self.current = None
        return plugin.finish()

    def _run_items(self, items: list) -> None:
        session = self.session
        for i, item in enumerate(items):
            # The last test has no next one: pytest tears everything down after it.
            nextitem = items[i + 1] if i + 1 < len(items) else None
            try:
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            except BaseException:
                self.broken = True  # torn down part way: the next runs start pytest themselves
                raise
            if session.shouldfail or session.shouldstop:
                self.broken = True
                return

    def _forget_last_run(self) -> None:
        """What pytest keeps from one run to the next that a run must not see."""
        for item in self.items:
            sections = getattr(item, "_report_sections", None)
            if isinstance(sections, list):
                sections.clear()


def serve_gradings(test_files: list[str], body: Callable[[SharedSession | None], T]) -> T:
    """Call body(session) inside one pytest session that has collected test_files, and
    return what it returns. Where pytest would not start a session (or stopped before
    its tests), body gets None and each run starts pytest on its own."""
    files = [real_path(f) for f in test_files]
    if not files:
        return body(None)
    host = SharedSession(files, body)
    rootdir = os.path.commonpath([os.path.dirname(f) for f in files])
    # No terminal reporter: nothing reads a session's terminal output, and it would keep
    # every report of every run (-q is its option).
    args = [*(a for a in PYTEST_ARGS if a != "-q"), "-p", "no:terminal", "--rootdir", rootdir, *files]
    sink = _Discard()
    short_reports = ShortFailureReports(lambda: host.current.outcomes if host.current else {})
    _forget_modules(files)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                _without_assertion_rewriting(), _without_plugin_autoload():
            pytest.main(args, plugins=[host, short_reports])
    finally:
        _forget_modules(files)
    if host.error is not None:
        raise host.error
    if not host.served:
        return body(None)
    return host.result
