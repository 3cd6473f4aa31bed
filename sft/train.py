"""Supervised fine-tuning recipe: LoRA (or full) SFT of a chat model on one task.

What it does, top to bottom:
1. Compose the config (conf/sft.yaml + groups), join the process group torchrun describes.
2. Build the training rows: the task's seeded train split (each Sample's system + user prompt
   followed by its reference as the assistant turn) or a custom chat JSONL (`data.path`).
3. Load the model and tokenizer (sft.model); the chat template carries a `{% generation %}`
   block so the loss covers assistant turns only (TRL `assistant_only_loss`). Wrap with LoRA
   (r16, alpha 32, all linear layers by default) or unfreeze everything (`lora=full`).
4. Train with TRL's SFTTrainer: AdamW, warm-up + cosine, 3 epochs by default. Each checkpoint
   is staged by the Trainer and renamed into `<run_dir>/checkpoints/step-N` with the config,
   data hash, rubric hash and metrics (sft.checkpoint); `train.resume=auto` (the default)
   continues from the newest complete one, so a requeued Slurm job picks up where it stopped.
5. Optionally (`eval.enabled=true`) generate on the task's eval split and score with the
   task's rubric through the harness, before (`eval.before=true`) and after training.
6. Print and log a summary: parameters trained, tokens, loss, wall time, checkpoint path.

Deviations from TRL defaults, on purpose: gradient checkpointing off unless the model preset
asks (TRL turns it on; ~30% slower for small models), bf16 only on GPUs (TRL's default bf16 is
~6x slower on AVX2 CPUs), W&B through sft.tracking instead of `report_to`.

Launch:
    python -m sft.train                                   # smollm2-135m, support_classification
    python -m sft.train debug=tiny                        # smoke run, seconds on a CPU
    python -m sft.train task=invoice_extraction eval.enabled=true
    python -m sft.train data.path=my_chats.jsonl run_name=my-run
    python -m sft.train experiment=tunesalon task=legal_rewrite            # on a GPU node
    torchrun --nproc_per_node=2 -m sft.train dist=ddp                      # or launch/torchrun_sft.sh
    torchrun --nproc_per_node=8 -m sft.train dist=deepspeed_z3 model=qwen3-32b
Exit status: 0 done, 2 bad input (config key, path, data row, checkpoint), 1 a bug.
"""

from __future__ import annotations

import contextlib
import logging
import math
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from sft import dist
from sft.checkpoint import (
    checkpoint_name,
    clean_staging,
    finalize_checkpoint,
    hash_json,
    prune,
    read_manifest,
    resolve_resume,
    step_of,
    update_manifest,
)
from sft.errors import UserInputError

log = logging.getLogger("sft.train")
REPO = Path(__file__).resolve().parents[1]


# --- data and harness ------------------------------------------------------------------------

def resolve_task(cfg) -> Any:
    """The resolved task (rewards.tasks.resolve) whose rubric grades this run; None when the
    rows come from a chat JSONL (`data.path`), which has no rubric."""
    if cfg.data.get("path"):
        return None
    from rewards import RubricError
    from rewards.tasks import TaskError, resolve

    try:
        return resolve(cfg.task)
    except (TaskError, RubricError) as e:
        raise UserInputError(f"task {cfg.task.get('name')!r}: {e}") from e


def evaluate(model, tokenizer, cfg, task, harness, tracker, prefix: str) -> dict[str, Any]:
    """Generate on the task's eval split and grade it with the evaluator rl.evaluate uses
    (rewards.evaluation); metrics under `prefix/` (`<prefix>/<metric>` for tasks that
    declare one, e.g. accuracy)."""
    from rewards.evaluation import score_completions, summarize_task
    from rewards.tasks.budget import output_budget
    from sft.data import task_samples
    from sft.generate import generate

    samples = task_samples(task, "eval")
    if cfg.eval.get("max_examples"):
        samples = samples[:int(cfg.eval.max_examples)]
    budget, why = output_budget(cfg.eval.get("max_new_tokens"), "eval.max_new_tokens", task,
                                lambda t: len(tokenizer.encode(t, add_special_tokens=False)))
    log.info("eval: max_new_tokens=%d (%s)", budget, why)
    t0 = time.perf_counter()
    outs = generate(model, tokenizer, [s.prompt for s in samples], n=1,
                    temperature=float(cfg.eval.temperature), max_new_tokens=budget,
                    batch_size=int(cfg.eval.batch_size), seed=int(cfg.seed))
    records = score_completions(task.name, samples, outs, harness)
    summary = summarize_task(records, task.metric, task.scale, seed=int(cfg.seed))
    metrics = {f"{prefix}/score": summary["value"], f"{prefix}/ci_low": summary["ci_low"],
               f"{prefix}/ci_high": summary["ci_high"], f"{prefix}/n": summary["n"],
               f"{prefix}/n_masked": summary["unscored"],
               f"{prefix}/gen_s": time.perf_counter() - t0}
    if task.metric != "score":
        metrics[f"{prefix}/{task.metric}"] = summary["value"]
    metrics.update({f"{prefix}/dim/{k}": v for k, v in summary["dimensions"].items()})
    metrics.update({f"{prefix}/check/{k}/pass_rate": v["pass_rate"]
                    for k, v in summary["checks"].items()})
    tracker.log(metrics)
    tracker.log_table(f"{prefix}/samples", ["id", "completion", "reference", "score"],
                      [[r["id"], r["completion"], str(r["reference"]), r["score"]]
                       for r in records])
    return metrics


