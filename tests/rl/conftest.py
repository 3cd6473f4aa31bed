"""Fixtures of the RL tests: recipe configs composed the way a user composes them.

`grpo_cfg(root, *overrides, rubric=None)` and `ppo_cfg(...)` compose conf/grpo.yaml or
conf/ppo.yaml with `debug=tiny` — tiny-random, the `smoke_brevity` reward, 8 new tokens:
what `python -m rl.grpo debug=tiny` runs — plus the small batch sizes the tests pin, a run
dir under `root` and, with `rubric` (YAML text), that rubric instead of smoke_brevity.
`rl_cfg(recipe, root, ...)` is either by name. `trace(out)` is what two GRPO runs must agree
on, step by step.

Shared by the engine tests: `chat_prompts` (chat and plain prompts), `make_adapter` (a LoRA
that changes greedy outputs), `teacher_forced` (log-probs recomputed by a forward pass),
`trained_policy` (tiny-random + LoRA after one AdamW step, as GRPO leaves a policy),
`vllm_overrides` (rollout=vllm sized for the session's engine) and `openai_stub` (a scripted
OpenAI-compatible HTTP server on 127.0.0.1).
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# what every test run shares: no W&B, no progress bar, resumable, no periodic checkpoints
COMMON = ["debug=tiny", "train.progress=false", "train.resume=auto", "train.save_every=null",
          "train.max_steps=2", "optim.lr=1e-2", "train.batch_size=8"]
SIZES = {"grpo": ["train.micro_batch_size=8"],
         "ppo": ["train.micro_batch_size=4", "critic.lr=1e-2"]}
GRPO_TRACE = ("reward/total", "loss/loss", "kl", "policy/grad_norm")


def compose(name: str, overrides: list[str]):
    """conf/<name>.yaml with Hydra overrides, as the CLI composes it (sft.cli.compose)."""
    from sft.cli import compose as cli_compose

    return cli_compose(name, overrides)


def tiny_cfg(recipe: str, root: Path | None, *overrides: str, rubric: str | None = None):
    """`root` None: the config's own run dir (relative to the working directory)."""
    extra = [] if any(o.startswith("logger=") for o in overrides) else ["logger=none"]
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        extra.append(f"run_dir={root / 'run'}")
    if rubric is not None:
        rubric_file = root / "rubric.yaml"
        if not rubric_file.exists():
            rubric_file.write_text(rubric)
        extra.append(f"reward.rubric={rubric_file}")
    return compose(recipe, COMMON + SIZES[recipe] + extra + list(overrides))


@pytest.fixture(scope="session")
def conf_compose():
    """`compose(name, overrides)`: a primary config of conf/ as the CLI composes it."""
    return compose


@pytest.fixture(scope="session")
def rl_cfg():
    """`rl_cfg(recipe, root, *overrides, rubric=None)`: grpo_cfg or ppo_cfg by name."""
    return tiny_cfg


@pytest.fixture(scope="session")
def grpo_cfg():
    return lambda root, *overrides, rubric=None: tiny_cfg("grpo", root, *overrides,
                                                         rubric=rubric)


@pytest.fixture(scope="session")
def ppo_cfg():
    return lambda root, *overrides, rubric=None: tiny_cfg("ppo", root, *overrides,
                                                         rubric=rubric)


@pytest.fixture(scope="session")
def smoke_rubric() -> str:
    """The text of debug=tiny's reward (rewards/tasks/rubrics/smoke_brevity.yaml), for tests
    that run a variant of it."""
    from rewards.tasks.base import RUBRIC_DIR

    return (RUBRIC_DIR / "smoke_brevity.yaml").read_text()


@pytest.fixture(scope="session")
def trace():
    """Per step (reward, loss, KL, grad norm) of a GRPO run: what must be identical."""
    return lambda out: [tuple(h.get(k, math.nan) for k in GRPO_TRACE) for h in out["history"]]


# ---------------------------------------------------------------------- engines and policies
CHAT_PROMPTS = [
    [{"role": "system", "content": "Answer with one word."},
     {"role": "user", "content": "Which colour is the sky?"}],
    [{"role": "user", "content": "Name a prime number larger than ten, please."}],
    "A plain string prompt is one user turn",
]


@pytest.fixture(scope="session")
def chat_prompts() -> list:
    return CHAT_PROMPTS


@pytest.fixture(scope="session")
def vllm_overrides() -> list[str]:
    """rollout=vllm for runs that pass the session's `vllm_engine` (LoRA rank <= 16)."""
    return ["rollout=vllm", "rollout.max_lora_rank=16", "rollout.max_model_len=1024"]


def _make_adapter(model_dir, out, seed: int):
    """A PEFT LoRA adapter (r=8, all linear layers) with non-zero B, so it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    model = get_peft_model(base, cfg)
    with torch.no_grad():  # PEFT's random init is small: make the adapter matter for greedy
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.mul_(4.0)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def make_adapter():
    """`make_adapter(model_dir, out, seed)` -> out: see _make_adapter."""
    return _make_adapter


def _teacher_forced(model, gen, temperature: float):
    """[T] log-probs of `gen`'s tokens recomputed by one forward pass at `temperature`."""
    import torch

    ids = torch.tensor([gen.prompt_token_ids + gen.token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(gen.prompt_token_ids) - 1:-1].float()
    t = temperature or 1.0
    return torch.log_softmax(logits / t, -1).gather(1, torch.tensor(gen.token_ids)[:, None])[:, 0]


@pytest.fixture(scope="session")
def teacher_forced():
    return _teacher_forced


def _trained_policy(model_dir):
    """tiny-random + an r16 all-linear LoRA (random non-zero B, so greedy output moves off
    the base model's) after one AdamW step, as GRPO leaves a policy: (model, tokenizer)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from sft.model import load_model, load_tokenizer

    cfg = {"name_or_path": str(model_dir), "dtype": "float32"}
    torch.manual_seed(0)
    model = get_peft_model(load_model(cfg), LoraConfig(
        r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False))
    tok = load_tokenizer(cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = tok(["a b c d e f"], return_tensors="pt").input_ids
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    return model.eval(), tok


@pytest.fixture(scope="session")
def trained_policy():
    return _trained_policy


class _OpenAIStub(BaseHTTPRequestHandler):
    """Answers /v1/models; /v1/chat/completions follows `script`, a list of statuses."""

    script: list[int] = []
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"body": body, "auth": self.headers.get("Authorization")})
        status = type(self).script.pop(0) if type(self).script else 200
        if status == 400:
            return self._send(400, {"error": {"message": "logprobs is not supported"}})
        if status != 200:
            return self._send(status, {"error": {"message": "overloaded"}})
        choices = [{"index": k, "message": {"role": "assistant", "content": f"ok{k}"},
                    "finish_reason": "stop"} for k in range(body.get("n", 1))]
        self._send(200, {"id": "x", "object": "chat.completion", "choices": choices})


@pytest.fixture
def openai_stub():
    """A real HTTP server on 127.0.0.1 speaking OpenAI's chat API: yields its handler class,
    whose `url` is the base URL (with /v1), `script` the statuses to answer in turn (then
    200s) and `seen` the requests received ({"body", "auth"})."""
    handler = type("Stub", (_OpenAIStub,), {"script": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler
    server.shutdown()
    server.server_close()
