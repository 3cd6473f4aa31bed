"""Generated hostile-but-fair inputs for `python -m rewards.score` (issue 16).

`make_case(rng)` draws one case from a `random.Random`: a rubric YAML, a samples JSONL, extra
CLI flags and what a correct harness must do with it:
- "exit2": a value outside its documented domain (or an unreadable file): exit 2, no output;
- "valid": a semantically unchanged rubric/sample file: exit 0, scores equal to the base;
- "skip":  bad JSONL lines under `--on-bad-line skip`: exit 0, one row per good line, the
  bad lines counted in the summary;
- "fast":  a pathological pattern under `timeout_s`: exit 0 within the per-case limit.
Stdlib + PyYAML only (no `rewards` import), so the benchmark can run it against old code.
"""

from __future__ import annotations

import copy
import json
import math
import random
from dataclasses import dataclass, field

import yaml

NAN, INF = math.nan, math.inf

BASE_RUBRIC = {
    "version": 1,
    "scale": [0, 5],
    "dimensions": {"format": {"weight": 1, "min_coverage": 0.5}, "fidelity": {"weight": 2},
                   "style": {"weight": 1}},
    "checks": [
        {"id": "json", "kind": "json_valid", "dimension": "format", "gate": "global"},
        {"id": "schema", "kind": "json_schema", "dimension": "format",
         "schema": {"type": "object", "required": ["total"],
                    "properties": {"total": {"$ref": "#/$defs/num"}},
                    "$defs": {"num": {"type": ["number", "string"]}}}},
        {"id": "total", "kind": "field_match", "dimension": "fidelity", "path": "total",
         "mode": "numeric"},
        {"id": "label", "kind": "label_match", "dimension": "fidelity", "labels": ["paid", "due"],
         "reference_path": "status"},
        {"id": "grounded", "kind": "numbers_grounded", "dimension": "fidelity", "min_share": 0.5},
        {"id": "spans", "kind": "spans_preserved", "dimension": "fidelity", "from_meta": "spans"},
        {"id": "hype", "kind": "regex", "dimension": "style", "pattern": "revolutionary",
         "must_match": False, "flags": ["IGNORECASE"], "timeout_s": 2},
        {"id": "len", "kind": "length", "dimension": "style", "unit": "words", "min": 1,
         "max": 400},
        {"id": "rep", "kind": "no_repetition", "dimension": "style", "ngram": 3},
        {"id": "read", "kind": "readability", "dimension": "style", "max_grade": 30},
        {"id": "py", "kind": "python", "dimension": "style", "function": "operator:truth",
         "cache": False},
        {"id": "judge", "kind": "judge", "dimension": "style", "question": "Is {completion} concise?"},
        {"id": "pit", "kind": "regex", "dimension": "style", "pattern": "lorem", "pitfall": True,
         "weight": 0.5},
    ],
}
CHECK = {c["id"]: i for i, c in enumerate(BASE_RUBRIC["checks"])}
REF = {"total": 120.5, "status": "paid"}
BASE_SAMPLES = [
    {"id": "good", "completion": json.dumps({"total": "120.50", "note": "two chairs"}),
     "reference": REF, "source": "2 chairs, 120.50 total", "meta": {"spans": ["chairs"]}},
    {"id": "prose", "completion": "Sure! The total is 999 revolutionary lorem.", "reference": REF,
     "source": "x", "meta": {"spans": ["chairs"]}},
    {"id": 7, "completion": "paid", "reference": REF, "source": "", "meta": {}},
    {"id": "uni", "completion": '{"total": 1}  ✓ café 🚀', "reference": {"total": "1"},
     "source": "1", "prompt": [{"role": "user", "content": "hi"}], "meta": {"spans": [["café"]]}},
]


@dataclass
class Case:
    cls: str           # tally class, e.g. "rubric:nonfinite"
    name: str          # which mutation, for reading failures
    expect: str        # exit2 | valid | skip | fast
    rubric: bytes
    samples: bytes
    args: list[str] = field(default_factory=list)
    bad_lines: int = 0   # for "skip": lines that must be skipped
    outputs: str = ""    # "same-input" | "same-rubric" | ... : the CLI path collision tested


