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
