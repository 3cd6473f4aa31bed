"""Batched generation with Hugging Face `generate` from chat messages.

The RL `hf` rollout engine and the evaluation runner wrap `generate()`; it is deliberately
one plain function. Prompts are rendered with the tokenizer's chat template
(`add_generation_prompt=True`), left-padded in batches of `batch_size` sequences, and each of
the `n` samples per prompt comes back as a `Completion`.

Log-probs: `log_softmax(logits / temperature)` of each sampled token, from the raw logits
`generate` returns (`output_logits=True`) — the quantity an RL loss recomputes from the policy
forward pass (TRL divides logits by the temperature the same way). top-p truncation is not
folded in. Greedy decoding (`temperature=0`) reports log-probs at temperature 1.

The stop token (EOS / end of turn) is part of `token_ids` and `logprobs` — a policy gradient
must reach it for the model to learn to stop — but not of `text`.

Seeds: with `seeds` (one per prompt) every sample draws its tokens from its own generator,
seeded by (prompt seed, sample index), so a prompt's completions do not depend on which other
prompts share its batch or process — the RL loop shards a global batch over ranks and must
sample the same completions on 1 rank as on N. Without `seeds`, one `seed` fixes the samples
of a given batch composition (HF's own sampler).

Sharded models (FSDP): every forward is a collective, but each rank stops decoding when its
own rows are done. `synced=True` (HF's `synced_gpus`) keeps a finished rank forwarding until
every rank is done; its extra steps sample nothing (HF skips the logits processors there), so
the completions are the ones an unsynced run draws. Every rank must call with the same number
of batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Messages = list[dict[str, str]]


@dataclass
class Completion:
    text: str
    # generated ids, stop token included; len(token_ids) == len(logprobs)
    token_ids: list[int]
    logprobs: list[float]
    # "stop" (a stop token was generated) or "length" (max_new_tokens reached)
    finish_reason: str
    prompt_token_ids: list[int] = field(default_factory=list)


def render_prompts(tokenizer, prompts: Sequence[Messages | str],
                   chat_template_kwargs: dict[str, Any] | None = None) -> list[list[int]]:
    """Token ids of each prompt after the chat template; a bare string is one user turn."""
    out = []
    for p in prompts:
        messages = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                             **(chat_template_kwargs or {}))
        # the template already wrote BOS/turn markers as text: add no special tokens twice
        out.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


def stop_ids(model, tokenizer, extra: Sequence[int] | None = None) -> list[int]:
    ids = set(extra or [])
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def generate(model, tokenizer, prompts: Sequence[Messages | str], *, n: int = 1,
             temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 128,
             seed: int | None = 0, batch_size: int = 8, stop_token_ids: Sequence[int] | None = None,
             chat_template_kwargs: dict[str, Any] | None = None,
             seeds: Sequence[int] | None = None,
             synced: bool = False) -> list[list[Completion]]:
    """`n` completions for each prompt: result[i][j] is sample j of prompt i.

    Sampling uses exactly these parameters (the model's own generation_config defaults, such as
    top_k=50 or a repetition penalty, are not inherited). `seed` fixes the samples for a given
    batch composition; `seeds` (one per prompt) fixes each prompt's samples whatever the batch
    (see the module docstring). The caller's global RNG state is left untouched. `synced`:
    the model is sharded over ranks, which all call this together (module docstring).
    """
    import torch

    encoded = render_prompts(tokenizer, prompts, chat_template_kwargs)
    jobs = [(i, j) for i in range(len(encoded)) for j in range(n)]
    results: list[list[Completion | None]] = [[None] * n for _ in encoded]
    stops = stop_ids(model, tokenizer, stop_token_ids)
    if seeds is not None and len(seeds) != len(encoded):
        raise ValueError(f"seeds: {len(seeds)} seeds for {len(encoded)} prompts")
    per_row = seeds is not None and temperature > 0
    gen_cfg = _generation_config(tokenizer, stops, 0.0 if per_row else temperature, top_p,
                                 max_new_tokens)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices), torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(jobs), batch_size):
                batch = jobs[start:start + batch_size]
                sampler = RowSampler([row_seed(seeds[i], j) for i, j in batch], temperature,
                                     top_p, device) if per_row else None
                done = _generate_batch(model, [encoded[i] for i, _ in batch], gen_cfg,
                                       tokenizer, stops, max(temperature, 0.0) or 1.0, device,
                                       sampler, synced)
                for (i, j), completion in zip(batch, done, strict=True):
                    completion.prompt_token_ids = encoded[i]
                    results[i][j] = completion
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def _generation_config(tokenizer, stops, temperature, top_p, max_new_tokens):
    from transformers import GenerationConfig

    sample = temperature > 0
    return GenerationConfig(
        do_sample=sample, temperature=temperature if sample else None,
        top_p=top_p if sample else None, top_k=0 if sample else None,
        max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
        use_cache=True, output_logits=True, return_dict_in_generate=True)


def row_seed(prompt_seed: int, sample: int) -> int:
    """The seed of sample `sample` of a prompt seeded `prompt_seed` (any ints -> [0, 2^63))."""
    return (int(prompt_seed) * 1_000_003 + int(sample) * 7919 + 1) % (2**63 - 1)


class RowSampler:
    """A logits processor that samples each row's next token from that row's own generator
    (softmax(logits / T), top-p filtered) and leaves only that token finite, so `generate`'s
    greedy step picks it. Built per batch: row r of the batch draws from `seeds[r]`'s stream."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device):
        import torch

        self.gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.temperature, self.top_p = float(temperature), float(top_p)

    def __call__(self, input_ids, scores):
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            # keep the smallest prefix whose mass reaches top_p (the first token always)
            drop = sorted_p.cumsum(-1) - sorted_p >= self.top_p
            probs = probs.scatter(-1, order, sorted_p.masked_fill(drop, 0.0))
        picks = torch.cat([torch.multinomial(probs[r], 1, generator=g)
                           for r, g in enumerate(self.gens)])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(1, picks[:, None], 0.0)


def _generate_batch(model, prompt_ids: list[list[int]], gen_cfg, tokenizer, stops,
                    temperature: float, device, sampler: RowSampler | None = None,
                    synced: bool = False) -> list[Completion]:
    import torch
    from transformers import LogitsProcessorList

    width = max(len(p) for p in prompt_ids)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompt_ids], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids],
                        device=device)
    processors = LogitsProcessorList([sampler] if sampler is not None else [])
    out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=gen_cfg,
                         logits_processor=processors, synced_gpus=synced)
    seqs = out.sequences[:, width:]
    # one [B, V] slice at a time: stacking all steps would hold B x T x V floats
    logps = torch.stack([
        torch.log_softmax(step.float() / temperature, dim=-1)
        .gather(1, seqs[:, t:t + 1]).squeeze(1)
        for t, step in enumerate(out.logits)], dim=1)
    stop_set = set(stops)
    completions = []
    for row, lp in zip(seqs.tolist(), logps.tolist(), strict=True):
        end = next((k for k, tok in enumerate(row) if tok in stop_set), None)
        if end is None:
            ids, reason = row, "length"
            text = tokenizer.decode(ids, skip_special_tokens=True)
        else:
            ids, reason = row[:end + 1], "stop"
            text = tokenizer.decode(ids[:-1], skip_special_tokens=True)
        completions.append(Completion(text=text, token_ids=ids, logprobs=lp[:len(ids)],
                                      finish_reason=reason))
    return completions
