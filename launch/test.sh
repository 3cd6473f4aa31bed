#!/usr/bin/env bash
# The README's second quick-start command: install everything, then run the test suite
# (CPU; `gpu`-marked tests skip without a GPU, `slow` ones are deselected unless
# HARNESSRL_SLOW=1). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install.sh
# Services the tests run for real, from Debian packages, where we can install them (root with
# apt, as in CI): redis-server (reward-service cache tests) and a local Slurm (tests/launch,
# launch/local_slurm.sh; ~30 s). Elsewhere those tests skip and say why.
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v slurmctld >/dev/null || need+=(slurmctld slurmd slurm-client munge)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[test] apt-get install ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" \
    >/dev/null || echo "[test] could not install ${need[*]}: the tests needing them will skip"
fi
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=offline HF_HUB_OFFLINE=1
PY=${PYTHON:-python3}
"$PY" -m ruff check .
marker="not slow"
[ -n "${HARNESSRL_SLOW:-}" ] && marker=""
exec "$PY" -m pytest -m "$marker" -p no:cacheprovider "$@"
