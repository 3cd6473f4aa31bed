"""Benchmark-suite CLI: list the tasks, export a split as Sample-contract JSONL.

    python -m rewards.tasks list
    python -m rewards.tasks export invoice_extraction --split eval --seed 0 --out eval.jsonl
    python -m rewards.tasks export invoice_extraction --split train --n 100 \\
        --source real --path ../shared/data/real/sroie --out sroie_train.jsonl

Exit status 0 on success, 2 on bad input (unknown task, bad path, bad option) with a one-line
message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from rewards.sample import write_jsonl_atomic
from rewards.tasks import get_task, list_tasks
from rewards.tasks.base import SPLITS, TaskError
from rewards.tasks.loading import load_split


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rewards.tasks",
        description="The harnessrl benchmark suite: seeded task generators, real-data adapters "
                    "and rubrics. Exported rows follow the Sample contract (id, prompt, source, "
                    "reference = gold answer, meta).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python -m rewards.tasks list\n"
               "  python -m rewards.tasks export support_classification --split eval --seed 0 "
               "--out eval.jsonl\n"
               "  python -m rewards.tasks export invoice_extraction --split train --n 200 "
               "--source real --path ../shared/data/real/sroie --out sroie.jsonl")
    sub = p.add_subparsers(dest="command", required=True, metavar="{list,export}")
    ls = sub.add_parser("list", help="tasks with metric, scale, description and real-data adapters")
    ls.add_argument("--json", action="store_true", help="one JSON object per task instead of text")
    ex = sub.add_parser("export", help="write one split of a task as Sample-contract JSONL",
                        description="Write one split of a task as JSONL (gold answers in "
                                    "`reference`). Generated splits are identical on every "
                                    "machine for the same seed, and train/eval never overlap.")
    ex.add_argument("task", help="task name (see `list`)")
    ex.add_argument("--split", choices=SPLITS, required=True, help="train or eval")
    ex.add_argument("--seed", type=int, default=0, help="generator / shuffle seed (default 0)")
    ex.add_argument("--n", type=int, default=None,
                    help="number of examples (default: 500 train, 50 eval; real train: all)")
    ex.add_argument("--source", choices=("generated", "real"), default="generated",
                    help="generated (default) or real (needs --path)")
    ex.add_argument("--path", default=None,
                    help="dataset folder for --source real, e.g. ../shared/data/real/sroie")
    ex.add_argument("--adapter", default=None,
                    help="adapter name when the folder name does not identify it")
    ex.add_argument("--out", required=True, help="output JSONL path")
    return p


def _list(as_json: bool) -> None:
    rows = []
    for name in list_tasks():
        try:
            t = get_task(name)
        except ModuleNotFoundError:  # a task module not written yet: list what exists
            continue
        rows.append({"name": t.name, "metric": t.metric, "scale": list(t.scale),
                     "description": t.description, "adapters": list(t.adapters)})
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    for r in rows:
        lo, hi = r["scale"]
        print(f"{r['name']}\n  metric: {r['metric']} on [{lo:g}, {hi:g}]\n"
              f"  adapters: {', '.join(r['adapters']) or '-'}\n  {r['description']}")
    print("custom\n  your JSONL + rubric: see conf/task/custom.yaml")


def _export(args: argparse.Namespace) -> int:
    if args.n is not None and args.n < 0:
        raise TaskError(f"--n must be >= 0, got {args.n}")
    if args.source == "real" and not args.path:
        raise TaskError("--source real needs --path DIR (the dataset folder)")
    if args.task == "custom":
        raise TaskError("custom data is already JSONL: load it with task=custom (conf/task/custom.yaml)")
    cfg = {"name": args.task, "source": args.source, "path": args.path, "seed": args.seed,
           "adapter": args.adapter}
    if args.n is not None:
        cfg[f"n_{args.split}"] = args.n
    samples = load_split(cfg, args.split)
    write_jsonl_atomic(args.out, [s.to_dict() for s in samples])
    print(f"wrote {len(samples)} {args.task} {args.split} samples to {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(args.json)
            return 0
        return _export(args)
    except TaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
