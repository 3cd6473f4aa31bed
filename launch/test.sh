#!/usr/bin/env bash
# The README's second quick-start command: install everything, then run the test suite
# (CPU; `gpu`-marked tests skip without a GPU, `slow` ones are deselected unless
# HARNESSRL_SLOW=1). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install.sh
# tests/launch run jobs on a real local Slurm (launch/local_slurm.sh): install its Debian
# packages where we can (root with apt, as in CI; ~30 s); elsewhere those tests skip and say why
if ! command -v slurmctld >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "[test] apt-get install slurmctld slurmd slurm-client munge"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    slurmctld slurmd slurm-client munge >/dev/null \
    || echo "[test] Slurm packages could not be installed: tests/launch will skip"
fi
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=offline HF_HUB_OFFLINE=1
PY=${PYTHON:-python3}
"$PY" -m ruff check .
marker="not slow"
[ -n "${HARNESSRL_SLOW:-}" ] && marker=""
exec "$PY" -m pytest -m "$marker" -p no:cacheprovider "$@"
