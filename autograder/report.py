"""The one report model every writer reads (text, JSON, Gradescope, JUnit, Classroom, CSV).

`Report.to_dict()` is the JSON contract of DESIGN.md ("Report contract"): the keys of the
contract are never renamed or removed; extra keys are additions. Scores are sums of the
tests' scores, rounded so that float noise never shows up in a gradebook.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = "autograder.report/1"
STATUSES = ("passed", "failed", "error", "timeout", "crashed", "memory", "skipped")
# Statuses meaning "the student's code did not get to answer" rather than "answered wrong".
FAULT_STATUSES = ("error", "timeout", "crashed", "memory")
# Assignment-level status: whether its tests could run against the student's code.
ASSIGNMENT_STATUSES = ("graded", "missing", "unreadable", "error", "crashed", "timeout", "memory")


def _round(x: float) -> float:
    return round(float(x), 6) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass
class TestResult:
    __test__ = False  # a report entry, not a pytest test class
    id: str
    name: str
    category: str
    score: float
    max_score: float
    status: str
    visibility: str
    message: str = ""
    duration_s: float = 0.0
    exercise: str | None = None
    # Markers instructors filter on, e.g. "tamper" (the submission modified the kit's
    # code in its process); never a score by themselves.
    flags: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"test {self.id}: status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        out = {"id": self.id, "name": self.name, "category": self.category,
               "score": _round(self.score), "max_score": _round(self.max_score),
               "status": self.status, "visibility": self.visibility, "message": self.message,
               "duration_s": round(self.duration_s, 4), "flags": list(self.flags)}
        if self.exercise is not None:
            out["exercise"] = self.exercise
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "TestResult":
        return cls(id=d["id"], name=d["name"], category=d["category"], score=d["score"],
                   max_score=d["max_score"], status=d["status"], visibility=d["visibility"],
                   message=d.get("message", ""), duration_s=d.get("duration_s", 0.0),
                   exercise=d.get("exercise"), flags=list(d.get("flags") or []))


@dataclass
class LoadError:
    """A problem met while loading the student's code (a cell that raised, a syntax
    error): where it was (cell and line of the notebook, when known) and what it was."""

    message: str
    cell: int | None = None
    line: int | None = None
    kind: str = "error"

    def where(self) -> str:
        from autograder.load import where_in_notebook
        return where_in_notebook(self.cell, self.line)

    def to_dict(self) -> dict:
        return {"message": self.message, "cell": self.cell, "line": self.line, "kind": self.kind}

    @classmethod
    def from_dict(cls, d) -> "LoadError":
        if isinstance(d, str):
            return cls(message=d)
        return cls(message=d.get("message", ""), cell=d.get("cell"), line=d.get("line"),
                   kind=d.get("kind", "error"))


@dataclass
class AssignmentResult:
    id: str
    tests: list[TestResult] = field(default_factory=list)
    title: str = ""
    status: str = "graded"
    # The max score course.yaml gives this assignment; used when tests are excluded
    # (CUDA policy) only as information, the report's max_score is the tests' sum.
    course_points: float | None = None
    source: str | None = None
    load_errors: list[LoadError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    isolation: dict | None = None

    @property
    def score(self) -> float:
        return _round(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return _round(sum(t.max_score for t in self.tests))

    @property
    def flags(self) -> list[str]:
        return sorted({f for t in self.tests for f in t.flags})

    def to_dict(self) -> dict:
        out = {"id": self.id, "score": self.score, "max_score": self.max_score,
               "flags": self.flags, "tests": [t.to_dict() for t in self.tests],
               "status": self.status, "title": self.title, "source": self.source,
               "load_errors": [e.to_dict() for e in self.load_errors], "notes": list(self.notes)}
        if self.isolation is not None:
            out["isolation"] = self.isolation
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "AssignmentResult":
        return cls(id=d["id"], tests=[TestResult.from_dict(t) for t in d.get("tests", [])],
                   title=d.get("title", ""), status=d.get("status", "graded"),
                   source=d.get("source"),
                   load_errors=[LoadError.from_dict(e) for e in d.get("load_errors", [])],
                   notes=list(d.get("notes", [])), isolation=d.get("isolation"))


@dataclass
class Report:
    submission: str
    assignments: list[AssignmentResult] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    duration_s: float = 0.0
    schema: str = SCHEMA
    language: str = "en"  # of names, messages and headings (autograder/i18n/feedback.py)

    @property
    def score(self) -> float:
        return _round(sum(a.score for a in self.assignments))

    @property
    def max_score(self) -> float:
        return _round(sum(a.max_score for a in self.assignments))

    @property
    def flags(self) -> list[str]:
        return sorted({f for a in self.assignments for f in a.flags})

    def tests(self):
        """(assignment, test) pairs in report order."""
        for a in self.assignments:
            for t in a.tests:
                yield a, t

    def to_dict(self) -> dict:
        return {"schema": self.schema, "submission": self.submission,
                "score": self.score, "max_score": self.max_score, "flags": self.flags,
                "environment": dict(self.environment), "language": self.language,
                "assignments": [a.to_dict() for a in self.assignments],
                "duration_s": round(self.duration_s, 3)}

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not an autograder report: schema is {d.get('schema')!r}, expected {SCHEMA!r}")
        return cls(submission=d["submission"],
                   assignments=[AssignmentResult.from_dict(a) for a in d.get("assignments", [])],
                   environment=dict(d.get("environment", {})), duration_s=d.get("duration_s", 0.0),
                   language=d.get("language", "en"))


TIMING_KEYS = frozenset({"duration_s"})


def without_timings(data):
    """A report dict minus its timing fields: what must be identical between two gradings
    of the same submission."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in TIMING_KEYS}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data
