"""clinical_scribe: a doctor-patient transcript (noisy ASR) -> a visit note in a fixed template.

Metric: the 0-5 harness score of `rubrics/clinical_scribe.yaml`, four dimensions built from
binary checks: clinical_soundness_safety (drug doses correct, allergies kept, nothing the
patient is allergic to prescribed), source_fidelity (no number or drug absent from the
transcript), coverage_salience (complaints, findings, plan items, medications), and
template_style_fidelity (headings present and in order, no filler or speaker labels, length).

Generator: a patient (age, sex, chronic conditions with their current medications and doses,
an allergy or none) with 1-3 acute complaints drawn from 16 presentations, each with its own
descriptors, associated symptoms, pertinent negatives, exam findings, diagnosis and plan
(medications chosen around the allergy: a penicillin-allergic sore throat gets azithromycin).
The transcript is composed from several phrasings per conversational step, padded with small
talk to a target length (measured medians with labels and noise: easy ~470 words, medium
~730, hard ~1,000), numbers spoken as words or digits, then ASR noise: homophones and fillers (`text_noise.asr_noise`), dropped
function words, stutters, lower-cased "ACI" style, mislabelled or merged speaker turns. Fact
tokens (drug names, spoken numbers) are protected so the gold note stays grounded.

What the rubric needs travels in meta: complaints, findings, plan_items, medication_names
(lists of alternative spellings), medications ([{name, doses}]: the ground truth for dose
checks), allergies, sections (the template), transcript_numbers (every number the transcript
says, in digits: the numbers_grounded source).

Real adapters: ACI-Bench (`aci-bench/{train,valid}.csv`, full notes) and MTS-Dialog
(`mts-dialog/*.csv`, one section per row). Real notes use their own headings, so the ACI
adapter copies each reference note's headings into meta.sections (and the prompt names them):
the template check then grades against the note's own template. MTS rows ask for a single
section body (meta.sections = [], the template check abstains). Neither has annotated
complaints/findings/plan items: those span checks abstain and coverage rests on
`salient_recall` against the reference; medication checks fall back to the transcript.

Probes (`python -m rewards.probe --task clinical_scribe`, benchmarks/results/probes.md):
chat prose or a code fence around the note scored 5.0/5 (gold) before the `no_chat_wrapper`
pitfall (4.4/5 as a 0.5 pitfall, 0 as the global gate it is now), and a headings-with-TBD
shell up to 3.7/5 before `substantive` stopped counting placeholders. The note repeated to
the length limit (4.2/5) and the facts listed without headings (4.3/5) score 0 since the
`no_padding` and `has_template` gates. Invented names and numbers in otherwise correct prose
kept 2.9/5 and now 2.4/5 (`numbers_mostly_invented`); a judge is still needed for names and
for MTS-Dialog rows (short single-section notes that track no names; a master key such as
"Thought process:" scores up to 3.8/5 where the gold is just "None.").
`judge_no_unsupported_facts` and `judge_covers_key_points` cover these with a judge.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path
from typing import Any

from rewards.tasks.base import Task, TaskError
from rewards.tasks.checks_scribe import (
    DEFAULT_SECTIONS,
    REAL_HEADINGS,
    heading_positions,
    number_to_words,
    numbers_text,
)
from rewards.tasks.clinical_vocab import (
    ALLERGIES,
    CHRONIC,
    COMPLAINTS,
    FEMALE_NAMES,
    MALE_NAMES,
    SMALL_TALK,
    SURNAMES,
    with_units,
)
from rewards.tasks.text_noise import asr_noise, protected_apply

SYSTEM_PROMPT = (
    "You are a clinical scribe. Turn the doctor-patient conversation into a visit note. The "
    "transcript comes from speech recognition and contains errors: misheard words, filler, "
    "and wrong or missing speaker labels; read through them. Write only facts stated in the "
    "conversation: never invent a medication, dose, number, finding or diagnosis. Keep every "
    "complaint, current medication with its dose, allergy, exam finding and plan item. Write "
    "numbers as digits and doses with units (e.g. 20 mg). Use the section headings given, in "
    "that order, each on its own line in capitals; use '-' bullets, not numbered lists. No "
    "conversational filler, no speaker labels, no commentary outside the note."
)
USER_TEMPLATE = "{instructions}\n\nTranscript:\n{transcript}"
MTS_INSTRUCTIONS = (
    "Write only the {section} section of the visit note for this conversation, as the note "
    "text itself (no heading, no other sections).")


def _instructions(sections) -> str:
    return f"Write the visit note for this encounter. Sections, in this order: {', '.join(sections)}."


LENGTHS = {"easy": (300, 450), "medium": (450, 700), "hard": (650, 950)}
_FUNCTION_WORDS = ("the", "a", "to", "of", "is", "and", "that", "it", "you", "i")
_LABELS = (("[doctor]", "[patient]"), ("Doctor:", "Patient:"), ("DR:", "PT:"),
           ("Speaker 1:", "Speaker 2:"), ("D:", "P:"))


def _num(n: float, rng: random.Random, p_digits: float) -> str:
    """A number as ASR writes it: digits or words ("ninety-eight point six")."""
    if rng.random() < p_digits:
        return f"{n:g}"
    if float(n).is_integer():
        return number_to_words(int(n))
    whole, frac = f"{n:g}".split(".")
    return f"{number_to_words(int(whole))} point " + " ".join(
        number_to_words(int(d)) for d in frac)


class _Case:
    """One synthetic encounter: the facts, then the transcript turns and the gold note."""

    def __init__(self, rng: random.Random, difficulty: str):
        self.rng = rng
        self.difficulty = difficulty
        self.sex = rng.choice(("female", "male"))
        first = rng.choice(FEMALE_NAMES if self.sex == "female" else MALE_NAMES)
        self.first, self.last = first, rng.choice(SURNAMES)
        self.age = rng.randint(19, 88)
        self.he = "she" if self.sex == "female" else "he"
        self.p_digits = {"easy": 0.5, "medium": 0.3, "hard": 0.15}[difficulty]
        n_acute = {"easy": 1, "medium": rng.choice((1, 2)), "hard": rng.choice((2, 3))}[difficulty]
        n_chronic = {"easy": rng.choice((0, 1)), "medium": rng.choice((1, 2)),
                     "hard": rng.choice((2, 3))}[difficulty]
        self.acute = rng.sample(COMPLAINTS, n_acute)
        self.chronic = rng.sample(CHRONIC, n_chronic)
        self.allergy = rng.choice(ALLERGIES) if rng.random() < 0.6 else None
        self.turns: list[tuple[int, str, list[str]]] = []  # (speaker 0=doctor 1=patient, text, protect)
        self._pick_facts()

    # --- facts ---------------------------------------------------------------------------
    def _pick_facts(self) -> None:
        rng = self.rng
        self.current = []  # (chronic, med, dose, new_dose or None)
        for cond in self.chronic:
            med = rng.choice(cond["meds"])
            dose = rng.choice(med["doses"])
            bigger = [d for d in med["doses"] if d > dose]
            change = rng.choice(bigger) if bigger and self.difficulty == "hard" and \
                rng.random() < 0.5 else None
            self.current.append((cond, med, dose, change))
        banned = set(self.allergy["classes"]) if self.allergy else set()
        self.problems = []
        for c in self.acute:
            meds = [m for m in c["plan_meds"] if m.get("cls") not in banned][:1]
            variant = rng.choice(c["variants"])
            n = rng.choice(c["durations"][0])
            self.problems.append({
                "c": c, "n": n, "unit": with_units(n, c["durations"][1]),
                "desc": variant[:2], "dx": variant[2],
                "assoc": rng.sample(c["associated"], min(len(c["associated"]),
                                                          1 if self.difficulty == "easy" else 2)),
                "neg": rng.sample(c["negatives"], min(2, len(c["negatives"]))),
                "sev": rng.randint(3, 9) if c.get("pain") else None,
                "exam": rng.choice(c["exam"]), "meds": meds, "tests": c["tests"][:rng.randint(0, len(c["tests"]))],
                "advice": rng.choice(c["advice"]),
            })
        self.vitals = {
            "sys": rng.randint(104, 168), "dia": rng.randint(62, 102), "hr": rng.randint(56, 112),
            "temp": round(rng.uniform(97.6, 101.8), 1) if any(p["c"].get("fever") for p in
                                                               self.problems)
            else round(rng.uniform(97.6, 99.1), 1),
            "spo2": rng.randint(93, 100),
        }
        n, unit = (rng.choice((3, 6)), "month") if rng.random() < 0.3 else (
            rng.choice((1, 2, 3, 4, 6)), "week")
        self.follow_up = (n, with_units(n, unit))

    def n(self, x: float) -> str:
        return _num(x, self.rng, self.p_digits)

    def say(self, who: int, text: str, protect: list[str] | None = None) -> None:
        # a protected span is kept with the punctuation that follows it: asr_noise would
        # otherwise glue an inserted filler onto the span ("eighty-sixum ,")
        keep = [f"{p}{c}" for p in protect or [] if p for c in ("", ",", ".", "?", "!")]
        self.turns.append((who, text, keep))

    # --- transcript ----------------------------------------------------------------------
    def _opening(self) -> None:
        r = self.rng
        doc_greet = r.choice(("hi {f}, how are you doing today?", "good morning {f}, nice to see "
                              "you again.", "hey {f}, come on in, have a seat.",
                              "hello mr. {l}." if self.sex == "male" else "hello ms. {l}."))
        self.say(0, doc_greet.format(f=self.first.lower(), l=self.last))
        self.say(1, r.choice(("i'm okay, thanks. how are you?", "hanging in there.",
                              "not great, honestly.", "good, good, busy week though.")))
        age = self.n(self.age)
        if r.random() < 0.5:
            hist = ", ".join(c["spoken"] for c, *_ in self.current) or "no significant history"
            self.say(0, f"so {self.first.lower()} is a {age}-year-old {self.sex} with a history of "
                        f"{hist} who is here today for {self.acute[0]['spoken']}.",
                     [f"{age}-year-old", *(c["spoken"] for c, *_ in self.current)])
        else:
            self.say(0, r.choice(("before we start, remind me how old you are now?",
                                  "and you're how old now?")))
            self.say(1, f"i'm {age}. {r.choice(('getting up there.', 'believe it or not.', ''))}",
                     [age])

    def _complaint(self, p: dict, first: bool) -> None:
        r, c = self.rng, p["c"]
        ask = r.choice(("so what brings you in today?", "tell me what's been going on.",
                        "what can i help you with today?")) if first else r.choice((
                            "anything else bothering you?", "you mentioned something else too?",
                            "okay. and was there something else?"))
        self.say(0, ask)
        dur = f"{self.n(p['n'])} {p['unit']}"
        opener = r.choice(c["openers"]).format(dur=dur)
        self.say(1, f"{opener} {p['desc'][0]}", [dur, *c["keep"]])
        self.say(0, r.choice(("okay. any other symptoms with it?", "does anything come with it?",
                              "have you noticed anything else along with that?")))
        self.say(1, " ".join(a[0] for a in p["assoc"]), list(c["keep"]))
        if p["sev"] is not None:
            sev = self.n(p["sev"])
            self.say(0, r.choice(("on a scale of zero to ten, how bad is it?",
                                  "how would you rate the pain out of ten?")))
            self.say(1, r.choice(("i'd say about a {s} out of ten.", "probably a {s}, on a bad day.",
                                  "um, {s}? maybe {s} out of ten.")).format(s=sev), [sev, "ten"])
        negs = " or ".join(n[0] for n in p["neg"])
        self.say(0, f"any {negs}?", [n[0] for n in p["neg"]])
        self.say(1, r.choice(("no, none of that.", "no.", "nope, nothing like that.",
                              "no, i don't think so.")))

    def _history(self) -> None:
        r = self.rng
        if self.current:
            self.say(0, r.choice(("let's go over your medications.", "and what medicines are you "
                                  "on right now?", "are you still taking the same medications?")))
            for cond, med, dose, _ in self.current:
                d = self.n(dose)
                self.say(1, r.choice(("i take {m} {d} {u} {f} for my {c}.",
                                      "the {m}, {d} {u}, {f}, that's for the {c}.",
                                      "{m} {d} {u} {f}.")).format(
                    m=med["name"], d=d, u=med["unit_spoken"], f=med["freq_spoken"],
                    c=cond["spoken"]), [med["name"], d, cond["spoken"], med["freq_spoken"]])
        else:
            self.say(0, "are you taking any medications regularly?")
            self.say(1, r.choice(("no, nothing.", "no, just vitamins sometimes.")))
        self.say(0, r.choice(("any allergies to medications?", "do you have any drug allergies?",
                              "remind me, are you allergic to anything?")))
        if self.allergy:
            a = self.allergy
            self.say(1, r.choice(a["spoken"]), [a["name"]])
        else:
            self.say(1, r.choice(("no, no allergies.", "none that i know of.", "nope.")))

    def _exam(self) -> None:
        r, v = self.rng, self.vitals
        bp = f"{self.n(v['sys'])} over {self.n(v['dia'])}"
        temp, hr, sat = self.n(v["temp"]), self.n(v["hr"]), self.n(v["spo2"])
        self.say(0, r.choice((
            "so your blood pressure today is {bp}, heart rate {hr}, temperature {t}, and your "
            "oxygen is {s} percent.",
            "looking at your vitals, pressure is {bp}, pulse {hr}, temp {t}, o2 sat {s} percent.",
        )).format(bp=bp, hr=hr, t=temp, s=sat), [bp, hr, temp, sat])
        self.say(0, r.choice(("let me take a look at you.", "i'm going to examine you now.",
                              "okay, hop up on the table for me.")))
        for p in self.problems:
            self.say(0, p["exam"]["spoken"], list(p["exam"]["alts"]))

    def _plan(self) -> None:
        r = self.rng
        for p in self.problems:
            self.say(0, r.choice(("so i think this is {dx}.", "this looks like {dx} to me.",
                                  "my impression is {dx}.")).format(dx=p["dx"][0]))
            for m in p["meds"]:
                d, days = self.n(m["dose"]), m.get("days")
                tail = f" for {self.n(days)} days" if days else ""
                self.say(0, f"i'm going to start you on {m['name']} {d} {m['unit_spoken']} "
                            f"{m['freq_spoken']}{tail}.",
                         [m["name"], d, m["freq_spoken"], tail])
            for t in p["tests"]:
                self.say(0, t["spoken"], list(t["alts"]))
            self.say(0, p["advice"][0])
        for cond, med, dose, change in self.current:
            if change:
                a, b = self.n(dose), self.n(change)
                self.say(0, f"your {cond['spoken']} isn't where i want it, so let's increase the "
                            f"{med['name']} from {a} to {b} {med['unit_spoken']}.",
                         [med["name"], f"from {a} to {b}", cond["spoken"]])
            else:
                self.say(0, f"for your {cond['spoken']}, keep taking the {med['name']} "
                            f"{r.choice(('as you are.', 'same dose.', 'like before.'))}",
                         [med["name"], cond["spoken"]])
        n, unit = self.follow_up
        fu = self.n(n)
        self.say(0, r.choice(("let's have you come back in {n} {u}.",
                              "i want to see you again in {n} {u}.",
                              "follow up with me in {n} {u}, okay?")).format(n=fu, u=unit), [fu])
        self.say(1, r.choice(("okay, sounds good.", "alright, thank you doctor.",
                              "okay. thanks so much.")))

    def transcript(self) -> str:
        r = self.rng
        self._opening()
        bounds = [2]  # small talk goes between conversational steps, never inside a Q/A pair
        for i, p in enumerate(self.problems):
            bounds.append(len(self.turns))
            self._complaint(p, i == 0)
        for step in (self._history, self._exam, self._plan):
            bounds.append(len(self.turns))
            step()
        bounds.append(len(self.turns))
        lo, hi = LENGTHS[self.difficulty]
        n_words, target = sum(len(t[1].split()) for t in self.turns), r.randint(lo, hi)
        talk = list(SMALL_TALK)
        r.shuffle(talk)
        inserts: dict[int, list[tuple[str, ...]]] = {}
        while n_words < target and talk:
            exchange = talk.pop()
            inserts.setdefault(r.choice(bounds), []).append(exchange)
            n_words += sum(len(line.split()) for line in exchange)
        for at in sorted(inserts, reverse=True):
            self.turns[at:at] = [(k % 2, line, []) for ex in inserts[at]
                                 for k, line in enumerate(ex)]
        return self._render()

    def _render(self) -> str:
        """Speaker labels (with diarisation errors and merged turns), then one pass of ASR
        noise over the whole transcript: fact spans and labels are protected."""
        r = self.rng
        rate = {"easy": 0.02, "medium": 0.05, "hard": 0.09}[self.difficulty]
        labels = r.choice(_LABELS)
        lines: list[str] = []
        protect = {lab for lab in labels}
        for who, text, keep in self.turns:
            protect.update(keep)
            if self.difficulty != "easy" and r.random() < rate:
                who = 1 - who  # diarisation error: the wrong speaker
            text = text[:1].upper() + text[1:]
            if lines and r.random() < rate:
                lines[-1] += " " + text  # turn merged into the previous one, label lost
            else:
                lines.append(f"{labels[who]} {text}")
        keep = sorted(protect)
        noisy = asr_noise("\n".join(lines), r, rate=rate * 3, protect=keep, fillers=rate)
        noisy = protected_apply(noisy, keep, lambda seg: _drop_and_stutter(seg, r, rate))
        if r.random() < 0.5:  # ACI-style: lower case, punctuation split off
            noisy = "\n".join(ln[:len(lab)] + re.sub(r"\s*([,.?!])(?=\s|$)", r" \1",
                                                      ln[len(lab):].lower())
                               if (lab := next((x for x in labels if ln.startswith(x)), ""))
                               else ln.lower() for ln in noisy.split("\n"))
        return noisy

    # --- gold note -----------------------------------------------------------------------
    def note(self) -> str:
        sections = {h: [] for h in DEFAULT_SECTIONS}
        sections["CHIEF COMPLAINT"].append(
            " and ".join(p["c"]["cc"] for p in self.problems).capitalize() + ".")
        sections["HISTORY OF PRESENT ILLNESS"] = self._hpi()
        meds = [f"- {med['name'].capitalize()} {dose:g} {med['unit']} {med['freq']}"
                for _, med, dose, _ in self.current]
        sections["MEDICATIONS"] = meds or ["No current medications."]
        sections["ALLERGIES"].append(
            self.allergy["note"] if self.allergy else "No known drug allergies.")
        v = self.vitals
        sections["PHYSICAL EXAM"] = [
            f"Vitals: BP {v['sys']}/{v['dia']}, HR {v['hr']}, temperature {v['temp']:g} F, "
            f"O2 saturation {v['spo2']}%.", *[p["exam"]["note"] for p in self.problems]]
        sections["ASSESSMENT"] = [f"- {p['dx'][1]}." for p in self.problems] + [
            f"- {c['note']}: {'not at goal' if change else 'stable'}."
            for c, _, _, change in self.current]
        sections["PLAN"] = self._plan_lines()
        return "\n\n".join(f"{h}\n" + "\n".join(body) for h, body in sections.items())

    def _hpi(self) -> list[str]:
        hist = (" with a history of " + ", ".join(c["note"].lower() for c, *_ in self.current)
                if self.current else "")
        out = []
        for i, p in enumerate(self.problems):
            c = p["c"]
            lead = (f"{self.first} {self.last} is a {self.age}-year-old {self.sex}{hist} who "
                    f"presents with {c['cc']} for {p['n']} {p['unit']}." if i == 0 else
                    f"{self.he.capitalize()} also reports {c['cc']} for {p['n']} {p['unit']}.")
            pron = {"He": self.he.capitalize()}
            parts = [lead, p["desc"][1].format(**pron)]
            parts += [a[1].format(**pron) for a in p["assoc"]]
            if p["sev"] is not None:
                parts.append(f"{self.he.capitalize()} rates it {p['sev']}/10.")
            parts.append(f"{self.he.capitalize()} denies " + " and ".join(
                n[1] for n in p["neg"]) + ".")
            out.append(" ".join(parts))
        return ["\n\n".join(out)]

    def _plan_lines(self) -> list[str]:
        out = []
        for p in self.problems:
            for m in p["meds"]:
                days = f" for {m['days']} days" if m.get("days") else ""
                out.append(f"- Start {m['name']} {m['dose']:g} {m['unit']} {m['freq']}{days}.")
            out += [f"- {t['note']}." for t in p["tests"]]
            out.append(f"- {p['advice'][1]}.")
        for cond, med, dose, change in self.current:
            out.append(f"- Increase {med['name']} from {dose:g} {med['unit']} to {change:g} "
                       f"{med['unit']} for {cond['note'].lower()}." if change else
                       f"- Continue {med['name']} {dose:g} {med['unit']} {med['freq']}.")
        n, unit = self.follow_up
        out.append(f"- Follow up in {n} {unit}.")
        return out

    # --- meta ----------------------------------------------------------------------------
    def meta(self, transcript: str) -> dict[str, Any]:
        v = self.vitals
        meds = [{"name": med["name"], "doses": [dose] + ([change] if change else [])}
                for _, med, dose, change in self.current]
        meds += [{"name": m["name"], "doses": [m["dose"]]} for p in self.problems
                 for m in p["meds"]]
        n, unit = self.follow_up
        plan = [[m["name"]] for p in self.problems for m in p["meds"]]
        plan += [list(t["alts"]) for p in self.problems for t in p["tests"]]
        # "in 2 weeks", not "2 weeks": a bare span would also match "for 2 weeks" in the HPI
        plan.append([f"in {n} {unit}", f"in {number_to_words(n)} {unit}",
                     f"follow up {n} {unit}", f"{n} {unit} follow",
                     f"{n}-{unit.rstrip('s')} follow"])
        return {
            "complaints": [list(p["c"]["alts"]) for p in self.problems],
            "findings": [[f"{v['sys']}/{v['dia']}", f"{v['sys']} over {v['dia']}"]]
            + [list(p["exam"]["alts"]) for p in self.problems],
            "plan_items": plan,
            "medication_names": [[med["name"]] for _, med, _, _ in self.current],
            "medications": meds,
            "allergies": [list(self.allergy["alts"])] if self.allergy else [
                ["no known drug allergies", "nkda", "no known allergies", "no drug allergies",
                 "denies drug allergies", "no allergies"]],
            "sections": list(DEFAULT_SECTIONS),
            "transcript_numbers": numbers_text(transcript),
            "n_words": len(transcript.split()),
        }


def _drop_and_stutter(seg: str, rng: random.Random, rate: float) -> str:
    """ASR drops short function words and transcribes false starts ("i- i think")."""

    def word(m: re.Match) -> str:
        w = m.group(0)
        if w.lower() in _FUNCTION_WORDS and rng.random() < rate:
            return ""
        return f"{w}- {w}" if rng.random() < rate / 3 else w

    return re.sub(r"(?<=\S) {2,}| {2,}(?=\S)", " ", re.sub(r"[A-Za-z']+", word, seg))


class ClinicalScribe(Task):
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        case = _Case(rng, difficulty)
        transcript = case.transcript()
        return {
            "fields": {"instructions": _instructions(DEFAULT_SECTIONS), "transcript": transcript},
            "source": transcript,
            "reference": case.note(),
            "meta": case.meta(transcript),
        }


# --- real-data adapters ----------------------------------------------------------------------
def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 26)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not set(required) <= set(rows[0]):
        raise TaskError(f"{path}: expected columns {', '.join(required)}, got {', '.join(rows[0])}")
    return rows


def load_aci_bench(path: Path) -> list[dict[str, Any]]:
    """ACI-Bench `{train,valid}.csv` (dataset, encounter_id, dialogue, note): full visit notes.
    meta.sections = the reference note's own headings in order (the prompt lists them)."""
    files = [Path(path) / f for f in ("train.csv", "valid.csv") if (Path(path) / f).is_file()]
    if not files:
        raise TaskError(f"aci-bench adapter: expected train.csv / valid.csv in {path}")
    out = []
    for f in files:
        for row in _read_csv(f, ("encounter_id", "dialogue", "note")):
            pos = heading_positions(row["note"], REAL_HEADINGS)
            sections = [h for h, _ in sorted(pos.items(), key=lambda kv: kv[1])]
            out.append({
                "id": f"aci-{f.stem}-{row['encounter_id']}",
                "fields": {"instructions": _instructions(sections), "transcript": row["dialogue"]},
                "source": row["dialogue"], "reference": row["note"],
                "meta": {"sections": sections, "dataset": row.get("dataset"),
                         "transcript_numbers": numbers_text(row["dialogue"]),
                         "n_words": len(row["dialogue"].split())},
            })
    return out


