"""Advantage estimators: hand-computed values, masking, zero-variance groups, rubric mode."""

from __future__ import annotations

import math

import pytest
import torch

from rl.advantages import (
    compute_advantages,
    expand_groups,
    group_advantages,
    group_stats,
    rubric_advantages,
    select_informative_groups,
)

NAN = float("nan")


def test_grpo_matches_hand_computation():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 5.0])
    adv = group_advantages(r, 4)
    g = torch.tensor([1.0, 0.0, 0.0, 1.0])
    expected0 = (g - g.mean()) / (g.std() + 1e-4)
    g2 = torch.tensor([2.0, 2.0, 2.0, 5.0])
    expected1 = (g2 - g2.mean()) / (g2.std() + 1e-4)
    torch.testing.assert_close(adv.values, torch.cat([expected0, expected1]))
    assert adv.valid.all()
    assert adv.group_zero_var.tolist() == [False, False]


def test_dr_grpo_has_no_std_scaling():
    r = torch.tensor([1.0, 0.0, 3.0, 3.0])
    adv = group_advantages(r, 2, scale_std=False)
    torch.testing.assert_close(adv.values, torch.tensor([0.5, -0.5, 0.0, 0.0]))
    assert adv.group_zero_var.tolist() == [False, True]


def test_unscored_samples_are_masked_and_excluded_from_stats():
    r = torch.tensor([1.0, NAN, 0.0, 1.0])
    adv = group_advantages(r, 4)
    valid = torch.tensor([1.0, 0.0, 1.0])
    expected = (valid - valid.mean()) / (valid.std() + 1e-4)
    assert adv.valid.tolist() == [True, False, True, True]
    assert adv.values[1] == 0
    torch.testing.assert_close(adv.values[[0, 2, 3]], expected)
    assert not torch.isnan(adv.values).any()


def test_all_unscored_group_is_zero_and_flagged():
    r = torch.tensor([NAN, NAN, 1.0, 0.0])
    adv = group_advantages(r, 2)
    assert adv.values[:2].tolist() == [0.0, 0.0]
    assert adv.group_zero_var.tolist() == [True, False]
    mean, std, count = group_stats(r, 2)
    assert count.tolist() == [0, 2] and mean[0] == 0 and std[0] == 0


def test_single_valid_sample_group_has_zero_advantage():
    adv = group_advantages(torch.tensor([NAN, 0.7, NAN]), 3)
    assert adv.values.tolist() == [0.0, 0.0, 0.0]
    assert adv.group_zero_var.tolist() == [True]


def test_group_size_must_divide_batch():
    with pytest.raises(ValueError, match="not a multiple of the group size G=4"):
        group_advantages(torch.zeros(6), 4)


def test_rubric_keeps_resolution_that_the_sum_loses():
    # two binary dimensions, equal weights; group A: one sample improves both dimensions,
    # group B: one sample improves one. Collapsed sums normalise both groups to +-0.71.
    dims = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    w = torch.tensor([1.0, 1.0])
    summed = group_advantages(dims.mean(1), 2).values
    # equal up to the 1e-4 std epsilon
    torch.testing.assert_close(summed[:2], summed[2:], atol=1e-3, rtol=0)
    rub = rubric_advantages(dims, w, 2).values
    s = 0.5 / (1 / math.sqrt(2) + 1e-4)  # one dimension's +-0.5 / its std
    torch.testing.assert_close(rub, torch.tensor([-s, s, -s / 2, s / 2]))
    assert rub[1] > rub[3]


def test_rubric_low_variance_dimension_is_not_drowned():
    # dimension 0 is binary (spread 1); dimension 1 is a judge score moving 0.60 -> 0.64.
    # In the weighted sum sample 1's better judge score hardly moves its advantage; per
    # dimension it counts as much as its weight says.
    dims = torch.tensor([[1.0, 0.60], [0.0, 0.64], [1.0, 0.64], [0.0, 0.60]])
    w = torch.tensor([0.5, 0.5])
    rub = rubric_advantages(dims, w, 4).values
    # samples 0 and 1 each win one dimension: tie under per-dimension normalisation
    # (up to the 1e-4 std epsilon, which weighs more on the 0.023 std of dimension 1)
    torch.testing.assert_close(rub[0], rub[1], atol=5e-3, rtol=0)
    summed = group_advantages((dims * w).sum(1), 4).values
    assert summed[0] - summed[1] > 1.5  # the binary dimension dominates


