"""The grading plugin, driven by synthetic test files written to a temporary folder.

Each case writes a small `test_01_demo.py`, grades a fake submission with it through the
real plugin (`grading.run_tests`), and checks the outcome the report would carry.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from autograder.course import Assignment, Course, CourseError, CourseInfo, Devices
from autograder.grading import assignment_result, grade_source, run_tests
from autograder import plugin as plugin_module
from autograder.plugin import GradingPlugin, SubmissionUnavailable, stable_seed
from autograder.submission import InProcessSubmission, SubmissionTimeout

HEADER = """\
import pytest
from autograder.submission import StudentCodeError, SubmissionTimeout, SubmissionCrashed
"""


def make_course(points=10, policy="exclude", seed=7) -> Course:
    return Course(course=CourseInfo(id="demo", title="Demo"), seed=seed,
                  assignments=(Assignment(id="01_demo", notebook="01_demo.ipynb", points=points),),
                  devices=Devices(default="cpu", without_gpu=policy))


def write_tests(tmp_path, body: str, name="test_01_demo.py", folder="hidden"):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def grade(tmp_path, body, namespace=None, course=None, device="cpu", submission=None, visible_body=None):
    course = course or make_course()
    files = {str(write_tests(tmp_path, body)): "hidden"}
    if visible_body is not None:
        files = {str(write_tests(tmp_path, visible_body, folder="visible")): "visible", **files}
    sub = submission or InProcessSubmission(namespace or {}, "01_demo")
    plugin = run_tests(course, ["01_demo"], lambda _aid: sub, seed=course.seed,
                       device=torch.device(device), files=files)
    return assignment_result(course, "01_demo", list(plugin.outcomes.values())), plugin


def by_id(result):
    return {t.id: t for t in result.tests}


BASIC = """
@pytest.mark.points(4)
@pytest.mark.category("value")
def test_doubles(submission):
    '''double(2) is 4'''
    assert submission.call("double", 2) == 4, "double(2) returned something else; expected 4"

@pytest.mark.points(6)
@pytest.mark.category("shape")
def test_triples(submission):
    SECRET_REFERENCE = 9  # hidden-test source that must never reach feedback
    got = submission.call("double", 3)
    assert got == SECRET_REFERENCE - 3, f"double(3) returned {got}; expected 6"
