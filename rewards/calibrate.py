"""Agreement between the harness and expert labels: trust a check before it is a reward.

    python -m rewards.calibrate --scored scored.jsonl --labels labels.jsonl

labels.jsonl rows: {"id": ..., "checks": {"<check id>": true|false|"pass"|"fail"}, "score": 3.5}
(either part optional). Reports per-check accuracy, Cohen's kappa and confusion counts (harness
vs expert, abstains excluded and counted), Spearman/Pearson/MAE for overall scores, and flags
checks whose kappa is below --kappa-threshold. Exit 2 on bad input.

A graded check (a verdict `value` between 0 and 1 that a threshold turns into pass/fail: a
judge's P(yes), a fuzzy match ratio) agrees with the experts more or less depending on that
threshold, so for those the report adds kappa at thresholds 0.1..0.9 and the threshold that
maximises it; a judge check takes it as `yes_threshold:` in the rubric.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cohen_kappa(tp: int, fp: int, fn: int, tn: int) -> float | None:
    """κ = (p_o − p_e)/(1 − p_e) for two binary raters; None when undefined (no data)."""
    n = tp + fp + fn + tn
    if n == 0:
        return None
    po = (tp + tn) / n
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / n**2
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)


def _defined(x: list[float], y: list[float]) -> bool:
    """A correlation needs two points and variation on both sides (None otherwise, where
    scipy would return NaN with a warning)."""
    return len(x) >= 2 and len(set(x)) > 1 and len(set(y)) > 1


def pearson(x: list[float], y: list[float]) -> float | None:
    from scipy.stats import pearsonr  # lazy: `import rewards` stays light

    return float(pearsonr(x, y).statistic) if _defined(x, y) else None


def spearman(x: list[float], y: list[float]) -> float | None:
    """Rank correlation; tied values share their average rank (scipy's default)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if _defined(x, y) else None


# thresholds reported for graded checks (the best one is searched over every observed value)
GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def kappa_at(pairs: list[tuple[float, bool]], threshold: float) -> float | None:
    """κ between the experts and `value >= threshold` over (value, expert) pairs."""
    cells = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for value, expert in pairs:
        cells[(value >= threshold, expert)] += 1
    return cohen_kappa(cells[(True, True)], cells[(True, False)], cells[(False, True)],
                       cells[(False, False)])


def threshold_sweep(pairs: list[tuple[float, bool]]) -> dict:
    """κ on GRID and the threshold that maximises it (ties: the one nearest 0.5)."""
    best, best_k = None, None
    for t in sorted({v for v, _ in pairs}):
        k = kappa_at(pairs, t)
        if k is not None and (best_k is None or k > best_k + 1e-12
                              or (abs(k - best_k) <= 1e-12 and abs(t - 0.5) < abs(best - 0.5))):
            best, best_k = t, k
    return {"kappa_by_threshold": {f"{t:g}": kappa_at(pairs, t) for t in GRID},
            "best_threshold": best, "best_kappa": best_k}


def _as_bool(v, where: str) -> bool:
    if isinstance(v, bool):
        return v
    if v in ("pass", "yes", 1):
        return True
    if v in ("fail", "no", 0):
        return False
    raise ValueError(f"{where}: expected true/false or 'pass'/'fail', got {v!r}")


def _read(path: str) -> dict[str, dict]:
    rows = {}
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: file not found")
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict) or "id" not in row:
            raise ValueError(f"{path}:{lineno}: expected an object with an 'id'")
        rows[str(row["id"])] = row | {"_line": lineno}
    return rows


