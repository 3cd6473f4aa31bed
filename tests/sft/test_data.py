"""SFT data rows: custom JSONL validation (file:line errors) and task samples -> messages."""

from __future__ import annotations

import json

import pytest

from rewards.sample import Sample
from sft.data import read_messages_jsonl, sample_messages
from sft.errors import UserInputError


def test_reads_valid_rows(tmp_path, helpers):
    path = helpers.write_jsonl(tmp_path / "ok.jsonl", helpers.chat_rows(3))
    rows = read_messages_jsonl(path)
    assert len(rows) == 3 and rows[0][-1]["role"] == "assistant"


@pytest.mark.parametrize("bad, expect", [
    ({"prompt": "hi"}, "no 'messages' key"),
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0]"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0]"),
])
def test_bad_row_names_file_and_line(tmp_path, helpers, bad, expect):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(helpers.chat_rows(1)[0]) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(UserInputError) as e:
        read_messages_jsonl(path)
    assert f"{path}:3" in str(e.value) and expect in str(e.value)


def test_invalid_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"messages": [\n')
    with pytest.raises(UserInputError, match=r"broken.jsonl:1: invalid JSON"):
        read_messages_jsonl(path)
    with pytest.raises(UserInputError, match="no such file"):
        read_messages_jsonl(tmp_path / "absent.jsonl")


def test_sample_reference_becomes_assistant_turn():
    prompt = [{"role": "system", "content": "Extract."}, {"role": "user", "content": "Doc"}]
    s = Sample(id="1", prompt=prompt, reference={"total": 12.5, "currency": "EUR"})
    msgs = sample_messages(s)
    assert msgs[:2] == prompt
    assert msgs[2] == {"role": "assistant", "content": '{"total": 12.5, "currency": "EUR"}'}
    assert sample_messages(Sample(id="2", prompt="Hi", reference="billing"))[0]["role"] == "user"
    with pytest.raises(UserInputError, match="no reference"):
        sample_messages(Sample(id="3", prompt="Hi"))


def test_a_row_without_gold_names_its_file_line_and_the_setting(tmp_path):
    """A custom row with no reference: the error says which row of which file, and which task
    key names the gold column (it named only the sample id before)."""
    from types import SimpleNamespace

    from rewards.tasks import resolve
    from sft.data import load_train_rows

    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"text": f"ticket {i}", "label": "Billing"}) + "\n"
                            for i in range(4)))
    rubric = tmp_path / "r.yaml"
    rubric.write_text("dimensions: {d: {}}\nchecks:\n  - {id: c, kind: length, dimension: d, "
                      "unit: chars, max: 9}\n")
    task = resolve({"name": "tickets", "source": "custom", "path": str(path),
                    "rubric": str(rubric), "prompt_template": "{text}", "n_eval": 1})
    with pytest.raises(UserInputError, match=r"t\.jsonl:\d, task 'tickets'\) has no reference "
                                             r"to train on: .*set task\.reference_field .*"
                                             r"\(columns here: text, label\)"):
        load_train_rows(SimpleNamespace(get=lambda k, d=None: None), task)
