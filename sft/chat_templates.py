"""Chat templates with an assistant `{% generation %}` block, per model family.

TRL's `assistant_only_loss=True` asks the tokenizer for an assistant-token mask, which
transformers builds from `{% generation %}...{% endgeneration %}` spans; stock templates
(SmolLM2, Qwen3, Gemma 3) have none, so the loss would silently cover prompts too. Each
template here renders exactly what its family's stock template renders for plain-text
system/user/assistant conversations (tests compare the SmolLM2 one against the stock one
byte for byte); tool calls and multimodal content are not supported. The closing turn token
sits inside the block: the model must learn to stop.
"""

from __future__ import annotations

import re
from pathlib import Path

from sft.errors import UserInputError

_SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def _chatml(default_system: str | None) -> str:
    system = (
        "{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\n" + default_system + "<|im_end|>\\n' }}{% endif %}"
        if default_system
        else ""
    )
    return (
        "{% for message in messages %}" + system
        + "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
        "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
        " + '<|im_end|>' + '\\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )


# Qwen3: the assistant turn after the last user message carries a (possibly empty) think
# block, earlier ones do not; `enable_thinking=False` pre-fills an empty one in the prompt.
_QWEN3 = """\
{%- set ns = namespace(last_query_index=-1) %}
{%- for message in messages %}{%- if message.role == 'user' %}{%- set ns.last_query_index = loop.index0 %}{%- endif %}{%- endfor %}
{%- for message in messages %}
{%- set content = message.content if message.content is string else '' %}
{%- if message.role == 'assistant' %}
{%- set reasoning = message.reasoning_content if message.reasoning_content is string else '' %}
{%- if not reasoning and '</think>' in content %}
{%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
{%- set content = content.split('</think>')[-1].lstrip('\\n') %}
{%- endif %}
{{- '<|im_start|>assistant\\n' }}
{%- generation %}
{%- if loop.index0 > ns.last_query_index and (loop.last or reasoning) %}
{{- '<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
{%- else %}
{{- content }}
{%- endif %}
{{- '<|im_end|>' }}
{%- endgeneration %}
{{- '\\n' }}
{%- else %}
{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}
{%- endif %}"""

# Gemma 3: no system role (its text prefixes the first user turn), assistant is "model",
# contents are trimmed, roles must alternate.
_GEMMA3 = """\
{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
{%- set first_user_prefix = messages[0]['content'] | trim + '\\n\\n' %}
{%- set loop_messages = messages[1:] %}
{%- else %}
{%- set first_user_prefix = '' %}
{%- set loop_messages = messages %}
{%- endif %}
{%- for message in loop_messages %}
{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
{%- endif %}
{%- if message['role'] == 'assistant' %}
{{- '<start_of_turn>model\\n' }}
{%- generation %}{{- message['content'] | trim + '<end_of_turn>' }}{%- endgeneration %}
{{- '\\n' }}
{%- else %}
{{- '<start_of_turn>' + message['role'] + '\\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}"""

TEMPLATES = {
    "chatml_smollm": _chatml(_SMOL_SYSTEM),
    "chatml": _chatml(None),
    "qwen3": _QWEN3,
    "gemma3": _GEMMA3,
}


_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_block(template: str | None) -> bool:
    return bool(template and _GENERATION_TAG.search(template))


def detect_family(template: str | None) -> str | None:
    """Which of TEMPLATES matches a stock template, judged by its turn markers."""
    if not template:
        return None
    if "<start_of_turn>" in template:
        return "gemma3"
    if "<|im_start|>" in template:
        if "<think>" in template:
            return "qwen3"
        return "chatml_smollm" if "SmolLM" in template else "chatml"
    return None


def resolve_chat_template(stock: str | None, choice: str) -> str | None:
    """The template to install for `model.chat_template=choice`.

    auto: keep a stock template that already has a generation block, else the family's;
    native: the stock one unchanged; a TEMPLATES key; or a path to a .jinja file.
    """
    if choice == "native":
        return stock
    if choice == "auto":
        if has_generation_block(stock):
            return stock
        family = detect_family(stock)
        if family is None:
            raise UserInputError(
                "model.chat_template=auto: the tokenizer's chat template is not a known family "
                f"({', '.join(TEMPLATES)}); set model.chat_template to one of those or to a "
                ".jinja file with an assistant {% generation %} block")
        return TEMPLATES[family]
    if choice in TEMPLATES:
        return TEMPLATES[choice]
    path = Path(choice).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8")
    raise UserInputError(
        f"model.chat_template={choice!r}: not auto, native, one of {sorted(TEMPLATES)}, "
        "nor an existing .jinja file")
