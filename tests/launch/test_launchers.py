"""launch/torchrun.sh's command line (PYTHON=echo prints it instead of running torchrun) and
the hydra/launcher configs composed with every primary config. No Slurm, no torch: < 5 s."""

from __future__ import annotations

import os
import subprocess
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
