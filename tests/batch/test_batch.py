"""`autograder batch` and `autograder merge`: a whole class through the sandbox, faulty
submissions mixed in, kill -9 and resume, shards and their merge."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from autograder.batch.discover import discover
from autograder.batch.merge import check_shards
from autograder.batch.shard import Shard, parse_shard, roster_hash
from autograder.batch.store import SCHEMA, Result, ResultStore
from autograder.course import UsageError
from batch_helpers import (ASSIGNMENT, FAULTY, FULL_MARKS, autograder_cmd, batch, clean_sources, env,
                           fast_course, gradebook, run_cli, source, write_class)
from hugepages import anon_huge_mb, huge_pages_possible

REPORT_FILES = {"report.json", "report.txt", "gradescope.json", "junit.xml", "classroom.txt"}


# -- fast unit tests: no grading -----------------------------------------------------------
def test_discover_default_layout_folders_and_files(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "01_tensors.ipynb").write_text("{}")
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob.py").write_text("x = 1")
    (tmp_path / "carol.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".DS_Store").write_text("")
    layout, subs = discover(tmp_path, [ASSIGNMENT])
    assert layout == "default"
    assert [s.student for s in subs] == ["alice", "bob", "carol"]
    assert subs[0].path == tmp_path / "alice"


def test_discover_nbgrader_layout_from_course_folder(tmp_path):
    for student in ("zoe", "adam"):
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "01_tensors.ipynb").write_text("{}")
        (folder / "timestamp.txt").write_text("2026-01-01")
    layout, subs = discover(tmp_path, [ASSIGNMENT])
    assert layout == "nbgrader"
    assert [(s.student, s.path) for s in subs] == [
        ("adam", tmp_path / "submitted" / "adam"), ("zoe", tmp_path / "submitted" / "zoe")]


def test_content_hash_follows_code_files_only(tmp_path):
    (tmp_path / "alice").mkdir()
    code = tmp_path / "alice" / "01_tensors.py"
    code.write_text("x = 1")
    before = discover(tmp_path, [ASSIGNMENT])[1][0].content_hash
    (tmp_path / "alice" / "README.txt").write_text("ignored")
    assert discover(tmp_path, [ASSIGNMENT])[1][0].content_hash == before
    code.write_text("x = 2")
    assert discover(tmp_path, [ASSIGNMENT])[1][0].content_hash != before


def test_content_hash_covers_every_file_grading_reads(tmp_path):
    """The hash and grading walk the same files: a change grading would see regrades."""
    from autograder.mapping import student_files
    folder = tmp_path / "bob"
    (folder / "_drafts").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    graded = folder / "_drafts" / "01_tensors.py"
    graded.write_text("x = 1")
    (folder / ".ipynb_checkpoints" / "01_tensors.py").write_text("old")
    assert student_files(folder) == [graded]
    before = discover(tmp_path, [ASSIGNMENT])[1][0].content_hash
    (folder / ".ipynb_checkpoints" / "01_tensors.py").write_text("older")
    assert discover(tmp_path, [ASSIGNMENT])[1][0].content_hash == before
    graded.write_text("x = 2")
    assert discover(tmp_path, [ASSIGNMENT])[1][0].content_hash != before


def test_discover_refuses_ambiguous_or_empty_folders(tmp_path):
    with pytest.raises(UsageError, match="no submissions"):
        discover(tmp_path, [ASSIGNMENT])
    (tmp_path / "dana.py").write_text("")
    (tmp_path / "dana.ipynb").write_text("{}")
    with pytest.raises(UsageError, match="'dana' has two submissions"):
        discover(tmp_path, [ASSIGNMENT])
    with pytest.raises(UsageError, match="does not exist"):
        discover(tmp_path / "nope", [ASSIGNMENT])


def test_shards_partition_the_class():
    students = [f"s{i:03d}" for i in range(31)]
    slices = [Shard(k, 3).select(students) for k in (1, 2, 3)]
    assert sorted(sum(slices, [])) == students
    assert [len(s) for s in slices] == [11, 10, 10]
    assert Shard(2, 3).select(list(reversed(students))) == slices[1]  # order of discovery is irrelevant
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


def _fake_shard(folder: Path, shard: str, roster: list[str], students: list[str], key: str = "k") -> Path:
    folder.mkdir(parents=True)
    store = ResultStore(folder)
    store.set_meta({"schema": SCHEMA, "shard": shard, "roster": roster, "roster_hash": roster_hash(roster),
                    "grading_key": key, "points": [[ASSIGNMENT, 10.0]], "course_max": 10.0})
    for s in students:
        store.put(Result(s, "graded", 5.0, 10.0, {ASSIGNMENT: 5.0}, {"report.txt": s}))
    meta, results = store.meta(), store.results()
    store.close()
    return folder, meta, results


def test_merge_refuses_overlaps_gaps_and_mismatches(tmp_path):
    roster = ["a", "b", "c", "d", "e"]
    s1 = _fake_shard(tmp_path / "1", "1/2", roster, ["a", "c", "e"])
    s2 = _fake_shard(tmp_path / "2", "2/2", roster, ["b", "d"])
    check_shards([s1, s2])  # the two halves are accepted
    with pytest.raises(UsageError, match=r"overlapping shards: .* both shard 1/2"):
        check_shards([s1, s2, _fake_shard(tmp_path / "1b", "1/2", roster, ["a", "c", "e"])])
    with pytest.raises(UsageError, match=r"missing shard\(s\) 2/2"):
        check_shards([s1])
    with pytest.raises(UsageError, match=r"overlapping shards: student .e. is in"):
        check_shards([s1, _fake_shard(tmp_path / "2x", "2/2", roster, ["b", "d", "e"])])
    with pytest.raises(UsageError, match=r"incomplete: 1 of 2 students"):
        check_shards([s1, _fake_shard(tmp_path / "2y", "2/2", roster, ["b"])])
    with pytest.raises(UsageError, match="different student lists"):
        check_shards([s1, _fake_shard(tmp_path / "2z", "2/2", roster + ["f"], ["b", "d"])])
    with pytest.raises(UsageError, match="different settings"):
        check_shards([s1, _fake_shard(tmp_path / "2w", "2/2", roster, ["b", "d"], key="other")])


def test_require_cuda_without_gpu_fails_before_grading(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: --require-cuda would grade")
    course_file = fast_course(tmp_path / "course")
    folder = write_class(tmp_path / "class", {"alice": source()})
    proc = batch(course_file, folder, tmp_path / "out", "--require-cuda")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "autograder: error: --require-cuda: no CUDA device is visible on this runner "
        "(torch.cuda.is_available() is False); not grading"]
    assert not (tmp_path / "out").exists()


def test_existing_output_is_never_overwritten(tmp_path):
    course_file = fast_course(tmp_path / "course")
    folder = write_class(tmp_path / "class", {"alice": source()})
    out = tmp_path / "out"
    out.mkdir()
    (out / "gradebook.csv").write_text("precious")
    proc = batch(course_file, folder, out)
    assert proc.returncode == 2 and "already holds files; pass --resume" in proc.stderr
    assert (out / "gradebook.csv").read_text() == "precious"
    proc = batch(course_file, folder, out, "--resume")
    assert proc.returncode == 2 and "not a batch output folder" in proc.stderr


def test_the_zygote_starts_before_the_class_is_read_and_is_killed_when_the_batch_stops_early(tmp_path, monkeypatch):
    """Its torch import overlaps finding the class and reading the store; a batch that
    stops on a usage error after starting it neither waits for the import nor leaves it."""
    from autograder.batch import runner
    from autograder.batch.siblings import zygote_supported
    from autograder.cli import build_parser
    from autograder.course import load_course
    if not zygote_supported():
        pytest.skip("no zygote on this platform")
    course = load_course(fast_course(tmp_path / "course"), check_notebooks=False)
    folder = write_class(tmp_path / "class", {"alice": source()})
    (tmp_path / "out").write_text("a file, not a folder")
    events, started = [], []
    start, discover_ = runner.start_zygote, runner.discover

    def start_zygote(threads):
        events.append("zygote")
        started.append(start(threads))
        return started[-1]

    def discover(*args):
        events.append("discover")
        return discover_(*args)
    monkeypatch.setattr(runner, "start_zygote", start_zygote)
    monkeypatch.setattr(runner, "discover", discover)
    args = build_parser().parse_args(["batch", str(folder), "--out", str(tmp_path / "out"), "--jobs", "1"])
    with pytest.raises(UsageError, match="is a file, not a folder"):
        runner.run_batch(args, course)
    assert events == ["zygote", "discover"]
    # killed at once, not waited for while it imports torch, and not left behind
    assert started[0] is not None and started[0].proc.poll() == -signal.SIGKILL


def test_the_batch_command_starts_its_zygote_before_loading_the_course(tmp_path, monkeypatch):
    """`autograder batch` starts the zygote as soon as its command line is parsed; a
    course that fails to load after that stops the command with its one-line error and
    kills the zygote."""
    import autograder.course
    from autograder import cli
    from autograder.batch import siblings
    if not siblings.zygote_supported():
        pytest.skip("no zygote on this platform")
    events, started = [], []
    start, load = siblings.start_zygote, autograder.course.load_course

    def start_zygote(threads):
        events.append("zygote")
        started.append(start(threads))
        return started[-1]

    def load_course(*args, **kwargs):
        events.append("course")
        return load(*args, **kwargs)
    monkeypatch.setattr(siblings, "start_zygote", start_zygote)
    monkeypatch.setattr(autograder.course, "load_course", load_course)
    code = cli.main(["--course", str(tmp_path / "missing.yaml"), "batch", str(tmp_path), "--jobs", "1"])
    assert code == 2
    assert events == ["zygote", "course"]
    assert started[0] is not None and started[0].proc.poll() == -signal.SIGKILL


# -- whole batches through the sandbox ------------------------------------------------------
@pytest.fixture(scope="module")
def course_file(tmp_path_factory):
    torch.set_num_threads(1)
    return fast_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def clean_class(tmp_path_factory):
    return write_class(tmp_path_factory.mktemp("class"), clean_sources())


@pytest.fixture(scope="module")
def baseline(course_file, clean_class, tmp_path_factory):
    """The uninterrupted, unsharded batch every other run is compared with."""
    out = tmp_path_factory.mktemp("baseline") / "out"
    proc = batch(course_file, clean_class, out)
    assert proc.returncode == 0, proc.stderr
    return out


def _stored(out: Path) -> list[tuple]:
    store = ResultStore(out)
    try:
        return [r.key() for r in store.results()]
    finally:
        store.close()


def test_batch_with_faulty_submissions_grades_everyone(course_file, clean_class, baseline, tmp_path):
    sources = {**clean_sources(), **{s: src for s, (src, _) in FAULTY.items()}}
    for i in range(30 - len(sources)):  # more copies of healthy work to reach a class of 30
        sources[f"copy_{i:02d}"] = source({"make_empty", "zeros_long"})
    folder = write_class(tmp_path / "class", sources)
    out = tmp_path / "out"
    proc = batch(course_file, folder, out)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in gradebook(out)}
    assert sorted(rows) == sorted(sources) and len(rows) >= 30
    for student, (_, expected) in FAULTY.items():
        assert rows[student]["status"] == expected, (student, rows[student])
    healthy = [s for s in sources if s not in FAULTY]
    assert {rows[s]["status"] for s in healthy} == {"graded"}
    assert float(rows["ref_full"]["total"]) == float(rows["ref_full"]["max_score"]) == FULL_MARKS
    assert float(rows["stub_blank"]["total"]) == 0
    assert float(rows["partial_05"]["total"]) > float(rows["partial_01"]["total"])
    # Healthy students score the same whether or not faulty ones share the batch.
    base = {r["student"]: r for r in gradebook(baseline)}
    assert all(rows[s] == base[s] for s in base)
    for student in sources:
        assert REPORT_FILES <= {p.name for p in (out / "reports" / student).iterdir()}, student
    report = json.loads((out / "reports" / "ref_full" / "report.json").read_text())
    assert report["schema"] == "autograder.report/1" and report["score"] == FULL_MARKS
    summary = (out / "summary.txt").read_text()
    assert f"{len(sources)} submissions" in summary and "Grade histogram" in summary
    assert "fault_exit: crashed" in summary
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kill_minus_9_then_resume_matches_uninterrupted_run(course_file, clean_class, baseline, tmp_path):
    out = tmp_path / "out"
    cmd = autograder_cmd(course_file, "batch", str(clean_class), "--out", str(out),
                         "--assignment", ASSIGNMENT, "--jobs", "1")
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while _count(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = {r[0]: r for r in _stored(out)}
    graded_at = _graded_at(out)
    assert 3 <= len(before) < len(clean_sources())
    # Each stored student's report files were written when the result arrived (the kill
    # may have caught the last one between the store and its files).
    reported = [s for s in before if REPORT_FILES <= {p.name for p in (out / "reports" / s).glob("*")}]
    assert len(reported) >= len(before) - 1
    early = {s: (out / "reports" / s / "report.json").read_text() for s in reported}
    proc = batch(course_file, clean_class, out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert f"{len(before)} already graded" in proc.stderr
    after = _stored(out)
    assert [r[0] for r in after] == sorted(clean_sources())  # exactly one result per student
    assert after == _stored(baseline)
    assert {s: t for s, t in _graded_at(out).items() if s in before} == graded_at  # not regraded
    assert gradebook(out) == gradebook(baseline)
    assert {s: (out / "reports" / s / "report.json").read_text() for s in reported} == early
    for student in clean_sources():
        assert REPORT_FILES <= {p.name for p in (out / "reports" / student).iterdir()}, student


def test_resume_regrades_only_changed_submissions(course_file, tmp_path):
    folder = write_class(tmp_path / "class", {"alice": source(), "bob": source(set())})
    out = tmp_path / "out"
    assert batch(course_file, folder, out).returncode == 0
    first = _graded_at(out)
    (folder / "bob.py").write_text(source({"make_empty", "zeros_long"}))
    proc = batch(course_file, folder, out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "1 already graded, grading 1" in proc.stderr
    second = _graded_at(out)
    assert second["alice"] == first["alice"] and second["bob"] > first["bob"]
    rows = {r["student"]: r for r in gradebook(out)}
    assert float(rows["bob"]["total"]) > 0


def test_a_class_folder_given_relative_to_the_working_directory(course_file, tmp_path):
    """`autograder batch class --out out`, as an instructor types it: the workers
    (forked from the zygote, which runs in its own folder) find the students' files
    where the batch process does."""
    write_class(tmp_path / "class", {"alice": source(), "bob": source({"make_empty"})})
    proc = run_cli(course_file, "batch", "class", "--out", "out", "--assignment", ASSIGNMENT,
                   "--jobs", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in gradebook(tmp_path / "out")}
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "graded", "bob": "graded"}
    assert float(rows["alice"]["total"]) == FULL_MARKS and 0 < float(rows["bob"]["total"]) < FULL_MARKS


def test_students_reports_are_in_the_requested_language(course_file, tmp_path):
    """batch --language vi writes each student's reports in Vietnamese (names, messages,
    the text report's frame, titles); the gradebook is the English run's."""
    folder = write_class(tmp_path / "class", {"alice": source({"make_empty"}), "bob": source()})
    outs = {}
    for language in ("en", "vi"):
        outs[language] = tmp_path / f"out-{language}"
        proc = batch(course_file, folder, outs[language], "--language", language)
        assert proc.returncode == 0, proc.stderr
    assert gradebook(outs["vi"]) == gradebook(outs["en"])
    text = (outs["vi"] / "reports" / "alice" / "report.txt").read_text()
    assert "Tổng điểm:" in text and "01_tensors (Tensor):" in text and "Total:" not in text
    report = json.loads((outs["vi"] / "reports" / "alice" / "report.json").read_text())
    english = json.loads((outs["en"] / "reports" / "alice" / "report.json").read_text())
    assert report["language"] == "vi" and english["language"] == "en"
    failed = [t["message"] for a in report["assignments"] for t in a["tests"] if t["status"] != "passed"]
    assert failed and all("chưa làm" in m for m in failed), failed[:3]


def test_shards_merge_into_the_unsharded_gradebook(course_file, clean_class, baseline, tmp_path):
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        proc = batch(course_file, clean_class, out, "--shard", f"{k}/3", jobs=1)
        assert proc.returncode == 0, proc.stderr
        shards.append(out)
    assert sum(len(gradebook(s)) for s in shards) == len(clean_sources())
    merged = tmp_path / "merged"
    proc = run_cli(course_file, "merge", *map(str, shards), "--out", str(merged))
    assert proc.returncode == 0, proc.stderr
    assert (merged / "gradebook.csv").read_text() == (baseline / "gradebook.csv").read_text()
    assert {p.name for p in (merged / "reports").iterdir()} == set(clean_sources())
    proc = run_cli(course_file, "merge", str(shards[0]), str(shards[2]), "--out", str(tmp_path / "m2"))
    assert proc.returncode == 2 and "missing shard(s) 2/3" in proc.stderr
    proc = run_cli(course_file, "merge", *map(str, shards), str(shards[1]), "--out", str(tmp_path / "m3"))
    assert proc.returncode == 2 and "overlapping shards" in proc.stderr


def _count(out: Path) -> int:
    db = out / "results.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def _graded_at(out: Path) -> dict[str, float]:
    with sqlite3.connect(out / "results.sqlite") as conn:
        return dict(conn.execute("SELECT student, graded_at FROM results"))


def test_a_grader_failure_becomes_an_error_row_for_that_student(tmp_path):
    from autograder.batch.discover import StudentSubmission
    from autograder.batch.grade import GradingOptions, SubmissionGrader
    from autograder.course import load_course

    course = load_course(fast_course(tmp_path), check_notebooks=False)
    options = GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),))
    grader = SubmissionGrader(course, options)
    try:
        def broken(*args, **kwargs):
            raise RuntimeError("disk full\nsecond line")
        grader._grade_path = broken
        result = grader.grade(StudentSubmission("eve", tmp_path / "eve.py", "abc"))
    finally:
        grader.close()
    assert (result.student, result.status, result.score, result.max_score) == ("eve", "error", 0.0, 10.0)
    assert result.assignment_scores == {ASSIGNMENT: 0.0}
    assert result.message == "grading failed: RuntimeError: disk full"


def test_a_worker_grades_with_collections_on_and_its_start_frozen(tmp_path, monkeypatch):
    """A worker starts with garbage collections off (pool._worker_main: its imports and
    the tests' collection make nothing to collect); before the first student its
    objects are frozen and collections are back on, so every grading collects as usual."""
    import gc
    import autograder.sandbox
    from autograder.batch.grade import GradingOptions, SubmissionGrader
    from autograder.course import load_course

    course = load_course(fast_course(tmp_path), check_notebooks=False)
    options = GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),))
    # no sandbox (no template to start): the loop grades nobody
    monkeypatch.setattr(autograder.sandbox, "SandboxFactory", lambda *args, **kwargs: None)
    grader = SubmissionGrader(course, options)
    seen = []
    frozen_before = gc.get_freeze_count()
    gc.disable()
    try:
        grader.serve(lambda: seen.append((gc.isenabled(), gc.get_freeze_count(), grader.session is not None)))
    finally:
        gc.enable()
        grader.close()
    assert len(seen) == 1
    enabled, frozen, in_session = seen[0]
    assert enabled and frozen > frozen_before and in_session


def test_an_overdue_grader_worker_is_stopped_and_the_batch_goes_on(tmp_path):
    from autograder.batch.discover import StudentSubmission
    from autograder.batch.grade import GradingOptions
    from autograder.batch.pool import WorkerPool
    from autograder.course import load_course

    course = load_course(fast_course(tmp_path), check_notebooks=False)
    options = GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),))
    subs = [StudentSubmission(s, write_class(tmp_path / "class", {s: source()}) / f"{s}.py", s)
            for s in ("ann", "bo")]
    results = []
    # No grading fits in 10 ms: each worker is stopped, recorded, and replaced for the next one.
    pool = WorkerPool(1, course, options, deadline_s=0.01)
    try:
        pool.run(subs, results.append)
    finally:
        pool.close()
    assert [(r.student, r.status) for r in results] == [("ann", "timeout"), ("bo", "timeout")]
    assert all("grader worker was stopped" in r.message for r in results)


def test_a_worker_is_handed_its_next_submission_before_its_result_is_stored(tmp_path, monkeypatch):
    """The store's commit (synchronous, ~3 ms) and the report files happen while the
    worker already grades the next submission, not while it waits for one."""
    from autograder.batch import pool as pool_module
    from autograder.batch.discover import StudentSubmission
    from autograder.batch.grade import GradingOptions
    from autograder.course import load_course

    course = load_course(fast_course(tmp_path), check_notebooks=False)
    options = GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),))
    folder = write_class(tmp_path / "class", {s: source() for s in ("ann", "bo", "cy")})
    subs = [StudentSubmission(s, folder / f"{s}.py", s) for s in ("ann", "bo", "cy")]
    events = []
    assign = pool_module._Worker.assign
    monkeypatch.setattr(pool_module._Worker, "assign",
                        lambda self, sub: (events.append(("assign", sub.student)), assign(self, sub)))
    pool = pool_module.WorkerPool(1, course, options, deadline_s=300)
    try:
        pool.run(subs, lambda result: events.append(("stored", result.student)))
        zygote = pool.zygote
    finally:
        pool.close()
    assert events == [("assign", "ann"), ("assign", "bo"), ("stored", "ann"), ("assign", "cy"),
                      ("stored", "bo"), ("stored", "cy")]
    if zygote is not None:  # let go, not waited for: it leaves by itself once its socket ends
        assert zygote.proc.returncode is None
        assert zygote.proc.wait(10) == 0


# -- the summary: one maximum everywhere (the reports'), and the CUDA policy stated --------
def graded(student: str, score: float, maximum: float, scores: dict, cuda_checks: str = "excluded") -> Result:
    report = {"score": score, "max_score": maximum,
              "environment": {"cuda_policy": "exclude", "cuda_checks": cuda_checks},
              "assignments": [{"id": a, "score": s, "max_score": m} for a, (s, m) in scores.items()]}
    return Result(student, "graded", score, maximum, {a: s for a, (s, _) in scores.items()},
                  {"report.json": json.dumps(report)})


def test_summary_uses_the_reports_maximum_and_states_the_cuda_policy():
    from autograder.batch.outputs import histogram_counts, summary_text
    points = [("05_training", 30.0), ("06_cuda", 20.0)]
    results = [graded("ada", 44.0, 44.0, {"05_training": (29.0, 29.0), "06_cuda": (15.0, 15.0)}),
               graded("bob", 22.0, 44.0, {"05_training": (14.5, 29.0), "06_cuda": (7.5, 15.0)})]
    summary = summary_text(results, points, {"source": "class", "shard": "1/1"})
    assert "Total (out of 44):" in summary and "full marks 1" in summary.splitlines()[3]
    assert "05_training: mean 21.75 of 29, full marks 1" in summary
    assert "06_cuda: mean 11.25 of 15, full marks 1" in summary
    assert "CUDA-only checks: excluded" in summary and "devices.without_gpu: exclude" in summary
    assert "the maximum is 44 instead of course.yaml's 50" in summary
    assert "percent of the maximum, 44" in summary
    # The perfect student is in the top bin, the half-marks one in 50-60 %.
    assert histogram_counts(results, 44.0) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert "100% | # 1" in summary


def test_summary_on_a_gpu_runner_keeps_course_points():
    from autograder.batch.outputs import summary_text
    results = [graded("ada", 20.0, 20.0, {"06_cuda": (20.0, 20.0)}, cuda_checks="ran")]
    summary = summary_text(results, [("06_cuda", 20.0)], {})
    assert "Total (out of 20):" in summary and "CUDA-only checks: ran on a GPU" in summary
    assert "instead of course.yaml" not in summary


def _parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_workers_and_their_templates_are_forked_from_one_clean_zygote(tmp_path, monkeypatch):
    """Issue 16: one torch import per batch. The worker and its sandbox template are the
    zygote's children; the zygote never saw the grader's environment; the worker grades
    as a spawned one does, and a killed worker's exit code is known."""
    from autograder.batch.discover import StudentSubmission
    from autograder.batch.grade import GradingOptions
    from autograder.batch.siblings import Zygote, zygote_supported
    from autograder.course import load_course
    if not zygote_supported():
        pytest.skip("no pidfd_open on this platform")
    monkeypatch.setenv("AUTOGRADER_TEST_CANARY", "grader-only")
    course = load_course(fast_course(tmp_path), check_notebooks=False)
    options = GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),))
    folder = write_class(tmp_path / "class", {"ann": source(), "bo": source(set())})
    zygote = Zygote(1)
    try:
        conn, process, _ = zygote.worker(course, options)
        for student in ("ann", "bo"):
            conn.send(StudentSubmission(student, folder / f"{student}.py", student))
            assert conn.poll(300), "the forked worker did not answer"
            result = conn.recv()
            assert result.status == "graded", result.message
            if student == "ann":
                assert result.score == FULL_MARKS
            else:
                assert result.score < FULL_MARKS
        templates = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != process.pid
                     and _parent_of_or_none(int(p)) == zygote.proc.pid]
        assert _parent_of(process.pid) == zygote.proc.pid and templates  # its template too
        assert b"AUTOGRADER_TEST_CANARY" not in Path(f"/proc/{zygote.proc.pid}/environ").read_bytes()
        process.kill()
        process.join(10)
        assert process.exitcode == -signal.SIGKILL
        conn.close()
    finally:
        zygote.close()


