"""patch_peft_model on a tiny random Qwen3 with PEFT LoRA r=16 on all linear layers: the
patched model gives the unpatched model's logits and adapter gradients (fp32, kernels in the
interpreter on CPU), and layers it cannot take keep PEFT's forward with the reason recorded.

fp32 tolerance 1e-5 of the largest magnitude: the fused path sums the same fp32 products in a
different order over K <= 96 (error <= K·2^-24 ≈ 6e-6 relative); measured ≈ 2e-6.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch

pytest.importorskip("triton")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from sft.lora import patch as lora_patch  # noqa: E402
from sft.lora import patch_peft_model  # noqa: E402
from sft.lora.function import kernels_available  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if not kernels_available(DEVICE):
    pytest.skip("Triton kernels need CUDA or TRITON_INTERPRET=1", allow_module_level=True)

N_LINEAR = 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)
TOL = 1e-5


def tiny_peft_model(**lora_kwargs):
    torch.manual_seed(0)
    cfg = transformers.Qwen3Config(vocab_size=97, hidden_size=64, intermediate_size=96,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, head_dim=16, max_position_embeddings=64)
    base = transformers.Qwen3ForCausalLM(cfg).to(DEVICE)
    # init_lora_weights=False: random B, so the adapter changes the logits and dA != 0
    lora = dict(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False,
                lora_dropout=0.0) | lora_kwargs
    return peft.get_peft_model(base, peft.LoraConfig(**lora))


def loss_and_grads(model, ids):
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    return out.logits.detach(), grads


def assert_close_scaled(got, want, what):
    err, scale = (got - want).abs().max().item(), want.abs().max().item()
    assert err <= TOL * scale, f"{what}: {err:.2e} > {TOL} x {scale:.2e}"


@pytest.fixture
def ids():
    return torch.randint(0, 97, (2, 9), generator=torch.Generator().manual_seed(1)).to(DEVICE)


@pytest.fixture(autouse=True)
def fresh_log_once(monkeypatch):
    monkeypatch.setattr(lora_patch, "_LOGGED", set())


def test_patched_matches_unpatched(ids):
    model = tiny_peft_model()
    plain = copy.deepcopy(model)
    assert patch_peft_model(model, "fused") == {"patched": N_LINEAR, "fallback": {}}
    q_proj = model.base_model.model.model.layers[0].self_attn.q_proj
    assert type(q_proj) is lora_patch.FusedLoraLinear
    logits, grads = loss_and_grads(model, ids)
    assert not lora_patch._LOGGED  # no layer fell back at run time
    want_logits, want_grads = loss_and_grads(plain, ids)
    assert_close_scaled(logits, want_logits, "logits")
    assert set(grads) == set(want_grads) and len(grads) == 2 * N_LINEAR
    for name, g in grads.items():
        assert_close_scaled(g, want_grads[name], name)
    # patching twice is harmless
    assert patch_peft_model(model, "fused") == {"patched": N_LINEAR, "fallback": {}}


def test_dropout_in_training_is_reproducible(ids):
    model = tiny_peft_model(lora_dropout=0.1)
    patch_peft_model(model)
    model.train()
    torch.manual_seed(5)
    first, _ = loss_and_grads(model, ids)
    torch.manual_seed(5)
    second, grads = loss_and_grads(model, ids)
    assert not lora_patch._LOGGED
    assert torch.equal(first, second)
    assert all(torch.isfinite(g).all() for g in grads.values())
    model.eval()
    assert not torch.equal(first, loss_and_grads(model, ids)[0])


@pytest.mark.parametrize(("lora_kwargs", "reason"), [
    ({"use_dora": True}, "LoRA variant DoraLinearVariant (e.g. DoRA)"),
    ({"r": 80, "lora_alpha": 160}, "rank 80 > 64"),
], ids=["dora", "rank80"])
def test_static_fallback_with_reason(ids, lora_kwargs, reason):
    model = tiny_peft_model(**lora_kwargs)
    plain = copy.deepcopy(model)
    assert patch_peft_model(model) == {"patched": 0, "fallback": {reason: N_LINEAR}}
    assert_close_scaled(loss_and_grads(model, ids)[0], loss_and_grads(plain, ids)[0], reason)


def test_two_active_adapters_fall_back(ids):
    model = tiny_peft_model()
    model.add_adapter("second", peft.LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False))
    model.base_model.set_adapter(["default", "second"])
    plain = copy.deepcopy(model)
    assert patch_peft_model(model) == {"patched": 0, "fallback": {"2 active adapters": N_LINEAR}}
    assert_close_scaled(model(input_ids=ids).logits, plain(input_ids=ids).logits, "two adapters")


def test_runtime_fallback_is_logged_once(ids, caplog):
    model = tiny_peft_model()
    plain = copy.deepcopy(model)
    patch_peft_model(model)
    with torch.no_grad(), model.disable_adapter(), caplog.at_level(logging.WARNING):
        got = model(input_ids=ids).logits
        model(input_ids=ids)
    with torch.no_grad(), plain.disable_adapter():
        want = plain(input_ids=ids).logits
    assert torch.equal(got, want)
    hits = [r for r in caplog.records if "adapters disabled" in r.getMessage()]
    assert len(hits) == 1


def test_reference_kernel_leaves_peft_untouched():
    model = tiny_peft_model()
    assert patch_peft_model(model, "reference") == {"patched": 0, "fallback": {}}
    assert not any(isinstance(m, lora_patch.FusedLoraLinear) for m in model.modules())
    with pytest.raises(ValueError, match="lora kernel"):
        patch_peft_model(model, "triton")
