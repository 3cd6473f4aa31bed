"""The user's own task through the recipes, on the bundled receipts example and the tiny model:
its task file honoured by every entry point (rl.evaluate included), its budget sized from
its references, report commands that rerun a stage exactly, a re-run on changed data refused,
`debug=tiny` keeping the user's rubric, and a signal-less first RL step stopping with the
check to blame."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import pipeline  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "receipts"
# the task file's own config dir, as `--config-dir examples/receipts` adds it
RECEIPTS = [f"hydra.searchpath=[file://{EXAMPLE}]", "task=receipts"]
FAST = ["debug=tiny", "sft.train.max_steps=2", "grpo.train.max_steps=2",
        "grpo.rollout={name:hf,async:false}", "grpo.train.batch_size=8",
        "sft.train.progress=false", "grpo.train.progress=false", "evaluate.eval.progress=false"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}


def _argv(line: str) -> list[str]:
    """The argv bash makes of a report's command line ($'...' quoting included)."""
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {line}"], capture_output=True,
                         text=True, check=True).stdout
    return out.split("\0")[:-1]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    """The task file's paths are relative to the repo root, where the README runs them."""
    monkeypatch.chdir(REPO)


def test_the_main_job_still_samples_8_tokens(tmp_path):
    """`python -m rl.pipeline` as shipped: no stage sets a budget, the task's is 8, so the
    published numbers reproduce to the digit."""
    from rewards.tasks import resolve
    from rewards.tasks.budget import output_budget

    cfg = pipeline.compose("pipeline", [f"run_dir={tmp_path}"])
    ev = pipeline.stage_config(cfg, "eval", cfg.evaluate, tmp_path / "e", "e")
    rl = pipeline.rl_stage_config(cfg, None)
    assert ev.sampling.max_new_tokens is None and rl.sampling.max_new_tokens is None
    task = resolve(cfg.task)
    assert output_budget(None, "sampling.max_new_tokens", task) == (8, "task.max_new_tokens")
    assert not rl.train.allow_no_signal and rl.reward.smoke_rubric is None
    # a task of the user's own: its name in every run name
    assert pipeline.compose("pipeline", RECEIPTS).run_name == "pipeline-receipts-smollm2-135m"


