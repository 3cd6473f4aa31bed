"""Keeps ARCHITECTURE.md's layer table true: rewards < sft < rl, and `import rewards` is torch-free."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYER = {"rewards": 0, "sft": 1, "rl": 2}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_layer_imports_a_higher_one():
    violations = []
    for pkg, level in LAYER.items():
        for f in sorted((REPO / pkg).rglob("*.py")):
            for name in imported_top_levels(f) & LAYER.keys():
                if LAYER[name] > level:
                    violations.append(f"{f.relative_to(REPO)} imports {name}")
    assert not violations, "layer violations:\n" + "\n".join(violations)


def test_layer_test_detects_a_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from rl.grpo import main\n")
    assert "rl" in imported_top_levels(bad)


def test_import_rewards_does_not_import_torch():
    code = ("import sys, rewards, rewards.tasks, rewards.score, rewards.integrations;"
            "from rewards import Harness;"
            "print(','.join(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_no_extra_top_level_packages():
    pkgs = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert pkgs <= {"rl", "rewards", "sft"}, pkgs
    for d in ("conf", "launch", "tests"):
        assert not (REPO / d / "__init__.py").exists()
