"""Checkpoints shared by every stage (SFT, GRPO, PPO): atomic, self-describing, resumable.

Layout of `<root>/step-00000120/` (root is usually `<run_dir>/checkpoints`):

    adapter_config.json, adapter_model.safetensors   PEFT adapter (or config.json +
                                                     model.safetensors for a full fine-tune):
                                                     the dir loads with PeftModel.from_pretrained
                                                     and as a vLLM LoRARequest path as is
    tokenizer.json, tokenizer_config.json, chat_template.jinja
    config.yaml          resolved run config (secret-looking values redacted)
    manifest.json        step, time, rubric_hash, data_hash, metrics, file sizes, ...
    state/<name>.pt      arbitrary extra state: optimizer, scheduler, RNG, data position
    (HF Trainer files: optimizer.pt, scheduler.pt, rng_state.pth, trainer_state.json)
    COMPLETE             written last

Everything is written into a staging dir first and renamed into place, so a crash never
leaves a half-written `step-*` dir; a `step-*` dir without COMPLETE (e.g. an interrupted
copy) is refused with a clear error, and `resume: auto` skips it for the newest complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sft.errors import UserInputError

COMPLETE = "COMPLETE"
MANIFEST = "manifest.json"
PREFIX = "step-"
STAGING = ".staging"
_STEP_RE = re.compile(r"^step-(\d+)$")


class CheckpointError(UserInputError):
    """A checkpoint that cannot be used (missing, incomplete); the message says why."""


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{int(step):08d}"


def step_of(path: str | Path) -> int | None:
    m = _STEP_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def is_complete(path: str | Path) -> bool:
    path = Path(path)
    return (path / COMPLETE).is_file() and (path / MANIFEST).is_file()


def require_complete(path: str | Path) -> Path:
    """`path` if it is a complete checkpoint, else a CheckpointError saying what is wrong."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if not is_complete(path):
        others = [p.name for p in list_checkpoints(path.parent)]
        raise CheckpointError(
            f"checkpoint {str(path)!r} is incomplete (no {COMPLETE} marker or {MANIFEST}): it "
            "was interrupted while being written or copied. Delete it, or use a complete one"
            + (f" ({', '.join(others)} in {path.parent})" if others else "") + ".")
    return path


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete `step-*` checkpoints under `root`, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if step_of(p) is not None and is_complete(p)]
    return sorted(found, key=lambda p: step_of(p) or 0)


def latest_checkpoint(root: str | Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def resolve_resume(resume: Any, root: str | Path) -> Path | None:
    """The checkpoint to resume from for `resume` = null/never | auto | a path."""
    if resume in (None, False, "", "never", "none", "null", "false"):
        return None
    if resume == "auto":
        return latest_checkpoint(root)
    return require_complete(resume)


def staging_dir(root: str | Path, name: str | None = None) -> Path:
    """A fresh dir under `<root>/.staging` to write a checkpoint into before `finalize`.

    `name` makes it deterministic (several ranks writing shards of one checkpoint); a stale
    dir of that name from a crashed run is removed first.
    """
    base = Path(root) / STAGING
    base.mkdir(parents=True, exist_ok=True)
    if name is None:
        return Path(tempfile.mkdtemp(prefix="ckpt-", dir=base))
    path = base / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def clean_staging(root: str | Path) -> None:
    """Drop leftovers of interrupted saves (call from the only writer, before training)."""
    shutil.rmtree(Path(root) / STAGING, ignore_errors=True)


def finalize_checkpoint(staged: str | Path, root: str | Path, step: int, *,
                        config: Any = None, manifest: dict[str, Any] | None = None,
                        keep_last: int | None = None) -> Path:
    """Add config.yaml, manifest.json and COMPLETE to `staged`, rename it to `<root>/step-N`.

    An existing complete `step-N` (a re-run) is replaced; at most `keep_last` complete
    checkpoints are kept (oldest dropped first).
    """
    staged, root = Path(staged), Path(root)
    if config is not None:
        _write_config(staged / "config.yaml", config)
    files = {str(p.relative_to(staged)): p.stat().st_size
             for p in sorted(staged.rglob("*")) if p.is_file()}
    body = {"step": int(step), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(manifest or {}), "files": files}
    (staged / MANIFEST).write_text(json.dumps(body, indent=2, default=str) + "\n")
    (staged / COMPLETE).write_text("ok\n")
    target = root / checkpoint_name(step)
    old = None
    if target.exists():
        old = root / STAGING / f"old-{target.name}-{os.getpid()}"
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    prune(root, keep_last)
    return target


def prune(root: str | Path, keep_last: int | None) -> None:
    """Keep the newest `keep_last` complete checkpoints (None/0: all). Also run at start-up:
    a crash between a checkpoint's rename and this clean-up leaves keep_last + 1."""
    if keep_last:
        for stale in list_checkpoints(root)[:-int(keep_last)]:
            shutil.rmtree(stale, ignore_errors=True)


def _write_config(path: Path, config: Any) -> None:
    from omegaconf import OmegaConf

    from sft.tracking import config_dict, redact

    OmegaConf.save(OmegaConf.create(redact(config_dict(config))), path)


def save_checkpoint(root: str | Path, step: int, *, model: Any = None, tokenizer: Any = None,
                    config: Any = None, manifest: dict[str, Any] | None = None,
                    state: dict[str, Any] | None = None, keep_last: int | None = None) -> Path:
    """Write a checkpoint atomically from rank 0; returns its path.

    model: a PEFT model (adapter only) or a plain HF model (full weights); `state`: name ->
    any torch-saveable object (optimizer/scheduler state_dict, `rng_state()`, data position).
    """
    import torch

    staged = staging_dir(root)
    try:
        if model is not None:
            model.save_pretrained(staged)
        if tokenizer is not None:
            tokenizer.save_pretrained(staged)
        if state:
            (staged / "state").mkdir()
            for name, obj in state.items():
                torch.save(obj, staged / "state" / f"{name}.pt")
        return finalize_checkpoint(staged, root, step, config=config, manifest=manifest,
                                   keep_last=keep_last)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def read_manifest(path: str | Path) -> dict[str, Any]:
    return json.loads((require_complete(path) / MANIFEST).read_text())


def update_manifest(path: str | Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Merge `extra` into a complete checkpoint's manifest (dict values merged one level
    deep), e.g. eval metrics computed after the save; atomic via temp file + rename."""
    path = require_complete(path)
    manifest = json.loads((path / MANIFEST).read_text())
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    tmp = path / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    os.replace(tmp, path / MANIFEST)
    return manifest


def load_state(path: str | Path, name: str) -> Any:
    """Extra state `name` saved by `save_checkpoint(state=...)`.

    weights_only=False: RNG states hold numpy arrays; these files are our own output.
    """
    import torch

    file = require_complete(path) / "state" / f"{name}.pt"
    if not file.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} has no state {name!r}")
    return torch.load(file, map_location="cpu", weights_only=False)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states, for `set_rng_state`."""
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def hash_json(obj: Any) -> str:
    """sha256 (first 16 hex digits) of canonical JSON: the data hash of a list of rows."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
