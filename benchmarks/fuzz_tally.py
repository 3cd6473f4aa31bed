"""Fuzz tally for `python -m rewards.score` (issue 16): cases by class × outcome.

    python benchmarks/fuzz_tally.py --root . --cases 1000 --seed 16 --json /tmp/after.json
    python benchmarks/fuzz_tally.py --root /tmp/base --cases 1000 --seed 16 --json /tmp/before.json
    python benchmarks/fuzz_tally.py --compare /tmp/before.json /tmp/after.json   # markdown

Cases come from tests/rewards/fuzz_cases.py (seeded `random.Random`, so both runs see the
same files). Each case runs in a forked child of a process that imported `rewards` from
--root once (milliseconds per case instead of ~1 s per interpreter start); the child is
killed after --limit-s (a hang: the stdlib regex engine and a zero semaphore never return)
and capped at --mem-gib of address space (the YAML alias bomb grew to 4 GB).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "rewards"))
import fuzz_cases as F  # noqa: E402


def run_forked(case, main, limit_s: float, mem_gib: float) -> F.Outcome:
    tmp = tempfile.mkdtemp(prefix="fuzz-")
    argv, paths = F.case_argv(case, tmp)
    res = f"{tmp}/.result"
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: run, report exit code + traceback flag, never return
        code, tb = 1, False
        try:
            resource.setrlimit(resource.RLIMIT_AS, (int(mem_gib * 2**30),) * 2)
            fd = os.open(f"{tmp}/.stderr", os.O_WRONLY | os.O_CREAT)
            os.dup2(fd, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
                tb = True
            with open(res, "w") as fh:
                json.dump([code, tb], fh)
        finally:
            os._exit(0)
    deadline = t0 + limit_s
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    seconds = time.perf_counter() - t0
    stderr = Path(f"{tmp}/.stderr").read_text(errors="replace") if Path(f"{tmp}/.stderr").exists() else ""
    if not Path(res).exists():
        return F.collect(case, paths, "hang" if seconds >= limit_s else "killed", False, seconds,
                         stderr)
    code, tb = json.loads(Path(res).read_text())
    tb = tb or "Traceback (most recent call last)" in stderr
    return F.collect(case, paths, code, tb, seconds, stderr)


def tally(args) -> dict:
    sys.path.insert(0, str(Path(args.root).resolve()))
    os.environ.pop("HARNESSRL_JUDGE_BASE_URL", None)
    import importlib

    import rewards
    from rewards.score import main

    # main() imports these lazily: import them once here, not once per forked case (~1 s)
    for mod in ("rewards.engine", "rewards.rubric", "rewards.sample", "rewards.summary",
                "rewards.checks", "httpx", "jsonschema", "sqlite3", "tqdm"):
        importlib.import_module(mod)
    print(f"rewards from {rewards.__file__}", file=sys.stderr)
    ref = run_forked(F.reference_case(), main, args.limit_s, args.mem_gib)
    rng = random.Random(args.seed)
    rows = []
    t0 = time.time()
    for i in range(args.cases):
        case = F.make_case(rng)
        o = run_forked(case, main, args.limit_s, args.mem_gib)
        verdict = F.judge(case, o, ref.scores)
        rows.append({"i": i, "cls": case.cls, "name": case.name, "expect": case.expect,
                     "exit": o.exit, "traceback": o.traceback, "verdict": verdict,
                     "seconds": round(o.seconds, 3), "scores": o.scores,
                     "err": o.stderr.strip().splitlines()[-1][:200] if o.stderr.strip() else ""})
        if (i + 1) % 100 == 0:
            print(f"{i + 1} cases, {time.time() - t0:.0f} s", file=sys.stderr)
    return {"root": str(args.root), "seed": args.seed, "cases": args.cases,
            "limit_s": args.limit_s, "wall_s": round(time.time() - t0, 1),
            "ref_scores": ref.scores, "rows": rows}


def table(run: dict) -> str:
    counts = collections.Counter((r["cls"], str(r["exit"]), r["traceback"]) for r in run["rows"])
    verdicts = collections.Counter((r["cls"], r["verdict"]) for r in run["rows"])
    out = ["| class | exit | traceback | cases |", "|---|---|---|---|"]
    out += [f"| {c} | {e} | {'yes' if t else 'no'} | {n} |" for (c, e, t), n in sorted(counts.items())]
    out += ["", "| class | outcome | cases |", "|---|---|---|"]
    out += [f"| {c} | {v} | {n} |" for (c, v), n in sorted(verdicts.items())]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(HERE.parent))
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--limit-s", type=float, default=10.0)
    ap.add_argument("--mem-gib", type=float, default=3.0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--compare", nargs=2, default=None, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.compare:
        for label, p in zip(("before", "after"), args.compare, strict=True):
            run = json.loads(Path(p).read_text())
            print(f"### {label}: {run['cases']} cases, seed {run['seed']}, {run['wall_s']} s\n")
            print(table(run) + "\n")
        return
    run = tally(args)
    if args.json:
        Path(args.json).write_text(json.dumps(run))
    print(table(run))


if __name__ == "__main__":
    main()
