"""The end-to-end pipeline on tiny-random (debug=tiny): every stage runs and report.md has the
base / SFT / RL rows and the reward-curve image; plus the report and plot helpers alone."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import pipeline  # noqa: E402

# the hf engine: the pipeline's vLLM rollouts would start an engine per test (one per
# session is the rule; tests/rl/test_grpo_vllm.py covers GRPO on vLLM)
FAST = ["debug=tiny", "sft.train.max_steps=2", "grpo.train.max_steps=2",
        "grpo.rollout={name:hf,async:false}",
        "sft.train.progress=false", "grpo.train.progress=false", "evaluate.eval.progress=false",
        "sft.train.resume=null", "grpo.train.resume=null"]


def test_debug_pipeline_writes_report_with_three_rows(tmp_path):
    cfg = pipeline.compose("pipeline", [*FAST, f"run_dir={tmp_path}"])
    out = pipeline.run(cfg)
    report = Path(out["report"]).read_text()
    for row in ("| base |", "| SFT |", "| RL (GRPO) |"):
        assert row in report, row
    assert set(out["evals"]) == {"base", "sft", "rl"}
    assert (tmp_path / "reward_curves.png").stat().st_size > 1000
    assert "![reward per dimension](reward_curves.png)" in report
    facts = json.loads((tmp_path / "pipeline.json").read_text())
    assert Path(facts["rl_checkpoint"]).name == "step-00000002"
    # the RL row was graded with the same rubric as the other two
    assert len({s["rubric_hash"] for s in out["evals"].values()}) == 1


def test_a_run_killed_after_sft_resumes_at_rl(tmp_path, monkeypatch):
    """Finished stages are never redone: SFT is not re-trained, the base and SFT evaluations
    are reused (same config and adapter weights); a changed eval setting evaluates again."""
    over = [*FAST, f"run_dir={tmp_path}", "sft.train.resume=auto", "grpo.train.resume=auto"]

    def killed(cfg, adapter):
        raise KeyboardInterrupt("killed during RL")
    monkeypatch.setattr(pipeline, "run_rl", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(pipeline.compose("pipeline", over))
    monkeypatch.undo()
    done = {p: p.stat().st_mtime_ns for p in [tmp_path / "eval-base" / "samples.jsonl",
                                               tmp_path / "eval-sft" / "samples.jsonl",
                                               *(tmp_path / "sft").rglob("adapter_model.*")]}
    assert len(done) >= 3 and not (tmp_path / "grpo").exists()
    trained = []
    real_sft = pipeline.run_sft
    monkeypatch.setattr(pipeline, "run_sft", lambda cfg: trained.append(1) or real_sft(cfg))
    out = pipeline.run(pipeline.compose("pipeline", over))
    assert set(out["evals"]) == {"base", "sft", "rl"} and trained == [1]
    assert {p: p.stat().st_mtime_ns for p in done} == done  # nothing re-made
    assert (tmp_path / "eval-rl" / pipeline.EVAL_FINGERPRINT).is_file()
    # another eval budget, or other weights at the same adapter path, is another evaluation
    cfg = pipeline.compose("pipeline", over)
    sft_ckpt = json.loads((tmp_path / "pipeline.json").read_text())["sft_checkpoint"]

    def fp(extra, over_cfg=cfg):
        return pipeline.eval_fingerprint(pipeline.stage_config(
            over_cfg, "eval", over_cfg.evaluate, tmp_path / "x", "x", extra))
    same = fp([f"adapter={sft_ckpt}"])
    assert same == fp([f"adapter={sft_ckpt}"]) != fp([])
    budget = pipeline.compose("pipeline", [*over, "+evaluate.sampling.max_new_tokens=3"])
    assert fp([f"adapter={sft_ckpt}"], budget) != same
    # the same weights under another path are the same evaluation (a copied run dir)
    moved = shutil.copytree(sft_ckpt, tmp_path / "elsewhere")
    assert fp([f"adapter={moved}"]) == same
    weights = next(Path(sft_ckpt).glob("adapter_model.*"))
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert fp([f"adapter={sft_ckpt}"]) != same


def test_pipeline_runs_ppo_as_its_rl_stage(tmp_path):
    cfg = pipeline.compose("pipeline", [*FAST, f"run_dir={tmp_path}", "rl=ppo",
                                        "ppo.train.max_steps=1", "ppo.train.progress=false",
                                        "ppo.train.resume=null"])
    out = pipeline.run(cfg)
    report = Path(out["report"]).read_text()
    assert "| RL (PPO) |" in report and "rl.ppo" in report
    facts = json.loads((tmp_path / "pipeline.json").read_text())
    assert Path(facts["rl_checkpoint"]).parent.parent.name == "ppo"


def test_plot_has_one_panel_per_dimension(tmp_path):
    hist = [{"step": i, "reward/total": i / 10, "reward/dim/a": i / 20, "reward/dim/b": None}
            for i in range(1, 8)]
    path = pipeline.plot_curves(hist, tmp_path / "c.png")
    assert path.stat().st_size > 1000
    assert pipeline.plot_curves([], tmp_path / "none.png") is None


def test_rl_stage_gets_the_adapter_path_verbatim(tmp_path):
    weird = tmp_path / "a dir" / "ckpt=1"
    cfg = pipeline.compose("pipeline", ["debug=tiny", f"run_dir={tmp_path}"])
    g = pipeline.rl_stage_config(cfg, str(weird))
    assert g.model.adapter == str(weird)
    assert g.run_dir == str(tmp_path / "grpo")


def test_stage_keys_pass_straight_through(tmp_path):
    """`sft.optim.lr` on the pipeline's command line is the SFT stage's `optim.lr`; a group key
    takes an option; model/task/logger are the pipeline's own nodes in every stage."""
    cfg = pipeline.compose("pipeline", [
        "debug=tiny", f"run_dir={tmp_path}", "sft.optim.lr=0.001", "grpo.algo={name:dapo,beta:0.02}", "task.n_eval=3", "evaluate.eval.max_examples=2"])
    sft = pipeline.stage_config(cfg, "sft", cfg.sft, tmp_path / "sft", "s")
    assert sft.optim.lr == 0.001 and sft.train.max_steps == cfg.sft.train.max_steps
    rl = pipeline.rl_stage_config(cfg, None)
    assert rl.algo.name == "dapo" and rl.algo.beta == 0.02
    assert rl.algo.eps_high == 0.28  # DAPO's own clip-higher: the option was selected
    ev = pipeline.stage_config(cfg, "eval", cfg.evaluate, tmp_path / "e", "e")
    assert ev.eval.max_examples == 2
    for stage in (sft, rl, ev):
        assert stage.model.name == "tiny-random" and stage.task.n_eval == 3
        assert stage.logger.name == "none"


