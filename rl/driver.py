"""The run driver every RL recipe calls: what GRPO and PPO do the same way, once.

A recipe (rl/grpo.py, rl/ppo.py) is its algorithm: what it trains besides the policy, and
its `step(run, state)` (rollout -> reward -> advantages -> update -> sync). It hands those
to the driver as a `Recipe`; the driver does the rest, the same for every recipe:

    setup(recipe, cfg)   config rules -> process group, run dir, checkpoint to resume ->
                         task, prompts, harness -> policy (+ KL reference) -> recipe.build
                         (critic, sharding, optimizer parameter groups) -> AdamW ->
                         rollout engine and its sync mode -> tracker -> Run -> streamed
                         scoring, rollout.async (rl/overlap.py) -> restore, re-sync engine
    train(recipe, cfg)   the step loop: recipe.step; an engine failure checkpoints the
                         state before the step (engine_failure_checkpoint); Goodhart watch
                         (rl/watch.py); metrics and sample tables; progress bar; stop
                         signals agreed across ranks; periodic / final / signal / alarm
                         checkpoints; exit 3 on audit.on_alarm=stop
    cli(recipe)          `python -m rl.<recipe> [overrides]` with the exit codes of sft.cli

Composed, not inherited (torchtune recipes, nanochat): a recipe is a module of functions and
one `Recipe` value, never a subclass. Copies of this loop drifted before: PPO once ignored
`rollout.async`, the engine-failure checkpoint and `rollout.max_lag` that GRPO honoured.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rl.experience import (
    Batch,
    EngineFailure,
    build_harness,
    finish,
    load_prompts,
    log_step,
    set_output_budget,
)
from rl.state import CheckpointHook, Run, StopSignal, prepare_run_dir, restore, save
from sft.config_rules import (
    OPTIM_RULES,
    Rule,
    boolean,
    check,
    int_at_least,
    one_of,
    optional,
    positive,
    share,
)

# a step's outputs: (metrics, every rank's scored batch) -- what the watch and the log read
StepOut = tuple[dict[str, float], Batch]

# every RL recipe's config, checked before anything loads (sft.config_rules.check: exit 2
# naming the key); each recipe adds its own (rl.grpo.GRPO_RULES, rl.ppo.PPO_RULES)
RL_RULES: list[Rule] = OPTIM_RULES + [
    ("seed", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    ("train.max_steps", int_at_least(1), "an integer >= 1"),
    ("train.batch_size", int_at_least(1), "an integer >= 1 (completions per step)"),
    ("train.micro_batch_size", int_at_least(1), "an integer >= 1"),
    ("train.save_every", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.keep_last", optional(int_at_least(1)), "null (keep all) or an integer >= 1"),
    ("train.table_every", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.table_rows", int_at_least(1), "an integer >= 1"),
    ("train.max_unscored_steps", int_at_least(1), "an integer >= 1"),
    ("train.progress", boolean, "true or false"),
    ("train.allow_resume_changes", boolean, "true or false"),
    ("train.gradient_checkpointing", boolean, "true or false"),
    ("train.logprob_mode", one_of("shared_prompt", "full"), "shared_prompt or full"),
    ("sampling.temperature", positive,
     "a number > 0: RL samples (at 0 every completion of a group is the same, so every "
     "advantage is 0 and nothing is learned)"),
    ("sampling.top_p", lambda v: positive(v) and v <= 1, "a number in (0, 1]"),
    ("sampling.max_new_tokens", optional(int_at_least(1)),
     "null (the task's budget) or an integer >= 1"),
    ("train.allow_no_signal", boolean, "true or false"),
    ("train.max_truncated_frac", share, "a share in [0, 1]"),
    ("reward.concurrency", int_at_least(1), "an integer >= 1"),
    ("rollout.async", boolean, "true or false"),
    ("rollout.max_lag", int_at_least(0), "an integer >= 0 (policy versions)"),
    ("rollout.stream_scoring", lambda v: v == "auto" or isinstance(v, bool),
     "auto (on when the engine can stream), true or false"),
    ("reference", one_of("start", "base"),
     "start (the KL anchor is the policy the run started from) or base (adapters disabled)"),
    ("algo.rollout_correction", one_of("none", "tis", "seq_mask"), "none, tis or seq_mask"),
    ("algo.tis_cap", positive, "a number > 0"),
    ("algo.seq_mask_low", positive, "a number > 0"),
    ("algo.seq_mask_high", positive, "a number > 0"),
    ("dist.timeout_s", int_at_least(1), "an integer >= 1 (seconds)"),
]


@dataclass(frozen=True)
class Recipe:
    """What is a recipe's own; see the module docstring.

    `build(cfg, model, tokenizer, sharded) -> (model, optimizer params or parameter groups,
    state)`: what the recipe trains beside the policy (PPO: the critic), after the KL
    reference is attached and before the optimizer is made; `state` is handed to every
    `step` and, when it is a CheckpointHook (save/restore), kept in every checkpoint.
    `postfix`: the progress bar's columns, (label, metric key, format)."""

    name: str
    validate: Callable[[Any], None]
    kl_on: Callable[[Any], bool]
    build: Callable[[Any, Any, Any, bool], tuple[Any, list, Any]]
    step: Callable[[Run, Any], StepOut]
    postfix: tuple[tuple[str, str, str], ...]
    # the PEFT adapter that is the policy (PPO keeps a "critic" adapter beside "policy")
    adapter: str = "default"


