"""The model layer is imported by every stage and by CLIs that fail fast on bad input:
importing it must not pull in torch, transformers, TRL, PEFT, datasets or wandb (10-20 s)."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["sft", "sft.train", "sft.model", "sft.checkpoint", "sft.tracking", "sft.generate",
           "sft.dist", "sft.data", "sft.chat_templates", "sft.errors"]
HEAVY = ["torch", "transformers", "trl", "peft", "datasets", "wandb", "deepspeed"]


def test_sft_modules_import_light():
    code = (f"import sys\nfor m in {MODULES!r}: __import__(m)\n"
            f"print(','.join(h for h in {HEAVY!r} if h in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
