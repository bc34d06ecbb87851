"""Correct solutions written differently from the reference get full marks.

Each alternative (tests/support/submissions/alternatives.py) rewrites several exercises in a style
a student could choose: nn.Sequential LeNets built by functions, x.view/nn.Flatten/
torch.flatten, nn.ReLU modules, an iter/next training loop with zero_grad(set_to_none=True)
after the forward pass, torch.inference_mode, per-class accuracy with bincount,
np.asarray / numpy(force=False) / torch.as_tensor, torch.autograd.grad instead of backward.
The tests check behaviour, so none of these may lose a point. The one that rewrites the
training loop is graded with the real accuracy check (it trains a LeNet).
"""
from __future__ import annotations


import pytest


from submissions import sources
from submissions.alternatives import ALTERNATIVES

# Alternatives that change what the accuracy check runs (train, evaluate, CifarLeNet).
REAL_ACCURACY = {"training_loop_variant"}


def test_enough_alternatives():
    assert len(ALTERNATIVES) >= 6
    assert len({a.assignment for a in ALTERNATIVES.values()}) == 6


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_alternative_gets_full_marks(name, monkeypatch):
    from autograder.grading import grade_source
    alternative = ALTERNATIVES[name]
    if alternative.assignment == "05_training" and name not in REAL_ACCURACY:
        monkeypatch.setattr("autograder.accuracy.measure_accuracy", sources.stand_in_accuracy)
    result = grade_source(alternative.assignment, sources.variant_source(alternative), backend="inprocess")
    lost = [f"{t.id} [{t.status}] {t.message[:200]}" for t in sources.points_lost(result)]
    assert result.tests and not lost, f"{name} ({alternative.what}) lost points: {lost}"
