"""Rollouts from Hugging Face `generate` (CPU or GPU), wrapping `sft.generate.generate`.

    engine = HFEngine.from_cfg(cfg)                    # loads cfg.model (+ cfg.adapter)
    engine = HFEngine(model=live_peft_model, tokenizer=tok)   # the GRPO loop's own policy
    engine.load_adapter("runs/x/adapter", version=2)
    gens = engine.generate(messages_list, SamplingConfig(n=4, temperature=1.0))

An engine that loaded its own model keeps the base weights and swaps PEFT adapters on
`load_adapter` (new adapter in, previous one deleted, so memory stays at one adapter). An
engine given a live model generates from it as it is: `load_adapter(path)` then only records
the version (the live weights already are that policy; the path is for engines that need
files), and `load_adapter(None)` generates with the adapter disabled. Stop strings, which
`generate` has no notion of, are applied afterwards: text, token ids and log-probs are cut at
the first token whose decoded prefix contains a stop string, as vLLM does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rl.rollout.base import (
    EngineError,
    Generation,
    Prompt,
    SamplingConfig,
    _cfg_get,
    assemble,
    is_base,
    to_plain,
)


def pick_device(name: str | None) -> str:
    """auto: the first CUDA device when there is one, else CPU."""
    if name not in (None, "auto"):
        return str(name)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class HFEngine:
    """RolloutEngine over `sft.generate.generate`; see the module docstring."""

    # can generate from the trainer's in-memory policy (built with model=/tokenizer=): a policy
    # sync is then a version bump, nothing is copied
    shares_live_model = True
    # an engine that loaded its own model swaps PEFT adapters from files
    supports_adapter_sync = True
    supports_weight_push = False
    # per-prompt seeds (SamplingConfig.seeds): samples independent of the batch
    supports_prompt_seeds = True
    # generate_stream: each generate() mini-batch is a chunk
    supports_streaming = True

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8,
                 chat_template_kwargs: dict[str, Any] | None = None, owns_model: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.owns_model = owns_model
        self.adapter_path: str | None = None
        self.version: int | str | None = None
        self._base_only = False
        # the live model is sharded over ranks (dist=fsdp): every rank decodes until all are
        # done (sft.generate, synced=True); set by the RL core, which knows the sharding
        self.synced = False

    @classmethod
    def from_cfg(cls, cfg: Any, model: Any = None, tokenizer: Any = None,
                 **kwargs: Any) -> HFEngine:
        """Load `cfg.model` (unless a live `model` is given) and `cfg.adapter` on top."""
        r = _cfg_get(cfg, "rollout")
        args = {k: to_plain(_cfg_get(r, k)) for k in ("batch_size", "chat_template_kwargs")
                if _cfg_get(r, k) is not None}
        model_cfg = dict(to_plain(_cfg_get(cfg, "model")) or {})
        # the engine owns adapter loading (so it can swap them): load the base model alone
        model_adapter = model_cfg.pop("adapter", None)
        adapter = _cfg_get(cfg, "adapter") or model_adapter
        if tokenizer is None:
            from sft.model import load_tokenizer

            tokenizer = load_tokenizer(model_cfg)
        owns = model is None
        if model is None:
            from sft.model import load_model

            model = load_model(model_cfg, device=pick_device(_cfg_get(r, "device")))
        start = kwargs.pop("load_start_adapter", True)  # False: the RL loop pushes its own
        engine = cls(model, tokenizer, owns_model=owns, **(args | kwargs))
        if start and not is_base(adapter):
            engine.load_adapter(adapter)
        return engine

    def load_adapter(self, path: str | Path | None, version: int | str | None = None) -> None:
        """Generate with the PEFT adapter at `path` from now on (None/"base": the base model)."""
        self.version = version
        if is_base(path):
            self._base_only = True
            self.adapter_path = None
            return
        self._base_only = False
        if not self.owns_model:
            self.adapter_path = str(path)  # the live weights already are this policy
            return
        from sft.errors import UserInputError
        from sft.model import load_adapter

        path = Path(path).expanduser()
        name = f"v{version}" if version is not None else "default"
        try:
            if hasattr(self.model, "peft_config"):
                old = self.model.active_adapter
                name = name if name != old else f"{name}-{len(self.model.peft_config)}"
                self.model.load_adapter(str(path), adapter_name=name)
                self.model.set_adapter(name)
                self.model.delete_adapter(old)
            else:
                if not (path / "adapter_config.json").is_file():
                    raise UserInputError(f"no PEFT adapter at {path} (adapter_config.json "
                                         "missing)")
                self.model = load_adapter(self.model, path)
        except UserInputError as e:
            raise EngineError(str(e)) from e
        self.model.eval()
        self.adapter_path = str(path)

    def _context(self):
        if self._base_only and hasattr(self.model, "disable_adapter"):
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig,
                 progress=None) -> list[list[Generation]]:
        """n Generations per prompt, input order; `progress(k)` after each batch of prompts."""
        return assemble(self.generate_stream(prompts, sampling), len(prompts), progress)

    def generate_stream(self, prompts: Sequence[Prompt], sampling: SamplingConfig):
        """Yield each `generate()` mini-batch (batch_size sequences: whole prompts, n samples
        each) as one chunk of (prompt index, Generations) once it is done."""
        from sft.generate import generate

        # batch_size counts sequences; keep whole prompts (n samples each) per call
        per_call = max(1, self.batch_size // sampling.n)
        with self._context():
            for start in range(0, len(prompts), per_call):
                chunk = list(prompts[start:start + per_call])
                seeds = sampling.seeds[start:start + per_call] if sampling.seeds else None
                done = generate(self.model, self.tokenizer, chunk, n=sampling.n,
                                temperature=sampling.temperature, top_p=sampling.top_p,
                                max_new_tokens=sampling.max_new_tokens, seed=sampling.seed,
                                batch_size=self.batch_size,
                                chat_template_kwargs=self.chat_template_kwargs, seeds=seeds,
                                synced=self.synced)
                yield [(start + k, [self._convert(c, sampling.stop) for c in row])
                       for k, row in enumerate(done)]

    def _convert(self, c: Any, stop: list[str] | None) -> Generation:
        g = Generation(text=c.text, token_ids=list(c.token_ids), logprobs=list(c.logprobs),
                       prompt_token_ids=list(c.prompt_token_ids), finish_reason=c.finish_reason,
                       version=self.version)
        return apply_stop_strings(g, stop, self.tokenizer) if stop else g

    def close(self) -> None:
        """Drop the references so the weights can be freed (a live model is the caller's)."""
        self.model = None
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def apply_stop_strings(g: Generation, stop: Sequence[str], tokenizer: Any) -> Generation:
    """Cut `g` at the first stop string: text before it, tokens up to the one completing it."""
    hits = [g.text.find(s) for s in stop if s and s in g.text]
    if not hits:
        return g
    cut = min(hits)
    for k in range(1, len(g.token_ids) + 1):
        prefix = tokenizer.decode(g.token_ids[:k], skip_special_tokens=True)
        if any(s and s in prefix for s in stop):
            g.token_ids = g.token_ids[:k]
            if g.logprobs is not None:
                g.logprobs = g.logprobs[:k]
            break
    g.text = g.text[:cut]
    g.finish_reason = "stop"
    return g


class HFCopyEngine(HFEngine):
    """The hf engine on its own copy of the model (never the trainer's live one): synced from
    adapter files like vLLM, so `rollout.async` can generate while the trainer updates its
    weights. For GPUs without vLLM, and a CPU stand-in for vLLM in loop tests."""

    shares_live_model = False

    @classmethod
    def from_cfg(cls, cfg: Any, model: Any = None, tokenizer: Any = None,
                 **kwargs: Any) -> HFCopyEngine:
        # a live model handed in is ignored on purpose: this engine loads its own
        return super().from_cfg(cfg, **kwargs)