def _parent_of_or_none(pid: int) -> int | None:
    try:
        return _parent_of(pid)
    except (OSError, AssertionError):
        return None


PRELOAD_CHECK = """
import gc, sys
# the zygote and the template turn collections off only while they import
assert gc.isenabled(), "garbage collection is off in the sandbox"
# torch's optimizers import torch._dynamo on their first step (about 1 s, 80 MB): a
# template that has not imported it makes every sandbox pay that again
assert "torch._dynamo" in sys.modules, "torch._dynamo was not preloaded"
"""


@contextlib.contextmanager
def graded_in_a_zygote_worker(tmp_path, extra: str, plan: dict | None = None):
    """Grade one student (01 with `extra` appended) in a worker forked from a fresh
    zygote (told `plan` first, if given); yields (result, zygote) while both live."""
    from autograder.batch.discover import StudentSubmission
    from autograder.batch.grade import GradingOptions
    from autograder.batch.siblings import Zygote, zygote_supported
    from autograder.course import load_course
    if not zygote_supported():
        pytest.skip("no pidfd_open on this platform")
    course = load_course(fast_course(tmp_path), check_notebooks=False)
    options = GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),))
    folder = write_class(tmp_path / "class", {"ann": source(extra=extra)})
    zygote = Zygote(1)
    if plan is not None:
        zygote.plan(**plan)
    try:
        conn, process, _ = zygote.worker(course, options)
        conn.send(StudentSubmission("ann", folder / "ann.py", "ann"))
        assert conn.poll(300), "the forked worker did not answer"
        yield conn.recv(), zygote
        process.kill()
        process.join(10)
        conn.close()
    finally:
        zygote.close()


