"""RL run state, in memory (`Run`) and on disk: atomic checkpoints, exact restore, pre-emption
signals. Shared by every RL recipe (GRPO, PPO).

A checkpoint (sft.checkpoint layout, `<run_dir>/checkpoints/step-N/`) holds everything an
uninterrupted run would still have in memory, so `train.resume=auto` continues bit for bit
(tests/rl/test_grpo.py: 6 steps straight == 3 + SIGTERM + 3): the adapter, AdamW and
scheduler state, python/numpy/torch RNG states, the prompt-stream position, the step and
adapter version, and a copy of the harness verdict cache (SQLite) so a resumed run does not
re-pay for judge calls it already made.

A recipe with more trainable state than the policy adapter (PPO: the critic adapter, the value
head, the KL controller, running reward statistics) appends a `CheckpointHook` to
`Run.hooks`: `save(staged_dir)` writes its files into the checkpoint being staged (atomic with
the rest), `restore(ckpt)` loads them back in place after the optimizer and RNG are restored.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from omegaconf import DictConfig

from rewards import Harness
from rewards.cache import CACHE_FILE
from rewards.tasks.resolver import ResolvedTask
from rl.rollout.base import RolloutEngine
from sft.errors import UserInputError


class RLError(UserInputError):
    """An RL run that cannot go on (bad config, empty task, non-finite loss); says why and
    where. Entry points print it and exit 2."""


@dataclass
class DataPosition:
    """Where the shuffled prompt stream stands: epoch (reshuffled per epoch) and offset."""

    epoch: int = 0
    offset: int = 0


@runtime_checkable
class CheckpointHook(Protocol):
    """Extra state a recipe keeps in every checkpoint (see the module docstring)."""

    def save(self, staged: Path) -> None: ...

    def restore(self, ckpt: Path) -> None: ...


@dataclass
class Run:
    """Everything an RL loop mutates; `step` counts finished optimizer steps, `version` the
    policy versions synced to the rollout engine."""

    cfg: DictConfig
    run_dir: Path
    task: ResolvedTask
    model: Any  # a PEFT model (torch.nn.Module with disable_adapter)
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    harness: Harness
    engine: RolloutEngine
    prompts: list  # [rewards.Sample] of the task's train split
    tracker: Any  # sft.tracking.Tracker
    step: int = 0
    version: int = 0
    data: DataPosition = field(default_factory=DataPosition)
    unscored_streak: int = 0
    last_ckpt: Path | None = None
    world: int = 1
    rank: int = 0
    # how the engine follows the policy: live | adapter | merged (rl.policy.resolve_sync_mode)
    sync_mode: str | None = None  # None: resolved at the first sync
    # rollout.async: the next step's generation in flight (rl/overlap.py), else None
    overlap: Any = None
    # rollout.stream_scoring resolved for this engine (rl/stream.py): score chunks as they finish
    stream_scoring: bool = False
    # the PEFT adapter that is the policy (PPO keeps a "critic" adapter beside "policy")
    policy_adapter: str = "default"
    # the KL reference: "base" (adapters disabled) | "start" (frozen start adapter;
    # rl.policy.attach_reference / reference_pass)
    reference: str = "base"
    # dist=fsdp over > 1 rank: the policy is FSDP-sharded (rl/shard.py)
    sharded: bool = False
    hooks: list[CheckpointHook] = field(default_factory=list)
    # causes rl.no_signal already warned about in this run (each warns once)
    warned: set[str] = field(default_factory=set)


def save_adapter(model, dst: Path, adapter: str = "default",
                 state_dict: dict | None = None) -> None:
    """Save one named PEFT adapter's files directly in `dst` (PEFT puts every adapter but
    "default" in a subfolder named after it; evaluators and engines load `dst` itself).
    `state_dict`: the adapter's whole weights when the model is sharded (rl.shard)."""
    extra = {} if state_dict is None else {"state_dict": state_dict}
    if adapter == "default":
        model.save_pretrained(dst, selected_adapters=["default"], **extra)
        return
    tmp = dst.parent / f".{dst.name}-{adapter}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, selected_adapters=[adapter], **extra)
    dst.mkdir(parents=True, exist_ok=True)
    for f in (tmp / adapter).iterdir():
        shutil.move(str(f), dst / f.name)
    shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------- a sharded policy's state (rl/shard.py)