def dump_rubric(r: dict, style: str = "block") -> bytes:
    return yaml.safe_dump(r, sort_keys=False, default_flow_style=(style == "flow"),
                          allow_unicode=True).encode()


def dump_samples(rows: list) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _set(r: dict, path: tuple, value) -> dict:
    r = copy.deepcopy(r)
    node = r
    for k in path[:-1]:
        node = node[CHECK[k]] if isinstance(node, list) else node[k]
    node[path[-1]] = value
    return r


C = "checks"
# (class, key path into BASE_RUBRIC (check ids for list items), values outside the domain)
DOMAIN = [
    ("rubric:type", (C, "pit", "pitfall"), ["false", "no", "true", 1, 0]),
    ("rubric:type", (C, "py", "cache"), ["no", "false", 0, "yes"]),
    ("rubric:type", (C, "json", "gate"), ["true", "yes", 1, 0, "Global"]),
    ("rubric:type", (C, "hype", "must_match"), ["false", 0]),
    ("rubric:type", (C, "grounded", "min_share"), ["0.5", "half"]),
    ("rubric:type", (C, "len", "max"), ["400", 400.5]),
    ("rubric:type", (C, "schema", "allow_fence"), ["false"]),
    ("rubric:type", ("dimensions", "format", "weight"), ["1", "heavy", True]),
    ("rubric:type", ("scale",), ["0-5", [0, "5"], [0], [True, 5]]),
    ("rubric:type", ("version",), [True, 1.5, [1]]),
    ("rubric:type", (C, "total", "description"), [5, ["x"]]),
    ("rubric:type", (C, "hype", "flags"), ["IGNORECASE", ["ignorecase"]]),
    ("rubric:type", (C, "total", "timeout_s"), ["1", True]),
    ("rubric:nonfinite", ("dimensions", "fidelity", "weight"), [NAN, INF]),
    ("rubric:nonfinite", (C, "total", "weight"), [NAN, INF]),
    ("rubric:nonfinite", ("dimensions", "format", "min_coverage"), [NAN]),
    ("rubric:nonfinite", (C, "total", "timeout_s"), [NAN, INF]),
    ("rubric:nonfinite", ("scale",), [[0, INF], [NAN, 5], [-INF, 0]]),
    ("rubric:nonfinite", (C, "total", "rel_tol"), [NAN, INF]),
    ("rubric:nonfinite", (C, "total", "abs_tol"), [NAN, INF]),
    ("rubric:nonfinite", (C, "grounded", "ignore"), [[NAN], [INF]]),
    ("rubric:nonfinite", (C, "grounded", "min_share"), [NAN]),
    ("rubric:nonfinite", (C, "read", "max_grade"), [NAN, INF, -INF]),
    ("rubric:nonfinite", (C, "py", "threshold"), [NAN]),
    ("rubric:nonfinite", (C, "judge", "yes_threshold"), [NAN]),
    ("rubric:range", (C, "len", "min"), [500, -1]),
    ("rubric:range", (C, "rep", "ngram"), [0, -3]),
    ("rubric:range", (C, "rep", "max_ngram_repeats"), [0]),
    ("rubric:range", (C, "grounded", "min_share"), [1.5, -0.1]),
    ("rubric:range", (C, "spans", "min_share"), [2, -1]),
    ("rubric:range", (C, "total", "rel_tol"), [-0.1]),
    ("rubric:range", (C, "total", "abs_tol"), [-1]),
    ("rubric:range", (C, "total", "threshold"), [1.5, -0.5]),
    ("rubric:range", (C, "judge", "yes_threshold"), [2, -1]),
    ("rubric:range", (C, "py", "threshold"), [2]),
    ("rubric:range", (C, "total", "weight"), [0, -1, 1e300]),
    ("rubric:range", (C, "pit", "weight"), [2]),
    ("rubric:range", ("dimensions", "format", "min_coverage"), [1.5, -0.5]),
    ("rubric:range", (C, "total", "timeout_s"), [0, -1, 1e9]),
    ("rubric:range", ("scale",), [[0, 1e300], [-1e308, 1e308], [5, 0]]),
    ("rubric:range", (C, "read", "min_grade"), [40]),
    ("rubric:ref", (C, "total", "path"), ["total..x", "a[", "[x]", "a b", "."]),
    ("rubric:ref", (C, "label", "reference_path"), ["][", "status..x"]),
    ("rubric:ref", (C, "spans", "from_meta"), ["", "meta..x", "meta."]),
    ("rubric:ref", (C, "spans", "from_reference"), ["a..b"]),
    ("rubric:ref", (C, "grounded", "path"), ["..", "x["]),
    ("rubric:ref", (C, "grounded", "source_field"), ["meta..x", "bogus."]),
    ("rubric:ref", (C, "judge", "question"), ["Is {answer} ok?", "{completion.__class__}",
                                              "{0}", "unbalanced {", "", "{completion!r}"]),
    ("rubric:ref", (C, "judge", "template"), ["{foo}", "{question} {"]),
    ("rubric:ref", (C, "schema", "schema"), [
        {"$ref": "#/$defs/missing"}, {"type": "objekt"}, {"type": 5},
        {"properties": {"a": {"$ref": "http://example.com/x.json"}}}, {"pattern": "("},
        {"required": "total"}]),
    ("rubric:ref", (C, "schema", "schema_file"), ["missing.json"]),
    ("rubric:ref", (C, "hype", "pattern"), ["(", "[a-", "a{2,1}"]),
    ("rubric:ref", (C, "len", "maxx"), [3]),
    ("rubric:ref", (C, "len", "kind"), ["lenght"]),
    ("rubric:ref", (C, "py", "function"), ["operator", "no_such_module:f", "operator:nope"]),
    ("rubric:ref", (C, "py", "reads"), [["completion", "bogus"]]),
    ("rubric:judge", ("judge",), [
        {"base_url": "http://127.0.0.1:9/v1", "model": "m", "temprature": 0},
        {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-live-abcdef123456"},
        {"model": "m", "token": "abc"},
        {"api_key_env": "sk-proj-abcdefghijklmnop1234567890"},
        {"api_key_env": "Bearer abcdef"},
        {"base_url": "ftp://x", "model": "m"},
        {"base_url": "http://user:pw@host/v1", "model": "m"},
        {"concurrency": 0}, {"timeout_s": NAN}, {"max_retries": -1}, {"api": "grpc"},
        "http://x", ["base_url"]]),
]
SEMANTIC_BAD = [{"model": "/nonexistent/minilm"}, {"threshold": 2}, {"batch_size": 0},
                {"reference_path": "a..b"}, {"threshold": NAN}]
CLI_BAD = [["--concurrency", "0"], ["--judge-concurrency", "0"], ["--concurrency", "-2"]]


def alias_bomb_lines() -> bytes:
    """An extra check whose unknown keys nest 9 levels of 9 aliases: 9^9 ≈ 3.9e8 leaves from
    ~700 bytes. Params enter the rubric hash, so the old loader expanded it while hashing."""
    lines = ['  l0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"  l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return ("- id: bomb\n  kind: length\n  dimension: style\n" + "\n".join(lines) + "\n").encode()


def _alias_bomb() -> bytes:
    return dump_rubric(BASE_RUBRIC) + alias_bomb_lines()


def structural(rng: random.Random) -> tuple[str, bytes]:
    """Rubric files broken below the schema: encoding, YAML graph, limits, key types."""
    good = dump_rubric(BASE_RUBRIC)
    n = rng.choice([200, 1000, 5000, 20000])
    options = {
        "non-utf8": lambda: good.replace(b"revolutionary", b"revolution\xe4ry", 1),
        "non-utf8-latin1": lambda: good.replace(b"concise", "concisé".encode("latin-1"), 1),
        "alias-bomb": _alias_bomb,
        "recursive-alias": lambda: good + b"extra: &r [*r]\n",
        "deep-seq": lambda: good.replace(b"scale:", b"scale: " + b"[" * n + b"]" * n + b"\nx:", 1),
        "deep-map": lambda: good + b"judge: " + b"{a: " * n + b"1" + b"}" * n + b"\n",
        "huge-int": lambda: good.replace(b"min: 1", b"min: " + b"9" * rng.choice([5000, 20000]), 1),
        "mixed-keys": lambda: good.replace(b"  style:", b"  1: {weight: 1}\n  style:", 1),
        "bool-key": lambda: good.replace(b"  style:", b"  yes: {weight: 1}\n  style:", 1),
        "null-key": lambda: good.replace(b"  style:", b"  ~: {weight: 1}\n  style:", 1),
        "dup-key": lambda: good.replace(b"version: 1", b"version: 1\nscale: [0, 1]", 1),
        "random-bytes": lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))),
        "empty": lambda: b"",
        "list-top": lambda: b"- 1\n- 2\n",
        "scalar-top": lambda: b"hello\n",
        "truncated": lambda: good[: rng.randrange(1, len(good) - 1)],
        "tab-indent": lambda: good.replace(b"  ", b"\t", 3),
        "nonstr-top-key": lambda: good + b"3: x\n",
        "meta-doc": lambda: good + b"---\nversion: 2\n",
    }
    name = rng.choice(sorted(options))
    data = options[name]()
    if name == "truncated":
        return name, data  # may or may not still be valid: expectation set by the caller
    return name, data


