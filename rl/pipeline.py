"""The main job, end to end: evaluate the base model, SFT, evaluate, GRPO, evaluate, report.

    base model ──eval──► SFT (sft.train.run) ──eval──► GRPO (rl.grpo.train) ──eval──► report.md
                                                                                     reward_curves.png

Every stage is the same code its own entry point runs (`python -m rl.evaluate`, `sft.train`,
`rl.grpo`), called in-process on a config composed from that stage's primary YAML plus the
overrides built here from conf/pipeline.yaml, so a pipeline number is reproducible by running
the stage alone (report.md lists the commands). All three evaluations use the same harness
(the task's rubric), the same eval split and greedy decoding, so the rows are comparable; the
report records the rubric hash of each.

Stages write into `<run_dir>/{eval-base,sft,eval-sft,grpo,eval-rl}`; with `train.resume=auto`
(default) a re-run continues a killed SFT or GRPO stage and skips finished ones.

Launch:
    python -m rl.pipeline                       # smollm2-135m, support_classification, ~15 min CPU
    python -m rl.pipeline debug=tiny            # tiny-random, a handful of steps, < 2 min
    python -m rl.pipeline task=invoice_extraction grpo.algo=dapo grpo.max_steps=50
Exit status: 0 done, 2 bad input, 1 a bug.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from sft.errors import USER_ERROR_EXIT, UserInputError

CONF = Path(__file__).resolve().parents[1] / "conf"
STAGES = ("base", "sft", "rl")


def compose(name: str, overrides: list[str]):
    """A primary config from conf/ with overrides, inside or outside a running Hydra app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(name, overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(name, overrides=overrides)


def _q(v: Any) -> str:
    """An override value Hydra parses back to the same thing (paths, null)."""
    if v is None:
        return "null"
    s = str(v)
    return f"'{s}'" if any(c in s for c in " ,=[]{}()'\"") else s


def common_overrides(cfg) -> list[str]:
    """Model, task and logger choices every stage shares."""
    out = [f"model={cfg.model.name}", f"model.name_or_path={_q(cfg.model.name_or_path)}",
           f"task={cfg.task.name}", f"logger={cfg.logger.name}"]
    for key in ("n_train", "n_eval", "seed", "source", "path"):
        if key in cfg.task:
            out.append(f"task.{key}={_q(cfg.task[key])}")
    return out + list(cfg.get("overrides") or [])


def eval_overrides(cfg, stage: str, adapter: str | None) -> list[str]:
    e = cfg.eval
    return common_overrides(cfg) + [
        f"run_dir={_q(Path(cfg.run_dir) / f'eval-{stage}')}",
        f"run_name={cfg.run_name}-eval-{stage}", f"adapter={_q(adapter)}",
        f"sampling.max_new_tokens={int(e.max_new_tokens)}",
        f"eval.max_examples={_q(e.max_examples)}", f"rollout.batch_size={int(e.batch_size)}",
        f"eval.progress={str(bool(e.progress)).lower()}", "eval.plot=false"]


def sft_overrides(cfg) -> list[str]:
    s, cap = cfg.sft, cfg.train.get("max_steps")
    return common_overrides(cfg) + [
        f"run_dir={_q(Path(cfg.run_dir) / 'sft')}", f"run_name={cfg.run_name}-sft",
        f"train.max_steps={int(cap or s.max_steps)}",
        f"train.per_device_batch_size={int(s.batch_size)}", "train.grad_accum=1",
        f"train.epochs={int(s.epochs)}", f"data.max_examples={_q(s.max_examples)}",
        f"data.max_length={int(s.max_length)}", f"optim.lr={float(s.lr)}",
        f"train.resume={_q(cfg.train.resume)}", "eval.enabled=false",
        f"train.progress={str(bool(cfg.train.progress)).lower()}", "train.logging_steps=1"]


def grpo_overrides(cfg, adapter: str | None) -> list[str]:
    g, cap = cfg.grpo, cfg.train.get("max_steps")
    return common_overrides(cfg) + [
        f"algo={g.algo}", f"run_dir={_q(Path(cfg.run_dir) / 'grpo')}",
        f"run_name={cfg.run_name}-grpo", f"model.adapter={_q(adapter)}",
        f"train.max_steps={int(cap or g.max_steps)}", f"train.batch_size={int(g.batch_size)}",
        f"train.micro_batch_size={int(g.micro_batch_size)}",
        f"algo.num_generations={int(g.num_generations)}", f"optim.lr={float(g.lr)}",
        f"sampling.max_new_tokens={int(g.max_new_tokens)}",
        f"sampling.temperature={float(g.temperature)}", f"train.resume={_q(cfg.train.resume)}",
        f"train.save_every={int(g.save_every)}", "train.table_every=5",
        f"train.progress={str(bool(cfg.train.progress)).lower()}"] + list(g.get("extra") or [])


def run_eval(cfg, stage: str, adapter: str | None) -> dict[str, Any]:
    from rl.evaluate import evaluate

    scores = evaluate(compose("eval", eval_overrides(cfg, stage, adapter)))
    return scores["tasks"][cfg.task.name]


def run_sft(cfg) -> str:
    from sft.train import run

    summary = run(compose("sft", sft_overrides(cfg)))
    return str(summary["checkpoint"])


def run_grpo(cfg, adapter: str | None) -> dict[str, Any]:
    from rl.grpo import train

    return train(compose("grpo", grpo_overrides(cfg, adapter)))


def grpo_history(run_dir: Path) -> list[dict]:
    """metrics.jsonl of the GRPO stage (complete even when the stage resumed)."""
    path = run_dir / "grpo" / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    last: dict[int, dict] = {}
    for r in rows:  # a resumed run may re-log a step: keep the last
        last[r["step"]] = r
    return [last[k] for k in sorted(last)]


def plot_curves(history: list[dict], path: Path, window: int = 5) -> Path | None:
    """reward/total and each reward/dim/<name> per GRPO step (raw + running mean)."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["reward/total"] + sorted({k for h in history for k in h if k.startswith("reward/dim/")})
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True,
                             squeeze=False)
    steps = [h["step"] for h in history]
    for ax, key in zip(axes[:, 0], keys, strict=True):
        ys = [h.get(key) for h in history]
        pts = [(s, y) for s, y in zip(steps, ys, strict=True) if y is not None]
        if pts:
            xs, vs = zip(*pts, strict=True)
            ax.plot(xs, vs, ".", alpha=0.4, label="per step")
            smooth = [sum(vs[max(0, i - window + 1):i + 1]) / len(vs[max(0, i - window + 1):i + 1])
                      for i in range(len(vs))]
            ax.plot(xs, smooth, "-", label=f"mean of last {window}")
        ax.set_ylabel(key.removeprefix("reward/"))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("GRPO step")
    fig.suptitle("GRPO training reward (harness score of sampled completions)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _f(v: Any) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def render_report(cfg, evals: dict[str, dict], walls: dict[str, float], grpo_out: dict,
                  history: list[dict], plot: Path | None) -> str:
    """report.md: the base / SFT / RL table, per-dimension rows, timings, commands."""
    dims = sorted({d for s in evals.values() for d in s.get("dimensions", {})})
    first = next(iter(evals.values()))
    lo, hi = first.get("scale", [0, 1])
    head = "| stage | " + f"{first['metric']} ({lo:g}–{hi:g}) | 95% CI | " + \
        " | ".join(f"dim/{d}" for d in dims) + " | n | unscored | rubric |"
    lines = [f"# Pipeline report: {cfg.model.name} on {cfg.task.name}", "",
             f"- **run dir**: `{cfg.run_dir}`",
             f"- **eval**: {first['n']} examples of the eval split, greedy, "
             f"max {cfg.eval.max_new_tokens} new tokens; score = the task's rubric harness",
             f"- **SFT**: {walls.get('sft_steps', '?')} steps; **GRPO**: {grpo_out.get('step')} "
             f"steps of `{cfg.grpo.algo}`, G={cfg.grpo.num_generations}, "
             f"{cfg.grpo.batch_size} completions/step", "", head,
             "|" + "---|" * (6 + len(dims))]
    names = {"base": "base", "sft": "SFT", "rl": "RL (GRPO)"}
    for stage, s in evals.items():
        ci = "–" if s.get("ci_low") is None else f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}]"
        cells = [_f(s.get("dimensions", {}).get(d)) for d in dims]
        lines.append(f"| {names[stage]} | {_f(s.get('value'))} | {ci} | {' | '.join(cells)} | "
                     f"{s['n']} | {s.get('unscored', 0)} | {s.get('rubric_hash', '–')} |")
    lines += ["", "## Wall time (this machine)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in walls.items() if k != "sft_steps"]
    if history:
        r0 = [h["reward/total"] for h in history[:3] if h.get("reward/total") is not None]
        r1 = [h["reward/total"] for h in history[-3:] if h.get("reward/total") is not None]
        lines += ["", "## GRPO training reward", "",
                  f"Mean reward of the first 3 steps {_f(sum(r0) / len(r0) if r0 else None)}, "
                  f"of the last 3 {_f(sum(r1) / len(r1) if r1 else None)} (sampled at "
                  f"temperature {cfg.grpo.temperature}, so lower than greedy eval).", ""]
        if plot is not None:
            lines.append(f"![reward per dimension]({plot.name})")
    lines += ["", "## Reproduce a stage alone", "", "```"]
    lines += [f"python -m rl.evaluate {' '.join(eval_overrides(cfg, 'base', None))}",
              f"python -m sft.train {' '.join(sft_overrides(cfg))}",
              f"python -m rl.grpo {' '.join(grpo_overrides(cfg, '<sft checkpoint>'))}", "```", ""]
    return "\n".join(lines)


def run(cfg) -> dict[str, Any]:
    """All stages; returns {"evals": {stage: summary}, "report": path, "walls": {...}}."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    walls: dict[str, Any] = {}
    evals: dict[str, dict] = {}

    def timed(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        walls[name] = time.perf_counter() - t0
        print(f"[pipeline] {name}: {walls[name]:.1f} s", file=sys.stderr, flush=True)
        return out

    t_start = time.perf_counter()
    evals["base"] = timed("eval base", run_eval, cfg, "base", None)
    sft_ckpt = timed("sft", run_sft, cfg)
    walls["sft_steps"] = int(cfg.train.get("max_steps") or cfg.sft.max_steps)
    evals["sft"] = timed("eval sft", run_eval, cfg, "sft", sft_ckpt)
    grpo_out = timed("grpo", run_grpo, cfg, sft_ckpt)
    if not grpo_out.get("adapter"):
        raise UserInputError("GRPO produced no checkpoint; see the grpo stage log above")
    evals["rl"] = timed("eval rl", run_eval, cfg, "rl", grpo_out["adapter"])
    walls["total"] = time.perf_counter() - t_start
    history = grpo_history(run_dir)
    plot = plot_curves(history, run_dir / "reward_curves.png")
    report = run_dir / "report.md"
    report.write_text(render_report(cfg, evals, walls, grpo_out, history, plot))
    (run_dir / "pipeline.json").write_text(json.dumps(
        {"evals": evals, "walls": walls, "sft_checkpoint": sft_ckpt,
         "rl_checkpoint": grpo_out["adapter"]}, indent=2, default=str) + "\n")
    print(report.read_text(), flush=True)
    return {"evals": evals, "walls": walls, "report": str(report),
            "plot": str(plot) if plot else None}


def cli() -> None:
    import hydra

    from rewards import RubricError
    from rewards.tasks import TaskError

    entered = False

    @hydra.main(config_path="../conf", config_name="pipeline", version_base="1.3")
    def _main(cfg) -> None:
        nonlocal entered
        entered = True
        try:
            run(cfg)
        except (UserInputError, RubricError, TaskError) as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(USER_ERROR_EXIT)

    try:
        _main()
    except SystemExit as e:
        if e.code == 1 and not entered:
            sys.exit(USER_ERROR_EXIT)
        raise


if __name__ == "__main__":
    cli()
