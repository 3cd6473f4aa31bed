"""The main job, end to end: evaluate the base model, SFT, evaluate, GRPO, evaluate, report.

    base model ──eval──► SFT (sft.train.run) ──eval──► GRPO (rl.grpo.train) ──eval──► report.md
                                                                                     reward_curves.png

Every stage is the same code its own entry point runs (`python -m rl.evaluate`, `sft.train`,
`rl.grpo`), called in-process on a config composed from that stage's primary YAML with the
stage's mapping from conf/pipeline.yaml (`evaluate`, `sft`, `grpo`) passed straight through
in the stage's own key names, and the pipeline's model, task and logger nodes; a pipeline
number is reproducible by running the stage alone (report.md lists the commands). All three evaluations use the same harness
(the task's rubric), the same eval split and greedy decoding, so the rows are comparable; the
report records the rubric hash of each.

Stages write into `<run_dir>/{eval-base,sft,eval-sft,grpo,eval-rl}`; with `train.resume=auto`
(default) a re-run continues a killed SFT or GRPO stage and skips finished ones; an evaluation
whose config and adapter weights match a finished one is reused (`eval_fingerprint.json`).

Launch:
    python -m rl.pipeline                       # smollm2-135m, support_classification_short, ~20 min on 2 CPU cores
    python -m rl.pipeline debug=tiny sft.train.max_steps=2 grpo.train.max_steps=2   # < 2 min
    python -m rl.pipeline task=invoice_extraction grpo.algo=dapo grpo.train.max_steps=50
    python -m rl.pipeline sft.optim.lr=1e-3 evaluate.eval.max_examples=64 +sft.lora.r=32
    python -m rl.pipeline 'grpo.algo={name:dapo,beta:0.04}'  # an option and some of its fields
    python -m rl.pipeline frontier.base_url=https://api.x.com/v1 frontier.model=big \
        frontier.api_key_env=X_API_KEY        # + a frontier row: any OpenAI-compatible endpoint

report.md and pipeline.json carry paired deltas (SFT - base, RL - SFT, RL - base, frontier - RL):
the mean difference over the eval sample ids both rows scored, with a paired bootstrap 95% CI
(rewards.evaluation.paired_bootstrap_ci), read from each eval stage's samples.jsonl.
Exit status: 0 done, 2 bad input, 1 a bug.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sft.cli import compose
from sft.errors import UserInputError

CONF = Path(__file__).resolve().parents[1] / "conf"
# the nodes every stage takes from the pipeline's own config groups, unchanged
SHARED_NODES = ("model", "task", "logger")


# an unquoted override value Hydra reads back as this same string: no grammar characters, and
# not a word or number it would turn into null, a bool, an int or a float
_PLAIN = re.compile(r"[A-Za-z0-9_./+@~-]+")
_NOT_STR = re.compile(r"(?i)null|true|false|[-+]?(\d[\d_]*)?\.?\d*(e[-+]?\d+)?|[-+]?(inf|nan)")


def _q(v: Any) -> str:
    """An override value Hydra parses back to exactly `v` (paths, null, lists, mappings, text
    with quotes, braces, `${` or newlines: a prompt template survives the trip)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(_q(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{k}:{_q(x)}" for k, x in v.items()) + "}"
    s = str(v)
    if _PLAIN.fullmatch(s) and not _NOT_STR.fullmatch(s):
        return s
    # quoted: a backslash run before a quote (or the closing quote) doubles, the quote is
    # escaped, and `${` is escaped so OmegaConf does not interpolate it
    s = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), s)
    return "'" + s.replace("${", "\\${") + "'"


