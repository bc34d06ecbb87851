"""Parallel grading workers: a few long-lived processes, one submission each at a time.

Why not concurrent.futures: a worker that dies (the OOM killer, a grader bug) breaks a
ProcessPoolExecutor for every pending submission, and a hung worker cannot be stopped.
Here each worker has its own pipe, so the parent knows which submission a dead or
overdue worker was grading, records that one submission, and starts a fresh worker.
Submissions are handed out one at a time, so a fast worker never waits behind a slow one.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections import deque
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable

from autograder.batch.discover import StudentSubmission
from autograder.batch.grade import GradingOptions, error_result
from autograder.batch.siblings import Zygote, start_zygote, zygote_plan
from autograder.batch.store import Result
from autograder.course import CourseError
from autograder.sandbox.launcher import SandboxStartError

# A worker that dies while grading gets the submission once more in a fresh worker
# before it is recorded as an error (the first death may be the machine, not the student).
ATTEMPTS = 2


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the batch process dies (even by kill -9),
    so an interrupted batch leaves no orphan workers grading into the void."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers end when their pipe closes
        pass


def _worker_main(conn, course, options: GradingOptions, template=None) -> None:
    # No garbage collections until the worker's imports and its tests' collection are
    # done and frozen (grade.SubmissionGrader.serve turns them back on): none of that is
    # garbage, and the collections they set off took 0.1-0.5 s of a worker's start here.
    gc.disable()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threads = str(options.torch_threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads
    import torch
    torch.set_num_threads(options.torch_threads)
    from autograder.batch.grade import SubmissionGrader
    grader = SubmissionGrader(course, options, template=template)
    def loop() -> None:
        while True:
            try:
                sub = conn.recv()
            except EOFError:
                return
            if sub is None:
                return
            try:
                conn.send(grader.grade(sub))
            except CourseError as exc:
                conn.send(exc)
    try:
        grader.serve(loop)  # in one pytest session for all the worker's students
    finally:
        grader.close()


class _Worker:
    def __init__(self, ctx, course, options, zygote=None):
        self.template_home: str | None = None
        if zygote is not None:
            self.conn, self.process, self.template_home = zygote.worker(course, options)
        else:
            self.conn, child_conn = ctx.Pipe()
            self.process = ctx.Process(target=_worker_main, args=(child_conn, course, options), daemon=True)
            self.process.start()
            child_conn.close()
        self.task: StudentSubmission | None = None
        self.started = 0.0

    def assign(self, sub: StudentSubmission) -> None:
        self.task, self.started = sub, time.monotonic()
        try:
            self.conn.send(sub)
        except OSError:  # the worker already died; its sentinel reports it to the pool
            pass

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        if self.template_home is not None:
            shutil.rmtree(self.template_home, ignore_errors=True)


class WorkerPool:
    def __init__(self, jobs: int, course, options: GradingOptions, deadline_s: float,
                 zygote: Zygote | None = None):
        """zygote: one already started for these options' torch threads (the pool closes
        it); without one, run() starts its own where Linux allows."""
        self.jobs, self.course, self.options, self.deadline_s = jobs, course, options, deadline_s
        self.ctx = multiprocessing.get_context("spawn")  # torch is unsafe to fork once imported
        self.zygote = zygote
        self._stopping: list[_Worker] = []

    def _new_worker(self) -> _Worker:
        """Forked from the batch's zygote where Linux allows (one torch import per batch,
        shared pages); otherwise a spawned worker that starts its own template."""
        if self.zygote is not None:
            try:
                return _Worker(self.ctx, self.course, self.options, self.zygote)
            except (OSError, SandboxStartError) as exc:
                print(f"batch: workers are started the slow way (the zygote failed: {exc})", file=sys.stderr)
                self.zygote.close()
                self.zygote = None
        return _Worker(self.ctx, self.course, self.options)

    def run(self, tasks: list[StudentSubmission], on_result: Callable[[Result], None]) -> None:
        queue = deque(tasks)
        attempts: dict[str, int] = {}
        if self.zygote is None and tasks:
            self.zygote = start_zygote(self.options.torch_threads)
        if self.zygote is not None and tasks:  # decided while the zygote imports torch
            self.zygote.plan(*self._plan(tasks))
        workers = [self._new_worker() for _ in range(min(self.jobs, len(tasks)))]
        try:
            while True:
                for w in workers:
                    if w.task is None and queue:
                        w.assign(queue.popleft())
                busy = [w for w in workers if w.task is not None]
                if not busy:
                    break
                # Wake at the first deadline, so an overdue worker is stopped on time.
                first_due = min(w.started for w in busy) + self.deadline_s - time.monotonic()
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                                 timeout=min(1.0, max(0.0, first_due))))
                for i, w in enumerate(workers):
                    if w is None or w.task is None:
                        continue
                    if w.conn in ready:
                        try:
                            result = w.conn.recv()
                        except (EOFError, OSError):
                            result = None
                        if isinstance(result, CourseError):
                            raise result
                        if result is not None:
                            w.task = None
                            if queue:  # it grades the next one while this result is stored
                                w.assign(queue.popleft())
                            on_result(result)
                            continue
                    overdue = time.monotonic() - w.started > self.deadline_s
                    if w.conn in ready or w.process.sentinel in ready or overdue:
                        workers[i] = self._replace(w, overdue, queue, attempts, on_result)
                workers = [w for w in workers if w is not None]
        except BaseException:
            self._stop([w for w in workers if w is not None])
            self.close()
            raise
        # Every result is in: the workers close their sandboxes and templates while the
        # batch writes its outputs (close() waits for them).
        self._stop([w for w in workers if w is not None])

    def _stop(self, workers: list[_Worker]) -> None:
        self._stopping = workers
        for w in workers:
            try:
                w.conn.send(None)
            except OSError:
                pass

    def close(self) -> None:
        """Wait for the workers told to stop (killing any that do not), then let the
        zygote go: with every worker and template gone it has nothing left to do but
        exit, which the batch does not wait for."""
        for w in self._stopping:
            w.process.join(10)
            w.kill()
        self._stopping = []
        if self.zygote is not None:
            self.zygote.close(wait=False)
            self.zygote = None

    def _plan(self, tasks: list[StudentSubmission]) -> tuple[tuple, bool]:
        """siblings.zygote_plan for these submissions: only the assignments a student has
        a file for start a sandbox (the others are settled from their tests'
        descriptions), so only their tests count, once per file found."""
        from autograder.mapping import GradingError, map_files, test_files
        graded = self.options.graded(self.course)
        wanted = list(self.options.assignments) if self.options.assignments else None
        submitted, sandboxes = set(), 0
        for task in tasks:
            try:
                found = [a for a in map_files(Path(task.path), self.course, wanted)[0] if a in graded]
            except (GradingError, OSError):
                found = list(graded)  # grading will say what is wrong; plan for the worst
            submitted.update(found)
            sandboxes += len(found)
        return zygote_plan([f for a in graded if a in submitted for f in test_files(a)],
                           [t.path for t in tasks], sandboxes)

    def _replace(self, w: _Worker, overdue: bool, queue, attempts, on_result) -> _Worker | None:
        sub, elapsed = w.task, time.monotonic() - w.started
        w.kill()
        if overdue:
            on_result(error_result(sub, self.options, f"grading took longer than {self.deadline_s:.0f} s; "
                                   f"its grader worker was stopped", elapsed, status="timeout"))
        else:
            attempts[sub.student] = attempts.get(sub.student, 0) + 1
            if attempts[sub.student] < ATTEMPTS:
                queue.appendleft(sub)
            else:
                on_result(error_result(sub, self.options, f"the grader worker died (exit code "
                                       f"{w.process.exitcode}) while grading this submission", elapsed))
        # A fresh worker costs a torch import: start one only if there is work left for it.
        return self._new_worker() if queue else None
