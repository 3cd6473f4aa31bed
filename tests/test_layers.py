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


def internal_imports(f: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules `f` imports anywhere in the file (function-level imports included):
    `from a.b import c` counts as a.b.c when that is a module, else a.b."""
    name = ".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    out = set()
    for mod in found:
        while mod and mod not in modules:
            mod = mod.rpartition(".")[0]
        if mod and mod != name:
            out.add(mod)
    return out


def import_cycles() -> list[list[str]]:
    modules = {".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): f
               for pkg in LAYER for f in (REPO / pkg).rglob("*.py")}
    graph = {m: internal_imports(f, modules) for m, f in modules.items()}
    cycles, state = [], {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for dep in sorted(graph[m]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_no_import_cycles_between_project_modules():
    """A module never imports (even lazily, inside a function) one that imports it back."""
    assert import_cycles() == []


def test_cycle_detector_finds_a_lazy_cycle(tmp_path, monkeypatch):
    for pkg in LAYER:
        (tmp_path / pkg).mkdir()
    (tmp_path / "rl" / "a.py").write_text("from rl.b import x\n")
    (tmp_path / "rl" / "b.py").write_text("def x():\n    from rl import a\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert import_cycles() == [["rl.a", "rl.b", "rl.a"]]


def _string_compares(path: Path, values: set[str]) -> list[str]:
    hits = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            for c in [node.left, *node.comparators]:
                consts = [c] if isinstance(c, ast.Constant) else list(
                    getattr(c, "elts", []))
                if any(isinstance(k, ast.Constant) and k.value in values for k in consts):
                    hits.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return hits


def test_stages_ask_capabilities_not_names():
    """No stage tests a task's name for `custom` (a custom task is one more Task) and no RL
    module tests an engine's name (engines declare what they can do)."""
    custom = [h for pkg in ("rl", "sft") for f in sorted((REPO / pkg).rglob("*.py"))
              for h in _string_compares(f, {"custom"})]
    engines = [h for f in sorted((REPO / "rl").glob("*.py"))
               for h in _string_compares(f, {"hf", "vllm", "openai"})]
    assert custom == [] and engines == []
