"""Which exercise each test grades: the grouping behind nbgrader's per-exercise grade cells.

An exercise is a solution cell of the assignment's notebook; its nbgrader grade_id is
the function or class the student writes (`make_empty`, `GrayLeNet`). A test belongs to

1. the exercise its `@pytest.mark.exercise(...)` marker names (the visible tests);
2. else the exercise `TEST_EXERCISES` below lists for its report id;
3. else the exercise its name starts with, at a word boundary, longest first
   (`tensors::make_empty_shapes` -> `make_empty`, `training::training_step_loss` ->
   `training_step`, never `train`).

A test that matches none of these is an error naming the test and this file, so a new
hidden test cannot silently land in no grade cell (tests/nbgrader/test_nbgrader.py checks every
test of every assignment).
"""
from __future__ import annotations

from dataclasses import dataclass

# Hidden tests whose names do not start with their exercise's name: the function (or
# class) they call, directly or through a fixture, decides.
TEST_EXERCISES: dict[str, str] = {
    "autograd::grad_random_points": "lesson_gradient",
    "autograd::vjp_matches_jacobian": "vector_jacobian_product",
    "lenet::gray_layers": "GrayLeNet",
    "lenet::flat_features": "GrayLeNet",  # checks both nets' fc1; the first net it builds
    "lenet::gray_output_shapes": "GrayLeNet",
    "lenet::gray_backward_fills_grads": "GrayLeNet",
    "lenet::gray_matches_reference": "GrayLeNet",
    "lenet::cifar_layers": "CifarLeNet",
    "lenet::cifar_output_shapes": "CifarLeNet",
    "lenet::cifar_matches_reference": "CifarLeNet",
    "training::mse_values": "mse_against_target",
    "training::mse_differentiable": "mse_against_target",
    "training::display_image_values": "to_display_image",
    "training::per_class_batch_sizes": "per_class_accuracy",
    "training::per_class_empty_class": "per_class_accuracy",
    "training::accuracy_above_threshold": "train",  # the student's train() trains the graded net
    "cuda::cuda_move_model": "move_model",
    "cuda::cuda_train_step": "train_step_on_device",
    "cuda::cuda_tensors": "ones_on",  # pick_device, ones_on and add_on_device on a GPU
    "cuda::cuda_to_cpu_double": "to_cpu_double",
    "cuda::train_step_moves_inputs": "train_step_on_device",
    "cuda::train_step_moves_labels": "train_step_on_device",
    "cuda::train_step_updates": "train_step_on_device",
}
WHERE = "autograder/nbgrader/exercises.py"


class ExerciseError(Exception):
    """A test maps to no exercise of its notebook; one line."""


@dataclass(frozen=True)
class TestInfo:
    """What init needs of one test: its report id, exercise marker, points and CUDA flag."""

    __test__ = False  # not a pytest test class
    id: str
    exercise_marker: str | None
    points: float
    cuda: bool


def exercise_of(test_id: str, exercise_marker: str | None, exercises: list[str]) -> str:
    """The exercise (one of `exercises`) that the test with this report id grades."""
    choice = exercise_marker or TEST_EXERCISES.get(test_id)
    if choice is None:
        name = test_id.split("::", 1)[-1]
        matches = [e for e in exercises if name == e or name.startswith(e + "_")]
        choice = max(matches, key=len) if matches else None
    if choice is None or choice not in exercises:
        found = f"maps to {choice!r}, which" if choice else "matches no exercise by name and"
        raise ExerciseError(f"test {test_id} {found} is not a solution cell of its notebook "
                            f"({', '.join(exercises)}); add it to TEST_EXERCISES in {WHERE}")
    return choice


def collect_tests(course, assignment_id: str) -> list[TestInfo]:
    """The assignment's visible and hidden tests with their markers, from a real pytest
    collection through the grading plugin: every test runs against a submission that is
    unavailable, so it stops at its `submission` fixture and nothing is executed."""
    import torch

    from autograder.grading import run_tests
    from autograder.plugin import SubmissionUnavailable

    def unavailable(_assignment: str):
        raise SubmissionUnavailable("collecting tests only")

    plugin = run_tests(course, [assignment_id], unavailable, seed=course.seed, device=torch.device("cpu"))
    return [TestInfo(o.id, o.exercise, o.points, o.cuda) for o in plugin.outcomes.values()]


def exercise_points(course, assignment_id: str, exercises: list[str]) -> dict[str, float]:
    """{exercise: points of its tests} in notebook order; exercises without tests left out."""
    points = {e: 0.0 for e in exercises}
    seen = set()
    for test in collect_tests(course, assignment_id):
        exercise = exercise_of(test.id, test.exercise_marker, exercises)
        points[exercise] += test.points
        seen.add(exercise)
    return {e: p for e, p in points.items() if e in seen}