def setup(recipe: Recipe, cfg, engine=None) -> tuple[Run, Any]:
    """(Run, recipe state) ready for step 1 or for the step after the resumed checkpoint.
    `engine`: a rollout engine the caller built and keeps (tests share one vLLM engine
    across runs), else the one `cfg.rollout` names."""
    from rewards.tasks import resolve
    from rl.overlap import Overlap, check_async
    from rl.policy import (
        attach_reference,
        build_engine_for,
        build_optimizer,
        build_policy,
        push_policy,
        resolve_sync_mode,
    )
    from rl.rollout.base import resolve_engine_class
    from rl.shard import check_engine
    from rl.state import start_tracking
    from rl.stream import stream_scoring_on

    check(cfg, RL_RULES)
    recipe.validate(cfg)
    engine_cls = type(engine) if engine is not None else resolve_engine_class(
        str(cfg.rollout.get("_target_") or cfg.rollout.engine))
    check_engine(cfg, engine_cls)
    info, run_dir, ckpt = prepare_run_dir(
        cfg, int(cfg.train.batch_size) // int(cfg.algo.num_generations))
    task = resolve(cfg.task, cfg.reward.rubric, cfg.reward.get("smoke_rubric"))
    prompts = load_prompts(cfg, task)
    harness = build_harness(cfg, task, run_dir)
    sharded = str(cfg.dist.backend) == "fsdp" and info.world_size > 1
    model, tok = build_policy(cfg, ckpt, stage=recipe.name, adapter_name=recipe.adapter)
    set_output_budget(cfg, task, tok)
    reference = attach_reference(model, cfg, recipe.name, recipe.adapter, recipe.kl_on(cfg),
                                 sharded=sharded)
    model, params, state = recipe.build(cfg, model, tok, sharded)
    opt, sched = build_optimizer(cfg.optim, params, int(cfg.train.max_steps))
    engine = build_engine_for(cfg, model, tok, run_dir, info.rank, engine=engine,
                              adapter=recipe.adapter)
    mode = resolve_sync_mode(cfg, type(engine))[0]
    tracker = start_tracking(cfg, run_dir, ckpt, recipe.name)
    run = Run(cfg, run_dir, task, model, tok, opt, sched, harness, engine, prompts, tracker,
              world=info.world_size, rank=info.rank, policy_adapter=recipe.adapter,
              sync_mode=mode, sharded=sharded, reference=reference)
    if isinstance(state, CheckpointHook):
        run.hooks.append(state)
    run.stream_scoring = stream_scoring_on(cfg, engine, run.rank)
    if cfg.rollout["async"]:
        check_async(cfg, engine)
        run.overlap = Overlap()
    if ckpt is not None:
        restore(run, ckpt)
        # the engine samples from the restored policy (never PPO's critic), under its version
        push_policy(engine, mode, model, run_dir, run.version, run.rank, recipe.adapter)
    return run, state


def train(recipe: Recipe, cfg, on_step: Callable[[int, dict], None] | None = None,
          engine=None) -> dict[str, Any]:
    """Run `recipe` to `train.max_steps`; returns {"step", "adapter" (the last checkpoint),
    "run_dir", "stopped_by", "history", "rubric_hash"}.

    `on_step(step, metrics)` is called after each step (tests use it to send signals);
    `engine`: a rollout engine the caller owns (not closed here). Raises GoodhartStop (exit
    3) after checkpointing when the alarm fires with `audit.on_alarm=stop`."""
    from tqdm import tqdm

    from rl.watch import GoodhartStop, build_monitor, stop_message, watch

    run, state = setup(recipe, cfg, engine)
    monitor = build_monitor(cfg)
    tc = cfg.train
    history: list[dict] = []
    bar = tqdm(total=int(tc.max_steps), initial=run.step, desc=recipe.name, dynamic_ncols=True,
               disable=not (run.rank == 0 and tc.progress))
    stopped = None
    try:
        with StopSignal() as stop:
            while run.step < int(tc.max_steps):
                metrics, batch = engine_failure_checkpoint(run, lambda: recipe.step(run, state))
                alarms = watch(run, monitor, metrics, batch, int(cfg.algo.num_generations))
                history.append({"step": run.step, **metrics})
                log_step(run, metrics, batch)
                bar.update(1)
                bar.set_postfix(postfix(recipe, metrics))
                if on_step is not None:
                    on_step(run.step, metrics)
                # a signal seen by any rank stops every rank after the same step (Slurm may
                # signal one task only; a lone rank leaving would hang the others' all-reduce)
                stopping = stop.agreed(run.world)
                halt = bool(alarms) and cfg.audit.on_alarm == "stop"
                at_save = tc.save_every and run.step % int(tc.save_every) == 0
                if at_save or stopping or halt or run.step == int(tc.max_steps):
                    save(run, {k: v for k, v in metrics.items()
                               if k.startswith(("reward/t", "loss/"))})
                if halt:
                    raise GoodhartStop(stop_message(alarms))
                if stopping:
                    stopped = stop.received or "a signal to another rank"
                    print(f"[{recipe.name}] {stopped}: checkpointed step {run.step} at "
                          f"{run.last_ckpt}; exiting 0 (resume with train.resume=auto)",
                          file=sys.stderr)
                    break
    finally:
        bar.close()
        if run.overlap is not None:
            run.overlap.close()
        finish(run, history, close_engine=engine is None)
    return {"step": run.step, "adapter": str(run.last_ckpt) if run.last_ckpt else None,
            "run_dir": str(run.run_dir), "stopped_by": stopped, "history": history,
            "rubric_hash": run.harness.rubric.hash}


def engine_failure_checkpoint(run: Run, step: Callable[[], StepOut]) -> StepOut:
    """`step()`; when the rollout engine dies (a killed server, a crashed engine core) the
    run checkpoints the state before the step (data position rewound: the step's prompts are
    drawn again on resume) and stops with an error naming the checkpoint. One process only:
    a lone failing rank cannot join the others' collective save."""
    data0 = copy.copy(run.data)
    try:
        return step()
    except EngineFailure as e:
        if run.world > 1:
            raise
        if run.overlap is not None:
            run.overlap.pending = None  # its prompts are drawn again on resume
            data0 = run.overlap.step_start or data0
        run.data = data0
        ckpt = save(run)
        raise EngineFailure(f"{e}. Checkpointed step {run.step} at {ckpt}; fix the engine "
                            "and resume with train.resume=auto") from e


def postfix(recipe: Recipe, m: dict) -> dict[str, str]:
    """The progress bar's columns for one step's metrics ("-" where absent or NaN)."""
    def f(key: str, fmt: str) -> str:
        v = m.get(key)
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    return {label: f(key, fmt) for label, key, fmt in recipe.postfix}


def cli(recipe: Recipe) -> None:
    """`python -m rl.<recipe> [overrides]`: exit 0 done (or pre-empted), 2 bad input, 1 a
    bug, 3 stopped by the Goodhart alarm."""
    from sft.cli import hydra_cli

    def run(cfg) -> None:
        out = train(recipe, cfg)
        last = out["history"][-1] if out["history"] else {}
        print(f"[{recipe.name}] done: step {out['step']}, reward/total "
              f"{last.get('reward/total')}, checkpoint {out['adapter']}", flush=True)

    hydra_cli(recipe.name, run)
