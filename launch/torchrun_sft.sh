#!/usr/bin/env bash
# Multi-process SFT on one node: torchrun around `python -m sft.train`.
#
#   launch/torchrun_sft.sh [NPROC] [hydra overrides...]
#   launch/torchrun_sft.sh 2 dist=ddp debug=tiny                   # CPU: gloo, 2 processes
#   launch/torchrun_sft.sh 8 dist=deepspeed_z3 model=qwen3-32b     # 8 GPUs, ZeRO-3
#
# NPROC defaults to the GPU count (1 without GPUs). dist=ddp is added unless a dist=...
# override is given. The global batch is NPROC x train.per_device_batch_size x
# train.grad_accum: halve per_device_batch_size when doubling NPROC to keep the same recipe.
# Under Slurm, run this once per node with srun and export NNODES, NODE_RANK, MASTER_ADDR and
# MASTER_PORT; on one node without MASTER_PORT, torchrun --standalone picks a free port.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  NPROC=$1; shift
else
  NPROC=$("${PYTHON:-python}" -c "import torch; print(max(torch.cuda.device_count(), 1))")
fi
# one intra-op thread per process: 2 threads made tiny-model steps 10-20x slower on 2 cores
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export TOKENIZERS_PARALLELISM=${TOKENIZERS_PARALLELISM:-false}
# DeepSpeed JIT-compiles its ops on first use (~2-3 min each on CPU): keep the builds
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$HOME/.cache/harnessrl/torch_extensions}

args=("$@")
[[ " ${args[*]-} " == *" dist="* ]] || args+=("dist=ddp")

if [[ "${NNODES:-1}" == 1 && -z "${MASTER_PORT:-}" ]]; then
  # one node: --standalone picks a free port, so concurrent jobs on a node never collide
  rdzv=(--standalone)
else
  rdzv=(--nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}"
        --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29500}")
fi
exec "${PYTHON:-python}" -m torch.distributed.run "${rdzv[@]}" --nproc_per_node="$NPROC" \
  -m sft.train "${args[@]}"