def full(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's whole value (collective: all-gather), a plain tensor as it is."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def full_adapter_state(model, adapter: str = "default") -> dict[str, torch.Tensor]:
    """{parameter name: whole tensor} of adapter `adapter`'s LoRA weights, on every rank
    (collective, one all-gather per tensor in parameter order). PEFT's save_pretrained takes
    it as `state_dict=` and writes the file an unsharded run writes."""
    return {n: full(p.detach()).cpu() for n, p in model.named_parameters()
            if f".{adapter}." in n and "lora_" in n}


def full_optimizer_state(model, optimizer) -> dict[str, Any]:
    """The optimizer state with whole (unsharded) tensors, keyed by parameter name
    (collective)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
    )

    return get_optimizer_state_dict(model, optimizer,
                                    options=StateDictOptions(full_state_dict=True))


def load_optimizer_state(model, optimizer, state: dict[str, Any], ckpt) -> None:
    """Load a `full_optimizer_state` into a sharded model's optimizer (every rank keeps its
    shard); a checkpoint of an unsharded run (state keyed by position) is refused."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_optimizer_state_dict,
    )

    if any(not isinstance(k, str) for k in state.get("state", {})):
        raise RLError(f"train.resume: {ckpt} was written by an unsharded run (dist=none|ddp) "
                      "and this run is dist=fsdp: resume it with the dist it was trained with")
    set_optimizer_state_dict(model, optimizer, state,
                             options=StateDictOptions(full_state_dict=True))


# settings a resumed run must share with its checkpoint: changing them mid-run silently
# changes what the optimizer state, the data position and the loss mean
RESUME_GUARD = ("model.name_or_path", "algo.name", "algo.num_generations", "train.batch_size",
                "optim.lr", "reference")


def resume_guard(run: Run) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from sft.checkpoint import hash_json

    guard = {key: OmegaConf.select(run.cfg, key, default=None) for key in RESUME_GUARD}
    # the prompts too: a re-run on changed data must not continue the old run's policy
    return guard | {"rubric_hash": run.harness.rubric.hash,
                    "data_hash": hash_json([s.to_dict() for s in run.prompts])}


def save(run: Run, metrics: dict | None = None) -> Path:
    """Atomic checkpoint: adapter, optimizer, scheduler, every rank's RNG, data position,
    harness cache. Collective: every rank calls it (each writes its own RNG state); rank 0
    writes the rest and renames the checkpoint into place."""
    from sft import dist
    from sft.checkpoint import rng_state, staging_dir

    root = run.run_dir / "checkpoints"
    name = f"{run.cfg.stage}-step-{run.step}"
    whole = None
    if run.sharded:  # every rank gathers the adapter and optimizer state; rank 0 writes them
        whole = (full_adapter_state(run.model, run.policy_adapter),
                 full_optimizer_state(run.model, run.optimizer))
    staged = staging_dir(root, name) if run.rank == 0 else root / ".staging" / name
    dist.barrier()  # rank 0 made the staging dir
    try:
        (staged / "state").mkdir(exist_ok=True)
        rng_file = "rng.pt" if run.rank == 0 else f"rng-rank{run.rank}.pt"
        torch.save(rng_state(), staged / "state" / rng_file)
        dist.barrier()  # every rank's RNG state is on disk
        if run.rank == 0:
            run.last_ckpt = _write_rank0(run, staged, root, metrics, whole)
    finally:
        dist.barrier()
        if run.rank == 0:
            shutil.rmtree(staged, ignore_errors=True)
    if run.rank != 0:
        from sft.checkpoint import checkpoint_name

        run.last_ckpt = root / checkpoint_name(run.step)
    return run.last_ckpt


