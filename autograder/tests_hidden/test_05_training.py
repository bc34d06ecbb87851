"""Hidden tests of 05_training: the loss, the grad_fn chain, SGD by hand and with
torch.optim, the image transforms, and the training/evaluation loops' behaviour.

Every verdict rests on values the grader fetched and checked itself (docs/SECURITY.md):
the loops run on kit models whose parameters the grader wrote, and the grader replays
the loop on its own copy (_training_replay) to see, from the parameters and gradients it
fetches afterwards, whether gradients were zeroed, optimizer.step() called and train mode
set. The model's scores carry a grader-chosen factor per mode and autograd state, so the
mode and no_grad show up in numbers the grader recomputes (the parameters after a step,
the loss evaluate returns), not in records the student's code could write. The accuracy
tests train the student's own LeNet and evaluate the fetched weights grader-side
(autograder.accuracy)."""
from __future__ import annotations

import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder import probes
from autograder.expect import (check, describe, expect_array, expect_close, expect_number,
                               expect_tensor, fail)
from autograder.localize import N_
from autograder.submission import SubmissionFault, grad_fn_name
from autograder.tests_hidden import _reference as ref
from autograder.tests_hidden import _training_replay as replay

FEATURES = (3, 4, 4)  # image-like inputs, small enough to record every batch


# -- shared set-ups -------------------------------------------------------------------------------
def _batches(rng, count, classes, learnable=False):
    inputs = torch.randn(count, *FEATURES, generator=rng)
    if learnable:  # labels a linear rule of the inputs: a classifier can learn them
        rule = torch.randn(int(np.prod(FEATURES)), classes, generator=rng)
        labels = (inputs.flatten(1) @ rule).argmax(1)
    else:
        labels = torch.randint(0, classes, (count,), generator=rng)
    return inputs, labels


# -- loss and graph ------------------------------------------------------------------------------
@pytest.mark.points(1)
@pytest.mark.category("value")
def test_mse_values(submission, rng):
    """mse_against_target equals nn.MSELoss between output and target.view(1, -1)"""
    for _ in range(3):
        k = ref.randint(rng, 3, 10)
        output, target = torch.randn(1, k, generator=rng), torch.randn(k, generator=rng)
        result = submission.call("mse_against_target", output, target)
        expect_close(result, F.mse_loss(output, target.view(1, -1)),
                     what=f"mse_against_target(output [1, {k}], target [{k}])")


@pytest.mark.points(0.5)
@pytest.mark.category("gradient")
def test_mse_differentiable(submission, rng):
    """mse_against_target returns a tensor still attached to the graph (it can be backpropagated)"""
    k = ref.randint(rng, 3, 10)
    output = torch.randn(1, k, generator=rng).requires_grad_(True)
    result = submission.call("mse_against_target", output, torch.randn(k, generator=rng))
    check(isinstance(result, torch.Tensor) and grad_fn_name(result) is not None,
          f"mse_against_target(output, target) for an output that requires grad returned "
          f"{describe(result)} without grad_fn; return the loss tensor itself (no .item())")


