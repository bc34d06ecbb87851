"""Grade one student inside a batch worker, always through the sandbox (`grade_path`),
and turn the report into a batch `Result`. Any exception here becomes an "error" result
for that student: one bad submission never stops the batch.
"""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import autograder
from autograder.course import CourseError
from autograder.localize import localized_report
from autograder.batch.discover import StudentSubmission
from autograder.batch.store import Result

# The gradebook's status column, from best to worst. A submission's status is the worst
# thing that happened while grading it; failing or unfinished exercises are still
# "graded". incomplete: an assignment's file is missing; load_error: a file could not be
# read or a cell raised while loading; timeout/memory/crashed: the student's code was
# stopped; error: the grader could not grade the submission at all.
STATUSES = ("graded", "incomplete", "load_error", "timeout", "memory", "crashed", "error")
FAULT_STATUSES = ("timeout", "memory", "crashed")
# Assignment-level statuses of the report (autograder.report.ASSIGNMENT_STATUSES) mapped
# to the gradebook's.
ASSIGNMENT_STATUS = {"missing": "incomplete", "unreadable": "load_error", "error": "load_error",
                     "timeout": "timeout", "memory": "memory", "crashed": "crashed"}

# Per-student report files: file name -> writer format.
REPORT_FILES = {
    "report.json": "json",
    "report.txt": "text",
    "gradescope.json": "gradescope",
    "junit.xml": "junit",
    "classroom.txt": "classroom",
}


@dataclass(frozen=True)
class GradingOptions:
    device: str
    seed: int | None
    assignments: tuple[str, ...] | None
    require_cuda: bool
    torch_threads: int
    points: tuple[tuple[str, float], ...]   # the graded assignments and their points
    language: str = "en"                    # of the students' report files (names, messages, frame)

    def graded(self, course) -> tuple[str, ...]:
        """The ids of the assignments graded: --assignment's, else the whole course's."""
        return self.assignments or tuple(a.id for a in course.assignments)


def worst(statuses) -> str:
    return max(statuses, key=STATUSES.index, default="graded")


def submission_status(report: dict) -> tuple[str, str]:
    """(status, one-line reason) of a graded report (the JSON report contract)."""
    found: dict[str, str] = {}
    for assignment in report.get("assignments", []):
        aid = assignment.get("id", "?")
        status = ASSIGNMENT_STATUS.get(assignment.get("status"))
        if status:
            found.setdefault(status, f"{aid}: {assignment.get('status')}{_first_note(assignment)}")
        for test in assignment.get("tests", []):
            if test.get("status") in FAULT_STATUSES:
                found.setdefault(test["status"], f"{aid}: {test.get('name') or test.get('id')}: "
                                                 f"{_first_line(test.get('message', ''))}")
        if assignment.get("load_errors"):
            first = assignment["load_errors"][0]
            text = first.get("message", "") if isinstance(first, dict) else str(first)
            found.setdefault("load_error", f"{aid}: {_first_line(text)}")
    status = worst(found)
    return status, found.get(status, "")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _first_note(assignment: dict) -> str:
    notes = assignment.get("notes") or []
    return f" ({_first_line(notes[0])})" if notes else ""


def error_result(sub: StudentSubmission, options: GradingOptions, message: str,
                 duration_s: float = 0.0, status: str = "error") -> Result:
    points = dict(options.points)
    return Result(student=sub.student, status=status, score=0.0, max_score=float(sum(points.values())),
                  assignment_scores={a: 0.0 for a in points},
                  reports={"report.txt": f"{sub.student}: not graded: {message}\n"},
                  message=message, duration_s=duration_s, content_hash=sub.content_hash)


