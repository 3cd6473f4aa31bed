"""The evaluation runner end to end on tiny-random: 2 tasks x 4 samples through the HF backend
and through a real vLLM CPU server; output files, the report table, W&B offline tables,
errors reported (not scored), compare, and exit code 2 for bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rl.evaluate import CONF_DIR, compare_main, evaluate, evaluate_samples
from rl.rollout.base import SamplingConfig
from sft.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
TASKS = ["support_classification", "invoice_extraction"]


def _compose(overrides: list[str]):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("eval", overrides=overrides)


def _base(model_dir, run_dir, *extra: str) -> list[str]:
    return ["model=tiny-random", f"model.name_or_path={model_dir}", "logger=none",
            f"tasks=[{','.join(TASKS)}]", "eval.max_examples=4", "sampling.max_new_tokens=8",
            "eval.progress=false", f"run_dir={run_dir}", *extra]


def _check_outputs(run_dir: Path, scores: dict) -> None:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["task"] for r in rows} == set(TASKS)
    for r in rows:
        assert r["error"] is None and isinstance(r["completion"], str) and r["prompt"]
        assert r["score"] is not None and r["rubric_hash"]
        assert r["verdicts"] and all("reason" in v and v["status"] in ("pass", "fail", "abstain")
                                     for v in r["verdicts"].values())
        assert set(r["failed_checks"]) == {k for k, v in r["verdicts"].items()
                                           if v["status"] == "fail"}
    on_disk = json.loads((run_dir / "scores.json").read_text())
    assert on_disk["tasks"].keys() == set(TASKS) and on_disk == json.loads(json.dumps(scores))
    sc = on_disk["tasks"]["support_classification"]
    assert sc["metric"] == "accuracy" and sc["n"] == 4 and sc["errors"] == 0
    assert sc["ci_low"] <= sc["value"] <= sc["ci_high"] and "correctness" in sc["dimensions"]
    assert on_disk["tasks"]["invoice_extraction"]["metric"] == "score"
    md = (run_dir / "report.md").read_text()
    assert "| task | metric | value | 95% CI | easy | medium | hard | n | errors | unscored |" in md
    assert "| support_classification | accuracy (0–1) |" in md
    assert "| invoice_extraction | score (0–5) |" in md
    assert (run_dir / "scores.png").read_bytes()[:4] == b"\x89PNG"


def test_runner_hf_backend_with_wandb_offline(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "eval-hf"
    cfg = _compose(_base(tiny_model_dir, run_dir, "logger=wandb", "logger.mode=offline"))
    scores = evaluate(cfg)
    _check_outputs(run_dir, scores)
    assert scores["engine"] == "hf" and scores["tasks"]["support_classification"]["samples_per_s"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "eval/support_classification/value" in summary
    assert "eval/invoice_extraction/check/json_ok/pass_rate" in summary
    table = (run_dir / "tables" / "eval_support_classification_samples.jsonl").read_text()
    row = json.loads(table.splitlines()[0])
    assert {"id", "completion", "failed_checks", "score"} <= set(row)
    assert list(run_dir.glob("wandb/offline-run-*"))


def test_runner_vllm_server_backend_and_compare(vllm_server, tiny_model_dir, tmp_path, capsys):
    run_dir = tmp_path / "eval-vllm"
    cfg = _compose(_base(tiny_model_dir, run_dir, "rollout=openai",
                         f"rollout.base_url={vllm_server.base_url}", "run_name=eval-vllm"))
    scores = evaluate(cfg)
    _check_outputs(run_dir, scores)
    assert scores["engine"] == "openai" and scores["model"] == vllm_server.model
    hf_dir = tmp_path / "eval-hf"
    evaluate(_compose(_base(tiny_model_dir, hf_dir, "run_name=eval-hf")))
    out = tmp_path / "cmp" / "report.md"
    assert compare_main([str(hf_dir), str(run_dir), "--out", str(out)]) == 0
    md = out.read_text()
    assert "| task | metric | eval-hf | eval-vllm |" in md and "Deltas are against **eval-hf**" in md
    # 2 tasks x 2 runs in the table, plus one paired-delta row per task (same sample ids):
    # identical greedy completions give a paired delta of exactly 0
    assert md.count("n=4") == 6 and out.with_suffix(".png").is_file()
    assert md.count("+0.000 [+0.000, +0.000] n=4") == 2
    # same weights, greedy, fp32: both backends produce the same completions
    hf_rows = [json.loads(x) for x in (hf_dir / "samples.jsonl").read_text().splitlines()]
    vl_rows = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    same = sum(a["completion"] == b["completion"] for a, b in zip(hf_rows, vl_rows, strict=True))
    assert same >= 6, same


def test_failed_generations_are_errors_not_zeros(tmp_path, openai_stub):
    """A server answering 503 to everything: every record is an error, none is scored."""
    from rewards import Harness
    from rewards.tasks import get_task, load_split
    from rl.report import summarize_task
    from rl.rollout.openai_engine import OpenAIEngine

    openai_stub.script = [503] * 100
    engine = OpenAIEngine(openai_stub.url, backoff_s=0.01, max_retries=1)
    task = get_task("support_classification")
    samples = load_split({"name": task.name, "n_eval": 3}, "eval")
    recs = evaluate_samples(engine, task, samples, Harness(task.rubric()),
                            SamplingConfig(max_new_tokens=4), progress=False)
    assert len(recs) == 3 and all(r["error"] and r["score"] is None for r in recs)
    s = summarize_task(recs, "accuracy")
    assert s["errors"] == 3 and s["value"] is None and s["n_scored"] == 0


def test_run_dir_derives_from_slurm_job_and_groups_compose(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    cfg = _compose(["model=tiny-random", "run_name=eval-x"])
    assert cfg.run_dir == "runs/4242/eval-x"
    for extra in (["rollout=vllm"], ["rollout=openai"], ["judge=openai"],
                  ["task=support_classification"]):
        c = _compose(extra)
        assert c.rollout.engine in ("hf", "vllm", "openai")
    assert _compose(["task=invoice_extraction"]).task.name == "invoice_extraction"


def test_judge_group_reaches_the_harness(tmp_path):
    from rewards.tasks import resolve
    from rl.evaluate import make_harness

    task = resolve({"name": "legal_rewrite"})
    cfg = _compose(["judge=openai", "judge.base_url=http://127.0.0.1:9/v1", "judge.model=j",
                    "judge.api_key_env=JUDGE_KEY"])
    judge = make_harness(task, cfg, tmp_path).judge
    assert (judge.base_url, judge.model, judge.api_key_env) == ("http://127.0.0.1:9/v1", "j",
                                                                 "JUDGE_KEY")


def _cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rl.evaluate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_bad_input_exits_2(tmp_path, tiny_model_dir):
    r = _cli("tasks=[support_classification,no_such_task]")
    assert r.returncode == 2 and "unknown task 'no_such_task'" in r.stderr
    assert "support_classification" in r.stderr.split("valid tasks:")[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _cli("rollout=openai", f"rollout.base_url=http://127.0.0.1:{port}/v1", "logger=none",
             f"run_dir={tmp_path / 'a'}")
    assert r.returncode == 2 and "is unreachable" in r.stderr, r.stderr[-2000:]
    # the same UserInputError path (exit 2 under the CLI), in-process to save a start-up
    with pytest.raises(UserInputError, match="no such directory"):
        evaluate(_compose(_base(tmp_path / "missing" / "model", tmp_path / "b")))
    with pytest.raises(UserInputError, match="adapter_config.json"):
        evaluate(_compose(_base(tiny_model_dir, tmp_path / "c", f"adapter={tmp_path}")))


def test_compare_missing_dir_exits_2(tmp_path):
    assert compare_main([str(tmp_path)]) == 2


@pytest.fixture(autouse=True)
def _quiet_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_custom_task_with_its_own_rubric(tiny_model_dir, tmp_path):
    rows = [{"ticket": f"My card was charged twice ({i})", "label": "Billing",
             "labels": ["Billing", "Technical Issue"]} for i in range(8)]
    data = tmp_path / "tickets.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rubric = REPO / "rewards" / "tasks" / "rubrics" / "support_classification.yaml"
    cfg = _compose(["model=tiny-random", f"model.name_or_path={tiny_model_dir}", "logger=none",
                    "task=custom", f"task.path={data}", f"task.rubric={rubric}",
                    "task.prompt_template='Classify: {ticket}'", "task.reference_field=label",
                    "task.n_eval=2", "sampling.max_new_tokens=4", "eval.progress=false",
                    f"run_dir={tmp_path / 'run'}"])
    scores = evaluate(cfg)
    s = scores["tasks"]["custom"]
    assert s["n"] == 2 and s["errors"] == 0 and s["scale"] == [0.0, 1.0]
    assert "label" in s["checks"]


@pytest.mark.slow
@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is None,
                    reason="vllm not importable")
def test_vllm_evaluates_an_adapter_merged_into_its_weights(tiny_model_dir, tmp_path, capfd,
                                                          make_adapter):
    """rollout=vllm on CPU (sync auto -> merged) answers with the adapter merged into the
    engine's base weights, not its slow LoRA path: same greedy completions as HF + PEFT."""
    adapter = make_adapter(tiny_model_dir, tmp_path / "lora", seed=1)
    out = {}
    for engine in ("hf", "vllm"):
        run_dir = tmp_path / f"eval-{engine}"
        evaluate(_compose(_base(tiny_model_dir, run_dir, f"rollout={engine}",
                                f"adapter={adapter}", "eval.plot=false")))
        out[engine] = [json.loads(x)["completion"] for x in
                       (run_dir / "samples.jsonl").read_text().splitlines()]
    assert "merged into the engine's weights" in capfd.readouterr().err
    assert out["vllm"] == out["hf"] and any(out["hf"])
