"""Draft a rubric from gold examples and validate it; or validate an edited one (`--check`).

    outcome = draft(examples, "what the task is")      # deterministic, CPU only
    outcome.proposals, outcome.validation.failures      # checks + why, the bounds that fail

Drafting: detect the output contract (JSON, label, free text) and propose checks from the
references (infer_json, infer_text). Half-split validation: the checks are fitted on one half
of the examples (by a hash of the id, so the split does not depend on file order) and scored
on the held-back half's golds; a check failing more than 1 in 10 held-out golds fits what the
first half happened to show (an enum missing a value, a length bound too tight) and is left
out. The final draft is fitted on all examples minus those checks, then attacked with every
probe (validate.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from rewards.draft.infer_json import propose_json
from rewards.draft.infer_text import is_label_task, propose_labels, propose_text
from rewards.draft.inputs import Example, Label, Negative
from rewards.draft.proposal import Proposal, rubric_dict
from rewards.draft.questions import Dropped
from rewards.draft.validate import WRONG_BELOW, Validation, gold_share, pass_rates, validate
from rewards.normalize import MISSING


@dataclass
class Outcome:
    contract: str
    proposals: list[Proposal]
    validation: Validation
    left_out: list[Proposal] = field(default_factory=list)
    heldout: dict[str, Any] = field(default_factory=dict)
    dropped_questions: list[Dropped] = field(default_factory=list)
    judge_error: str | None = None
    seconds: float = 0.0
    rubric: Any = None  # the loaded rubric of `proposals`
    judge: dict | None = None  # its `judge:` block (endpoint, model, key variable NAME)


def detect_contract(examples: list[Example]) -> str:
    """'json' when every reference is a JSON object/array, 'label' for short one-line answers
    that repeat, else 'text'."""
    if all(e.obj is not MISSING and isinstance(e.obj, dict | list) for e in examples):
        return "json"
    return "label" if is_label_task([e.gold for e in examples]) else "text"


def propose(contract: str, examples: list[Example], encoder=None) -> list[Proposal]:
    if contract == "json":
        return propose_json(examples)
    if contract == "label":
        return propose_labels(examples)
    return propose_text(examples, encoder)


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(fit, held out): alternate halves in the order of sha256(id)."""
    order = sorted(examples, key=lambda e: hashlib.sha256(e.sample.id.encode()).hexdigest())
    return order[0::2], order[1::2]


def default_encoder():
    """Row-wise cosine via the offline MiniLM (None when sentence-transformers or the model is
    missing: the draft then has no similarity check, and says so)."""
    try:
        from rewards.checks.semantic import cosine_similarities, default_model_path

        default_model_path()
    except (ImportError, RuntimeError):
        return None
    return cosine_similarities


def load_proposals(proposals: list[Proposal], judge: dict | None = None):
    from rewards.rubric import load_rubric

    return load_rubric(rubric_dict(proposals, judge))


def judge_block(cfg) -> dict | None:
    """The rubric's `judge:` block for a JudgeConfig: endpoint, model and the key's variable
    name only (JudgeConfig.public never holds a key)."""
    if cfg is None:
        return None
    return {k: v for k, v in cfg.public().items() if v is not None and k != "api"}


def heldout_check(contract: str, fit: list[Example], held: list[Example], encoder
                  ) -> tuple[set[str], dict[str, Any]]:
    """Fit on `fit`, score `held`'s golds: (ids of checks failing > 1 in 10 held-out golds,
    the numbers for the report)."""
    from rewards.engine import Harness

    props = propose(contract, fit, encoder)
    rubric = load_proposals(props)
    res = Harness(rubric).score_batch([e.scored() for e in held])
    rates = pass_rates(res, [p.id for p in props])
    wrong = {cid for cid, r in rates.items() if r is not None and r < WRONG_BELOW}
    kept = [p for p in props if p.id not in wrong]
    after = gold_share(Harness(load_proposals(kept)).score_batch([e.scored() for e in held]),
                       rubric) if kept else None
    return wrong, {"n_fit": len(fit), "n_held": len(held), "rates": rates,
                   "gold_before": gold_share(res, rubric), "gold_after": after,
                   "fit_ids": [p.id for p in props]}


def draft(examples: list[Example], description: str, negatives: list[Negative] | None = None,
          labels: list[Label] | None = None, judge_cfg=None, encoder="default",
          max_hack: float = 0.6) -> Outcome:
    from rewards.draft.questions import propose_questions

    t0 = time.perf_counter()
    encoder = default_encoder() if encoder == "default" else encoder
    contract = detect_contract(examples)
    fit, held = split(examples)
    wrong, held_stats = heldout_check(contract, fit, held, encoder)
    final = propose(contract, examples, encoder)
    left_out = [p for p in final if p.id in wrong]
    for p in left_out:
        r = held_stats["rates"][p.id]
        p.flags.append(f"wrong: fitted on half the examples it passed {r:.0%} of the other "
                       "half's golds (overfit); left out")
    kept = [p for p in final if p.id not in wrong]
    for p in kept:
        if p.id not in held_stats["fit_ids"]:
            p.flags.append("not held-out validated: the fitting half did not propose it")
    questions, dropped, error = [], [], None
    if judge_cfg is not None:
        questions, dropped, error = propose_questions(judge_cfg, description, examples)
    proposals = kept + questions
    judge = judge_block(judge_cfg)
    # validated without the judge: proposed questions are audit checks nobody reviewed yet,
    # and a judge call per probe sample (~700 for 50 examples) buys nothing here
    val = validate(load_proposals(proposals), examples, negatives, labels, max_hack=max_hack)
    # fitted on every example yet failing > 1 in 10 of their golds: wrong, left out too
    wrong_all = [p for p in proposals if not p.audit and val.checks[p.id].gold is not None
                 and val.checks[p.id].gold < WRONG_BELOW]
    if wrong_all:
        for p in wrong_all:
            p.flags.append(f"wrong: passes {val.checks[p.id].gold:.0%} of the golds it was "
                           "fitted on; left out")
        left_out += wrong_all
        proposals = [p for p in proposals if p not in wrong_all]
        val = validate(load_proposals(proposals), examples, negatives, labels,
                       max_hack=max_hack)
    rubric = load_proposals(proposals, judge)
    val.heldout_pct = held_stats["gold_after"]
    for cid, st in val.checks.items():
        st.heldout = held_stats["rates"].get(cid)
    if val.heldout_pct is None or val.heldout_pct < 0.95:
        val.failures.insert(0, "held-out gold scores "
                            f"{'-' if val.heldout_pct is None else format(val.heldout_pct, '.1%')}"
                            " of the scale (needs >= 95%)")
    _attach_flags(proposals, val)
    return Outcome(contract, proposals, val, left_out, held_stats, dropped, error,
                   time.perf_counter() - t0, rubric, judge)


def _attach_flags(proposals: list[Proposal], val: Validation) -> None:
    for p in proposals:
        for f in val.checks[p.id].flags:
            if f not in p.flags:
                p.flags.append(f)


def check(rubric, examples: list[Example], negatives: list[Negative] | None = None,
          labels: list[Label] | None = None, judge: dict | None = None,
          max_hack: float = 0.6) -> Validation:
    """Re-run the validation on a (person-edited) rubric: gold, probes, negatives, labels."""
    return validate(rubric, examples, negatives, labels, judge=judge, max_hack=max_hack)
