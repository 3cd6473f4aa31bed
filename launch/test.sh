#!/usr/bin/env bash
# The README's second quick-start command: install everything, then run the test suite
# (CPU; `gpu`-marked tests skip without a GPU, `slow` ones are deselected unless
# HARNESSRL_SLOW=1). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install.sh
# the reward-service tests start a real redis-server (Debian package); they skip without one
if ! command -v redis-server >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[test] apt-get install redis-server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=offline HF_HUB_OFFLINE=1
PY=${PYTHON:-python3}
"$PY" -m ruff check .
marker="not slow"
[ -n "${HARNESSRL_SLOW:-}" ] && marker=""
exec "$PY" -m pytest -m "$marker" -p no:cacheprovider "$@"
