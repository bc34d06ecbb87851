"""`autograder merge SHARD_OUT... --out OUT`: one gradebook from the outputs of
`autograder batch --shard K/N`. Every shard records K/N and the full student list it was
cut from, so a merge can prove the shards cover the class exactly once."""
from __future__ import annotations

import sys
from pathlib import Path

from autograder.batch.outputs import write_outputs
from autograder.batch.shard import Shard, parse_shard
from autograder.batch.store import SCHEMA, ResultStore
from autograder.course import UsageError


def _read_shard(folder: Path):
    if not ResultStore.exists(folder):
        raise UsageError(f"{folder} is not a batch output folder (no results.sqlite)")
    store = ResultStore(folder)
    try:
        meta = store.meta()
        if meta.get("schema") != SCHEMA or "shard" not in meta:
            raise UsageError(f"{folder}: results.sqlite does not describe a batch run")
        return meta, store.results()
    finally:
        store.close()


def check_shards(shards: list[tuple[Path, dict, list]]) -> None:
    """Raise UsageError unless the shards partition one student list exactly."""
    first_path, first, _ = shards[0]
    parsed = {}
    for path, meta, _ in shards:
        shard = parse_shard(meta["shard"])
        if shard.count != parse_shard(first["shard"]).count:
            raise UsageError(f"shards disagree on N: {first_path} is {first['shard']}, {path} is {meta['shard']}")
        if meta["roster_hash"] != first["roster_hash"]:
            raise UsageError(f"shards were cut from different student lists: {first_path} and {path}")
        if meta["grading_key"] != first["grading_key"]:
            raise UsageError(f"shards were graded with different settings (kit, course.yaml, seed, device "
                             f"or assignments): {first_path} and {path}")
        if shard.index in parsed:
            raise UsageError(f"overlapping shards: {parsed[shard.index]} and {path} are both shard {shard}")
        parsed[shard.index] = path
    count = parse_shard(first["shard"]).count
    missing = [f"{k}/{count}" for k in range(1, count + 1) if k not in parsed]
    if missing:
        have = ", ".join(f"{k}/{count}" for k in sorted(parsed))
        raise UsageError(f"missing shard(s) {', '.join(missing)} (have {have})")
    owner: dict[str, Path] = {}
    for path, meta, results in shards:
        expected = set(Shard(parse_shard(meta["shard"]).index, count).select(meta["roster"]))
        present = {r.student for r in results}
        for student in sorted(present):
            if student in owner:
                raise UsageError(f"overlapping shards: student {student!r} is in {owner[student]} and {path}")
            owner[student] = path
        if present - expected:
            raise UsageError(f"overlapping shards: {path} holds students outside its slice "
                             f"{meta['shard']} (first: {sorted(present - expected)[0]!r})")
        if expected - present:
            raise UsageError(f"shard {meta['shard']} in {path} is incomplete: {len(expected - present)} of "
                             f"{len(expected)} students have no result (first: {sorted(expected - present)[0]!r}); "
                             f"finish it with autograder batch --resume")


def run_merge(args, course) -> int:
    folders = [Path(p) for p in args.shards]
    shards = [(f, *_read_shard(f)) for f in folders]
    check_shards(shards)
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} already exists and is not empty; merge into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    meta = shards[0][1]
    results = sorted((r for _, _, rs in shards for r in rs), key=lambda r: r.student)
    info = {**meta, "shard": "1/1", "source": "merge of " + ", ".join(str(f) for f in folders)}
    store = ResultStore(out)
    try:
        store.set_meta(info)
        for r in results:
            store.put(r)
    finally:
        store.close()
    points = [tuple(p) for p in meta["points"]]
    write_outputs(out, results, points, info)
    print(f"merge: {len(results)} results from {len(folders)} shards in {out}", file=sys.stderr)
    return 0
