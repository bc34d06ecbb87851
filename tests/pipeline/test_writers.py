"""Every output format, validated against its specification from one sample report.

The sample holds every status, a visible and a hidden test, a CUDA check excluded by
policy (0/0), uneven points (so Classroom's weighting matters), load errors with a cell
and line, and an isolation warning.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from autograder.report import (SCHEMA, STATUSES, AssignmentResult, LoadError, Report, TestResult,
                               without_timings)
from autograder.writers import FORMATS, write
from autograder.writers.classroom import payload, point_unit
from autograder.writers.csv_gradebook import header, row, write_rows


def t(id_, status, score, max_score, visibility="hidden", message="", category="value"):
    return TestResult(id=id_, name=f"check {id_}", category=category, score=score, max_score=max_score,
                      status=status, visibility=visibility, message=message, duration_s=0.25)


def sample_report() -> Report:
    tensors = AssignmentResult(id="01_tensors", title="Tensors", source="01_tensors.ipynb", tests=[
        t("tensors::zeros_long", "passed", 2, 2, "visible", category="shape"),
        t("tensors::from_list", "failed", 0, 3, "visible",
          "zeros_long returned dtype torch.float32; expected torch.int64 (torch.long)"),
        t("tensors::views", "passed", 1.5, 1.5),
        t("tensors::add_out", "error", 0, 1, message="ValueError: boom (cell 4, line 2)"),
        t("tensors::slow", "timeout", 0, 0.5, message="add_inplace did not return within 60 s"),
        t("tensors::crash", "crashed", 0, 1, message="the student's process died (SIGSEGV)"),
        t("tensors::memory", "memory", 0, 1, message="over the 4096 MB memory limit"),
    ], load_errors=[LoadError("NameError: name 'np' is not defined", cell=3, line=2)],
        isolation={"backend": "sandbox", "level": "partial", "warnings": ["no network namespace"]})
    cuda = AssignmentResult(id="06_cuda", title="Moving to the GPU", tests=[
        t("cuda::pick_device", "passed", 4, 4, category="device"),
        t("cuda::params_on_gpu", "skipped", 0, 0, category="device",
          message="no CUDA device on this runner; excluded by course policy (devices.without_gpu: exclude)"),
        t("cuda::awarded", "skipped", 2, 2, category="device",
          message="no CUDA device on this runner; awarded by course policy (devices.without_gpu: award)"),
    ])
    missing = AssignmentResult(id="04_lenet", status="missing", notes=["no file for 04_lenet was found"],
                               tests=[t("lenet::shapes", "error", 0, 5, message="no file for 04_lenet was found")])
    env = {"python": "3.11.7", "torch": "2.14.1", "device": "cpu", "cuda_available": False, "seed": 2026,
           "isolation": {"backend": "sandbox"}, "cuda_policy": "exclude", "cuda_checks": "excluded",
           "platform": "Linux-x86_64"}
    return Report(submission="students/ada/", assignments=[tensors, cuda, missing], environment=env,
                  duration_s=3.5)


def test_registry_knows_every_cli_format_and_refuses_others():
    assert {"text", "json", "gradescope", "junit", "classroom", "csv"} <= set(FORMATS)
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        write(sample_report(), "yaml")


def test_json_follows_the_report_contract():
    data = json.loads(write(sample_report(), "json"))
    assert data["schema"] == SCHEMA == "autograder.report/1"
    assert data["submission"] == "students/ada/"
    for key in ("python", "torch", "device", "cuda_available", "seed", "isolation", "cuda_policy", "platform"):
        assert key in data["environment"]
    assert isinstance(data["duration_s"], float)
    assert data["score"] == sum(a["score"] for a in data["assignments"]) == 9.5
    assert data["max_score"] == sum(a["max_score"] for a in data["assignments"]) == 21
    for a in data["assignments"]:
        assert {"id", "score", "max_score", "tests", "status", "load_errors", "notes"} <= set(a)
        assert a["score"] == sum(x["score"] for x in a["tests"])
        for x in a["tests"]:
            assert list(x)[:9] == ["id", "name", "category", "score", "max_score", "status", "visibility",
                                   "message", "duration_s"]
            assert {"id", "name", "category", "score", "max_score", "status", "visibility", "message",
                    "duration_s"} <= set(x)
            assert x["status"] in STATUSES and x["visibility"] in ("visible", "hidden")
            assert isinstance(x["score"], float) and isinstance(x["message"], str)
    assert data["assignments"][0]["load_errors"] == [
        {"message": "NameError: name 'np' is not defined", "cell": 3, "line": 2, "kind": "error"}]


def test_json_round_trips_through_the_model():
    report = sample_report()
    again = Report.from_dict(json.loads(write(report, "json")))
    assert without_timings(again.to_dict()) == without_timings(report.to_dict())


def test_without_timings_drops_only_durations():
    data = sample_report().to_dict()
    stripped = without_timings(data)
    assert "duration_s" not in stripped and "duration_s" not in stripped["assignments"][0]["tests"][0]
    assert stripped["assignments"][0]["tests"][0]["status"] == "passed"


def test_text_has_a_table_per_assignment_totals_messages_load_errors_and_warnings():
    text = write(sample_report(), "text")
    assert "01_tensors (Tensors): 3.5/10" in text
    assert "06_cuda (Moving to the GPU): 6/6" in text
    assert "04_lenet: 0/5  [missing]" in text
    assert "Total: 9.5/21" in text
    assert "expected torch.int64 (torch.long)" in text
    assert "load error (cell 3, line 2): NameError: name 'np' is not defined" in text
    assert "warning: no network namespace" in text
    assert "CUDA-only checks: excluded (devices.without_gpu: exclude)" in text
    assert "TIMEOUT" in text and "CRASH" in text and "MEMORY" in text


GRADESCOPE_TEST_FIELDS = {"name": str, "number": str, "score": (int, float), "max_score": (int, float),
                          "status": str, "output": str, "tags": list, "visibility": str}


def test_gradescope_results_json_has_the_specified_fields():
    data = json.loads(write(sample_report(), "gradescope"))
    assert isinstance(data["score"], (int, float)) and data["score"] == 9.5
    assert isinstance(data["execution_time"], int)
    assert isinstance(data["output"], str)
    assert data["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert data["stdout_visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    numbers = set()
    for test in data["tests"]:
        for key, kind in GRADESCOPE_TEST_FIELDS.items():
            assert isinstance(test[key], kind), (key, test)
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_published")
        assert all(isinstance(tag, str) for tag in test["tags"])
        numbers.add(test["number"])
    assert len(numbers) == len(data["tests"])
    # The 0/0 excluded CUDA check is explained in the output, not listed as a test.
    assert not any("params_on_gpu" in x["name"] for x in data["tests"])
    assert "excluded by course policy" in data["output"]
    assert sum(x["score"] for x in data["tests"]) == data["score"]
    by_name = {x["name"]: x for x in data["tests"]}
    assert by_name["01_tensors: check tensors::zeros_long"]["visibility"] == "visible"
    assert by_name["01_tensors: check tensors::views"]["visibility"] == "after_published"
    assert by_name["01_tensors: check tensors::slow"]["output"].startswith("[timeout]")
    assert by_name["06_cuda: check cuda::awarded"]["status"] == "passed"


def test_junit_parses_back_with_one_suite_per_assignment():
    root = ET.fromstring(write(sample_report(), "junit"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["01_tensors", "06_cuda", "04_lenet"]
    tensors = suites[0]
    assert (tensors.get("tests"), tensors.get("failures"), tensors.get("errors"), tensors.get("skipped")) == (
        "7", "1", "4", "0")
    cases = {c.get("name"): c for c in tensors.findall("testcase")}
    assert cases["tensors::from_list"].find("failure").get("message").startswith("zeros_long returned")
    assert cases["tensors::slow"].find("error").get("type") == "timeout"
    assert cases["tensors::zeros_long"].find("failure") is None and cases["tensors::zeros_long"].find("error") is None
    props = {p.get("name"): p.get("value") for p in tensors.find("properties")}
    assert props == {"score": "3.5", "max_score": "10", "status": "graded"}
    cuda_cases = {c.get("name"): c for c in suites[1].findall("testcase")}
    assert cuda_cases["cuda::params_on_gpu"].find("skipped") is not None
    assert root.get("tests") == "11" and root.get("errors") == "5" and root.get("failures") == "1"
    for case in root.iter("testcase"):
        float(case.get("time"))


def decode_classroom(text: str) -> dict:
    return json.loads(base64.b64decode(text.strip(), validate=True).decode("utf-8"))


def reporter_totals(result: dict) -> tuple[float, float]:
    """What autograding-grading-reporter shows: its console table's test score
    (passed/all * max_score) and the total it sends to Classroom (sum of scores)."""
    tests = result["tests"]
    table = sum(x["status"] == "pass" for x in tests) / len(tests) * result["max_score"]
    return table, sum(x["score"] for x in tests)


def test_classroom_payload_is_base64_json_in_the_runner_format():
    result = decode_classroom(write(sample_report(), "classroom"))
    assert result["version"] == 1 and result["status"] in ("pass", "fail", "error")
    assert result["status"] == "fail" and result["max_score"] == 21
    for test in result["tests"]:
        assert set(test) >= {"name", "status", "message", "execution_time", "score"}
        assert test["status"] in ("pass", "fail", "error")
        assert isinstance(test["score"], (int, float)) and test["execution_time"].endswith("s")
        assert "test_code" not in test  # hidden test code never leaves the grader
    table, total = reporter_totals(result)
    assert total == pytest.approx(9.5) and table == pytest.approx(9.5)
    assert not any("params_on_gpu" in x["name"] for x in result["tests"])


def test_classroom_weighting_keeps_table_and_total_equal_to_our_score():
    report = Report(submission="s", assignments=[AssignmentResult(id="a", tests=[
        t("a::big", "passed", 5, 5), t("a::small", "failed", 0, 1), t("a::half", "passed", 0.5, 0.5)])])
    result = payload(report)
    table, total = reporter_totals(result)
    assert total == pytest.approx(5.5) and table == pytest.approx(5.5)
    assert len(result["tests"]) == 13  # 0.5-point units: 10 + 2 + 1
    assert point_unit([5, 1, 0.5]) == 0.5


def test_classroom_all_passed_is_pass():
    report = Report(submission="s", assignments=[AssignmentResult(id="a", tests=[t("a::x", "passed", 2, 2)])])
    assert payload(report)["status"] == "pass"


def test_csv_gradebook_rows():
    report = sample_report()
    text = write(report, "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["student", "01_tensors", "06_cuda", "04_lenet", "total", "max_score", "status", "flags"]
    assert rows[1] == ["students/ada/", "3.5", "6", "0", "9.5", "21", "missing: 04_lenet", ""]
    ids = ["01_tensors", "02_numpy_bridge", "06_cuda", "04_lenet"]
    batch = write_rows([row(report, "ada", ids), row(report, "bob", ids)], ids)
    parsed = list(csv.DictReader(io.StringIO(batch)))
    assert parsed[0]["02_numpy_bridge"] == "" and parsed[1]["student"] == "bob"
    assert header(ids)[0] == "student"


def test_an_unknown_status_is_refused_by_the_model():
    with pytest.raises(ValueError, match="status must be one of"):
        t("x::y", "exploded", 0, 1)


def test_tamper_flag_reaches_json_and_csv():
    """A test flagged "tamper" flags its assignment and the report (JSON), survives a
    round trip through the JSON report, and fills the gradebook's flags column."""
    flagged = t("a::x", "failed", 0, 2)
    flagged.flags = ["tamper"]
    report = Report(submission="s", assignments=[
        AssignmentResult(id="a", tests=[flagged, t("a::y", "passed", 1, 1)]),
        AssignmentResult(id="b", tests=[t("b::z", "passed", 1, 1)])])
    data = json.loads(write(report, "json"))
    assert data["flags"] == ["tamper"]
    assert [a["flags"] for a in data["assignments"]] == [["tamper"], []]
    assert [t_["flags"] for t_ in data["assignments"][0]["tests"]] == [["tamper"], []]
    assert Report.from_dict(data).flags == ["tamper"]
    rows = list(csv.DictReader(io.StringIO(write(report, "csv"))))
    assert rows[0]["flags"] == "tamper"


def test_text_report_shows_review_flags_where_they_were_raised():
    """A tamper flag is a field of its own in the text report too (report, assignment and
    test lines), not only inside a message; an unflagged report shows no flags line."""
    report = sample_report()
    assert "flags:" not in write(report, "text") and "[tamper]" not in write(report, "text")
    report.assignments[0].tests[1].flags.append("tamper")
    lines = write(report, "text").splitlines()
    assert "flags: tamper" in lines
    assert any(line.startswith("01_tensors (Tensors):") and line.endswith("[tamper]") for line in lines)
    flagged = [line for line in lines if line.rstrip().endswith("[tamper]") and "check " in line]
    assert len(flagged) == 1 and "check tensors::from_list" in flagged[0]
