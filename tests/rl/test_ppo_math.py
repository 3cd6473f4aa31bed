"""PPO's maths (rl/advantages.py, rl/losses.py) against hand-computed numbers: per-token
rewards, GAE (masks, padding, NaN scores), whitening (incl. cross-rank sums), the clipped value
loss, explained variance, the adaptive KL controller, running reward moments, entropy."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from rl.advantages import (  # noqa: E402
    Moments,
    adaptive_kl_coef,
    gae,
    masked_sums,
    normalize_scores,
    token_rewards,
    update_moments,
    whiten,
)
from rl.losses import explained_variance, policy_loss, token_logprobs, value_loss  # noqa: E402

NAN = float("nan")


def test_token_rewards_score_on_last_token_minus_kl():
    # row 0: 2 counted tokens, kl (0.1, 0.2), beta 0.5 -> (-0.05, -0.1 + 1.0, pad 0)
    # row 1: unscored -> NaN on its last token; row 2: no tokens -> nothing placed
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]])
    kl = torch.tensor([[0.1, 0.2, 5.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    r = token_rewards(torch.tensor([1.0, NAN, 0.7]), mask, kl, kl_coef=0.5)
    assert r[0].tolist() == pytest.approx([-0.05, 0.9, 0.0])
    assert r[1, :2].tolist() == [0.0, 0.0] and math.isnan(r[1, 2])
    assert r[2].tolist() == [0.0, 0.0, 0.0]


def test_gae_hand_computed():
    """gamma 1, lambda 0.5.
    row 0: r = (0, 0, 1), V = (0.5, 0.4, 0.3)
        d2 = 1 - 0.3 = 0.7               A2 = 0.7
        d1 = 0 + 0.3 - 0.4 = -0.1        A1 = -0.1 + 0.5 * 0.7 = 0.25
        d0 = 0 + 0.4 - 0.5 = -0.1        A0 = -0.1 + 0.5 * 0.25 = 0.025
        R = A + V = (0.525, 0.65, 1.0)
    row 1: 2 tokens, score 0, V = (0.2, 0.1, 9.0 on padding: must not leak back)
        d1 = 0 + 0 - 0.1 = -0.1          A1 = -0.1
        d0 = 0 + 0.1 - 0.2 = -0.1        A0 = -0.1 + 0.5 * -0.1 = -0.15
        R = (0.05, 0.0, 0)
    row 2: unscored (NaN score) -> invalid, all 0.  row 3: no tokens -> invalid, all 0.
    """
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [0, 0, 0]])
    values = torch.tensor([[0.5, 0.4, 0.3], [0.2, 0.1, 9.0], [0.3, 0.3, 0.3], [1.0, 1.0, 1.0]])
    r = token_rewards(torch.tensor([1.0, 0.0, NAN, 1.0]), mask)
    adv, ret, valid = gae(r, values, mask, gamma=1.0, lam=0.5)
    assert valid.tolist() == [True, True, False, False]
    assert adv[0].tolist() == pytest.approx([0.025, 0.25, 0.7])
    assert ret[0].tolist() == pytest.approx([0.525, 0.65, 1.0])
    assert adv[1].tolist() == pytest.approx([-0.15, -0.1, 0.0])
    assert ret[1].tolist() == pytest.approx([0.05, 0.0, 0.0])
    assert adv[2:].abs().sum() == 0 and ret[2:].abs().sum() == 0
    assert not torch.isnan(adv).any() and not torch.isnan(ret).any()


def test_gae_lambda_1_is_discounted_return_minus_value():
    # gamma 0.5, lambda 1: A_t = G_t - V_t with G = (0.25, 0.5, 1) -> (-0.25, 0.1, 0.7)
    mask = torch.ones(1, 3)
    r = token_rewards(torch.tensor([1.0]), mask)
    adv, ret, _ = gae(r, torch.tensor([[0.5, 0.4, 0.3]]), mask, gamma=0.5, lam=1.0)
    assert adv[0].tolist() == pytest.approx([-0.25, 0.1, 0.7])
    assert ret[0].tolist() == pytest.approx([0.25, 0.5, 1.0])


def test_gae_nan_on_padding_does_not_invalidate():
    mask = torch.tensor([[1, 0]])
    r = torch.tensor([[1.0, NAN]])
    adv, _, valid = gae(r, torch.zeros(1, 2), mask)
    assert valid.tolist() == [True] and adv.tolist() == [[1.0, 0.0]]


def test_whiten_masked_unbiased_and_across_ranks():
    # counted values 1, 2, 3, 4: mean 2.5, unbiased var 5/3
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 99.0, 99.0]])
    m = torch.tensor([[1, 1, 1], [1, 0, 0]])
    w = whiten(x, m)
    std = math.sqrt(5 / 3)
    assert w[0].tolist() == pytest.approx([-1.5 / std, -0.5 / std, 0.5 / std], rel=1e-6)
    assert w[1].tolist() == pytest.approx([1.5 / std, 0.0, 0.0], rel=1e-6)
    # two "ranks" holding one row each, statistics from summed masked_sums == one batch
    sums = masked_sums(x[:1], m[:1]) + masked_sums(x[1:], m[1:])
    split = torch.cat([whiten(x[:1], m[:1], sums), whiten(x[1:], m[1:], sums)])
    assert torch.allclose(split, w)
    assert whiten(x, m, shift_mean=False)[0, 0] == pytest.approx(-1.5 / std + 2.5, rel=1e-6)
    one = whiten(torch.tensor([[3.0]]), torch.tensor([[1]]))  # a single entry: centred only
    assert one.tolist() == [[0.0]]


def test_value_loss_clipping_hand_computed():
    """token 0: V 0.5, old 0.1, R 1: unclipped err 0.25, clipped V 0.3 -> err 0.49: the clipped
    branch wins (its gradient is 0: V left the trust region). token 1: V 0.2 inside the range:
    err 0.64 both ways. loss = 0.5 * (0.49 + 0.64) / 2 = 0.2825; dL/dV1 = (0.2 - 1) / 2."""
    v = torch.tensor([[0.5, 0.2, 7.0]], requires_grad=True)
    old = torch.tensor([[0.1, 0.1, 0.0]])
    ret = torch.tensor([[1.0, 1.0, 0.0]])
    mask = torch.tensor([[1, 1, 0]])
    loss, clip_frac = value_loss(v, old, ret, mask, clip=0.2)
    assert float(loss.detach()) == pytest.approx(0.2825)
    assert float(clip_frac) == pytest.approx(0.5)
    loss.backward()
    assert v.grad[0].tolist() == pytest.approx([0.0, -0.4, 0.0])
    plain, _ = value_loss(v.detach(), old, ret, mask, clip=None)
    assert float(plain) == pytest.approx(0.5 * (0.25 + 0.64) / 2)


def test_explained_variance():
    ret = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert explained_variance(ret, ret, mask) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(1, 4), ret, mask) == pytest.approx(1 - 1.0 / 1.0)
    # V = 2 everywhere: residual (-1, 0, 1) has Var(R) -> ev 0
    assert explained_variance(torch.full((1, 4), 2.0), ret, mask) == pytest.approx(0.0)
    assert math.isnan(explained_variance(ret, torch.ones(1, 4), mask))


def test_adaptive_kl_controller():
    # error clipped to +-0.2, scaled by n / horizon = 10 / 100
    assert adaptive_kl_coef(0.1, kl=9.0, target=6.0, horizon=100, n_samples=10) == \
        pytest.approx(0.1 * 1.02)
    assert adaptive_kl_coef(0.1, kl=6.0, target=6.0, horizon=100, n_samples=10) == 0.1
    assert adaptive_kl_coef(0.1, kl=3.0, target=6.0, horizon=100, n_samples=10) == \
        pytest.approx(0.1 * 0.98)
    assert adaptive_kl_coef(0.1, kl=6.6, target=6.0, horizon=100, n_samples=10) == \
        pytest.approx(0.1 * 1.01)
    with pytest.raises(ValueError, match="target > 0"):
        adaptive_kl_coef(0.1, 1.0, 0.0, 100, 1)


def test_running_moments_equal_one_batch():
    data = torch.tensor([0.0, 1.0, 0.5, 0.25, 1.0, 0.0, 0.75])
    m = Moments()
    for chunk in (data[:2], data[2:3], data[3:]):
        m = update_moments(m, masked_sums(chunk, torch.ones_like(chunk)))
    assert m.count == 7
    assert m.mean == pytest.approx(float(data.mean()))
    assert m.var == pytest.approx(float(data.var(unbiased=False)))
    z = normalize_scores(torch.tensor([float(data.mean()), NAN]), m)
    assert z[0] == pytest.approx(0.0, abs=1e-6) and math.isnan(z[1])


def test_entropy_matches_softmax_definition():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 11)
    ids = torch.randint(0, 11, (2, 3))
    logp, ent = token_logprobs(logits, ids, temperature=0.7, with_entropy=True)
    z = logits / 0.7
    want = -(torch.softmax(z, -1) * torch.log_softmax(z, -1)).sum(-1)
    assert torch.allclose(ent, want, atol=1e-5)
    assert torch.allclose(logp, token_logprobs(logits, ids, 0.7))


def test_policy_loss_accepts_per_token_advantages():
    torch.manual_seed(0)
    logp = torch.randn(3, 4)
    old = logp + 0.1 * torch.randn(3, 4)
    mask = torch.ones(3, 4)
    a = torch.tensor([0.5, -1.0, 2.0])
    per_seq = policy_loss(logp, old, a, mask, agg="token_mean")
    per_tok = policy_loss(logp, old, a[:, None].expand(3, 4), mask, agg="token_mean")
    assert torch.allclose(per_seq.loss, per_tok.loss)
    assert torch.allclose(per_seq.clip_frac, per_tok.clip_frac)