def test_a_zygote_forked_sandbox_starts_with_what_an_optimizer_step_imports(tmp_path):
    """The zygote's imports are what its workers' templates hand every sandbox."""
    with graded_in_a_zygote_worker(tmp_path, PRELOAD_CHECK) as (result, zygote):
        assert (result.status, result.score) == ("graded", FULL_MARKS), result.message
        # imported once in the zygote, so the templates share those pages instead of
        # importing it again each (torchvision's import is what brings torch._dynamo)
        assert "torchvision" in Path(f"/proc/{zygote.proc.pid}/maps").read_text()
        if huge_pages_possible():  # and folded into huge pages before the first fork
            assert anon_huge_mb(zygote.proc.pid) >= 200


NO_PRELOAD_CHECK = """
import sys as _sys
assert "torch._dynamo" not in _sys.modules, "torch._dynamo was preloaded"
# what every template imports (template.ALWAYS): a backward pass from an output with a
# gradient vector (what the grader's backward requests do) imports nothing more
_before = set(_sys.modules)
_leaf = torch.ones(2, requires_grad=True)
torch.autograd.backward([(_leaf * 3).tanh()], [torch.ones(2)])
assert not set(_sys.modules) - _before, sorted(set(_sys.modules) - _before)[:5]
_weight = torch.nn.Parameter(torch.ones(2))
_optimizer = torch.optim.SGD([_weight], lr=0.5)
_weight.sum().backward()
_optimizer.step()  # imports torch._dynamo here, in the sandbox
assert _weight.tolist() == [0.5, 0.5]
"""


