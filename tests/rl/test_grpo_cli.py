"""`python -m rl.grpo` as a user runs it: exit 2 with a one-line reason on bad input, and
SIGTERM mid-run -> checkpoint + exit 0 (slow: a real subprocess with model loading)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}


def test_bad_group_size_exits_2_with_reason(tmp_path):
    p = subprocess.run([sys.executable, "-m", "rl.grpo", "debug=tiny", "logger=none",
                        f"run_dir={tmp_path}", "train.batch_size=10"],
                       cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "train.batch_size=10 completions is not a multiple of algo.num_generations=4" \
        in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_0(tmp_path):
    rubric = tmp_path / "r.yaml"
    rubric.write_text("scale: [0, 1]\ndimensions: {b: {weight: 1.0}}\nchecks:\n"
                      "  - {id: short, kind: length, dimension: b, unit: chars, max: 45}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl.grpo", "debug=tiny", "logger=none", f"run_dir={tmp_path}",
         f"reward.rubric={rubric}", "train.max_steps=500", "train.batch_size=8",
         "sampling.max_new_tokens=8"],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n")):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "SIGTERM: checkpointed step" in err
    ckpts = sorted((tmp_path / "checkpoints").glob("step-*"))
    assert ckpts and (ckpts[-1] / "COMPLETE").exists()


def test_torchrun_two_ranks(tmp_path):
    """torchrun -m rl.grpo: prompts sharded over 2 gloo ranks, gradients all-reduced, rank 0
    checkpoints; both ranks finish."""
    rubric = tmp_path / "r.yaml"
    rubric.write_text("scale: [0, 1]\ndimensions: {b: {weight: 1.0}}\nchecks:\n"
                      "  - {id: short, kind: length, dimension: b, unit: chars, max: 45}\n")
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "rl.grpo",
         "debug=tiny", "logger=none", "dist=ddp", f"run_dir={tmp_path / 'run'}",
         f"reward.rubric={rubric}", "train.max_steps=2", "train.batch_size=16",
         "sampling.max_new_tokens=8", "optim.lr=1e-2"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("[grpo] done: step 2") == 2
    assert (tmp_path / "run" / "checkpoints" / "step-00000002" / "COMPLETE").exists()