class SubmissionGrader:
    """Lives in one worker process for the whole batch, so the sandbox's warm template
    (torch already imported) is reused for every submission the worker grades."""

    def __init__(self, course, options: GradingOptions, template=None):
        from autograder import grading, writers
        self.course, self.options = course, options
        self._grade_path, self._write = grading.grade_path, writers.write
        self.factory = None
        self.session = None  # set while serve() runs
        parameters = inspect.signature(grading.grade_path).parameters
        # Batch grading is always sandboxed, whatever grade_path's default becomes.
        self._extra = {"backend": "sandbox"} if "backend" in parameters else {}
        if "factory" in parameters:
            from autograder.sandbox import SandboxFactory
            # spare: the next submission's sandbox starts while this one is graded
            self.factory = SandboxFactory(course.limits, device=_sandbox_device(options.device),
                                          torch_threads=options.torch_threads, spare=True,
                                          **({"template": template} if template is not None else {}))

    def serve(self, loop: Callable[[], None]) -> None:
        """Run the worker's loop (which calls grade() for each submission it receives)
        inside one pytest session that has collected the graded assignments' tests once
        (batch/session.py), instead of one session per student."""
        from autograder.mapping import test_files
        from autograder.batch.session import serve_gradings
        files = [f for a in self.options.graded(self.course) for f in test_files(a)]
        if self.factory is not None:
            self.factory.start_spare()  # the first submission's sandbox starts during collection

        def body(session) -> None:
            # What is here now (torch, pytest, the kit, the collected tests) stays out of
            # the worker's full garbage collections, each of which would otherwise walk
            # all ~400k of those objects (about 0.25 s); collections were off until now
            # (pool._worker_main) and are back on for the students' gradings
            gc.freeze()
            gc.enable()
            self.session = session
            try:
                loop()
            finally:
                self.session = None
        serve_gradings(files, body)

    def grade(self, sub: StudentSubmission) -> Result:
        start = time.monotonic()
        try:
            extra = {**self._extra, **({"factory": self.factory} if self.factory is not None else {})}
            if self.session is not None:
                extra["session"] = self.session
            report = self._grade_path(str(sub.path), self.course, device=self.options.device,
                                      seed=self.options.seed,
                                      assignments=list(self.options.assignments) if self.options.assignments else None,
                                      require_cuda=self.options.require_cuda, **extra)
            data = report.to_dict()  # the JSON report's content (writing and parsing it took 10 ms)
            # What students read is in the course's language; the gradebook's numbers and
            # statuses are the same in every language.
            shown = localized_report(report, self.options.language, self.course.titles(self.options.language))
            reports = {name: self._write(shown, fmt) for name, fmt in REPORT_FILES.items()}
        except CourseError:
            raise  # the course is broken for every student: the batch must stop, not fill a gradebook
        except Exception as exc:  # a grader failure on this submission only
            reason = str(exc).splitlines()[0] if str(exc) else ""
            return error_result(sub, self.options, f"grading failed: {type(exc).__name__}: {reason}",
                                time.monotonic() - start)
        status, message = submission_status(data)
        return Result(student=sub.student, status=status, score=float(data["score"]),
                      max_score=float(data["max_score"]),
                      assignment_scores={a["id"]: float(a["score"]) for a in data["assignments"]},
                      reports=reports, message=message, duration_s=time.monotonic() - start,
                      content_hash=sub.content_hash)

    def close(self) -> None:
        if self.factory is not None:
            self.factory.close()


def _sandbox_device(device: str) -> str:
    if device != "auto":
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def grading_key(course, options: GradingOptions) -> str:
    """Changes whenever a regrade could change a result: the kit's version and the code
    that decides scores (tests, probes, data, accuracy check), course.yaml's settings, the
    calibration file, the seed, device and assignment choice."""
    digest = hashlib.sha256()
    package = Path(autograder.__file__).parent
    for f in _scoring_files(package):
        digest.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    settings = dataclasses.asdict(course)
    settings.pop("root", None)
    calibration = course.resolve(course.accuracy.calibration)
    digest.update(json.dumps({
        "kit": autograder.__version__, "course": settings,
        "calibration": calibration.read_text() if calibration.is_file() else None,
        "seed": options.seed if options.seed is not None else course.seed,
        "device": options.device, "assignments": [a for a, _ in options.points], "language": options.language,
    }, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


# What decides a score besides the student's code; the engine's plumbing (sandbox,
# plugin, writers) is covered by the kit version.
SCORING_PATHS = ("tests_hidden", "selfcheck/tests", "probes.py", "expect.py", "accuracy", "data.py")


def _scoring_files(package: Path) -> list[Path]:
    files = []
    for rel in SCORING_PATHS:
        path = package / rel
        files += [path] if path.is_file() else [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)
