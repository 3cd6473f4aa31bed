"""Policy loss, KL and aggregation: hand-computed values, gradients, clipping, masking."""

from __future__ import annotations

import pytest
import torch

from rl.losses import aggregate, importance_log_ratio, kl_k3, policy_loss, token_logprobs


def _inputs(seed=0, b=4, t=5):
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(b, t, generator=g) * 3).requires_grad_()
    old = logp.detach() + 0.3 * torch.randn(b, t, generator=g)
    ref = logp.detach() + 0.2 * torch.randn(b, t, generator=g)
    adv = torch.randn(b, generator=g)
    mask = torch.ones(b, t)
    mask[0, 3:] = 0
    mask[2, 1:] = 0
    return logp, old, ref, adv, mask


def test_kl_k3_zero_at_equality_and_positive():
    x = torch.randn(3, 4)
    assert kl_k3(x, x).abs().max() == 0
    assert (kl_k3(x, x + torch.randn(3, 4)) >= 0).all()


def test_aggregations():
    v = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    m = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert aggregate(v, m, "seq_mean") == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate(v, m, "token_mean") == pytest.approx(10.0 / 4)
    assert aggregate(v, m, "dr_grpo", max_completion_len=8) == pytest.approx(10.0 / 16)
    with pytest.raises(ValueError, match="max_completion_len"):
        aggregate(v, m, "dr_grpo")
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        aggregate(v, m, "sum")


def test_on_policy_loss_value_and_gradient():
    # ratio == 1: the loss is -A averaged and its gradient is the REINFORCE gradient -A/n_i
    logp, _, _, adv, mask = _inputs()
    out = policy_loss(logp, logp.detach(), adv, mask, agg="seq_mean")
    assert out.loss.item() == pytest.approx(-adv.mean().item(), abs=1e-6)
    out.loss.backward()
    n = mask.sum(1, keepdim=True)
    torch.testing.assert_close(logp.grad, -adv[:, None] * mask / n / 4)
    assert out.clip_frac == 0 and out.ratio_mean == pytest.approx(1.0)


def test_clipping_matches_manual():
    logp, old, _, adv, mask = _inputs(1)
    out = policy_loss(logp, old, adv, mask, eps_low=0.1, eps_high=0.3, agg="token_mean")
    ratio = torch.exp(logp.detach() - old)
    a = adv[:, None]
    manual = -torch.min(ratio * a, ratio.clamp(0.9, 1.3) * a)
    assert out.loss.item() == pytest.approx(((manual * mask).sum() / mask.sum()).item(), abs=1e-6)
    clipped = ((ratio < 0.9) & (a < 0)) | ((ratio > 1.3) & (a > 0))
    assert out.clip_frac.item() == pytest.approx(((clipped * mask).sum() / mask.sum()).item())
    assert 0 < out.clip_frac < 1


def test_kl_term_added_per_token():
    logp, old, ref, adv, mask = _inputs(2)
    no_kl = policy_loss(logp, old, adv, mask, agg="token_mean")
    with_kl = policy_loss(logp, old, adv, mask, agg="token_mean", ref_logp=ref, beta=0.05,
                          kl_is_weight=False)
    kl = kl_k3(logp.detach(), ref)
    expected_kl = (kl * mask).sum() / mask.sum()
    assert with_kl.kl.item() == pytest.approx(expected_kl.item(), abs=1e-6)
    assert (with_kl.loss - no_kl.loss).item() == pytest.approx(0.05 * expected_kl.item(), abs=1e-6)
    assert no_kl.kl == 0
    weighted = policy_loss(logp, old, adv, mask, agg="token_mean", ref_logp=ref, beta=0.05)
    ratio = torch.exp(logp.detach() - old)
    expected_w = (kl * ratio * mask).sum() / mask.sum()
    assert (weighted.loss - no_kl.loss).item() == pytest.approx(0.05 * expected_w.item(), abs=1e-6)
    with pytest.raises(ValueError, match="ref_logp"):
        policy_loss(logp, old, adv, mask, beta=0.1)


def test_sequence_level_ratio_is_one_per_completion():
    logp, old, _, adv, mask = _inputs(3)
    lw = importance_log_ratio(logp.detach(), old, mask, "sequence")
    assert lw.shape == (4, 1)
    expected = ((logp.detach() - old) * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(lw[:, 0], expected)
    out = policy_loss(logp, old, adv, mask, level="sequence", eps_low=3e-4, eps_high=4e-4)
    assert torch.isfinite(out.loss)
    # GSPO's clip range is ~1e-3 wide, so with 0.3-nat noise most sequences clip
    assert out.clip_frac > 0.5


def test_masked_tokens_get_no_gradient():
    logp, old, ref, adv, mask = _inputs(4)
    for agg in ("seq_mean", "token_mean", "dr_grpo"):
        logp.grad = None
        policy_loss(logp, old, adv, mask, agg=agg, max_completion_len=5, ref_logp=ref,
                    beta=0.1).loss.backward()
        assert (logp.grad[mask == 0] == 0).all()
        assert (logp.grad[mask == 1] != 0).all()


def test_token_logprobs_matches_log_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 11, generator=g)
    ids = torch.randint(0, 11, (2, 3), generator=g)
    expected = torch.log_softmax(logits / 0.7, -1).gather(-1, ids[..., None]).squeeze(-1)
    torch.testing.assert_close(token_logprobs(logits, ids, 0.7), expected)


def test_shared_prompt_logprobs_equal_padded_forward():
    """One prompt encoding + a repeated KV cache == the padded per-row forward, with grads."""
    from omegaconf import OmegaConf

    from rl.losses import completion_logprobs, shared_prompt_logprobs
    from sft.model import load_model, setup_trainable

    conf = OmegaConf.load(__import__("pathlib").Path(__file__).parents[2] / "conf/lora/r16.yaml")
    torch.manual_seed(0)
    model = setup_trainable(load_model({"name_or_path": "tiny-random", "dtype": "float32"}), conf)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B = 0 at init would make the LoRA gradients trivially equal
            p.data.normal_(0, 0.05)
    model.eval()
    prompt = torch.randint(5, 1000, (13,))
    comp = torch.randint(5, 1000, (3, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])

    def run(fn):
        model.zero_grad()
        lp = fn()
        (lp * mask).sum().backward()
        return lp.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                             if p.grad is not None}

    full, g_full = run(lambda: completion_logprobs(
        model, prompt.expand(3, -1), torch.ones(3, 13, dtype=torch.long), comp, mask, 0.7))
    shared, g_shared = run(lambda: shared_prompt_logprobs(model, prompt, comp, mask, 0.7))
    torch.testing.assert_close(shared * mask, full * mask, atol=1e-5, rtol=0)
    assert g_full.keys() == g_shared.keys() and len(g_full) > 0
    for name, g in g_full.items():
        torch.testing.assert_close(g_shared[name], g, atol=1e-4, rtol=1e-3, msg=name)
