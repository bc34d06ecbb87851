"""A spare sandbox (issue 25): a batch worker keeps the next submission's sandbox started
while it grades the current one. The spare must be an ordinary confined sandbox, used
only for a submission's first sandbox, replaced without a trace when it died waiting,
and gone when the factory closes."""
from __future__ import annotations

import os
import signal

import pytest
import torch

from autograder.course import Limits
from autograder.load import StudentCode
from processes import group_gone, processes_in_group

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs os.fork")

LIMITS = Limits(test_timeout_s=20, submission_timeout_s=120, cpu_time_s=120, memory_mb=2048,
                max_file_mb=8, max_processes=32)
CODE = StudentCode.from_source("import torch\ndef double(x):\n    return 2 * x\n")


@pytest.fixture()
def factory():
    from autograder.sandbox import SandboxFactory
    torch.set_num_threads(1)
    f = SandboxFactory(LIMITS, device="cpu", spare=True)
    yield f
    f.close()


def test_the_next_submission_gets_the_sandbox_started_during_the_last(factory):
    from autograder.sandbox.launcher import Link
    first = factory.open(CODE, "a")
    # asked for, without waiting for the template's answer (its fork), which is read when needed
    assert factory._spare is not None and not isinstance(factory._spare[1], Link)
    spare = factory._spare_link()[1]
    assert first.link is not spare and processes_in_group(spare.pgid)  # started ahead, while `first` runs
    assert first.call("double", torch.ones(2)).tolist() == [2.0, 2.0]
    first.close()
    second = factory.open(CODE, "b")
    assert second.link is spare and second.load_status == "ok"
    assert second.call("double", torch.ones(2)).tolist() == [2.0, 2.0]
    # confined exactly as a sandbox started on demand
    assert second.isolation == first.isolation
    assert factory._spare is not None and factory._spare_link()[1] is not spare
    second.close()


def test_a_spare_that_died_waiting_is_replaced_and_the_student_never_sees_it(factory):
    factory.open(CODE, "a").close()
    dead = factory._spare_link()[1]
    os.killpg(dead.pgid, signal.SIGKILL)
    assert group_gone(dead.pgid)
    sub = factory.open(CODE, "b")
    assert sub.link is not dead and dead.closed
    assert sub.load_status == "ok" and sub.load_fault is None and not sub.load_errors
    assert sub.call("double", torch.tensor([3.0])).tolist() == [6.0]
    sub.close()


def test_only_a_first_sandbox_with_the_same_config_takes_the_spare(factory):
    sub = factory.open(CODE, "a")
    spare = factory._spare_link()[1]
    with sub.cuda_available_as(False) as copy:  # torch must answer differently: not the spare
        assert copy.link is not spare and not spare.closed
        assert copy.call("double", torch.ones(1)).tolist() == [2.0]
    sub.close()
    assert factory._spare_link()[1] is spare  # kept for the next submission
    assert factory.open(CODE, "b").link is spare


def test_closing_the_factory_stops_the_spare(factory):
    factory.open(CODE, "a").close()
    spare = factory._spare_link()[1]
    assert processes_in_group(spare.pgid)
    factory.close()
    assert spare.closed and group_gone(spare.pgid)
    assert not os.path.exists(spare.scratch)


def test_without_spares_nothing_is_started_ahead():
    from autograder.sandbox import SandboxFactory
    with SandboxFactory(LIMITS, device="cpu") as plain:
        plain.open(CODE, "a").close()
        assert plain._spare is None
