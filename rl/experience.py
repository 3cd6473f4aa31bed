"""The experience side of the RL core, shared by every recipe (GRPO, PPO): the task's prompt
stream, rollouts from the engine, harness scores as rewards, reward metrics and sample tables.

A `Batch` is group-major: rows [k*G, (k+1)*G) are prompt k's G completions (PPO uses G = 1
or more; GRPO needs G >= 2).
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rewards import Harness
from rewards.tasks.resolver import ResolvedTask
from rl.state import DataPosition, RLError, Run
from sft.dist import gather_lists


def build_harness(cfg, task: ResolvedTask, run_dir: Path) -> Harness:
    """The reward: the resolved task's rubric, the `judge` group, the run dir's verdict cache
    (the same builder rl.evaluate and SFT's evaluation use)."""
    cache_dir = run_dir if cfg.reward.cache else None
    return Harness.from_config(task.rubric, cfg.judge, cache_dir, reward=cfg.reward,
                               concurrency=int(cfg.reward.concurrency))


def load_prompts(cfg, task: ResolvedTask) -> list:
    """The task's train split without its first `train.skip_prompts` (the rows SFT imitated,
    when RL should learn from prompts SFT never saw), then its first `train.max_prompts`; an
    empty one is a user error."""
    prompts = task.split("train")
    skip = cfg.train.skip_prompts
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise RLError(f"train.skip_prompts must be a non-negative integer, got {skip!r}")
    if skip and skip >= len(prompts):
        # a small data set (debug=tiny's 16 rows, a 40-row custom task) that SFT used whole:
        # RL on nothing would teach nothing, so it samples them all, and says so
        print(f"[rl] train.skip_prompts={skip} would leave none of the task's {len(prompts)} "
              "train prompts: RL samples all of them, the SFT rows included (more train rows "
              f"than {skip} give RL prompts SFT never saw)", file=sys.stderr, flush=True)
        skip = 0
    prompts = prompts[skip:]
    if cfg.train.max_prompts:
        prompts = prompts[: int(cfg.train.max_prompts)]
    if not prompts:
        raise RLError(f"task {task.name!r} has no train prompts (task.n_train="
                      f"{task.cfg.get('n_train')}, train.skip_prompts={skip}, "
                      f"train.max_prompts={cfg.train.max_prompts}): nothing to roll out")
    return prompts


def set_output_budget(cfg, task: ResolvedTask, tokenizer) -> int:
    """Resolve `sampling.max_new_tokens` in place: as set, else the task's budget (task.
    max_new_tokens, else sized from its references in this tokenizer's tokens:
    rewards/tasks/budget.py). The checkpoint's config then records the number used."""
    from rewards.tasks.budget import output_budget

    n, why = output_budget(cfg.sampling.get("max_new_tokens"), "sampling.max_new_tokens", task,
                           lambda t: len(tokenizer.encode(t, add_special_tokens=False)))
    cfg.sampling.max_new_tokens = n
    print(f"[{cfg.stage}] sampling.max_new_tokens={n} ({why})", file=sys.stderr, flush=True)
    return n


def next_prompts(run: Run, n: int) -> list:
    """The next `n` prompts of the shuffled stream (reshuffled per epoch by seed + epoch)."""
    out = []
    while len(out) < n:
        perm = np.random.RandomState(int(run.cfg.seed) + run.data.epoch).permutation(
            len(run.prompts))
        take = perm[run.data.offset: run.data.offset + n - len(out)]
        out += [run.prompts[i] for i in take]
        run.data.offset += len(take)
        if run.data.offset >= len(run.prompts):
            run.data = DataPosition(epoch=run.data.epoch + 1, offset=0)
    return out


def next_prompts_for_rank(run: Run, n_per_rank: int) -> tuple[list, int]:
    """All ranks advance the same global stream; each keeps its own contiguous shard.
    Returns (this rank's prompts, the position of its first one in the global batch)."""
    all_prompts = next_prompts(run, n_per_rank * run.world)
    first = run.rank * n_per_rank
    return all_prompts[first:first + n_per_rank], first


@dataclass
class Batch:
    """A rollout batch, group-major: rows [k*G, (k+1)*G) are prompt k's completions."""

    samples: list  # [B] rewards.Sample with .completion set
    gens: list  # [B] rl.rollout Generation
    results: list  # [B] HarnessResult
    rewards: torch.Tensor  # [B] float, NaN = unscored
    dims: torch.Tensor  # [B, D] float, NaN = dimension unscored


def prompt_seed(seed: int, step: int, round_: int, index: int) -> int:
    """The sampling seed of the prompt at position `index` of step `step`'s global batch
    (resample round `round_`): independent of ranks, processes and batch composition."""
    key = f"{seed}:{step}:{round_}:{index}".encode()
    return int(hashlib.sha256(key).hexdigest()[:15], 16)


class EngineFailure(RLError):
    """The rollout engine failed on every request of a step (a dead server, a crashed engine
    core): the step cannot be scored, and retrying it blindly would only mask the cause."""


def _sampling(run: Run, n_prompts: int, n: int, round_: int, first_index: int, step: int):
    """The step's SamplingConfig: per-prompt seeds from prompt_seed (see `rollout`)."""
    from rl.rollout.base import SamplingConfig

    s = run.cfg.sampling
    seed = (int(s.seed) * 1_000_003 + step * 1009 + run.rank * 101 + round_) % 2**31
    seeds = [prompt_seed(int(s.seed), step, round_, first_index + k) for k in range(n_prompts)]
    return SamplingConfig(n=n, max_new_tokens=int(s.max_new_tokens),
                          temperature=float(s.temperature), top_p=float(s.top_p), seed=seed,
                          stop=list(s.stop) if s.stop else None, seeds=seeds)


def _engine_failed(step: int, e: BaseException) -> EngineFailure:
    # an engine that died mid-call (vLLM EngineDeadError, ...)
    return EngineFailure(f"step {step + 1}: the rollout engine failed: {type(e).__name__}: {e}")


def _check_not_all_failed(step: int, pairs: list) -> None:
    failed = [g for _, g in pairs if g.error is not None]
    if pairs and len(failed) == len(pairs):
        raise EngineFailure(f"step {step + 1}: the rollout engine failed every one of "
                            f"{len(pairs)} requests (first error: {failed[0].error})")


def rollout(run: Run, prompts: list, n: int, round_: int = 0,
            first_index: int = 0, step: int | None = None) -> tuple[list, float]:
    """`n` generations per prompt -> (flat list of (prompt sample, generation), seconds).

    `first_index`: the position of `prompts[0]` in the step's global batch (rank r of R holds
    positions [r*k, (r+1)*k)). Each prompt is sampled from its own seed (prompt_seed), never
    a global RNG, so 1 rank and N ranks, or a run and its resumed continuation, draw the same
    completions (engines with supports_prompt_seeds: hf, vllm in-process; the openai engine
    sends no seeds unless rollout.send_seed). `step` defaults to run.step (rollout.async
    passes the next step's)."""
    step = run.step if step is None else step
    sampling = _sampling(run, len(prompts), n, round_, first_index, step)
    t0 = time.perf_counter()
    try:
        gens = run.engine.generate([p.prompt for p in prompts], sampling)
    except RLError:
        raise
    except Exception as e:
        raise _engine_failed(step, e) from e
    pairs = [(p, g) for p, row in zip(prompts, gens, strict=True) for g in row]
    _check_not_all_failed(step, pairs)
    return pairs, time.perf_counter() - t0


@dataclass
class Scored:
    """A rollout and its scores: `rollout_s` until the last completion, `reward_s` the
    scoring time after it (all of it on the batch path; the tail on the streamed one)."""

    batch: Batch
    rollout_s: float
    reward_s: float
    timeline: dict  # streamed only (rl/stream.py): chunks, first_submit, last_chunk, ...


def rollout_scored(run: Run, prompts: list, n: int, round_: int = 0, first_index: int = 0,
                   step: int | None = None) -> Scored:
    """`rollout` then `score`, or, with `run.stream_scoring`, both at once: each prompt's
    group is scored as the engine finishes it (rl/stream.py). Same completions, rewards and
    order either way; `algo.mask_truncated` is read here."""
    mask = bool(run.cfg.algo.mask_truncated)
    if not run.stream_scoring:
        pairs, dt = rollout(run, prompts, n, round_, first_index, step)
        t0 = time.perf_counter()
        return Scored(score(run, pairs, n, mask), dt, time.perf_counter() - t0, {})
    from rl.stream import EngineRaised, stream_and_score

    step = run.step if step is None else step
    sampling = _sampling(run, len(prompts), n, round_, first_index, step)
    t0 = time.perf_counter()
    try:
        pairs, results, tl = stream_and_score(run.engine, run.harness, prompts, sampling,
                                              lambda chunk: to_samples(chunk, n))
    except EngineRaised as e:
        if isinstance(e.__cause__, RLError):
            raise e.__cause__ from None
        raise _engine_failed(step, e.__cause__ or e) from e
    _check_not_all_failed(step, pairs)
    batch = to_batch(run, pairs, to_samples(pairs, n), results, mask)
    return Scored(batch, tl.get("last_chunk", t0) - t0, tl["scored"] - tl.get("last_chunk", t0),
                  tl)


def version_lag(run: Run, gens: list) -> int:
    """The largest `run.version - Generation.version` in `gens` (the policy versions behind
    the one being trained); raises RLError past `rollout.max_lag` or when a generation does
    not say which policy produced it (a stale adapter must fail loudly, not train silently).
    Failed generations (no tokens) are ignored."""
    max_lag = int(run.cfg.rollout.max_lag)
    lags = []
    for g in gens:
        if g.error is not None:
            continue
        if not isinstance(g.version, int):
            raise RLError(f"step {run.step + 1}: a generation carries no policy version "
                          f"(Generation.version={g.version!r}) from engine "
                          f"{type(run.engine).__name__}; engines must record the version of "
                          "their last load_adapter/push_weights")
        lags.append(run.version - g.version)
    lag = max(lags, default=0)
    if lag > max_lag or min(lags, default=0) < 0:
        raise RLError(f"step {run.step + 1}: rollouts come from policy version "
                      f"{run.version - lag} but the trainer is at version {run.version}: lag "
                      f"{lag} > rollout.max_lag={max_lag} (a stale adapter or a missed sync; "
                      "raise rollout.max_lag only if the correction (algo.rollout_correction) "
                      "is on)" if lag > max_lag else
                      f"step {run.step + 1}: a generation claims policy version "
                      f"{run.version - min(lags)}, newer than the trainer's {run.version}")
    return lag


def has_sampler_logprobs(run: Run, gens: list) -> bool:
    """True when every generation carries the sampler's log-probs (the mismatch metrics need
    them); `algo.rollout_correction` other than none cannot run without: RLError naming it."""
    has = all(g.logprobs is not None for g in gens)
    if str(run.cfg.algo.rollout_correction) != "none" and not has:
        raise RLError(f"algo.rollout_correction={run.cfg.algo.rollout_correction} needs the "
                      f"sampler's log-probs, and engine {type(run.engine).__name__} returned "
                      "none (rollout.logprobs=false?)")
    return has


def to_samples(pairs: list, group_size: int) -> list:
    """The harness inputs of group-major (prompt sample, generation) pairs."""
    from rewards import Sample

    return [Sample(id=f"{p.id}#{j % group_size}", prompt=p.prompt, source=p.source,
                   reference=p.reference, completion=g.text, meta=p.meta)
            for j, (p, g) in enumerate(pairs)]


def score(run: Run, pairs: list, group_size: int, mask_truncated: bool = False) -> Batch:
    """Score completions with the harness; a failed (or, with `mask_truncated`, truncated)
    generation is unscored (NaN), never 0."""
    samples = to_samples(pairs, group_size)
    return to_batch(run, pairs, samples, run.harness.score_batch(samples), mask_truncated)


def to_batch(run: Run, pairs: list, samples: list, results: list,
             mask_truncated: bool) -> Batch:
    """Pairs and their harness results -> a Batch (rewards NaN where unscored). A sample whose
    global gate failed scores 0 in every dimension too: its total is 0, and the rubric-aware
    advantage, which reads the dimensions, must not pay it for the dimensions it would have
    scored (an empty medical record passes the grounding checks vacuously; the `fields_filled`
    gate is what stops it)."""
    from rewards.aggregate import global_gate_failed

    rubric = run.harness.rubric
    names = list(rubric.dimensions)
    rewards, dims = [], []
    for (_, g), r in zip(pairs, results, strict=True):
        bad = g.error is not None or (mask_truncated and g.finish_reason == "length")
        rewards.append(math.nan if bad or r.score is None else float(r.score))
        gated = not bad and r.score is not None and global_gate_failed(rubric, r.verdicts)
        dims.append([0.0 if gated else math.nan if bad or r.dimensions.get(d) is None
                     else r.dimensions[d] for d in names])
    return Batch(samples, [g for _, g in pairs], results, torch.tensor(rewards),
                 torch.tensor(dims, dtype=torch.float32).reshape(len(pairs), len(names)))


def merge_batches(parts: list[Batch], n_dims: int) -> Batch:
    return Batch(sum((p.samples for p in parts), []), sum((p.gens for p in parts), []),
                 sum((p.results for p in parts), []),
                 torch.cat([p.rewards for p in parts]) if parts else torch.zeros(0),
                 torch.cat([p.dims for p in parts]) if parts else torch.zeros(0, n_dims))


def reward_metrics(run: Run, batch: Batch, group_size: int) -> dict[str, float]:
    """reward/* from the harness results: total, dimensions, per-check rates, masking."""
    from rewards import summarize

    if not batch.results:
        return {"reward/masked_frac": 1.0}
    summary = summarize(batch.results, run.harness.rubric,
                        group_ids=[i // group_size for i in range(len(batch.results))])
    valid = batch.rewards[~torch.isnan(batch.rewards)]
    out = {"reward/total": float(valid.mean()) if len(valid) else math.nan,
           "reward/std": float(valid.std()) if len(valid) > 1 else 0.0,
           "reward/normalized": summary.get("normalized_mean"),
           "reward/masked_frac": 1.0 - len(valid) / len(batch.rewards)}
    for name, v in summary["dimensions"].items():
        out[f"reward/dim/{name}"] = v
    audit = set(summary.get("audit_checks") or [])
    for cid, check in summary["checks"].items():
        # audit checks are scored but never paid for: reported apart, as audit/*
        prefix = "audit/check" if cid in audit else "reward/check"
        for key in ("pass_rate", "abstain_rate", "zero_var_frac"):
            if check.get(key) is not None:
                out[f"{prefix}/{cid}/{key}"] = check[key]
    if summary.get("audit_mean") is not None:
        out["audit/score"] = summary["audit_mean"]
    if summary.get("judge_error_rate") is not None:
        out["reward/judge_error_rate"] = summary["judge_error_rate"]
    return out


def sample_table(batch: Batch, rows: int) -> tuple[list[str], list[list]]:
    """(columns, rows) of the first `rows` samples: prompt tail, completion, score, failures."""
    cols = ["prompt", "completion", "score", "failed_checks"]
    out = []
    for s, r in list(zip(batch.samples, batch.results, strict=True))[:rows]:
        prompt = s.prompt if isinstance(s.prompt, str) else s.prompt[-1]["content"]
        failed = "; ".join(f"{k}: {v}" for k, v in r.failed_checks().items())
        out.append([prompt[-300:], s.completion, r.score, failed])
    return cols, out


def rollout_metrics(batch: Batch) -> dict[str, float]:
    """rollout/*: completion lengths, truncation and engine errors of a scored batch."""
    lens = [len(gen.token_ids) for gen in batch.gens] or [0]
    return {"rollout/len_mean": sum(lens) / len(lens), "rollout/len_max": max(lens),
            "rollout/truncated_frac": sum(g.finish_reason == "length" for g in batch.gens)
            / max(len(batch.gens), 1),
            "rollout/errors": sum(g.error is not None for g in batch.gens)}


def note_unscored(run: Run, n: int) -> None:
    """A step whose whole reward batch was unscored: warn, and stop (RLError) after
    `train.max_unscored_steps` in a row; a step with any scored sample resets the streak."""
    run.unscored_streak += 1
    limit = int(run.cfg.train.max_unscored_steps)
    msg = (f"step {run.step + 1}: every sample of the reward batch was unscored (harness "
           f"score None for all {n}: coverage floors, judge errors, failed or truncated "
           "generations)")
    # the harness's last batch names what masked it when the judge failed
    judge_error = (getattr(run.harness, "last_stats", None) or {}).get("judge_error")
    if judge_error:
        msg += f"; judge checks failed with: {judge_error}"
    print(f"[{run.cfg.stage}] warning: {msg}; no update this step", file=sys.stderr)
    if run.unscored_streak >= limit:
        raise RLError(f"{msg}; {limit} such steps in a row — stopping. Check "
                      "reward/check/*/abstain_rate and the judge configuration.")


def gather_batch(batch: Batch, world: int) -> Batch:
    """Every rank's rows of `batch`, in rank order (the global batch order)."""
    if world <= 1:
        return batch
    rows = gather_lists(list(zip(batch.samples, batch.gens, batch.results,
                                 batch.rewards.tolist(), batch.dims.tolist(), strict=True)))
    samples, gens, results, rewards, dims = (list(col) for col in zip(*rows, strict=True))
    return Batch(samples, gens, results, torch.tensor(rewards),
                 torch.tensor(dims, dtype=torch.float32).reshape(len(rows), batch.dims.shape[1]))


def log_step(run: Run, metrics: dict, batch: Batch) -> None:
    """Rank 0 logs the step's metrics and, every `train.table_every` steps, its samples."""
    tc = run.cfg.train
    if run.rank != 0:
        return
    run.tracker.log(metrics, step=run.step)
    if tc.table_every and run.step % int(tc.table_every) == 0:
        cols, rows = sample_table(batch, int(tc.table_rows))
        run.tracker.log_table("samples", cols, rows, step=run.step)


def finish(run: Run, history: list[dict], close_engine: bool = True) -> None:
    """End of a run (also after an error): the tracker's summary and close, and the engine
    unless the caller owns it (`close_engine=False`)."""
    if run.rank == 0:
        run.tracker.summary({k: v for k, v in (history[-1] if history else {}).items()
                             if isinstance(v, int | float)} | {"final_step": run.step})
        run.tracker.finish()
    if close_engine:
        run.engine.close()
