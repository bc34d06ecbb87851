"""The CI templates in ci/: they parse, and the commands they run work on this (CPU)
machine against a sample submission, exactly as written in the files."""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from batch_helpers import ASSIGNMENT, FULL_MARKS, REPO, env, fast_course, gradebook, source, write_class

CI = REPO / "ci"
VENV_BIN = Path(sys.executable).parent
REQUIRE_CUDA_ERROR = "--require-cuda: no CUDA device is visible on this runner"


def _bash(script: str, cwd: Path, extra_env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    e = env()
    e.update(extra_env)
    e["PATH"] = f"{VENV_BIN}{os.pathsep}{e['PATH']}"  # as the install step leaves it
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout)


def _on_cpu(script: str) -> str:
    """The same commands minus --require-cuda, which (rightly) refuses to grade here."""
    assert "--require-cuda" in script
    return script.replace("--require-cuda", "")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A runner's workspace: the student's repository next to the kit's checkout."""
    root = tmp_path_factory.mktemp("workspace")
    student = root / "submission"
    student.mkdir()
    (student / f"{ASSIGNMENT}.py").write_text(source())
    (student / "README.md").write_text("my homework")
    (root / "autograder-kit").symlink_to(REPO)
    return root


# -- GitHub Actions / GitHub Classroom --------------------------------------------------
@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load((CI / "github-classroom.yml").read_text())


def _steps(workflow) -> dict[str, dict]:
    job = workflow["jobs"]["autograding"]
    return {s.get("id") or s["name"]: s for s in job["steps"]}


def test_github_workflow_runs_on_a_gpu_runner_with_the_private_kit(workflow):
    job = workflow["jobs"]["autograding"]
    assert {"self-hosted", "gpu"} <= set(job["runs-on"])
    # The reporter looks up the check run by this exact name.
    assert workflow["name"] == job["name"] == "Autograding Tests"
    assert workflow["permissions"]["checks"] == "write"
    checkouts = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert {c["with"]["path"] for c in checkouts} == {job["env"]["SUBMISSION"], job["env"]["KIT"]}
    kit = next(c for c in checkouts if c["with"]["path"] == job["env"]["KIT"])
    assert "secrets.AUTOGRADER_DEPLOY_KEY" in kit["with"]["ssh-key"]
    assert "vars.AUTOGRADER_REPOSITORY" in kit["with"]["repository"]
    install = _steps(workflow)["install"]["run"]
    assert '--constraint "$KIT/constraints.txt"' in install