# --- trainer wiring --------------------------------------------------------------------------

_RENAME = {"loss": "loss/train", "grad_norm": "optim/grad_norm", "learning_rate": "optim/lr",
           "epoch": "train/epoch", "num_input_tokens_seen": "perf/tokens_seen",
           "train_tokens_per_second": "perf/tokens_per_s",
           "mean_token_accuracy": "train/token_accuracy", "entropy": "train/entropy",
           "train_loss": "loss/train_mean", "train_runtime": "perf/train_runtime_s",
           "train_samples_per_second": "perf/samples_per_s",
           "train_steps_per_second": "perf/steps_per_s"}


def make_callbacks(cfg, tracker, ckpt_root: Path, manifest: dict[str, Any]):
    from transformers import TrainerCallback

    class TrackerCallback(TrainerCallback):
        """Trainer logs -> namespaced metrics on rank 0 (see _RENAME; the rest under train/)."""

        def on_log(self, args, state, control, logs=None, **kw):
            if state.is_world_process_zero and logs:
                tracker.log({_RENAME.get(k, f"train/{k}"): v for k, v in logs.items()
                             if isinstance(v, int | float)}, step=state.global_step)

    class CheckpointCallback(TrainerCallback):
        """Turn the Trainer's staged `checkpoint-N` into a complete `step-N` (rank 0)."""

        def on_save(self, args, state, control, **kw):
            dist.barrier()  # every rank has written its shard / RNG file
            if state.is_world_process_zero:
                staged = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                losses = [h["loss"] for h in state.log_history if "loss" in h]
                final = state.global_step >= state.max_steps
                path = finalize_checkpoint(
                    staged, ckpt_root, state.global_step, config=cfg,
                    manifest={**manifest, "final": final, "epoch": state.epoch,
                              "metrics": {"loss/train": losses[-1] if losses else None}},
                    keep_last=cfg.train.get("keep_last"))
                log.info("checkpoint %s", path)
            dist.barrier()

    return [TrackerCallback(), CheckpointCallback()]


def sft_config(cfg, ckpt_root: Path, model_dtype):
    import torch
    from trl import SFTConfig

    use_cuda = torch.cuda.is_available()
    ds_config = cfg.dist.get("deepspeed_config") if cfg.dist.backend == "deepspeed" else None
    if ds_config and not Path(ds_config).is_absolute() and not Path(ds_config).exists():
        ds_config = str(REPO / ds_config)
    t, o = cfg.train, cfg.optim
    return SFTConfig(
        output_dir=str(ckpt_root / ".staging"), seed=int(cfg.seed),
        num_train_epochs=float(t.epochs), max_steps=int(t.max_steps),
        per_device_train_batch_size=int(t.per_device_batch_size),
        gradient_accumulation_steps=int(t.grad_accum),
        optim=o.name, learning_rate=float(o.lr), weight_decay=float(o.weight_decay),
        adam_beta1=float(o.betas[0]), adam_beta2=float(o.betas[1]), adam_epsilon=float(o.eps),
        lr_scheduler_type=o.scheduler, warmup_steps=float(o.warmup_ratio),
        max_grad_norm=float(o.max_grad_norm) if o.get("max_grad_norm") is not None else 0.0,
        # bf16/fp16 autocast only on GPUs and only when the weights are in that dtype
        bf16=use_cuda and model_dtype == torch.bfloat16,
        fp16=use_cuda and model_dtype == torch.float16,
        use_cpu=not use_cuda, gradient_checkpointing=False,
        assistant_only_loss=bool(t.assistant_only_loss), max_length=int(cfg.data.max_length),
        packing=False, logging_steps=int(t.logging_steps), logging_first_step=True,
        # save at the end always (Trainer saves at max_steps under the steps strategy)
        save_strategy="steps", save_steps=int(t.save_steps or 10**9), save_only_model=False,
        report_to="none", disable_tqdm=not t.get("progress", True),
        include_num_input_tokens_seen="non_padding",
        ddp_backend=None if cfg.dist.comm == "auto" else cfg.dist.comm,
        ddp_find_unused_parameters=bool(cfg.dist.find_unused_parameters),
        ddp_timeout=int(cfg.dist.timeout_s), deepspeed=ds_config,
        dataloader_num_workers=0, dataset_num_proc=None)


