"""Sandbox costs on this machine: cold start, warm start, a small call, 1 MB both ways.

    .venv/bin/python benchmarks/sandbox_bench.py [--repeat N]

cold start: a fresh interpreter importing torch and torchvision (what every sandbox would
pay without the warm template); warm start: `factory.open()` until the student's code is
loaded (a fork from the template, confinement, the load request); round trip: a call
that returns an int; transfer: a 1 MB float32 tensor sent in (and its sum returned), and
a 1 MB tensor returned. Figures are medians over --repeat runs.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from autograder.course import Limits  # noqa: E402
from autograder.load import StudentCode  # noqa: E402
from autograder.sandbox import SandboxFactory  # noqa: E402

STUDENT = """
import torch
def small(x):
    return x + 1
def total(t):
    return float(t.sum())
def megabyte():
    return torch.ones(262144)
"""


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    cold = timed(lambda: subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True),
                 max(1, args.repeat // 2))
    started = time.perf_counter()
    factory = SandboxFactory(Limits(test_timeout_s=60, submission_timeout_s=600), device="cpu")
    code = StudentCode.from_source(STUDENT)
    first = factory.open(code, "bench")
    first_open = time.perf_counter() - started
    subs = []

    def warm_open():
        subs.append(factory.open(code, "bench"))
    warm = timed(warm_open, args.repeat)
    sub = subs[-1]
    assert sub.load_status == "ok", sub.load_errors
    sub.call("small", 1)
    call = timed(lambda: sub.call("small", 1), args.repeat * 20)
    payload = torch.ones(262144)  # 1 MiB of float32
    send = timed(lambda: sub.call("total", payload), args.repeat * 5)
    receive = timed(lambda: sub.call("megabyte"), args.repeat * 5)
    for s in [first, *subs]:
        s.close()
    factory.close()

    print(f"cold start (python -c 'import torch, torchvision'):  {cold * 1000:8.1f} ms")
    print(f"factory + first open (template import + fork):      {first_open * 1000:8.1f} ms")
    print(f"warm start (open() until the student code is loaded): {warm * 1000:6.1f} ms")
    print(f"round trip of a small call:                          {call * 1e6:8.0f} us")
    print(f"1 MB tensor grader -> sandbox (call with it):        {send * 1000:8.2f} ms")
    print(f"1 MB tensor sandbox -> grader (returned):            {receive * 1000:8.2f} ms")
    print(f"isolation: {sub.isolation}")


if __name__ == "__main__":
    main()
