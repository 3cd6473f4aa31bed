"""Judge abstain rate vs server latency at fixed concurrency (issue 16).

    python benchmarks/judge_latency.py --root . --json /tmp/after.json
    python benchmarks/judge_latency.py --root /tmp/base --json /tmp/before.json

A healthy local server (tests/rewards/fake_judge.py, stdlib http.server on 127.0.0.1) answers
every request after a fixed latency; 200 samples × 1 judge check, judge concurrency 8, check
timeout 3 s. With the timeout counted from the request, no request should time out below
3 s latency; counting the semaphore queue, every sample queued behind more than
3 s / latency × 8 others abstained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "rewards"))
from fake_judge import FakeJudge  # noqa: E402

RUBRIC = {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": [
    {"id": "j", "kind": "judge", "dimension": "d", "question": "Is it polite?", "timeout_s": 3}]}


def run_one(latency: float, n: int, concurrency: int) -> dict:
    from rewards import Harness, Sample

    with FakeJudge(latency=latency) as server:
        h = Harness(RUBRIC, judge={"base_url": server.base_url, "model": "m",
                                   "concurrency": concurrency, "max_retries": 0})
        t0 = time.perf_counter()
        res = h.score_batch([Sample(id=str(i), completion=f"reply {i}") for i in range(n)])
        wall = time.perf_counter() - t0
        abstains = sum(r.verdicts["j"].status == "abstain" for r in res)
        return {"latency_s": latency, "n": n, "abstains": abstains, "requests": server.requests,
                "wall_s": round(wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(HERE.parent))
    ap.add_argument("--latencies", default="0.05,0.1,0.25,0.5,1.0")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    for v in ("HARNESSRL_JUDGE_BASE_URL", "HARNESSRL_JUDGE_MODEL", "HARNESSRL_JUDGE_API_KEY_ENV"):
        os.environ.pop(v, None)
    rows = [run_one(float(lat), args.n, args.concurrency)
            for lat in args.latencies.split(",") for _ in range(args.repeats)]
    for r in rows:
        print(json.dumps(r))
    if args.json:
        Path(args.json).write_text(json.dumps({"root": args.root, "rows": rows}))


if __name__ == "__main__":
    main()
