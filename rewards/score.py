"""Score a JSONL of samples with a rubric: one result per line, then a summary table.

    python -m rewards.score --rubric rubric.yaml --input samples.jsonl --output scored.jsonl

Each input line follows the sample contract (id, prompt, source, reference, completion, meta).
Exit codes: 0 success, 2 invalid rubric or input (the message names the file, key or line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rewards.score", description=__doc__.split("\n\n")[0],
        epilog="Judge checks run only when a judge endpoint is given (flags, the rubric's "
               "`judge:` block, or HARNESSRL_JUDGE_BASE_URL/HARNESSRL_JUDGE_MODEL); otherwise "
               "they are skipped and reported, never counted as failures.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rubric", required=True, help="rubric YAML file")
    p.add_argument("--input", required=True, help="JSONL of samples with `completion` set")
    p.add_argument("--output", required=True, help="JSONL of results, one per input line")
    p.add_argument("--on-bad-line", choices=["fail", "skip"], default="fail",
                   help="what to do with a line that breaks the sample contract")
    p.add_argument("--cache", default=None, help="SQLite verdict cache file (reused across runs)")
    p.add_argument("--concurrency", type=int, default=64, help="global concurrent check budget")
    p.add_argument("--judge-base-url", default=None, help="OpenAI-compatible base URL (…/v1)")
    p.add_argument("--judge-model", default=None, help="judge model name at that endpoint")
    p.add_argument("--judge-api-key-env", default=None,
                   help="NAME of the environment variable holding the judge API key")
    p.add_argument("--judge-concurrency", type=int, default=None, help="concurrent judge calls")
    p.add_argument("--group-key", default=None,
                   help="meta key holding a group id (e.g. prompt id) for zero-variance stats")
    p.add_argument("--summary-json", default=None, help="also write the summary as JSON here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    from rewards.engine import Harness
    from rewards.rubric import RubricError, load_rubric
    from rewards.sample import SampleError, read_jsonl, write_jsonl_atomic
    from rewards.summary import format_summary, summarize

    args = build_parser().parse_args(argv)
    try:
        rubric = load_rubric(args.rubric)
        if not Path(args.input).is_file():
            raise SampleError(f"{args.input}: input file not found")
        samples = read_jsonl(args.input, on_bad_line=args.on_bad_line)
    except (RubricError, SampleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not samples:
        print(f"error: {args.input}: no samples", file=sys.stderr)
        return EXIT_BAD_INPUT
    judge = {"base_url": args.judge_base_url, "model": args.judge_model,
             "api_key_env": args.judge_api_key_env}
    harness = Harness(rubric, judge=judge, cache_path=args.cache, concurrency=args.concurrency,
                      judge_concurrency=args.judge_concurrency,
                      progress=not args.no_progress and len(samples) >= 50)
    results = harness.score_batch(samples)
    write_jsonl_atomic(args.output, [r.to_dict() for r in results])
    groups = ([s.meta.get(args.group_key) for s in samples] if args.group_key else None)
    summary = summarize(results, rubric, group_ids=groups)
    summary["rubric_hash"] = rubric.hash
    if harness.cache is not None:
        summary["cache"] = harness.cache.stats()
    print(f"rubric {args.rubric} (hash {rubric.hash}); wrote {len(results)} results to {args.output}")
    print(format_summary(summary))
    if harness.judge is None and any(c.needs_judge for c in rubric.built):
        print("note: judge checks skipped (no judge endpoint configured)")
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
