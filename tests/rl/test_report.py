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


# --- paired deltas -----------------------------------------------------------------------------
def test_paired_bootstrap_matches_a_hand_computed_example():
    """d = b - a = [1, 0, 0]; four fixed resamples of the indices give means 1, 0, 1/3, 1/3;
    sorted [0, 1/3, 1/3, 1]. At ci=0.5 the 25% / 75% quantiles (numpy's linear rule, position
    q * (4 - 1)) are 0 + 0.75 * 1/3 = 0.25 and 1/3 + 0.25 * 2/3 = 0.5."""
    from rewards.evaluation import paired_bootstrap_ci

    idx = np.array([[0, 0, 0], [1, 2, 1], [0, 1, 2], [2, 2, 0]])
    out = paired_bootstrap_ci([0, 0, 1], [1, 0, 1], ci=0.5, indices=idx)
    assert out["n"] == 3 and out["mean"] == pytest.approx(1 / 3)
    assert out["ci_low"] == pytest.approx(0.25) and out["ci_high"] == pytest.approx(0.5)


def test_paired_bootstrap_properties():
    from rewards.evaluation import paired_bootstrap_ci

    rng = np.random.default_rng(3)
    a = rng.random(40)
    same = paired_bootstrap_ci(a, a)
    assert (same["mean"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    shift = paired_bootstrap_ci(a, a + 0.25)
    assert shift["mean"] == pytest.approx(0.25)
    assert shift["ci_low"] == pytest.approx(0.25) and shift["ci_high"] == pytest.approx(0.25)
    # pairing removes the between-example spread: a small consistent gain is resolved
    b = a + 0.02 + rng.normal(0, 0.01, 40)
    paired = paired_bootstrap_ci(a, b)
    assert paired["ci_low"] > 0
    lo_a, hi_a = bootstrap_ci(a)
    assert hi_a - lo_a > 5 * (paired["ci_high"] - paired["ci_low"])
    assert paired_bootstrap_ci([], [])["mean"] is None
    assert paired_bootstrap_ci(a, b, seed=1) != paired_bootstrap_ci(a, b, seed=2)
    with pytest.raises(ValueError, match="a has 2 values, b has 3"):
        paired_bootstrap_ci([1, 2], [1, 2, 3])


def test_paired_delta_matches_records_by_id_and_skips_unscored():
    from rewards.evaluation import paired_delta

    def rec(i, v, dim=None, error=None):
        return {"id": f"s{i}", "metric_value": v, "error": error,
                "dimensions": {"d": dim} if dim is not None else {}}

    a = [rec(0, 0.0, 0.0), rec(1, 1.0, 0.5), rec(2, 0.0, 0.0), rec(3, 1.0)]
    # other order; s2 failed to generate in b, s3 is absent, s4 only in b
    b = [rec(1, 1.0, 1.0), rec(0, 1.0, 1.0), rec(2, 1.0, error="HTTP 503"), rec(4, 1.0)]
    out = paired_delta(a, b, dimensions=True)
    assert out["n"] == 2 and out["mean"] == pytest.approx(0.5)  # (1-0 + 1-1) / 2 over s0, s1
    assert out["dimensions"]["d"]["n"] == 2
    assert out["dimensions"]["d"]["mean"] == pytest.approx(0.75)  # (1-0 + 1-0.5) / 2
    # several completions per sample: averaged per id first
    multi = [rec(0, 0.0), rec(0, 1.0), rec(1, 1.0)]
    assert paired_delta(a, multi)["mean"] == pytest.approx(0.25)  # (0.5-0 + 1-1) / 2


def test_compare_adds_paired_deltas_where_runs_share_sample_ids(tmp_path):
    import json

    from rl.evaluate import compare_main

    def run(name, values, ids=None):
        d = tmp_path / name
        d.mkdir()
        ids = ids or [f"s{i}" for i in range(len(values))]
        recs = [{"id": i, "task": "t", "metric_value": v, "error": None, "dimensions": {},
                 "verdicts": {}, "difficulty": None} for i, v in zip(ids, values, strict=True)]
        (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        scores = {"run_name": name, "tasks": {"t": summarize_task(recs, "accuracy")}}
        (d / "scores.json").write_text(json.dumps(scores))
        return str(d)

    base = run("base", [0, 0, 1, 0])
    better = run("sft", [1, 0, 1, 1])
    other = run("other", [1, 1], ids=["x0", "x1"])  # shares no id with base
    out = tmp_path / "cmp.md"
    assert compare_main([base, better, other, "--out", str(out)]) == 0
    md = out.read_text()
    assert "Paired deltas vs **base**" in md
    row = next(line for line in md.splitlines() if line.startswith("| t | +0.500 ["))
    assert row.endswith("n=4 | – |")
