"""Nothing silently empty: the reward or the evaluation carries no information, and the run says
why, naming the check and the likely cause.

A rubric can score nothing at all without a single error: a check whose input the rows lack
abstains on every sample (`numbers_grounded` on rows without a `source`), its dimension falls
under its coverage floor, every score is None, the RL loop masks the whole batch and trains on
zero gradient, and the report shows "–". Or every completion is cut at the length limit, fails
the JSON gate and scores the same 0. Each of these is a warning here:

- a check that abstains on every sample (with its most common reason and a hint);
- a dimension under its coverage floor on every sample;
- the reward masked (None) for most samples;
- the reward flat over the whole batch (every group's rewards equal: no advantage);
- more than `max_truncated_frac` of the completions ending on the length limit.

`check_signal` is the RL recipes' one call per step: each warning once per run (log line and
tracker alert), and on the run's first step a batch with no signal at all — entirely masked,
or flat in every group — stops the run (RLError, exit 2) unless `train.allow_no_signal=true`.
`eval_warnings` gives the same warnings for an evaluation's records (rl.evaluate).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

# most samples masked: above this share the reward speaks for a minority of the batch
MASKED_WARN = 0.5

# the abstain reasons of the shipped check kinds -> what the user most likely has to fix
HINTS = (
    ("to ground numbers in", "rows have no `source`; set task.source_field to the column "
                             "holding the input text"),
    ("no source", "rows have no `source`; set task.source_field to the column holding the "
                  "input text"),
    ("reference has no", "the references lack this field; check the check's `path` against "
                         "your references, or set task.reference_field"),
    ("no reference", "rows have no reference; set task.reference_field to the gold column"),
    ("no labels in meta", "rows carry no label set; set task.labels"),
    ("judge error", "the judge endpoint fails; check judge.base_url and the key variable"),
    ("timeout after", "the check runs out of time; raise its timeout_s"),
    ("no required spans", "rows have nothing for it to preserve; check its from_meta / "
                          "from_reference against your rows"),
)


def hint(reason: str) -> str:
    for needle, why in HINTS:
        if needle in reason:
            return why
    return "see the check's reasons in samples.jsonl"


def _status(v: Any) -> tuple[str, str, bool]:
    if isinstance(v, Mapping):
        return v.get("status"), str(v.get("reason") or ""), bool(v.get("skipped"))
    return v.status, v.reason, v.skipped


def _abstaining(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{check id: its most common reason} for the checks that abstain on every sample where
    they ran (skipped checks — no judge configured, moot after a failed gate — are not
    abstains); {} when nothing was scored."""
    answers: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        for cid, v in (r.get("verdicts") or {}).items():
            status, reason, skipped = _status(v)
            if not skipped:
                answers.setdefault(cid, []).append((status, reason))
    return {cid: Counter(reason for _, reason in got).most_common(1)[0][0]
            for cid, got in answers.items() if got and all(s == "abstain" for s, _ in got)}


def diagnose(records: Sequence[Mapping[str, Any]], rubric: Any,
             max_truncated_frac: float | None = None, budget_key: str = "max_new_tokens",
             ) -> dict[str, str]:
    """{cause key: warning} for a batch of scored records (dicts with `score`, `dimensions`,
    `verdicts` {check: {status, reason, skipped}}, `finish_reason`, `error`)."""
    ok = [r for r in records if not r.get("error")]
    out: dict[str, str] = {}
    if not ok:
        return out
    for cid, reason in _abstaining(ok).items():
        out[f"abstain:{cid}"] = (f"check {cid!r} abstains on every sample ({reason}): "
                                 f"{hint(reason)}")
    for name, dim in rubric.dimensions.items():
        if all((r.get("dimensions") or {}).get(name) is None for r in ok):
            own = [c.id for c in rubric.checks if c.dimension == name and not c.audit]
            out[f"floor:{name}"] = (
                f"dimension {name!r} is under its coverage floor (min_coverage "
                f"{dim.min_coverage:g}) on every sample, so every score is None (masked); its "
                f"checks {', '.join(own)} answer too rarely")
    masked = sum(r.get("score") is None for r in ok) / len(ok)
    if masked > MASKED_WARN:
        dims = [k.split(":", 1)[1] for k in out if k.startswith("floor:")]
        out["masked"] = (f"the reward is masked (score None) for {masked:.0%} of {len(ok)} "
                         "samples" + (f": dimension {', '.join(dims)} under its floor" if dims
                                      else ": dimensions under their coverage floors"))
    scores = [r["score"] for r in ok if r.get("score") is not None]
    if len(scores) > 1 and max(scores) - min(scores) == 0:
        out["flat"] = (f"the reward is flat at {scores[0]:g} over all {len(scores)} scored "
                       "samples: no completion scores better than another" + _always_failing(ok))
    cut = sum(r.get("finish_reason") == "length" for r in ok) / len(ok)
    if max_truncated_frac is not None and cut > max_truncated_frac:
        out["truncated"] = (f"{cut:.0%} of {len(ok)} completions ended on the length limit "
                            f"(above {max_truncated_frac:g}): answers are cut, and a cut answer "
                            f"scores as a wrong one; raise {budget_key} or set "
                            "task.max_new_tokens")
    return out


