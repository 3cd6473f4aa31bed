#!/usr/bin/env bash
# torchrun around any recipe module, on one node or as one node of a multi-node job.
#
#   launch/torchrun.sh [-n NPROC] [-m] MODULE [hydra overrides...]
#   launch/torchrun.sh -n 2 sft.train debug=tiny                 # CPU: 2 gloo processes
#   launch/torchrun.sh -n 8 sft.train dist=deepspeed_z3 model=qwen3-32b
#   launch/torchrun.sh rl.grpo debug=tiny                        # NPROC = GPUs here (or 1)
#
# MODULE: sft.train | rl.grpo | rl.ppo | rl.pipeline | rl.evaluate (anything `-m` runs;
# multi-process runs are tested for sft.train and rl.grpo only).
# NPROC: -n, else $NPROC_PER_NODE, else the GPUs Slurm gave this node ($SLURM_GPUS_ON_NODE),
# else the GPUs in CUDA_VISIBLE_DEVICES or nvidia-smi -L, else 1. With more than one process
# in all, dist=ddp is added for the training recipes unless a dist=... override is given. The
# global batch grows with the process count (see conf/dist/ and each recipe's train.*).
#
# Multi-node (launch/slurm.sbatch sets these on every node): NNODES and
# RDZV_ENDPOINT=host:port (c10d rendezvous, hosted by the torchrun on that host), RDZV_ID.
# One node without RDZV_ENDPOINT: --standalone picks a free port, so jobs sharing a node never
# collide.
#
# Pre-emption: the torchrun agent forwards SIGUSR1 (as well as SIGTERM) to every worker and
# waits SHUTDOWN_TIMEOUT s (default 300) for them to checkpoint; rl.grpo checkpoints and exits
# 0 on either, and so does this script. (torch 2.13 reads these variables; an agent that
# predates them dies on SIGUSR1: check `torchrun --help | grep signals-to-handle`.)
set -euo pipefail
# everything in main, read before it runs: editing this file while a job runs it (a git pull
# on a shared checkout) cannot change what the job executes
main() {
  # run in the caller's dir (relative paths in overrides mean what was typed; run dirs land
  # under ./runs) with the code of this checkout, not whatever copy is installed
  repo=$(cd "$(dirname "$0")/.." && pwd)
  export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}

  usage() {  # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$repo/launch/torchrun.sh"
  }
  nproc=${NPROC_PER_NODE:-}
  while [[ $# -gt 0 ]]; do
    case $1 in
      -h|--help) usage; exit 0 ;;
      -n|--nproc) nproc=$2; shift 2 ;;
      -m) shift ;;
      *) break ;;
    esac
  done
  if [[ $# -eq 0 || $1 == *=* ]]; then
    echo "torchrun.sh: name a module, e.g. sft.train" >&2; usage >&2; exit 2
  fi
  module=$1; shift

  if [[ -z $nproc ]]; then
    if [[ -n ${SLURM_GPUS_ON_NODE:-} && ${SLURM_GPUS_ON_NODE:-0} -gt 0 ]]; then
      nproc=$SLURM_GPUS_ON_NODE
    elif [[ -n ${CUDA_VISIBLE_DEVICES+set} ]]; then
      # set (even empty): it decides which GPUs a process may use
      n=$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c . || true)
      nproc=$(( n > 0 ? n : 1 ))
    elif command -v nvidia-smi >/dev/null && n=$(nvidia-smi -L 2>/dev/null | grep -c ^GPU) \
         && [[ $n -gt 0 ]]; then
      nproc=$n
    else
      nproc=1
    fi
  fi

  # one intra-op thread per process: 2 threads made tiny-model steps 10-20x slower on 2 cores
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  export TOKENIZERS_PARALLELISM=${TOKENIZERS_PARALLELISM:-false}
  # DeepSpeed JIT-compiles its ops on first use (~2-3 min each on CPU): keep the builds
  export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$HOME/.cache/harnessrl/torch_extensions}
  # the agent turns these into a graceful stop of its workers (default: SIGUSR1 kills the agent
  # and orphans the workers mid-checkpoint)
  export TORCHELASTIC_SIGNALS_TO_HANDLE=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1
  export PET_SIGNALS_TO_HANDLE=$TORCHELASTIC_SIGNALS_TO_HANDLE
  export TORCH_ELASTIC_SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-300}

  args=("$@")
  nnodes=${NNODES:-1}
  if (( nproc * nnodes > 1 )) && [[ " ${args[*]-} " != *" dist="* ]]; then
    # the pipeline and evaluation compose their stages' dist themselves (no dist group)
    case $module in sft.train|rl.grpo|rl.ppo) args+=("dist=ddp") ;; esac
  fi

  if [[ -n ${RDZV_ENDPOINT:-} ]]; then
    # c10d assigns node ranks itself; the endpoint's torchrun hosts the store
    rdzv=(--nnodes="$nnodes" --rdzv-backend=c10d
          --rdzv-endpoint="$RDZV_ENDPOINT" --rdzv-id="${RDZV_ID:-harnessrl}")
  else
    rdzv=(--standalone)
  fi
  "${PYTHON:-python}" -m torch.distributed.run "${rdzv[@]}" --nproc-per-node="$nproc" \
    -m "$module" ${args[@]+"${args[@]}"} &
  agent=$!
  # Under srun, Slurm delivers the step's USR1/TERM to every process of the step (checked on
  # 22.05), the agent included, which passes it on to its ranks: this shell only notes it, as
  # a second signal would cut the agent's wait for its ranks short. Outside Slurm a signal sent
  # to this shell is forwarded to the agent. A stopped agent exits 1 by design (SignalException)
  # even when every rank checkpointed and exited 0: report 0, or `srun --kill-on-bad-exit` in
  # slurm.sbatch would kill the other nodes mid-checkpoint.
  stopping=0
  on_stop() { stopping=1; [[ -n ${SLURM_STEP_ID:-} ]] || kill -s "$1" "$agent" 2>/dev/null; }
  trap 'on_stop USR1' USR1
  trap 'on_stop TERM' TERM
  while :; do
    rc=0; wait "$agent" || rc=$?
    kill -0 "$agent" 2>/dev/null || break
  done
  (( stopping )) && exit 0
  exit "$rc"
}
main "$@"
