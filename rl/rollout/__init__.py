"""Rollout engines behind one interface (see base.py): hf (+ hf_copy), vllm (in-process),
vllm_server (a vLLM server it may start), openai (HTTP).

Importing this package loads no backend: each engine module imports its heavy dependency
(transformers, vllm, httpx) itself.
"""

from rl.rollout.base import (
    ENGINES,
    EngineError,
    Generation,
    RolloutEngine,
    SamplingConfig,
    build_engine,
)

__all__ = ["ENGINES", "EngineError", "Generation", "RolloutEngine", "SamplingConfig",
           "build_engine"]
