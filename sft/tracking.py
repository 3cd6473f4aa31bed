"""Experiment tracking shared by every stage: W&B (offline without an API key) + metrics.jsonl.

    tracker = init_tracker(cfg, run_dir, stage="sft")
    tracker.log({"loss/train": 1.2, "perf/tokens_per_s": 830.0}, step=10)
    tracker.log_table("eval/samples", ["id", "completion", "score"], rows)
    tracker.summary({"eval/score": 0.84})
    tracker.finish()

`logger.mode=auto` (conf/logger/wandb.yaml) runs W&B online when an API key is configured
(WANDB_API_KEY or a ~/.netrc entry for the W&B host) and offline otherwise; offline runs
land in `<run_dir>/wandb/offline-run-*` and upload later with `wandb sync <that dir>`.
`logger=none` turns W&B off; metrics.jsonl (one JSON object per `log` call) and
`tables/<name>.jsonl` are written either way. Only rank 0 tracks; other ranks get a no-op.
The logged config is resolved and redacted: keys named like key/token/secret/password and
values shaped like API keys become "<redacted>".
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import re
import secrets
import string
import struct
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sft import dist

REDACTED = "<redacted>"
# whole key segments: `api_key`, `hf_token`, `db-password` match; `max_new_tokens`, `tokenizer`,
# `keep_last` do not
_SECRET_KEY = re.compile(
    r"(^|[_\-.])(key|apikey|token|secret|password|passwd|credentials?)($|[_\-.])", re.I)
_SECRET_VALUE = re.compile(
    r"^(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{16}|(local-)?[0-9a-f]{40})$")
# a W&B key is 40 hex digits, like a git commit: leave those alone under these key names
_HEX_OK_KEY = re.compile(r"(revision|commit|sha|hash)", re.I)

log = logging.getLogger("sft.tracking")


def is_secret_key(key: str) -> bool:
    # camelCase to snake_case first: apiKey -> api_key, hfToken -> hf_token
    return bool(_SECRET_KEY.search(re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()))


def redact(obj: Any, key: str = "") -> Any:
    """A copy of a nested dict/list with secret-looking keys and values replaced."""
    if isinstance(obj, dict):
        # numbers under such keys (token_budget: 512) are not secrets; strings are
        return {k: (REDACTED if is_secret_key(str(k)) and isinstance(v, str) and v
                    else redact(v, str(k))) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact(v, key) for v in obj]
    if isinstance(obj, str) and _SECRET_VALUE.match(obj.strip()):
        if re.fullmatch(r"[0-9a-f]{40}", obj.strip()) and _HEX_OK_KEY.search(key):
            return obj
        return REDACTED
    return obj


def config_dict(cfg: Any) -> dict[str, Any]:
    """Resolved plain dict of an OmegaConf config (unresolvable nodes left as written)."""
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        return dict(cfg or {})
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception:  # e.g. ${hydra:...} outside a Hydra run
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host or "api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode(logger_cfg: Any) -> str:
    """online | offline | disabled for a conf/logger node."""
    if logger_cfg is None or logger_cfg.get("name", "wandb") in ("none", None):
        return "disabled"
    mode = str(logger_cfg.get("mode") or "auto")
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE")
    if env in ("online", "offline", "disabled"):
        return env
    return "online" if has_wandb_key() else "offline"


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    return v if isinstance(v, str | int | float | bool | type(None)) else str(v)


class Tracker:
    """W&B run (or none) plus local JSONL files under the run dir; a no-op off rank 0."""

    def __init__(self, run_dir: Path | None, wandb_run: Any = None):
        self.run_dir = run_dir
        self.wandb_run = wandb_run
        self._summary: dict[str, Any] = {}
        # W&B drops a row whose step is below its counter, and a log without a step advances
        # that counter: calls without a step reuse the last step given, so both kinds mix
        self.step = 0

    def _step(self, step: int | None) -> int:
        if step is not None:
            self.step = max(self.step, int(step))
        return self.step if step is None else int(step)

    @property
    def active(self) -> bool:
        return self.run_dir is not None

    def alert(self, title: str, text: str) -> None:
        """A loud event: alerts.jsonl in the run dir, and a W&B alert (online runs)."""
        if not self.active:
            return
        self._append("alerts.jsonl", {"step": self.step, "title": title, "text": text})
        if self.wandb_run is not None:
            try:
                self.wandb_run.alert(title=title, text=text)
            except Exception as e:  # offline runs cannot alert; the JSONL row stays
                log.debug("W&B alert not sent: %s", e)

    def rewind(self, step: int) -> int:
        """Drop the metrics.jsonl rows of steps after `step` (a run killed after its last
        checkpoint logged steps the resumed run replays: each step keeps one row). Atomic;
        returns the rows dropped."""
        path = self.run_dir / "metrics.jsonl" if self.active else None
        if path is None or not path.exists():
            return 0
        rows = path.read_text(encoding="utf-8").splitlines()
        keep = [r for r in rows if r.strip() and (json.loads(r).get("step") or 0) <= step]
        if len(keep) == len(rows):
            return 0
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(r + "\n" for r in keep), encoding="utf-8")
        os.replace(tmp, path)
        self.step = min(self.step, step)
        return len(rows) - len(keep)

    def _append(self, rel: str, row: dict[str, Any]) -> None:
        path = self.run_dir / rel  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not self.active or not metrics:
            return
        clean = {k: _jsonable(v) for k, v in metrics.items()}
        step = self._step(step)
        self._append("metrics.jsonl", {"step": step, "time": round(time.time(), 3), **clean})
        if self.wandb_run is not None:
            self.wandb_run.log(clean, step=step)

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]],
                  step: int | None = None) -> None:
        if not self.active:
            return
        step = self._step(step)
        for row in rows:
            self._append(f"tables/{name.replace('/', '_')}.jsonl",
                         {c: _jsonable(v) for c, v in zip(columns, row, strict=True)})
        if self.wandb_run is not None:
            import wandb

            table = wandb.Table(columns=list(columns),
                                data=[[_jsonable(v) for v in r] for r in rows])
            self.wandb_run.log({name: table}, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        if not self.active:
            return
        self._summary.update({k: _jsonable(v) for k, v in values.items()})
        (self.run_dir / "summary.json").write_text(  # type: ignore[operator]
            json.dumps(self._summary, indent=2, ensure_ascii=False) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.summary.update(values)

    def finish(self, exit_code: int = 0) -> None:
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.finish(exit_code=exit_code)
            self.wandb_run = None
            # finish() returns before the wandb-core service has flushed the run's .wandb log
            # (measured: 7 bytes on disk right after, complete ~0.2 s later); teardown waits
            wandb.teardown()


def init_tracker(cfg: Any, run_dir: str | Path, *, stage: str | None = None,
                 resume: bool = False) -> Tracker:
    """A Tracker for the composed config `cfg` (reads cfg.logger, cfg.run_name).

    Group: logger.group, else the stage; tags: logger.tags plus stage, task and model names.
    `resume=True` continues the W&B run this run dir used before (Slurm requeue).
    """
    if not dist.is_main():
        return Tracker(None)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    logger_cfg = cfg.get("logger")
    mode = wandb_mode(logger_cfg)
    if mode == "disabled":
        return Tracker(run_dir)
    import wandb

    stage = stage or cfg.get("stage")
    tags = [str(t) for t in (logger_cfg.get("tags") or [])]
    for extra in (stage, cfg.get("task", {}).get("name"), cfg.get("model", {}).get("name")):
        if extra and str(extra) not in tags:
            tags.append(str(extra))
    id_file = run_dir / "wandb_id.txt"
    run_id = (id_file.read_text().strip() if resume and id_file.exists()
              else "".join(secrets.choice(string.ascii_lowercase + string.digits)
                           for _ in range(8)))
    id_file.write_text(run_id + "\n")
    run = wandb.init(project=logger_cfg.get("project") or "harnessrl",
                     entity=logger_cfg.get("entity"), name=cfg.get("run_name"),
                     group=logger_cfg.get("group") or stage, tags=tags, id=run_id,
                     resume="allow" if resume else None, dir=str(run_dir), mode=mode,
                     config=redact(config_dict(cfg)))
    return Tracker(run_dir, run)


def offline_run_files(run_dir: str | Path) -> list[Path]:
    """The .wandb record files of the offline runs under `run_dir`, oldest first."""
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))


def read_wandb_records(path: str | Path):
    """Yield the protobuf Records of a .wandb file.

    wandb 0.31 ships no Python reader (its writer is the Go core); the file is a LevelDB-style
    log: a 7-byte header (":W&B", magic 0xBEE1, version), then 32 KiB blocks of chunks, each
    with a 7-byte header (crc32c, little-endian length, type FULL=1/FIRST=2/MIDDLE=3/LAST=4).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B transaction log")
    block, header, pos, buf = 32768, 7, 7, b""
    while pos + header <= len(data):
        left = block - pos % block
        if left < header:  # trailer too short for a chunk header: zero padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + header])
        chunk = data[pos + header:pos + header + length]
        pos += header + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf + chunk if kind == 4 else chunk)
            buf = b""
            yield record
        elif kind in (2, 3):
            buf = chunk if kind == 2 else buf + chunk


def read_offline_run(run_dir: str | Path) -> dict[str, Any]:
    """Name, group, tags, config, history rows and summary of the newest offline run."""
    files = offline_run_files(run_dir)
    if not files:
        raise FileNotFoundError(f"no offline W&B run under {run_dir}/wandb")
    out: dict[str, Any] = {"config": {}, "history": [], "summary": {}}

    def items(updates) -> dict[str, Any]:
        return {(u.key or "/".join(u.nested_key)): json.loads(u.value_json) for u in updates}

    for rec in read_wandb_records(files[-1]):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out.update(name=rec.run.display_name, group=rec.run.run_group,
                       tags=list(rec.run.tags), id=rec.run.run_id)
            out["config"].update(items(rec.run.config.update))
        elif kind == "config":
            out["config"].update(items(rec.config.update))
        elif kind == "history":
            out["history"].append(items(rec.history.item))
        elif kind == "summary":
            out["summary"].update({k: v for k, v in items(rec.summary.update).items() if k})
    out["config"].pop("_wandb", None)
    return out
