"""Rubric workbench: draft a rubric from gold examples, attack it, calibrate it, review it.

`python -m rewards.draft` (see its --help). The pieces:

- inputs.py: gold examples, known-bad completions, expert labels, read strictly;
- infer_json.py / infer_text.py: checks proposed from the references (JSON: validity gate,
  inferred schema, enums, per-field matches, values grounded in the source, filled-fields
  gate; labels: label set and exact label; free text: degenerate-answer gates, similarity,
  grounding, copied spans, length and readability bands), each with a one-line `why`;
- questions.py: judge questions from an OpenAI-compatible endpoint, parsed strictly;
- validate.py: gold, every rewards.probe transform, negatives, kappa against labels;
- workbench.py: drafting with half-split validation, and `check` for an edited rubric;
- proposal.py / review.py: the commented YAML and review.md a person reads.
"""

from rewards.draft.workbench import Outcome, check, draft

__all__ = ["Outcome", "check", "draft"]
