"""Chat templates: family detection, exact renderings, and the assistant-token mask that
TRL's assistant_only_loss is built on."""

from __future__ import annotations

import pytest

from sft.chat_templates import (
    TEMPLATES,
    detect_family,
    has_generation_block,
    resolve_chat_template,
)
from sft.errors import UserInputError

CONV = [{"role": "system", "content": "Sys."}, {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"}]


@pytest.fixture(scope="module")
def tok(tiny):
    return tiny[1]


def _render(tok, name, conv, **kw):
    return tok.apply_chat_template(conv, tokenize=False, chat_template=TEMPLATES[name], **kw)


def test_every_template_has_a_generation_block():
    assert all(has_generation_block(t) for t in TEMPLATES.values())
    assert not has_generation_block("{% if add_generation_prompt %}x{% endif %}")


def test_qwen3_rendering(tok):
    assert _render(tok, "qwen3", CONV) == (
        "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n"
        "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nA2<|im_end|>\n")
    prompt = CONV[:4]
    assert _render(tok, "qwen3", prompt, add_generation_prompt=True).endswith(
        "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n")
    assert _render(tok, "qwen3", prompt, add_generation_prompt=True,
                   enable_thinking=False).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    with_reasoning = [*prompt, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nA2"}]
    assert _render(tok, "qwen3", with_reasoning).endswith(
        "<|im_start|>assistant\n<think>\nhmm\n</think>\n\nA2<|im_end|>\n")


def test_gemma3_rendering(tok):
    assert _render(tok, "gemma3", CONV) == (
        f"{tok.bos_token}<start_of_turn>user\nSys.\n\nQ1<end_of_turn>\n"
        "<start_of_turn>model\nA1<end_of_turn>\n<start_of_turn>user\nQ2<end_of_turn>\n"
        "<start_of_turn>model\nA2<end_of_turn>\n")
    assert _render(tok, "gemma3", CONV[1:2], add_generation_prompt=True).endswith(
        "<start_of_turn>user\nQ1<end_of_turn>\n<start_of_turn>model\n")
    with pytest.raises(Exception, match="alternate"):
        _render(tok, "gemma3", [CONV[1], CONV[1]])


@pytest.mark.parametrize("name", ["chatml_smollm", "chatml", "qwen3"])
def test_assistant_mask_covers_replies_and_their_end_token(tok, name):
    out = tok.apply_chat_template(CONV, chat_template=TEMPLATES[name], tokenize=True,
                                  return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    masked = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert masked.replace("<think>\n\n</think>\n\n", "") == "A1<|im_end|>A2<|im_end|>"
    # nothing of the prompt side is in the loss
    assert "Q1" not in masked and "Sys." not in masked and "assistant" not in masked


def test_family_detection_and_resolution():
    assert detect_family("{{ '<|im_start|>' }} SmolLM") == "chatml_smollm"
    assert detect_family("<|im_start|> <think>") == "qwen3"
    assert detect_family("<start_of_turn>") == "gemma3"
    assert detect_family("[INST]") is None
    own = "{% generation %}{{ m }}{% endgeneration %}"
    assert resolve_chat_template(own, "auto") == own  # already masks: kept
    assert resolve_chat_template("<|im_start|>", "auto") == TEMPLATES["chatml"]
    assert resolve_chat_template("[INST]", "native") == "[INST]"
    with pytest.raises(UserInputError, match="not a known family"):
        resolve_chat_template("[INST]", "auto")


def test_template_from_file(tmp_path):
    path = tmp_path / "t.jinja"
    path.write_text("{% generation %}x{% endgeneration %}")
    assert resolve_chat_template(None, str(path)) == path.read_text()
