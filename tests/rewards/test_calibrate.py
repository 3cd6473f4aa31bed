import json
import subprocess
import sys

import pytest

from rewards.calibrate import calibrate, cohen_kappa, pearson, spearman


def test_kappa_known_values():
    assert cohen_kappa(10, 0, 0, 10) == 1.0
    # chance-level agreement: every cell equal
    assert cohen_kappa(5, 5, 5, 5) == 0.0
    # worked example (Cohen 1960 style): po=0.7, pe=0.5
    assert cohen_kappa(20, 5, 10, 15) == pytest.approx(0.4)
    assert cohen_kappa(0, 0, 0, 0) is None


def test_correlations():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1], [1, 2]) is None


def _scored(sid, status, score):
    return {"id": sid, "score": score, "verdicts": {"c": {"status": status}}}


def test_calibrate_flags_disagreeing_check(tmp_path):
    scored = {str(i): _scored(str(i), "pass" if i % 2 else "fail", float(i)) for i in range(8)}
    scored["8"] = _scored("8", "abstain", 8.0)
    labels = {str(i): {"id": str(i), "_line": i + 1, "checks": {"c": i % 2 == 0},
                       "score": float(i) * 2} for i in range(9)}
    rep = calibrate(scored, labels)
    c = rep["checks"]["c"]
    assert (c["tp"], c["fp"], c["fn"], c["tn"], c["abstain"]) == (0, 4, 4, 0, 1)
    assert c["kappa"] == pytest.approx(-1.0) and c["flagged"]
    assert rep["overall"]["spearman"] == pytest.approx(1.0)
    assert rep["overall"]["mae"] == pytest.approx(sum(range(9)) / 9)


def test_cli_bad_label_names_line(tmp_path):
    (tmp_path / "s.jsonl").write_text(json.dumps(_scored("a", "pass", 1.0)) + "\n")
    (tmp_path / "l.jsonl").write_text('{"id": "a", "checks": {"c": "maybe"}}\n')
    p = subprocess.run([sys.executable, "-m", "rewards.calibrate", "--scored", str(tmp_path / "s.jsonl"),
                        "--labels", str(tmp_path / "l.jsonl")], capture_output=True, text=True)
    assert p.returncode == 2 and "l.jsonl:1: checks.c" in p.stderr
    (tmp_path / "l.jsonl").write_text('{"id": "a", "checks": {"c": true}, "score": 1}\n')
    p = subprocess.run([sys.executable, "-m", "rewards.calibrate", "--scored", str(tmp_path / "s.jsonl"),
                        "--labels", str(tmp_path / "l.jsonl")], capture_output=True, text=True)
    assert p.returncode == 0 and "kappa" in p.stdout


def test_graded_check_reports_kappa_by_threshold_and_the_best_one(tmp_path):
    """P(yes) values that agree with the experts only above 0.7: at the usual 0.5 the check
    passes two experts' 'no's (kappa 9/17); the sweep finds 0.75 with kappa 1."""
    values = [0.9, 0.8, 0.75, 0.6, 0.55, 0.3, 0.2, 0.1]
    expert = [True, True, True, False, False, False, False, False]
    scored = {str(i): {"id": str(i), "score": 1.0, "verdicts": {"j": {
        "status": "pass" if v >= 0.5 else "fail", "value": v}}} for i, v in enumerate(values)}
    labels = {str(i): {"id": str(i), "_line": i + 1, "checks": {"j": e}}
              for i, e in enumerate(expert)}
    rep = calibrate(scored, labels)
    g = rep["checks"]["j"]["graded"]
    assert rep["checks"]["j"]["kappa"] == pytest.approx(9 / 17)
    assert g["kappa_by_threshold"]["0.5"] == pytest.approx(9 / 17)
    assert g["best_threshold"] == 0.75 and g["best_kappa"] == pytest.approx(1.0)
    # binary verdicts (no value, or only 0/1) are not graded
    scored["0"]["verdicts"]["j"]["value"] = None
    assert "graded" not in calibrate(scored, labels)["checks"]["j"]
    scored["0"]["verdicts"]["j"]["value"] = 0.9
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in scored.values()))
    (tmp_path / "l.jsonl").write_text("".join(
        json.dumps({"id": str(i), "checks": {"j": e}}) + "\n" for i, e in enumerate(expert)))
    p = subprocess.run([sys.executable, "-m", "rewards.calibrate", "--scored",
                        str(tmp_path / "s.jsonl"), "--labels", str(tmp_path / "l.jsonl")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "best kappa 1.000 at value >= 0.75" in p.stdout
    assert "yes_threshold: 0.75" in p.stdout


def test_correlations_match_the_textbook_on_ties():
    # ties share their average rank: ranks x = 1, 2.5, 2.5, 4 against y = 1, 2, 3, 4
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