def test_rubric_weights_and_unscored_dimension():
    dims = torch.tensor([[1.0, NAN], [0.0, 1.0], [0.5, 0.0]])
    w = torch.tensor([3.0, 1.0])
    adv = rubric_advantages(dims, w, 3, scale_std=False)
    d0 = torch.tensor([1.0, 0.0, 0.5]) - 0.5
    d1 = torch.tensor([0.0, 0.5, -0.5])
    # sample 0 has only dimension 0 scored: its weight renormalises to 1
    expected = torch.stack([d0[0], (3 * d0[1] + d1[1]) / 4, (3 * d0[2] + d1[2]) / 4])
    torch.testing.assert_close(adv.values, expected)


def test_rubric_masks_samples_with_none_score():
    dims = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.2, 0.3], [0.4, 0.1]])
    rewards = torch.tensor([1.0, 0.0, NAN, 0.25])
    adv = compute_advantages("rubric", rewards, 2, dims, torch.tensor([1.0, 1.0]))
    assert adv.valid.tolist() == [True, True, False, True]
    assert adv.values[2] == 0 and adv.values[3] == 0  # alone in its group
    assert adv.group_zero_var.tolist() == [False, True]


def test_rubric_needs_dimensions():
    with pytest.raises(ValueError, match="per-dimension"):
        compute_advantages("rubric", torch.zeros(2), 2)
    with pytest.raises(ValueError, match="unknown advantage estimator"):
        compute_advantages("ppo", torch.zeros(2), 2)


def test_dynamic_sampling_selection():
    zero_var = torch.tensor([False, True, False, False])
    all_invalid = torch.tensor([False, False, True, False])
    assert select_informative_groups(zero_var, all_invalid, 5).tolist() == [0, 3]
    assert select_informative_groups(zero_var, all_invalid, 1).tolist() == [0]
    assert expand_groups(torch.tensor([0, 3]), 2).tolist() == [0, 1, 6, 7]


def test_rubric_advantage_does_not_pay_a_globally_gated_answer_for_its_dimensions():
    """A failed `gate: global` zeroes the total, not the dimensions the harness reports; the
    batch the advantage reads must zero them too, or the rubric-aware advantage pays a
    gated answer (here: not JSON, so nothing in it is invented) for its fidelity."""
    from types import SimpleNamespace

    from rewards import Harness, Sample
    from rl.experience import to_batch
    from rl.rollout.base import Generation

    harness = Harness({"dimensions": {"format": {"weight": 1.0}, "fidelity": {"weight": 3.0}},
                       "checks": [
        {"id": "json_ok", "kind": "json_valid", "dimension": "format", "gate": "global"},
        {"id": "no_invented", "kind": "regex", "dimension": "fidelity", "must_match": False,
         "pattern": "INVENTED"}]})
    prompt = Sample(id="p", prompt="Give the record as JSON.")
    pairs = [(prompt, Generation(text='{"note": "INVENTED"}')), (prompt, Generation(text="no"))]
    samples = [Sample(id=f"p#{j}", prompt=prompt.prompt, completion=g.text)
               for j, (_, g) in enumerate(pairs)]
    results = harness.score_batch(samples)
    assert results[1].score == 0 and results[1].dimensions["fidelity"] == 1.0
    batch = to_batch(SimpleNamespace(harness=harness), pairs, samples, results, False)
    assert batch.dims[1].tolist() == [0.0, 0.0] and batch.dims[0].tolist() == [1.0, 0.0]
    adv = compute_advantages("rubric", batch.rewards, 2, batch.dims, torch.tensor([1.0, 3.0]))
    assert adv.values[1] < 0 < adv.values[0]
    # the scalar advantage agrees on the sign
    assert compute_advantages("grpo", batch.rewards, 2).values[1] < 0
