"""Hostile but fair recipe input: every value outside its domain stops GRPO/PPO/SFT up front with
exit 2 naming the key; a credential given as an override is refused before Hydra writes it
anywhere; a resumed run's metrics.jsonl keeps one row per step and checkpoint retention is
exact after a crash."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import grpo  # noqa: E402
from sft.errors import UserInputError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _cfg(tmp_path: Path, *extra: str, primary: str = "grpo"):
    from hydra import compose, initialize_config_dir

    rl = ["train.batch_size=8"] if primary == "grpo" else []
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose(primary, ["debug=tiny", "logger=none", f"run_dir={tmp_path / 'run'}",
                                 "train.progress=false", "train.resume=auto", *rl, *extra])


@pytest.mark.parametrize(("override", "key"), [
    ("train.batch_size=0", "train.batch_size=0"), ("train.max_steps=-1", "train.max_steps=-1"),
    ("train.micro_batch_size=0", "train.micro_batch_size=0"),
    ("sampling.temperature=0", "sampling.temperature=0"), ("optim.lr=-1", "optim.lr=-1"),
    ("optim.lr=nan", "optim.lr=nan"), ("algo.num_iterations=0", "algo.num_iterations=0"),
    ("train.progress=yes", "train.progress='yes'")])
def test_grpo_value_outside_its_domain_names_the_key(tmp_path, override, key):
    with pytest.raises(UserInputError, match="expected") as e:
        grpo.train(_cfg(tmp_path, override))
    assert str(e.value).startswith(key)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before any work


def test_sft_value_outside_its_domain_names_the_key(tmp_path):
    from sft.train import run

    with pytest.raises(UserInputError, match=r"^train\.per_device_batch_size=0: expected"):
        run(_cfg(tmp_path, "train.per_device_batch_size=0", primary="sft"))


def test_credential_override_is_refused_before_hydra_writes_it(tmp_path):
    run_dir = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "rl.grpo", "debug=tiny", f"run_dir={run_dir}",
                        "+judge.api_key=not-a-real-secret-123"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "judge.api_key: a credential" in p.stderr
    assert "not-a-real-secret-123" not in p.stderr + p.stdout
    assert not run_dir.exists()  # no .hydra/overrides.yaml holding it


def test_replayed_steps_keep_one_metrics_row_and_retention_is_exact(tmp_path):
    cfg = ("train.save_every=1", "train.keep_last=2")
    grpo.train(_cfg(tmp_path, "train.max_steps=3", *cfg))
    run_dir, ckpts = tmp_path / "run", tmp_path / "run" / "checkpoints"
    # kill -9 in the middle of step 3's clean-up (step-1 not yet deleted) ...
    shutil.copytree(ckpts / "step-00000002", ckpts / "step-00000001")
    # ... in a run that had also logged a step 4 it never checkpointed
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"step": 4, "loss/loss": 123.0, "replayed": "no"}) + "\n")
    out = grpo.train(_cfg(tmp_path, "train.max_steps=4", *cfg))
    assert [h["step"] for h in out["history"]] == [4]  # resumed from step 3
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and "replayed" not in rows[3]
    assert sorted(p.name for p in ckpts.glob("step-*")) == ["step-00000003", "step-00000004"]


def _grpo_cfg_fixed():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose("grpo", ["debug=tiny", "logger=none"])


def test_fuzzed_recipe_values_are_accepted_or_refused_naming_the_key():
    """Hypothesis over every ruled GRPO/SFT key: a value is either inside its domain (the
    check passes) or refused with UserInputError that starts with `key=value` — never another
    exception, never silently accepted outside the domain."""
    import math

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from omegaconf import OmegaConf, open_dict

    from rl.driver import RL_RULES
    from rl.grpo import GRPO_RULES
    from rl.ppo import PPO_RULES
    from sft.config_rules import SFT_RULES, check

    base = _grpo_cfg_fixed()
    rules = {key: (ok, what) for key, ok, what in RL_RULES + GRPO_RULES + PPO_RULES + SFT_RULES}
    values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.text(max_size=8), st.sampled_from(["1e-3", "true", "-1", ""]))

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(key=st.sampled_from(sorted(rules)), value=values)
    def one(key, value):
        cfg = base.copy()
        with open_dict(cfg):
            OmegaConf.update(cfg, key, value, force_add=True)
        got = OmegaConf.select(cfg, key)
        ok, _ = rules[key]
        try:
            check(cfg, [(key, ok, rules[key][1])])
        except UserInputError as e:
            assert str(e).startswith(f"{key}=") and not ok(got)
        else:
            assert ok(got)
            if isinstance(got, float):
                assert math.isfinite(got)

    one()