def test_a_zygote_planned_without_the_preload_still_runs_an_optimizer_step(tmp_path):
    """A batch whose graded code needs no torch._dynamo starts 2 s sooner without it; a
    sandbox that turns out to need it imports it itself (slower, same result)."""
    with graded_in_a_zygote_worker(tmp_path, NO_PRELOAD_CHECK, {"preload": (), "fold": False}) as (result, zygote):
        assert (result.status, result.score) == ("graded", FULL_MARKS), result.message
        assert "torchvision" not in Path(f"/proc/{zygote.proc.pid}/maps").read_text()


def test_the_zygote_preloads_what_the_graded_code_mentions_and_folds_for_large_classes(tmp_path):
    import nbformat
    from autograder.batch.siblings import FOLD_WORTH_SANDBOXES, zygote_plan
    from autograder.mapping import test_files
    from autograder.sandbox.template import PRELOAD
    plain = [f for a in ("01_tensors", "03_autograd") for f in test_files(a)]
    training = list(test_files("05_training"))

    def notebook(name: str, code: str, prose: str = "") -> Path:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(prose), nbformat.v4.new_code_cell(code)]
        path = tmp_path / name
        nbformat.write(nb, path)
        return path
    quiet = notebook("quiet.ipynb", "import torch\nx = torch.ones(2)",
                     prose="optimizer.zero_grad() is for notebook 05; torchvision loads CIFAR-10")
    loud = notebook("loud.ipynb", "import torchvision\nx = 1")
    script = tmp_path / "script.py"
    script.write_text("import torch\nopt = torch.optim.SGD\n")
    assert zygote_plan(plain, [quiet], 2) == ((), False)  # the prose does not count
    assert zygote_plan(plain, [quiet, loud], 4)[0] == PRELOAD
    assert zygote_plan(plain, [script], 2)[0] == PRELOAD
    assert zygote_plan(training, [quiet], 1)[0] == PRELOAD  # 05's tests step optimizers
    assert zygote_plan(plain, [quiet] * 8, FOLD_WORTH_SANDBOXES) == ((), True)
    assert zygote_plan(plain, [quiet] * 8, FOLD_WORTH_SANDBOXES - 1) == ((), False)


