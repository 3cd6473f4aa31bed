"""Harness throughput benchmark; prints ratios measured side by side in one process.

    python -m benchmarks.harness [--n 1000] [--judge-base-url URL --judge-model NAME]

1. samples/s for a 20-check deterministic rubric over N samples (run it under
   OMP_NUM_THREADS=1 / taskset -c 0 for "one core");
2. re-scoring the same batch from the verdict cache vs computing it, on a rubric whose
   expensive check is the MiniLM semantic similarity;
3. with a judge endpoint: a 200-sample batch with one `judge` check, fan-out (concurrency 32)
   vs one call at a time (concurrency 1).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from benchmarks.measure import load, machine
from rewards import Harness, Sample, load_rubric

_DET_CHECKS = [
    {"kind": "json_valid"}, {"kind": "json_schema", "schema": {
        "type": "object", "required": ["vendor", "total", "date", "items"]}},
    {"kind": "field_match", "path": "vendor", "mode": "normalized"},
    {"kind": "field_match", "path": "vendor", "mode": "fuzzy"},
    {"kind": "field_match", "path": "total", "mode": "numeric"},
    {"kind": "field_match", "path": "date", "mode": "date"},
    {"kind": "field_match", "path": "items[*].sku", "mode": "exact"},
    {"kind": "numbers_grounded"}, {"kind": "numbers_grounded", "path": "total"},
    {"kind": "spans_preserved", "from_meta": "spans"},
    {"kind": "spans_preserved", "from_reference": "vendor"},
    {"kind": "regex", "pattern": r"\binvoice\b", "flags": ["IGNORECASE"], "must_match": False},
    {"kind": "regex", "pattern": r"^\{", "must_match": True},
    {"kind": "length", "unit": "chars", "max": 2000}, {"kind": "length", "unit": "words", "min": 3},
    {"kind": "no_repetition"}, {"kind": "no_repetition", "phrase_from_meta": "name"},
    {"kind": "readability", "max_grade": 40},
    {"kind": "label_match", "labels": ["paid", "due"], "reference_path": "status"},
    {"kind": "length", "unit": "sentences", "max": 40},
]


def deterministic_rubric(extra: list[dict] | None = None) -> dict:
    checks = [{"id": f"c{i:02d}_{c['kind']}", "dimension": f"d{i % 4}", **c}
              for i, c in enumerate(_DET_CHECKS)]
    return {"scale": [0, 5], "dimensions": {f"d{i}": {} for i in range(4)},
            "checks": checks + (extra or [])}


def make_samples(n: int, seed: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    vendors = ["Acme Corp", "Globex Ltd", "Initech GmbH", "Umbrella Pty", "Hooli Inc"]
    out = []
    for i in range(n):
        items = [{"sku": f"SKU-{rng.randint(100, 999)}", "amount": round(rng.uniform(1, 500), 2)}
                 for _ in range(rng.randint(1, 4))]
        total = round(sum(x["amount"] for x in items), 2)
        ref = {"vendor": rng.choice(vendors), "total": total, "date": "2024-03-12",
               "items": items, "status": rng.choice(["paid", "due"])}
        comp = dict(ref, total=f"{total:,.2f}") if rng.random() < 0.7 else dict(ref, total=total + 1)
        source = f"{ref['vendor']} 12/03/2024 " + " ".join(
            f"{x['sku']} {x['amount']}" for x in items) + f" TOTAL {total}"
        out.append(Sample(id=str(i), completion=json.dumps(comp), reference=ref, source=source,
                          meta={"spans": [ref["vendor"]], "name": ref["vendor"]}))
    return out


def _timed(harness: Harness, samples) -> float:
    t0 = time.perf_counter()
    harness.score_batch(samples)
    return time.perf_counter() - t0


def bench_deterministic(n: int) -> dict:
    samples = make_samples(n)
    h = Harness(load_rubric(deterministic_rubric()))
    h.score_batch(samples[:20])  # warm imports (jsonschema)
    secs = min(_timed(h, samples) for _ in range(3))
    return {"checks": len(_DET_CHECKS), "samples": n, "seconds": secs, "samples_per_s": n / secs}


def bench_cache(n: int) -> dict:
    samples = make_samples(n)
    sem = [{"id": "sem", "kind": "semantic_similarity", "dimension": "d0", "threshold": 0.5,
            "reference_path": "vendor"}]
    rubric = load_rubric(deterministic_rubric(sem))
    with tempfile.TemporaryDirectory() as d:
        Harness(rubric).score_batch(samples[:8])  # load MiniLM outside the timing
        path = Path(d) / "cache.sqlite"
        compute = _timed(Harness(rubric, cache_path=path), samples)
        cached_h = Harness(rubric, cache_path=path)
        cached = _timed(cached_h, samples)
        stats = cached_h.cache.stats()
    return {"samples": n, "compute_s": compute, "cached_s": cached, "ratio": compute / cached,
            "cache": stats}


def bench_judge(base_url: str, model: str, n: int = 200) -> dict:
    rubric = load_rubric({"dimensions": {"d": {}}, "checks": [
        {"id": "q", "kind": "judge", "dimension": "d", "question": "Is this reply polite?"}]})
    samples = [Sample(id=str(i), completion=f"Thank you for your message number {i}.")
               for i in range(n)]
    judge = {"base_url": base_url, "model": model, "timeout_s": 120,
             "extra_body": {"structured_outputs": {"choice": ["yes", "no"]}}}
    out = {}
    for conc in (1, 32):
        h = Harness(rubric, judge=dict(judge, concurrency=conc))
        out[f"concurrency_{conc}_s"] = _timed(h, samples)
        out[f"concurrency_{conc}_errors"] = h.last_stats["judge_errors"]
    out["samples"] = n
    out["ratio"] = out["concurrency_1_s"] / out["concurrency_32_s"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.harness", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="samples for the deterministic/cache runs")
    p.add_argument("--judge-base-url", default=None, help="OpenAI-compatible server (…/v1)")
    p.add_argument("--judge-model", default=None, help="served model name")
    p.add_argument("--judge-n", type=int, default=200, help="samples in the judge batch")
    p.add_argument("--json", default=None, help="write the results here as JSON")
    a = p.parse_args(argv)
    res = {"machine": machine(), "load_before": load(),
           "deterministic": bench_deterministic(a.n), "cache": bench_cache(a.n)}
    d, c = res["deterministic"], res["cache"]
    print(f"deterministic {d['checks']}-check rubric: {d['samples_per_s']:.0f} samples/s "
          f"({d['samples']} in {d['seconds']:.2f}s)")
    print(f"cache: compute {c['compute_s']:.2f}s vs cached {c['cached_s']:.2f}s -> "
          f"{c['ratio']:.1f}x ({c['cache']})")
    if a.judge_base_url:
        j = res["judge"] = bench_judge(a.judge_base_url, a.judge_model, a.judge_n)
        print(f"judge {j['samples']} samples: one-at-a-time {j['concurrency_1_s']:.1f}s vs "
              f"fan-out {j['concurrency_32_s']:.1f}s -> {j['ratio']:.1f}x "
              f"(errors {j['concurrency_1_errors']}/{j['concurrency_32_errors']})")
    res["load_after"] = load()
    print(f"{res['machine']}; {res['load_before']} before, {res['load_after']} after")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