# --- the recipe ------------------------------------------------------------------------------

def run(cfg) -> dict[str, Any]:
    """Train per `cfg`; returns the summary dict (also printed, logged and in summary.json)."""
    from sft.config_rules import SFT_RULES, check

    check(cfg, SFT_RULES)
    from sft.data import load_train_rows
    from sft.model import count_parameters, load_model, load_tokenizer, setup_trainable
    from sft.tracking import init_tracker

    dist.init_distributed(None if cfg.dist.comm == "auto" else cfg.dist.comm,
                          int(cfg.dist.timeout_s))
    run_dir = Path(cfg.run_dir)
    ckpt_root = run_dir / "checkpoints"
    resume = resolve_resume(cfg.train.get("resume"), ckpt_root)
    task = resolve_task(cfg)
    rows, data_desc = load_train_rows(cfg, task)
    if resume is not None:
        check_same_data(resume, rows)
        if read_manifest(resume).get("final"):
            log.warning("%s is the final checkpoint of a finished run: nothing to train", resume)
            return {"checkpoint": str(resume), "resumed_finished": True}
    harness = None
    if task is not None:
        from rewards import Harness

        harness = Harness.from_config(task.rubric, cfg.get("judge"))
    rubric_hash = task.rubric_hash if task is not None else None
    if cfg.eval.enabled and harness is None:
        raise UserInputError("eval.enabled=true needs a suite task with a rubric "
                             f"(task={cfg.task.name}, data.path={cfg.data.get('path')})")
    # user input is validated above; the slow imports (TRL 10-20 s) come after
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    torch.manual_seed(int(cfg.seed))
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model)
    dtype = model.dtype
    model = setup_trainable(model, cfg.lora,
                            gradient_checkpointing=bool(cfg.model.gradient_checkpointing))
    trainable, total = count_parameters(model)
    if dist.is_main():  # leftovers of a save that crashed; resume reads step-N, never these
        clean_staging(ckpt_root)
    dist.barrier()
    tracker = init_tracker(cfg, run_dir, stage="sft", resume=resume is not None)
    if dist.is_main():
        prune(ckpt_root, cfg.train.get("keep_last"))  # a crash mid-clean-up left one extra
        tracker.rewind(step_of(resume) if resume is not None else 0)
    manifest = {"stage": "sft", "data": data_desc, "data_hash": hash_json(rows),
                "n_rows": len(rows), "rubric_hash": rubric_hash,
                "model": str(cfg.model.name_or_path), "lora": bool(cfg.lora.enabled)}
    summary: dict[str, Any] = {}
    if cfg.eval.enabled and cfg.eval.get("before") and dist.is_main():
        summary.update(evaluate(model, tokenizer, cfg, task, harness, tracker, "eval_before"))
    dist.barrier()
    trainer = SFTTrainer(model=model, args=sft_config(cfg, ckpt_root, dtype),
                         train_dataset=Dataset.from_list([{"messages": r} for r in rows]),
                         processing_class=tokenizer,
                         callbacks=make_callbacks(cfg, tracker, ckpt_root, manifest))
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    wall = time.perf_counter() - t0
    final = ckpt_root / checkpoint_name(trainer.state.global_step)
    summary.update(train_summary(trainer, out, rows, trainable, total, wall, final))
    if cfg.eval.enabled and dist.is_main():
        if cfg.dist.backend == "deepspeed":
            log.warning("eval skipped under DeepSpeed (sharded weights): evaluate %s", final)
        else:
            summary.update(evaluate(trainer.model, tokenizer, cfg, task, harness, tracker, "eval"))
    if dist.is_main():
        update_manifest(final, {"metrics": {k: v for k, v in summary.items()
                                            if isinstance(v, int | float) or v is None}})
        tracker.summary(summary)
        print(format_summary(cfg, summary, data_desc), flush=True)
    tracker.finish()
    dist.barrier()
    if dist.is_main():
        clean_staging(ckpt_root)
    return summary


