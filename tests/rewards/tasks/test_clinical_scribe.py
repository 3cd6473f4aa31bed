"""clinical_scribe: deterministic disjoint generator with long noisy transcripts, gold notes
score 5/5, each corruption kind (reordered sections, dropped complaint / plan item / allergy,
invented medication, wrong dose, allergen prescribed, changed vital, filler, speaker labels,
pasted transcript, one-line note) scores strictly lower, markdown/whitespace reformatting is free, and the ACI-Bench and
MTS-Dialog adapters yield samples the rubric can score."""

from __future__ import annotations

import copy
import json
import re
import statistics

import pytest

from rewards import Harness
from rewards.sample import Sample
from rewards.tasks import get_task
from rewards.tasks.base import content_key
from rewards.tasks.checks_scribe import (
    DEFAULT_SECTIONS,
    find_med_doses,
    number_to_words,
    sections_in_order,
    spoken_numbers,
    template_present,
)

TASK = get_task("clinical_scribe")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    return TASK.generate("train", 40, seed=5)


def _score(harness, samples, completions):
    batch = []
    for s, c in zip(samples, completions, strict=True):
        s = copy.deepcopy(s)
        s.completion = c
        batch.append(s)
    return [r.score for r in harness.score_batch(batch)]


def test_splits_disjoint_and_realistic():
    # disjointness is structural (content-hash partition in Task.generate); 200/20 instead of
    # the default 500/50 keeps this test at ~3 s (eval keeps 1 draw in 10, ~11 ms a draw)
    train, ev = TASK.generate("train", 200, 0), TASK.generate("eval", 20, 0)
    keys = {content_key(s) for s in train}
    assert len(keys) == 200 and not keys & {content_key(s) for s in ev}
    words = {d: [s.meta["n_words"] for s in train if s.meta["difficulty"] == d]
             for d in ("easy", "medium", "hard")}
    assert 250 <= statistics.median(words["easy"]) < statistics.median(words["hard"])
    assert statistics.median(words["hard"]) >= 600
    assert len({c[0] for s in train for c in s.meta["complaints"]}) >= 14
    # ASR noise: fillers, stutters and several speaker-label styles across the set
    text = "\n".join(s.source for s in train)
    assert re.search(r"\b(um|uh)\b", text) and re.search(r"\b(\w+)- \1\b", text)
    styles = {ln.split(" ")[0] for ln in text.split("\n")}
    assert {"[doctor]", "[patient]", "Doctor:", "DR:", "PT:", "Speaker", "D:"} <= styles


def test_gold_scores_top(harness):
    samples = TASK.generate("train", 120, 7)
    scores = _score(harness, samples, [s.reference for s in samples])
    assert None not in scores
    assert statistics.mean(scores) >= 0.9 * TASK.scale[1]


def test_spoken_numbers_and_doses():
    assert spoken_numbers("a hundred and twenty over eighty, fifty-two-year-old, "
                          "two point five mg, one thousand five hundred") == [
        "120", "80", "52", "2.5", "1500"]
    assert number_to_words(145) == "one hundred forty-five"
    assert find_med_doses("- Lisinopril 20 mg daily and metformin 500 mg\nAspirin") == [
        ("lisinopril", "20"), ("metformin", "500"), ("aspirin", None)]


def _sections(note: str) -> list[tuple[str, str]]:
    blocks = note.split("\n\n")
    out, cur = [], None
    for b in blocks:
        head = b.split("\n", 1)[0]
        if head in DEFAULT_SECTIONS:
            cur = [head, b.split("\n", 1)[1] if "\n" in b else ""]
            out.append(cur)
        else:
            cur[1] += "\n\n" + b
    return [tuple(x) for x in out]


def _join(sections) -> str:
    return "\n\n".join(f"{h}\n{body}" for h, body in sections)


def _reorder(s):
    secs = _sections(s.reference)
    secs[5], secs[6] = secs[6], secs[5]
    return _join(secs)


