"""Rubric probes: does the rubric pay a reward hacker? Score known hacks of gold answers.

    python -m rewards.probe --rubric rubric.yaml --input gold.jsonl --out probes.md
    python -m rewards.probe --task invoice_extraction            # suite rubric + eval golds
    python -m rewards.probe --task all --strict --max-ceiling 0.6 --out probes.md  # the suite

Each gold answer (a row's `completion`, else its `reference`) is rewritten by every hack
transform (rewards/probes/builtin.py; add yours with `--plugin my.module` and the
`@rewards.probes.transform` decorator) and scored with the same harness. The report gives,
per transform, the mean score vs gold, the share of samples at or above gold, and the checks
the hack passed as often as gold did.

Exit codes: 0 the rubric resists every hack; 1 a hack (not the `reformat` control) reaches
gold on more than --max-share of samples (with --strict also: a degenerate answer above 10%
of the scale, or the control more than 5% of the scale from gold; with --max-ceiling F also:
any hack's mean above F of the scale) — use it as a CI gate;
2 invalid rubric, JSONL line, task or transform name (the message names the file, line or key).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
from pathlib import Path

EXIT_HACKED, EXIT_BAD_INPUT = 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rewards.probe", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to probe (either --rubric and --input, or --task)")
    src.add_argument("--rubric", help="rubric YAML file")
    src.add_argument("--input", help="JSONL of gold samples (completion or reference = gold)")
    src.add_argument("--task", help="suite task name(s), comma-separated, or 'all': its rubric "
                                    "and the golds of its eval split")
    src.add_argument("--task-path", help="with one --task: a real dataset folder (the task's "
                                         "adapter supplies the golds instead of the generator)")
    src.add_argument("--n", type=int, default=50, help="golds per task (eval split size; default 50)")
    src.add_argument("--seed", type=int, default=0, help="task generator seed (default 0)")
    p.add_argument("--transforms", help="comma-separated subset (default: all); see --list")
    p.add_argument("--list", action="store_true", help="list the transforms and exit")
    p.add_argument("--plugin", action="append", default=[],
                   help="module to import first (registers its @transform functions)")
    p.add_argument("--max-share", type=float, default=0.0,
                   help="largest tolerated share of samples where a hack scores >= gold "
                        "(default 0: one sample at gold fails the gate)")
    p.add_argument("--strict", action="store_true",
                   help="also fail on degenerate answers > 10%% of scale or control > 5%% off")
    p.add_argument("--max-ceiling", type=float, default=None, metavar="FRAC",
                   help="also fail when any hack's mean score is above this share of the "
                        "scale (the suite rubrics hold 0.6 without a judge)")
    p.add_argument("--out", help="write the Markdown report here (else print it)")
    p.add_argument("--json", help="also write the numbers as JSON here")
    p.add_argument("--judge-base-url", default=None, help="OpenAI-compatible base URL (…/v1)")
    p.add_argument("--judge-model", default=None, help="judge model name at that endpoint")
    p.add_argument("--judge-api-key-env", default=None,
                   help="NAME of the environment variable holding the judge API key")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _golds_from_jsonl(path: str):
    from rewards.probes.run import gold_text
    from rewards.sample import SampleError, iter_jsonl

    if not Path(path).is_file():
        raise SampleError(f"{path}: input file not found")
    out = []
    for lineno, s in iter_jsonl(path):
        if gold_text(s) is None:
            raise SampleError(f"{path}:{lineno}: no `completion` or `reference` to use as gold")
        out.append(s)
    if not out:
        raise SampleError(f"{path}: no samples")
    return out


def jobs(args) -> list[tuple[str, object, list]]:
    """(label, rubric, golds) for each rubric to probe."""
    from rewards.rubric import load_rubric
    from rewards.tasks import get_task, list_tasks
    from rewards.tasks.loading import load_split, rubric_path_for

    if args.task:
        names = list_tasks() if args.task == "all" else args.task.split(",")
        if args.task_path and len(names) != 1:
            raise ValueError("--task-path needs exactly one --task")
        out = []
        for name in names:
            get_task(name)  # names the valid tasks on a typo
            cfg = {"name": name, "seed": args.seed, "n_eval": args.n}
            if args.task_path:
                cfg |= {"source": "real", "path": args.task_path}
            rubric = load_rubric(args.rubric or rubric_path_for(cfg))
            out.append((name, rubric, load_split(cfg, "eval")))
        return out
    if not (args.rubric and args.input):
        raise ValueError("give --rubric and --input, or --task (see --help)")
    return [(Path(args.input).stem, load_rubric(args.rubric), _golds_from_jsonl(args.input))]


def main(argv: list[str] | None = None) -> int:
    from rewards.engine import Harness
    from rewards.probes import registry
    from rewards.probes.report import markdown
    from rewards.probes.run import ProbeError, as_dict, probe, select
    from rewards.rubric import RubricError
    from rewards.sample import SampleError
    from rewards.tasks import TaskError

    args = build_parser().parse_args(argv)
    try:
        for mod in args.plugin:
            try:
                importlib.import_module(mod)
            except ImportError as e:
                raise ProbeError(f"--plugin {mod}: cannot import: {e}") from None
        if args.list:
            for t in registry().values():
                print(f"{t.name:<18} {'[control] ' if t.control else ''}{t.description}")
            return 0
        if args.max_ceiling is not None and not 0.0 <= args.max_ceiling <= 1.0:
            raise ValueError(f"--max-ceiling: expected a share of the scale in [0, 1], "
                             f"got {args.max_ceiling}")
        transforms = select(args.transforms.split(",") if args.transforms else None)
        todo = jobs(args)
    except (RubricError, SampleError, ProbeError, TaskError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    judge = {"base_url": args.judge_base_url, "model": args.judge_model,
             "api_key_env": args.judge_api_key_env}
    reports = []
    for label, rubric, golds in todo:
        harness = Harness(rubric, judge=judge)
        work = len(golds) * len(transforms)
        reports.append(probe(harness, golds, transforms, label=label,
                             progress=not args.no_progress and work >= 200))
    cmd = " ".join(argv if argv is not None else sys.argv[1:])
    header = (f"# Rubric probes\n\n{dt.date.today().isoformat()}, {platform.machine()} "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"judge {args.judge_model or 'none (judge checks skipped)'}: "
              f"`python -m rewards.probe {cmd}`\n")
    text = markdown(reports, args.max_share, args.strict, header, args.max_ceiling)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps([as_dict(r) for r in reports], indent=2))
    fails = [f"{r.label}: {f}" for r in reports
             for f in r.failures(args.max_share, args.strict, args.max_ceiling)]
    for f in fails:
        print(f"HACKED {f}", file=sys.stderr)
    return EXIT_HACKED if fails else 0


if __name__ == "__main__":
    sys.exit(main())