# MTS-Dialog section codes -> the heading the prompt names
MTS_SECTIONS = {
    "CC": "CHIEF COMPLAINT", "GENHX": "HISTORY OF PRESENT ILLNESS", "MEDICATIONS": "MEDICATIONS",
    "ALLERGY": "ALLERGIES", "EXAM": "PHYSICAL EXAM", "ASSESSMENT": "ASSESSMENT", "PLAN": "PLAN",
    "ROS": "REVIEW OF SYSTEMS", "PASTMEDICALHX": "PAST MEDICAL HISTORY",
    "PASTSURGICAL": "PAST SURGICAL HISTORY", "FAM/SOCHX": "FAMILY AND SOCIAL HISTORY",
    "DIAGNOSIS": "DIAGNOSIS", "DISPOSITION": "DISPOSITION", "EDCOURSE": "EMERGENCY DEPARTMENT COURSE",
    "IMMUNIZATIONS": "IMMUNIZATIONS", "IMAGING": "IMAGING", "GYNHX": "GYNECOLOGIC HISTORY",
    "PROCEDURES": "PROCEDURES", "OTHER_HISTORY": "OTHER HISTORY", "LABS": "LABS",
}


def load_mts_dialog(path: Path) -> list[dict[str, Any]]:
    """MTS-Dialog (ID, section_header, section_text, dialogue): one note section per row;
    reference = section_text, the prompt names the section, meta.sections = [] (no heading)."""
    files = sorted(Path(path).glob("MTS-Dialog-*.csv"))
    if not files:
        raise TaskError(f"mts-dialog adapter: expected MTS-Dialog-*.csv in {path}")
    out = []
    for f in files:
        for row in _read_csv(f, ("ID", "section_header", "section_text", "dialogue")):
            code = row["section_header"].strip().upper()
            section = MTS_SECTIONS.get(code, code)
            out.append({
                "id": f"mts-{f.stem.split('-')[-1]}-{row['ID']}",
                "fields": {"instructions": MTS_INSTRUCTIONS.format(section=section),
                           "transcript": row["dialogue"]},
                "source": row["dialogue"], "reference": row["section_text"],
                "meta": {"sections": [], "section": section, "section_code": code,
                         "transcript_numbers": numbers_text(row["dialogue"]),
                         "n_words": len(row["dialogue"].split())},
            })
    return out


TASK = ClinicalScribe(
    name="clinical_scribe",
    description="Doctor-patient transcript (noisy ASR) -> visit note in a fixed template.",
    metric="score",
    scale=(0.0, 5.0),
    system_prompt=SYSTEM_PROMPT,
    user_template=USER_TEMPLATE,
    adapters={"aci-bench": load_aci_bench, "mts-dialog": load_mts_dialog},
)