def _remove_all(text, alts):
    for a in sorted(alts, key=len, reverse=True):
        text = re.sub(re.escape(a), "", text, flags=re.I)
    return text


def _drop_complaint(s):
    return _remove_all(s.reference, s.meta["complaints"][0])


def _drop_plan_item(s):
    alts = s.meta["plan_items"][0]
    return "\n".join(ln for ln in s.reference.split("\n")
                     if not any(a.lower() in ln.lower() for a in alts))


def _drop_allergy(s):
    secs = [(h, "Not discussed." if h == "ALLERGIES" else b) for h, b in _sections(s.reference)]
    return _join(secs)


def _invent_medication(s):
    return s.reference.replace("\n\nALLERGIES", "\n- Warfarin 5 mg once daily\n\nALLERGIES")


def _wrong_dose(s):
    m = re.search(r"^- (\w+) (\d+(?:\.\d+)?) (mg|mcg)", s.reference, re.M)
    if not m:
        return None
    return s.reference.replace(m.group(0), f"- {m.group(1)} {float(m.group(2)) * 10:g} "
                                           f"{m.group(3)}", 1)


def _prescribe_allergen(s):
    allergies = " ".join(a[0] for a in s.meta["allergies"])
    if not re.search(r"penicillin|amoxicillin", allergies):
        return None
    return s.reference.replace("\nPLAN\n", "\nPLAN\n- Start amoxicillin 500 mg twice daily.\n")


def _change_vital(s):
    m = re.search(r"BP (\d+)/", s.reference)
    return s.reference.replace(m.group(0), f"BP {int(m.group(1)) + 13}/", 1)


def _filler(s):
    return s.reference.replace("\nHISTORY OF PRESENT ILLNESS\n",
                               "\nHISTORY OF PRESENT ILLNESS\nUm, so, you know, ")


def _speaker_labels(s):
    return "Doctor: " + s.reference.replace("\n\n", "\n\nDoctor: ")


def _paste_transcript(s):
    return s.source


def _one_line(s):
    return "CHIEF COMPLAINT\n" + s.reference.split("\n")[1]