def calibrate(scored: dict[str, dict], labels: dict[str, dict], labels_path: str = "labels",
              kappa_threshold: float = 0.6) -> dict:
    checks: dict[str, dict] = {}
    xs, ys, missing = [], [], 0
    for sid, lab in labels.items():
        res = scored.get(sid)
        if res is None:
            missing += 1
            continue
        for cid, expert in (lab.get("checks") or {}).items():
            where = f"{labels_path}:{lab['_line']}: checks.{cid}"
            if cid not in res["verdicts"]:
                raise ValueError(f"{where}: no such check in the scored results")
            c = checks.setdefault(cid, {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "abstain": 0,
                                        "_values": []})
            v = res["verdicts"][cid]
            if v["status"] == "abstain":
                c["abstain"] += 1
                continue
            h, e = v["status"] == "pass", _as_bool(expert, where)
            c[{(True, True): "tp", (True, False): "fp", (False, True): "fn",
               (False, False): "tn"}[(h, e)]] += 1
            if isinstance(v.get("value"), int | float) and not isinstance(v["value"], bool):
                c["_values"].append((float(v["value"]), e))
        if lab.get("score") is not None and res.get("score") is not None:
            xs.append(float(res["score"]))
            ys.append(float(lab["score"]))
    for c in checks.values():
        n = c["tp"] + c["fp"] + c["fn"] + c["tn"]
        c["n"] = n
        c["accuracy"] = (c["tp"] + c["tn"]) / n if n else None
        c["kappa"] = cohen_kappa(c["tp"], c["fp"], c["fn"], c["tn"])
        c["flagged"] = c["kappa"] is None or c["kappa"] < kappa_threshold
        values = c.pop("_values")
        # graded: every answered verdict has a value and some lie strictly between 0 and 1
        if len(values) == n and any(0 < x < 1 for x, _ in values):
            c["graded"] = threshold_sweep(values)
    overall = {"n": len(xs), "spearman": spearman(xs, ys), "pearson": pearson(xs, ys),
               "mae": sum(abs(a - b) for a, b in zip(xs, ys, strict=True)) / len(xs) if xs else None}
    return {"checks": checks, "overall": overall, "labels_without_result": missing,
            "kappa_threshold": kappa_threshold,
            "flagged": sorted(k for k, c in checks.items() if c["flagged"])}


def format_report(rep: dict) -> str:
    def f(x):
        return "-" if x is None else f"{x:.3f}"

    lines = [f"{'check':<30}{'n':>5}{'acc':>8}{'kappa':>8}  tp/fp/fn/tn  abstain"]
    for cid, c in rep["checks"].items():
        flag = "  <-- below kappa threshold" if c["flagged"] else ""
        lines.append(f"{cid[:29]:<30}{c['n']:>5}{f(c['accuracy']):>8}{f(c['kappa']):>8}  "
                     f"{c['tp']}/{c['fp']}/{c['fn']}/{c['tn']}  {c['abstain']}{flag}")
    for cid, c in rep["checks"].items():
        g = c.get("graded")
        if g and g["best_threshold"] is not None:
            ks = "  ".join(f"{t}:{f(k)}" for t, k in g["kappa_by_threshold"].items())
            lines.append(f"\n{cid} is graded; kappa by pass threshold: {ks}\n  best kappa "
                         f"{f(g['best_kappa'])} at value >= {g['best_threshold']:.3g} (a judge "
                         f"check takes it as `yes_threshold: {g['best_threshold']:.3g}`)")
    o = rep["overall"]
    lines.append(f"\noverall score vs expert (n={o['n']}): spearman {f(o['spearman'])}  "
                 f"pearson {f(o['pearson'])}  MAE {f(o['mae'])}")
    if rep["labels_without_result"]:
        lines.append(f"{rep['labels_without_result']} labelled ids had no scored result")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rewards.calibrate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--scored", required=True, help="output of python -m rewards.score")
    p.add_argument("--labels", required=True, help="expert labels JSONL")
    p.add_argument("--kappa-threshold", type=float, default=0.6, help="flag checks below this κ")
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    args = p.parse_args(argv)
    try:
        rep = calibrate(_read(args.scored), _read(args.labels), args.labels, args.kappa_threshold)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(rep))
    if args.json:
        from rewards.sample import write_atomic_many

        write_atomic_many({Path(args.json): json.dumps(rep, indent=2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