@pytest.mark.points(1.5)
@pytest.mark.category("gradient")
def test_grad_fn_chain(submission, rng):
    """grad_fn_chain walks loss.grad_fn along next_functions[0][0]"""
    seed = ref.new_seed(rng)
    cases = [(submission.helper("lesson_mse_loss", seed), probes.lesson_mse_loss(seed), 2,
              N_("the lesson's MSE loss"))]
    for reaches_the_leaf in (False, True):
        ops = [ref.pick(rng, probes.CHAIN_OPS) for _ in range(ref.randint(rng, 3, 5))]
        # the chain is mean, the ops, then the leaf's AccumulateGrad: len(ops) + 2 nodes;
        # asked for more, the list stops at the leaf (the docstring says so)
        steps = ref.randint(rng, len(ops) + 2, len(ops) + 4) if reaches_the_leaf else ref.randint(rng, 2, len(ops) + 1)
        expression = "x"
        for op in ops:  # the loss as the code that builds it: mean(square(sin(x)))
            expression = f"{op}({expression})"
        cases.append((submission.helper("chain_loss", ops, seed), probes.chain_loss(ops, seed), steps,
                      f"mean({expression})"))
    for loss_handle, loss_here, steps, label in cases:
        expected = ref.grad_fn_chain(loss_here, steps)
        result = submission.call("grad_fn_chain", loss_handle, steps)
        # node.name() spells the leaf's node 'torch::autograd::AccumulateGrad'; the
        # docstring accepts it as well as type(node).__name__
        names = [n.removeprefix("torch::autograd::") if isinstance(n, str) else n for n in result] \
            if isinstance(result, (list, tuple)) else result
        check(isinstance(result, (list, tuple)) and list(names) == expected,
              f"grad_fn_chain(loss, {steps}) for {label} returned {result!r}; expected {expected!r} "
              f"(start at loss.grad_fn, then follow .next_functions[0][0], {steps} names at most: the list "
              f"stops where the chain ends)")


# -- SGD -----------------------------------------------------------------------------------------
@pytest.mark.points(1.5)
@pytest.mark.category("value")
def test_manual_sgd_step(submission, rng):
    """manual_sgd_step updates every parameter by p - lr * p.grad"""
    sizes = (5, ref.randint(rng, 3, 6), 3)
    net = submission.helper("small_net", ref.new_seed(rng), sizes)
    before = submission.fetch(submission.helper("parameters_of", net))
    grads = [torch.randn(p.shape, generator=rng) for p in before]
    submission.helper("set_grads", net, grads)
    lr = round(0.01 + float(torch.rand(1, generator=rng)) * 0.5, 3)
    submission.call("manual_sgd_step", net, lr)
    after = submission.fetch(submission.helper("parameters_of", net))
    for i, (p0, g, p1) in enumerate(zip(before, grads, after)):
        expect_close(p1, p0 - lr * g, what=f"parameter {i} after manual_sgd_step(net, lr={lr})",
                     hint="Update in place under torch.no_grad(): p -= lr * p.grad "
                          "(minus: step against the gradient)")


def _step_setup(submission, rng, *, stale_grads):
    sizes, seed = (6, ref.randint(rng, 4, 8), 4), ref.new_seed(rng)
    lr = round(0.05 + float(torch.rand(1, generator=rng)) * 0.4, 3)
    net = submission.helper("small_net", seed, sizes)
    optimizer = submission.helper("sgd", net, lr)
    n = ref.randint(rng, 3, 6)
    inputs, targets = torch.randn(n, sizes[0], generator=rng), torch.randint(0, sizes[-1], (n,), generator=rng)
    if stale_grads:
        submission.helper("set_grads", net, [torch.randn(p.shape, generator=rng) * 5
                                             for p in probes.small_net(seed, sizes).parameters()])
    result = submission.call("training_step", net, optimizer, submission.helper("cross_entropy"), inputs, targets)
    mine = probes.small_net(seed, sizes)
    loss = F.cross_entropy(mine(inputs), targets)
    loss.backward()
    expected_params = [(p - lr * p.grad).detach() for p in mine.parameters()]
    return result, net, float(loss), [p.grad for p in mine.parameters()], expected_params


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_training_step_loss(submission, rng):
    """training_step returns the batch's loss as a Python float"""
    result, _, loss, _, _ = _step_setup(submission, rng, stale_grads=False)
    value = expect_number(result, what="training_step(...)")
    check(abs(value - loss) < 1e-4 * max(1.0, abs(loss)),
          f"training_step(...) returned {value:.5f}; expected the loss of this batch before the "
          f"update, {loss:.5f}")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_training_step_zeroes_grads(submission, rng):
    """training_step clears old gradients before backward (no accumulation)"""
    _, net, _, fresh, _ = _step_setup(submission, rng, stale_grads=True)
    grads = submission.fetch(submission.helper("grads_of", net))
    for i, (g, e) in enumerate(zip(grads, fresh)):
        check(g is not None, f"after training_step, parameter {i} has no gradient; call "
                             f"optimizer.zero_grad() before loss.backward(), not after")
        expect_close(g, e, what=f"parameter {i}'s gradient after training_step (old gradients were present)",
                     atol=1e-5, hint="Call optimizer.zero_grad() before loss.backward() so old "
                                     "gradients do not add up")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_training_step_updates(submission, rng):
    """training_step applies one optimizer step to the parameters"""
    _, net, _, _, expected = _step_setup(submission, rng, stale_grads=False)
    after = submission.fetch(submission.helper("parameters_of", net))
    for i, (p, e) in enumerate(zip(after, expected)):
        expect_close(p, e, what=f"parameter {i} after training_step", atol=1e-5,
                     hint="After loss.backward(), call optimizer.step()")