def test_a_whole_course_batch_plans_for_the_assignments_students_submitted(tmp_path):
    """Grading the whole course when students handed in only 01 starts no sandbox for
    05 or 06, so their tests (which step optimizers) do not make the zygote preload."""
    from autograder.batch.discover import StudentSubmission
    from autograder.batch.grade import GradingOptions
    from autograder.batch.pool import WorkerPool
    from autograder.course import load_course
    from autograder.sandbox.template import PRELOAD
    course = load_course(fast_course(tmp_path), check_notebooks=False)
    points = tuple((a.id, float(a.points)) for a in course.assignments)
    folder = tmp_path / "class"
    for student in ("ann", "bo"):
        (folder / student).mkdir(parents=True)
        (folder / student / f"{ASSIGNMENT}.py").write_text(source())
    tasks = [StudentSubmission(s, folder / s, s) for s in ("ann", "bo")]
    pool = WorkerPool(1, course, GradingOptions("cpu", None, None, False, 1, points), 60)
    assert pool._plan(tasks) == ((), False)
    (folder / "bo" / "05_training.py").write_text("def train():\n    pass\n")
    assert pool._plan(tasks) == (PRELOAD, False)


def test_the_hidden_tests_of_01_to_04_import_no_torchvision():
    """What a worker imports to collect them: torchvision (and torch._dynamo) only where
    datasets are built, so a batch of these assignments never waits 2 s for them."""
    code = ("import sys\n"
            "import autograder.tests_hidden.test_01_tensors, autograder.tests_hidden.test_02_numpy_bridge\n"
            "import autograder.tests_hidden.test_03_autograd, autograder.tests_hidden.test_04_lenet\n"
            "print(sorted(m for m in ('torchvision', 'torch._dynamo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_standalone_template_sandbox_starts_with_what_an_optimizer_step_imports():
    from autograder.course import Limits
    from autograder.load import StudentCode
    from autograder.sandbox import SandboxFactory
    factory = SandboxFactory(Limits(test_timeout_s=60, submission_timeout_s=120), device="cpu")
    try:
        sub = factory.open(StudentCode.from_source(PRELOAD_CHECK + "\ndef ok():\n    return 1\n"), "preload")
        assert sub.load_status == "ok", sub.load_errors
        assert sub.call("ok") == 1
        sub.close()
    finally:
        factory.close()


def test_a_worker_asks_for_its_first_sandbox_before_it_collects_its_tests(tmp_path):
    """The first submission's sandbox starts while the worker's pytest session collects
    (SubmissionGrader.serve), not when the first submission arrives."""
    from autograder.batch.grade import GradingOptions, SubmissionGrader
    from autograder.course import load_course

    course = load_course(fast_course(tmp_path), check_notebooks=False)
    grader = SubmissionGrader(course, GradingOptions("cpu", None, (ASSIGNMENT,), False, 1, ((ASSIGNMENT, 10.0),)))
    seen = []
    try:
        grader.serve(lambda: seen.append(grader.factory._spare is not None and grader.factory._spare_link() is not None))
    finally:
        grader.close()
    assert seen == [True]
