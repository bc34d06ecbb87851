"""Each realistic mistake loses points exactly in the tests that name it, and nowhere else.

A mutant is the reference solution with one mistake (tests/support/submissions/mutants.py). It is
graded in process through the real plugin (autograder.grading.grade_source) and the set
of tests that lost points must equal the set listed here: a missing entry means the
mistake goes unnoticed, an extra one means collateral damage (a student would lose
points twice for one mistake).

The accuracy check trains a LeNet (seconds each), so it runs for real only where a
mutant changes what it measures (train); elsewhere `measure_accuracy` is replaced by a
passing result, and the reference's real run is checked in test_reference_full_marks.
"""
from __future__ import annotations


import pytest
import torch


from submissions import sources
from submissions.mutants import MUTANTS

ASSIGNMENTS = ("01_tensors", "02_numpy_bridge", "03_autograd", "04_lenet", "05_training", "06_cuda")

# mutant -> the tests that must lose points (ids as in the report).
EXPECTED = {
    # 01_tensors
    "zeros_long_wrong_dtype": {"tensors::zeros_long_dtype", "tensors::zeros_long_shapes"},
    "uniform_uses_randn": {"tensors::make_uniform_range"},
    "empty_swapped_shape": {"tensors::make_empty_shape", "tensors::make_empty_shapes"},
    "add_out_returns_new_tensor": {"tensors::add_out_writes_into_out"},
    "add_inplace_rebinds": {"tensors::add_inplace_modifies_y"},
    "views_of_clone": {"tensors::views_of_share_storage"},
    "ones_like_keeps_dtype": {"tensors::ones_double_like"},
    "ones_double_like_ignores_device": {"tensors::ones_double_like_device"},
    "second_column_is_a_row": {"tensors::second_column_small", "tensors::second_column_values"},
    "number_stays_tensor": {"tensors::to_python_number"},
    "from_list_forces_float": {"tensors::from_list_infers_dtype"},
    # 02_numpy_bridge
    "numpy_copy_not_view": {"numpy_bridge::tensor_to_numpy_shares_memory"},
    "from_numpy_replaced_by_tensor": {"numpy_bridge::numpy_to_tensor_shares_memory"},
    "increment_rebinds_array": {"numpy_bridge::increment_through_numpy"},
    "safe_forgets_bfloat16": {"numpy_bridge::safe_to_numpy_bfloat16"},
    "safe_converts_everything_to_float": {"numpy_bridge::safe_to_numpy_leaves_plain_tensors"},
    # 03_autograd
    "forgot_requires_grad": {"autograd::tracked_ones", "autograd::tracked_ones_shapes"},
    "hard_coded_4_5": {"autograd::grad_random_points"},
    "lesson_gradient_uses_callers_x": {"autograd::lesson_gradient_no_side_effects"},
    "out_as_python_number": {"autograd::lesson_graph_grad_fns", "autograd::lesson_graph_gradcheck"},
    "graph_in_float32": {"autograd::lesson_graph_gradcheck"},
    "scalar_backward_with_vector": {"autograd::vjp_matches_jacobian"},
    "vjp_ignores_v": {"autograd::vjp_matches_jacobian"},
    "no_grad_forgotten": {"autograd::no_grad_double"},
    "detached_clone": {"autograd::detached_shares_storage"},
    "accumulated_zeroes_each_time": {"autograd::accumulated_grad"},
    # 04_lenet: a wrong flatten size breaks every forward pass of GrayLeNet, so each test
    # that runs one reports it (with the layer it found), and CifarLeNet's tests do not.
    "wrong_flatten_size": {"lenet::gray_output_shape", "lenet::gray_layers", "lenet::flat_features",
                           "lenet::gray_output_shapes", "lenet::gray_backward_fills_grads",
                           "lenet::gray_matches_reference"},
    "missing_relu": {"lenet::gray_matches_reference"},
    "relu_on_output": {"lenet::cifar_matches_reference"},
    "flat_features_include_batch": {"lenet::num_flat_features"},
    "batch_dim_in_wrong_place": {"lenet::add_batch_dim", "lenet::add_batch_dim_shapes"},
    "backprop_without_zero_grad": {"lenet::backprop_random_grad"},
    # 05_training
    "mse_returns_float": {"training::mse_differentiable"},
    "grad_fn_chain_skips_first": {"training::grad_fn_chain"},
    "manual_sgd_plus": {"training::manual_sgd_step"},
    "training_step_no_zero_grad": {"training::training_step_zeroes_grads"},
    "training_step_no_step": {"training::training_step_updates"},
    "transform_without_normalize": {"training::lesson_transform"},
    "display_view_not_permute": {"training::display_image_values"},
    "train_no_zero_grad": {"training::train_zeroes_grads", "training::accuracy_above_threshold"},
    "train_no_step": {"training::train_calls_step", "training::train_loss_decreasing",
                      "training::accuracy_above_threshold"},
    "train_forgets_train_mode": {"training::train_mode"},
    "evaluate_in_train_mode": {"training::evaluate_eval_mode"},
    "evaluate_without_no_grad": {"training::evaluate_no_grad"},
    "evaluate_counts_full_batches": {"training::evaluate_accuracy"},
    "per_class_assumes_batch_of_4": {"training::per_class_batch_sizes"},
    "per_class_divides_by_zero": {"training::per_class_empty_class"},
    # 06_cuda: to_cpu_double_keeps_device is only visible on a GPU (the cuda-marked test).
    "pick_device_hard_coded_cpu": {"cuda::pick_device_follows_cuda_available"},
    "ones_on_ignores_device": {"cuda::ones_on_device"},
    "add_on_device_stays_put": {"cuda::add_on_device_device"},
    "add_on_device_modifies_x": {"cuda::add_on_device_leaves_x_alone"},
    "model_not_moved": {"cuda::move_model_moves_everything"} | (
        {"cuda::cuda_move_model"} if torch.cuda.is_available() else set()),
    "labels_left_on_cpu": {"cuda::train_step_moves_labels"} | (
        {"cuda::cuda_train_step"} if torch.cuda.is_available() else set()),
    "inputs_left_on_cpu": {"cuda::train_step_moves_inputs"} | (
        {"cuda::cuda_train_step"} if torch.cuda.is_available() else set()),
    "to_cpu_double_keeps_device": {"cuda::cuda_to_cpu_double"} if torch.cuda.is_available() else set(),
}

