"""harnessrl rewards: rubric checks → dimension scores → one harness score.

The same `Harness` grades the benchmark and is the RL reward. Importing this package never
imports torch (the semantic check loads it lazily).
"""

from __future__ import annotations

from rewards.engine import Harness
from rewards.rubric import Rubric, RubricError, load_rubric
from rewards.sample import Sample, SampleError, read_jsonl
from rewards.summary import summarize
from rewards.verdict import HarnessResult, Verdict

__all__ = ["Harness", "HarnessResult", "Rubric", "RubricError", "Sample", "SampleError",
           "Verdict", "load_rubric", "read_jsonl", "summarize"]
