"""Rollout correction (rl.losses.rollout_correction): TIS and sequence masking against a
hand-computed example, and its effect on the policy loss."""

from __future__ import annotations

import math

import pytest
import torch

from rl.losses import policy_loss, rollout_correction

# two sequences; row 1 has 2 counted tokens. delta = trainer - sampler log-prob per token:
#   row 0: [+1.0, -0.5, 0.0]   row 1: [+0.2, -0.2, (pad)]
PI = torch.tensor([[-1.0, -1.5, -2.0], [-0.8, -1.2, -9.0]])
MU = torch.tensor([[-2.0, -1.0, -2.0], [-1.0, -1.0, -0.1]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_tis_hand_computed():
    c = rollout_correction(PI, MU, MASK, "tis", tis_cap=2.0)
    # exp(1) = 2.718 -> capped at 2; exp(-0.5) = 0.6065; exp(0) = 1; exp(+-0.2) = 1.2214, 0.8187
    want = torch.tensor([[2.0, math.exp(-0.5), 1.0], [math.exp(0.2), math.exp(-0.2), 0.0]])
    torch.testing.assert_close(c.weights, want)
    assert float(c.is_weight_mean) == pytest.approx((2 + 0.60653 + 1 + 1.22140 + 0.81873) / 5,
                                                    rel=1e-4)
    # k3 = exp(d) - d - 1 per token: 0.71828, 0.10653, 0, 0.02140, 0.01873
    assert float(c.mismatch_kl) == pytest.approx((0.71828 + 0.10653 + 0.02140 + 0.01873) / 5,
                                                 rel=1e-4)
    assert float(c.masked_frac) == 0.0


def test_seq_mask_hand_computed():
    # geometric-mean ratios: row 0 exp((1 - 0.5 + 0) / 3) = exp(1/6) = 1.18, row 1 exp(0) = 1
    keep_both = rollout_correction(PI, MU, MASK, "seq_mask", seq_low=0.5, seq_high=2.0)
    torch.testing.assert_close(keep_both.weights, MASK.float())
    drop_row0 = rollout_correction(PI, MU, MASK, "seq_mask", seq_low=0.9, seq_high=1.1)
    torch.testing.assert_close(drop_row0.weights, torch.tensor([[0.0, 0, 0], [1, 1, 0]]))
    assert float(drop_row0.masked_frac) == pytest.approx(3 / 5)
    assert float(drop_row0.is_weight_mean) == pytest.approx(2 / 5)


def test_none_is_identity_and_on_policy_kl_zero():
    c = rollout_correction(PI, PI, MASK, "none")
    torch.testing.assert_close(c.weights, MASK.float())
    assert float(c.mismatch_kl) == 0.0 and float(c.is_weight_mean) == 1.0
    with pytest.raises(ValueError, match="unknown rollout correction"):
        rollout_correction(PI, MU, MASK, "ppo")


def test_weights_scale_the_policy_gradient_term():
    logp = PI.clone().requires_grad_()
    adv = torch.tensor([1.0, -1.0])
    w = rollout_correction(PI, MU, MASK, "tis").weights
    base = policy_loss(logp, logp.detach(), adv, MASK, agg="token_mean")
    ones = policy_loss(logp, logp.detach(), adv, MASK, agg="token_mean",
                       token_weights=torch.ones(2, 3))
    assert base.loss.item() == ones.loss.item()
    weighted = policy_loss(logp, logp.detach(), adv, MASK, agg="token_mean", token_weights=w)
    # on-policy ratio 1: pg_t = -A w_t; token_mean over 5 tokens
    want = -(1.0 * (2 + math.exp(-0.5) + 1) - (math.exp(0.2) + math.exp(-0.2))) / 5
    assert weighted.loss.item() == pytest.approx(want, rel=1e-5)
    (g,) = torch.autograd.grad(weighted.loss, logp)
    # d/dlogp of -A * w * exp(logp - old) at ratio 1 = -A * w / 5 per counted token
    torch.testing.assert_close(g, -adv[:, None] * w / 5)
