#!/usr/bin/env bash
# SFT shorthand kept for existing commands: launch/torchrun_sft.sh [NPROC] [overrides...]
# == launch/torchrun.sh [-n NPROC] sft.train [overrides...] (see that file).
set -euo pipefail
here=$(dirname "$0")
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then n=$1; shift; exec "$here/torchrun.sh" -n "$n" sft.train "$@"; fi
exec "$here/torchrun.sh" sft.train "$@"
