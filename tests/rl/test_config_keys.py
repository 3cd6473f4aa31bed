"""Every key conf/grpo.yaml and conf/ppo.yaml document is read by the recipe or refused by one
of its rules: a key nothing reads is an option a user sets for no effect (PPO once accepted
`rollout.async` and never read it).

How: one short run of each recipe with every DictConfig lookup recorded (OmegaConf's
`_get_node`, which attribute access, `get`, `in`, `select` and interpolation all go through),
except the whole-config dumps (W&B config, the checkpoint's config.yaml) that copy every key
without reading it, and the domain rules (sft.config_rules.check): a rule that accepts
`rollout.async=true` is not a recipe that honours it. A refusal is code that reads the key
and raises. The run switches on the paths some keys are read on (the adaptive KL controller,
DAPO's resampling); keys are those of the composed default config (rollout=hf, the default
groups); the other rollout engines' own keys are read by their `from_cfg`
(tests/rl/test_rollout_*.py).
"""

from __future__ import annotations

import contextlib

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")


def leaves(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        out += leaves(v, key + ".") if isinstance(v, dict) and v else [key]
    return out


@contextlib.contextmanager
def recording(monkeypatch, roots: list):
    """The full keys of the configs `roots` looked up while the block runs (dumps of a whole
    config aside; configs built from copies, e.g. the checkpoint's, are other roots)."""
    import sys

    from omegaconf import DictConfig, OmegaConf

    from sft.config_rules import check

    read: set[str] = set()
    dumping = [0]
    get_node = DictConfig._get_node

    def in_rules() -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code is check.__code__:
                return True
            frame = frame.f_back
        return False

    def recorded(self, key, *args, **kwargs):
        if not dumping[0] and any(self._get_root() is r for r in roots) and not in_rules():
            dumping[0] += 1  # _get_full_key looks nodes up itself
            try:
                read.add(self._get_full_key(key))
            finally:
                dumping[0] -= 1
        return get_node(self, key, *args, **kwargs)

    def quiet(fn):
        def dump(cfg, *args, **kwargs):
            whole = isinstance(cfg, DictConfig) and cfg._get_parent() is None
            dumping[0] += whole
            try:
                return fn(cfg, *args, **kwargs)
            finally:
                dumping[0] -= whole
        return dump

    monkeypatch.setattr(DictConfig, "_get_node", recorded)
    for name in ("to_container", "to_yaml", "save"):
        monkeypatch.setattr(OmegaConf, name, quiet(getattr(OmegaConf, name)))
    yield read


@pytest.mark.parametrize("recipe", ["grpo", "ppo"])
def test_every_documented_key_is_read_or_refused(tmp_path, monkeypatch, recipe, conf_compose,
                                                 grpo_cfg, ppo_cfg, smoke_rubric):
    from importlib import import_module

    from omegaconf import OmegaConf

    documented = OmegaConf.to_container(conf_compose(recipe, []), resolve=False)
    documented.pop("hydra", None)
    # the run dir and the W&B run (offline) as the defaults name them: run_name is read there
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    make = grpo_cfg if recipe == "grpo" else ppo_cfg
    paths = {"grpo": ["algo.dynamic_sampling=true", "algo.max_resample=1"],
             "ppo": ["algo.kl.adaptive=true"]}[recipe]
    first = make(None, "train.max_steps=1", "logger=wandb", "train.table_every=1", *paths)
    # step 2 resumes with a changed lr (allowed) and a reward that abstains on every sample
    # (an unscored step): the keys read only on those paths
    abstains = tmp_path / "abstains.yaml"
    abstains.write_text(smoke_rubric.replace("kind: length", "kind: python").replace(
        "unit: chars\n    max: 45", "function: json:loads"))
    second = make(None, "train.max_steps=2", "logger=wandb", *paths, "optim.lr=2e-2",
                  "train.allow_resume_changes=true", f"reward.rubric={abstains}")
    # a fresh run whose first step has no signal at all, let through by train.allow_no_signal
    flat = make(tmp_path / "flat", "train.max_steps=1", *paths, "train.allow_no_signal=true",
                f"reward.rubric={abstains}")
    with recording(monkeypatch, [first, second, flat]) as read:
        for cfg in (first, second):
            out = import_module(f"rl.{recipe}").train(cfg)
        assert import_module(f"rl.{recipe}").train(flat)["step"] == 1
    assert out["step"] == 2 and out["history"][0]["train/skipped"] == 1.0  # resumed, unscored
    unread = [k for k in leaves(documented) if k not in read]
    assert not unread, f"conf/{recipe}.yaml keys no code reads and no rule refuses: {unread}"