def _write_rank0(run: Run, staged: Path, root: Path, metrics: dict | None,
                 whole: tuple | None = None) -> Path:
    """`whole`: (adapter, optimizer) state gathered from a sharded policy."""
    from sft.checkpoint import finalize_checkpoint

    save_adapter(run.model, staged, run.policy_adapter, whole[0] if whole else None)
    run.tokenizer.save_pretrained(staged)
    # with a generation in flight (rollout.async) its prompts are not consumed yet: a resumed
    # run draws them again, so the data order matches the uninterrupted run
    data = run.overlap.resume_position(run.data) if run.overlap is not None else run.data
    state = {"optimizer": whole[1] if whole else run.optimizer.state_dict(),
             "scheduler": run.scheduler.state_dict(),
             "train": {"step": run.step, "version": run.version, "world": run.world,
                       "data": {"epoch": data.epoch, "offset": data.offset},
                       "unscored_streak": run.unscored_streak}}
    for key, obj in state.items():
        torch.save(obj, staged / "state" / f"{key}.pt")
    if run.harness.cache is not None and (run.run_dir / CACHE_FILE).is_file():
        _copy_sqlite(run.run_dir / CACHE_FILE, staged / CACHE_FILE)
    for hook in run.hooks:  # recipe state beyond the policy (PPO: critic adapter, value head)
        hook.save(staged)
    manifest = {"stage": str(run.cfg.stage), "rubric_hash": run.harness.rubric.hash,
                "adapter_version": run.version, "resume_guard": resume_guard(run),
                "metrics": metrics or {}}
    return finalize_checkpoint(staged, root, run.step, config=run.cfg, manifest=manifest,
                               keep_last=run.cfg.train.keep_last)


def _copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy even if another connection is writing (sqlite backup API)."""
    with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(
            sqlite3.connect(dst)) as b:
        a.backup(b)


def restore_sqlite(src: Path, dst: Path) -> None:
    """`dst` becomes a copy of the SQLite file `src`, after removing the old `dst`'s WAL and
    shared-memory sidecars. A run killed with SIGKILL (the OOM killer) leaves a -wal whose
    frames belong to the killed process's database; SQLite pairs a WAL with its database by
    file name only, so replaying it onto the checkpoint's older copy mixed pages ("database
    disk image is malformed" on the first step after a resume, 2026-12-07)."""
    for side in ("-wal", "-shm", "-journal"):
        Path(f"{dst}{side}").unlink(missing_ok=True)
    tmp = dst.with_name(dst.name + ".restoring")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def check_resume_guard(run: Run, ckpt: Path, manifest: dict) -> None:
    """A checkpoint resumes only under the settings it was trained with (RESUME_GUARD and the
    rubric); `train.allow_resume_changes=true` continues anyway, with a warning."""
    saved = manifest.get("resume_guard") or {"rubric_hash": manifest.get("rubric_hash")}
    now = resume_guard(run)
    changed = [(k, saved[k], now.get(k)) for k in saved
               if saved[k] is not None and saved[k] != now.get(k)]
    if not changed:
        return
    what = "; ".join(f"{k}: checkpoint {old!r}, this run {new!r}" for k, old, new in changed)
    if run.cfg.train.allow_resume_changes:
        print(f"[{run.cfg.stage}] warning: resuming {ckpt} with changed settings ({what})",
              file=sys.stderr)
        return
    raise RLError(f"train.resume: {ckpt} was trained with other settings ({what}). Resume "
                  "with the checkpoint's settings, start a fresh run dir (or "
                  "train.resume=null), or set train.allow_resume_changes=true to continue "
                  "anyway")


