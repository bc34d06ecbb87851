"""Students' self-check, called from a notebook cell:

    from autograder.selfcheck import checker
    check = checker("03_autograd")
    check("lesson_gradient")   # the visible tests of one exercise
    check()                    # all visible tests of the assignment

It runs the assignment's visible tests in this process against the notebook's own
globals. Hidden tests are not here: they run only when the work is graded.
"""
from __future__ import annotations

import sys
from typing import Callable

__all__ = ["checker"]


def checker(assignment_id: str) -> Callable[..., bool]:
    """A `check(exercise=None)` function for one assignment's notebook."""
    def check(exercise: str | None = None) -> bool:
        # Imported here so that `from autograder.selfcheck import checker` stays cheap
        # and a missing optional piece shows up as a message at check time.
        from autograder.selfcheck.runner import format_results, run_visible
        from autograder.submission import InProcessSubmission

        namespace = vars(sys.modules["__main__"])
        outcomes = run_visible(assignment_id, InProcessSubmission(namespace, assignment_id),
                               exercise=exercise)
        if exercise is not None and not outcomes:
            print(f"No self-check tests are named for exercise {exercise!r} in {assignment_id}; "
                  f"check the spelling (it is the function's name).")
            return False
        print(format_results(assignment_id, outcomes, exercise))
        return all(o.status in ("passed", "skipped") for o in outcomes)

    check.__doc__ = f"Run the visible self-check tests of {assignment_id} (optionally one exercise)."
    return check
