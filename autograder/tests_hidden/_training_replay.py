"""Grader-side replays of a training loop, the evidence behind 05's loop tests.

The student's `train` runs in the sandbox on a `probes.ModeScaledClassifier` whose
parameters the grader wrote, with plain SGD, cross-entropy and an unshuffled loader whose
batches the grader knows. Afterwards the grader fetches the parameters and gradients and
compares them with its own replays of the loop, run here on a copy of the model: the
correct loop and each loop missing one ingredient (zero_grad, optimizer.step, the switch
to train mode). Which replay the fetched values match says what the student's loop did,
and a loop that did nothing (whatever it wrote into kit objects) matches none.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from autograder import probes
from autograder.localize import N_

# Far enough apart that a loss or a step at one factor never passes for another.
_SCALE_CHOICES = (0.45, 1.0, 1.9, 3.3)


def random_scales(rng: torch.Generator) -> list[float]:
    """ModeScaledClassifier factors [train+grad, train+no_grad, eval+grad, eval+no_grad]:
    a grader-drawn order of well separated values, jittered."""
    order = torch.randperm(len(_SCALE_CHOICES), generator=rng).tolist()
    jitter = 0.9 + 0.2 * torch.rand(1, generator=rng).item()
    return [round(_SCALE_CHOICES[i] * jitter, 4) for i in order]


def random_parameters(in_features: int, classes: int, rng: torch.Generator) -> list[torch.Tensor]:
    return [torch.randn(classes, in_features, generator=rng) * 0.3, torch.randn(classes, generator=rng) * 0.3]


def scaled_logits(params, scale: float, inputs: torch.Tensor) -> torch.Tensor:
    """ModeScaledClassifier's forward at these weights and this factor."""
    return F.linear(inputs.flatten(1), params[0], params[1]) * scale


def fixed_batches(inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> list:
    """The batches probes.tensor_loader(inputs, labels, batch_size) yields (unshuffled)."""
    return [(inputs[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, len(labels), batch_size)]


@dataclass
class Replay:
    zero_grad: bool
    step: bool
    train_mode: bool
    params: list = field(default_factory=list)
    grads: list = field(default_factory=list)
    losses: list = field(default_factory=list)       # mean loss per sample, per epoch
    accuracies: list = field(default_factory=list)   # fraction right, per epoch

    def describe(self) -> str:
        missing = [what for what, done in (("optimizer.zero_grad()", self.zero_grad), ("optimizer.step()", self.step),
                                           ("model.train()", self.train_mode)) if not done]
        if not missing:
            return N_("the correct loop")
        calls = ", ".join(missing)  # code, shown as it is in every language
        return N_(f"a loop without {calls}")


def replay(init, scales, batches, epochs: int, lr: float, *, zero_grad: bool, step: bool,
           train_mode: bool) -> Replay:
    """The loop with these ingredients, on a grader-side copy of the model (a model that
    arrives in eval mode stays there without model.train())."""
    in_features, classes = init[0].shape[1], init[0].shape[0]
    model = probes.load_parameters(probes.mode_scaled_classifier(in_features, classes, scales), init)
    model.train(train_mode)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    result = Replay(zero_grad, step, train_mode)
    for _ in range(epochs):
        total, correct, seen = 0.0, 0, 0
        for inputs, labels in batches:
            if zero_grad:
                optimizer.zero_grad()
            outputs = model(inputs)
            loss = F.cross_entropy(outputs, labels)
            loss.backward()
            if step:
                optimizer.step()
            total += float(loss) * len(labels)
            correct += int((outputs.argmax(1) == labels).sum())
            seen += len(labels)
        result.losses.append(total / seen)
        result.accuracies.append(correct / seen)
    result.params = [p.detach().clone() for p in model.parameters()]
    result.grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    return result


def all_replays(init, scales, batches, epochs: int, lr: float) -> list[Replay]:
    """The correct loop first, then every loop missing some of its ingredients."""
    return [replay(init, scales, batches, epochs, lr, zero_grad=z, step=s, train_mode=t)
            for z, s, t in itertools.product((True, False), repeat=3)]


def _close(got, want) -> bool:
    if not isinstance(got, torch.Tensor) or want is None or tuple(got.shape) != tuple(want.shape):
        return False
    return bool(torch.allclose(got.detach().float(), want, atol=1e-5, rtol=1e-4))


def matching(replays: list[Replay], params, grads) -> list[Replay]:
    """The replays whose parameters (and, for loops that never step, whose gradients: the
    only trace such a loop leaves) equal the fetched ones."""
    if not isinstance(params, (list, tuple)) or not isinstance(grads, (list, tuple)):
        return []
    found = []
    for candidate in replays:
        if len(params) != len(candidate.params) or not all(map(_close, params, candidate.params)):
            continue
        if not candidate.step and (len(grads) != len(candidate.grads) or not all(map(_close, grads, candidate.grads))):
            continue
        found.append(candidate)
    return found