# -- images --------------------------------------------------------------------------------------
@pytest.mark.points(1)
@pytest.mark.category("value")
def test_lesson_transform(submission, rng):
    """lesson_transform maps a PIL image to a [3, H, W] float tensor in [-1, 1]"""
    transform = submission.call_keep("lesson_transform")
    for _ in range(2):
        seed, height, width = ref.new_seed(rng), ref.randint(rng, 4, 12), ref.randint(rng, 4, 12)
        image = submission.helper("random_pil_image", seed, height, width)
        pixels = torch.from_numpy(probes.random_image_array(seed, height, width)).permute(2, 0, 1)
        expected = (pixels.float() / 255 - 0.5) / 0.5
        what = f"lesson_transform()(image) for a {width}x{height} RGB image"
        result = expect_tensor(submission.call(transform, image), what=what, shape=expected.shape,
                               dtype=torch.float32)
        expect_close(result, expected, what=what, atol=1e-5,
                     hint="Compose([ToTensor(), Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_unnormalize_values(submission, rng):
    """unnormalize maps [-1, 1] back to [0, 1] (img / 2 + 0.5)"""
    img = torch.rand(3, ref.randint(rng, 2, 8), ref.randint(rng, 2, 8), generator=rng) * 2 - 1
    expect_close(submission.call("unnormalize", img), img / 2 + 0.5, what="unnormalize(img)")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_display_image_values(submission, rng):
    """to_display_image gives the unnormalised image with channels last, as a NumPy array"""
    height, width = ref.randint(rng, 3, 6), ref.randint(rng, 7, 10)
    img = torch.rand(3, height, width, generator=rng) * 2 - 1
    what = f"to_display_image(img) for img of shape [3, {height}, {width}]"
    result = expect_array(submission.call("to_display_image", img), what=what, shape=(height, width, 3))
    expect_close(result, (img / 2 + 0.5).permute(1, 2, 0), what=what,
                 hint="Unnormalise, then move the channels last with np.transpose(npimg, (1, 2, 0)) "
                      "(a reshape/view would scramble the pixels)")


# -- the training loop ---------------------------------------------------------------------------
IN_FEATURES = int(np.prod(FEATURES))


def _scaled_model(submission, rng, classes, *, scales=None):
    """A ModeScaledClassifier in the student's space with grader-drawn weights and factors."""
    scales = scales or replay.random_scales(rng)
    init = replay.random_parameters(IN_FEATURES, classes, rng)
    model = submission.helper("mode_scaled_classifier", IN_FEATURES, classes, scales)
    submission.helper("load_parameters", model, init)
    return model, init, scales


def _loop_run(submission, rng, *, epochs=2, batch_size=4, batches=3, classes=3, lr=0.1):
    """Run the student's train() on a model that arrives in eval mode (as evaluate leaves
    it); returns (history, the replays the fetched parameters match, epochs * batches)."""
    inputs, labels = _batches(rng, batch_size * batches, classes)
    model, init, scales = _scaled_model(submission, rng, classes)
    submission.helper("set_training", model, False)
    loader = submission.helper("tensor_loader", inputs, labels, batch_size)
    history = submission.call("train", model, loader, submission.helper("cross_entropy"),
                              submission.helper("sgd", model, lr), "cpu", epochs)
    params = submission.fetch(submission.helper("parameters_of", model))
    grads = submission.fetch(submission.helper("grads_of", model))
    replays = replay.all_replays(init, scales, replay.fixed_batches(inputs, labels, batch_size), epochs, lr)
    matches = replay.matching(replays, params, grads)
    check(bool(matches), f"after train(..., epochs={epochs}) on {batches} batches, the model's parameters and "
                         f"gradients match no training loop the grader can reproduce; expected, for every batch "
                         f"in order: optimizer.zero_grad(), outputs = model(inputs), loss = criterion(outputs, "
                         f"labels), loss.backward(), optimizer.step()")
    return history, matches, epochs * batches


@pytest.mark.points(1.5)
@pytest.mark.category("behaviour")
def test_train_zeroes_grads(submission, rng):
    """train zeroes the gradients every step (no accumulation across batches)"""
    _, matches, steps = _loop_run(submission, rng)
    check(any(m.zero_grad for m in matches),
          f"after train(...) ({steps} batches), the parameters are those of {matches[0].describe()}: the "
          f"gradients added up across batches; call optimizer.zero_grad() every step, before loss.backward()")


@pytest.mark.points(1.5)
@pytest.mark.category("behaviour")
def test_train_calls_step(submission, rng):
    """train calls optimizer.step() once per batch"""
    _, matches, steps = _loop_run(submission, rng)
    check(any(m.step for m in matches),
          f"after train(...) ({steps} batches), the parameters had not moved: {matches[0].describe()}; "
          f"call optimizer.step() once per batch, after loss.backward()")


@pytest.mark.points(1.5)
@pytest.mark.category("behaviour")
def test_train_mode(submission, rng):
    """train puts the model in training mode, even when it arrives in eval mode"""
    _, matches, _ = _loop_run(submission, rng)
    check(any(m.train_mode for m in matches),
          "train(...) ran the model in eval mode (the parameters are those of a loop without model.train()); "
          "call model.train() at the start of train (evaluate leaves the model in eval mode)")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_train_history(submission, rng):
    """train returns {"loss": [...], "accuracy": [...]} per epoch, matching what it computed"""
    epochs = 3
    history, matches, _ = _loop_run(submission, rng, epochs=epochs)
    check(isinstance(history, dict) and {"loss", "accuracy"} <= set(history),
          f"train(...) returned {describe(history)}; expected a dict with keys 'loss' and 'accuracy'")
    for key in ("loss", "accuracy"):
        check(isinstance(history[key], (list, tuple)) and len(history[key]) == epochs,
              f"train(..., epochs={epochs}) returned history[{key!r}] = {describe(history[key])}; "
              f"expected a list with one number per epoch")
    run = matches[0]  # the loop the student's code ran, as the grader replayed it
    for e in range(epochs):
        value = expect_number(history["loss"][e], what=f"history['loss'][{e}]")
        check(abs(value - run.losses[e]) < 1e-4, f"history['loss'][{e}] is {value:.5f}; the mean loss of that "
                                                 f"epoch's batches was {run.losses[e]:.5f}")
        value = expect_number(history["accuracy"][e], what=f"history['accuracy'][{e}]")
        check(abs(value - run.accuracies[e]) < 1e-6,
              f"history['accuracy'][{e}] is {value:.4f}; the fraction of training samples predicted right "
              f"that epoch was {run.accuracies[e]:.4f}")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_train_loss_decreasing(submission, rng):
    """train lowers the loss on a learnable problem"""
    classes = 3
    inputs, labels = _batches(rng, 32, classes, learnable=True)
    model, init, _ = _scaled_model(submission, rng, classes, scales=[1.0] * 4)
    loader = submission.helper("tensor_loader", inputs, labels, 8)
    submission.call("train", model, loader, submission.helper("cross_entropy"),
                    submission.helper("sgd", model, 0.05), "cpu", 4)
    params = submission.fetch(submission.helper("parameters_of", model))
    check(isinstance(params, list) and [tuple(p.shape) for p in params] == [tuple(p.shape) for p in init],
          "train(...) changed the model's parameters' shapes")
    before = float(F.cross_entropy(replay.scaled_logits(init, 1.0, inputs), labels))
    after = float(F.cross_entropy(replay.scaled_logits([p.float() for p in params], 1.0, inputs), labels))
    check(after < 0.9 * before,
          f"train(..., epochs=4) did not lower the loss on an easy problem: the grader measured {before:.4f} "
          f"before and {after:.4f} after; each step needs zero_grad, forward, loss, backward and optimizer.step()")


# -- evaluation ----------------------------------------------------------------------------------
def _evaluate_run(submission, rng, *, count, batch_size, classes=4):
    inputs, labels = _batches(rng, count, classes)
    seed = ref.new_seed(rng)
    model = submission.helper("recording_classifier", IN_FEATURES, classes, seed)
    loader = submission.helper("tensor_loader", inputs, labels, batch_size)
    result = submission.call("evaluate", model, loader, submission.helper("cross_entropy"), "cpu")
    mine = probes.recording_classifier(IN_FEATURES, classes, seed)
    with torch.no_grad():
        logits = mine(inputs)
    return result, logits, labels


def _check_evaluate_result(result):
    check(isinstance(result, dict) and {"loss", "accuracy"} <= set(result),
          f"evaluate(...) returned {describe(result)}; expected a dict with keys 'loss' and 'accuracy'")


def _evaluate_modes(submission, rng):
    """evaluate on a model whose scores carry a different factor in each (mode, autograd)
    state: the loss it returns says which state its forward passes ran in. Returns the
    states whose loss, as the grader computes it, equals the returned one."""
    classes, count, batch_size = 4, 12, 4
    inputs, labels = _batches(rng, count, classes)
    model, init, scales = _scaled_model(submission, rng, classes)
    states = [(training, grad) for training in (True, False) for grad in (True, False)]
    losses = {state: float(F.cross_entropy(replay.scaled_logits(init, factor, inputs), labels))
              for state, factor in zip(states, scales)}
    loader = submission.helper("tensor_loader", inputs, labels, batch_size)
    result = submission.call("evaluate", model, loader, submission.helper("cross_entropy"), "cpu")
    _check_evaluate_result(result)
    value = expect_number(result["loss"], what="evaluate(...)['loss']")
    matched = [state for state, loss in losses.items() if abs(loss - value) < 1e-4]
    check(bool(matched), f"evaluate(...)['loss'] is {value:.5f}, which is no mean loss of this model over the "
                         f"{count} samples; in eval mode under torch.no_grad() it is {losses[(False, False)]:.5f}")
    return matched


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_evaluate_eval_mode(submission, rng):
    """evaluate runs the model in eval mode"""
    matched = _evaluate_modes(submission, rng)
    check(any(not training for training, _ in matched),
          "evaluate(...) ran the model in training mode (its loss is the training-mode one); call "
          "model.eval() first (dropout and batch norm behave differently)")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_evaluate_no_grad(submission, rng):
    """evaluate runs without autograd (inside torch.no_grad())"""
    matched = _evaluate_modes(submission, rng)
    check(any(not grad for _, grad in matched),
          "evaluate(...) ran the model with autograd on (its loss is the one computed with a graph); wrap "
          "the loop in `with torch.no_grad():`")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_evaluate_loss(submission, rng):
    """evaluate's "loss" is the mean cross-entropy over the data"""
    batch_size = ref.randint(rng, 3, 6)
    result, logits, labels = _evaluate_run(submission, rng, count=batch_size * 3, batch_size=batch_size)
    _check_evaluate_result(result)
    expected = float(F.cross_entropy(logits, labels))
    value = expect_number(result["loss"], what="evaluate(...)['loss']")
    check(abs(value - expected) < 1e-4, f"evaluate(...)['loss'] is {value:.5f}; expected the mean loss "
                                        f"{expected:.5f}")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_evaluate_accuracy(submission, rng):
    """evaluate's "accuracy" is the fraction right, also with a short last batch"""
    batch_size = ref.randint(rng, 3, 6)
    count = batch_size * 3 + ref.randint(rng, 1, batch_size - 1)
    result, logits, labels = _evaluate_run(submission, rng, count=count, batch_size=batch_size)
    _check_evaluate_result(result)
    expected = float((logits.argmax(1) == labels).float().mean())
    value = expect_number(result["accuracy"], what="evaluate(...)['accuracy']")
    check(abs(value - expected) < 1e-6,
          f"evaluate(...)['accuracy'] is {value:.4f} for {count} samples in batches of {batch_size}; "
          f"expected {expected:.4f} (correct predictions / number of samples, a fraction in [0, 1])")


def _per_class_case(submission, rng, *, count, batch_size, classes, missing=None, pass_classes=True):
    seed = ref.new_seed(rng)
    inputs = torch.randn(count, *FEATURES, generator=rng)
    with torch.no_grad():
        predicted = probes.recording_classifier(int(np.prod(FEATURES)), classes, seed)(inputs).argmax(1)
    # About half the labels agree with the model, the rest are random: accuracies differ by class.
    labels = torch.where(torch.rand(count, generator=rng) < 0.5, predicted,
                         torch.randint(0, classes, (count,), generator=rng))
    if missing is not None:
        labels[labels == missing] = (missing + 1) % classes
    model = submission.helper("recording_classifier", int(np.prod(FEATURES)), classes, seed)
    loader = submission.helper("tensor_loader", inputs, labels, batch_size)
    args = (model, loader, "cpu", classes) if pass_classes else (model, loader, "cpu")
    result = submission.call("per_class_accuracy", *args)
    return result, ref.per_class_accuracy(predicted, labels, classes)


@pytest.mark.points(1.5)
@pytest.mark.category("value")
def test_per_class_batch_sizes(submission, rng):
    """per_class_accuracy is right for batch sizes 1, 3, 4 and 7 with a short last batch"""
    classes = ref.randint(rng, 3, 6)
    count = 4 * 7 + ref.pick(rng, [1, 2, 3, 5])
    for batch_size in (1, 3, 4, 7):
        result, expected = _per_class_case(submission, rng, count=count, batch_size=batch_size, classes=classes)
        what = f"per_class_accuracy(...) for {count} samples in batches of {batch_size}, {classes} classes"
        check(isinstance(result, (list, tuple)) and len(result) == classes,
              f"{what} returned {describe(result)}; expected a list of {classes} fractions")
        expect_close(torch.tensor([float(v) for v in result]), torch.tensor(expected), what=what, atol=1e-6,
                     hint="Count every sample of every batch (loop over the batch, not range(4))")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_per_class_empty_class(submission, rng):
    """per_class_accuracy gives 0.0 for a class with no samples (10 classes by default)"""
    missing = ref.randint(rng, 0, 9)
    result, expected = _per_class_case(submission, rng, count=40, batch_size=4, classes=10, missing=missing,
                                       pass_classes=False)
    what = f"per_class_accuracy(model, loader, device) when no sample has label {missing}"
    check(isinstance(result, (list, tuple)) and len(result) == 10,
          f"{what} returned {describe(result)}; expected a list of 10 fractions (num_classes defaults to 10)")
    check(float(result[missing]) == 0.0, f"{what} gave class {missing} the value {result[missing]!r}; "
                                         f"expected 0.0 for a class without samples")
    expect_close(torch.tensor([float(v) for v in result]), torch.tensor(expected), what=what, atol=1e-6)


# -- accuracy on held-out data ---------------------------------------------------------------------
_accuracy_results: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _measured(submission, course, seed):
    """measure_accuracy once per submission and seed: both accuracy tests share the run."""
    from autograder.accuracy import measure_accuracy
    per_submission = _accuracy_results.setdefault(submission, {})
    if seed not in per_submission:
        try:
            per_submission[seed] = measure_accuracy(submission, course, seed)
        except SubmissionFault as fault:
            per_submission[seed] = fault
    outcome = per_submission[seed]
    if isinstance(outcome, SubmissionFault):
        raise outcome
    return outcome


@pytest.mark.points(2.5)
@pytest.mark.category("accuracy")
def test_accuracy_above_threshold(submission, course, seed, rng):
    """the trained LeNet beats the calibrated accuracy threshold on held-out images"""
    result = _measured(submission, course, seed)
    if result.details.get("model_problem"):
        fail(result.details["model_problem"])
    if result.passed:
        return
    accuracy, threshold = f"{result.grader_accuracy:.1%}", f"{result.threshold:.1%}"
    loop, test_name = _loop_fault(submission, rng)
    if loop:
        fail(N_(f"after train(...), your CifarLeNet's trained weights classified {accuracy} of the grader's "
                f"held-out images correctly; the pass mark is {threshold}. The training loop is why: train "
                f"behaves like {loop} (see the test \"{test_name}\")"))
    fail(N_(f"after train(...), your CifarLeNet's trained weights classified {accuracy} of the grader's "
            f"held-out images correctly; the pass mark is {threshold} (check the training loop: zero_grad, "
            f"forward, loss, backward, step, every batch)"))


def _loop_fault(submission, rng) -> tuple[str, str]:
    """(the loop train behaves like, the name of the test that says so) when the loop
    tests' replay finds a missing call, else ("", ""): the accuracy message points to the
    mistake the student can act on. A message only: the loop tests score it."""
    try:
        _, matches, _ = _loop_run(submission, rng)
    except AssertionError:  # no loop the grader reproduces: the loop tests say so themselves
        return "", ""
    if any(m.zero_grad and m.step and m.train_mode for m in matches):
        return "", ""
    first = matches[0]
    test = next(t for done, t in ((first.zero_grad, test_train_zeroes_grads), (first.step, test_train_calls_step),
                                  (first.train_mode, test_train_mode)) if not done)
    return first.describe(), test.__doc__.strip().splitlines()[0]


@pytest.mark.points(1)
@pytest.mark.category("accuracy")
def test_evaluate_agrees(submission, course, seed):
    """evaluate's accuracy agrees with the grader's own measurement"""
    result = _measured(submission, course, seed)
    if result.student_eval_accuracy is None:
        problem = result.details.get("evaluate_problem", "evaluate gave no usable accuracy")
        fail(f"{problem}; expected a dict with 'loss' and 'accuracy' (a fraction in [0, 1])")
    check(result.evaluate_agrees,
          f"evaluate(...) reported an accuracy of {result.student_eval_accuracy:.1%}; the grader measured "
          f"{result.grader_validation_accuracy:.1%} on the same images and model (allowed gap "
          f"{result.agreement:.1%}); accuracy is correct predictions / number of samples, in eval mode")


# -- device (needs a GPU) ---------------------------------------------------------------------------
@pytest.mark.points(1)
@pytest.mark.category("device")
@pytest.mark.cuda
def test_train_sends_batches_to_device(submission, rng):
    """train moves every batch's inputs and labels to the device it is given (CUDA)"""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this runner")
    # On the GPU a batch left on the CPU makes the forward or the loss raise, and the
    # parameters the grader fetches afterwards must be those of a loop it replays.
    classes, batch_size, lr = 3, 4, 0.1
    inputs, labels = _batches(rng, 12, classes)
    model, init, scales = _scaled_model(submission, rng, classes)
    submission.helper("to_device", model, "cuda")
    loader = submission.helper("tensor_loader", inputs, labels, batch_size)
    submission.call("train", model, loader, submission.helper("cross_entropy"),
                    submission.helper("sgd", model, lr), "cuda", 1)
    params = submission.fetch(submission.helper("parameters_of", model))
    grads = submission.fetch(submission.helper("grads_of", model))
    replays = replay.all_replays(init, scales, replay.fixed_batches(inputs, labels, batch_size), 1, lr)
    check(any(m.step for m in replay.matching(replays, params, grads)),
          "train(..., device='cuda') did not train the model on the GPU as the grader replays it; move each "
          "batch with inputs, labels = inputs.to(device), labels.to(device)")
