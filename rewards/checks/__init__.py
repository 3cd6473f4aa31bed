"""Check kinds by name. Each kind is a small class with one async `evaluate`."""

from __future__ import annotations

from rewards.checks.base import Check
from rewards.checks.judge import Judge
from rewards.checks.python_check import PythonCheck
from rewards.checks.semantic import SemanticSimilarity
from rewards.checks.structured import FieldMatch, JsonSchema, JsonValid, LabelMatch
from rewards.checks.text import (
    Length,
    NoRepetition,
    NumbersGrounded,
    Prose,
    Readability,
    Regex,
    SpansPreserved,
)

KINDS: dict[str, type[Check]] = {c.kind: c for c in (
    JsonValid, JsonSchema, FieldMatch, LabelMatch, Regex, Length, NumbersGrounded,
    SpansPreserved, NoRepetition, Readability, Prose, SemanticSimilarity, Judge, PythonCheck)}

__all__ = ["KINDS", "Check"]
