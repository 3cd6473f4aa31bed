"""task.prompt=short: same ids, splits, references and rubric as the full prompt, fewer words."""

from __future__ import annotations

import pytest

from rewards.tasks import TaskError, resolve


def test_short_prompt_keeps_the_examples_and_drops_the_definitions():
    full = resolve({"name": "support_classification", "n_train": 30, "n_eval": 20})
    short = resolve({"name": "support_classification", "n_train": 30, "n_eval": 20,
                     "prompt": "short"})
    assert short.rubric_hash == full.rubric_hash
    for split in ("train", "eval"):
        f, s = full.split(split), short.split(split)
        assert [x.id for x in f] == [x.id for x in s]
        assert [x.reference for x in f] == [x.reference for x in s]
        for a, b in zip(f, s, strict=True):
            assert b.source in b.prompt[1]["content"]  # the customer message, verbatim
            assert "Technical Issue" in b.prompt[1]["content"]
            assert "misbehaves" in a.prompt[1]["content"]
            assert "misbehaves" not in b.prompt[1]["content"]
            assert len(str(b.prompt)) < 0.6 * len(str(a.prompt))
    assert not {x.id for x in short.split("train")} & {x.id for x in short.split("eval")}


def test_prompt_style_errors_name_the_key():
    with pytest.raises(TaskError, match="task.prompt must be one of full, short"):
        resolve({"name": "support_classification", "prompt": "tiny"}).split("eval")
    with pytest.raises(TaskError, match="has no short prompt"):
        resolve({"name": "invoice_extraction", "n_eval": 2, "prompt": "short"}).split("eval")
