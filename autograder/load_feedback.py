"""Student-facing explanations of what went wrong while their code loaded for grading.

The sandbox reports facts (an exception and where it was raised, a time limit and where
the code was stopped); this module turns the two cases students most often meet into
one message that names the cell and says what to do:

* a graded cell that builds demo data (`demo_loaders`, the offline CIFAR-10, anything
  from `autograder.data`): the kit is not importable and no dataset is readable while a
  submission is graded, so the cell must be tagged `demo`;
* top-level code that never finishes (a training loop or an infinite loop outside a
  demo cell): it uses the submission's whole time, and every test then meets that fault.

Pure text in, text out: it runs in the grader and never sees student objects.
"""
from __future__ import annotations

import re

from autograder.localize import N_

DEMO_DATA_MARKERS = ("autograder.data", "autograder/data", "demo_loaders", "SyntheticCIFAR10",
                     "synthetic-cifar10", ".cache/autograder")
TAG_HOWTO = N_("tag the cell `demo` so grading skips it (Jupyter: View > Cell Toolbar > Tags, or "
                "JupyterLab's property inspector; on Colab, edit the notebook metadata)")
_STOPPED_AT = re.compile(r"\(stopped in (?P<label>[^)]*?), line (?P<line>\d+)(?:, in [^)]*)?\)")


def uses_demo_data(message: str, line_source: str = "") -> bool:
    return any(marker in text for marker in DEMO_DATA_MARKERS for text in (message, line_source))


def explain_load_error(message: str, where: str, line_source: str = "") -> str | None:
    """A better message for a load error, or None to keep the sandbox's own. `where` is
    "cell 5, line 3" (or a file name and line); `line_source` the student's line there."""
    if not message.startswith(("ImportError", "ModuleNotFoundError", "PermissionError")):
        return None
    if not uses_demo_data(message, line_source):
        return None
    how, code = TAG_HOWTO, line_source.strip()
    if code:
        return N_(f"demo data is not available at grading: {where} loads it (`{code}`); {how}. "
                  f"Your exercises get their data as arguments, so they do not need it.")
    return N_(f"demo data is not available at grading: {where} loads it; {how}. "
              f"Your exercises get their data as arguments, so they do not need it.")


def explain_load_timeout(message: str) -> str:
    """The note for code that used the submission's time while loading (before any test)."""
    stopped = _STOPPED_AT.search(message)
    if stopped:
        label, line = stopped.group("label"), stopped.group("line")
        where = N_(f"{label}, line {line}")
    else:
        where = N_("a cell that runs at grading")
    how = TAG_HOWTO
    return N_(f"your code did not finish loading: {where} was still running when the time limit "
              f"ran out (a loop that never ends, or a long run outside a demo cell). Every test "
              f"needs your code loaded, so none could run. Fix the loop, or {how}.")