def test_github_workflow_reports_through_the_classroom_reporter(workflow):
    steps = _steps(workflow)
    grade = steps["pytorch-grader"]
    reporter = next(s for s in steps.values()
                    if str(s.get("uses", "")).startswith("classroom-resources/autograding-grading-reporter@"))
    runner = reporter["with"]["runners"]
    assert runner == "pytorch-grader"
    # The reporter reads process.env[`${runner.toUpperCase()}_RESULTS`].
    assert reporter["env"] == {f"{runner.upper()}_RESULTS": "${{ steps.pytorch-grader.outputs.result }}"}
    assert "--require-cuda" in grade["run"]
    upload = next(s for s in steps.values() if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    env_reports = workflow["jobs"]["autograding"]["env"]["REPORTS"]
    assert upload["with"]["path"].rstrip("/") == env_reports and upload["if"] == "always()"


def _github_env(workflow, workspace: Path) -> tuple[dict, Path]:
    job_env = {k: str(v) for k, v in workflow["jobs"]["autograding"]["env"].items()
               if "${{" not in str(v)}
    output = workspace / "github_output"
    output.write_text("")
    return {**job_env, "AUTOGRADER_ASSIGNMENT": ASSIGNMENT, "GITHUB_OUTPUT": str(output),
            "RUNNER_TEMP": str(workspace)}, output


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible: --require-cuda would grade")
def test_github_grade_step_refuses_a_runner_without_gpu(workflow, workspace):
    extra, output = _github_env(workflow, workspace)
    proc = _bash(_steps(workflow)["pytorch-grader"]["run"], workspace, extra)
    assert proc.returncode != 0
    assert REQUIRE_CUDA_ERROR in proc.stderr
    assert output.read_text() == ""  # nothing reported to Classroom


def test_github_grade_step_produces_reports_and_the_classroom_payload(workflow, workspace):
    extra, output = _github_env(workflow, workspace)
    proc = _bash(_on_cpu(_steps(workflow)["pytorch-grader"]["run"]), workspace, extra)
    assert proc.returncode == 0, proc.stderr
    reports = workspace / extra["REPORTS"]
    assert {"report.json", "report.txt", "junit.xml", "classroom.txt", "gradescope.json"} <= \
        {p.name for p in reports.iterdir()}
    report = json.loads((reports / "report.json").read_text())
    assert report["score"] == report["max_score"] == FULL_MARKS
    assert f"{ASSIGNMENT}" in proc.stdout  # the text report is printed in the job log
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    # What the reporter does with the step output: decode base64, parse JSON, add scores.
    payload = json.loads(base64.b64decode(outputs["result"]).decode("utf-8"))
    assert payload["version"] == 1 and payload["status"] == "pass"
    assert payload["max_score"] == FULL_MARKS
    assert sum(t["score"] for t in payload["tests"]) == pytest.approx(FULL_MARKS)


# -- GitLab CI ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gitlab():
    return yaml.safe_load((CI / "gitlab-ci.yml").read_text())


def test_gitlab_job_targets_gpu_runners_and_keeps_reports(gitlab):
    job = gitlab["autograde"]
    assert "gpu" in job["tags"]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "autograder-reports/junit.xml"
    assert any("$AUTOGRADER_TOKEN" in line or "${AUTOGRADER_TOKEN}" in line for line in job["before_script"])
    assert any('--constraint "$KIT/constraints.txt"' in line for line in job["before_script"])


def test_gitlab_script_grades_a_submission_on_cpu(gitlab, workspace):
    job = gitlab["autograde"]
    variables = {k: str(v).replace("$CI_PROJECT_DIR", str(workspace / "submission"))
                 for k, v in job["variables"].items()}
    variables.update(CI_PROJECT_DIR=str(workspace / "submission"), AUTOGRADER_ASSIGNMENT=ASSIGNMENT,
                     REPORTS="gitlab-reports")
    script = "\n".join(job["script"])
    if not torch.cuda.is_available():
        proc = _bash(script, workspace, variables)
        assert proc.returncode != 0 and REQUIRE_CUDA_ERROR in proc.stderr
    proc = _bash(_on_cpu(script), workspace, variables)
    assert proc.returncode == 0, proc.stderr
    junit = workspace / "gitlab-reports" / "junit.xml"
    import xml.etree.ElementTree as ET
    assert ET.parse(junit).getroot().tag in ("testsuites", "testsuite")


# -- Slurm ----------------------------------------------------------------------------------
def test_slurm_script_submits_an_array_then_a_dependent_merge(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "sbatch.log"
    (fake / "sbatch").write_text(f'#!/bin/sh\necho "$*" >> {log}\necho 4242\n')
    (fake / "sbatch").chmod(0o755)
    proc = subprocess.run(["bash", str(CI / "slurm-array.sh"), "submit", "subs", str(tmp_path / "out"), "3"],
                          env={**env(), "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    array, merge = log.read_text().splitlines()
    assert "--array=1-3" in array and array.endswith(f"task subs {tmp_path / 'out'}")
    assert "--dependency=afterok:4242" in merge and merge.endswith(f"merge {tmp_path / 'out'} 3")


def test_slurm_tasks_and_merge_grade_the_whole_class(tmp_path):
    course_file = fast_course(tmp_path / "course")
    students = {"ada": source(), "ben": source(set()), "cy": source({"make_empty"}), "dee": source()}
    folder = write_class(tmp_path / "class", students)
    out = tmp_path / "out"
    slurm_env = {"COURSE": str(course_file), "AUTOGRADER": str(VENV_BIN / "autograder"),
                 "BATCH_ARGS": f"--assignment {ASSIGNMENT}", "SLURM_ARRAY_TASK_COUNT": "3",
                 "SLURM_CPUS_PER_TASK": "1"}
    for k in (1, 2, 3):
        proc = _bash(f'bash "{CI / "slurm-array.sh"}" task "{folder}" "{out}"', tmp_path,
                     {**slurm_env, "SLURM_ARRAY_TASK_ID": str(k)})
        assert proc.returncode == 0, proc.stderr
        assert re.search(rf"shard {k}/3", proc.stderr)
    proc = _bash(f'bash "{CI / "slurm-array.sh"}" merge "{out}" 3', tmp_path, slurm_env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in gradebook(out / "merged")}
    assert sorted(rows) == sorted(students)
    assert {s: float(r["total"]) for s, r in rows.items() if s in ("ada", "ben", "dee")} == \
        {"ada": FULL_MARKS, "ben": 0.0, "dee": FULL_MARKS}
    assert 0 < float(rows["cy"]["total"]) < FULL_MARKS
