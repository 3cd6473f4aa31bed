"""Property-based fuzzing of `python -m rewards.score` over rubric YAML and sample JSONL.

Cases come from tests/rewards/fuzz_cases.py (domain table × structural breakage × bad JSONL
lines × path collisions × pathological patterns), drawn by hypothesis through a seeded
Random. Properties, per case: no traceback, no hang (20 s SIGALRM limit, ~40 ms typical),
exit 2 for anything outside its documented domain, valid re-spellings score exactly like
the base files, skipped lines counted, the input never overwritten.
Default run: 300 cases in-process (~15 s on the 2-core CPU) plus a few real subprocesses;
`-m slow`: 1,200 more.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.score import main

_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def ref_scores(tmp_path_factory, fuzz):
    o = fuzz.run_in_process(fuzz.reference_case(), str(tmp_path_factory.mktemp("ref")), main)
    assert o.exit == 0 and o.scores, o.stderr
    # the base samples span the scale: a gated zero and a graded pass
    assert o.scores[0] == ("good", 3.75) and o.scores[1] == ("prose", 0.0)
    return o.scores


@pytest.fixture(autouse=True)
def _no_env_judge(monkeypatch):
    monkeypatch.delenv("HARNESSRL_JUDGE_BASE_URL", raising=False)


def _check(fuzz, rng, tmp_path_factory, ref):
    case = fuzz.make_case(rng)
    o = fuzz.run_in_process(case, str(tmp_path_factory.mktemp("case")), main)
    verdict = fuzz.judge(case, o, ref)
    assert verdict == "ok", (case.cls, case.name, verdict, o.exit, o.stderr[-1500:])


@settings(max_examples=300, **_SETTINGS)
@given(rng=st.randoms(use_true_random=False))
def test_fuzz_score_cli(rng, tmp_path_factory, ref_scores, fuzz):
    _check(fuzz, rng, tmp_path_factory, ref_scores)


@pytest.mark.slow
@settings(max_examples=1200, **_SETTINGS)
@given(rng=st.randoms(use_true_random=False), salt=st.integers(0, 2**32))
def test_fuzz_score_cli_long(rng, salt, tmp_path_factory, ref_scores, fuzz):
    rng.seed(salt)  # a different stream from the default run's
    _check(fuzz, rng, tmp_path_factory, ref_scores)


def _subprocess(fuzz, tmp_path, case):
    argv, paths = fuzz.case_argv(case, str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "rewards.score", *argv], capture_output=True,
                       text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != "HARNESSRL_JUDGE_BASE_URL"})
    return p, paths


@pytest.mark.parametrize("name", ["alias-bomb", "non-utf8", "deep-seq", "huge-int"])
def test_real_cli_structural_rubrics_exit_2(tmp_path, name, fuzz):
    rng = next(r for r in (fuzz.random.Random(s) for s in range(10_000))
               if fuzz.structural(_Pin(r, name))[0] == name)
    _, data = fuzz.structural(_Pin(rng, name))
    case = fuzz.Case("rubric:struct", name, "exit2", data, fuzz.dump_samples(fuzz.BASE_SAMPLES))
    p, _ = _subprocess(fuzz, tmp_path, case)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "rubric.yaml" in p.stderr


def test_real_cli_skip_reports_non_utf8_and_bad_lines(tmp_path, fuzz):
    lines = [fuzz.dump_samples([s]).rstrip(b"\n") for s in fuzz.BASE_SAMPLES]
    lines[1:1] = [fuzz.BAD_LINES["non-utf8"], fuzz.BAD_LINES["meta-list+unknown"]]
    case = fuzz.Case("samples:skip", "", "skip", fuzz.dump_rubric(fuzz.BASE_RUBRIC),
                  b"\n".join(lines) + b"\n", ["--on-bad-line", "skip"], bad_lines=2)
    p, paths = _subprocess(fuzz, tmp_path, case)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "skipped 2 bad input lines" in p.stdout and "lines 2, 3" in p.stdout
    summary = json.loads(Path(paths["summary"]).read_text())
    assert summary["skipped_lines"]["lines"] == [2, 3]
    assert "byte offset" in summary["skipped_lines"]["reasons"]["2"]
    assert len(Path(paths["output"]).read_text().splitlines()) == len(fuzz.BASE_SAMPLES)


def test_real_cli_output_equal_to_input_is_refused(tmp_path, fuzz):
    case = fuzz.Case("outputs", "same-input-relative", "exit2", fuzz.dump_rubric(fuzz.BASE_RUBRIC),
                  fuzz.dump_samples(fuzz.BASE_SAMPLES), outputs="same-input-relative")
    p, paths = _subprocess(fuzz, tmp_path, case)
    assert p.returncode == 2 and "same file as --input" in p.stderr
    assert Path(paths["input"]).read_bytes() == case.samples


def test_real_cli_concurrency_zero_is_refused_not_hung(tmp_path, fuzz):
    case = fuzz.Case("cli", "", "exit2", fuzz.dump_rubric(fuzz.BASE_RUBRIC),
                  fuzz.dump_samples(fuzz.BASE_SAMPLES), ["--concurrency", "0"])
    p, _ = _subprocess(fuzz, tmp_path, case)
    assert p.returncode == 2 and "--concurrency: expected an integer >= 1" in p.stderr


class _Pin:
    """A Random whose first `choice` over structural options returns `name`."""

    def __init__(self, rng, name):
        self.rng, self.name, self.pinned = rng, name, False

    def choice(self, seq):
        if not self.pinned and self.name in seq:
            self.pinned = True
            return self.name
        return self.rng.choice(seq)

    def __getattr__(self, attr):
        return getattr(self.rng, attr)
