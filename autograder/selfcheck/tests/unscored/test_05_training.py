"""Self-check-only tests of 05_training (see unscored/test_01_tensors.py for why). The
training checks run a few steps on a tiny loader, so they take well under a second."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import probes
from autograder.expect import check, describe, expect_close, expect_number, expect_tensor


def tiny_classification(submission, batch_size=4):
    """A 3-class problem of 10 samples with 4 features: model, loader, criterion, optimizer."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(10, 4, generator=generator)
    labels = torch.arange(10) % 3
    model = submission.helper("small_net", 0, (4, 3))
    loader = submission.helper("tensor_loader", inputs, labels, batch_size=batch_size)
    return model, loader, submission.helper("cross_entropy"), inputs, labels


def parameters(submission, model):
    return [p.detach().clone() for p in submission.fetch(submission.helper("parameters_of", model))]


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("grad_fn_chain")
def test_grad_fn_chain_of_a_sine(submission):
    """grad_fn_chain(sin(x).mean(), 2) is ["MeanBackward0", "SinBackward0"]"""
    loss = submission.helper("chain_loss", ["sin"], 0)
    result = submission.call("grad_fn_chain", loss, 2)
    expected = ["MeanBackward0", "SinBackward0"]
    check(isinstance(result, (list, tuple)) and list(result) == expected,
          f"grad_fn_chain(torch.sin(x).mean(), 2) returned {result!r}; expected {expected} "
          f"(type(node).__name__ of loss.grad_fn, then of node.next_functions[0][0])")


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("manual_sgd_step")
def test_manual_sgd_step_small(submission):
    """manual_sgd_step(net, 0.5) moves each parameter by -0.5 * its gradient"""
    net = submission.helper("small_net", 0, (2, 1))
    before = parameters(submission, net)
    grads = [torch.ones_like(p) for p in before]
    submission.helper("set_grads", net, grads)
    result = submission.call("manual_sgd_step", net, 0.5)
    check(result is None, f"manual_sgd_step returned {describe(result)}; expected None (it updates in place)")
    for index, (old, new) in enumerate(zip(before, parameters(submission, net))):
        expect_close(new, old - 0.5, what=f"parameter {index} after manual_sgd_step(net, 0.5) with gradients of 1")


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("lesson_transform")
def test_lesson_transform_small_image(submission):
    """lesson_transform() turns a 4x5 RGB image into a [3, 4, 5] tensor in [-1, 1]"""
    transform = submission.call_keep("lesson_transform")
    image = submission.helper("random_pil_image", 0, 4, 5)
    result = expect_tensor(submission.call(transform, image), what="lesson_transform()(a 4x5 RGB image)",
                           shape=(3, 4, 5), dtype=torch.float32)
    pixels = torch.from_numpy(probes.random_image_array(0, 4, 5).astype(np.float32)).permute(2, 0, 1)
    expect_close(result, pixels / 255 * 2 - 1, what="lesson_transform()(a 4x5 RGB image)",
                 hint="ToTensor() first (to [0, 1]), then Normalize with mean and std 0.5")


@pytest.mark.points(0)
@pytest.mark.category("behaviour")
@pytest.mark.exercise("train")
def test_train_two_epochs_on_a_tiny_loader(submission):
    """train(...) on 10 samples for 2 epochs returns 2 losses and 2 accuracies and updates the model"""
    model, loader, criterion, _, _ = tiny_classification(submission)
    before = parameters(submission, model)
    history = submission.call("train", model, loader, criterion, submission.helper("sgd", model, 0.1), "cpu", 2)
    check(isinstance(history, dict) and set(history) >= {"loss", "accuracy"},
          f"train(...) returned {describe(history)}; expected a dict with keys 'loss' and 'accuracy'")
    for key in ("loss", "accuracy"):
        values = history[key]
        check(isinstance(values, (list, tuple)) and len(values) == 2,
              f"train(..., epochs=2)[{key!r}] is {describe(values)}; expected a list of 2 floats, one per epoch")
        for value in values:
            expect_number(value, what=f"an entry of train(...)[{key!r}]")
    check(all(0.0 <= a <= 1.0 for a in history["accuracy"]),
          f"train(...)['accuracy'] is {history['accuracy']}; accuracies are fractions in [0, 1]")
    changed = any(not torch.equal(a, b) for a, b in zip(before, parameters(submission, model)))
    check(changed, "train(...) left the model's parameters unchanged: call optimizer.step() after backward()")


def grader_predictions(submission, model, inputs):
    return submission.fetch(submission.helper("predict_logits", model, inputs)).argmax(1)


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("evaluate")
def test_evaluate_tiny_loader(submission):
    """evaluate(...) on 10 samples returns the loss and the fraction predicted right"""
    model, loader, criterion, inputs, labels = tiny_classification(submission, batch_size=3)
    result = submission.call("evaluate", model, loader, criterion, "cpu")
    check(isinstance(result, dict) and set(result) >= {"loss", "accuracy"},
          f"evaluate(...) returned {describe(result)}; expected a dict with keys 'loss' and 'accuracy'")
    expect_number(result["loss"], what="evaluate(...)['loss']")
    expected = float((grader_predictions(submission, model, inputs) == labels).float().mean())
    expect_close(expect_number(result["accuracy"], what="evaluate(...)['accuracy']"), torch.tensor(expected),
                 what="evaluate(...)['accuracy'] over 10 samples in batches of 3")


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("per_class_accuracy")
def test_per_class_accuracy_tiny_loader(submission):
    """per_class_accuracy(...) on 10 samples in batches of 3 gives one fraction per class"""
    model, loader, _, inputs, labels = tiny_classification(submission, batch_size=3)
    result = submission.call("per_class_accuracy", model, loader, "cpu", 3)
    check(isinstance(result, (list, tuple)) and len(result) == 3,
          f"per_class_accuracy(..., num_classes=3) returned {describe(result)}; expected a list of 3 floats")
    predicted = grader_predictions(submission, model, inputs)
    expected = [float((predicted[labels == c] == c).float().mean()) for c in range(3)]
    expect_close(torch.tensor([float(v) for v in result]), torch.tensor(expected),
                 what="per_class_accuracy(...) over 10 samples in batches of 3 (a short last batch)")
