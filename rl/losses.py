"""Clipped policy-gradient loss, KL to the reference and loss aggregation (pure functions).

Shapes: B completions, T = padded completion length. ``mask`` [B, T] is 1 on completion
tokens that count (not padding, not an unscored sample). Log-probs are per token of the
sampled completion token, under: the current policy (``logp``, carries the gradient), the
policy that sampled it (``old_logp``, detached) and the reference (``ref_logp``: the base
model with the LoRA adapter disabled).

    ratio_t   = exp(logp_t - old_logp_t)                         token level (GRPO, DAPO)
    ratio_i   = exp(mean_t (logp_t - old_logp_t))                sequence level (GSPO)
    pg_t      = -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A)
    kl_t      = exp(ref - logp) - (ref - logp) - 1               Schulman's k3: unbiased,
                                                                 always >= 0
    loss_t    = pg_t + beta * ratio * kl_t                       (kl_is_weight=True, default)
    loss_t    = pg_t + beta * kl_t                               (kl_is_weight=False)

The ratio weight on the KL term (DeepSeek-V3.2; TRL 1.16 `use_bias_correction_kl=True`, its
default) makes the KL gradient the unbiased reverse-KL gradient when tokens came from the old
policy; its value is 1 on-policy but its gradient is not, so both modes are kept and tested.

PPO's critic (values V [B, T] from the value head, old_V from before the update, returns R):
    vf_t      = 0.5 * max((V - R)^2, (old_V + clip(V - old_V, -c, c) - R)^2)   clipped value
                loss (PPO2 / OpenAI baselines; TRL's old PPOTrainer), token mean
    ev        = 1 - Var(R - V) / Var(R)            explained variance (1 = perfect critic)
PPO's advantages are per token: ``policy_loss`` takes them as [B, T] as well as [B].

Aggregation (``agg``), same names TRL 1.16 uses in brackets:
    seq_mean    mean over sequences of (sum_t loss_t / n_tokens_i)     [grpo]  long answers
                                                                   get less weight per token
    token_mean  sum loss_t / sum mask over the batch                [dapo, bnpo]
    dr_grpo     sum loss_t / (B * max_completion_len)               [dr_grpo] a constant
                                                                   denominator: no length bias

Rollout correction (``rollout_correction``): the sampler (vLLM: other kernels, bf16, or a
policy one version behind under ``rollout.async``) is not exactly the policy being trained.
With ``pi`` the trainer's log-prob of the sampled token (detached) and ``mu`` the sampler's:
    delta_t   = pi_t - mu_t
    tis       w_t = min(exp(delta_t), C)                        token-level truncated IS
                                                                (Yao et al. 2025; verl/TRL
                                                                default C = 2)
    seq_mask  w_t = 1[lo <= exp(mean_t delta_t) <= hi]          the whole sequence dropped
                                                                when its geometric-mean ratio
                                                                leaves [lo, hi] (verl
                                                                rollout_rs=geometric)
    loss_t    = w_t * pg_t + beta * kl_t                        (w detached; KL unweighted)
    mismatch_kl = masked mean of k3 = exp(delta) - delta - 1 >= 0: KL(mu || pi) estimated
                  from the sampler's own tokens
A masked sequence keeps its place in the loss normaliser (its rows weigh 0), so masking never
changes how micro-batches or ranks split the normaliser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AGGREGATIONS = ("seq_mean", "token_mean", "dr_grpo")
CORRECTIONS = ("none", "tis", "seq_mask")


@dataclass
class LossOut:
    loss: torch.Tensor  # [] scalar with grad
    pg: torch.Tensor  # [] policy-gradient part, aggregated like the loss (detached)
    kl: torch.Tensor  # [] masked token mean of k3 KL (detached); 0 when beta == 0
    clip_frac: torch.Tensor  # [] fraction of counted tokens where the clipped branch won
    clip_low_frac: torch.Tensor  # [] ... of those, ratio < 1 - eps_low with A < 0
    clip_high_frac: torch.Tensor  # [] ... ratio > 1 + eps_high with A > 0
    ratio_mean: torch.Tensor  # [] masked mean importance ratio


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref) from samples of pi.

    Args:
        logp, ref_logp: [B, T] log-probs of the sampled tokens.
    Returns:
        [B, T] exp(ref - logp) - (ref - logp) - 1, >= 0, with gradient through logp.
    """
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def importance_log_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor,
                         level: str = "token") -> torch.Tensor:
    """Log importance weights.

    Args:
        logp, old_logp: [B, T]; mask: [B, T] (0/1).
        level: "token" -> [B, T] per-token log ratio; "sequence" -> [B, 1] length-normalised
            sequence log ratio (GSPO: one ratio per completion, clipped as a whole).
    """
    log_ratio = logp - old_logp
    if level == "token":
        return log_ratio
    if level == "sequence":
        m = mask.to(log_ratio.dtype)
        return ((log_ratio * m).sum(-1) / m.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    raise ValueError(f"unknown importance-sampling level {level!r}; valid: token, sequence")


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, agg: str,
              max_completion_len: int | None = None) -> torch.Tensor:
    """Reduce [B, T] per-token values to a scalar (see module docstring for the three modes).

    Args:
        per_token: [B, T]; mask: [B, T] (0/1).
        max_completion_len: the sampling cap, required for "dr_grpo".
    """
    m = mask.to(per_token.dtype)
    if agg == "seq_mean":
        return ((per_token * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    if agg == "token_mean":
        return (per_token * m).sum() / m.sum().clamp(min=1.0)
    if agg == "dr_grpo":
        if not max_completion_len:
            raise ValueError("loss aggregation 'dr_grpo' needs max_completion_len")
        return (per_token * m).sum() / (per_token.shape[0] * max_completion_len)
    raise ValueError(f"unknown loss aggregation {agg!r}; valid: {', '.join(AGGREGATIONS)}")


def _masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (x * m).sum() / m.sum().clamp(min=1.0)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, *, eps_low: float = 0.2, eps_high: float = 0.2,
                level: str = "token", agg: str = "seq_mean",
                max_completion_len: int | None = None, ref_logp: torch.Tensor | None = None,
                beta: float = 0.0, kl_is_weight: bool = True,
                token_weights: torch.Tensor | None = None) -> LossOut:
    """Clipped surrogate + beta * k3 KL, aggregated.

    Args:
        logp: [B, T] current policy log-probs (with grad).
        old_logp: [B, T] sampling-policy log-probs (no grad). With one optimizer step per
            rollout batch they equal logp.detach() and the ratio is exactly 1 (its gradient
            is still the policy gradient).
        advantages: [B] (one per completion, GRPO) or [B, T] (per token, PPO's GAE).
        mask: [B, T] 0/1.
        eps_low, eps_high: clip range [1 - eps_low, 1 + eps_high] (DAPO clip-higher: 0.2/0.28).
        level: "token" | "sequence" (GSPO).
        agg: "seq_mean" | "token_mean" | "dr_grpo".
        ref_logp: [B, T] reference log-probs; required when beta > 0, ignored when beta == 0.
        kl_is_weight: multiply the per-token KL by the (differentiable) importance ratio.
        token_weights: [B, T] detached rollout-correction weights on the policy-gradient term
            (`rollout_correction`); None = all 1 (the exact pre-correction arithmetic).
    Returns:
        LossOut (loss has grad; diagnostics are detached scalars).
    """
    m = mask.to(logp.dtype)
    log_w = importance_log_ratio(logp, old_logp.detach(), mask, level)
    ratio = torch.exp(log_w)  # [B, T] or [B, 1]
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    a = advantages.to(logp.dtype)
    a = a[:, None] if a.ndim == 1 else a
    unclipped_obj, clipped_obj = ratio * a, clipped * a
    pg_tok = -torch.min(unclipped_obj, clipped_obj)  # [B, T] or [B, 1]
    pg_tok = pg_tok.expand_as(logp)
    if token_weights is not None:
        pg_tok = pg_tok * token_weights.detach().to(logp.dtype)
    per_token = pg_tok
    kl_mean = torch.zeros((), dtype=logp.dtype)
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs reference log-probs (ref_logp)")
        kl = kl_k3(logp, ref_logp.detach())
        kl_mean = _masked_mean(kl.detach(), m)
        if kl_is_weight:
            kl = kl * ratio
        per_token = per_token + beta * kl
    loss = aggregate(per_token, mask, agg, max_completion_len)
    with torch.no_grad():
        r = ratio.expand_as(logp)
        low = (r < 1 - eps_low) & (a < 0)
        high = (r > 1 + eps_high) & (a > 0)
        out = LossOut(
            loss=loss,
            pg=aggregate(pg_tok.detach(), mask, agg, max_completion_len),
            kl=kl_mean,
            clip_frac=_masked_mean((low | high).to(m.dtype), m),
            clip_low_frac=_masked_mean(low.to(m.dtype), m),
            clip_high_frac=_masked_mean(high.to(m.dtype), m),
            ratio_mean=_masked_mean(r, m),
        )
    return out


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               mask: torch.Tensor, clip: float | None = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss, token mean over `mask`.

    Args:
        values: [B, T] current critic values (with grad).
        old_values: [B, T] values when the batch was rolled out (no grad).
        returns: [B, T] GAE returns (no grad).
        mask: [B, T] 0/1.
        clip: c, how far V may move from old_V before its loss stops improving; None = plain
            0.5 * (V - R)^2.
    Returns:
        (loss [] with grad, clip_frac [] detached: share of tokens where the clipped branch won).
    """
    m = mask.to(values.dtype)
    err = (values - returns.detach()) ** 2
    if clip is None:
        return 0.5 * _masked_mean(err, m), torch.zeros((), dtype=values.dtype)
    old = old_values.detach()
    clipped = old + torch.clamp(values - old, -clip, clip)
    err_c = (clipped - returns.detach()) ** 2
    loss = 0.5 * _masked_mean(torch.max(err, err_c), m)
    return loss, _masked_mean((err_c > err).to(m.dtype), m).detach()


def explained_variance(values: torch.Tensor, returns: torch.Tensor,
                       mask: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over the counted tokens ([B, T] each); NaN when Var(R) = 0."""
    m = mask.bool()
    r, v = returns[m].double(), values[m].double()
    if r.numel() < 2 or float(r.var()) == 0.0:
        return float("nan")
    return float(1.0 - (r - v).var() / r.var())


@dataclass
class Correction:
    weights: torch.Tensor  # [B, T] detached weights on pg_t (1 where mode == "none")
    mismatch_kl: torch.Tensor  # [] masked token mean of k3 KL(sampler || trainer)
    is_weight_mean: torch.Tensor  # [] masked token mean of the weights
    masked_frac: torch.Tensor  # [] share of counted tokens whose weight is 0 (seq_mask)


def rollout_correction(logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor,
                       mode: str = "none", tis_cap: float = 2.0, seq_low: float = 0.9,
                       seq_high: float = 1.1) -> Correction:
    """Importance weights correcting for the sampler not being the trained policy.

    Args:
        logp: [B, T] the trainer's log-probs of the sampled tokens (detached here).
        sampler_logp: [B, T] the rollout engine's log-probs of the same tokens.
        mask: [B, T] 0/1 counted tokens.
        mode: "none" (weights 1, metrics only) | "tis" | "seq_mask" (module docstring).
        tis_cap: C, the truncation of token weights (tis).
        seq_low, seq_high: bounds on the per-sequence geometric-mean ratio (seq_mask).
    Returns:
        Correction; every tensor detached.
    """
    if mode not in CORRECTIONS:
        raise ValueError(f"unknown rollout correction {mode!r}; valid: {', '.join(CORRECTIONS)}")
    m = mask.to(torch.float32)
    delta = (logp.detach().float() - sampler_logp.float()) * m  # 0 on padding
    if mode == "tis":
        w = torch.exp(delta).clamp(max=tis_cap)
    elif mode == "seq_mask":
        geo = torch.exp(delta.sum(-1) / m.sum(-1).clamp(min=1.0))  # [B]
        keep = (geo >= seq_low) & (geo <= seq_high)
        w = keep.to(torch.float32)[:, None].expand_as(delta)
    else:
        w = torch.ones_like(delta)
    kl = kl_k3(sampler_logp.float() * m, logp.detach().float() * m)  # samples are mu's
    return Correction(weights=w * m, mismatch_kl=_masked_mean(kl, m),
                      is_weight_mean=_masked_mean(w, m),
                      masked_frac=_masked_mean((w == 0).to(torch.float32), m))


def token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor,
                   temperature: float = 1.0, with_entropy: bool = False):
    """Log-prob of each target token (with_entropy: and the [B, T] entropy of each position's
    tempered distribution, with gradient; PPO's entropy bonus).

    Args:
        logits: [B, T, V] logits that predict token_ids (already shifted).
        token_ids: [B, T] long.
        temperature: sampling temperature; logits are divided by it as the sampler did, so
            the ratio compares like with like (TRL does the same).
    Returns:
        [B, T] float32 log-probs. Computed row by row via logsumexp to avoid materialising a
        second [B, T, V] log-softmax tensor (V = 49k for SmolLM2: 200 MB at B*T = 1024).
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    out, ent = [], []
    for row_logits, row_ids in zip(logits, token_ids, strict=True):
        picked = row_logits.gather(-1, row_ids[:, None]).squeeze(-1)
        lse = torch.logsumexp(row_logits, -1)
        out.append(picked - lse)
        if with_entropy:  # H = logsumexp(z) - sum_v softmax(z)_v z_v, one [T, V] temporary
            ent.append(lse - (torch.softmax(row_logits, -1) * row_logits).sum(-1))
    if with_entropy:
        return torch.stack(out), torch.stack(ent)
    return torch.stack(out)


def completion_logprobs(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                        completion_ids: torch.Tensor, completion_mask: torch.Tensor,
                        temperature: float = 1.0, micro_batch: int | None = None,
                        with_entropy: bool = False):
    """Per-token log-probs of completions under `model` (one forward over prompt+completion).

    Args:
        prompt_ids, prompt_mask: [B, P] left-padded prompts.
        completion_ids, completion_mask: [B, T] right-padded completions.
        micro_batch: rows per forward (bounds activation memory); None = all at once.
    Returns:
        [B, T] float32; positions where completion_mask == 0 hold garbage, mask them.
    Position ids follow the attention mask (cumsum - 1), as HF `generate` assigns them, so a
    left-padded prompt scores the same as it sampled; only the last T + 1 logits are kept
    (`logits_to_keep`), so a long prompt costs no [P, V] logits.
    """
    ids = torch.cat([prompt_ids, completion_ids], 1)
    attn = torch.cat([prompt_mask, completion_mask], 1)
    pos = (attn.long().cumsum(1) - 1).clamp(min=0)
    t = completion_ids.shape[1]
    step = micro_batch or ids.shape[0]
    out = []
    for s in range(0, ids.shape[0], step):
        logits = model(input_ids=ids[s:s + step], attention_mask=attn[s:s + step],
                       position_ids=pos[s:s + step], logits_to_keep=t + 1).logits
        out.append(token_logprobs(logits[:, :-1], completion_ids[s:s + step], temperature,
                                  with_entropy))
    if with_entropy:
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])
    return torch.cat(out)


def shared_prompt_logprobs(model, prompt_ids: torch.Tensor, completion_ids: torch.Tensor,
                           completion_mask: torch.Tensor,
                           temperature: float = 1.0, with_entropy: bool = False):
    """Per-token log-probs of g completions of ONE prompt, the prompt encoded once.

    Args:
        prompt_ids: [P] the prompt's token ids (unpadded).
        completion_ids, completion_mask: [g, T] right-padded completions of that prompt.
    Returns:
        [g, T] float32, equal to `completion_logprobs` on the same rows (values and gradients:
        the prompt's KV cache keeps its graph, so LoRA weights still get the prompt's share).
    Why: a GRPO group is G completions of one prompt. The padded forward encodes the prompt G
    times; here it is encoded once and its KV cache repeated G times. With ~260-token prompts
    and <= 8-token answers (support_classification) that is ~270 instead of 4 x 268 token
    positions per group at G = 4: ~3.5x fewer FLOPs in the training forward and backward.
    """
    g, t = completion_ids.shape
    p = prompt_ids.shape[0]
    out = model(input_ids=prompt_ids[None], use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(g)
    attn = torch.cat([torch.ones(g, p, dtype=completion_mask.dtype), completion_mask], 1)
    pos = torch.arange(p, p + t).expand(g, t)
    logits = model(input_ids=completion_ids, attention_mask=attn, position_ids=pos,
                   past_key_values=cache, use_cache=True, logits_to_keep=t).logits
    # the prompt's last position predicts completion token 0; completion position k predicts k+1
    full = torch.cat([out.logits[:, -1:].expand(g, 1, -1), logits[:, :-1]], 1)
    return token_logprobs(full, completion_ids, temperature, with_entropy)