def check_same_data(ckpt: Path, rows: list) -> None:
    """A checkpoint continues (or stands for) only the run on its own rows: a re-run on
    changed data must not resume it, nor report it as trained on the new data."""
    saved, now = read_manifest(ckpt).get("data_hash"), hash_json(rows)
    if saved is not None and saved != now:
        raise UserInputError(
            f"train.resume: {ckpt} was trained on other data (data hash {saved}; this run's "
            f"rows hash to {now}: task.path, task.* or data.* changed). Start a fresh run in "
            "its own dir (another run_name=..., or run_dir=...); train.resume=null in this dir "
            "would mix the two runs' checkpoints")


def train_summary(trainer, out, rows, trainable, total, wall, final) -> dict[str, Any]:
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    seen = int(trainer.state.num_input_tokens_seen or 0)
    # TRL folds the assistant mask into labels (-100 outside assistant turns)
    labels = trainer.train_dataset["labels"] \
        if "labels" in trainer.train_dataset.column_names else []
    return {"params/trainable": trainable, "params/total": total,
            "train/rows": len(rows), "train/steps": trainer.state.global_step,
            "train/epochs": trainer.state.epoch,
            "perf/tokens_seen": seen,
            "perf/loss_tokens_per_epoch": sum(sum(t != -100 for t in row) for row in labels),
            "loss/first": losses[0] if losses else None,
            "loss/last": losses[-1] if losses else None,
            "loss/train_mean": out.training_loss if math.isfinite(out.training_loss) else None,
            "perf/wall_s": wall, "perf/tokens_per_s": seen / wall if wall > 0 else None,
            "perf/peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checkpoint": str(final)}


def format_summary(cfg, s: dict[str, Any], data_desc: str) -> str:
    def num(v, fmt="{:.4f}"):
        return "n/a" if v is None else fmt.format(v)

    what = f"LoRA r{cfg.lora.r}" if cfg.lora.enabled else "full fine-tune"
    lines = [
        f"SFT done: {cfg.model.name} + {what} on {data_desc}",
        f"  params trained  {s['params/trainable']:,} of {s['params/total']:,} "
        f"({100 * s['params/trainable'] / max(s['params/total'], 1):.2f}%)",
        f"  steps / epochs  {s['train/steps']} / {num(s['train/epochs'], '{:.2f}')} "
        f"over {s['train/rows']} rows",
        f"  tokens          {s['perf/tokens_seen']:,} seen, "
        f"{s['perf/loss_tokens_per_epoch']:,} in the loss per epoch",
        f"  loss            {num(s['loss/first'])} -> {num(s['loss/last'])} "
        f"(mean {num(s['loss/train_mean'])})",
        f"  wall time       {s['perf/wall_s']:.1f} s ({num(s['perf/tokens_per_s'], '{:.0f}')} "
        f"tokens/s, peak RSS {s['perf/peak_rss_mb']:.0f} MB)",
        f"  checkpoint      {s['checkpoint']}"]
    for prefix in ("eval_before", "eval"):
        if f"{prefix}/score" in s:
            lines.append(f"  {prefix:<15} score {num(s[f'{prefix}/score'])} "
                         f"[{num(s[f'{prefix}/ci_low'])}, {num(s[f'{prefix}/ci_high'])}] "
                         f"(95% CI, n={s[f'{prefix}/n']})")
    return "\n".join(lines)


# --- entry point -----------------------------------------------------------------------------

def _drop_empty_run_dir(run_dir: Path, job_name: str) -> None:
    """After a user error, remove what Hydra created in a run dir that has no outputs."""
    if not run_dir.is_dir() or (run_dir / "checkpoints").exists() \
            or (run_dir / "metrics.jsonl").exists():
        return
    shutil.rmtree(run_dir / ".hydra", ignore_errors=True)
    (run_dir / f"{job_name}.log").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only if now empty


def _drop_run_dir_after_error(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig

    if dist.is_main():
        _drop_empty_run_dir(Path(cfg.run_dir), HydraConfig.get().job.name)


def cli() -> None:
    """`python -m sft.train [overrides]`: exit 0 done, 2 bad input, 1 a bug."""
    from sft.cli import hydra_cli

    hydra_cli("sft", run, on_user_error=_drop_run_dir_after_error)


if __name__ == "__main__":
    cli()
