"""course.yaml: one validated model, read by every other module.

Each section is a plain dataclass; `load_course` checks every key against the dataclass
fields (unknown keys, wrong types, out-of-range numbers, missing notebooks, duplicate ids)
and raises `CourseError` with a one-line message naming the key and, where YAML knows it,
the line: "course.yaml:31: assignments[2].points: must be a number >= 0, got 'ten'".
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_COURSE_FILE = "course.yaml"


class CourseError(Exception):
    """A problem in course.yaml or the course layout; the message is one line."""


class UsageError(Exception):
    """Bad input from the command line (a missing file, an unknown assignment): the CLI
    prints the one-line message and exits 2. Here, below every module that raises it, so
    none of them imports the CLI."""


@dataclass(frozen=True)
class CourseInfo:
    id: str
    title: str


@dataclass(frozen=True)
class Limits:
    test_timeout_s: float = 60.0
    submission_timeout_s: float = 300.0
    cpu_time_s: float = 600.0
    memory_mb: int = 4096
    max_file_mb: int = 64
    max_processes: int = 64


@dataclass(frozen=True)
class Devices:
    default: str = "auto"
    without_gpu: str = "exclude"


@dataclass(frozen=True)
class DataSettings:
    dataset: str = "auto"
    root: str = ".data"
    download: bool = False
    synthetic_seed: int = 0


@dataclass(frozen=True)
class AccuracySettings:
    calibration: str = "calibration/synthetic-cpu.json"
    train_size: int = 2000
    test_size: int = 1000
    epochs: int = 2
    batch_size: int = 16
    lr: float = 0.01
    momentum: float = 0.9
    agreement: float = 0.02


@dataclass(frozen=True)
class NbgraderSettings:
    kernel: str = "python3"
    cell_timeout_s: float = 300.0


@dataclass(frozen=True)
class ReleaseSettings:
    # Where a notebook opened alone (Colab) pip-installs the student package from when no
    # .whl lies next to it: a URL of the release's wheel or a pip requirement; "" = none.
    student_package: str = ""


class LocalizedText(str):
    """A course.yaml text students read (an assignment's title): the English string, with
    its translations. In course.yaml either a plain string or a mapping
    `{en: Tensors, vi: Tensor}` (en required)."""

    translations: dict[str, str]

    def __new__(cls, english: str = "", translations: dict[str, str] | None = None):
        text = super().__new__(cls, english)
        text.translations = dict(translations or {})
        return text

    def in_language(self, language: str | None) -> str:
        return self.translations.get(language or "en", str(self))


@dataclass(frozen=True)
class Assignment:
    id: str
    notebook: str
    points: float
    title: LocalizedText = LocalizedText("")


@dataclass(frozen=True)
class Course:
    course: CourseInfo
    assignments: tuple[Assignment, ...]
    seed: int = 0
    # The language of released notebooks and student feedback (see docs/i18n.md).
    language: str = "en"
    limits: Limits = field(default_factory=Limits)
    devices: Devices = field(default_factory=Devices)
    data: DataSettings = field(default_factory=DataSettings)
    accuracy: AccuracySettings = field(default_factory=AccuracySettings)
    nbgrader: NbgraderSettings = field(default_factory=NbgraderSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    # Where course.yaml was read from; paths in it resolve against this folder.
    root: Path = field(default=Path("."), compare=False, metadata={"from_yaml": False})

    @property
    def max_score(self) -> float:
        return float(sum(a.points for a in self.assignments))

    def titles(self, language: str | None) -> dict[str, str]:
        """{assignment id: title in `language`} (English where course.yaml gives none)."""
        return {a.id: a.title.in_language(language) for a in self.assignments}

    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        known = ", ".join(a.id for a in self.assignments)
        raise CourseError(f"no assignment {assignment_id!r} in course.yaml (known: {known})")

    def solution_notebook(self, assignment: Assignment) -> Path:
        return self.root / "solutions" / assignment.id / assignment.notebook

    def student_notebook(self, assignment: Assignment) -> Path:
        return self.root / "assignments" / assignment.id / assignment.notebook

    def resolve(self, path: str) -> Path:
        p = Path(os.path.expanduser(path))
        return p if p.is_absolute() else self.root / p

    @property
    def data_root(self) -> Path:
        return self.resolve(self.data.root)


# Allowed values for the keys that are enumerations.
CHOICES = {
    "language": ("en", "vi"),
    "devices.default": ("auto", "cpu", "cuda"),
    "devices.without_gpu": ("exclude", "award", "fail"),
    "data.dataset": ("auto", "cifar10", "synthetic"),
}
# Numbers that must be strictly positive (the rest of the numbers must be >= 0).
POSITIVE = {
    "limits.test_timeout_s", "limits.submission_timeout_s", "limits.cpu_time_s",
    "limits.memory_mb", "limits.max_file_mb", "limits.max_processes",
    "accuracy.train_size", "accuracy.test_size", "accuracy.epochs", "accuracy.batch_size",
    "nbgrader.cell_timeout_s",
}


class _Reader:
    """Builds dataclasses from YAML nodes, remembering line numbers for errors."""

    def __init__(self, filename: str):
        self.filename = filename

    def fail(self, node, key: str, message: str) -> typing.NoReturn:
        where = f"{self.filename}:{node.start_mark.line + 1}" if node is not None else self.filename
        raise CourseError(f"{where}: {key}: {message}")

    def scalar(self, node, key: str, kind):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, key, f"must be a {_kind_name(kind)}, got a {_node_kind(node)}")
        value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
        if kind is bool:
            if not isinstance(value, bool):
                self.fail(node, key, f"must be true or false, got {node.value!r}")
            return value
        if kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(node, key, f"must be a number, got {node.value!r}")
            if kind is int and not float(value).is_integer():
                self.fail(node, key, f"must be a whole number, got {node.value!r}")
            minimum = "> 0" if key.split("[")[0] in POSITIVE or _generic(key) in POSITIVE else ">= 0"
            if value < 0 or (minimum == "> 0" and value == 0):
                self.fail(node, key, f"must be a number {minimum}, got {node.value!r}")
            return kind(value)
        if kind is str:
            if value is None or isinstance(value, (dict, list)):
                self.fail(node, key, f"must be a string, got {node.value!r}")
            text = str(value)
            allowed = CHOICES.get(_generic(key))
            if allowed and text not in allowed:
                self.fail(node, key, f"must be one of {', '.join(allowed)}, got {text!r}")
            return text
        raise AssertionError(kind)  # pragma: no cover

    def build(self, cls, node, key: str):
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, f"must be a mapping, got a {_node_kind(node)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("from_yaml", True)}
        values, seen = {}, set()
        for key_node, value_node in node.value:
            name = key_node.value
            full = f"{key}.{name}" if key else name
            if name in seen:
                self.fail(key_node, full, "appears twice")
            seen.add(name)
            if name not in fields:
                self.fail(key_node, full, f"unknown key (allowed: {', '.join(fields)})")
            values[name] = self.value(hints[name], value_node, full)
        for name, f in fields.items():
            missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if missing and name not in values:
                self.fail(node, f"{key}.{name}" if key else name, "is required")
        return cls(**values)

    def localized_text(self, node, key: str) -> LocalizedText:
        if isinstance(node, yaml.ScalarNode):
            return LocalizedText(self.scalar(node, key, str))
        languages = CHOICES["language"]
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, f"must be a string or a mapping of language to string "
                                 f"({', '.join(languages)}), got a {_node_kind(node)}")
        texts = {}
        for key_node, value_node in node.value:
            if key_node.value not in languages:
                self.fail(key_node, f"{key}.{key_node.value}", f"unknown language (allowed: {', '.join(languages)})")
            if key_node.value in texts:
                self.fail(key_node, f"{key}.{key_node.value}", "appears twice")
            texts[key_node.value] = self.scalar(value_node, f"{key}.{key_node.value}", str)
        if "en" not in texts:
            self.fail(node, f"{key}.en", "is required (the English text, the default)")
        return LocalizedText(texts["en"], {k: v for k, v in texts.items() if k != "en"})

    def value(self, hint, node, key):
        if hint is LocalizedText:
            return self.localized_text(node, key)
        if dataclasses.is_dataclass(hint):
            return self.build(hint, node, key)
        if typing.get_origin(hint) is tuple:  # tuple[Assignment, ...]
            if not isinstance(node, yaml.SequenceNode):
                self.fail(node, key, f"must be a list, got a {_node_kind(node)}")
            item = typing.get_args(hint)[0]
            return tuple(self.value(item, n, f"{key}[{i}]") for i, n in enumerate(node.value))
        return self.scalar(node, key, hint)


def _generic(key: str) -> str:
    """'assignments[2].points' -> 'assignments.points' for the rule tables."""
    import re
    return re.sub(r"\[\d+\]", "", key)


def _kind_name(kind) -> str:
    return {int: "whole number", float: "number", str: "string", bool: "boolean"}.get(kind, str(kind))


def _node_kind(node) -> str:
    return {yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}.get(type(node), "value")


def find_course_file(start: Path | None = None) -> Path:
    """course.yaml in `start` or its parents; AUTOGRADER_COURSE overrides."""
    env = os.environ.get("AUTOGRADER_COURSE")
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_COURSE_FILE).is_file():
            return folder / DEFAULT_COURSE_FILE
    raise CourseError(f"no {DEFAULT_COURSE_FILE} found in {here} or its parents "
                      f"(pass --course PATH or set AUTOGRADER_COURSE)")


def load_course(path: str | Path | None = None, check_notebooks: bool = True) -> Course:
    """Read and validate course.yaml; raise CourseError with a one-line message."""
    path = Path(path) if path else find_course_file()
    if path.is_dir():
        path = path / DEFAULT_COURSE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CourseError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        root_node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CourseError(f"{path.name}{line}: not valid YAML: {problem}") from None
    if root_node is None:
        raise CourseError(f"{path.name}: is empty")
    reader = _Reader(path.name)
    course = reader.build(Course, root_node, "")
    course = dataclasses.replace(course, root=path.resolve().parent)
    _check_assignments(course, reader, root_node, check_notebooks)
    return course


def _check_assignments(course: Course, reader: _Reader, root_node, check_notebooks: bool):
    nodes = dict((k.value, v) for k, v in root_node.value)["assignments"].value
    if not course.assignments:
        reader.fail(dict((k.value, k) for k, _ in root_node.value)["assignments"],
                    "assignments", "must list at least one assignment")
    seen: dict[str, int] = {}
    for i, (a, node) in enumerate(zip(course.assignments, nodes)):
        key = f"assignments[{i}]"
        if not a.id or "/" in a.id or a.id.startswith("."):
            reader.fail(node, f"{key}.id", f"must be a plain folder name, got {a.id!r}")
        if a.id in seen:
            reader.fail(node, f"{key}.id", f"duplicate id {a.id!r} (also assignments[{seen[a.id]}])")
        seen[a.id] = i
        if not a.notebook.endswith(".ipynb"):
            reader.fail(node, f"{key}.notebook", f"must name a .ipynb file, got {a.notebook!r}")
        if check_notebooks and not course.solution_notebook(a).is_file():
            reader.fail(node, f"{key}.notebook",
                        f"solutions/{a.id}/{a.notebook} does not exist")