def _always_failing(records: Sequence[Mapping[str, Any]]) -> str:
    fails: dict[str, list[str]] = {}
    for r in records:
        for cid, v in (r.get("verdicts") or {}).items():
            status, reason, _ = _status(v)
            fails.setdefault(cid, []).append(reason if status == "fail" else "")
    always = [(cid, Counter(rs).most_common(1)[0][0]) for cid, rs in fails.items() if all(rs)]
    return "".join(f"; {cid} fails on every sample ({reason})" for cid, reason in always[:3])


def as_records(batch: Any) -> list[dict[str, Any]]:
    """An RL Batch as the records `diagnose` reads."""
    return [{"score": r.score, "dimensions": r.dimensions, "verdicts": r.verdicts,
             "finish_reason": g.finish_reason, "error": g.error}
            for r, g in zip(batch.results, batch.gens, strict=True)]


def no_signal(rewards: Sequence[float], dims: Sequence[Sequence[float]], group_size: int) -> str:
    """Why this batch cannot move the policy ('' if it can): every reward masked, or every
    group (the whole batch when a group is one completion) flat in total and dimensions."""
    if all(math.isnan(x) for x in rewards):
        return "every sample is masked (score None)"
    size = group_size if group_size > 1 else len(rewards)

    def flat(values: Sequence[float]) -> bool:
        got = [x for x in values if not math.isnan(x)]
        return len(got) < 2 or max(got) == min(got)

    for start in range(0, len(rewards), size):
        rows = range(start, min(start + size, len(rewards)))
        if not flat([rewards[i] for i in rows]):
            return ""
        if any(not flat([dims[i][d] for i in rows]) for d in range(len(dims[0]) if dims else 0)):
            return ""
    return "every group's rewards are equal (zero variance: no advantage, no gradient)"


def check_signal(run: Any, batch: Any, group_size: int) -> None:
    """The RL recipes' per-step call (see the module docstring). `batch`: every rank's samples
    (the gathered Batch), so every rank decides the same."""
    tc = run.cfg.train
    found = diagnose(as_records(batch), run.harness.rubric, tc.get("max_truncated_frac"),
                     "sampling.max_new_tokens")
    for key, msg in found.items():
        if key in run.warned:
            continue
        run.warned.add(key)
        if run.rank == 0:
            print(f"[{run.cfg.stage}] warning: step {run.step + 1}: {msg}", file=sys.stderr,
                  flush=True)
            run.tracker.alert(f"{run.cfg.stage}: {key.split(':')[0]}", msg)
    if run.step > 0:
        return
    why = no_signal(batch.rewards.tolist(), batch.dims.tolist(), group_size)
    if not why:
        return
    causes = "; ".join(found.values()) or "no check explains it"
    if tc.get("allow_no_signal"):
        print(f"[{run.cfg.stage}] warning: the first step has no reward signal ({why}); going "
              "on (train.allow_no_signal=true)", file=sys.stderr, flush=True)
        return
    from rl.state import RLError

    raise RLError(f"step 1: the reward gives no signal: {why}. {causes}. Fix the rubric, the "
                  "task's columns or the budget, or set train.allow_no_signal=true to train "
                  "anyway")


def eval_warnings(records: Sequence[Mapping[str, Any]], rubric: Any,
                  max_truncated_frac: float | None) -> list[str]:
    """The warnings of an evaluation's records (rl.evaluate prints, reports and alerts them).
    A flat score is no warning here: a base model that never gives a valid answer scores 0
    everywhere, and that is the number to report."""
    found = diagnose(records, rubric, max_truncated_frac, "evaluate.sampling.max_new_tokens")
    return [msg for key, msg in found.items() if key != "flat"]
