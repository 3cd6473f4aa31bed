"""Score a JSONL of samples with a rubric: one result per line, then a summary table.

    python -m rewards.score --rubric rubric.yaml --input samples.jsonl --output scored.jsonl

Each input line follows the sample contract (id, prompt, source, reference, completion, meta).
Exit codes: 0 success, 1 judge error rate above --max-judge-error-rate (the results are still
written), 2 invalid rubric or input (the message names the file, key or line). Any judge error
prints a WARNING line to stderr naming the commonest error.
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
    p.add_argument("--max-judge-error-rate", type=float, default=None, metavar="X",
                   help="exit 1 when more than this share (0-1) of the judge checks asked "
                        "failed (default: only a warning line)")
    p.add_argument("--group-key", default=None,
                   help="meta key holding a group id (e.g. prompt id) for zero-variance stats")
    p.add_argument("--summary-json", default=None, help="also write the summary as JSON here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


class CliError(ValueError):
    """A bad argument, input or output path; exit 2 with this message."""


def _distinct_paths(args) -> None:
    """--output equal to --input overwrote the input silently; refuse every such collision
    (after resolving symlinks and relative paths)."""
    named = [("--rubric", args.rubric), ("--input", args.input), ("--output", args.output),
             ("--summary-json", args.summary_json), ("--cache", args.cache)]
    seen: dict[Path, str] = {}
    for flag, value in named:
        if value is None:
            continue
        real = Path(value).expanduser().resolve()
        if real in seen:
            raise CliError(f"{flag} {value} is the same file as {seen[real]}; "
                           "refusing to overwrite it")
        seen[real] = f"{flag} {value}"
    for flag, value in named[2:5]:
        if value is None:
            continue
        try:
            _writable_target(flag, value)
        except OSError as e:
            raise CliError(f"{flag} {value[:200]}: {e.strerror or e}") from None


def _writable_target(flag: str, value: str) -> None:
    if Path(value).is_dir():
        raise CliError(f"{flag} {value}: is a directory; expected a file path")
    parent = next((p for p in Path(value).absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise CliError(f"{flag} {value}: {parent} is a file, not a directory")


def _load(args, skipped: list):
    from rewards.rubric import load_rubric
    from rewards.sample import SampleError, iter_jsonl

    for flag in ("concurrency", "judge_concurrency"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise CliError(f"--{flag.replace('_', '-')}: expected an integer >= 1, got {v}")
    x = args.max_judge_error_rate
    if x is not None and not 0 <= x <= 1:  # NaN fails this too
        raise CliError(f"--max-judge-error-rate: expected a share in [0, 1], got {x}")
    _distinct_paths(args)
    rubric = load_rubric(args.rubric)
    if not Path(args.input).is_file():
        raise SampleError(f"{args.input}: input file not found")
    try:
        samples = []
        for lineno, sample in iter_jsonl(args.input, args.on_bad_line, skipped):
            if sample.completion is None:
                # scoring it as "" would report a score for an answer nobody gave
                why = 'no `completion` to score (an empty answer is "completion": "")'
                if args.on_bad_line != "skip":
                    raise SampleError(f"{args.input}:{lineno}: {why}")
                skipped.append((lineno, why))
                continue
            samples.append(sample)
    except OSError as e:
        raise SampleError(f"{args.input}: cannot read: {e.strerror or e}") from None
    if not samples:
        raise SampleError(f"{args.input}: no samples" + (
            f" ({len(skipped)} bad lines skipped)" if skipped else ""))
    return rubric, samples


def _harness(args, rubric, n: int):
    import sqlite3

    from rewards.engine import Harness

    judge = {"base_url": args.judge_base_url, "model": args.judge_model,
             "api_key_env": args.judge_api_key_env}
    try:
        h = Harness(rubric, judge=judge, cache_path=args.cache, concurrency=args.concurrency,
                    judge_concurrency=args.judge_concurrency,
                    progress=not args.no_progress and n >= 50)
    except (sqlite3.Error, OSError) as e:
        raise CliError(f"--cache {args.cache}: cannot open as a SQLite verdict cache: {e}") from None
    except ValueError as e:  # judge settings (flags, env) and limits
        raise CliError(f"judge/limits: {e}") from None
    if h.judge is not None and h.judge.missing_key():
        raise CliError(h.judge.missing_key())
    return h


def _group_id(v):
    """Meta values group samples; lists/dicts are not hashable, so key them by their JSON."""
    try:
        hash(v)
        return v
    except TypeError:
        return json.dumps(v, sort_keys=True, default=str)


def main(argv: list[str] | None = None) -> int:
    from rewards.rubric import RubricError
    from rewards.sample import SampleError, jsonl_text, write_atomic_many
    from rewards.summary import format_summary, summarize

    args = build_parser().parse_args(argv)
    skipped: list[tuple[int, str]] = []
    try:
        rubric, samples = _load(args, skipped)
        harness = _harness(args, rubric, len(samples))
    except (RubricError, SampleError, CliError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    results = harness.score_batch(samples)
    groups = ([_group_id(s.meta.get(args.group_key)) for s in samples] if args.group_key
              else None)
    summary = summarize(results, rubric, group_ids=groups)
    summary["rubric_hash"] = rubric.hash
    _judge_stats(summary, harness.last_stats)
    if harness.cache is not None:
        summary["cache"] = harness.cache.stats()
    if skipped:
        # output rows no longer line up with input lines: say which lines are missing
        summary["skipped_lines"] = {"count": len(skipped), "lines": [n for n, _ in skipped],
                                    "reasons": {str(n): why for n, why in skipped[:100]}}
    files = {Path(args.output): jsonl_text([r.to_dict() for r in results])}
    if args.summary_json:
        files[Path(args.summary_json)] = json.dumps(summary, indent=2, allow_nan=False)
    try:
        write_atomic_many(files)  # both or neither: a failed summary no longer follows output
    except OSError as e:
        print(f"error: cannot write {e.filename or args.output}: {e.strerror or e}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"rubric {args.rubric} (hash {rubric.hash}); wrote {len(results)} results to {args.output}")
    if skipped:
        shown = ", ".join(str(n) for n, _ in skipped[:20]) + (" …" if len(skipped) > 20 else "")
        print(f"skipped {len(skipped)} bad input lines (--on-bad-line skip): lines {shown}; "
              f"first: line {skipped[0][0]}: {skipped[0][1][:160]}")
    print(format_summary(summary))
    if harness.judge is None and any(c.needs_judge for c in rubric.built):
        print("note: judge checks skipped (no judge endpoint configured)")
    return _judge_verdict(summary, args.max_judge_error_rate)


def _judge_stats(summary: dict, stats: dict) -> None:
    """HTTP requests (retries included) and time queued for the judge budget: the harness
    saw them, the results do not carry them."""
    from rewards.summary import percentile

    if summary.get("judge_verdicts"):
        summary["judge_requests"] = stats.get("judge_requests", 0)
        queue = stats.get("judge_queue_s") or []
        summary["judge_queue_p50_s"] = percentile(queue, 0.5)
        summary["judge_queue_p95_s"] = percentile(queue, 0.95)


def _judge_verdict(summary: dict, max_rate: float | None) -> int:
    """0, or 1 when the judge error rate is above --max-judge-error-rate; a WARNING line for
    any judge error either way (every judge call failing used to exit 0 silently)."""
    rate = summary.get("judge_error_rate")
    if not rate:
        return 0
    print(f"WARNING: {summary['judge_errors']} of {summary['judge_asked']} judge checks failed "
          f"({100 * rate:.1f}%) and abstained; commonest error: {summary['judge_error']}",
          file=sys.stderr)
    if max_rate is not None and rate > max_rate:
        print(f"error: judge error rate {100 * rate:.1f}% is above --max-judge-error-rate "
              f"{max_rate:g} (results were written)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
