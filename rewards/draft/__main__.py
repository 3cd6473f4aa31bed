"""Rubric workbench: draft a rubric from gold examples, attack it, calibrate it, review it.

    python -m rewards.draft --examples gold.jsonl --description "what the task is" \\
        --out rubric.yaml --report review.md \\
        [--negatives bad.jsonl] [--labels expert_labels.jsonl] \\
        [--judge-base-url URL --judge-model M --judge-api-key-env VAR]
    python -m rewards.draft --check rubric.yaml --examples gold.jsonl --report review.md

Drafting needs no endpoint and no GPU: checks come from the references (rewards.draft). Every
run then attacks the rubric: gold on the held-out half, every rewards.probe transform, known-
bad completions (--negatives: rows {"id": <example id>, "completion": ...}), expert labels
(--labels: rows {"id", "completion"?, "checks": {check id: true|false}, "score"?}, kappa via
rewards.calibrate). review.md is what a person reads; rubric.yaml carries each check's `why`
as a comment, to edit in place; `--check` re-runs the whole validation on the edited file.

Exit codes: 0 written and every bound holds; 1 written, but gold < 95% of the scale, a probe
not below gold or above --max-hack of the scale, or a known-bad answer not below its gold
(a CI gate with --check); 2 bad input (the message names the file, line or key; nothing is
written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
from pathlib import Path

EXIT_FAILS, EXIT_BAD_INPUT = 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rewards.draft", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", required=True, help="gold examples JSONL (sample contract, "
                                                     "each with a reference; at least 8)")
    p.add_argument("--description", help="what the task is, in plain language (drafting)")
    p.add_argument("--out", help="where to write the drafted rubric YAML (drafting)")
    p.add_argument("--check", metavar="RUBRIC", help="validate this (edited) rubric instead of "
                                                     "drafting one")
    p.add_argument("--report", required=True, help="where to write review.md")
    p.add_argument("--negatives", help="known-bad completions JSONL")
    p.add_argument("--labels", help="expert labels JSONL")
    p.add_argument("--max-hack", type=float, default=0.6, metavar="FRAC",
                   help="highest tolerated mean score of a probe, as a share of the scale "
                        "(default 0.6)")
    p.add_argument("--no-semantic", action="store_true",
                   help="draft without the embedding-similarity check (no torch import)")
    p.add_argument("--judge-base-url", help="OpenAI-compatible base URL (…/v1): propose judge "
                                            "questions (they land as audit checks, review: "
                                            "pending)")
    p.add_argument("--judge-model", help="model name at that endpoint")
    p.add_argument("--judge-api-key-env", help="NAME of the environment variable holding the "
                                               "endpoint's API key")
    return p


class CliError(ValueError):
    pass


def _paths(args) -> None:
    """--out/--report never overwrite an input, and the flags fit the mode."""
    if args.check and (args.out or args.description):
        raise CliError("--check validates an existing rubric: drop --out/--description")
    if not args.check and not (args.out and args.description and args.description.strip()):
        raise CliError("drafting needs --out and a non-empty --description (or use --check)")
    if not 0.0 <= args.max_hack <= 1.0:
        raise CliError(f"--max-hack: expected a share of the scale in [0, 1], got {args.max_hack}")
    inputs = {k: v for k, v in (("--examples", args.examples), ("--negatives", args.negatives),
                                ("--labels", args.labels), ("--check", args.check)) if v}
    outputs = {k: v for k, v in (("--out", args.out), ("--report", args.report)) if v}
    for ok, ov in outputs.items():
        for ik, iv in inputs.items():
            if Path(ov).resolve() == Path(iv).resolve():
                raise CliError(f"{ok} {ov}: is the {ik} input; refusing to overwrite it")
    if args.out and args.report and Path(args.out).resolve() == Path(args.report).resolve():
        raise CliError("--out and --report name the same file")


def _judge(args):
    from rewards.checks.judge import JudgeConfig, JudgeConfigError

    given = {"base_url": args.judge_base_url, "model": args.judge_model,
             "api_key_env": args.judge_api_key_env}
    if not any(given.values()):
        return None
    if not (args.judge_base_url and args.judge_model):
        raise CliError("--judge-base-url and --judge-model go together")
    try:
        return JudgeConfig.resolve({k: v for k, v in given.items() if v})
    except JudgeConfigError as e:
        raise CliError(f"--judge-{e.key.replace('_', '-')}: {e}") from None


def _header(args, argv) -> str:
    cmd = shlex.join(argv if argv is not None else sys.argv[1:])
    return (f"{dt.date.today().isoformat()}, {platform.machine()} {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}: `python -m rewards.draft {cmd}`")


def _draft(args, argv, examples, negatives, labels) -> tuple[dict, list[str]]:
    from rewards.draft.proposal import to_yaml
    from rewards.draft.review import render
    from rewards.draft.workbench import draft

    judge_cfg = _judge(args)
    o = draft(examples, args.description, negatives, labels, judge_cfg,
              encoder=None if args.no_semantic else "default", max_hack=args.max_hack)
    header = (f"Drafted by rewards.draft from {len(examples)} references in {args.examples} "
              f"({o.contract} answers). Task: {args.description.strip()}\n"
              f"Review {Path(args.report).name} before trusting it; after editing, run "
              f"`python -m rewards.draft --check {args.out} --examples {args.examples} "
              f"--report {args.report}`.")
    why = {p.id: p.why for p in o.proposals}
    flags = {p.id: p.flags for p in o.proposals}
    intro = [f"Task: {args.description.strip()}", "",
             f"{_header(args, argv)}; {o.seconds:.1f} s. Contract: **{o.contract}** answers "
             f"({len(examples)} references; fitted on {o.heldout['n_fit']}, validated on "
             f"{o.heldout['n_held']} held out, then refitted on all)."]
    if o.contract == "text" and not any(p.kind == "semantic_similarity" for p in o.proposals):
        intro.append("No similarity check: --no-semantic, or the offline MiniLM is missing.")
    extra = []
    if o.left_out:
        extra += ["", "## Left out (failed held-out golds)", "", "| check | kind | why | flag |",
                  "|---|---|---|---|"]
        extra += [f"| `{p.id}` | {p.kind} | {p.why} | {'; '.join(p.flags)} |" for p in o.left_out]
    if judge_cfg is not None:
        extra += ["", "## Judge questions", ""]
        if o.judge_error:
            extra.append(f"No questions: {o.judge_error}")
        kept = [p for p in o.proposals if p.review]
        extra += [f"- kept (review: pending): `{p.id}` [{p.dimension}] {p.params['question']}"
                  for p in kept]
        extra += [f"- dropped: {d.text!r}: {d.reason}" for d in o.dropped_questions]
    report = render("Rubric draft review", intro, o.rubric, o.validation, why, args.max_hack,
                    flags, extra)
    return {Path(args.out): to_yaml(o.proposals, header, o.judge), Path(args.report): report}, \
        o.validation.failures


def _check(args, argv, examples, negatives, labels) -> tuple[dict, list[str]]:
    from rewards.draft.proposal import why_comments
    from rewards.draft.review import render
    from rewards.draft.workbench import check, judge_block
    from rewards.rubric import load_rubric
    from rewards.safe_yaml import read_text

    rubric = load_rubric(args.check)
    judge_cfg = _judge(args)
    v = check(rubric, examples, negatives, labels, judge=judge_block(judge_cfg),
              max_hack=args.max_hack)
    why = why_comments(read_text(Path(args.check), "rubric"))
    intro = [f"Rubric `{args.check}` (hash `{rubric.hash}`) against {len(examples)} gold "
             f"examples of {args.examples}.", "", _header(args, argv) + "."]
    return {Path(args.report): render("Rubric check", intro, rubric, v, why, args.max_hack)}, \
        v.failures


def main(argv: list[str] | None = None) -> int:
    from rewards.draft.inputs import DraftInputError, read_examples, read_labels, read_negatives
    from rewards.rubric import RubricError
    from rewards.safe_yaml import LoadError
    from rewards.sample import write_atomic_many

    args = build_parser().parse_args(argv)
    try:
        _paths(args)
        examples = read_examples(args.examples)
        negatives = read_negatives(args.negatives, examples) if args.negatives else None
        labels = read_labels(args.labels, examples) if args.labels else None
        files, failures = (_check if args.check else _draft)(args, argv, examples, negatives,
                                                             labels)
    except (DraftInputError, RubricError, LoadError, CliError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        write_atomic_many(files)
    except OSError as e:
        print(f"error: cannot write {e.filename}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("wrote " + ", ".join(str(p) for p in files))
    for f in failures:
        print(f"FAILS {f}", file=sys.stderr)
    return EXIT_FAILS if failures else 0


if __name__ == "__main__":
    sys.exit(main())
