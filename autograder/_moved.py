"""Old module names, kept importable after the package layout of issue 24.

An nbgrader_config.py written by an earlier `autograder nbgrader init` names
autograder.nbgrader_autograde.GradeInSandbox, and its grade cells may import
autograder.nbgrader_cell. The old name imports the new module, with a DeprecationWarning
naming it. The student wheel does not ship this module: students never had these names.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings


MOVED = {
    "autograder.nbgrader_autograde": "autograder.nbgrader.autograde",
    "autograder.nbgrader_course": "autograder.nbgrader.course",
    "autograder.nbgrader_cell": "autograder.nbgrader.cells",
    "autograder.nbgrader_exercises": "autograder.nbgrader.exercises",
    "autograder.i18n_feedback": "autograder.i18n.feedback",
    "autograder.i18n_literals": "autograder.i18n.literals",
    "autograder.i18n_release": "autograder.release.translated",
    "autograder.student_wheel": "autograder.release.wheel",
    "autograder.calibration": "autograder.accuracy.calibration",
    "autograder.similarity_report": "autograder.similarity.report",
    "autograder.similarity_tokens": "autograder.similarity.tokens",
    "autograder.similarity_normalize": "autograder.similarity.normalize",
}


class _MovedModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} is now {MOVED[spec.name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # the new module, already executed


if not any(isinstance(finder, _MovedModule) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModule())
