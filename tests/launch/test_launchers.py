"""launch/torchrun.sh's command line (PYTHON=echo prints it instead of running torchrun) and
the hydra/launcher configs composed with every primary config (no Slurm, no torch: < 10 s);
slow: a signal to torchrun.sh outside Slurm, and a local sweep's run dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
PRIMARIES = sorted(p.stem for p in CONF.glob("*.yaml"))
LAUNCHERS = sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml"))


def torchrun(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLURM_", "NPROC_PER_NODE", "RDZV_", "NNODES"))}
    return subprocess.run(["bash", str(REPO / "launch" / "torchrun.sh"), *args],
                          env={**clean, "PYTHON": "echo", "PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30)


def test_help_and_missing_module():
    h = torchrun("--help")
    assert h.returncode == 0 and "MODULE" in h.stdout and "NPROC_PER_NODE" in h.stdout
    bad = torchrun("debug=tiny")
    assert bad.returncode == 2 and "name a module" in bad.stderr


def test_single_node_command():
    argv = torchrun("-n", "2", "-m", "rl.grpo", "debug=tiny").stdout.split()
    assert argv[:3] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=2" in argv
    assert argv[argv.index("rl.grpo") - 1] == "-m"
    assert argv[-2:] == ["debug=tiny", "dist=ddp"]  # > 1 process: DDP for a training recipe


@pytest.mark.parametrize("args, env, nproc, dist", [
    (["sft.train", "dist=deepspeed_z3"], {"NPROC_PER_NODE": "4"}, 4, "dist=deepspeed_z3"),
    (["sft.train"], {"NPROC_PER_NODE": "3", "SLURM_GPUS_ON_NODE": "8"}, 3, "dist=ddp"),
    (["rl.grpo"], {"SLURM_GPUS_ON_NODE": "8"}, 8, "dist=ddp"),
    (["rl.grpo"], {"CUDA_VISIBLE_DEVICES": "0,1"}, 2, "dist=ddp"),
    (["rl.grpo"], {"CUDA_VISIBLE_DEVICES": ""}, 1, None),  # no GPU: one process, no DDP
    (["rl.pipeline", "debug=tiny"], {"NPROC_PER_NODE": "2"}, 2, None),  # has no dist group
])
def test_process_count_and_dist(args, env, nproc, dist):
    argv = torchrun(*args, **env).stdout.split()
    assert f"--nproc-per-node={nproc}" in argv
    assert [a for a in argv if a.startswith("dist=")] == ([dist] if dist else [])


def test_multi_node_uses_c10d_rendezvous():
    argv = torchrun("sft.train", NNODES="2", RDZV_ENDPOINT="10.0.0.1:29501", RDZV_ID="77-0",
                    NPROC_PER_NODE="8").stdout.split()
    assert "--standalone" not in argv
    assert {"--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=10.0.0.1:29501",
            "--rdzv-id=77-0", "--nproc-per-node=8"} <= set(argv)


@pytest.mark.parametrize("primary", PRIMARIES)
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launcher_composes_with_every_primary(primary, launcher):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(primary, overrides=[f"hydra/launcher={launcher}"],
                      return_hydra_config=True)
    node = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert node["_target_"].rsplit(".", 1)[-1] == {"slurm": "SlurmLauncher",
                                                   "local": "BasicLauncher"}[launcher]
    if launcher == "slurm":
        for key in ("partition", "timeout_min", "nodes", "gpus_per_node", "constraint",
                    "account"):
            assert key in node
        assert node["tasks_per_node"] == 1  # recipes read torchrun's env, not Slurm's


def test_slurm_launcher_fields_are_commented():
    lines = (CONF / "hydra" / "launcher" / "slurm.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith(("#", " ", "-", "defaults")):
            assert lines[i - 1].startswith("#"), f"no comment above {line!r}"


RUBRIC = """scale: [0, 1]
dimensions: {b: {weight: 1.0}}
checks:
  - {id: short, kind: length, dimension: b, unit: chars, max: 45}
"""


@pytest.mark.slow  # ~30-40 s: one tiny GRPO run
def test_usr1_to_the_script_checkpoints_and_exits_0(tmp_path):
    """Outside Slurm a signal sent to torchrun.sh reaches the ranks through the agent, and the
    stop reports 0 although the agent itself exits 1 after a handled signal."""
    import signal
    import time

    (tmp_path / "r.yaml").write_text(RUBRIC)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SLURM_STEP_ID", None)
    proc = subprocess.Popen(
        ["bash", str(REPO / "launch" / "torchrun.sh"), "rl.grpo", "debug=tiny", "logger=none",
         f"reward.rubric={tmp_path / 'r.yaml'}", "sampling.max_new_tokens=8",
         "train.batch_size=8", "task.n_train=16", "train.max_steps=200",
         "train.save_every=null", "train.progress=false", f"run_dir={run}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGUSR1)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-3000:]
    assert "[grpo] SIGUSR1: checkpointed step" in out
    assert any((run / "checkpoints").glob("step-*/COMPLETE"))


@pytest.mark.slow  # ~80 s: two tiny SFT runs one after another
def test_local_sweep_points_get_their_own_run_dirs(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "sft.train", "-m", "hydra/launcher=local", "debug=tiny",
         "optim.lr=1e-3,2e-3", "run_dir=${hydra:runtime.output_dir}"],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    points = sorted((tmp_path / "runs" / "local").glob("sweep-*/[0-9]"))
    assert [d.name for d in points] == ["0", "1"]
    lrs = {OmegaConf.load(d / ".hydra" / "config.yaml").optim.lr for d in points}
    assert lrs == {1e-3, 2e-3}
    assert all((d / "checkpoints" / "step-00000004" / "COMPLETE").exists() for d in points)
