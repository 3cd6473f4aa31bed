"""launch/slurm.sbatch and the submitit launcher against a real local Slurm (conftest.py):
a 2-rank SFT job through srun + torchrun (c10d, gloo), a 2-point `--multirun` sweep, and a
GRPO job pre-empted with SIGUSR1 that checkpoints, requeues, resumes and ends with the losses
of an uninterrupted run. Measured here (2 cores shared with other jobs, load 4-10): sbatch
SFT 53-68 s, sweep 53 s (slow), pre-emption 82-108 s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBATCH = REPO / "launch" / "slurm.sbatch"
RUN = "debug-tiny-support_classification"  # debug=tiny's run name on the default task

pytestmark = pytest.mark.slurm


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sbatch_sft_two_ranks(slurm, tmp_path):
    job = slurm.sbatch("--export=ALL,NPROC_PER_NODE=2", SBATCH, "sft.train", "debug=tiny",
                       cwd=tmp_path)
    info = slurm.wait(job, timeout=420)
    out = (tmp_path / f"slurm-{job}.out").read_text()
    node_log = tmp_path / "runs" / job / "node-0.log"
    assert info["JobState"] == "COMPLETED", out + node_log.read_text()[-3000:]
    assert f"job {job} restart 0: 1 node(s)" in out and "step exited 0" in out
    # the run dir is keyed by the job id (conf: runs/${oc.env:SLURM_JOB_ID,local}/<run name>)
    run = tmp_path / "runs" / job / RUN
    ckpt = run / "checkpoints" / "step-00000004"
    assert (ckpt / "COMPLETE").exists()
    assert [r["step"] for r in _rows(run / "metrics.jsonl") if "loss/train" in r] == [1, 2, 3, 4]
    # two ranks really trained: one RNG state each, and 4 steps x 2 rows x 2 ranks = the 16
    # rows once (one rank would have covered half an epoch)
    assert (ckpt / "rng_state_0.pth").exists() and (ckpt / "rng_state_1.pth").exists()
    assert json.loads((run / "summary.json").read_text())["train/epochs"] == 1.0


@pytest.mark.slow  # ~55 s more; the default run keeps the sbatch and pre-emption tests
def test_submitit_sweep_two_points(slurm, tmp_path):
    from sft.tracking import read_offline_run

    p = subprocess.run(
        [sys.executable, "-m", "sft.train", "-m", "hydra/launcher=slurm",
         "hydra.launcher.timeout_min=10", "debug=tiny", "logger=wandb", "optim.lr=1e-3,2e-3"],
        cwd=tmp_path, env=slurm.env, capture_output=True, text=True, timeout=480)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = sorted(d for d in (tmp_path / "runs").glob(f"*/{RUN}") if d.parent.name != "local")
    assert len(runs) == 2, runs  # one job per point, distinct run dirs (one per job id)
    # submitit returns once the results are written, while the jobs may still be exiting
    jobs = {d.parent.name: slurm.wait(d.parent.name, timeout=60) for d in runs}
    assert all(j["JobState"] == "COMPLETED" for j in jobs.values()), jobs
    array = {j["ArrayJobId"] for j in jobs.values()}
    assert len(array) == 1  # both points are tasks of one job array
    seen = {}
    for d in runs:
        assert (d / "checkpoints" / "step-00000004" / "COMPLETE").exists()
        wb = read_offline_run(d)
        seen[wb["config"]["optim"]["lr"]] = wb["group"]
    # each point trained its own value; one W&B group per sweep: the array's job id
    assert set(seen) == {1e-3, 2e-3} and set(seen.values()) == array, seen


RUBRIC = """scale: [0, 1]
dimensions: {b: {weight: 1.0}}
checks:
  - {id: short, kind: length, dimension: b, unit: chars, max: 45}
"""
TRACE = ("step", "reward/total", "loss/loss", "kl", "policy/grad_norm")
STEPS = 8


def test_preempted_grpo_requeues_and_resumes_exactly(slurm, tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    # debug=tiny sets resume=null (fresh smoke runs); slurm.sbatch forces auto on restart
    overrides = ["debug=tiny", "logger=none", f"reward.rubric={rubric}", "algo.beta=0.04",
                 "sampling.max_new_tokens=8", "optim.lr=1e-2", "train.batch_size=8",
                 "train.micro_batch_size=8", "task.n_train=16", f"train.max_steps={STEPS}",
                 "train.save_every=null", "train.progress=false"]
    # the uninterrupted reference runs outside Slurm meanwhile (the requeue wait is idle time)
    ref = subprocess.Popen([sys.executable, "-m", "rl.grpo", *overrides,
                            f"run_dir={tmp_path / 'ref'}"], cwd=tmp_path, env=slurm.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # one rank: agreeing on a stop across ranks is the multi-GPU issue's work
    job = slurm.sbatch("--export=ALL,NPROC_PER_NODE=1", SBATCH, "rl.grpo", *overrides,
                       cwd=tmp_path)
    metrics = tmp_path / "runs" / job / RUN / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not _rows(metrics) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _rows(metrics), f"no training step within 300 s\n{slurm.log_tail()}"
    # what Slurm does LEAD s before the time limit (#SBATCH --signal=B:USR1@LEAD)
    slurm.run("scancel", "--signal=USR1", "--batch", job)
    info = slurm.wait(job, timeout=420)
    out = (tmp_path / f"slurm-{job}.out").read_text()
    log = (tmp_path / "runs" / job / "node-0.log").read_text()
    assert info["JobState"] == "COMPLETED", out + log[-3000:]
    assert info["Restarts"] == "1" and f"job {job} restart 1:" in out, out
    assert "[grpo] SIGUSR1: checkpointed step" in log and "[grpo] resumed from" in log, log
    rows = _rows(metrics)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # no step done twice
    _, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err[-3000:]
    want = [tuple(r[k] for k in TRACE) for r in _rows(tmp_path / "ref" / "metrics.jsonl")]
    assert [tuple(r[k] for k in TRACE) for r in rows] == want
