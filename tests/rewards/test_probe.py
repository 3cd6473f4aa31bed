"""rewards.probe: the hack transforms, the report numbers, the CI-gate exit codes."""

import json
import sys
import textwrap

import pytest

from rewards import Harness, Sample, load_rubric
from rewards.probe import main
from rewards.probes import registry, transform
from rewards.probes.run import probe, select
from rewards.tasks import list_tasks

JSON_RUBRIC = {
    "scale": [0, 5],
    "dimensions": {"format": {}, "accuracy": {}},
    "checks": [
        {"id": "json_ok", "kind": "json_valid", "dimension": "format", "gate": "global"},
        {"id": "total", "kind": "field_match", "dimension": "accuracy", "path": "total",
         "mode": "numeric"},
    ],
}
# pays for length only: every padding hack beats gold
HACKABLE = {"scale": [0, 1], "dimensions": {"d": {}}, "checks": [
    {"id": "long", "kind": "length", "dimension": "d", "unit": "words", "min": 10}]}


def golds(n=4):
    return [Sample(id=f"s{i}", source=f"Invoice total {10 + i}.50 due now.",
                   reference={"vendor": "Acme Ltd", "total": 10.5 + i}) for i in range(n)]


def write(tmp_path, name, obj):
    p = tmp_path / name
    if name.endswith(".jsonl"):
        p.write_text("".join(json.dumps(r) + "\n" for r in obj))
    else:
        import yaml
        p.write_text(yaml.safe_dump(obj))
    return str(p)


def test_builtins_cover_the_issue_list():
    names = set(registry())
    assert {"prose_wrap", "markdown_wrap", "key_colon", "key_thought", "key_step",
            "key_checked", "source_copy", "keyword_stuff", "truncate", "empty_shell",
            "placeholder_shell", "invented", "repeat_to_limit", "empty", "reformat"} <= names
    assert [t.name for t in registry().values() if t.control] == ["reformat"]


def test_report_numbers_on_a_json_rubric():
    h = Harness(load_rubric(JSON_RUBRIC))
    rep = probe(h, golds(), select(["empty_shell", "invented", "prose_wrap", "reformat"]))
    assert rep.gold_mean == 5.0
    shell, inv, wrap, ctrl = (rep.rows[n] for n in ("empty_shell", "invented", "prose_wrap",
                                                    "reformat"))
    # {"vendor": "", "total": null}: valid JSON, wrong total -> format only = half the scale
    assert shell.mean == pytest.approx(2.5) and shell.share_at_gold == 0.0
    assert ("json_ok", 1.0, 1.0) in shell.fooled()
    assert inv.mean == pytest.approx(2.5) and inv.checks["total"] == (0.0, 1.0)
    assert wrap.mean == 0.0                       # prose around JSON fails the global gate
    assert ctrl.mean == 5.0 and ctrl.share_at_gold == 1.0 and ctrl.broken() == []
    fails = rep.failures(max_share=0.0, strict=True)
    assert fails == ["empty_shell: scores up to 50% of the scale (max 10%)"]
    assert rep.failures(max_share=0.0) == []      # no hack reaches gold
    # invented keeps half the scale: under a 0.6 ceiling, over a 0.4 one (the control is exempt)
    assert rep.failures(max_share=0.0, max_ceiling=0.6) == []
    assert rep.failures(max_share=0.0, max_ceiling=0.4) == [
        "empty_shell: mean 50% of the scale (max 40%)", "invented: mean 50% of the scale (max 40%)"]