BAD_LINES = {
    "non-utf8": b'{"id": "b", "completion": "caf\xe9"}',
    "deep": b'{"id": "d", "completion": "x", "reference": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "deep-100": b'{"id": "d", "completion": "x", "reference": ' + b"[" * 100 + b"]" * 100 + b"}",
    "huge-int": b'{"id": "h", "completion": "x", "reference": ' + b"9" * 5000 + b"}",
    "meta-list+unknown": b'{"id": "m", "completion": "x", "meta": [1], "extra": 1}',
    "meta-str": b'{"id": "m", "completion": "x", "meta": "s"}',
    "lone-surrogate": b'{"id": "s", "completion": "x \\ud800 y", "reference": {"total": 1}}',
    "nan": b'{"id": "n", "completion": "x", "reference": NaN}',
    "infinity": b'{"id": "n", "completion": "x", "reference": {"total": -Infinity}}',
    "id-list": b'{"id": [1], "completion": "x"}',
    "id-bool": b'{"id": true, "completion": "x"}',
    "id-null": b'{"id": null, "completion": "x"}',
    "no-id": b'{"completion": "x"}',
    "prompt-int": b'{"id": "p", "prompt": 5, "completion": "x"}',
    "completion-int": b'{"id": "c", "completion": 5}',
    "array-line": b'[1, 2]',
    "truncated": b'{"id": "t", "completion": "x',
}


def _rubric_case(rng: random.Random) -> Case:
    cls, path, values = rng.choice(DOMAIN)
    value = rng.choice(values)
    if path == ("judge",):
        r = copy.deepcopy(BASE_RUBRIC)
        r["judge"] = value
    else:
        r = _set(BASE_RUBRIC, path, value)
    return Case(cls, f"{'.'.join(map(str, path))}={value!r}"[:120], "exit2", dump_rubric(r),
                dump_samples(BASE_SAMPLES))


def _valid_case(rng: random.Random) -> Case:
    """Same meaning, different spelling: flow style, key order, floats for ints, anchors,
    comments, extra blank lines in the JSONL, a BOM-free CRLF file."""
    r = copy.deepcopy(BASE_RUBRIC)
    tweaks = []
    if rng.random() < 0.5:
        r["dimensions"]["fidelity"]["weight"] = 2.0
        tweaks.append("float-weight")
    if rng.random() < 0.5:
        r["checks"] = [dict(sorted(c.items(), reverse=True)) for c in r["checks"]]
        tweaks.append("key-order")
    style = rng.choice(["block", "flow"])
    data = dump_rubric(r, style)
    if rng.random() < 0.3:
        data = b"# a comment\n" + data + b"# trailing\n"
        tweaks.append("comments")
    samples = dump_samples(BASE_SAMPLES)
    if rng.random() < 0.3:
        samples = samples.replace(b"\n", b"\n\n", 1)
        tweaks.append("blank-line")
    if rng.random() < 0.3:
        samples = samples.replace(b"\n", b"\r\n")
        tweaks.append("crlf")
    return Case("valid", f"{style}+{'+'.join(tweaks)}", "valid", data, samples)


def _sample_case(rng: random.Random, skip: bool) -> Case:
    names = rng.sample(sorted(BAD_LINES), rng.randint(1, 3))
    lines = [dump_samples([s]).rstrip(b"\n") for s in BASE_SAMPLES]
    for name in names:
        lines.insert(rng.randrange(len(lines) + 1), BAD_LINES[name])
    data = b"\n".join(lines) + b"\n"
    args = ["--cache", "{tmp}/cache.sqlite"] if rng.random() < 0.5 else []
    # "deep-100" is 101 levels: over the 64-level limit too
    if skip:
        return Case("samples:skip", "+".join(names), "skip", dump_rubric(BASE_RUBRIC), data,
                    args + ["--on-bad-line", "skip"], bad_lines=len(names))
    return Case("samples:bad", "+".join(names), "exit2", dump_rubric(BASE_RUBRIC), data, args)


def _timing_case(rng: random.Random) -> Case:
    r = copy.deepcopy(BASE_RUBRIC)
    which = rng.choice(["nested-plus", "alternation", "schema-pattern"])
    if which == "nested-plus":  # 44 s with the stdlib `re` on 31 characters
        r["checks"][CHECK["hype"]].update(pattern="^(a+)+$", timeout_s=1)
        text = "a" * 30 + "!"
    elif which == "alternation":
        r["checks"][CHECK["hype"]].update(pattern="(a|aa)+$", timeout_s=1)
        text = "a" * 41 + "!"
    else:
        r["checks"][CHECK["schema"]]["schema"] = {
            "type": "object", "properties": {"total": {"type": "string", "pattern": "(a|aa)+$"}}}
        r["checks"][CHECK["schema"]]["timeout_s"] = 1
        text = json.dumps({"total": "a" * 41 + "!"})
    rows = [{"id": "slow", "completion": text, "reference": REF}]
    return Case("timing", which, "fast", dump_rubric(r), dump_samples(rows))


def _output_case(rng: random.Random) -> Case:
    which = rng.choice(["same-input", "same-input-relative", "same-rubric", "summary-is-output",
                        "output-parent-is-file", "summary-parent-is-file", "cache-is-input"])
    return Case("outputs", which, "exit2", dump_rubric(BASE_RUBRIC), dump_samples(BASE_SAMPLES),
                outputs=which)


def make_case(rng: random.Random) -> Case:
    """One case; the class mix puts most weight on the domain table (the largest space)."""
    kind = rng.choices(["rubric", "struct", "semantic", "cli", "valid", "samples", "skip",
                        "timing", "outputs"], weights=[40, 14, 3, 2, 14, 10, 8, 3, 6])[0]
    if kind == "rubric":
        return _rubric_case(rng)
    if kind == "struct":
        name, data = structural(rng)
        return Case("rubric:struct", name, "exit2" if name != "truncated" else "any", data,
                    dump_samples(BASE_SAMPLES))
    if kind == "semantic":
        r = copy.deepcopy(BASE_RUBRIC)
        bad = rng.choice(SEMANTIC_BAD)
        r["checks"].append({"id": "sem", "kind": "semantic_similarity", "dimension": "fidelity",
                            **bad})
        return Case("rubric:ref", f"semantic {bad}", "exit2", dump_rubric(r),
                    dump_samples(BASE_SAMPLES))
    if kind == "cli":
        args = rng.choice(CLI_BAD)
        return Case("cli", " ".join(args), "exit2", dump_rubric(BASE_RUBRIC),
                    dump_samples(BASE_SAMPLES), list(args))
    if kind == "valid":
        return _valid_case(rng)
    if kind in ("samples", "skip"):
        return _sample_case(rng, skip=kind == "skip")
    if kind == "timing":
        return _timing_case(rng)
    return _output_case(rng)


def case_argv(case: Case, tmp: str) -> tuple[list[str], dict[str, str]]:
    """Write the case's files under `tmp`; return (argv for rewards.score.main, paths)."""
    import os

    paths = {"rubric": f"{tmp}/rubric.yaml", "input": f"{tmp}/in.jsonl",
             "output": f"{tmp}/out.jsonl", "summary": f"{tmp}/summary.json"}
    with open(paths["rubric"], "wb") as fh:
        fh.write(case.rubric)
    with open(paths["input"], "wb") as fh:
        fh.write(case.samples)
    out, summary = paths["output"], paths["summary"]
    extra = [a.replace("{tmp}", tmp) for a in case.args]
    o = case.outputs
    if o == "same-input":
        out = paths["input"]
    elif o == "same-input-relative":
        os.makedirs(f"{tmp}/sub", exist_ok=True)
        out = f"{tmp}/sub/../in.jsonl"
    elif o == "same-rubric":
        out = paths["rubric"]
    elif o == "summary-is-output":
        summary = out
    elif o in ("output-parent-is-file", "summary-parent-is-file"):
        with open(f"{tmp}/afile", "w") as fh:
            fh.write("x")
        if o == "output-parent-is-file":
            out = f"{tmp}/afile/out.jsonl"
        else:
            summary = f"{tmp}/afile/summary.json"
        paths["output"] = out
    elif o == "cache-is-input":
        extra += ["--cache", paths["input"]]
    argv = ["--rubric", paths["rubric"], "--input", paths["input"], "--output", out,
            "--summary-json", summary, "--no-progress", *extra]
    return argv, paths


@dataclass
class Outcome:
    exit: int | str          # an exit code, or "hang"
    traceback: bool
    seconds: float
    stderr: str = ""
    scores: list | None = None     # (id, score) per output row when exit 0
    skipped: int | None = None     # summary["skipped_lines"]["count"]
    input_intact: bool = True


def run_in_process(case: Case, tmp: str, main, limit_s: float = 20.0) -> Outcome:
    """Run rewards.score.main on the case in this process; an exception escaping main is a
    traceback, SIGALRM after `limit_s` a hang (pure-Python loops only: see the benchmark's
    forked runner for hangs inside C code)."""
    import contextlib
    import io
    import signal
    import time
    import traceback

    argv, paths = case_argv(case, tmp)
    err, out = io.StringIO(), io.StringIO()

    class Hang(BaseException):
        pass

    def alarm(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    t0 = time.perf_counter()
    tb = False
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except Hang:
        code = "hang"
    except BaseException:  # noqa: BLE001 - exactly what the fuzzer looks for
        code, tb = 1, True
        err.write(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return collect(case, paths, code, tb or "Traceback (most recent call last)" in err.getvalue(),
                   time.perf_counter() - t0, err.getvalue())


def collect(case: Case, paths: dict, code, tb: bool, seconds: float, stderr: str) -> Outcome:
    o = Outcome(code, tb, seconds, stderr[-2000:])
    with open(paths["input"], "rb") as fh:
        o.input_intact = fh.read() == case.samples
    if code == 0:
        try:
            with open(paths["output"], encoding="utf-8") as fh:
                o.scores = [(r["id"], r["score"]) for r in map(json.loads, fh)]
            with open(paths["summary"], encoding="utf-8") as fh:
                o.skipped = (json.load(fh).get("skipped_lines") or {}).get("count", 0)
        except (OSError, ValueError, KeyError, TypeError):
            o.scores = None
    return o


def judge(case: Case, o: Outcome, ref_scores: list | None) -> str:
    """'ok' or what went wrong, in the words of the issue."""
    if o.exit == "hang":
        return "hang"
    if o.traceback:
        return "traceback"
    if not o.input_intact:
        return "input-clobbered"
    if case.expect == "any":
        return "ok" if o.exit in (0, 2) else f"exit-{o.exit}"
    if case.expect == "exit2":
        return "ok" if o.exit == 2 else ("accepted-invalid" if o.exit == 0 else f"exit-{o.exit}")
    if o.exit != 0:
        return f"exit-{o.exit}"
    if case.expect == "valid":
        return "ok" if ref_scores is not None and o.scores == ref_scores else "score-changed"
    if case.expect == "skip":
        good = len(BASE_SAMPLES)
        if o.scores is None or len(o.scores) != good:
            return "lost-lines"
        return "ok" if o.skipped == case.bad_lines else "skip-not-reported"
    return "ok" if o.seconds < 15 else "slow"


def reference_case() -> Case:
    return Case("valid", "base", "valid", dump_rubric(BASE_RUBRIC), dump_samples(BASE_SAMPLES))
