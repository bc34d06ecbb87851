"""`autograder batch DIR`: grade a whole class (or one shard of it) with parallel
workers, storing every result durably as it arrives, then write the gradebook, the
per-student reports, the summary and the histogram from the store."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import autograder
from autograder.batch.discover import discover
from autograder.batch.grade import GradingOptions, grading_key
from autograder.batch.outputs import preload_plotting, write_outputs, write_student_reports
from autograder.batch.pool import WorkerPool
from autograder.batch.shard import parse_shard, roster_hash
from autograder.batch.siblings import available_cores, start_zygote, worker_threads
from autograder.batch.store import SCHEMA, ResultStore
from autograder.course import UsageError

LOCK_NAME = ".batch.lock"


def selected_points(course, assignment_ids: list[str] | None) -> list[tuple[str, float]]:
    if assignment_ids:
        return [(a, float(course.assignment(a).points)) for a in dict.fromkeys(assignment_ids)]
    return [(a.id, float(a.points)) for a in course.assignments]


def require_cuda_or_fail() -> None:
    import torch
    if not torch.cuda.is_available():
        raise UsageError("--require-cuda: no CUDA device is visible on this runner "
                         "(torch.cuda.is_available() is False); not grading")


def prepare_out(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    # A lock file alone is what a batch killed before its first write leaves behind.
    if out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()):
        if not resume:
            raise UsageError(f"--out {out} already holds files; pass --resume to continue that batch, "
                             f"or choose an empty --out")
        if not ResultStore.exists(out):
            raise UsageError(f"--resume: {out} is not a batch output folder (no results.sqlite)")
    out.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def exclusive(out: Path):
    """One batch per output folder at a time; the kernel drops the lock if we are killed."""
    import fcntl
    with open(out / LOCK_NAME, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(f"another batch is writing to {out}; wait for it or use another --out") from None
        yield


def run_batch(args, course) -> int:
    if args.require_cuda:
        require_cuda_or_fail()
    points = selected_points(course, args.assignment)
    shard = parse_shard(args.shard)
    cores = available_cores()
    jobs = args.jobs if args.jobs is not None else cores
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    # The zygote's torch import is the longest step before the first grade: it starts
    # first and imports while the class is found and the store is read. The command
    # line starts it even before the course is loaded (siblings.zygote_for_command).
    threads = worker_threads(cores, jobs)
    zygote = getattr(args, "zygote", None)
    if zygote is None or zygote.threads != threads:
        zygote = start_zygote(threads)
    try:
        return _run(args, course, points, shard, threads, jobs, zygote)
    finally:
        if zygote is not None:
            zygote.close(wait=False)  # a no-op once the pool has closed it


def _run(args, course, points, shard, threads: int, jobs: int, zygote) -> int:
    layout, submissions = discover(args.path, [a.id for a in course.assignments])
    roster = [s.student for s in submissions]
    mine = set(shard.select(roster))
    submissions = [s for s in submissions if s.student in mine]
    options = GradingOptions(device=args.device or course.devices.default, seed=args.seed,
                             assignments=tuple(a for a, _ in points) if args.assignment else None,
                             require_cuda=bool(args.require_cuda), torch_threads=threads,
                             points=tuple(points), language=getattr(args, "language", None) or course.language)
    key = grading_key(course, options)
    out = Path(args.out)
    prepare_out(out, args.resume)
    with exclusive(out):
        store = ResultStore(out)
        try:
            previous = store.meta().get("shard")
            if previous is not None and previous != str(shard):
                raise UsageError(f"--resume: {out} holds shard {previous}, not {shard}")
            info = {"schema": SCHEMA, "shard": str(shard), "roster": sorted(roster),
                    "roster_hash": roster_hash(roster), "source": str(Path(args.path).resolve()),
                    "layout": layout, "grading_key": key, "points": points,
                    "course_max": sum(p for _, p in points), "autograder": autograder.__version__}
            store.set_meta(info)
            finished = store.finished()
            store.forget([s for s in finished if s not in mine])
            pending = [s for s in submissions if finished.get(s.student) != (s.content_hash, key)]
            print(f"batch: {len(submissions)} submissions ({layout} layout, shard {shard}), "
                  f"{len(submissions) - len(pending)} already graded, grading {len(pending)} with "
                  f"{min(jobs, max(1, len(pending)))} worker(s), {options.torch_threads} torch thread(s) each",
                  file=sys.stderr)
            written: set[str] = set()
            pool = _grade(pending, course, options, jobs, key, store, out, written, zygote)
            try:
                results = store.results(sorted(mine))
                write_outputs(out, results, points, info, frozenset(written))
            finally:
                if pool is not None:
                    pool.close()  # its workers closed their sandboxes meanwhile
        finally:
            store.close()
    graded = sum(1 for r in results if r.status == "graded")
    print(f"batch: {len(results)} results ({graded} graded cleanly) in {out}: gradebook.csv, "
          f"summary.txt, histogram.png, reports/", file=sys.stderr)
    return 0


def _grade(pending, course, options: GradingOptions, jobs: int, key: str,
           store: ResultStore, out: Path, written: set[str], zygote=None) -> WorkerPool | None:
    """Grade the pending submissions into the store, writing each one's report files
    once it is stored (their names go into `written`); returns the pool, whose workers
    are still stopping (close it once the outputs are written)."""
    if not pending:
        return None
    import threading
    from tqdm import tqdm
    threading.Thread(target=preload_plotting, name="preload-plotting", daemon=True).start()
    deadline = 2 * course.limits.submission_timeout_s + 120
    with tqdm(total=len(pending), file=sys.stderr, unit="sub", dynamic_ncols=True) as bar:
        def on_result(result) -> None:
            sub = next(s for s in pending if s.student == result.student)
            result.content_hash, result.grading_key = sub.content_hash, key
            store.put(result)
            # Now rather than at the end, where the batch waits for them: a worker is
            # already grading its next submission meanwhile.
            write_student_reports(out, result)
            written.add(result.student)
            bar.set_postfix_str(f"{result.student}: {result.status}", refresh=False)
            bar.update(1)
        pool = WorkerPool(jobs, course, options, deadline, zygote)
        pool.run(pending, on_result)
    return pool