def test_as_overrides_groups_fields_and_values():
    spec = {"algo": {"name": "dapo", "num_generations": 8}, "rollout": "vllm",
            "sampling": {"stop": ["a b", "c"], "temperature": 0.5},
            "train": {"resume": None, "progress": False}}
    assert pipeline.as_overrides(spec) == [
        "algo=dapo", "algo.num_generations=8", "rollout=vllm",
        "sampling.stop=['a b',c]", "sampling.temperature=0.5", "train.resume=null",
        "train.progress=false"]
    # an option picked by `name` in a group whose options have no `name` field (rollout)
    assert pipeline.as_overrides({"rollout": {"name": "vllm", "async": True}}) == [
        "rollout=vllm", "rollout.async=true"]
    stage = pipeline.compose("grpo", pipeline.as_overrides(
        {"rollout": {"name": "vllm", "async": True}, "algo": {"name": "dapo", "beta": 0.05}}))
    assert (stage.rollout.engine, stage.rollout["async"]) == ("vllm", True)
    assert (stage.algo.name, stage.algo.beta) == ("dapo", 0.05)


def test_a_key_the_stage_lacks_is_a_user_error_naming_the_stage(tmp_path):
    from sft.errors import UserInputError

    cfg = pipeline.compose("pipeline", ["debug=tiny", f"run_dir={tmp_path}",
                                        "+sft.train.no_such_key=1"])
    with pytest.raises(UserInputError, match="sft stage"):
        pipeline.stage_config(cfg, "sft", cfg.sft, tmp_path / "sft", "s")


class _OpenAIStub(BaseHTTPRequestHandler):
    """A real 127.0.0.1 HTTP server speaking the OpenAI chat protocol: lists one model and
    answers every chat completion with "Billing" (a valid support label)."""

    def log_message(self, *args):
        pass

    def _send(self, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": "frontier-stub", "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._send({"id": "x", "object": "chat.completion", "model": body.get("model"),
                    "choices": [{"index": k, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Billing"}}
                                for k in range(body.get("n", 1))]})


@pytest.fixture
def openai_stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_debug_pipeline_carries_paired_deltas_and_a_frontier_row(tmp_path, openai_stub):
    """pipeline.json has deltas {sft_minus_base, rl_minus_sft, rl_minus_base,
    frontier_minus_rl}, each the paired mean over the eval ids (all 4 here) with its CI, equal
    to the difference of the rows' means when every sample is scored; report.md shows them
    and the frontier row, whose answers came from an OpenAI-compatible HTTP endpoint."""
    cfg = pipeline.compose("pipeline", [*FAST, f"run_dir={tmp_path}",
                                        f"frontier.base_url={openai_stub}"])
    out = pipeline.run(cfg)
    facts = json.loads((tmp_path / "pipeline.json").read_text())
    assert set(facts["deltas"]) == {"sft_minus_base", "rl_minus_sft", "rl_minus_base",
                                    "frontier_minus_rl"}
    ev = facts["evals"]
    assert list(ev) == ["base", "sft", "rl", "frontier"] and "records" not in ev["base"]
    for name, later, earlier in pipeline.DELTAS:
        d = facts["deltas"][name]
        assert d["n"] == 4 and d["ci_low"] <= d["mean"] <= d["ci_high"]
        assert d["mean"] == pytest.approx(ev[later]["value"] - ev[earlier]["value"])
    # the stub said "Billing" to every prompt: right exactly where the gold label is Billing
    rows = [json.loads(x) for x in (tmp_path / "eval-frontier" / "samples.jsonl").open()]
    assert {r["completion"] for r in rows} == {"Billing"}
    assert ev["frontier"]["value"] == pytest.approx(
        sum(r["reference"] == "Billing" for r in rows) / len(rows))
    report = Path(out["report"]).read_text()
    assert "## Paired deltas (same eval examples)" in report
    for row in ("| SFT − base |", "| RL (GRPO) − SFT |", "| frontier (frontier-stub) |",
                "| frontier (frontier-stub) − RL (GRPO) |"):
        assert row in report, row


def test_stage_cpu_counts_the_processes_a_stage_starts():
    """vLLM generates in child processes nobody wait()s for: os.times() misses them (the
    pipeline read 13 of a 399 s vLLM evaluation's CPU that way); the meter must not."""
    import subprocess
    import sys

    meter = pipeline.TreeCPU(every=0.1)
    c0 = meter.total()
    burn = ("import time, sys\nt = time.process_time()\n"
            "while time.process_time() - t < 1.0: pass\nprint('burnt', flush=True)\n"
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "burnt"
        used = meter.total() - c0  # the child lives on, unreaped, as vLLM's engine does
    finally:
        child.kill()
        child.wait()
        meter.close()
    assert used >= 0.9, used