# bash's $'...' escapes for what a one-line command cannot hold as it is
_ANSI_C = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _shell(arg: str) -> str:
    """A command-line argument as bash reads it back, on one line (report.md's commands): a
    prompt template's newlines become bash's $'...\\n' escapes."""
    if re.fullmatch(r"[A-Za-z0-9_./+@~=:,-]+", arg):
        return arg
    if re.search(r"[\x00-\x1f\x7f]", arg):
        return "$'" + "".join(_ANSI_C.get(c) or (c if c.isprintable() else f"\\x{ord(c):02x}")
                              for c in arg) + "'"
    if "'" not in arg:
        return f"'{arg}'"
    if not re.search(r'["$`\\!]', arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def as_overrides(spec: Any, prefix: str = "") -> list[str]:
    """A stage's mapping from conf/pipeline.yaml -> Hydra overrides in that stage's own key
    names. A top-level key naming a config group takes an option from a string value
    (`algo: dapo` -> `algo=dapo`); a mapping under it overrides fields of that option, and its
    `name`, when it names an option file, selects the option too."""
    from omegaconf import OmegaConf

    if type(spec).__module__.startswith("omegaconf"):
        spec = OmegaConf.to_container(spec, resolve=True)
    out: list[str] = []
    for key, value in (spec or {}).items():
        path = f"{prefix}{key}"
        is_group = not prefix and (CONF / str(key)).is_dir()
        if isinstance(value, Mapping):
            name = value.get("name")
            if is_group and isinstance(name, str) and (CONF / key / f"{name}.yaml").is_file():
                # the option is selected; its own `name` field (algo has one, rollout not)
                # comes with it
                out.append(f"{path}={name}")
                value = {k: v for k, v in value.items() if k != "name"}
            out += as_overrides(value, f"{path}.")
        else:
            out.append(f"{path}={_q(value)}")
    return out


def stage_config(cfg, primary: str, spec: Any, run_dir: Path, run_name: str,
                 extra: list[str] = ()):
    """Compose `primary` (eval | sft | grpo | ...) with the pipeline's stage mapping `spec`,
    then give it the pipeline's model, task and logger nodes (so every stage sees exactly
    the same ones, overrides included). A bad key names the stage."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    overrides = [*as_overrides(spec), *list(cfg.get("overrides") or []),
                 f"run_dir={_q(run_dir)}", f"run_name={_q(run_name)}", *extra]
    try:
        stage = compose(primary, overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise UserInputError(f"pipeline: the {primary} stage does not accept its overrides "
                             f"({e}); check the `{primary}` keys of conf/pipeline.yaml and "
                             "the command line") from e
    with open_dict(stage):
        for node in SHARED_NODES:
            stage[node] = OmegaConf.create(OmegaConf.to_container(cfg[node], resolve=True))
    return stage


def rl_stage_config(cfg, adapter: str | None):
    """The RL stage: conf/<cfg.rl>.yaml with the pipeline's `<cfg.rl>` mapping, starting
    from the SFT adapter."""
    name = str(cfg.rl)
    if not (CONF / f"{name}.yaml").is_file() or name not in cfg:
        raise UserInputError(f"pipeline: rl={name!r} names no RL recipe; expected grpo or ppo")
    from omegaconf import open_dict

    stage = stage_config(cfg, name, cfg[name], Path(cfg.run_dir) / name, f"{cfg.run_name}-{name}",
                         rl_extra(cfg))
    with open_dict(stage):
        stage.model.adapter = adapter
    return stage


def frontier_overrides(cfg) -> list[str]:
    """The eval stage's rollout for the frontier row: any OpenAI-compatible endpoint
    (conf/rollout/openai.yaml); [] when `frontier.base_url` is unset (no frontier row)."""
    f = cfg.get("frontier") or {}
    if not f.get("base_url"):
        return []
    return ["rollout=openai", f"rollout.base_url={_q(f.base_url)}",
            f"rollout.model={_q(f.get('model'))}", f"rollout.api_key_env={_q(f.get('api_key_env'))}"]


def run_eval(cfg, stage: str, adapter: str | None) -> dict[str, Any]:
    """One evaluation; its summary gains `records` (the per-sample rows of samples.jsonl,
    which the paired deltas match by sample id; pipeline.json leaves them out)."""
    from omegaconf import OmegaConf

    from rl.evaluate import load_records

    spec, extra = cfg.evaluate, [f"adapter={_q(adapter)}"]
    if stage == "frontier":  # the local engine's settings (evaluate.rollout) do not apply
        spec = {k: v for k, v in OmegaConf.to_container(cfg.evaluate, resolve=True).items()
                if k != "rollout"}
        extra = frontier_overrides(cfg)
    ecfg = stage_config(cfg, "eval", spec, Path(cfg.run_dir) / f"eval-{stage}",
                        f"{cfg.run_name}-eval-{stage}", extra)
    scores = evaluate_once(ecfg)
    summary = dict(scores["tasks"][cfg.task.name])
    if stage == "frontier":
        summary["model"] = scores.get("model")
    summary["records"] = load_records(ecfg.run_dir, cfg.task.name)
    return summary


# written beside scores.json once an evaluation finished: what it evaluated
EVAL_FINGERPRINT = "eval_fingerprint.json"


def eval_fingerprint(ecfg) -> str:
    """sha256 of what decides an evaluation's numbers: the composed eval config (less where
    it writes and how it shows progress) and the adapter's weights, so a re-trained adapter
    at the same path is evaluated again."""
    import hashlib

    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(ecfg, resolve=True)
    # the adapter counts by its weights, not its path: a run dir copied or moved (an
    # ablation starting from the same SFT checkpoint) keeps its finished evaluations
    adapter = plain.pop("adapter", None)
    for key in ("run_dir", "run_name", "hydra", "logger"):
        plain.pop(key, None)
    for key in ("progress", "plot", "table_rows"):
        (plain.get("eval") or {}).pop(key, None)
    h = hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode())
    h.update(b"adapter" if adapter else b"base")
    if adapter:
        from sft.model import adapter_path

        folder = adapter_path(adapter)
        for f in [folder / "adapter_config.json", *sorted(folder.glob("adapter_model.*"))]:
            h.update(f.read_bytes())
    return h.hexdigest()


def evaluate_once(ecfg) -> dict[str, Any]:
    """rl.evaluate's scores for `ecfg`, or the finished ones in its run dir when they were
    made from the same config and adapter (a re-run pipeline resumes after its last finished
    stage instead of generating again: a long-output task's evaluation is minutes on a CPU)."""
    from rl.evaluate import evaluate

    run_dir = Path(ecfg.run_dir)
    fp, done = eval_fingerprint(ecfg), run_dir / EVAL_FINGERPRINT
    if done.is_file() and (run_dir / "scores.json").is_file() and \
            json.loads(done.read_text()).get("fingerprint") == fp:
        print(f"[pipeline] {run_dir.name}: finished with the same config and adapter; reusing "
              f"{run_dir / 'scores.json'}", file=sys.stderr, flush=True)
        return json.loads((run_dir / "scores.json").read_text())
    done.unlink(missing_ok=True)
    scores = evaluate(ecfg)
    done.write_text(json.dumps({"fingerprint": fp}) + "\n")
    return scores


# (name in pipeline.json, later row, earlier row): the paired deltas the report shows
DELTAS = (("sft_minus_base", "sft", "base"), ("rl_minus_sft", "rl", "sft"),
          ("rl_minus_base", "rl", "base"), ("frontier_minus_rl", "frontier", "rl"))


def paired_deltas(evals: dict[str, dict], seed: int = 0) -> dict[str, dict]:
    """{name: {mean, ci_low, ci_high, n, dimensions}} for each pair in DELTAS whose rows both
    ran: the later row minus the earlier one over the eval sample ids both scored, with a
    paired bootstrap 95% CI (1000 resamples) — pairing removes the example-to-example spread
    that makes two unpaired CIs overlap."""
    from rewards.evaluation import paired_delta

    return {name: paired_delta(evals[earlier]["records"], evals[later]["records"], seed=seed,
                               dimensions=True) | {"later": later, "earlier": earlier}
            for name, later, earlier in DELTAS if later in evals and earlier in evals}


def run_sft(cfg) -> tuple[str, int]:
    from sft.train import run

    scfg = stage_config(cfg, "sft", cfg.sft, Path(cfg.run_dir) / "sft", f"{cfg.run_name}-sft")
    summary = run(scfg)
    return str(summary["checkpoint"]), int(scfg.train.max_steps)


def run_rl(cfg, adapter: str | None) -> dict[str, Any]:
    import importlib

    recipe = importlib.import_module(f"rl.{cfg.rl}")
    return recipe.train(rl_stage_config(cfg, adapter))


def rl_history(stage_dir: Path) -> list[dict]:
    """metrics.jsonl of the RL stage (complete even when the stage resumed)."""
    path = stage_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    last: dict[int, dict] = {}
    for r in rows:  # a resumed run may re-log a step: keep the last
        last[r["step"]] = r
    return [last[k] for k in sorted(last)]


def plot_curves(history: list[dict], path: Path, window: int = 5) -> Path | None:
    """reward/total and each reward/dim/<name> per RL step (raw + running mean)."""
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
    axes[-1, 0].set_xlabel("RL step")
    fig.suptitle("RL training reward (harness score of sampled completions)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _f(v: Any) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def shared_overrides(cfg) -> list[str]:
    """The pipeline's model, task and logger as overrides (for the reproduce commands): every
    key of the task (and of a model that is not a conf/model option) with `++` (adds or
    overrides), so the command rebuilds exactly this run's nodes whatever file or config dir
    they came from — a custom task's rubric, template, columns and budget included."""
    from omegaconf import OmegaConf

    task = OmegaConf.to_container(cfg.task, resolve=True)
    base = task["name"] if (CONF / "task" / f"{task['name']}.yaml").is_file() else "custom"
    out = [f"model={cfg.model.name}", f"model.name_or_path={_q(cfg.model.name_or_path)}"]
    if not (CONF / "model" / f"{cfg.model.name}.yaml").is_file():
        model = OmegaConf.to_container(cfg.model, resolve=True)
        out = ["model=smollm2-135m", *(f"++model.{k}={_q(v)}" for k, v in model.items())]
    out += [f"task={base}", *(f"++task.{k}={_q(v)}" for k, v in task.items()),
            f"logger={cfg.logger.name}"]
    return out + list(cfg.get("overrides") or [])


def rl_extra(cfg) -> list[str]:
    """What the RL stage gets from the pipeline beyond its mapping: `train.allow_no_signal`
    (debug=tiny sets it) unless the mapping sets its own."""
    spec = cfg[str(cfg.rl)] or {}
    own = (spec.get("train") or {}).get("allow_no_signal")
    flag = (cfg.get("train") or {}).get("allow_no_signal")
    return [f"train.allow_no_signal={_q(bool(flag))}"] if own is None and flag else []


def reproduce_commands(cfg, sft_checkpoint: str | None = None) -> list[str]:
    """One shell command per stage that reruns it alone with every override that made it
    (the RL stage from `sft_checkpoint`, the adapter it started from)."""
    shared = shared_overrides(cfg)

    def line(module: str, stage: list[str]) -> str:
        return " ".join(_shell(a) for a in ["python", "-m", module, *shared, *stage])

    return [line("rl.evaluate", as_overrides(cfg.evaluate)),
            line("sft.train", as_overrides(cfg.sft)),
            line(f"rl.{cfg.rl}", [*as_overrides(cfg[cfg.rl]), *rl_extra(cfg),
                                  f"model.adapter={_q(sft_checkpoint or 'SFT_CHECKPOINT')}"])]


def render_report(cfg, evals: dict[str, dict], walls: dict[str, float], rl_out: dict,
                  history: list[dict], plot: Path | None, stages: dict[str, Any],
                  deltas: dict[str, dict] | None = None, cpus: dict[str, float] | None = None,
                  load: dict[str, list[float]] | None = None,
                  sft_checkpoint: str | None = None) -> str:
    """report.md: the base / SFT / RL (/ frontier) table, per-dimension rows, the paired
    deltas, timings, commands. `stages`: the composed configs of the "eval", "sft" and "rl"
    stages."""
    from rl.report import delta_cell

    cpus = cpus or {}
    load = load or {"start": [], "end": []}

    rl = stages["rl"]
    dims = sorted({d for s in evals.values() for d in s.get("dimensions", {})})
    first = next(iter(evals.values()))
    lo, hi = first.get("scale", [0, 1])
    head = "| stage | " + f"{first['metric']} ({lo:g}–{hi:g}) | 95% CI | " + \
        " | ".join(f"dim/{d}" for d in dims) + " | n | unscored | rubric |"
    lines = [f"# Pipeline report: {cfg.model.name} on {cfg.task.name}", "",
             f"- **run dir**: `{cfg.run_dir}`",
             f"- **prompt**: {cfg.task.get('prompt') or 'full'} (task.prompt; numbers compare "
             "only with numbers from the same prompt)",
             f"- **eval**: {first['n']} examples of the eval split, greedy, "
             f"max {first.get('max_new_tokens')} new tokens ({first.get('budget_from')}); "
             "score = the task's rubric harness",
             f"- **SFT**: {stages['sft'].train.max_steps} steps; **RL**: {rl_out.get('step')} "
             f"steps of `rl.{cfg.rl}` `{rl.algo.name}`, G={rl.algo.num_generations}, "
             f"{rl.train.batch_size} completions/step", "", head,
             "|" + "---|" * (6 + len(dims))]
    names = {"base": "base", "sft": "SFT", "rl": f"RL ({cfg.rl.upper()})",
             "frontier": f"frontier ({evals.get('frontier', {}).get('model') or 'endpoint'})"}
    for stage, s in evals.items():
        ci = "–" if s.get("ci_low") is None else f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}]"
        cells = [_f(s.get("dimensions", {}).get(d)) for d in dims]
        mark = " ⚠" if s.get("warnings") else ""
        lines.append(f"| {names[stage]} | {_f(s.get('value'))}{mark} | {ci} | "
                     f"{' | '.join(cells)} | {s['n']} | {s.get('unscored', 0)} | "
                     f"{s.get('rubric_hash', '–')} |")
    warned = [(names[k], w) for k, s in evals.items() for w in s.get("warnings") or []]
    if warned:
        lines += ["", "⚠ What looks wrong (these rows' numbers say little until it is fixed):",
                  "", *(f"- {who}: {w}" for who, w in warned)]
    if deltas:
        lines += ["", "## Paired deltas (same eval examples)", "",
                  "Later row minus earlier row, matched by sample id; 95% CI: paired percentile "
                  "bootstrap over the examples (1000 resamples, seed 0). A CI above 0 means the "
                  "later stage scores higher on these examples beyond resampling noise.", "",
                  "| delta | mean | 95% CI | n | " + " | ".join(f"dim/{d}" for d in dims) + " |",
                  "|" + "---|" * (4 + len(dims))]
        for _name, d in deltas.items():
            ci = "–" if d["ci_low"] is None else f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
            mean = "–" if d["mean"] is None else f"{d['mean']:+.3f}"
            cells = [delta_cell(d.get("dimensions", {}).get(x)).split(" n=")[0] for x in dims]
            label = f"{names[d['later']]} − {names[d['earlier']]}"
            lines.append(f"| {label} | {mean} | {ci} | {d['n']} | {' | '.join(cells)} |")
    lines += ["", "## Wall time (this machine)", "",
              f"{os.cpu_count()} CPUs; load average (1/5/15 min) at start "
              f"{' / '.join(map(str, load['start']))}, at end {' / '.join(map(str, load['end']))}. "
              "CPU s = CPU time of this process and the processes it started (vLLM's): "
              "on a shared machine wall time grows with the load, CPU time much less.", "",
              "| stage | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {k} | {v:.1f} | {cpus.get(k, 0.0):.1f} |" for k, v in walls.items()]
    if history:
        # first and last k steps, never overlapping: a 2-step run compares step 1 with step 2
        k = max(1, min(3, len(history) // 2))
        r0 = [h["reward/total"] for h in history[:k] if h.get("reward/total") is not None]
        r1 = [h["reward/total"] for h in history[-k:] if h.get("reward/total") is not None]
        steps = "step" if k == 1 else f"{k} steps"
        lines += ["", "## RL training reward", "",
                  f"Mean reward of the first {steps} {_f(sum(r0) / len(r0) if r0 else None)}, "
                  f"of the last {steps} {_f(sum(r1) / len(r1) if r1 else None)} (sampled at "
                  f"temperature {rl.sampling.temperature}, so lower than greedy eval).", ""]
        if plot is not None:
            lines.append(f"![reward per dimension]({plot.name})")
    lines += ["", "## Reproduce a stage alone", "",
              "From the directory the pipeline ran in (relative paths are relative to it):",
              "", "```", *reproduce_commands(cfg, sft_checkpoint), "```", ""]
    return "\n".join(lines)


class TreeCPU:
    """CPU seconds of this process and of every process it starts. vLLM's engine and worker do
    the generating in child processes that are never reaped with wait(), so `os.times()` misses
    them (a vLLM evaluation's own process used 13 of its 399 s): a daemon thread reads each
    descendant's cumulative CPU time every `every` seconds and keeps its last reading, so at
    most `every` seconds of a child's last moments before it exits go uncounted."""

    def __init__(self, every: float = 2.0):
        import threading

        import psutil

        self.me, self.every, self.seen = psutil.Process(), every, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        for child in self.me.children(recursive=True):
            try:
                t = child.cpu_times()
                self.seen[(child.pid, child.create_time())] = t.user + t.system
            except psutil.Error:  # exited between listing and reading
                continue

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def total(self) -> float:
        self._sample()
        t = self.me.cpu_times()
        return t.user + t.system + sum(self.seen.values())

    def close(self) -> None:
        self._stop.set()


def run(cfg) -> dict[str, Any]:
    """All stages; returns {"evals": {stage: summary}, "report": path, "walls": {...}}."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    walls: dict[str, float] = {}
    # CPU seconds per stage (this process and its children, e.g. vLLM's): on a shared machine
    # wall time follows the load, CPU time much less
    cpus: dict[str, float] = {}
    meter = TreeCPU()
    evals: dict[str, dict] = {}

    def timed(name, fn, *args):
        t0, c0 = time.perf_counter(), meter.total()
        out = fn(*args)
        walls[name] = time.perf_counter() - t0
        cpus[name] = meter.total() - c0
        print(f"[pipeline] {name}: {walls[name]:.1f} s (cpu {cpus[name]:.1f} s, load "
              f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        return out

    # every stage config composes before any model loads: a bad key fails in seconds
    stages = {"eval": stage_config(cfg, "eval", cfg.evaluate, run_dir / "eval-check", "check"),
              "sft": stage_config(cfg, "sft", cfg.sft, run_dir / "sft", "check"),
              "rl": rl_stage_config(cfg, None)}
    t_start, c_start = time.perf_counter(), meter.total()
    load_start = [round(x, 2) for x in os.getloadavg()]
    if frontier_overrides(cfg):  # first: an unreachable endpoint fails before any training
        evals["frontier"] = timed("eval frontier", run_eval, cfg, "frontier", None)
    evals["base"] = timed("eval base", run_eval, cfg, "base", None)
    sft_ckpt, _ = timed("sft", run_sft, cfg)
    evals["sft"] = timed("eval sft", run_eval, cfg, "sft", sft_ckpt)
    rl_out = timed(str(cfg.rl), run_rl, cfg, sft_ckpt)
    if not rl_out.get("adapter"):
        raise UserInputError(f"the {cfg.rl} stage produced no checkpoint; see its log above")
    evals["rl"] = timed("eval rl", run_eval, cfg, "rl", rl_out["adapter"])
    walls["total"] = time.perf_counter() - t_start
    cpus["total"] = meter.total() - c_start
    meter.close()
    load = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    history = rl_history(run_dir / str(cfg.rl))
    plot = plot_curves(history, run_dir / "reward_curves.png")
    report = run_dir / "report.md"
    deltas = paired_deltas(evals, int(stages["eval"].eval.get("seed", 0)))
    # the frontier row last in the table: base, SFT, RL read top to bottom
    evals = {k: evals[k] for k in ("base", "sft", "rl", "frontier") if k in evals}
    report.write_text(render_report(cfg, evals, walls, rl_out, history, plot, stages, deltas,
                                    cpus, load, sft_ckpt))
    summaries = {k: {f: v for f, v in s.items() if f != "records"} for k, s in evals.items()}
    (run_dir / "pipeline.json").write_text(json.dumps(
        {"evals": summaries, "deltas": deltas, "walls": walls, "cpu_s": cpus, "load": load,
         "sft_checkpoint": sft_ckpt,
         "rl_checkpoint": rl_out["adapter"]}, indent=2, default=str) + "\n")
    print(report.read_text(), flush=True)
    return {"evals": summaries, "deltas": deltas, "walls": walls, "report": str(report),
            "plot": str(plot) if plot else None}


def cli() -> None:
    """`python -m rl.pipeline [overrides]`: exit 0 done, 2 bad input, 1 a bug."""
    from sft.cli import hydra_cli

    hydra_cli("pipeline", run)


if __name__ == "__main__":
    cli()