"""


def test_passed_and_failed_tests_get_full_or_no_points_and_only_the_assertion_message(tmp_path):
    result, _ = grade(tmp_path, BASIC, {"double": lambda x: x * 2 if x != 3 else 5})
    tests = by_id(result)
    assert tests["demo::doubles"].status == "passed"
    assert (tests["demo::doubles"].score, tests["demo::doubles"].max_score) == (4, 4)
    assert tests["demo::doubles"].name == "double(2) is 4"
    failed = tests["demo::triples"]
    assert failed.status == "failed" and failed.score == 0 and failed.max_score == 6
    assert failed.message == "double(3) returned 5; expected 6"
    assert "SECRET_REFERENCE" not in failed.message and "assert" not in failed.message
    assert failed.visibility == "hidden" and failed.category == "shape"
    assert (result.score, result.max_score) == (4, 10)


def test_student_exception_is_an_error_with_the_students_message(tmp_path):
    def double(x):
        raise ValueError("I forgot to return")
    result, _ = grade(tmp_path, BASIC, {"double": double})
    for t in result.tests:
        assert t.status == "error" and t.score == 0
        assert t.message == "ValueError: I forgot to return"


def test_an_unwritten_stub_says_what_to_do(tmp_path):
    def double(x):
        raise NotImplementedError()
    result, _ = grade(tmp_path, BASIC, {"double": double})
    for t in result.tests:
        assert t.status == "error" and t.score == 0
        assert t.message.startswith("not written yet: the exercise still raises NotImplementedError; "
                                    "replace `raise NotImplementedError()` with your code"), t.message


def test_a_missing_function_says_which_name(tmp_path):
    result, _ = grade(tmp_path, BASIC, {})
    assert all(t.status == "error" and "`double` is not defined" in t.message for t in result.tests)


class FaultySubmission(InProcessSubmission):
    """Raises a fault on the first call, then behaves; counts restarts."""

    def __init__(self, fault):
        super().__init__({"double": lambda x: 2 * x}, "01_demo")
        self.fault, self.restarts = fault, 0

    def call(self, target, *args, **kwargs):
        if self.fault is not None:
            fault, self.fault = self.fault, None
            raise fault
        return super().call(target, *args, **kwargs)

    def restart(self):
        self.restarts += 1


@pytest.mark.parametrize("fault, status", [
    (SubmissionTimeout("double did not return within 60 s (test_timeout_s)"), "timeout"),
    (__import__("autograder.submission").submission.SubmissionCrashed("the process died (SIGSEGV)"), "crashed"),
    (__import__("autograder.submission").submission.SubmissionMemoryError("over 4096 MB"), "memory"),
])
def test_fatal_faults_get_their_status_and_a_fresh_sandbox_for_the_next_test(tmp_path, fault, status):
    sub = FaultySubmission(fault)
    result, _ = grade(tmp_path, BASIC, submission=sub)
    first, second = result.tests
    assert first.status == status and first.score == 0 and first.message == str(fault)
    assert second.status == "passed"
    assert sub.restarts == 1


def test_a_non_fatal_fault_does_not_restart(tmp_path):
    from autograder.submission import StudentCodeError
    sub = FaultySubmission(StudentCodeError("ZeroDivisionError: division by zero"))
    result, _ = grade(tmp_path, BASIC, submission=sub)
    assert [t.status for t in result.tests] == ["error", "passed"]
    assert sub.restarts == 0


def test_a_bug_in_the_grader_test_is_an_internal_error_without_traceback(tmp_path):
    body = """
    @pytest.mark.points(10)
    @pytest.mark.category("value")
    def test_buggy(submission):
        reference = {"a": 1}
        return reference["hidden_key_name"]
    """
    result, plugin = grade(tmp_path, body)
    (t,) = result.tests
    assert t.status == "error" and t.message == "internal grader error: KeyError"
    assert "hidden_key_name" not in str(result.to_dict())
    # The traceback stays on the grader side, for whoever debugs the test.
    (outcome,) = plugin.outcomes.values()
    assert "hidden_key_name" in outcome.detail


def test_skips_carry_their_reason(tmp_path):
    body = """
    @pytest.mark.points(10)
    @pytest.mark.category("value")
    def test_skipped(submission):
        pytest.skip("needs the real CIFAR-10")
    """
    result, _ = grade(tmp_path, body)
    (t,) = result.tests
    assert (t.status, t.message, t.score, t.max_score) == ("skipped", "needs the real CIFAR-10", 0, 10)


CUDA_BODY = """
@pytest.mark.points(7)
@pytest.mark.category("value")
def test_cpu_side(submission):
    assert True

@pytest.mark.points(3)
@pytest.mark.category("device")
@pytest.mark.cuda
def test_on_gpu(submission, device):
    assert device.type == "cuda", "the cuda test ran without a CUDA device"
"""


@pytest.mark.parametrize("policy, status, score, max_score", [
    # every policy keeps the check's 3 points in the maximum; exclude scores it like the
    # checks that ran (7/7 here), award gives it, fail takes it
    ("exclude", "skipped", 3, 3), ("award", "skipped", 3, 3), ("fail", "failed", 0, 3)])
def test_cuda_tests_without_a_gpu_follow_the_course_policy(tmp_path, policy, status, score, max_score):
    result, plugin = grade(tmp_path, CUDA_BODY, course=make_course(policy=policy), device="cpu")
    gpu = by_id(result)["demo::on_gpu"]
    assert (gpu.status, gpu.score, gpu.max_score) == (status, score, max_score)
    assert gpu.message.startswith("no CUDA device on this runner;")
    assert f"(devices.without_gpu: {policy})" in gpu.message
    from autograder.grading import cuda_summary
    assert cuda_summary(plugin) == {"cuda_policy": policy, "cuda_checks":
                                    {"exclude": "excluded", "award": "awarded", "fail": "failed"}[policy]}


def test_exclude_message_is_the_documented_one(tmp_path):
    result, _ = grade(tmp_path, CUDA_BODY, course=make_course(policy="exclude"))
    assert by_id(result)["demo::on_gpu"].message == (
        "no CUDA device on this runner; excluded by course policy (devices.without_gpu: exclude): its points "
        "follow your score on the checks of this assignment that ran (100%)")


def test_excluded_cuda_points_follow_the_share_of_the_checks_that_ran(tmp_path):
    """7 of the 10 points that ran: the excluded 3-point check earns 70 % of 3, the maximum
    stays course.yaml's 13, so the percentage is the one of the checks that ran."""
    body = CUDA_BODY + """
@pytest.mark.points(3)
@pytest.mark.category("value")
def test_cpu_wrong(submission):
    assert False, "wrong on purpose"
"""
    result, _ = grade(tmp_path, body, course=make_course(points=13, policy="exclude"), device="cpu")
    gpu = by_id(result)["demo::on_gpu"]
    assert gpu.status == "skipped" and gpu.max_score == 3 and gpu.score == pytest.approx(2.1)
    assert gpu.message.endswith("(70%)")
    assert sum(t.max_score for t in result.tests) == 13
    assert sum(t.score for t in result.tests) / 13 == pytest.approx(7 / 10)