# Mutants whose mistake changes what the accuracy check measures: it runs for real.
REAL_ACCURACY = {"train_no_zero_grad", "train_no_step"}
# ... and the loop test their failed accuracy check points to.
POINTED_TO = {"train_no_zero_grad": "training::train_zeroes_grads", "train_no_step": "training::train_calls_step"}


def grade(assignment: str, source: str, *, real_accuracy: bool, monkeypatch):
    from autograder.grading import grade_source
    if assignment == "05_training" and not real_accuracy:
        monkeypatch.setattr("autograder.accuracy.measure_accuracy", sources.stand_in_accuracy)
    return grade_source(assignment, source, backend="inprocess")


def lost(result) -> set[str]:
    return {t.id for t in sources.points_lost(result)}


def describe_lost(result) -> str:
    return "; ".join(f"{t.id} [{t.status}] {t.message[:160]}" for t in sources.points_lost(result))


def test_catalog_is_complete():
    assert set(EXPECTED) == set(MUTANTS), set(EXPECTED) ^ set(MUTANTS)
    assert len(MUTANTS) >= 25
    assert {m.assignment for m in MUTANTS.values()} == set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_full_marks(assignment, monkeypatch):
    result = grade(assignment, sources.reference_source(assignment), real_accuracy=True, monkeypatch=monkeypatch)
    assert result.tests, f"no tests ran for {assignment}"
    assert not lost(result), describe_lost(result)
    assert sum(t.score for t in result.tests) == sum(t.max_score for t in result.tests)


