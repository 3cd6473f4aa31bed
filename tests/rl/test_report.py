"""Pure-function tests for rl.report: bootstrap CI, task summaries, tables, plot, compare."""

from __future__ import annotations

import numpy as np
import pytest

from rl.report import bootstrap_ci, compare_runs, plot_scores, render_report, summarize_task


def test_bootstrap_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=200).astype(float)  # accuracy-like 0/1 values
    lo, hi = bootstrap_ci(x, n_resamples=1000, seed=0)
    assert (lo, hi) == bootstrap_ci(x, n_resamples=1000, seed=0)
    y = rng.normal(size=50)  # continuous values: another seed moves the interval
    assert bootstrap_ci(y, seed=0) != bootstrap_ci(y, seed=1)
    assert lo < x.mean() < hi
    # normal approximation of the mean's 95% CI half-width: 1.96 * sd / sqrt(n)
    half = 1.96 * x.std() / np.sqrt(x.size)
    assert hi - lo == pytest.approx(2 * half, rel=0.15)


def test_bootstrap_degenerate_inputs():
    assert bootstrap_ci([]) == (None, None)
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)


def _rec(v, diff="easy", error=None, dims=None, verdicts=None):
    return {"metric_value": v, "error": error, "difficulty": diff,
            "dimensions": dims or {}, "verdicts": verdicts or {}}


def test_summary_excludes_errors_and_unscored_never_zero():
    recs = [_rec(1.0, "easy", dims={"c": 1.0}, verdicts={"label": {"status": "pass"}}),
            _rec(0.0, "hard", dims={"c": 0.0}, verdicts={"label": {"status": "fail"}}),
            _rec(None, "hard", error="HTTP 503 (after 5 attempts)"),
            _rec(None, "medium", dims={"c": None}, verdicts={"label": {"status": "abstain"}})]
    s = summarize_task(recs, metric="accuracy", scale=(0, 1))
    assert s["value"] == 0.5  # mean of the two scored records only
    assert (s["n"], s["n_scored"], s["errors"], s["unscored"]) == (4, 2, 1, 1)
    assert s["difficulty"]["easy"] == {"value": 1.0, "n": 1}
    assert s["difficulty"]["hard"] == {"value": 0.0, "n": 1}
    assert s["difficulty"]["medium"] == {"value": None, "n": 0}
    assert list(s["difficulty"]) == ["easy", "medium", "hard"]
    assert s["dimensions"] == {"c": 0.5}
    assert s["checks"]["label"] == {"pass_rate": 0.5, "n": 2}
    assert s["ci_low"] <= s["value"] <= s["ci_high"]


def test_report_table_and_plot(tmp_path):
    tasks = {"support_classification": summarize_task(
                 [_rec(1.0), _rec(0.0, "hard"), _rec(1.0, "medium")], "accuracy", (0, 1)),
             "invoice_extraction": summarize_task(
                 [_rec(4.0, dims={"fields": 0.8}), _rec(None, error="timeout")], "score", (0, 5))}
    md = render_report(tasks, {"run_name": "eval-x"})
    assert "| task | metric | value | 95% CI | easy | medium | hard | n | errors | unscored |" in md
    assert "| support_classification | accuracy (0–1) | 0.667 |" in md
    assert "| invoice_extraction | score (0–5) | 4.000 | [4.000, 4.000] | 4.000 | – | – | 2 | 1 | 0 |" in md
    assert "| fields | 0.800 |" in md
    png = plot_scores(tasks, tmp_path / "scores.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_deltas_against_first_and_rubric_warning():
    def run(v, h="abc123456789xyz"):
        return {"tasks": {"t": {"metric": "accuracy", "value": v, "ci_low": v - 0.1,
                                "ci_high": v + 0.1, "n": 10, "errors": 0, "rubric_hash": h}}}

    md = compare_runs([run(0.2), run(0.5), run(0.9, h="zzz999999999")], ["base", "sft", "rl"])
    assert "| t | accuracy | 0.200 [0.100, 0.300] n=10 | 0.500 (+0.300) [0.400, 0.600] n=10 |" in md
    assert "0.900 (+0.700)" in md
    assert "rl/t: rubric hash zzz999999999 differs" in md
