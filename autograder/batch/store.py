"""Durable, incremental batch results: one SQLite database per output folder.

Why SQLite in WAL mode with synchronous=FULL: every graded submission is committed in
its own transaction before its report files are written or the next result is
recorded, and a committed transaction survives a kill -9 (or a power cut) at any
moment; an interrupted one leaves no trace. The student id is the primary key, so a
resumed batch can neither duplicate nor lose a result. Only the batch's parent process
writes; workers hand their results to it.

A row remembers the content hash of the submission and the grading key (kit, course
and options): on --resume a row counts as finished only when both still match.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

DB_NAME = "results.sqlite"
SCHEMA = "autograder.batch/1"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    student TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    grading_key TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    assignment_scores TEXT NOT NULL,
    reports TEXT NOT NULL,
    message TEXT NOT NULL,
    duration_s REAL NOT NULL,
    graded_at REAL NOT NULL
);
"""


@dataclass
class Result:
    """One student's outcome: what the gradebook, the summary and the report files need."""
    student: str
    status: str                       # see autograder.batch.grade.STATUSES
    score: float
    max_score: float
    assignment_scores: dict[str, float]
    reports: dict[str, str] = field(default_factory=dict)   # file name -> contents
    message: str = ""
    duration_s: float = 0.0
    content_hash: str = ""
    grading_key: str = ""

    def key(self) -> tuple:
        """What must agree between two runs that graded the same submission."""
        return (self.student, self.status, round(self.score, 6), round(self.max_score, 6),
                tuple(sorted((k, round(v, 6)) for k, v in self.assignment_scores.items())))


class ResultStore:
    def __init__(self, folder: Path):
        self.path = Path(folder) / DB_NAME
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_TABLES)

    @staticmethod
    def exists(folder: Path) -> bool:
        return (Path(folder) / DB_NAME).is_file()

    def close(self) -> None:
        self.conn.close()

    # -- run description -------------------------------------------------------------
    def meta(self) -> dict:
        rows = self.conn.execute("SELECT key, value FROM meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    def set_meta(self, values: dict) -> None:
        with self._transaction():
            self.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                  [(k, json.dumps(v)) for k, v in values.items()])

    # -- results ----------------------------------------------------------------------
    def put(self, result: Result) -> None:
        with self._transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.student, result.content_hash, result.grading_key, result.status,
                 result.score, result.max_score, json.dumps(result.assignment_scores),
                 json.dumps(result.reports), result.message, result.duration_s, time.time()))

    def finished(self) -> dict[str, tuple[str, str]]:
        """student -> (content_hash, grading_key) of every stored result."""
        rows = self.conn.execute("SELECT student, content_hash, grading_key FROM results")
        return {s: (h, k) for s, h, k in rows}

    def results(self, students: list[str] | None = None) -> list[Result]:
        rows = self.conn.execute(
            "SELECT student, status, score, max_score, assignment_scores, reports, message,"
            " duration_s, content_hash, grading_key FROM results ORDER BY student").fetchall()
        wanted = set(students) if students is not None else None
        return [Result(s, st, sc, mx, json.loads(a), json.loads(r), m, d, h, k)
                for s, st, sc, mx, a, r, m, d, h, k in rows if wanted is None or s in wanted]

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def forget(self, students: list[str]) -> None:
        with self._transaction():
            self.conn.executemany("DELETE FROM results WHERE student = ?", [(s,) for s in students])

    def _transaction(self):
        return _Transaction(self.conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, so each result is durable on its own."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
