"""load_split: generated/real/custom dispatch, config errors that name the key, deterministic
disjoint real and custom splits, custom rows (contract or templated) with file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rewards import Harness
from rewards.tasks import load_split
from rewards.tasks.base import TaskError, content_key
from rewards.tasks.loading import rubric_path_for

REPO = Path(__file__).resolve().parents[3]
MY_TASKS = ("support_classification", "invoice_extraction", "product_copywriting",
            "medical_extraction")
RUBRIC = str(REPO / "rewards" / "tasks" / "rubrics" / "support_classification.yaml")


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("name", MY_TASKS)
def test_conf_task_yaml_composes_and_loads(name):
    cfg = OmegaConf.load(REPO / "conf" / "task" / f"{name}.yaml")
    cfg.n_train, cfg.n_eval = 12, 4
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert len(train) == 12 and len(ev) == 4
    assert all(s.meta["task"] == name and s.meta["split"] == "train" for s in train)
    assert not {content_key(s) for s in train} & {content_key(s) for s in ev}


def test_generated_prefix_stable():
    cfg = {"name": "support_classification", "n_train": 30}
    longer = load_split({**cfg, "n_train": 60}, "train")
    assert [s.to_dict() for s in load_split(cfg, "train")] == [s.to_dict() for s in longer[:30]]


@pytest.mark.parametrize(("cfg", "needle"), [
    ({"name": "invoice_extraction", "source": "scraped"}, "task.source"),
    ({"name": "invoice_extraction", "source": "real"}, "task.path"),
    ({"name": "invoice_extraction", "source": "real", "path": "/no/such/dir"}, "task.path"),
    ({"name": "no_such_task"}, "valid tasks: support_classification"),
    ({"source": "generated"}, "task.name"),
    ({"name": "invoice_extraction", "n_train": -3}, "task.n_train"),
    ({"name": "invoice_extraction", "seed": "zero"}, "task.seed"),
    ({"name": "custom", "source": "custom", "rubric": RUBRIC}, "task.path"),
])
def test_bad_config_names_the_key(cfg, needle):
    with pytest.raises(TaskError, match=needle.replace(".", r"\.")):
        load_split(cfg, "train")


def test_bad_split():
    with pytest.raises(TaskError, match="split"):
        load_split({"name": "invoice_extraction"}, "test")


def test_real_adapter_name_must_exist(real_data_dir):
    cfg = {"name": "invoice_extraction", "source": "real", "path": str(real_data_dir / "sroie"),
           "adapter": "cord"}
    with pytest.raises(TaskError, match="task.adapter.*sroie"):
        load_split(cfg, "eval")


def test_real_split_deterministic_disjoint_and_capped(real_data_dir):
    cfg = {"name": "support_classification", "source": "real",
           "path": str(real_data_dir / "bitext-support"), "n_train": 300, "n_eval": 40, "seed": 1}
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert (len(train), len(ev)) == (300, 40)
    assert not {content_key(s) for s in train} & {content_key(s) for s in ev}
    assert [s.id for s in ev] == [s.id for s in load_split(cfg, "eval")]
    assert [s.id for s in ev] != [s.id for s in load_split({**cfg, "seed": 2}, "eval")]
    assert all(s.meta["dataset"] == "bitext-support" and s.meta["split"] == "eval" for s in ev)
    everything = load_split({**cfg, "n_train": None}, "train")
    assert len(everything) > 3000  # uncapped train: every remaining row


# --- custom ----------------------------------------------------------------------------------

def test_custom_contract_rows_with_eval_file(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [
        {"id": f"t{i}", "prompt": f"Classify: ticket {i}", "reference": "Billing",
         "meta": {"labels": ["Billing", "Other"]}} for i in range(5)])
    ev = _jsonl(tmp_path / "eval.jsonl", [
        {"prompt": [{"role": "user", "content": "Classify: refund"}], "reference": "Billing",
         "meta": {"labels": ["Billing", "Other"]}}])
    cfg = {"name": "custom", "source": "custom", "path": str(train), "eval_path": str(ev),
           "rubric": RUBRIC, "system_prompt": "Answer with one label."}
    rows = load_split(cfg, "train")
    assert [s.id for s in rows] == [f"t{i}" for i in range(5)]
    assert rows[0].prompt[0] == {"role": "system", "content": "Answer with one label."}
    e = load_split(cfg, "eval")
    assert len(e) == 1 and e[0].id.startswith("custom-eval-") and e[0].meta["split"] == "eval"
    # the rows score with the user's rubric
    e[0].completion = "billing"
    assert Harness(rubric_path_for(cfg)).score_batch(e)[0].score == 1.0


def test_custom_free_fields_through_template(tmp_path):
    rows = [{"ticket": f"my card was charged twice ({i})", "label": "Billing", "priority": i}
            for i in range(10)]
    path = _jsonl(tmp_path / "tickets.jsonl", rows)
    cfg = OmegaConf.create({"name": "custom", "source": "custom", "path": str(path),
                            "prompt_template": "Ticket: {ticket}\nPriority: {priority}",
                            "reference_field": "label", "rubric": RUBRIC, "n_eval": 3,
                            "n_train": None, "seed": 0, "eval_path": None, "system_prompt": None})
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert (len(train), len(ev)) == (7, 3)
    assert not {s.id for s in train} & {s.id for s in ev}
    s = train[0]
    assert s.reference == "Billing" and "label" not in s.meta and "ticket" in s.meta
    assert s.prompt == [{"role": "user", "content": f"Ticket: {s.meta['ticket']}\n"
                                                    f"Priority: {s.meta['priority']}"}]


@pytest.mark.parametrize(("rows", "cfg_extra", "needle"), [
    (['{"ticket": "a"}', "{not json"], {"prompt_template": "{ticket}"}, r"rows\.jsonl:2: invalid JSON"),
    ([{"ticket": "a"}, {"text": "b"}], {"prompt_template": "{ticket}"}, r"rows\.jsonl:2: .*'ticket'"),
    ([{"ticket": "a"}], {}, r"rows\.jsonl:1: row has no 'prompt'"),
    ([{"prompt": 3}], {}, r"rows\.jsonl:1: .*prompt"),
    ([[1, 2]], {}, r"rows\.jsonl:1: expected a JSON object"),
    ([], {}, "has no rows"),
    ([{"ticket": "a"}], {"prompt_template": "{ticket"}, "task.prompt_template"),
])
def test_custom_errors_name_file_and_line(tmp_path, rows, cfg_extra, needle):
    path = _jsonl(tmp_path / "rows.jsonl", rows)
    with pytest.raises(TaskError, match=needle):
        load_split({"name": "custom", "path": str(path), "rubric": RUBRIC, **cfg_extra}, "train")


def test_custom_requires_rubric(tmp_path):
    path = _jsonl(tmp_path / "rows.jsonl", [{"prompt": "x"}])
    with pytest.raises(TaskError, match="task.rubric"):
        load_split({"name": "custom", "path": str(path)}, "train")
    with pytest.raises(TaskError, match="task.rubric"):
        rubric_path_for({"name": "custom", "path": str(path)})


def test_rubric_path_for_suite_and_override():
    assert rubric_path_for({"name": "invoice_extraction"}).name == "invoice_extraction.yaml"
    assert rubric_path_for({"name": "invoice_extraction", "rubric": RUBRIC}) == Path(RUBRIC)


def test_custom_yaml_documents_every_key():
    path = REPO / "conf" / "task" / "custom.yaml"
    cfg = yaml.safe_load(path.read_text())
    assert set(cfg) == {"name", "source", "path", "eval_path", "prompt_template", "system_prompt",
                        "id_field", "source_field", "reference_field", "labels", "rubric",
                        "max_new_tokens", "n_train", "n_eval", "seed"}
    assert cfg["path"] == "???" and cfg["rubric"] == "???"
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith(("#", " ")):
            assert i > 0 and lines[i - 1].startswith("#"), f"no comment above {line!r}"


def test_custom_yaml_unset_path_is_named(tmp_path):
    cfg = OmegaConf.load(REPO / "conf" / "task" / "custom.yaml")
    with pytest.raises(TaskError, match=r"task\.path is required"):
        load_split(cfg, "train")
    cfg.path = str(_jsonl(tmp_path / "rows.jsonl", [{"prompt": "x"}]))
    with pytest.raises(TaskError, match=r"task\.rubric is required"):
        load_split(cfg, "train")


def test_dataset_rows_names_file_line_and_missing_keys(tmp_path):
    from rewards.tasks.base import dataset_rows

    (tmp_path / "train.jsonl").write_text('{"text": "a", "category": "X"}\n\n{"text": "b"}\n')
    rows = dataset_rows(tmp_path, "train.jsonl", "bitext", ("text", "category"))
    assert next(rows) == (1, {"text": "a", "category": "X"})
    with pytest.raises(TaskError, match=r"train\.jsonl:3: .*missing category"):
        next(rows)
    (tmp_path / "train.jsonl").write_text("{oops\n")
    with pytest.raises(TaskError, match=r"train\.jsonl:1: invalid JSON"):
        list(dataset_rows(tmp_path, "train.jsonl", "bitext", ("text",)))
    with pytest.raises(TaskError, match="sroie adapter: expected .*nope.jsonl"):
        list(dataset_rows(tmp_path, "nope.jsonl", "sroie", ("entities",)))