def restore(run: Run, ckpt: Path) -> None:
    from sft.checkpoint import load_state, read_manifest, set_rng_state

    manifest = read_manifest(ckpt)
    check_resume_guard(run, ckpt, manifest)
    opt_state = load_state(ckpt, "optimizer")
    if run.sharded:
        load_optimizer_state(run.model, run.optimizer, opt_state, ckpt)
    elif any(isinstance(k, str) for k in opt_state.get("state", {})):
        raise RLError(f"train.resume: {ckpt} was written by a dist=fsdp run (optimizer state "
                      "keyed by parameter name); resume it with dist=fsdp on > 1 rank")
    else:
        run.optimizer.load_state_dict(opt_state)
    run.scheduler.load_state_dict(load_state(ckpt, "scheduler"))
    own = ckpt / "state" / f"rng-rank{run.rank}.pt"
    # each rank continues its own RNG stream; a rank the checkpoint did not have (a resume
    # on more ranks) starts from rank 0's
    set_rng_state(load_state(ckpt, f"rng-rank{run.rank}") if own.is_file()
                  else load_state(ckpt, "rng"))
    t = load_state(ckpt, "train")
    run.step, run.version, run.data = t["step"], t["version"], DataPosition(**t["data"])
    run.unscored_streak = t.get("unscored_streak", 0)
    for hook in run.hooks:
        hook.restore(ckpt)
    run.last_ckpt = ckpt
    print(f"[{run.cfg.stage}] resumed from {ckpt} at step {run.step}", file=sys.stderr)


def prepare_run_dir(cfg, n_prompts: int) -> tuple[Any, Path, Path | None]:
    """Start the process group, create the run dir, find the checkpoint to resume from and put
    its verdict cache back; returns (sft.dist info, run_dir, checkpoint or None).

    `n_prompts` (per step, all ranks) must split evenly: each rank rolls out whole groups."""
    from sft import dist
    from sft.checkpoint import clean_staging, prune, resolve_resume

    comm = str(cfg.dist.comm)
    info = dist.init_distributed(None if comm == "auto" else comm, int(cfg.dist.timeout_s))
    if n_prompts % info.world_size:
        raise RLError(f"train.batch_size={cfg.train.batch_size} is {n_prompts} prompts, not "
                      f"divisible over {info.world_size} ranks (each rank rolls out whole "
                      "groups of its own prompts)")
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_root = run_dir / "checkpoints"
    ckpt = resolve_resume(cfg.train.resume, ckpt_root)
    if info.rank == 0:
        clean_staging(ckpt_root)
        prune(ckpt_root, cfg.train.keep_last)  # a crash mid-clean-up left one extra
    if ckpt is not None and (ckpt / CACHE_FILE).is_file() and info.rank == 0:
        restore_sqlite(ckpt / CACHE_FILE, run_dir / CACHE_FILE)
    dist.barrier()  # no rank opens the verdict cache before rank 0 restored it
    return info, run_dir, ckpt


def start_tracking(cfg, run_dir: Path, ckpt: Path | None, stage: str):
    """The run's tracker (rank 0; a no-op elsewhere), its metrics.jsonl rewound to the resumed
    step: rows a killed run logged after its last checkpoint are replayed, one row per step."""
    from sft.checkpoint import step_of
    from sft.tracking import init_tracker

    tracker = init_tracker(cfg, run_dir, stage=stage, resume=ckpt is not None)
    tracker.rewind(step_of(ckpt) if ckpt is not None else 0)
    return tracker


class StopSignal:
    """SIGTERM / SIGUSR1 -> finish the current step, checkpoint, exit 0 (Slurm pre-emption)."""

    SIGNALS = ("SIGTERM", "SIGUSR1")

    def __init__(self):
        self.received: str | None = None
        self._old: dict = {}

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                sig = getattr(signal, name)
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def agreed(self, world: int) -> bool:
        """True on every rank when any rank received a signal (all-reduced; collective)."""
        from sft.dist import all_reduce_sum

        return bool(all_reduce_sum(torch.tensor(float(self.received is not None)), world) > 0)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