def test_cuda_tests_run_when_grading_on_cuda(tmp_path):
    # The plugin decides from the grading device alone, so "cuda" here exercises the GPU path.
    result, plugin = grade(tmp_path, CUDA_BODY, device="cuda")
    assert by_id(result)["demo::on_gpu"].status == "passed"
    from autograder.grading import cuda_summary
    assert cuda_summary(plugin)["cuda_checks"] == "ran"


def test_points_must_add_up_to_course_yaml(tmp_path):
    with pytest.raises(CourseError) as err:
        grade(tmp_path, BASIC, course=make_course(points=12))
    assert "01_demo" in str(err.value) and "10" in str(err.value) and "12" in str(err.value)


def test_a_test_without_a_valid_category_is_refused(tmp_path):
    body = """
    @pytest.mark.points(10)
    @pytest.mark.category("speed")
    def test_fast(submission):
        pass
    """
    with pytest.raises(CourseError, match="category must be one of"):
        grade(tmp_path, body)


def test_visible_tests_come_first_and_are_marked_visible(tmp_path):
    visible = """
    @pytest.mark.points(4)
    @pytest.mark.category("value")
    @pytest.mark.exercise("double")
    def test_seen(submission):
        assert submission.call("double", 1) == 2, "double(1) should be 2"
    """
    hidden = """
    @pytest.mark.points(6)
    @pytest.mark.category("value")
    def test_unseen(submission):
        assert submission.call("double", 5) == 10, "double(5) should be 10"
    """
    result, _ = grade(tmp_path, hidden, {"double": lambda x: 2 * x}, visible_body=visible)
    assert [(t.id, t.visibility, t.exercise) for t in result.tests] == [
        ("demo::seen", "visible", "double"), ("demo::unseen", "hidden", None)]


def test_an_unavailable_submission_gives_every_test_an_error_and_no_points(tmp_path):
    body = BASIC + """
@pytest.mark.points(0)
@pytest.mark.category("behaviour")
def test_without_submission():
    assert True
"""
    files = {str(write_tests(tmp_path, body)): "hidden"}

    def unavailable(_aid):
        raise SubmissionUnavailable("could not read 01_demo.ipynb: not valid JSON")
    course = make_course()
    plugin = run_tests(course, ["01_demo"], unavailable, seed=1, device=torch.device("cpu"), files=files)
    result = assignment_result(course, "01_demo", list(plugin.outcomes.values()))
    assert [t.status for t in result.tests] == ["error"] * 3
    assert all(t.message == "could not read 01_demo.ipynb: not valid JSON" for t in result.tests)
    assert result.score == 0


RNG_BODY = """
import json, os

@pytest.mark.points(5)
@pytest.mark.category("value")
def test_first(rng, seed):
    with open(os.environ["RNG_OUT"], "a") as f:
        f.write(json.dumps(["first", seed, rng.initial_seed()]) + "\\n")

@pytest.mark.points(5)
@pytest.mark.category("value")
def test_second(rng, seed):
    with open(os.environ["RNG_OUT"], "a") as f:
        f.write(json.dumps(["second", seed, rng.initial_seed()]) + "\\n")
"""


def test_rng_seeds_are_stable_per_test_and_follow_the_seed(tmp_path, monkeypatch):
    import json
    out = tmp_path / "rng.jsonl"
    monkeypatch.setenv("RNG_OUT", str(out))
    grade(tmp_path, RNG_BODY, course=make_course(seed=7))
    grade(tmp_path, RNG_BODY, course=make_course(seed=7))
    grade(tmp_path, RNG_BODY, course=make_course(seed=8))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    seeds = {(name, seed): set() for name, seed, _ in rows}
    for name, seed, s in rows:
        seeds[(name, seed)].add(s)
    assert all(len(v) == 1 for v in seeds.values()), "one test, one seed: same generator every run"
    assert seeds[("first", 7)] == {stable_seed(7, "demo::first")}
    assert len({next(iter(v)) for v in seeds.values()}) == 4, "tests and seeds must not share generators"


