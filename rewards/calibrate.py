"""Agreement between the harness and expert labels: trust a check before it is a reward.

    python -m rewards.calibrate --scored scored.jsonl --labels labels.jsonl

labels.jsonl rows: {"id": ..., "checks": {"<check id>": true|false|"pass"|"fail"}, "score": 3.5}
(either part optional). Reports per-check accuracy, Cohen's kappa and confusion counts (harness
vs expert, abstains excluded and counted), Spearman/Pearson/MAE for overall scores, and flags
checks whose kappa is below --kappa-threshold. Exit 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
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


def pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return None if sx == 0 or sy == 0 else sxy / (sx * sy)


def _ranks(x: list[float]) -> list[float]:
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share their average rank
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float | None:
    return pearson(_ranks(x), _ranks(y))


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
            c = checks.setdefault(cid, {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "abstain": 0})
            status = res["verdicts"][cid]["status"]
            if status == "abstain":
                c["abstain"] += 1
                continue
            h, e = status == "pass", _as_bool(expert, where)
            c[{(True, True): "tp", (True, False): "fp", (False, True): "fn",
               (False, False): "tn"}[(h, e)]] += 1
        if lab.get("score") is not None and res.get("score") is not None:
            xs.append(float(res["score"]))
            ys.append(float(lab["score"]))
    for c in checks.values():
        n = c["tp"] + c["fp"] + c["fn"] + c["tn"]
        c["n"] = n
        c["accuracy"] = (c["tp"] + c["tn"]) / n if n else None
        c["kappa"] = cohen_kappa(c["tp"], c["fp"], c["fn"], c["tn"])
        c["flagged"] = c["kappa"] is None or c["kappa"] < kappa_threshold
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
        Path(args.json).write_text(json.dumps(rep, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
