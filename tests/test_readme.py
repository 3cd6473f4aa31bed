"""README.md as a user meets it: no merge-conflict markers anywhere in the tree, links and
commands that exist in a clone, and the "Your own task" section's commands run as written on
the bundled receipts example with the tiny model (the walk: slow, ~2-4 min; a fast variant
composes every command without running it)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# a line that opens, separates or closes an unresolved merge conflict
MARKER = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.M)
TOP = ("rewards/", "rl/", "sft/", "conf/", "launch/", "tests/", "benchmarks/", "examples/")


def test_no_merge_conflict_markers_in_the_tree():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in (".png", ".jpg", ".gguf", ".safetensors") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        hits += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in MARKER.finditer(text)]
    assert not hits, f"unresolved merge markers at {hits}"


def test_readme_links_and_commands_exist_in_a_clone():
    assert "ARCHITECTURE.md" not in README  # ../shared/ARCHITECTURE.md: not in a clone
    paths = re.findall(r"`([^`\s]+)`", README) + re.findall(r"\]\(([^)\s]+)\)", README)
    missing = [p for p in paths if p.startswith(TOP) and not re.search(r"[<>*{}$]", p)
               and "." in p.rsplit("/", 1)[-1] and not (REPO / p.split(":")[0]).exists()]
    assert not missing, missing
    for module in set(re.findall(r"python -m ([a-z_][\w.]*\w)(?![\w.])", README)):
        parts = module.split(".")
        if parts[0] in ("rewards", "rl", "sft", "benchmarks"):
            assert (REPO.joinpath(*parts).with_suffix(".py").is_file()
                    or (REPO.joinpath(*parts) / "__main__.py").is_file()), module


def _own_task_commands() -> list[list[str]]:
    section = README.split("\n## Your own task\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [shlex.split(line) for b in blocks for line in b.splitlines()
            if line.startswith("python -m ")]


def _tiny(cmd: list[str], run_dir: Path) -> list[str]:
    """The command with the tiny model and a few steps (what `debug=tiny` is for)."""
    extra = {"rewards.probe": [],
             "rl.pipeline": ["debug=tiny", "sft.train.max_steps=2", "grpo.train.max_steps=2",
                             "grpo.rollout={name:hf,async:false}", "grpo.train.batch_size=8",
                             "sft.train.progress=false",
                             "grpo.train.progress=false", "evaluate.eval.progress=false",
                             f"run_dir={run_dir / 'pipeline'}"],
             "rl.evaluate": ["model=tiny-random", "logger=none", "eval.progress=false",
                             "task.n_eval=4", f"run_dir={run_dir / 'eval'}"]}
    return [sys.executable, *cmd[1:], *extra[cmd[2]]]


def test_own_task_commands_compose_with_the_tiny_model(tmp_path, monkeypatch):
    """Fast: the section's commands are the three the walk runs, and the Hydra ones compose
    with the user's config dir (their task, its run name)."""
    pytest.importorskip("hydra")
    from rl.pipeline import compose

    monkeypatch.chdir(REPO)
    cmds = _own_task_commands()
    assert [c[2] for c in cmds] == ["rewards.probe", "rl.pipeline", "rl.evaluate"]
    for cmd in cmds[1:]:
        args = _tiny(cmd, tmp_path)[3:]
        cdir = args.pop(args.index("--config-dir") + 1)
        args.remove("--config-dir")
        primary = {"rl.pipeline": "pipeline", "rl.evaluate": "eval"}[cmd[2]]
        cfg = compose(primary, [f"hydra.searchpath=[file://{REPO / cdir}]", *args])
        assert cfg.task.name == "receipts" and cfg.model.name == "tiny-random"


@pytest.mark.slow
def test_readme_own_task_walk(tmp_path):
    """The section's commands, run as a user runs them (subprocesses from the repo root): the
    probe passes, the pipeline writes its report on the receipts task, rl.evaluate grades it
    from the user's config dir; then the pipeline re-run on changed data is refused (exit 2,
    both hashes named) instead of reporting the new data over the old adapter."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    for cmd in _own_task_commands():
        p = subprocess.run(_tiny(cmd, tmp_path), cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=900)
        assert p.returncode == 0, (cmd, p.stderr[-3000:])
    report = (tmp_path / "pipeline" / "report.md").read_text()
    assert "on receipts" in report and "| RL (GRPO) |" in report
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert list(scores["tasks"]) == ["receipts"]
    rows = (REPO / "examples" / "receipts" / "receipts.jsonl").read_text().splitlines()
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join(rows[::-1][1:]) + "\n")
    pipeline = next(c for c in _own_task_commands() if c[2] == "rl.pipeline")
    p = subprocess.run([*_tiny(pipeline, tmp_path), "sft.train.resume=auto",
                        f"task.path={changed}"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 2, p.stderr[-3000:]
    assert re.search(r"was trained on other data \(data hash [0-9a-f]{16}; this run's rows "
                     r"hash to [0-9a-f]{16}", p.stderr) and "run_name=" in p.stderr


def test_help_lists_each_entry_points_own_groups_and_forms():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sft = subprocess.run([sys.executable, "-m", "sft.train", "--help"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert sft.returncode == 0 and "lora, optim" in sft.stdout
    assert "algo:" not in sft.stdout and "rollout" not in sft.stdout.split("== Config ==")[0]
    ev = subprocess.run([sys.executable, "-m", "rl.evaluate", "--help"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)
    assert ev.returncode == 0 and "python -m rl.evaluate compare RUN_DIR..." in ev.stdout
