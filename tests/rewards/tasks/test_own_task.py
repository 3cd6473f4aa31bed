"""A user's own task, read the way the README's "Your own task" describes it: every column
role named in the task file (the source under another name is scored, not masked), a label
set, a task file outside Hydra, a completion budget from the references, a small file's split
said out loud, a probe that takes its golds from the task's own references."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rewards import Harness
from rewards.tasks import TaskError, resolve
from rewards.tasks.budget import CAP, FLOOR, derived_budget, output_budget
from rewards.tasks.loading import load_task_file

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "receipts"
TASK_FILE = EXAMPLE / "task" / "receipts.yaml"


@pytest.fixture
def receipts(monkeypatch):
    """The bundled example's task config, its paths relative to the repo root as documented."""
    monkeypatch.chdir(REPO)
    return load_task_file(TASK_FILE)


def _scored(cfg):
    task = resolve(cfg)
    golds = [replace(s, completion=json.dumps(s.reference)) for s in task.split("eval")]
    return Harness(task.rubric).score_batch(golds)


def test_the_source_under_another_column_name_is_scored_not_masked(receipts):
    """The receipt sits in a column named `receipt`: with task.source_field naming it,
    numbers_grounded reads it and gold scores the top of the scale; without it, the check
    abstains, the grounding floor masks every sample (score None) — what happened before
    there was a source_field."""
    results = _scored(receipts)
    assert len(results) == 10 and all(r.score == 5.0 for r in results)
    assert all(r.verdicts["total_grounded"].status == "pass" for r in results)
    blind = _scored({k: v for k, v in receipts.items() if k != "source_field"})
    assert all(r.score is None for r in blind)
    assert {r.verdicts["total_grounded"].reason for r in blind} == {
        "no source to ground numbers in"}


def test_every_column_role_has_a_named_field(tmp_path, receipts):
    rows = [{"key": f"k{i}", "text": f"Ticket {i}: refund please", "gold": "Billing",
             "team": "emea"} for i in range(6)]
    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"name": "tickets", "source": "custom", "path": str(data), "rubric": receipts["rubric"],
           "prompt_template": "Pick one of {labels}.\n{text}", "id_field": "key",
           "source_field": "text", "reference_field": "gold", "labels": ["Billing", "Other"],
           "n_eval": 2}
    task = resolve(cfg)
    s = task.split("train")[0]
    assert s.id.startswith("k") and s.source.startswith("Ticket") and s.reference == "Billing"
    assert s.prompt[-1]["content"].startswith("Pick one of Billing, Other.\nTicket")
    # the reports name the task by its own name, not "custom"
    assert s.meta == {"team": "emea", "labels": ["Billing", "Other"], "task": "tickets",
                      "split": "train", "line": s.meta["line"]}
    with pytest.raises(TaskError, match=r"t\.jsonl:1: task\.reference_field='label' but this "
                                        r"row has no 'label'"):
        resolve(cfg | {"reference_field": "label"}).split("train")
    data.write_text(json.dumps(rows[0] | {"key": ""}) + "\n")
    with pytest.raises(TaskError, match=r"t\.jsonl:1: column 'key' \(the sample id\) must be "
                                        "a non-empty string"):
        resolve(cfg).split("train")


def test_a_file_smaller_than_the_eval_size_says_how_it_split(tmp_path, receipts, capsys):
    cfg = {k: v for k, v in receipts.items() if k != "n_eval"}  # the default 50 of 40 rows
    task = resolve(cfg)
    assert (len(task.split("train")), len(task.split("eval"))) == (20, 20)
    err = capsys.readouterr().err
    assert err.count("task.n_eval=50 but") == 1 and "eval takes 20 (at most half)" in err


def test_the_task_file_reads_outside_hydra(tmp_path):
    cfg = load_task_file(TASK_FILE)
    assert cfg["name"] == "receipts" and cfg["source"] == "custom"
    assert cfg["prompt_template"].startswith("Extract") and "\n\n{receipt}" in cfg["prompt_template"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: [nope, _self_]\nname: x\n")
    with pytest.raises(TaskError, match=r"bad\.yaml: defaults: 'nope' is not"):
        load_task_file(bad)


def test_the_budget_covers_a_40_token_reference():
    """No stage or task budget: 1.5 x the longest reference + 1 — a 40-token answer gets 61
    tokens, never the 8 a classification default would cut it to."""
    count = len  # one "token" per character keeps the arithmetic visible
    ref = "x" * 40
    n, why = derived_budget(["short", ref], count)
    assert n == 61 >= 40 and "1.5 x the longest of 2 references (40 tokens)" in why
    assert derived_budget(["ab"], count)[0] == FLOOR
    assert derived_budget(["y" * 5000], count)[0] == CAP
    # without a tokenizer: ~3 characters a token, erring long
    assert derived_budget([ref])[0] == 22
    with pytest.raises(TaskError, match="task.max_new_tokens"):
        derived_budget([None, None])


def test_the_stage_then_the_task_then_the_references_set_the_budget(receipts):
    task = resolve(receipts)
    assert output_budget(12, "sampling.max_new_tokens", task) == (12, "sampling.max_new_tokens")
    assert output_budget(None, "k", resolve(receipts | {"max_new_tokens": 48})) == (
        48, "task.max_new_tokens")
    n, why = output_budget(None, "k", task)
    longest = max(len(json.dumps(s.reference)) for sp in ("train", "eval")
                  for s in task.split(sp))
    assert n >= longest / 3 and "40 references" in why
    with pytest.raises(TaskError, match=r"task\.max_new_tokens must be null .* got 0"):
        output_budget(None, "k", resolve(receipts | {"max_new_tokens": 0}))
    # the main job's task keeps its 8 tokens: its published numbers reproduce to the digit
    from omegaconf import OmegaConf

    suite = OmegaConf.merge(OmegaConf.load(REPO / "conf/task/support_classification.yaml"),
                            OmegaConf.load(REPO / "conf/task/support_classification_short.yaml"))
    suite.pop("defaults", None)
    assert output_budget(None, "k", resolve(suite))[0] == 8


def test_probe_takes_its_golds_from_the_task_references(receipts, capsys):
    from rewards.probe import main

    assert main(["--task-config", str(TASK_FILE), "--no-progress", "--strict",
                 "--transforms", "empty_shell,invented,reformat"]) == 0
    out = capsys.readouterr().out
    assert "40 gold samples, gold mean **5.00** on [0, 5]" in out


def test_probe_on_free_field_rows_points_to_the_task_file(tmp_path, receipts, capsys):
    from rewards.probe import main

    assert main(["--rubric", receipts["rubric"], "--input", receipts["path"]]) == 2
    err = capsys.readouterr().err
    assert "receipts.jsonl:1: no `completion` or `reference`" in err and "--task-config" in err
    assert main(["--task", "custom", "--task-path", str(tmp_path)]) == 2
    assert "--task-path: task 'custom' reads no dataset folder" in capsys.readouterr().err