def test_stable_seed_does_not_depend_on_pythons_string_hash():
    code = "from autograder.plugin import stable_seed; print(stable_seed(2026, 'autograd::grad_at_random'))"
    values = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        values.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                  text=True, check=True).stdout.strip())
    assert values == {str(stable_seed(2026, "autograd::grad_at_random"))}


def test_exercise_filter_runs_only_that_exercise(tmp_path):
    body = """
    @pytest.mark.points(5)
    @pytest.mark.category("value")
    @pytest.mark.exercise("double")
    def test_a(submission):
        pass

    @pytest.mark.points(5)
    @pytest.mark.category("value")
    @pytest.mark.exercise("halve")
    def test_b(submission):
        pass
    """
    path = write_tests(tmp_path, body)
    plugin = GradingPlugin({str(path): "visible"}, lambda _a: InProcessSubmission({}), exercise="halve")
    outcomes = plugin.run()
    assert [o.id for o in outcomes] == ["demo::b"]


def test_pytest_output_and_student_prints_stay_off_stdout(tmp_path, capfd):
    def noisy(x):
        print('{"score": 999}')
        return 2 * x
    grade(tmp_path, BASIC, {"double": noisy})
    captured = capfd.readouterr()
    assert captured.out == ""


def test_grade_source_runs_in_process_through_the_plugin(tmp_path, monkeypatch):
    import autograder.grading as grading
    monkeypatch.setattr(grading, "test_files",
                        lambda aid, visible_only=False: {str(write_tests(tmp_path, BASIC)): "hidden"})
    result = grade_source("01_demo", "def double(x):\n    return x + x\n", course=make_course())
    assert result.score == result.max_score == 10
    broken = grade_source("01_demo", "def double(x):\n    return x +\n", course=make_course())
    assert all(t.status == "error" and "syntax error" in t.message for t in broken.tests)


def test_an_unavailable_submission_scores_its_cuda_checks_zero_out_of_their_points(tmp_path):
    files = {str(write_tests(tmp_path, CUDA_BODY)): "hidden"}

    def unavailable(_aid):
        raise SubmissionUnavailable("no file for 01_demo was found")
    for policy in ("exclude", "award", "fail"):
        course = make_course(policy=policy)
        plugin = run_tests(course, ["01_demo"], unavailable, seed=1, device=torch.device("cpu"), files=files)
        result = assignment_result(course, "01_demo", list(plugin.outcomes.values()))
        gpu = by_id(result)["demo::on_gpu"]
        assert (gpu.status, gpu.score, gpu.max_score) == ("error", 0, 3), policy
        assert gpu.message == "no file for 01_demo was found"


def test_a_failure_is_reported_to_pytest_without_a_formatted_traceback(tmp_path):
    """Issue 16: pytest's traceback formatting was most of a batch's time per student;
    the plugin hands pytest a one-line report, and the outcome's message is unchanged."""
    body = """
    def check_deeply(value):
        marker_in_test_source = value + 1
        assert marker_in_test_source == 0, f"expected 0, got {marker_in_test_source}"

    @pytest.mark.points(4)
    @pytest.mark.category("value")
    def test_fails(submission):
        check_deeply(1)

    @pytest.mark.points(6)
    @pytest.mark.category("value")
    def test_grader_bug(submission):
        {}["missing"]
    """
    path = write_tests(tmp_path, body)
    plugin = GradingPlugin({str(path): "hidden"}, lambda _a: InProcessSubmission({}))
    outcomes = {o.id: o for o in plugin.run()}
    assert (outcomes["demo::fails"].status, outcomes["demo::fails"].message) == ("failed", "expected 0, got 2")
    assert outcomes["demo::grader_bug"].message == "internal grader error: KeyError"
    assert "KeyError" in outcomes["demo::grader_bug"].detail  # the grader's own traceback is still kept
    text = plugin.pytest_output.getvalue()
    assert "failed: expected 0, got 2" in text
    assert "marker_in_test_source = value + 1" not in text  # no source lines: no traceback was formatted


