"""Checkpoints: atomic writes, the COMPLETE protocol, resume selection, extra state, and an
adapter that PEFT loads back with identical outputs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sft.checkpoint import (
    STAGING,
    CheckpointError,
    finalize_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    load_state,
    read_manifest,
    resolve_resume,
    rng_state,
    save_checkpoint,
    set_rng_state,
    staging_dir,
    update_manifest,
)
from sft.model import load_model, setup_trainable

LORA = OmegaConf.create({"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0,
                         "target_modules": "all-linear", "kernel": "reference"})


def _fake(root, step, complete=True):
    staged = staging_dir(root)
    (staged / "weights.bin").write_bytes(b"x" * 10)
    path = finalize_checkpoint(staged, root, step, manifest={"data_hash": "d"})
    if not complete:
        (path / "COMPLETE").unlink()
    return path


def test_adapter_checkpoint_round_trip(tmp_path, tiny_cfg, tiny):
    from peft import PeftModel

    model, tok = tiny
    peft_model = setup_trainable(load_model(tiny_cfg), LORA)
    with torch.no_grad():  # make the adapter non-trivial (B starts at zero)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    cfg = OmegaConf.create({"run_name": "x", "judge": {"api_key": "secret-value"}})
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad])
    path = save_checkpoint(tmp_path, 7, model=peft_model, tokenizer=tok, config=cfg,
                           manifest={"rubric_hash": "r1", "data_hash": "d1",
                                     "metrics": {"loss": 1.25}},
                           state={"optimizer": opt.state_dict(), "data": {"position": 42}})
    assert path.name == "step-00000007"
    for f in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
              "config.yaml", "manifest.json", "COMPLETE", "state/optimizer.pt"):
        assert (path / f).is_file(), f
    manifest = read_manifest(path)
    assert manifest["step"] == 7 and manifest["rubric_hash"] == "r1"
    assert manifest["metrics"] == {"loss": 1.25} and "adapter_model.safetensors" in manifest["files"]
    assert "secret-value" not in (path / "config.yaml").read_text()
    assert load_state(path, "data") == {"position": 42}
    assert not list((tmp_path / STAGING).iterdir())  # nothing left in staging

    ids = tok("hello world", return_tensors="pt")["input_ids"]
    reloaded = PeftModel.from_pretrained(load_model(tiny_cfg), str(path)).eval()
    with torch.no_grad():
        expect = peft_model.eval()(ids).logits
        got = reloaded(ids).logits
        base = model(ids).logits
    assert not torch.allclose(expect, base, atol=1e-3)  # the adapter changes the output
    torch.testing.assert_close(got, expect, rtol=0, atol=1e-5)


def test_failed_save_leaves_nothing(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(tmp_path, 3, state={"bad": Unpicklable()})
    assert not list(tmp_path.glob("step-*"))
    assert not list((tmp_path / STAGING).iterdir())


def test_resume_auto_skips_incomplete(tmp_path):
    assert resolve_resume("auto", tmp_path) is None
    assert resolve_resume(None, tmp_path) is None
    a = _fake(tmp_path, 10)
    b = _fake(tmp_path, 20)
    _fake(tmp_path, 30, complete=False)  # e.g. an interrupted copy
    assert list_checkpoints(tmp_path) == [a, b]
    assert resolve_resume("auto", tmp_path) == b
    assert resolve_resume(str(a), tmp_path) == a
    with pytest.raises(CheckpointError, match="incomplete") as e:
        resolve_resume(str(tmp_path / "step-00000030"), tmp_path)
    assert "step-00000020" in str(e.value)  # points at the usable ones
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_resume(str(tmp_path / "step-00000099"), tmp_path)


def test_keep_last_and_overwrite(tmp_path):
    for step in (1, 2, 3):
        staged = staging_dir(tmp_path)
        (staged / "w").write_text(str(step))
        finalize_checkpoint(staged, tmp_path, step, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    staged = staging_dir(tmp_path)
    (staged / "w").write_text("again")
    finalize_checkpoint(staged, tmp_path, 3)  # a re-run writing the same step replaces it
    assert (latest_checkpoint(tmp_path) / "w").read_text() == "again"


def test_update_manifest(tmp_path):
    path = _fake(tmp_path, 5)
    update_manifest(path, {"metrics": {"eval/score": 0.5}, "final": True})
    update_manifest(path, {"metrics": {"loss": 1.0}})
    m = json.loads((path / "manifest.json").read_text())
    assert m["metrics"] == {"eval/score": 0.5, "loss": 1.0} and m["final"] is True


def test_rng_state_round_trip():
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
