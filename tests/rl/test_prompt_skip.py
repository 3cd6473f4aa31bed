"""train.skip_prompts: RL samples only the train prompts after the ones SFT imitated; a data
set SFT used whole is sampled whole, with a message; a bad value names the key."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rewards.tasks import resolve
from rl.experience import load_prompts
from rl.state import RLError

TASK = resolve({"name": "support_classification", "n_train": 12, "n_eval": 2})


def _cfg(skip, max_prompts=None):
    return OmegaConf.create({"train": {"skip_prompts": skip, "max_prompts": max_prompts}})


def test_skip_drops_the_first_rows_then_max_prompts_caps():
    ids = [s.id for s in TASK.split("train")]
    assert [s.id for s in load_prompts(_cfg(0), TASK)] == ids
    assert [s.id for s in load_prompts(_cfg(5), TASK)] == ids[5:]
    assert [s.id for s in load_prompts(_cfg(5, 3), TASK)] == ids[5:8]


def test_a_data_set_sft_used_whole_is_sampled_whole_and_said(capsys):
    ids = [s.id for s in TASK.split("train")]
    assert [s.id for s in load_prompts(_cfg(12), TASK)] == ids
    assert "train.skip_prompts=12 would leave none" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_skip_names_the_key(bad):
    with pytest.raises(RLError, match="train.skip_prompts"):
        load_prompts(_cfg(bad), TASK)
