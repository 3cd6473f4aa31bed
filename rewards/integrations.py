"""The harness inside trainers teams already run: TRL GRPO reward functions and verl.

TRL (1.16) calls `f(prompts, completions, completion_ids, **dataset_columns)` and accepts
`None` per sample (turned into NaN and masked) — exactly what a below-coverage sample needs.
Dataset columns used: `source`, `reference`, `meta` (dict or JSON string), `id`.

    funcs, weights = trl_reward_funcs(harness, per_dimension=True)
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...))

With `per_dimension=True` there is one function per rubric dimension (its 0-1 score) and the
weights are the rubric's dimension weights scaled so the weighted sum is the harness score's
range: TRL then logs each dimension separately. The harness runs once per batch either way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from rewards.engine import Harness
from rewards.sample import Sample


def _text(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, list):  # conversational: [{"role": "assistant", "content": ...}]
        return "".join(m.get("content", "") for m in x if isinstance(m, dict))
    return str(x)


def _column(kwargs: dict, name: str, i: int) -> Any:
    col = kwargs.get(name)
    return None if col is None else col[i]


def samples_from_trl(prompts: Sequence, completions: Sequence, **kwargs) -> list[Sample]:
    out = []
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        meta = _column(kwargs, "meta", i) or {}
        if isinstance(meta, str):
            meta = json.loads(meta)
        sid = _column(kwargs, "id", i)
        out.append(Sample(id=str(sid if sid is not None else i),
                          prompt=p if isinstance(p, str | list) else str(p),
                          source=_column(kwargs, "source", i),
                          reference=_column(kwargs, "reference", i), completion=_text(c),
                          meta=meta))
    return out


class _BatchMemo:
    """Scores a TRL batch once even when several reward functions (dimensions) ask for it."""

    def __init__(self, harness: Harness):
        self.harness = harness
        self._key: Any = None
        self._results: list = []

    def results(self, prompts, completions, **kwargs):
        key = (tuple(map(_text, prompts)), tuple(map(_text, completions)))
        if key != self._key:
            self._results = self.harness.score_batch(samples_from_trl(prompts, completions, **kwargs))
            self._key = key
        return self._results


def trl_reward_funcs(harness: Harness, per_dimension: bool = False):
    """→ (reward functions, reward weights) for `GRPOTrainer` / `GRPOConfig.reward_weights`."""
    memo = _BatchMemo(harness)
    rubric = harness.rubric
    if not per_dimension:
        def harness_score(prompts, completions, completion_ids=None, **kwargs):
            return [r.score for r in memo.results(prompts, completions, **kwargs)]

        return [harness_score], [1.0]
    lo, hi = rubric.scale
    total_w = sum(d.weight for d in rubric.dimensions.values())
    funcs, weights = [], []
    for name, dim in rubric.dimensions.items():
        def dim_score(prompts, completions, completion_ids=None, _name=name, **kwargs):
            # a sample masked as a whole (score None) is masked in every dimension
            return [None if r.score is None else r.dimensions[_name]
                    for r in memo.results(prompts, completions, **kwargs)]

        dim_score.__name__ = f"harness_{name}"
        funcs.append(dim_score)
        weights.append((hi - lo) * dim.weight / total_w)
    return funcs, weights


def make_verl_compute_score(harness: Harness):
    """A verl `custom_reward_function` (`compute_score(data_source, solution_str, ground_truth,
    extra_info)`) returning {"score", per-dimension scores, "harness_masked"}.

    verl has no way to mask a sample, so a below-coverage sample scores the scale minimum
    with `harness_masked=1.0` logged beside it; prefer harnessrl's own loop, which masks."""

    def compute_score(data_source, solution_str, ground_truth, extra_info=None, **_):
        extra = extra_info or {}
        sample = Sample(id=str(extra.get("index", extra.get("id", 0))), completion=solution_str,
                        reference=ground_truth, source=extra.get("source"),
                        meta={"data_source": data_source, **(extra.get("meta") or {})})
        r = harness.score_batch([sample])[0]
        out: dict[str, float] = {f"dim/{k}": (v if v is not None else float("nan"))
                                 for k, v in r.dimensions.items()}
        out["harness_masked"] = float(r.score is None)
        out["score"] = harness.rubric.scale[0] if r.score is None else r.score
        return out

    return compute_score


_VERL_HARNESSES: dict[str, Harness] = {}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl entry point by path: the rubric is the suite task named by `data_source`."""
    if data_source not in _VERL_HARNESSES:
        from rewards.tasks import get_task

        _VERL_HARNESSES[data_source] = Harness(get_task(data_source).rubric())
    fn = make_verl_compute_score(_VERL_HARNESSES[data_source])
    return fn(data_source, solution_str, ground_truth, extra_info, **kwargs)


# ---- other trainers ----------------------------------------------------------------------
def remote_trl_reward_funcs(url: str, rubric: Any = None, token_env: str | None = None,
                            per_dimension: bool = False, **kwargs: Any):
    """TRL GRPOTrainer reward functions scoring through the service (see
    trl_reward_funcs; masked samples give None, which TRL masks)."""
    from rewards.remote import RemoteHarness

    return trl_reward_funcs(RemoteHarness(url, rubric, token_env, **kwargs),
                            per_dimension=per_dimension)


_VERL: dict[tuple, Any] = {}


def remote_compute_score(data_source, solution_str, ground_truth, extra_info=None,
                         url: str | None = None,
                  rubric: str | None = None, token_env: str | None = None, **kwargs):
    """verl `custom_reward_function` scoring through the service. `url` (reward_kwargs) or
    HARNESSRL_REWARD_URL; `rubric` defaults to `data_source` when the service serves it."""
    from rewards.remote import RemoteHarness, RemoteRewardError

    url = url or os.environ.get("HARNESSRL_REWARD_URL")
    if not url:
        raise RemoteRewardError("remote_compute_score: give reward_kwargs.url or set "
                                "HARNESSRL_REWARD_URL to the reward service's address")
    token_env = token_env or os.environ.get("HARNESSRL_REWARD_TOKEN_ENV")
    key = (url, rubric, data_source, token_env)
    if key not in _VERL:
        if rubric is not None:
            h = RemoteHarness(url, rubric, token_env)
        else:
            try:  # the service serves a rubric named like the data source: use it
                h = RemoteHarness(url, data_source, token_env)
                h.rubric  # noqa: B018 - fetches it, raising when it is not served
            except RemoteRewardError:
                h = RemoteHarness(url, None, token_env)
        _VERL[key] = make_verl_compute_score(h)
    return _VERL[key](data_source, solution_str, ground_truth, extra_info, **kwargs)
