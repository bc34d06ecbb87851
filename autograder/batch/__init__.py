"""Batch grading of a whole class: `autograder batch` and `autograder merge`.

Modules, in the order the data flows: discover (find submissions and hash them),
shard (a deterministic slice), pool (parallel workers), grade (one submission through
the sandbox, in a worker), store (durable SQLite results), outputs (gradebook, reports,
summary, histogram), merge (shards into one gradebook), runner (the batch command).
"""
from autograder.batch.merge import run_merge
from autograder.batch.runner import run_batch

__all__ = ["run_batch", "run_merge"]