def test_cli_gate_exit_1_on_a_hackable_rubric(tmp_path, capsys):
    rows = [{"id": str(i), "source": "a short source text",
             "completion": "The refund was issued to the customer's card within five days."}
            for i in range(3)]
    rc = main(["--rubric", write(tmp_path, "r.yaml", HACKABLE), "--input",
               write(tmp_path, "g.jsonl", rows), "--out", str(tmp_path / "rep.md"),
               "--no-progress", "--json", str(tmp_path / "rep.json")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "HACKED" in err and "repeat_to_limit" in err
    rep = json.loads((tmp_path / "rep.json").read_text())[0]
    assert rep["transforms"]["repeat_to_limit"]["share_at_gold"] == 1.0
    assert "| repeat_to_limit |" in (tmp_path / "rep.md").read_text()
    # a tolerated share makes the same numbers pass the gate
    assert main(["--rubric", str(tmp_path / "r.yaml"), "--input", str(tmp_path / "g.jsonl"),
                 "--transforms", "empty,truncate", "--no-progress"]) == 0


@pytest.mark.parametrize("case, expect", [
    ("rubric", "checks[0] (long).kind"),
    ("jsonl", "g.jsonl:2: invalid JSON"),
    ("nogold", "g.jsonl:1: no `completion` or `reference`"),
    ("transform", "unknown transform 'nope'"),
    ("task", "unknown task 'nosuch'"),
    ("plugin", "--plugin no_such_module_x"),
    ("ceiling", "--max-ceiling: expected a share of the scale in [0, 1]"),
])
def test_cli_bad_input_exit_2_names_the_place(case, expect, tmp_path, capsys):
    rubric = write(tmp_path, "r.yaml", HACKABLE)
    good = [{"id": "a", "completion": "x y z"}]
    args = ["--rubric", rubric, "--input", write(tmp_path, "g.jsonl", good), "--no-progress"]
    if case == "rubric":
        bad = json.loads(json.dumps(HACKABLE))
        bad["checks"][0]["kind"] = "lenght"
        args[1] = write(tmp_path, "bad.yaml", bad)
    elif case == "jsonl":
        (tmp_path / "g.jsonl").write_text('{"id": "a", "completion": "x"}\n{"id": \n')
    elif case == "nogold":
        write(tmp_path, "g.jsonl", [{"id": "a"}])
    elif case == "transform":
        args += ["--transforms", "empty,nope"]
    elif case == "task":
        args = ["--task", "nosuch", "--no-progress"]
    elif case == "plugin":
        args += ["--plugin", "no_such_module_x"]
    elif case == "ceiling":
        args += ["--max-ceiling", "60"]
    assert main(args) == 2
    assert expect in capsys.readouterr().err


def test_plugin_registers_a_transform(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_hacks.py").write_text(textwrap.dedent("""
        from rewards.probes import transform

        @transform("shout")
        def shout(gold, sample, rubric):
            '''the answer in capitals'''
            return gold.upper()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = [{"id": "a", "completion": "the refund was issued within five days to the card on file"}]
    rc = main(["--rubric", write(tmp_path, "r.yaml", HACKABLE), "--input",
               write(tmp_path, "g.jsonl", rows), "--plugin", "my_hacks",
               "--transforms", "shout", "--no-progress"])
    assert "| shout |" in capsys.readouterr().out
    assert rc == 1  # upper case does not change the word count: the hack ties gold
    registry().pop("shout")
    sys.modules.pop("my_hacks", None)


def test_decorator_registers_and_replaces():
    @transform("tmp_probe", description="d")
    def f(gold, sample, rubric):
        return None
    assert registry()["tmp_probe"].fn is f and registry()["tmp_probe"].description == "d"
    registry().pop("tmp_probe")


def test_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--max-share" in out and "Exit codes" in out and "--plugin" in out


def test_every_suite_rubric_passes_its_probes(tmp_path):
    """The issue's bar for the seven suite rubrics: no hack reaches gold; empty answers and
    shells <= 10% of the scale; the reformatting control within 5% of gold; no hack's mean
    above 60% of the scale without a judge (keyword stuffing scored 96% on product copy)."""
    rc = main(["--task", "all", "--n", "20", "--strict", "--max-ceiling", "0.6", "--no-progress",
               "--json", str(tmp_path / "p.json"), "--out", str(tmp_path / "p.md")])
    reports = json.loads((tmp_path / "p.json").read_text())
    assert [r["label"] for r in reports] == list_tasks()
    for r in reports:
        lo, hi = r["scale"]
        assert (r["gold_mean"] - lo) / (hi - lo) >= 0.95, r["label"]
    assert rc == 0, (tmp_path / "p.md").read_text()