@pytest.mark.parametrize("policy", ["exclude", "award", "fail"])
def test_an_assignment_known_to_be_missing_is_settled_without_running_its_tests(tmp_path, policy):
    """Issue 16: a missing file decides every test of its assignment before the run, with
    the outcomes a test-time failure to open gives, and pytest runs none of its tests."""
    files = {str(write_tests(tmp_path, CUDA_BODY)): "hidden"}
    course = make_course(policy=policy)
    fault = SubmissionUnavailable("no file for 01_demo was found")

    def open_at_test_time(_aid):
        raise fault
    outcomes, pytest_said, collected = {}, {}, {}
    # at test time; known before the run, the file never described in this process;
    # known again, the file described by the run before (nothing left to collect)
    for when, known in (("test time", None), ("cold", {"01_demo": fault}), ("warm", {"01_demo": fault})):
        if when == "cold":
            plugin_module._DESCRIBED.clear()
        plugin = run_tests(course, ["01_demo"], open_at_test_time, seed=1, device=torch.device("cpu"),
                           files=files, unavailable=known)
        outcomes[when] = [(o.id, o.status, o.message, o.score, o.max_score, o.visibility, o.name)
                          for o in plugin.outcomes.values()]
        pytest_said[when], collected[when] = plugin.pytest_output.getvalue(), plugin.files_collected
    assert outcomes["cold"] == outcomes["test time"] == outcomes["warm"]
    assert len(outcomes["warm"]) == 2
    assert {o[1:3] for o in outcomes["cold"]} == {("error", "no file for 01_demo was found")}
    assert "ERROR at setup" in pytest_said["test time"]
    assert "2 deselected" in pytest_said["cold"] and "ERROR" not in pytest_said["cold"]
    assert collected["cold"] == list(files) and collected["warm"] == []


def test_a_test_file_changed_since_it_was_described_is_collected_again(tmp_path):
    """The descriptions kept for missing assignments follow the file: an instructor who
    edits a test between two gradings in one process gets the edited names and points."""
    path = write_tests(tmp_path, CUDA_BODY)
    course = make_course(policy="award")
    fault = SubmissionUnavailable("no file for 01_demo was found")
    runs = []
    for edited in (False, False, True):
        if edited:
            write_tests(tmp_path, CUDA_BODY.replace("def test_cpu_side", "def test_cpu_side_renamed"))
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
        plugin = run_tests(course, ["01_demo"], lambda _a: None, seed=1, device=torch.device("cpu"),
                           files={str(path): "hidden"}, unavailable={"01_demo": fault})
        runs.append(([o.id for o in plugin.outcomes.values()], plugin.files_collected))
    assert runs[1] == (runs[0][0], [])  # unchanged: described before, not collected
    assert runs[2] == (["demo::cpu_side_renamed", "demo::on_gpu"], [str(path.resolve())])


def test_described_and_collected_files_keep_the_order_of_the_test_files(tmp_path):
    """One assignment missing, another submitted: the missing one's outcomes come from
    its earlier description, the submitted one's tests run, and the outcomes are in the
    order a run collecting everything gives."""
    first = write_tests(tmp_path, CUDA_BODY, name="test_01_demo.py")
    second = write_tests(tmp_path, CUDA_BODY.replace("test_cpu_side", "test_second_cpu"), name="test_02_more.py")
    course = Course(course=CourseInfo(id="demo", title="Demo"), seed=3,
                    assignments=(Assignment(id="01_demo", notebook="01_demo.ipynb", points=10),
                                 Assignment(id="02_more", notebook="02_more.ipynb", points=10)),
                    devices=Devices(default="cpu", without_gpu="fail"))
    files = {str(first): "visible", str(second): "hidden"}
    fault = SubmissionUnavailable("no file for 01_demo was found")
    runs = []
    for _ in range(2):
        plugin = run_tests(course, ["01_demo", "02_more"], lambda _a: InProcessSubmission({}, "02_more"),
                           seed=3, device=torch.device("cpu"), files=files, unavailable={"01_demo": fault})
        runs.append(([(o.id, o.visibility, o.status, o.score, o.max_score) for o in plugin.outcomes.values()],
                     plugin.files_collected))
    assert runs[0][1] == [str(first.resolve()), str(second.resolve())]
    assert runs[1][1] == [str(second.resolve())]
    assert runs[0][0] == runs[1][0]
    assert [o[:3] for o in runs[1][0]] == [
        ("demo::cpu_side", "visible", "error"), ("demo::on_gpu", "visible", "error"),
        ("more::second_cpu", "hidden", "passed"), ("more::on_gpu", "hidden", "failed")]
