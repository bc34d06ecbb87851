"""Students' self-check, called from a notebook cell:

    from autograder.selfcheck import checker
    check = checker("03_autograd")
    check("lesson_gradient")   # the visible tests of one exercise
    check()                    # all visible tests of the assignment

It runs the assignment's visible tests in this process against the notebook's own
globals. Hidden tests are not here: they run only when the work is graded.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

__all__ = ["checker"]


def checker(assignment_id: str) -> Callable[..., bool]:
    """A `check(exercise=None)` function for one assignment's notebook."""
    def check(exercise: str | None = None) -> bool:
        # nbgrader's autograde runs every cell of the notebook, these too; the grade cells
        # grade through the sandbox anyway, so running visible tests there is wasted time.
        if os.environ.get("NBGRADER_EXECUTION") == "autograde":
            print("self-check skipped while nbgrader autogrades")
            return True
        # Imported here so that `from autograder.selfcheck import checker` stays cheap
        # and a missing optional piece shows up as a message at check time.
        from autograder.selfcheck.runner import format_results, run_visible
        from autograder.submission import InProcessSubmission

        namespace = vars(sys.modules["__main__"])
        outcomes = run_visible(assignment_id, InProcessSubmission(namespace, assignment_id),
                               exercise=exercise)
        if exercise is not None and not outcomes:
            # Not every exercise has a visible test; tell a missing definition (a typo, or
            # a cell not run yet) apart from an exercise only the hidden tests grade.
            if exercise not in namespace:
                print(f"`{exercise}` is not defined yet: run its cell first (and check the "
                      f"spelling: it is the function's name).")
                return False
            print(f"`{exercise}` is defined. It has no visible self-check test; hidden tests "
                  f"grade it when your work is submitted, so follow its docstring closely.")
            return True
        print(format_results(assignment_id, outcomes, exercise))
        return all(o.status in ("passed", "skipped") for o in outcomes)

    check.__doc__ = f"Run the visible self-check tests of {assignment_id} (optionally one exercise)."
    return check
