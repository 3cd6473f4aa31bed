"""Advantage estimators (pure functions, CPU-tested): group-relative ones for GRPO, and
per-token rewards, GAE, whitening and the adaptive KL controller for PPO (second table below).

Every function takes a flat reward tensor laid out group-major: the G completions of prompt p
occupy rows ``[p*G, (p+1)*G)``, which is how the rollout engine returns them and how TRL
orders them. A reward of NaN means "the harness could not score this sample" (its
``HarnessResult.score`` is None): it is excluded from its group's statistics and gets
advantage 0 and ``valid=False`` so the loss masks it (never a fake reward of 0).

Estimators:
    grpo      (r - mean_g) / (std_g + eps)          DeepSeekMath GRPO; std is unbiased (Bessel),
                                                    eps = 1e-4, both as TRL 1.16 does
    dr_grpo   r - mean_g                            Dr.GRPO (Liu et al. 2025): no std scaling,
                                                    so near-deterministic prompts are not
                                                    blown up to unit-variance advantages
    rubric    sum_d w_d * norm_g(s_d) / sum_d w_d   normalise each rubric dimension within the
                                                    group first, then combine by the rubric's
                                                    dimension weights (GDPO-style decoupling)

Why "rubric": with one collapsed number, a group {(0,0), (1,1)} and a group {(0,0), (1,0)}
(two binary dimensions) both normalise to (-0.71, +0.71); the completion that improved two
dimensions gets the same push as the one that improved one. Normalising per dimension and
taking the weighted mean gives (-0.71, +0.71) vs (-0.35, +0.35). It also stops a high-variance dimension (a binary gate,
spread 1.0) from drowning a low-variance one (a judge score moving 0.60 -> 0.65) in the sum.

PPO (per token; B completions, T = padded completion length, ``mask`` [B, T] right-padded):
    r_t       = -kl_coef * (old_logp_t - ref_logp_t) + [t = last] * score   Ziegler et al. 2019
                                                    (k1 per-token KL penalty, harness score at
                                                    the last completion token)
    delta_t   = r_t + gamma * V_{t+1} - V_t         V past the last token = 0 (episode ends)
    A_t       = delta_t + gamma * lam * A_{t+1}     GAE (Schulman et al. 2016)
    R_t       = A_t + V_t                           the value target (returns)
    whiten(A) = (A - mean) / sqrt(var + 1e-8)       over every counted token of the batch
    kl_coef  <- kl_coef * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon)
                                                    Ziegler's adaptive controller; KL is the
                                                    batch mean of the per-sequence sum of k1,
                                                    n the samples in the batch
A NaN score (unscored sample) makes its whole row invalid: advantages and returns 0, and the
caller drops the row from whitening and both losses (never a reward of 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# TRL 1.16 and the DeepSeekMath reference implementation both use 1e-4; a group whose std is
# below it is near-constant and its advantages are capped at |r - mean| * 1e4.
STD_EPS = 1e-4


@dataclass
class Advantages:
    """Output of an estimator; all tensors are [B] with B = n_groups * G."""

    values: torch.Tensor  # [B] float: 0 where invalid
    valid: torch.Tensor  # [B] bool: reward was scored (not None/NaN)
    group_zero_var: torch.Tensor  # [B // G] bool: every valid reward in the group is equal


def _check_groups(x: torch.Tensor, group_size: int) -> int:
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if x.shape[0] % group_size:
        raise ValueError(
            f"batch of {x.shape[0]} completions is not a multiple of the group size "
            f"G={group_size}; each prompt needs exactly G completions")
    return x.shape[0] // group_size


def group_stats(rewards: torch.Tensor, group_size: int) -> tuple[torch.Tensor, ...]:
    """NaN-aware per-group mean, unbiased std and count.

    Args:
        rewards: [B] float, NaN = unscored.
        group_size: G, B % G == 0.
    Returns:
        mean, std, count: each [B // G]; std is 0 for groups with < 2 valid samples and
        mean is 0 for groups with none.
    """
    n_groups = _check_groups(rewards, group_size)
    r = rewards.reshape(n_groups, group_size)
    valid = ~torch.isnan(r)
    count = valid.sum(1)
    r0 = torch.where(valid, r, torch.zeros_like(r))
    mean = r0.sum(1) / count.clamp(min=1)
    sq = torch.where(valid, (r - mean[:, None]) ** 2, torch.zeros_like(r))
    # Bessel's correction (n-1) to match torch.std and TRL; a single valid sample has no spread
    var = sq.sum(1) / (count - 1).clamp(min=1)
    std = torch.where(count > 1, var.sqrt(), torch.zeros_like(var))
    return mean, std, count


def group_advantages(rewards: torch.Tensor, group_size: int, scale_std: bool = True,
                     eps: float = STD_EPS) -> Advantages:
    """GRPO (scale_std=True) or Dr.GRPO (scale_std=False) advantages.

    Args:
        rewards: [B] float, group-major, NaN = unscored sample.
        group_size: G.
        scale_std: divide by the group std + eps (GRPO) or not (Dr.GRPO).
    Returns:
        Advantages with values [B], valid [B], group_zero_var [B // G].
    """
    mean, std, count = group_stats(rewards, group_size)
    n_groups = mean.shape[0]
    r = rewards.reshape(n_groups, group_size)
    valid = ~torch.isnan(r)
    adv = r - mean[:, None]
    if scale_std:
        adv = adv / (std[:, None] + eps)
    adv = torch.where(valid, adv, torch.zeros_like(adv))
    zero_var = _zero_variance(r, valid)
    return Advantages(adv.reshape(-1), valid.reshape(-1), zero_var)


def _zero_variance(r: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """[n, G] rewards -> [n] bool: fewer than two distinct valid values (no learning signal)."""
    big = torch.finfo(r.dtype).max
    hi = torch.where(valid, r, torch.full_like(r, -big)).amax(1)
    lo = torch.where(valid, r, torch.full_like(r, big)).amin(1)
    # exact equality on purpose: harness scores are sums of a few weights, and a group of
    # 0.5000001 vs 0.5 still has a (tiny) direction; TRL counts std == 0 the same way
    return (valid.sum(1) < 2) | (hi == lo)


def rubric_advantages(dim_scores: torch.Tensor, weights: torch.Tensor, group_size: int,
                      scale_std: bool = True, eps: float = STD_EPS,
                      sample_valid: torch.Tensor | None = None,
                      batch_norm: bool = False) -> Advantages:
    """Per-dimension group normalisation, then a weighted combination.

    Args:
        dim_scores: [B, D] float in [0, 1], NaN = dimension not scored for that sample.
        weights: [D] non-negative rubric dimension weights (need not sum to 1).
        group_size: G.
        scale_std: divide each dimension by its group std + eps (False = Dr.GRPO-style).
        sample_valid: [B] bool, False where the harness score is None (coverage floor missed);
            such samples get 0 and are excluded from every dimension's statistics.
        batch_norm: whiten the combined advantages over the batch's valid samples (GDPO's
            final step; keeps their scale fixed as dimensions are added). With weights summing
            to 1 this equals TRL 1.16 ``multi_objective_aggregation="normalize_then_sum"``.
    Returns:
        Advantages; values[i] = sum_d w_d a_{i,d} / sum_{d scored for i} w_d, where a_{i,d} is
        dimension d's group-normalised score. A group is zero-variance when every dimension is.
    """
    if dim_scores.ndim != 2 or weights.shape != (dim_scores.shape[1],):
        raise ValueError(f"dim_scores must be [B, D] and weights [D]; got "
                         f"{tuple(dim_scores.shape)} and {tuple(weights.shape)}")
    n_groups = _check_groups(dim_scores, group_size)
    s = dim_scores.clone()
    if sample_valid is not None:
        s[~sample_valid] = float("nan")
    per_dim = [group_advantages(s[:, d], group_size, scale_std, eps) for d in range(s.shape[1])]
    a = torch.stack([p.values for p in per_dim], 1)  # [B, D]
    scored = torch.stack([p.valid for p in per_dim], 1)  # [B, D]
    w = weights.to(a.dtype)[None, :] * scored
    denom = w.sum(1)
    values = torch.where(denom > 0, (a * w).sum(1) / denom.clamp(min=1e-12),
                         torch.zeros_like(denom))
    valid = scored.any(1)
    if batch_norm and valid.sum() > 1:
        v = values[valid]
        values = torch.where(valid, (values - v.mean()) / (v.std() + eps), torch.zeros_like(values))
    zero_var = torch.stack([p.group_zero_var for p in per_dim], 1).all(1)
    assert zero_var.shape == (n_groups,)
    return Advantages(values, valid, zero_var)


def compute_advantages(estimator: str, rewards: torch.Tensor, group_size: int,
                       dim_scores: torch.Tensor | None = None,
                       dim_weights: torch.Tensor | None = None,
                       scale_std: bool = True, batch_norm: bool = False) -> Advantages:
    """Dispatch by name: "grpo" | "dr_grpo" | "rubric" (see module docstring).

    Args:
        rewards: [B], NaN = unscored. dim_scores: [B, D] and dim_weights: [D] for "rubric".
        scale_std, batch_norm: only for "rubric" (grpo always scales, dr_grpo never does).
    """
    if estimator == "grpo":
        return group_advantages(rewards, group_size, scale_std=True)
    if estimator == "dr_grpo":
        return group_advantages(rewards, group_size, scale_std=False)
    if estimator == "rubric":
        if dim_scores is None or dim_weights is None:
            raise ValueError("advantage estimator 'rubric' needs per-dimension scores and weights")
        return rubric_advantages(dim_scores, dim_weights, group_size, scale_std,
                                 sample_valid=~torch.isnan(rewards), batch_norm=batch_norm)
    raise ValueError(f"unknown advantage estimator {estimator!r}; valid: grpo, dr_grpo, rubric")


def select_informative_groups(group_zero_var: torch.Tensor, group_all_invalid: torch.Tensor,
                              n_wanted: int) -> torch.Tensor:
    """DAPO dynamic sampling: indices of the first `n_wanted` groups worth training on.

    Args:
        group_zero_var: [n] bool, from Advantages.group_zero_var.
        group_all_invalid: [n] bool, every sample of the group unscored.
        n_wanted: how many groups the step needs.
    Returns:
        [k] long, k <= n_wanted, the kept group indices in order. The caller resamples more
        prompts while k < n_wanted, up to its resample limit, then trains on what it has.
    """
    keep = ~(group_zero_var | group_all_invalid)
    return keep.nonzero().flatten()[:n_wanted]


def expand_groups(group_idx: torch.Tensor, group_size: int) -> torch.Tensor:
    """[k] group indices -> [k * G] sample row indices (group-major)."""
    return (group_idx[:, None] * group_size + torch.arange(group_size)[None, :]).reshape(-1)


# ------------------------------------------------------------------------------------ PPO
def token_rewards(scores: torch.Tensor, mask: torch.Tensor, kl: torch.Tensor | None = None,
                  kl_coef: float = 0.0) -> torch.Tensor:
    """Per-token rewards: the score at each row's last counted token, minus the KL penalty.

    Args:
        scores: [B] harness scores, NaN = unscored (the NaN lands on the last token, so `gae`
            marks the row invalid).
        mask: [B, T] 0/1, right-padded (counted tokens first).
        kl: [B, T] per-token KL estimate (k1 = old_logp - ref_logp), or None.
        kl_coef: beta; the penalty is -beta * kl on every counted token.
    Returns:
        [B, T] float; 0 on padding. A row without counted tokens gets no score.
    """
    m = mask.to(torch.float32)
    r = torch.zeros_like(m)
    if kl is not None and kl_coef != 0.0:
        r = r - kl_coef * kl.to(m.dtype) * m
    last = m.sum(1).long() - 1  # [B]
    rows = (last >= 0).nonzero().flatten()
    r[rows, last[rows]] += scores.to(m.dtype)[rows]
    return r


def blame_tokens(rewards: torch.Tensor, mask: torch.Tensor,
                 blame: list[list[tuple[list[int], float]]]) -> torch.Tensor:
    """Dense rewards: move each localised failure's cost from the last token onto the tokens
    that caused it. The row's return (sum over t) is unchanged, only where it arrives moves.

    Args:
        rewards: [B, T] from token_rewards (the score on each row's last counted token).
        mask: [B, T] 0/1, right-padded.
        blame: per row, (token indices, cost) pairs: cost >= 0 is what the score would gain if
            that check passed; its tokens share -cost equally, the last token gets +cost.
    Returns:
        [B, T] float, a new tensor.

        r'_last = r_last + sum_c cost_c        r'_t = r_t - sum_{c: t in tokens_c} cost_c / |tokens_c|
    """
    out = rewards.clone()
    last = mask.to(torch.float32).sum(1).long() - 1
    for row, pairs in enumerate(blame):
        if last[row] < 0 or not torch.isfinite(out[row, last[row]]):
            continue  # no counted tokens, or an unscored row: nothing to place
        for tokens, cost in pairs:
            tokens = [t for t in tokens if 0 <= t <= int(last[row])]
            if not tokens or cost <= 0:
                continue
            out[row, last[row]] += cost
            out[row, tokens] -= cost / len(tokens)
    return out


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over right-padded completions.

    Args:
        rewards: [B, T] per-token rewards (`token_rewards`); NaN on a counted token = the row
            is unscored.
        values: [B, T] critic values V_t of the state before token t (no grad).
        mask: [B, T] 0/1, right-padded: the last counted token ends the episode, so the value
            after it is 0 and nothing beyond it leaks back.
        gamma, lam: discount and GAE lambda.
    Returns:
        advantages [B, T], returns [B, T] (= advantages + values), valid [B] bool; all 0 on
        padding and on invalid rows (NaN reward, or no counted token).
    """
    m = mask.to(torch.float32)
    valid = ~(torch.isnan(rewards) & m.bool()).any(1) & m.bool().any(1)
    keep = m * valid[:, None]
    r = torch.where(keep.bool(), rewards.float(), torch.zeros_like(m))
    v = values.float() * keep
    adv = torch.zeros_like(m)
    last = torch.zeros_like(m[:, 0])
    t_len = m.shape[1]
    for t in reversed(range(t_len)):
        next_v = v[:, t + 1] if t + 1 < t_len else torch.zeros_like(last)
        delta = r[:, t] + gamma * next_v - v[:, t]
        # keep[:, t] = 0 on padding resets the recursion, so the last counted token starts it
        last = (delta + gamma * lam * last) * keep[:, t]
        adv[:, t] = last
    return adv, (adv + v) * keep, valid


def masked_sums(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[3] = (sum, sum of squares, count) of x over mask; all-reduce these across ranks and
    pass them to `whiten` for batch-global statistics."""
    m = mask.to(torch.float64)
    xd = x.to(torch.float64) * m
    return torch.stack([xd.sum(), (xd * xd).sum(), m.sum()])


def whiten(x: torch.Tensor, mask: torch.Tensor, sums: torch.Tensor | None = None,
           shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over the counted entries; 0 where mask is 0.

    Args:
        x, mask: [B, T] (or any matching shapes).
        sums: [3] from `masked_sums` (summed over ranks); None = this x alone.
        shift_mean: False keeps the mean (scale only).
    Returns:
        same shape as x. The variance is unbiased (n - 1), as TRL's `masked_whiten`; with
        fewer than 2 counted entries x is only centred.
    """
    s = masked_sums(x, mask) if sums is None else sums.to(torch.float64)
    n = s[2].clamp(min=1.0)
    mean = s[0] / n
    var = (s[1] - n * mean * mean).clamp(min=0.0) / (n - 1).clamp(min=1.0)
    out = x.to(torch.float64) - mean
    if s[2] >= 2:
        out = out / torch.sqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return (out * mask.to(torch.float64)).to(x.dtype)


def adaptive_kl_coef(coef: float, kl: float, target: float, horizon: float,
                     n_samples: int) -> float:
    """Ziegler et al. 2019 adaptive KL controller: one update per batch.

    Args:
        coef: current beta.
        kl: observed KL of the batch (mean over samples of the per-sequence sum of k1).
        target: the KL the controller steers towards (6 nats in the paper).
        horizon: samples over which an error is corrected (10,000 in the paper).
        n_samples: samples in this batch.
    Returns:
        the new beta: beta * (1 + clip(kl / target - 1, -0.2, 0.2) * n_samples / horizon);
        the clip bounds one batch's change to +-20% of n/horizon, so a KL spike cannot flip it.
    """
    if target <= 0 or horizon <= 0:
        raise ValueError(f"KL controller needs target > 0 and horizon > 0; got {target}, "
                         f"{horizon}")
    err = min(max(kl / target - 1.0, -0.2), 0.2)
    return coef * (1.0 + err * n_samples / horizon)


@dataclass
class Moments:
    """Running count / mean / population variance of every score seen (reward
    normalisation); kept in PPO checkpoints."""

    count: float = 0.0
    mean: float = 0.0
    var: float = 1.0


def update_moments(m: Moments, sums: torch.Tensor) -> Moments:
    """Fold a batch, given as `masked_sums` (sum, sum of squares, count), into `m` (Chan et
    al.'s parallel variance update, exact for any split of the data into batches)."""
    s, ss, n = (float(v) for v in sums)
    if n == 0:
        return m
    b_mean = s / n
    b_var = max(ss / n - b_mean * b_mean, 0.0)
    if m.count == 0:
        return Moments(n, b_mean, b_var)
    tot = m.count + n
    delta = b_mean - m.mean
    m2 = m.var * m.count + b_var * n + delta * delta * m.count * n / tot
    return Moments(tot, m.mean + delta * n / tot, m2 / tot)


def normalize_scores(scores: torch.Tensor, m: Moments, eps: float = 1e-8) -> torch.Tensor:
    """[B] -> (scores - mean) / sqrt(var + eps) with running moments; NaN stays NaN."""
    return (scores - m.mean) / (m.var + eps) ** 0.5
