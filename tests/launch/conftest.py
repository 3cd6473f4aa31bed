"""A real single-node Slurm for the launch tests, brought up by launch/local_slurm.sh.

Needs root and the Debian packages slurmctld slurmd slurm-client munge (launch/test.sh
installs them where it runs as root with apt, as CI does); elsewhere the tests skip and say
why. One cluster per session (start-up ~2 s); torn down by its PID files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL_SLURM = REPO / "launch" / "local_slurm.sh"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slurm: runs jobs on a local Slurm (launch/local_slurm.sh)")


@dataclass
class Slurm:
    base: Path
    env: dict

    def run(self, *cmd, cwd=None, timeout=60, check=True) -> subprocess.CompletedProcess:
        return subprocess.run([str(c) for c in cmd], cwd=cwd, env=self.env, text=True,
                              capture_output=True, timeout=timeout, check=check)

    def sbatch(self, *args, cwd) -> str:
        """Submit; returns the job id."""
        return self.run("sbatch", "--parsable", *args, cwd=cwd).stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict:
        """`scontrol show job` as key=value pairs (JobState, Restarts, ...)."""
        out = self.run("scontrol", "show", "job", job_id, "-o").stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def wait(self, job_id: str, timeout: float) -> dict:
        """Poll until the job reaches a terminal state (a requeue passes through PENDING)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.job(job_id)
            if info.get("JobState") in TERMINAL:
                return info
            time.sleep(1.0)
        info = self.job(job_id)
        self.run("scancel", job_id, check=False)
        raise AssertionError(f"job {job_id} not done after {timeout:.0f} s: {info}\n"
                             f"{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        out = []
        for log in sorted((self.base / "log").glob("slurm*.log")):
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-n:]))
        return "\n".join(out)


def _missing() -> str | None:
    tools = ["munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo"]
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        return (f"Slurm not installed (missing {', '.join(absent)}); as root with apt, "
                "launch/test.sh installs slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        return "the local Slurm runs its daemons as root; not root here"
    return None


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    reason = _missing()
    if reason:
        print(f"\n[launch tests] skipped: {reason}")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(["bash", str(LOCAL_SLURM), "up", str(base)], capture_output=True,
                        text=True, timeout=120)
    try:
        assert up.returncode == 0, f"local Slurm did not come up:\n{up.stderr}"
        env = {**os.environ, "SLURM_CONF": str(base / "slurm.conf"),
               # the jobs import this checkout, whatever copy is installed
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                           os.environ.get("PYTHONPATH")])),
               "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
               "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}
        yield Slurm(base, env)
    finally:
        subprocess.run(["bash", str(LOCAL_SLURM), "down", str(base)], timeout=60)
