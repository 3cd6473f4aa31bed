"""Gold is the control on real data: every adapter's references score >= 95% of the scale
on the rubric that task resolution picks for that adapter. Skips without ../shared."""

import json
from dataclasses import replace
from statistics import fmean

import pytest

from rewards import Harness
from rewards.tasks import get_task, list_tasks
from rewards.tasks.loading import load_split, rubric_path_for

ADAPTERS = [(t, a) for t in list_tasks() for a in get_task(t).adapters]


def _gold(s):
    ref = s.reference
    return ref if isinstance(ref, str) or ref is None else json.dumps(ref)


@pytest.mark.parametrize("task, adapter", ADAPTERS, ids=[f"{t}-{a}" for t, a in ADAPTERS])
def test_real_references_score_at_least_95_percent(task, adapter, real_data_dir):
    path = real_data_dir / adapter
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    cfg = {"name": task, "source": "real", "path": str(path), "adapter": adapter, "n_eval": 50}
    samples = [s for s in load_split(cfg, "eval") if s.reference is not None]
    if not samples:
        pytest.skip(f"{adapter} has no reference answers: the rubric alone grades it")
    results = Harness(rubric_path_for(cfg)).score_batch(
        [replace(s, completion=_gold(s)) for s in samples])
    scores = [r.score for r in results]
    assert None not in scores, "a gold reference was masked (coverage floor)"
    lo, hi = get_task(task).scale
    assert (fmean(scores) - lo) / (hi - lo) >= 0.95, f"{task}/{adapter}: {fmean(scores):.2f}"


def test_adapter_rubric_variants_resolve(real_data_dir):
    cfg = {"name": "invoice_extraction", "source": "real", "path": str(real_data_dir / "sroie")}
    assert rubric_path_for(cfg).name == "invoice_extraction.sroie.yaml"
    assert rubric_path_for({"name": "invoice_extraction"}).name == "invoice_extraction.yaml"
    cfg = {"name": "clinical_scribe", "source": "real", "path": str(real_data_dir / "aci-bench")}
    assert rubric_path_for(cfg).name == "clinical_scribe.yaml"  # no variant: the suite rubric
