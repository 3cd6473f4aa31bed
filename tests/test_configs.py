"""Every primary config (conf/*.yaml, globbed so configs added later are covered) composes
and fully resolves, alone, with every experiment it can take, and with every option of each
of its config groups. Composition uses Hydra's compose API; resolution sets HydraConfig so
`${hydra:...}` interpolations resolve as they would in a real run."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARIES = sorted(p.stem for p in CONF.glob("*.yaml"))
EXPERIMENTS = sorted(str(p.relative_to(CONF / "experiment").with_suffix(""))
                     for p in (CONF / "experiment").rglob("*.yaml"))


def _defaults(path: Path) -> list:
    return (yaml.safe_load(path.read_text()) or {}).get("defaults") or []


def primary_groups(primary: str) -> set[str]:
    """Config groups named in a primary's defaults list (e.g. model, task, lora)."""
    return {str(next(iter(d))).split("@")[0].lstrip("/") for d in _defaults(CONF / f"{primary}.yaml")
            if isinstance(d, dict)}


def experiment_needs(experiment: str) -> set[str]:
    """Groups an experiment overrides: a primary must have them for it to apply."""
    needs = set()
    for d in _defaults(CONF / "experiment" / f"{experiment}.yaml"):
        if isinstance(d, dict):
            key = str(next(iter(d)))
            if key.startswith("override "):
                needs.add(key.removeprefix("override ").lstrip("/").split("@")[0])
    return needs


@pytest.fixture(scope="module", autouse=True)
def _hydra():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def compose_resolved(primary: str, overrides: list[str]) -> dict:
    cfg = compose(primary, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        with open_dict(cfg):
            del cfg["hydra"]  # run-mode hydra node has ??? sweep fields; ${hydra:} still works
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    finally:
        HydraConfig.instance().cfg = None


def _pairs():
    pairs = [(p, e) for p, e in product(PRIMARIES, EXPERIMENTS)
             if "experiment" in primary_groups(p) and experiment_needs(e) <= primary_groups(p)]
    return pairs or [pytest.param(None, None, marks=pytest.mark.skip("no experiments"))]


def _group_options():
    out = []
    for primary in PRIMARIES:
        for group in sorted(primary_groups(primary) - {"experiment", "hydra/launcher"}):
            folder = CONF / group
            for option in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
                out.append((primary, group, option.stem))
    return out


def test_found_configs():
    assert "sft" in PRIMARIES and "tunesalon" in EXPERIMENTS


@pytest.mark.parametrize("primary", PRIMARIES)
def test_primary_composes(primary):
    cfg = compose_resolved(primary, [])
    assert cfg.get("run_dir") and "${" not in str(cfg)
    # never from the clock alone: same-second Slurm jobs would collide
    assert "now:" not in (CONF / f"{primary}.yaml").read_text()


@pytest.mark.parametrize("primary, experiment", _pairs())
def test_primary_with_experiment(primary, experiment):
    cfg = compose_resolved(primary, [f"experiment={experiment}"])
    assert "${" not in str(cfg)


def test_every_experiment_applies_somewhere():
    applied = {e for p, e in product(PRIMARIES, EXPERIMENTS)
               if "experiment" in primary_groups(p) and experiment_needs(e) <= primary_groups(p)}
    assert applied == set(EXPERIMENTS)


@pytest.mark.parametrize("primary, group, option", _group_options())
def test_every_group_option(primary, group, option):
    overrides = [f"{group}={option}"]
    # mandatory (???) fields, e.g. the custom task's path and rubric: give them a value
    body = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    overrides += [f"{group}.{k}=placeholder" for k, v in body.items() if v == "???"]
    compose_resolved(primary, overrides)


TUNESALON_TASKS = ["support_classification", "invoice_extraction", "medical_extraction",
                   "product_copywriting", "legal_rewrite"]


@pytest.mark.parametrize("task", TUNESALON_TASKS)
def test_tunesalon_recipe(task):
    cfg = compose_resolved("sft", ["experiment=tunesalon", f"task={task}"])
    assert cfg["model"]["name_or_path"].startswith("Qwen/Qwen3-")
    assert cfg["model"]["name_or_path"].removeprefix("Qwen/Qwen3-") in {"4B", "8B", "14B", "32B"}
    assert (cfg["lora"]["r"], cfg["lora"]["alpha"], cfg["train"]["epochs"]) == (16, 32, 3)
    assert cfg["optim"]["scheduler"] == "cosine" and cfg["data"]["max_examples"] == 500
    assert cfg["logger"]["group"] == "tunesalon"


def test_tunesalon_mapping_is_overridable():
    cfg = compose_resolved("sft", ["experiment=tunesalon", "task=legal_rewrite",
                                   "tunesalon.size.legal_rewrite=14B"])
    assert cfg["model"]["name_or_path"] == "Qwen/Qwen3-14B"
    sizes = {compose_resolved("sft", ["experiment=tunesalon", f"task={t}"])["model"]["name"]
             for t in TUNESALON_TASKS}
    assert len(sizes) == 4  # the recipe uses all four sizes


def test_run_dir_follows_slurm_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    cfg = compose_resolved("sft", [])
    assert cfg["run_dir"] == "runs/4242/sft-support_classification-smollm2-135m"


def test_unknown_key_is_rejected():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="train.no_such_key"):
        compose_resolved("sft", ["train.no_such_key=1"])


def _pipeline_stage_overrides() -> list[list[str]]:
    """The pipeline alone, with each option of its own groups, and with each RL recipe."""
    out = [[]]
    for group in sorted(primary_groups("pipeline")):
        folder = CONF / group
        for option in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if group == "experiment" and not experiment_needs(option.stem) <= \
                    primary_groups("pipeline"):
                continue  # e.g. tunesalon overrides lora/optim, which are SFT's groups
            body = yaml.safe_load(option.read_text()) or {}
            out.append([f"{group}={option.stem}"] + [f"{group}.{k}=placeholder"
                                                      for k, v in body.items() if v == "???"])
    return out


@pytest.mark.parametrize("overrides", _pipeline_stage_overrides(), ids=lambda o: " ".join(o))
def test_pipeline_stage_configs_compose(overrides, tmp_path):
    """Each stage the pipeline runs composes from its own primary with the pipeline's
    mapping, and fully resolves."""
    from rl import pipeline

    cfg = compose("pipeline", overrides=overrides)
    stages = [pipeline.stage_config(cfg, "eval", cfg.evaluate, tmp_path / "e", "e"),
              pipeline.stage_config(cfg, "sft", cfg.sft, tmp_path / "s", "s"),
              pipeline.rl_stage_config(cfg, str(tmp_path / "adapter"))]
    model = OmegaConf.to_container(cfg.model, resolve=True)
    for stage in stages:
        plain = OmegaConf.to_container(stage, resolve=True, throw_on_missing=True)
        assert {k: v for k, v in plain["model"].items() if k != "adapter"} == \
            {k: v for k, v in model.items() if k != "adapter"}
        assert "${" not in str(plain)
    assert stages[2].model.adapter == str(tmp_path / "adapter")
