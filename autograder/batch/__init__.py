"""Batch grading of a whole class: `autograder batch` and `autograder merge`.

Modules, in the order the data flows: discover (find submissions and hash them),
shard (a deterministic slice), pool (parallel workers), grade (one submission through
the sandbox, in a worker), store (durable SQLite results), outputs (gradebook, reports,
summary, histogram), merge (shards into one gradebook), runner (the batch command).
"""
__all__ = ["run_batch", "run_merge"]


def __getattr__(name: str):
    """The two commands, imported when asked for: `autograder batch` starts its zygote
    (batch.siblings) before the rest of the batch package is imported."""
    if name == "run_batch":
        from autograder.batch.runner import run_batch
        return run_batch
    if name == "run_merge":
        from autograder.batch.merge import run_merge
        return run_merge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