CORRUPTIONS = {
    "reorder_sections": _reorder, "drop_complaint": _drop_complaint,
    "drop_plan_item": _drop_plan_item, "drop_allergy": _drop_allergy,
    "invent_medication_dose": _invent_medication, "wrong_dose": _wrong_dose,
    "prescribe_allergen": _prescribe_allergen, "change_vital": _change_vital,
    "conversational_filler": _filler, "speaker_labels": _speaker_labels,
    "paste_transcript": _paste_transcript, "one_line_note": _one_line,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_scores_strictly_lower(harness, pool, kind):
    pairs = [(s, CORRUPTIONS[kind](s)) for s in pool]
    pairs = [(s, c) for s, c in pairs if c is not None and c != s.reference]
    assert len(pairs) >= 5, f"{kind} applies to too few samples"
    samples = [s for s, _ in pairs]
    gold = _score(harness, samples, [s.reference for s in samples])
    bad = _score(harness, samples, [c for _, c in pairs])
    for g, b, s in zip(gold, bad, samples, strict=True):
        assert b < g, f"{kind} not penalised on {s.id}: {g} -> {b}"


def _facts_listed(s):
    """Every fact the span checks ask for, all spellings, in one line (>= 40 words, so the
    substance gate lets it through)."""
    keys = ("complaints", "findings", "plan_items", "medication_names", "allergies")
    facts = [x for k in keys for a in s.meta[k] for x in (a if isinstance(a, list) else [a])]
    return "Key points: " + ", ".join(facts) + "."


FORMAT_HACKS = {
    "chat_wrapper": lambda s: f"Sure! Here is the note.\n\n{s.reference}\n\nI hope this helps.",
    "repeated": lambda s: "\n\n".join([s.reference] * 4),
    "facts_listed": _facts_listed,
}


@pytest.mark.parametrize("kind", list(FORMAT_HACKS))
def test_format_hacks_score_zero(harness, pool, kind):
    """Hacks that keep every fact: they passed the span checks and scored 85-88% of the
    scale (rewards.probe) while their checks were pitfalls; now global gates."""
    assert _score(harness, pool, [FORMAT_HACKS[kind](s) for s in pool]) == [0.0] * len(pool)


def test_template_gate_needs_half_the_headings_and_abstains_without_any(pool):
    s = copy.deepcopy(pool[0])
    s.completion = "\n".join(f"{h}\ntext" for h in DEFAULT_SECTIONS[:4])
    assert template_present(s)["status"] == "pass"
    s.completion = "\n".join(f"{h}\ntext" for h in DEFAULT_SECTIONS[:3])
    assert template_present(s)["status"] == "fail"
    s.meta = dict(s.meta, sections=[])
    assert template_present(s)["status"] == "abstain"


def _markdown(note: str) -> str:
    for h in DEFAULT_SECTIONS:
        note = note.replace(f"{h}\n", f"## {h.title()}\n\n", 1)
    return note.replace("\n- ", "\n*  ") + "\n\n"


def test_equivalent_reformatting_is_free(harness, pool):
    gold = _score(harness, pool, [s.reference for s in pool])
    same = _score(harness, pool, [_markdown(s.reference) for s in pool])
    assert same == pytest.approx(gold)


def test_sections_check_reads_headings_with_colons_and_markdown(pool):
    s = copy.deepcopy(pool[0])
    s.completion = "\n".join(f"**{h.title()}:** text" for h in DEFAULT_SECTIONS)
    assert sections_in_order(s)["status"] == "pass"
    s.completion = "\n".join(f"{h}: text" for h in reversed(DEFAULT_SECTIONS))
    out = sections_in_order(s)
    assert out["status"] == "fail" and out["value"] == pytest.approx(0.5)
    s.completion = "\n".join(f"{h}: text" for h in DEFAULT_SECTIONS[1:])
    out = sections_in_order(s)
    assert out["status"] == "fail" and out["value"] == pytest.approx(6 / 7)


def _valid(examples, prefix):
    assert examples and all(e["id"].startswith(prefix) for e in examples)
    samples = [TASK.to_sample(e, e["id"], "eval") for e in examples]
    for s in samples:
        Sample.from_dict(json.loads(json.dumps(s.to_dict())))
        assert s.source and isinstance(s.reference, str) and s.meta["transcript_numbers"] is not None
    return samples


def test_aci_bench_adapter(harness, real_data_dir):
    samples = _valid(TASK.adapters["aci-bench"](real_data_dir / "aci-bench"), "aci-")
    assert len(samples) == 87
    assert sum("CHIEF COMPLAINT" in s.meta["sections"] for s in samples) >= 60
    assert all(len(s.meta["sections"]) >= 3 for s in samples)
    # a real note graded against its own headings: scorable, high, but not free of
    # transcript-grounding misses (real notes add dates and facts from the chart)
    scores = _score(harness, samples, [s.reference for s in samples])
    assert all(x is not None for x in scores)
    assert statistics.mean(scores) >= 3.5
    # the transcript pasted as the note scores far lower
    pasted = _score(harness, samples, [s.source for s in samples])
    assert statistics.mean(pasted) < statistics.mean(scores) - 1


def test_mts_dialog_adapter(harness, real_data_dir):
    samples = _valid(TASK.adapters["mts-dialog"](real_data_dir / "mts-dialog"), "mts-")
    assert len(samples) == 1301
    assert all(s.meta["sections"] == [] for s in samples)
    assert "section" in samples[0].prompt[1]["content"]
    sub = samples[:200]
    scores = _score(harness, sub, [s.reference for s in sub])
    assert sum(x is not None for x in scores) >= 0.95 * len(sub)
