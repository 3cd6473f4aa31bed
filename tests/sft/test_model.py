"""Model layer: built-ins (deterministic, cached, race-free), path/hub errors, dtype and
attention choice, LoRA/full setup, and the embedded SmolLM2 (one session-scoped conversion)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from sft.chat_templates import TEMPLATES, has_generation_block
from sft.errors import UserInputError
from sft.model import (
    cache_root,
    count_parameters,
    load_model,
    load_tokenizer,
    materialise,
    resolve_attn,
    resolve_dtype,
    setup_trainable,
    smollm2_tokenizer_dir,
    tiny_random_dir,
)

REPO = Path(__file__).resolve().parents[2]


_RACE = """
import os, sys, time
from pathlib import Path
from sft.model import materialise

def build(out):
    with open(os.environ["BUILD_LOG"], "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(1.0)  # every process arrives while the first one builds
    (out / "payload.txt").write_text("done")

path = materialise("thing", build)
print(path, (path / "payload.txt").read_text())
"""


def test_materialise_builds_once_under_concurrency(tmp_path):
    log = tmp_path / "builds.log"
    env = {**os.environ, "HARNESSRL_CACHE": str(tmp_path), "BUILD_LOG": str(log)}
    procs = [subprocess.Popen([sys.executable, "-c", _RACE], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert len(log.read_text().split()) == 1  # exactly one builder
    assert set(outs) == {f"{tmp_path / 'models' / 'thing'} done"}
    assert not [p for p in (tmp_path / "models").iterdir() if ".tmp-" in p.name]


def test_materialise_replaces_stale_dir_and_cleans_failed_build(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESSRL_CACHE", str(tmp_path))
    stale = cache_root() / "thing"
    stale.mkdir(parents=True)
    (stale / "half.bin").write_text("partial")  # no COMPLETE: a crash before the protocol
    path = materialise("thing", lambda out: (out / "ok.txt").write_text("1"))
    assert (path / "ok.txt").exists() and not (path / "half.bin").exists()

    def broken(out):
        (out / "partial").write_text("x")
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError):
        materialise("other", broken)
    assert not (cache_root() / "other").exists()
    assert not [p for p in cache_root().iterdir() if ".tmp-" in p.name]


def test_tiny_random_is_deterministic_per_seed(tmp_path, monkeypatch, tiny_cfg):
    from safetensors.torch import load_file

    spec = dict(tiny_cfg.tiny)
    tok_dir = smollm2_tokenizer_dir()  # reuse the tokenizer: the weights are under test
    for sub in ("a", "b"):
        shutil.copytree(tok_dir, tmp_path / sub / "models" / tok_dir.name)
    monkeypatch.setenv("HARNESSRL_CACHE", str(tmp_path / "a"))
    a = load_file(tiny_random_dir(spec) / "model.safetensors")
    monkeypatch.setenv("HARNESSRL_CACHE", str(tmp_path / "b"))
    b = load_file(tiny_random_dir(spec) / "model.safetensors")
    c = load_file(tiny_random_dir({**spec, "seed": 1}) / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.layers.0.mlp.up_proj.weight"],
                           c["model.layers.0.mlp.up_proj.weight"])


def test_tiny_random_loads_with_real_tokenizer(tiny):
    model, tok = tiny
    assert model.config.model_type == "qwen3" and model.config.num_hidden_layers == 2
    assert model.config.hidden_size == 64 and model.dtype == torch.float32
    assert len(tok) == model.config.vocab_size == 49152
    assert tok.pad_token == tok.eos_token == "<|im_end|>" and tok.padding_side == "right"
    assert tok.chat_template == TEMPLATES["chatml_smollm"]


def test_missing_path_and_unreachable_hub_are_user_errors(tiny_cfg, monkeypatch):
    with pytest.raises(UserInputError, match="no such directory"):
        load_model(OmegaConf.merge(tiny_cfg, {"name_or_path": "/nonexistent/model"}))
    with pytest.raises(UserInputError, match="no such directory"):
        load_tokenizer(OmegaConf.merge(tiny_cfg, {"name_or_path": "./models/missing"}))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserInputError, match="could not be loaded as a hub id") as e:
        load_model(OmegaConf.merge(tiny_cfg, {"name_or_path": "no-such-org/no-such-model"}))
    assert "smollm2-135m, tiny-random" in str(e.value)
    with pytest.raises(UserInputError, match="chat_template"):
        load_tokenizer(OmegaConf.merge(tiny_cfg, {"chat_template": "nonsense"}))


def test_dtype_and_attention_choice():
    assert resolve_dtype("auto") == (torch.bfloat16 if torch.cuda.is_available()
                                     else torch.float32)
    assert resolve_dtype("bf16") == torch.bfloat16
    with pytest.raises(UserInputError, match="model.dtype"):
        resolve_dtype("int3")
    if not torch.cuda.is_available():
        assert resolve_attn("auto") == "sdpa"
    assert resolve_attn("eager") == "eager"


def test_lora_all_linear_and_full(tiny_cfg):
    lora = OmegaConf.create({"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0,
                             "target_modules": "all-linear", "kernel": "reference"})
    model = setup_trainable(load_model(tiny_cfg), lora)
    c = model.config
    head = c.head_dim
    # per layer: q, k, v, o, gate, up, down; each adds r * (in + out)
    shapes = [(c.hidden_size, c.num_attention_heads * head),
              (c.hidden_size, c.num_key_value_heads * head),
              (c.hidden_size, c.num_key_value_heads * head),
              (c.num_attention_heads * head, c.hidden_size),
              (c.hidden_size, c.intermediate_size), (c.hidden_size, c.intermediate_size),
              (c.intermediate_size, c.hidden_size)]
    expected = c.num_hidden_layers * sum(8 * (i + o) for i, o in shapes)
    trainable, total = count_parameters(model)
    assert trainable == expected
    assert not any("lm_head" in n or "embed" in n
                   for n, p in model.named_parameters() if p.requires_grad)
    subset = setup_trainable(load_model(tiny_cfg),
                             OmegaConf.merge(lora, {"target_modules": ["q_proj", "v_proj"]}))
    assert count_parameters(subset)[0] == c.num_hidden_layers * sum(
        8 * (i + o) for i, o in shapes[0::2][:2])
    full = setup_trainable(load_model(tiny_cfg), OmegaConf.create({"enabled": False}))
    assert count_parameters(full)[0] == count_parameters(full)[1] > trainable
    with pytest.raises(UserInputError, match="lora.kernel"):
        setup_trainable(load_model(tiny_cfg), OmegaConf.merge(lora, {"kernel": "magic"}))


@pytest.fixture(scope="session")
def smollm2():
    """The embedded default, converted once into the user's harnessrl cache (~30-70 s the
    first time, ~1 s after)."""
    cfg = OmegaConf.load(REPO / "conf" / "model" / "smollm2-135m.yaml")
    return load_model(cfg).eval(), load_tokenizer(cfg)


def test_smollm2_embedded_default(smollm2):
    from transformers import AutoTokenizer

    from sft.generate import generate

    model, tok = smollm2
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    assert model.dtype == torch.float32
    stock = AutoTokenizer.from_pretrained(model.name_or_path)
    assert not has_generation_block(stock.chat_template)
    assert has_generation_block(tok.chat_template)
    convs = [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"},
         {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    ]
    for conv in convs:  # our template renders byte-identically to the stock one
        for gen in (False, True):
            assert tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen) == \
                stock.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
    out = generate(model, tok, [[{"role": "user", "content": "What is the capital of France?"}]],
                   temperature=0, max_new_tokens=12)[0][0]
    assert "Paris" in out.text