def test_pipeline_on_the_receipts_task_and_its_reproduce_commands(tmp_path):
    """Budget from the references (not the main job's 8), the task's own name in the report,
    a 2-step RL curve compared step 1 with step 2, and a reproduce command per stage that
    rebuilds the stage exactly: the rl.evaluate one, run alone, gives the base row's number."""
    from rewards.tasks import resolve
    from sft.model import load_tokenizer

    cfg = pipeline.compose("pipeline", [*FAST, *RECEIPTS, f"run_dir={tmp_path}",
                                        "sft.train.resume=null", "grpo.train.resume=null"])
    out = pipeline.run(cfg)
    report = Path(out["report"]).read_text()
    assert report.startswith("# Pipeline report: tiny-random on receipts")
    tok = load_tokenizer(cfg.model)
    task = resolve(cfg.task)
    longest = max(len(tok.encode(json.dumps(s.reference), add_special_tokens=False))
                  for split in ("train", "eval") for s in task.split(split))
    base = out["evals"]["base"]
    assert base["max_new_tokens"] == max(16, math.ceil(1.5 * longest) + 1) > longest
    assert "references" in base["budget_from"]
    rl_cfg = (tmp_path / "grpo" / "checkpoints" / "step-00000002" / "config.yaml").read_text()
    assert f"max_new_tokens: {base['max_new_tokens']}" in rl_cfg
    assert "Mean reward of the first step" in report and "of the last step" in report
    block = report.split("## Reproduce a stage alone")[1].split("```")[1].strip()
    commands = [_argv(line) for line in block.splitlines()]  # one line each, newlines escaped
    assert [c[2] for c in commands] == ["rl.evaluate", "sft.train", "rl.grpo"]
    for argv, primary in zip(commands[1:], ("sft", "grpo"), strict=True):
        stage = pipeline.compose(primary, argv[3:])
        assert stage.task == cfg.task and stage.model.name == "tiny-random"
    assert pipeline.compose("grpo", commands[2][3:]).train.allow_no_signal
    p = subprocess.run([sys.executable, *commands[0][1:],
                        f"run_dir={tmp_path / 'again'}", "eval.progress=false"],
                       cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    again = json.loads((tmp_path / "again" / "scores.json").read_text())["tasks"]["receipts"]
    assert (again["value"], again["n"]) == (base["value"], base["n"])


def test_rl_evaluate_honours_the_users_config_dir(tmp_path):
    """`--config-dir DIR task=NAME` (and `tasks=[NAME]`), as sft.train, rl.grpo and
    rl.pipeline take it: before, rl.evaluate answered "unknown task 'receipts'"."""
    for pick in (["task=receipts", "task.n_eval=2"],
                 ["tasks=[receipts]", "+task_overrides.n_eval=2"]):
        run_dir = tmp_path / pick[0].split("=")[0]
        p = subprocess.run(
            [sys.executable, "-m", "rl.evaluate", "--config-dir", "examples/receipts", *pick,
             "model=tiny-random", "logger=none",
             f"run_dir={run_dir}", "eval.progress=false", "eval.plot=false"],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        scores = json.loads((run_dir / "scores.json").read_text())
        assert list(scores["tasks"]) == ["receipts"] and scores["tasks"]["receipts"]["n"] == 2
        rows = [json.loads(x) for x in (run_dir / "samples.jsonl").open()]
        assert {r["task"] for r in rows} == {"receipts"}
    p = subprocess.run([sys.executable, "-m", "rl.evaluate", "task=receipts", "logger=none"],
                       cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "--config-dir" in p.stderr


def test_debug_tiny_keeps_the_users_rubric_and_changed_data_is_refused(tmp_path):
    """`python -m rl.grpo debug=tiny` on a task that names its rubric trains on that rubric
    (the smoke rubric stands in only for a suite task's own). Resuming its run dir with other
    data stops with both data hashes named."""
    from rewards.tasks import resolve
    from rl.grpo import train
    from rl.state import RLError

    common = ["debug=tiny", *RECEIPTS, f"run_dir={tmp_path}", "train.max_steps=1",
              "train.progress=false", "train.resume=auto"]
    out = train(pipeline.compose("grpo", common))
    cfg = pipeline.compose("grpo", common)
    assert out["rubric_hash"] == resolve(cfg.task).rubric_hash != resolve(
        cfg.task, "smoke_brevity").rubric_hash
    rows = (EXAMPLE / "receipts.jsonl").read_text().splitlines()
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join(rows[1:]) + "\n")
    with pytest.raises(RLError, match=r"data_hash: checkpoint '[0-9a-f]{16}', this run "
                                      r"'[0-9a-f]{16}'.*start a fresh run dir"):
        train(pipeline.compose("grpo", [*common, "train.max_steps=2",
                                        f"task.path={changed}"]))


def test_a_first_rl_step_without_signal_stops_naming_the_check(tmp_path):
    """The untrained tiny model never writes JSON: every completion fails the global gate and
    scores 0, so every group is flat. Without train.allow_no_signal the run stops at step 1
    (exit 2 through the CLI) and says which check fails everywhere."""
    from rl.grpo import train
    from rl.state import RLError

    cfg = pipeline.compose("grpo", ["model=tiny-random", "logger=none", *RECEIPTS,
                                    f"run_dir={tmp_path}", "train.max_steps=2",
                                    "train.progress=false", "train.resume=null"])
    with pytest.raises(RLError, match=r"step 1: the reward gives no signal: every group's "
                                      r"rewards are equal.*json_ok fails on every sample.*"
                                      r"train\.allow_no_signal=true"):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists() or not list(
        (tmp_path / "checkpoints").glob("step-*"))