@pytest.mark.parametrize("name", [n for n in MUTANTS if n not in REAL_ACCURACY])
def test_mutant_loses_exactly_its_tests(name, monkeypatch):
    mutant = MUTANTS[name]
    result = grade(mutant.assignment, sources.variant_source(mutant), real_accuracy=False, monkeypatch=monkeypatch)
    assert lost(result) == EXPECTED[name], (
        f"{name} ({mutant.what}): missed {sorted(EXPECTED[name] - lost(result))}, "
        f"collateral {sorted(lost(result) - EXPECTED[name])}; {describe_lost(result)}")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_ACCURACY))
def test_training_mutant_with_real_accuracy(name, monkeypatch):
    mutant = MUTANTS[name]
    result = grade(mutant.assignment, sources.variant_source(mutant), real_accuracy=True, monkeypatch=monkeypatch)
    assert lost(result) == EXPECTED[name], (
        f"{name} ({mutant.what}): missed {sorted(EXPECTED[name] - lost(result))}, "
        f"collateral {sorted(lost(result) - EXPECTED[name])}; {describe_lost(result)}")
    # The failed accuracy check names the loop test that explains it, not a generic list.
    tests = {t.id: t for t in result.tests}
    loop_test = tests[POINTED_TO[name]]
    message = tests["training::accuracy_above_threshold"].message
    assert "The training loop is why" in message and f'"{loop_test.name}"' in message, message


def test_failure_messages_say_what_came_back(monkeypatch):
    """The message a student reads names the call, what it returned and what was expected."""
    mutant = MUTANTS["zeros_long_wrong_dtype"]
    result = grade(mutant.assignment, sources.variant_source(mutant), real_accuracy=False, monkeypatch=monkeypatch)
    messages = {t.id: t.message for t in result.tests}
    assert messages["tensors::zeros_long_dtype"] == (
        "zeros_long(5, 3) returned dtype torch.float32 (torch.float); expected torch.int64 (torch.long)")
    for t in result.tests:
        if t.status == "failed":
            assert "assert" not in t.message and "Traceback" not in t.message, t.message


def test_same_submission_same_messages_and_seed_changes_inputs(monkeypatch):
    """Grading is repeatable (the student's own randomness is seeded too), and the
    course seed picks the inputs: another seed asks about other shapes and values."""
    from autograder.grading import grade_source
    mutant = MUTANTS["missing_relu"]
    source = sources.variant_source(mutant)

    def messages(seed):
        return {t.id: t.message for t in grade_source(mutant.assignment, source, seed=seed).tests}

    first, again, other = messages(11), messages(11), messages(12)
    assert first == again
    assert first["lenet::gray_matches_reference"] != other["lenet::gray_matches_reference"]


def test_relus_switching_within_the_first_step_do_not_fail_true_gradients():
    """The gradient check of 04_lenet measures the forward's directional derivative by
    finite differences. Two ReLUs whose inputs are 5e-4 and -2e-4 from zero switch within
    a step of 1e-3 on both sides and bend every difference at that step; a correct model
    must still pass (a smaller step is tried), and gradients that are not the forward's
    must still fail."""
    from autograder.submission import InProcessSubmission
    from autograder.tests_hidden import _reference as ref

    model = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.copy_(torch.tensor([5e-4, -2e-4]))
    submission = InProcessSubmission({}, "04_lenet")
    x, grad_output = torch.tensor([[1.0]]), torch.tensor([[1.0, 1.0]])
    named = ref.named_parameters(submission, model)
    direction = [torch.ones(2, 1), torch.zeros(2)]  # f(t) = relu(5e-4 + t) + relu(-2e-4 + t)
    true_derivative = 1.0  # only the first unit is on at t = 0
    # the premise: at 1e-3 the central difference is 1.15, the one-sided ones 1.8 and 0.5
    alone, central = ref.matches_directional_derivative(submission, model, named, direction, x, grad_output,
                                                         true_derivative, steps=(1e-3,))
    assert not alone and central == pytest.approx(1.15, abs=1e-3)
    for expected, verdict in ((true_derivative, True), (2.0, False), (0.0, False), (-1.0, False)):
        matches, _ = ref.matches_directional_derivative(submission, model, named, direction, x, grad_output, expected)
        assert matches is verdict, expected
