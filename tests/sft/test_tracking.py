"""Tracking: redaction, W&B mode choice, and a real offline W&B run read back from its
.wandb transaction log (plus the local metrics.jsonl / tables / summary files)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from sft.tracking import (
    REDACTED,
    init_tracker,
    read_offline_run,
    redact,
    wandb_mode,
)

WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"


def test_redact_keys_and_values():
    cfg = {
        "judge": {"api_key": "abc", "apiKey": "abc", "max_tokens": 64, "token_budget": 512,
                  "base_url": "http://x", "headers": {"Authorization-Token": "t"}},
        "hf_token": "hf_abcdefghijklmnopqrstuvwx", "tokenizer": "gpt2",
        "notes": ["sk-abcdefghijklmnopqrstuvwxyz", "plain"],
        "other": WANDB_KEY, "model": {"revision": WANDB_KEY}, "password": None,
    }
    out = redact(cfg)
    assert out["judge"]["api_key"] == out["judge"]["apiKey"] == REDACTED
    assert out["judge"]["headers"]["Authorization-Token"] == REDACTED
    assert out["hf_token"] == REDACTED
    assert out["notes"] == [REDACTED, "plain"]
    assert out["other"] == REDACTED  # 40 hex digits: the shape of a W&B key
    # not secrets: numbers under token-ish keys, names containing "token", commit hashes
    assert out["judge"]["max_tokens"] == 64 and out["judge"]["token_budget"] == 512
    assert out["tokenizer"] == "gpt2" and out["model"]["revision"] == WANDB_KEY
    assert out["judge"]["base_url"] == "http://x" and out["password"] is None
    assert cfg["hf_token"].startswith("hf_")  # input untouched


def test_wandb_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = OmegaConf.create({"name": "wandb", "mode": "auto"})
    assert wandb_mode(cfg) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    assert wandb_mode(cfg) == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    (tmp_path / ".netrc").write_text(f"machine api.wandb.ai\n  login user\n  password {WANDB_KEY}\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert wandb_mode(cfg) == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode(cfg) == "offline"
    assert wandb_mode(OmegaConf.create({"name": "wandb", "mode": "online"})) == "online"
    assert wandb_mode(OmegaConf.create({"name": "none"})) == "disabled"


def _cfg(logger: str):
    return OmegaConf.create({
        "run_name": "track-test", "stage": "sft",
        "task": {"name": "support_classification"}, "model": {"name": "tiny-random"},
        "judge": {"api_key": "sk-live-abcdefghijklmnopqrstuvwx", "temperature": 0.0},
        "optim": {"lr": 2e-4},
        "logger": {"name": logger, "mode": "auto", "project": "harnessrl-tests",
                   "entity": None, "group": "grp", "tags": ["t1"]}})


def test_offline_run_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    tracker = init_tracker(_cfg("wandb"), tmp_path, stage="sft")
    tracker.log({"eval_before/accuracy": 0.25})  # no step: before training, at step 0
    tracker.log({"loss/train": 2.5, "optim/lr": 1e-4}, step=1)
    tracker.log({"loss/train": 1.5, "optim/lr": 2e-4}, step=2)
    tracker.log_table("eval/samples", ["id", "completion", "score"], [["a", "billing", 1.0]])
    tracker.summary({"eval/score": 0.75})
    tracker.finish()

    run = read_offline_run(tmp_path)
    assert run["name"] == "track-test" and run["group"] == "grp"
    assert set(run["tags"]) == {"t1", "sft", "support_classification", "tiny-random"}
    assert run["config"]["optim"] == {"lr": 2e-4}
    assert run["config"]["judge"]["api_key"] == REDACTED
    assert run["config"]["judge"]["temperature"] == 0.0
    losses = [(h["_step"], h["loss/train"]) for h in run["history"] if "loss/train" in h]
    assert losses == [(1, 2.5), (2, 1.5)]  # a step-less log before them does not drop them
    assert [h["_step"] for h in run["history"] if "eval_before/accuracy" in h] == [0]
    # a table is logged as a reference to a table file written beside the run
    (table_row,) = [h for h in run["history"] if h.get("eval/samples/_type") == "table-file"]
    assert table_row["eval/samples/nrows"] == 1 and table_row["eval/samples/ncols"] == 3
    table_file = next(tmp_path.glob("wandb/offline-run-*/files")) / table_row["eval/samples/path"]
    assert json.loads(table_file.read_text())["data"] == [["a", "billing", 1.0]]
    assert run["summary"]["eval/score"] == 0.75
    # the same metrics locally
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss/train"]) for r in rows if "loss/train" in r] == losses
    table = (tmp_path / "tables" / "eval_samples.jsonl").read_text().splitlines()
    assert json.loads(table[0]) == {"id": "a", "completion": "billing", "score": 1.0}
    assert json.loads((tmp_path / "summary.json").read_text()) == {"eval/score": 0.75}
    assert "sk-live" not in (next(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))
                             .read_bytes().decode("latin-1"))


def test_logger_none_writes_local_files_only(tmp_path):
    tracker = init_tracker(_cfg("none"), tmp_path)
    tracker.log({"loss/train": 1.0}, step=3)
    tracker.finish()
    assert not (tmp_path / "wandb").exists()
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["loss/train"] == 1.0


def test_non_zero_rank_is_silent(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    tracker = init_tracker(_cfg("wandb"), tmp_path / "run")
    tracker.log({"loss/train": 1.0}, step=1)
    tracker.summary({"x": 1})
    tracker.finish()
    assert not (tmp_path / "run").exists()


def test_read_offline_run_without_runs(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_offline_run(tmp_path)
