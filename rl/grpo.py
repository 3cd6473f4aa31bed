"""GRPO on harness rewards: the LoRA policy samples G completions per prompt, the task's rubric
harness scores them, and a clipped policy-gradient step pushes up the better ones.

One step, top to bottom (every function below is one box):

    prompts (task train split, shuffled per epoch, resumable position)
      -> rollout engine: G completions per prompt with their sampled log-probs
         (hf: the live in-memory PEFT policy; vllm: versioned adapter or merged weights),
         each completion stamped with the policy version that sampled it
      -> Harness.score_batch: per-sample score (None = masked), dimension scores, verdicts
         (streamed: each group scored as it finishes, overlapping the generation)
      -> advantages (rl/advantages.py): grpo | dr_grpo | rubric (per-dimension normalised)
         DAPO dynamic sampling: zero-variance groups dropped and re-sampled, up to a limit
      -> loss (rl/losses.py): clipped ratio (token or sequence level), + beta * k3 KL to the
         reference (`reference`: the start policy — a frozen copy of the start adapter —
         or the base model with the adapter disabled), aggregated
         seq_mean | token_mean | dr_grpo exactly over the whole batch across micro-batches
      -> AdamW step on the adapter -> adapter synced to the engine -> metrics, checkpoint
         (rl/state.py: what a checkpoint holds, exact restore, SIGTERM/SIGUSR1)

The parts every RL recipe shares live in the RL core and are imported here: rl/experience.py
(prompt stream, rollout, harness scoring -> Batch, reward metrics, sample tables),
rl/policy.py (policy/optimizer/engine construction, tensors, shared-prompt log-probs, sync)
and rl/state.py (typed Run, checkpoints); the run itself (set-up, resume, the step loop,
signals, saving, the Goodhart halt, the engine-failure checkpoint, the CLI) is rl/driver.py's,
shared with PPO. This file is what is GRPO's own: advantages, DAPO dynamic sampling, the
micro-batched clipped loss and one step (`RECIPE` at the bottom hands them to the driver).

Deviations from the papers / TRL, on purpose:
- Each group's prompt is encoded once and its KV cache reused for the G completions
  (`train.logprob_mode=shared_prompt`; TRL re-encodes it per completion): same values and
  gradients, ~3.5x fewer training FLOPs with 260-token prompts and short answers.
- The training forward runs with the model in eval mode: LoRA dropout off, so the recomputed
  log-probs are the ones the sampler used (ratio exactly 1 on-policy; TRL trains with dropout).
- Samples the harness cannot score (score None) are dropped from the batch, not scored 0.
- With beta = 0, rows whose advantage is exactly 0 (zero-variance groups) are skipped in the
  forward/backward but still counted in the loss normaliser: the same gradient as computing
  them, at a fraction of the cost early in training when most groups are flat.
- Every prompt is sampled from its own seed, derived from (seed, step, resample round, its
  position in the global batch) — not a global RNG, not the rank: 1 rank and N ranks on the
  same global batch draw the same completions, and a run killed and resumed samples exactly
  what an uninterrupted run samples (hf and in-process vLLM engines: per-request seeds).
- Across ranks (torchrun, dist=ddp): each rank rolls out its contiguous shard of the global
  batch; the loss is normalised by global row/token counts and the LoRA gradients are summed,
  so N ranks compute the gradient one process would (tests/rl/test_grpo_ranks.py: equal loss,
  grad norm and adapter). DAPO's resampling rounds, stop signals (one rank signalled stops
  all after the same step) and checkpoints (every rank's RNG state) are decided together.
- Sharded policy (torchrun, dist=fsdp; rl/shard.py): FSDP2 `fully_shard` over each decoder
  layer and the transformer root, so each rank holds 1/N of the frozen base and of the LoRA
  weights. Every forward is then a collective: generation runs `synced` (a rank done decoding
  keeps forwarding until all are), a rank with fewer training forwards this step (rows skipped
  at beta = 0, masked samples, a DAPO rank already full) runs zero-weight dummy forwards up to
  the busiest rank's count (`train/pad_forwards`), FSDP's reduce-scatter sums the gradients
  (divide factor 1; no second all-reduce) and the clip norm is the global one. Checkpoints
  gather the whole adapter and optimizer state: the same adapter file as dist=ddp. Same
  numbers as 1 rank (tests/rl/test_grpo_ranks.py). rollout=hf only (an engine with its own
  copy of the policy on every rank is refused); PPO refuses dist=fsdp.
- `train.gradient_checkpointing=true` recomputes each decoder layer in backward (our own
  non-reentrant wrapper: HF's checkpoints only in training mode and drops the KV cache the
  shared-prompt log-probs reuse); loss and gradients unchanged.
- Device (`device=auto`): the policy, the reference pass and the training tensors live on
  this rank's GPU when there is one (bf16 base weights, fp32 LoRA), else on the CPU in fp32.
  `lora.kernel=auto` routes the LoRA layers through the fused Triton kernels on CUDA, for a
  fresh adapter, a start adapter and a resumed checkpoint alike.
- KL reference (`reference=start`, default) = the policy the run started from, as verl and
  OpenRLHF do: starting from an SFT adapter with beta > 0, that adapter is loaded a second time
  as a frozen PEFT adapter and the reference pass switches to it (r * (d_in + d_out) extra
  weights per layer, no second model); with a fresh LoRA the start policy is the base model
  and the pass disables the adapter. `reference=base` always anchors to the base model (TRL's
  choice with PEFT), which for an SFT start is a model that never learned the task.
- No DAPO overlong reward shaping; `algo.mask_truncated` drops truncated samples instead.
- Rollout engines with their own copy of the policy (vLLM) are synced by adapter files or
  merged weights (`rollout.sync`, rl/policy.py); every completion records the policy version
  that sampled it and the step refuses a lag beyond `rollout.max_lag`. `rollout.async=true`
  generates step t+1 while step t is scored and trained (rl/overlap.py, lag 1), and
  `algo.rollout_correction=tis|seq_mask` reweights the policy gradient by trainer/sampler
  probability ratios (rl/losses.py) — the ratio in the clipped loss stays on the trainer's own
  log-probs, the correction is a separate detached weight (as verl/TRL do).
- Scoring is streamed (`rollout.stream_scoring: auto|true|false`, auto = on when the engine
  declares `supports_streaming`: hf, vllm, vllm_server, openai): each prompt's group goes to
  the harness as the engine finishes it (rl/stream.py), so judge/embedding latency overlaps
  generation; the scores are assembled in the original order, identical to the batch path.
  `perf/reward_s` is then only the scoring left after the last completion. With
  `rollout.async` the background thread generates and scores step t+1; with torchrun each
  rank streams its own shard.

Launch:
    python -m rl.grpo                                         # smollm2-135m, support_classification
    python -m rl.grpo algo=dapo model.adapter=runs/local/sft-.../checkpoints/step-00000100
    python -m rl.grpo debug=tiny                              # seconds, tiny-random model
    torchrun --nproc_per_node=2 -m rl.grpo dist=ddp           # = 1 process on the same batch
    torchrun --nproc_per_node=8 -m rl.grpo dist=fsdp model=qwen3-32b \
        train.gradient_checkpointing=true                     # base sharded over 8 GPUs
    python -m rl.grpo rollout=vllm                            # vLLM engine, rollout.sync=auto
    python -m rl.grpo rollout=vllm rollout.sync=adapter rollout.async=true \
        algo.rollout_correction=tis                           # one-step-off, IS-corrected
    python -m rl.grpo rollout=vllm_server                     # OpenAI-compatible vLLM server
SIGTERM / SIGUSR1 (Slurm pre-emption) to any rank: every rank finishes the step, checkpoints,
exits 0; `train.resume=auto` continues from the newest complete checkpoint of the run dir, and
refuses (exit 2, naming the key) when model, algo, G, batch size, lr or rubric changed unless
`train.allow_resume_changes=true`. `dist=deepspeed_*` is refused up front (exit 2): the
sharded policy is dist=fsdp.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from rewards.cache import CACHE_FILE  # noqa: F401  (re-exported: tests and callers read it)
from rl import driver
from rl.advantages import compute_advantages, expand_groups, select_informative_groups
from rl.experience import (
    Batch,
    gather_batch,
    has_sampler_logprobs,
    merge_batches,
    next_prompts_for_rank,
    note_unscored,
    reward_metrics,
    rollout,
    rollout_metrics,
    rollout_scored,
    version_lag,
)
from rl.losses import policy_loss, rollout_correction
from rl.no_signal import check_signal
from rl.overlap import next_scored
from rl.policy import (
    agreed_plan,
    finish_grads,
    forward_units,
    group_chunks,
    pad_forwards,
    policy_logprobs,
    reference_pass,
    sync,
    to_tensors,
    trainable,
)
from rl.shard import check_dist, shard_policy
from rl.state import RLError, Run
from sft.config_rules import Rule, boolean, check, int_at_least, non_negative
from sft.dist import all_reduce_sum

# a run that cannot go on (bad config, empty task, non-finite loss): the RL core's error
GRPOError = RLError


# ---------------------------------------------------------------------------------- setup
# GRPO's own keys (rl.driver.RL_RULES checks the ones every recipe shares first)
GRPO_RULES: list[Rule] = [
    ("algo.beta", non_negative, "a finite number >= 0"),
    ("algo.eps_low", non_negative, "a finite number >= 0"),
    ("algo.eps_high", non_negative, "a finite number >= 0"),
    ("algo.num_iterations", int_at_least(1), "an integer >= 1"),
    ("algo.max_resample", int_at_least(0), "an integer >= 0 (extra rollout rounds)"),
    ("algo.dynamic_sampling", boolean, "true or false"),
]


def validate(cfg) -> None:
    """Config errors that would otherwise surface as a crash (or a NaN) minutes in."""
    check(cfg, GRPO_RULES)
    group_size, batch_size = int(cfg.algo.num_generations), int(cfg.train.batch_size)
    if group_size < 2:
        raise GRPOError(f"algo.num_generations={group_size}: GRPO needs >= 2 completions per "
                        "prompt (a group of one has no baseline)")
    if batch_size % group_size:
        fit = max(group_size, batch_size - batch_size % group_size)
        raise GRPOError(f"train.batch_size={batch_size} completions is not a multiple of "
                        f"algo.num_generations={group_size}; use e.g. train.batch_size={fit}")
    if cfg.algo.loss_agg not in ("seq_mean", "token_mean", "dr_grpo"):
        raise GRPOError(f"algo.loss_agg={cfg.algo.loss_agg!r}: expected seq_mean, token_mean "
                        "or dr_grpo")
    if float(cfg.algo.beta) < 0:
        raise GRPOError(f"algo.beta={cfg.algo.beta} must be >= 0")
    check_dist(cfg, "grpo")


def build(cfg, model, tok, sharded: bool) -> tuple[Any, list, None]:
    """GRPO trains the policy adapter alone; sharded (dist=fsdp), before the optimizer: it
    must hold the sharded (DTensor) parameters."""
    if sharded:
        model = shard_policy(model)
    return model, trainable(model), None


def setup(cfg, engine=None) -> Run:
    """Everything a run needs (rl.driver.setup); `engine`: a rollout engine the caller built
    and keeps (tests share one vLLM engine across runs), else the one `cfg.rollout` names."""
    return driver.setup(RECIPE, cfg, engine)[0]


# -------------------------------------------------------------------------------- rollout
def advantages_of(run: Run, batch: Batch):
    algo = run.cfg.algo
    weights = torch.tensor([d.weight for d in run.harness.rubric.dimensions.values()])
    return compute_advantages(str(algo.advantage), batch.rewards, int(algo.num_generations),
                              batch.dims, weights, scale_std=bool(algo.rubric_scale_std),
                              batch_norm=bool(algo.rubric_batch_norm))


def collect(run: Run) -> tuple[Batch, Any, dict]:
    """Roll out and score one step's batch; DAPO dynamic sampling re-samples flat groups.

    Returns (batch, advantages, stats); with dynamic sampling the batch holds only the
    informative groups found within `algo.max_resample` extra rounds (possibly none).
    stats["seen"] keeps every scored batch, so reward metrics are not biased towards the
    informative groups dynamic sampling kept.
    """
    algo, group_size = run.cfg.algo, int(run.cfg.algo.num_generations)
    n_prompts = int(run.cfg.train.batch_size) // group_size // run.world
    stats = {"rollout_s": 0.0, "reward_s": 0.0, "rounds": 0, "groups_seen": 0, "flat": 0,
             "gen_tokens": 0, "chunks": 0, "seen": []}
    if run.overlap is not None or not algo.dynamic_sampling:
        # one round; with rollout.async this step's generation started last step
        batch, adv, _ = _round(run, stats, next_scored(run, n_prompts, group_size))
        return batch, adv, stats
    kept: list[tuple[Batch, torch.Tensor]] = []
    have = 0
    for round_ in range(1 + int(algo.max_resample)):
        # every rank advances the shared prompt stream every round, so data positions agree
        prompts, first = next_prompts_for_rank(run, n_prompts)
        if have < n_prompts:  # a rank that is full skips the work, not the stream position
            batch, adv, invalid = _round(
                run, stats, rollout_scored(run, prompts, group_size, round_, first))
            idx = select_informative_groups(adv.group_zero_var, invalid, n_prompts - have)
            kept.append((batch, idx))
            have += len(idx)
        elif run.sharded:  # a full rank still decodes with the others: generate is collective
            rollout(run, prompts, group_size, round_, first)
        # the ranks decide together: another round while any of them lacks groups
        if all_reduce_sum(torch.tensor(float(have < n_prompts)), run.world) == 0:
            break
    return _concat_groups(run, kept) + (stats,)


def _round(run: Run, stats: dict, done):
    """Account one scored rollout round (rl.experience.Scored) in `stats`: (batch,
    advantages, invalid-group mask [n_groups])."""
    group_size = int(run.cfg.algo.num_generations)
    batch = done.batch
    stats["rollout_s"] += done.rollout_s
    stats["reward_s"] += done.reward_s
    stats["chunks"] += done.timeline.get("chunks", 0)  # 0: scored as one batch
    stats["gen_tokens"] += sum(len(gen.token_ids) for gen in batch.gens)
    stats["seen"].append(batch)
    adv = advantages_of(run, batch)
    invalid = ~adv.valid.reshape(-1, group_size).any(1)
    stats["rounds"] += 1
    stats["groups_seen"] += len(invalid)
    stats["flat"] += int((adv.group_zero_var | invalid).sum())
    return batch, adv, invalid


def _concat_groups(run: Run, kept: list) -> tuple[Batch, Any]:
    group_size = int(run.cfg.algo.num_generations)
    parts = []
    for batch, idx in kept:
        rows = expand_groups(idx, group_size).tolist()
        parts.append(Batch([batch.samples[i] for i in rows], [batch.gens[i] for i in rows],
                           [batch.results[i] for i in rows], batch.rewards[rows],
                           batch.dims[rows]))
    merged = merge_batches(parts, len(run.harness.rubric.dimensions))
    return merged, advantages_of(run, merged)


# ---------------------------------------------------------------------------------- train
def train_step(run: Run, batch: Batch, adv) -> dict[str, float]:
    """One optimizer step on the valid rows of `batch`; returns loss/kl/clip metrics."""
    algo, cfg = run.cfg.algo, run.cfg
    beta = float(algo.beta)
    rows = adv.valid.nonzero().flatten()
    # a rank whose groups were all dropped still joins the gradient all-reduce with zeros
    device = next(run.model.parameters()).device
    gens = [batch.gens[i] for i in rows.tolist()]
    x = {k: v.to(device) for k, v in to_tensors(gens, run.tokenizer.pad_token_id).items()}
    x["has_sampler_logp"] = has_sampler_logprobs(run, gens)
    advs = adv.values[rows].to(device)
    mask = x["completion_mask"]
    # global normalisers (over every valid row of every rank), so micro-batching and
    # skipping rows never change the loss: seq_mean and dr_grpo divide by rows, token_mean by
    # tokens
    norm = all_reduce_sum(torch.tensor([float(len(rows)), float(mask.sum())],
                                       dtype=torch.float64), run.world)
    compute = (advs != 0).nonzero().flatten() if beta == 0 else torch.arange(len(rows))
    x["group"] = rows // int(algo.num_generations)
    chunks = group_chunks(compute, x["group"], int(cfg.train.micro_batch_size))
    stats = {"loss": 0.0, "pg": 0.0, "kl": 0.0, "clip_frac": 0.0, "clip_low": 0.0,
             "clip_high": 0.0, "ratio": 0.0, "tokens": 0.0, "logp_diff": 0.0,
             "mismatch_kl": 0.0, "is_weight": 0.0, "is_masked": 0.0}
    # sharded policy: every forward is a collective, so each rank runs the most forwards any
    # rank runs at each micro-batch position, padding with zero-weight dummies
    units = [forward_units(run, x, idx) for idx in chunks]
    plan = agreed_plan(units, run.world) if run.sharded else units
    chunks += [torch.zeros(0, dtype=torch.long)] * (len(plan) - len(chunks))
    pads = [want - have for want, have in zip(plan, (units + [0] * len(plan))[:len(plan)],
                                              strict=True)]
    old_logp = None
    if int(algo.num_iterations) > 1:  # the policy before this step's first update
        old_logp = torch.zeros_like(x["sampler_logp"])
        with torch.no_grad():
            for idx, pad in zip(chunks, pads, strict=True):
                if len(idx):
                    old_logp[idx] = policy_logprobs(run, x, idx)
                pad_forwards(run, pad)
    for _ in range(int(algo.num_iterations)):
        run.optimizer.zero_grad(set_to_none=True)
        for idx, pad in zip(chunks, pads, strict=True):
            _micro_step(run, x, advs, idx, norm, old_logp, stats, pad)
        grad_norm = finish_grads(trainable(run.model), run.world,
                                 run.cfg.optim.max_grad_norm)
        run.optimizer.step()
    run.scheduler.step()
    # every rank's share: losses are already scaled by the global normalisers (they sum to
    # the global loss), the per-token metrics are token-weighted sums
    keys = sorted(stats)
    totals = all_reduce_sum(torch.tensor([stats[k] for k in keys], dtype=torch.float64),
                            run.world)
    stats = dict(zip(keys, totals.tolist(), strict=True))
    tok = max(stats.pop("tokens"), 1.0)
    out = {k: v / tok for k, v in stats.items() if k != "loss"}
    out["loss"] = stats["loss"] / int(algo.num_iterations)
    out["grad_norm"] = grad_norm
    out["rows_computed"] = float(all_reduce_sum(torch.tensor(float(len(compute))), run.world))
    # dummy forward units run only to keep sharded ranks in step (0 unless dist=fsdp)
    out["pad_forwards"] = float(all_reduce_sum(torch.tensor(float(sum(pads))), run.world))
    return out


def _micro_step(run: Run, x: dict, advs, idx, norm, old_logp, stats: dict,
                pad: int = 0) -> None:
    """Forward/backward of rows `idx`, plus `pad` dummy forward units (sharded policy: the
    forwards this rank runs fewer than the busiest rank; idx may then be empty)."""
    algo = run.cfg.algo
    beta = float(algo.beta)
    if len(idx) == 0:
        dummy = pad_forwards(run, pad)
        if beta > 0:
            with torch.no_grad(), reference_pass(run):
                pad_forwards(run, pad)
        dummy.backward()
        return
    logp = policy_logprobs(run, x, idx)
    dummy = pad_forwards(run, pad)
    ref = None
    if beta > 0:
        with torch.no_grad(), reference_pass(run):
            ref = policy_logprobs(run, x, idx)
            pad_forwards(run, pad)
    old = old_logp[idx] if old_logp is not None else logp.detach()
    mask = x["completion_mask"][idx]
    mode = str(algo.rollout_correction)
    corr = rollout_correction(old, x["sampler_logp"][idx], mask, mode,
                              tis_cap=float(algo.tis_cap),
                              seq_low=float(algo.seq_mask_low),
                              seq_high=float(algo.seq_mask_high))
    out = policy_loss(logp, old, advs[idx], mask, eps_low=float(algo.eps_low),
                      eps_high=float(algo.eps_high), level=str(algo.ratio_level), agg=str(algo.loss_agg),
                      max_completion_len=int(run.cfg.sampling.max_new_tokens), ref_logp=ref,
                      beta=beta, kl_is_weight=bool(algo.kl_is_weight),
                      token_weights=None if mode == "none" else corr.weights)
    n_rows, n_tok = float(len(idx)), float(mask.sum())
    scale = n_tok / float(norm[1]) if algo.loss_agg == "token_mean" else n_rows / float(norm[0])
    # scaled by the global normaliser, so the ranks' gradients sum (below) to the gradient of
    # the global batch loss: the same as one process on the whole batch
    loss = out.loss * scale
    if not torch.isfinite(loss):
        raise GRPOError(f"step {run.step + 1}: loss is {loss.item()} (non-finite) — stopping. "
                        f"Last good checkpoint: {run.last_ckpt or 'none (no checkpoint yet)'}")
    (loss + dummy).backward()
    stats["loss"] += out.loss.item() * scale
    for k, v in (("pg", out.pg), ("kl", out.kl), ("clip_frac", out.clip_frac),
                 ("clip_low", out.clip_low_frac), ("clip_high", out.clip_high_frac),
                 ("ratio", out.ratio_mean)):
        stats[k] += float(v) * n_tok
    diff = ((logp.detach() - x["sampler_logp"][idx]).abs() * mask).sum()
    stats["logp_diff"] += float(diff)
    if x["has_sampler_logp"]:
        for k, v in (("mismatch_kl", corr.mismatch_kl), ("is_weight", corr.is_weight_mean),
                     ("is_masked", corr.masked_frac)):
            stats[k] += float(v) * n_tok
    stats["tokens"] += n_tok


# ----------------------------------------------------------------------------------- loop
def step_once(run: Run) -> tuple[dict[str, float], Batch]:
    """Rollout -> reward -> advantages -> update -> sync for one step; returns its metrics."""
    t0 = time.perf_counter()
    batch, adv, rollout_stats = collect(run)
    seen = merge_batches(rollout_stats["seen"], len(run.harness.rubric.dimensions))
    lag = version_lag(run, seen.gens)  # raises past rollout.max_lag
    # reward metrics over every rank's samples (the batches are small: results, not tensors)
    everyone = gather_batch(seen, run.world)
    metrics = reward_metrics(run, everyone, int(run.cfg.algo.num_generations))
    check_signal(run, everyone, int(run.cfg.algo.num_generations))
    n_scored = int(all_reduce_sum(torch.tensor(float((~torch.isnan(seen.rewards)).sum())),
                                   run.world))
    n_valid = int(all_reduce_sum(torch.tensor(float(adv.valid.sum())), run.world))
    train_metrics, sync_s = {}, 0.0
    if n_scored == 0:
        note_unscored(run, len(seen.rewards))
        run.scheduler.step()
    elif n_valid == 0:
        # dynamic sampling found no group with reward variance: nothing to learn from
        print(f"[grpo] warning: step {run.step + 1}: no informative group in "
              f"{rollout_stats['rounds']} rollout round(s); no update this step",
              file=sys.stderr)
        run.unscored_streak = 0
        run.scheduler.step()
    else:
        run.unscored_streak = 0
        t1 = time.perf_counter()
        train_metrics = train_step(run, batch, adv)
        metrics["perf/train_s"] = time.perf_counter() - t1
        sync_s = sync(run)
    run.step += 1
    metrics |= _step_metrics(run, seen, adv, rollout_stats, train_metrics)
    metrics["rollout/version_lag"] = float(lag)
    dt = time.perf_counter() - t0
    metrics |= {"perf/sync_s": sync_s, "perf/step_s": dt,
                "perf/tokens_per_s": rollout_stats["gen_tokens"] * run.world / dt,
                "train/skipped": float(not train_metrics)}
    return metrics, everyone



def _step_metrics(run: Run, seen: Batch, adv, rollout_stats: dict,
                  train_metrics: dict) -> dict[str, float]:
    metrics = {f"loss/{k}": train_metrics[k] for k in ("loss", "pg") if k in train_metrics}
    if train_metrics:
        tm = train_metrics
        metrics |= {"loss/kl": float(run.cfg.algo.beta) * tm["kl"], "kl": tm["kl"],
                    "clip/frac": tm["clip_frac"], "clip/low_frac": tm["clip_low"],
                    "clip/high_frac": tm["clip_high"], "policy/ratio_mean": tm["ratio"],
                    "policy/grad_norm": tm["grad_norm"], "rollout/logp_mismatch": tm["logp_diff"],
                    "train/rows_computed": tm["rows_computed"],
                    "train/pad_forwards": tm["pad_forwards"],
                    "rollout/mismatch_kl": tm["mismatch_kl"],
                    "rollout/is_weight_mean": tm["is_weight"],
                    "rollout/masked_frac": tm["is_masked"]}
    return metrics | rollout_metrics(seen) | {
        "rollout/zero_var_groups": rollout_stats["flat"] / max(rollout_stats["groups_seen"], 1),
        "rollout/resample_rounds": rollout_stats["rounds"] - 1,
        "adv/abs_mean": float(adv.values.abs().mean()) if len(adv.values) else 0.0,
        "train/lr": run.scheduler.get_last_lr()[0], "perf/rollout_s": rollout_stats["rollout_s"],
        "perf/reward_s": rollout_stats["reward_s"], "perf/stream_chunks": rollout_stats["chunks"]}


RECIPE = driver.Recipe(
    name="grpo", validate=validate, kl_on=lambda cfg: float(cfg.algo.beta) > 0, build=build,
    step=lambda run, _state: step_once(run),
    postfix=(("reward", "reward/total", ".3f"), ("loss", "loss/loss", ".4f"),
             ("kl", "kl", ".4f"), ("len", "rollout/len_mean", ".1f"),
             ("flat", "rollout/zero_var_groups", ".2f"), ("tok/s", "perf/tokens_per_s", ".1f")))


def train(cfg, on_step: Callable[[int, dict], None] | None = None,
          engine=None) -> dict[str, Any]:
    """Run GRPO to `train.max_steps` (rl.driver.train); returns {"history", "adapter",
    "run_dir", ...}. `on_step(step, metrics)` after each step; `engine`: one the caller owns."""
    return driver.train(RECIPE, cfg, on_step, engine)


def cli() -> None:
    """`python -m rl.grpo [overrides]`: exit 0 done (or pre-empted), 2 bad input, 1 a bug."""
    driver.cli(RECIPE)


if __name__ == "__main__":
    cli()
