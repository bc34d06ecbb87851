"""Students' self-check, called from a notebook cell:

    from autograder.selfcheck import checker
    check = checker("03_autograd")
    check("lesson_gradient")   # the visible tests of one exercise
    check()                    # all visible tests of the assignment

It runs the assignment's visible tests in this process against the notebook's own
globals. Hidden tests are not here: they run only when the work is graded.
"""
from __future__ import annotations

import inspect
import os
import sys
from typing import Callable

__all__ = ["checker"]


def checker(assignment_id: str, language: str | None = None) -> Callable[..., object]:
    """A `check(exercise=None)` function for one assignment's notebook. It prints what
    passed and failed, in `language` ("vi" in the Vietnamese edition's notebooks, whose
    setup cell passes it; English by default), and returns a `SelfCheckResult` (true
    when every check passed)."""
    def check(exercise: str | None = None):
        from autograder.localize import N_, translator
        from autograder.selfcheck.runner import SelfCheckResult, format_results, run_visible
        translate = translator(language)
        scope = exercise or assignment_id
        # nbgrader's autograde runs every cell of the notebook, these too; the grade cells
        # grade through the sandbox anyway, so running visible tests there is wasted time.
        if os.environ.get("NBGRADER_EXECUTION") == "autograde":
            note = N_("skipped while nbgrader autogrades")
            print(translate(N_("self-check skipped while nbgrader autogrades")))
            return SelfCheckResult(scope, [], note=note, language=language)
        # Imported here so that `from autograder.selfcheck import checker` stays cheap
        # and a missing optional piece shows up as a message at check time.
        from autograder.submission import InProcessSubmission

        namespace = vars(sys.modules["__main__"])
        outcomes = run_visible(assignment_id, InProcessSubmission(namespace, assignment_id),
                               exercise=exercise)
        if exercise is not None and not outcomes:
            note = _without_tests(exercise, namespace)
            print(translate(note))
            return SelfCheckResult(scope, [], note=note, language=language)
        print(format_results(assignment_id, outcomes, exercise, language))
        return SelfCheckResult(scope, outcomes, language=language)

    check.__doc__ = f"Run the visible self-check tests of {assignment_id} (optionally one exercise)."
    return check


def _without_tests(exercise: str, namespace: dict) -> str:
    """What to tell a student about a name no visible test checks (a typo, a cell not run
    yet, or a helper of their own): never that an unwritten stub is fine."""
    from autograder.localize import N_
    if exercise not in namespace:
        return N_(f"`{exercise}` is not defined yet: run its cell first (and check the spelling: it is "
                  f"the function's name).")
    if _still_a_stub(namespace[exercise]):
        return N_(f"`{exercise}` is not written yet: replace `raise NotImplementedError()` with your code.")
    return N_(f"`{exercise}` has no visible self-check test; hidden tests grade it when your work is "
              f"submitted, so follow its docstring closely.")


def _still_a_stub(obj) -> bool:
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):  # no source to read (a builtin, a lambda from exec)
        return False
    return "raise NotImplementedError" in source
