"""`python` checks for clinical_scribe (and the spoken-number helpers its generator shares).

No built-in check kind can say "these headings appear in this order", "every drug + dose in
the note is one the patient was actually given", or "the plan prescribes nothing the patient
is allergic to", so those live here and the rubric calls them by import path:

    - id: sections_in_order
      kind: python
      function: rewards.tasks.checks_scribe:sections_in_order

Every function takes a Sample and returns a dict(status, value, reason). They read structured
facts from `meta` when the generator or adapter put them there (`sections`, `medications`,
`allergies`) and otherwise fall back to what can be read off the transcript, so real
ACI-Bench / MTS-Dialog rows are scored without hand labels.
"""

from __future__ import annotations

import re
from typing import Any

from rewards.tasks.guards import PLACEHOLDERS

# --- spoken numbers ------------------------------------------------------------------------
_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_WORD_OF_UNIT = {v: k for k, v in _UNITS.items()}
_WORD_OF_TEN = {v: k for k, v in _TENS.items()}


def number_to_words(n: int) -> str:
    """0 <= n < 1,000,000 as American English words: 145 -> 'one hundred forty-five'."""
    if n < 0 or n >= 1_000_000:
        raise ValueError(f"number_to_words handles 0..999999, got {n}")
    if n < 20:
        return _WORD_OF_UNIT[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _WORD_OF_TEN[tens * 10] + (f"-{_WORD_OF_UNIT[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_WORD_OF_UNIT[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{number_to_words(thousands)} thousand" + (f" {number_to_words(rest)}" if rest else "")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def spoken_numbers(text: str) -> list[str]:
    """Every number in `text`, digits or spelled out ("forty-five", "a hundred and twenty",
    "two point five"), as digit strings in order of appearance.

    ASR transcripts spell most numbers; notes write digits. A numbers_grounded check that
    compares the two needs the transcript's numbers in digit form (meta.transcript_numbers)."""
    toks = re.findall(r"\d+(?:\.\d+)?|[a-z]+", text.lower().replace(",", ""))
    out: list[str] = []
    total, part, active = 0, 0, False
    i = 0

    def flush():
        nonlocal total, part, active
        if active:
            out.append(_fmt(total + part))
        total, part, active = 0, 0, False

    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if tok[0].isdigit():
            flush()
            out.append(_fmt(float(tok)))
        elif tok in _UNITS:
            # "twenty five", "a hundred five", "two thousand one" continue a number; "five
            # five" or "ten two" start a new one
            if part and part % 100 and not (part % 10 == 0 and part % 100 >= 20):
                flush()
            part += _UNITS[tok]
            active = True
        elif tok in _TENS:
            if active and part % 100 != 0:
                flush()
            part += _TENS[tok]
            active = True
        elif tok == "hundred" and active:
            part = (part or 1) * 100
            active = True
        elif tok == "thousand" and active:
            total += (part or 1) * 1000
            part, active = 0, True
        elif tok == "a" and nxt in ("hundred", "thousand"):
            flush()
            part, active = 1, True
        elif tok == "and" and active and (nxt in _UNITS or nxt in _TENS):
            pass
        elif tok == "point" and active and nxt in _UNITS:
            whole = total + part
            digits = []
            while i + 1 < len(toks) and toks[i + 1] in _UNITS and _UNITS[toks[i + 1]] < 10:
                digits.append(str(_UNITS[toks[i + 1]]))
                i += 1
            out.append(_fmt(float(f"{whole}.{''.join(digits) or 0}")))
            total, part, active = 0, 0, False
        else:
            flush()
        i += 1
    flush()
    return out


def numbers_text(text: str) -> str:
    """The distinct numbers of `text` (spoken or written) as one space-separated string, the
    value generators and adapters store in meta.transcript_numbers."""
    seen = dict.fromkeys(spoken_numbers(text))
    return " ".join(seen)


# --- medications ---------------------------------------------------------------------------
# generic names a primary-care note is likely to carry; a drug outside this list is invisible
# to the medication checks (the judge check covers the rest)
DRUGS = tuple(sorted(set("""
acetaminophen albuterol allopurinol alprazolam amitriptyline amlodipine amoxicillin
amoxicillin-clavulanate ampicillin apixaban aripiprazole aspirin atenolol atorvastatin
azithromycin benzonatate bupropion buspirone carvedilol cefdinir ceftriaxone cephalexin
cetirizine ciprofloxacin citalopram clonazepam clopidogrel codeine cyclobenzaprine
dexamethasone diazepam diclofenac digoxin diltiazem diphenhydramine doxycycline duloxetine
empagliflozin enalapril escitalopram esomeprazole famotidine fluconazole fluoxetine
fluticasone furosemide gabapentin glipizide hydrochlorothiazide hydrocodone hydrocortisone
hydroxyzine ibuprofen insulin ketorolac lamotrigine lansoprazole levetiracetam levofloxacin
levothyroxine lisinopril loratadine lorazepam losartan meclizine meloxicam metformin
methocarbamol methylprednisolone metoprolol metronidazole montelukast morphine naproxen
nitrofurantoin nitroglycerin omeprazole ondansetron oxycodone pantoprazole paroxetine penicillin
prednisone pregabalin promethazine propranolol quetiapine ranitidine rosuvastatin semaglutide
sertraline simvastatin spironolactone sulfamethoxazole sumatriptan tamsulosin tiotropium
topiramate tramadol trazodone triamcinolone valacyclovir valsartan venlafaxine warfarin
zolpidem
""".split())))
# allergy class -> drugs that must not be prescribed to a patient with it
ALLERGY_CLASSES = {
    "penicillin": ("penicillin", "amoxicillin", "amoxicillin-clavulanate", "ampicillin"),
    "sulfa": ("sulfamethoxazole",),
    "codeine": ("codeine", "hydrocodone", "oxycodone", "morphine", "tramadol"),
    "nsaid": ("ibuprofen", "naproxen", "meloxicam", "diclofenac", "ketorolac", "aspirin"),
    "aspirin": ("aspirin",),
    "cephalosporin": ("cephalexin", "cefdinir", "ceftriaxone"),
}
_DRUG_RX = re.compile(r"\b(" + "|".join(re.escape(d) for d in sorted(DRUGS, key=len, reverse=True))
                      + r")\b", re.I)
_DOSE_RX = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|micrograms?|milligrams?|g\b|grams?|units?|"
                      r"ml|%|percent)", re.I)
_DOSE_WINDOW = 60  # characters after a drug name searched for its dose ("metformin 500 mg")


def find_med_doses(text: str) -> list[tuple[str, str | None]]:
    """(drug, dose) for each drug name in `text`; dose is the first "<number> <unit>" within
    the next 60 characters of the same line, stopping at the next drug name."""
    text = text or ""
    hits = list(_DRUG_RX.finditer(text))
    out = []
    for k, m in enumerate(hits):
        end = min(m.end() + _DOSE_WINDOW, hits[k + 1].start() if k + 1 < len(hits) else len(text))
        window = text[m.end():end].split("\n", 1)[0]
        d = _DOSE_RX.search(window)
        out.append((m.group(1).lower(), _fmt(float(d.group(1))) if d else None))
    return out


def _allowed_meds(sample: Any) -> tuple[set[str], set[tuple[str, str]], str]:
    """(drug names the note may mention, (drug, dose) pairs it may state, where from).

    Ground truth is meta.medications ([{name, doses}]) when the generator/adapter knows it;
    otherwise drugs named in the transcript, with any number spoken within the next ~15
    words counted as a possible dose."""
    meta = sample.meta or {}
    names: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for a in meta.get("allergies") or []:
        for alt in a if isinstance(a, list) else [a]:
            names.update(d.lower() for d in _DRUG_RX.findall(str(alt)))
    if meta.get("medications") is not None:
        for med in meta["medications"]:
            names.add(med["name"].lower())
            pairs.update((med["name"].lower(), _fmt(float(d))) for d in med.get("doses", []))
        return names, pairs, "meta"
    source = sample.source or ""
    for m in _DRUG_RX.finditer(source):
        drug = m.group(1).lower()
        names.add(drug)
        following = " ".join(source[m.end():m.end() + 160].split()[:15])
        pairs.update((drug, n) for n in spoken_numbers(following))
    return names, pairs, "transcript"


def medication_doses_correct(sample: Any) -> dict[str, Any]:
    """Every drug + dose the note states is one the patient takes or was prescribed (a wrong
    dose in a note is the error a scribe must never make). value = share of stated doses
    that are correct; notes that state no doses pass."""
    stated = [(d, dose) for d, dose in find_med_doses(sample.completion or "") if dose]
    if not stated:
        return {"status": "pass", "value": 1.0, "reason": "no doses stated"}
    names, pairs, origin = _allowed_meds(sample)
    wrong = [f"{d} {dose}" for d, dose in stated if (d, dose) not in pairs]
    value = 1 - len(wrong) / len(stated)
    if wrong:
        return {"status": "fail", "value": value,
                "reason": f"doses not in {origin}: {', '.join(sorted(set(wrong))[:4])}"}
    return {"status": "pass", "value": 1.0, "reason": f"{len(stated)} doses match {origin}"}


def no_invented_medication(sample: Any) -> dict[str, Any]:
    """No drug named in the note that the patient neither takes, was prescribed, nor is
    allergic to."""
    named = {d for d, _ in find_med_doses(sample.completion or "")}
    names, _, origin = _allowed_meds(sample)
    invented = sorted(named - names)
    if invented:
        return {"status": "fail", "value": 0.0,
                "reason": f"drugs not in {origin}: {', '.join(invented[:4])}"}
    return {"status": "pass", "value": 1.0, "reason": f"{len(named)} drugs, all known"}


def _allergy_classes(sample: Any) -> set[str]:
    meta = sample.meta or {}
    flat = " ".join(" ".join(a) if isinstance(a, list) else str(a)
                    for a in meta.get("allergies") or [])
    low = flat.lower()
    found = {c for c in ALLERGY_CLASSES if c in low}
    if re.search(r"ibuprofen|naproxen|nsaid|anti-?inflammator", low):
        found.add("nsaid")
    return found


def no_allergy_conflict(sample: Any, sections: tuple[str, ...] = ("PLAN", "ASSESSMENT AND PLAN")
                        ) -> dict[str, Any]:
    """The plan prescribes no drug from a class the patient is allergic to. Abstains when the
    allergies are unknown (real notes without meta.allergies)."""
    if (sample.meta or {}).get("allergies") is None:
        return {"status": "abstain", "value": None, "reason": "allergies unknown"}
    classes = _allergy_classes(sample)
    banned = {d for c in classes for d in ALLERGY_CLASSES[c]}
    plan = section_text(sample.completion or "", sections)
    hits = sorted({d for d, _ in find_med_doses(plan)} & banned)
    if hits:
        return {"status": "fail", "value": 0.0, "reason": f"plan prescribes {', '.join(hits)} "
                f"despite {', '.join(sorted(classes))} allergy"}
    return {"status": "pass", "value": 1.0, "reason": "no allergy conflict"}


# --- template ------------------------------------------------------------------------------
DEFAULT_SECTIONS = ("CHIEF COMPLAINT", "HISTORY OF PRESENT ILLNESS", "MEDICATIONS", "ALLERGIES",
                    "PHYSICAL EXAM", "ASSESSMENT", "PLAN")


def _heading_rx(heading: str) -> re.Pattern:
    # a heading is a line that starts with the name (markdown #, ** and a trailing colon
    # allowed) and either ends there or continues after the colon: "PLAN:" / "## Plan"
    name = r"\s+".join(re.escape(w) for w in heading.split())
    return re.compile(rf"^[ \t]*(?:#+[ \t]*)?(?:\*\*|__)?{name}(?:\*\*|__)?[ \t]*(?::|$)",
                      re.I | re.M)


def heading_positions(text: str, sections: list[str] | tuple[str, ...]) -> dict[str, int]:
    """heading -> character offset of its first occurrence (absent headings omitted)."""
    pos = {}
    for h in sections:
        m = _heading_rx(h).search(text)
        if m:
            pos[h] = m.start()
    return pos


def section_text(text: str, wanted: tuple[str, ...] | list[str],
                 stops: tuple[str, ...] | list[str] = DEFAULT_SECTIONS) -> str:
    """Body of the first of `wanted` headings present, up to the next heading among `stops`
    (only template headings: "Vitals: ..." inside PHYSICAL EXAM is content, not a heading)."""
    pos = heading_positions(text, list(dict.fromkeys([*wanted, *stops])))
    for h in wanted:
        if h in pos:
            later = [p for p in pos.values() if p > pos[h]]
            body = text[pos[h]:min(later) if later else len(text)]
            return _heading_rx(h).sub("", body, count=1)
    return ""


def _longest_increasing(xs: list[int]) -> int:
    best: list[int] = []
    for x in xs:
        lo, hi = 0, len(best)
        while lo < hi:
            mid = (lo + hi) // 2
            if best[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        best[lo:lo + 1] = [x]
    return len(best)


def sections_in_order(sample: Any, sections: list[str] | None = None,
                      min_body_words: int = 1) -> dict[str, Any]:
    """Every template heading present, in template order, each with a non-empty body.

    Headings come from meta.sections (adapters copy a real note's own headings there), else
    `sections`, else the default template; meta.sections == [] means the sample asks for a
    single section without a heading (MTS-Dialog) and the check abstains.

    value = share of headings present, halved when any two are out of order: a swapped pair
    breaks the template as surely as a missing section (an earlier longest-ordered-run value
    made a swap cost 1/7 of the check, 0.05 points of 5)."""
    wanted = (sample.meta or {}).get("sections")
    if wanted is None:
        wanted = sections or list(DEFAULT_SECTIONS)
    if not wanted:
        return {"status": "abstain", "value": None, "reason": "sample asks for no headings"}
    text = sample.completion or ""
    pos = heading_positions(text, wanted)
    order = [wanted.index(h) for h, _ in sorted(pos.items(), key=lambda kv: kv[1])]
    ordered = _longest_increasing(order) == len(order)
    value = len(pos) / len(wanted) * (1.0 if ordered else 0.5)
    missing = [h for h in wanted if h not in pos]
    if missing:
        return {"status": "fail", "value": value, "reason": f"missing {', '.join(missing[:3])}"}
    if not ordered:
        return {"status": "fail", "value": value, "reason": "sections out of order"}
    empty = [h for h in wanted if len(section_text(text, [h], wanted).split()) < min_body_words]
    if empty:
        return {"status": "fail", "value": 1 - len(empty) / len(wanted),
                "reason": f"empty sections: {', '.join(empty[:3])}"}
    return {"status": "pass", "value": 1.0, "reason": f"{len(wanted)} sections in order"}


def template_present(sample: Any, min_share: float = 0.5) -> dict[str, Any]:
    """At least `min_share` of the template headings appear at all (order and bodies are
    `sections_in_order`'s business). As a global gate: an answer with no note structure is
    not a note. The rubric's facts listed in one run-on line (rewards.probe keyword_stuff)
    passed every span check and scored 4.3/5 before it. Abstains where the sample asks for
    no headings (MTS-Dialog sections)."""
    wanted = (sample.meta or {}).get("sections")
    wanted = list(DEFAULT_SECTIONS) if wanted is None else wanted
    if not wanted:
        return {"status": "abstain", "value": None, "reason": "sample asks for no headings"}
    share = len(heading_positions(sample.completion or "", wanted)) / len(wanted)
    ok = share >= min_share
    return {"status": "pass" if ok else "fail", "value": share,
            "reason": f"{share:.0%} of the template headings (need {min_share:.0%})"}


# headings seen in real notes (ACI-Bench): the adapter copies those a note uses into meta
_KNOWN_HEADINGS = (
    "ASSESSMENT AND PLAN", "REVIEW OF SYSTEMS", "PHYSICAL EXAMINATION", "VITALS", "VITALS REVIEWED",
    "RESULTS", "SOCIAL HISTORY", "FAMILY HISTORY", "MEDICAL HISTORY", "PAST HISTORY",
    "SURGICAL HISTORY", "CURRENT MEDICATIONS", "INSTRUCTIONS", "IMPRESSION", "PROCEDURE", "EXAM",
    "PAST MEDICAL HISTORY", "HPI", "CC",
)
REAL_HEADINGS = tuple(dict.fromkeys([*DEFAULT_SECTIONS, *_KNOWN_HEADINGS]))


# --- coverage and length against a reference note ------------------------------------------
# clinical terms whose presence in the reference marks content the note should carry
CLINICAL_TERMS = tuple(sorted(set("""
abdominal anemia anxiety arthritis asthma atrial biopsy bronchitis cardiology cholesterol
colonoscopy constipation copd cough covid ct depression dermatitis diabetes diarrhea dizziness
dyspnea echocardiogram edema ekg ecg fatigue fever fracture gerd headache hypertension
hyperlipidemia hypothyroidism infection insomnia migraine mri murmur nausea neuropathy
numbness obesity osteoarthritis otitis palpitations pharyngitis pneumonia rash referral
sinusitis sprain strain swelling syncope tenderness tingling ultrasound urinalysis vertigo
vomiting wheezing x-ray a1c tsh cbc lipid physical therapy follow-up allergy allergies
""".split())))
_TERM_RX = re.compile(r"\b(" + "|".join(re.escape(t) for t in CLINICAL_TERMS) + r")\b", re.I)


_STOP = frozenset("""the and was has had with for are her his she him they this that from have
been about above after again being below between could doing during having other their there
these those through under until where which while would should patient states reports denies
notes""".split())


def _reference_text(sample: Any) -> str | None:
    ref = sample.reference
    if ref is None:
        return None
    return ref if isinstance(ref, str) else str(ref)


def salient_recall(sample: Any, min_share: float = 0.6) -> dict[str, Any]:
    """Share of the reference note's salient items (drug names, clinical terms, numbers; its
    content words when it has none) that the note also carries. The coverage signal that
    needs no labels, so it also scores real notes whose facts were never annotated (their
    meta has no complaints/findings/plan_items and those span checks abstain). Abstains
    without a reference."""
    ref = _reference_text(sample)
    if not ref:
        return {"status": "abstain", "value": None, "reason": "no reference"}
    text = (sample.completion or "").lower()
    items = {d for d, _ in find_med_doses(ref)} | {t.lower() for t in _TERM_RX.findall(ref)}
    nums = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?", ref))
    if not items and not nums:
        # a short section with no clinical vocabulary ("Non-smoker. Lives with wife."): its
        # content words are what the note must carry
        items = {w for w in re.findall(r"[a-z][a-z-]{2,}", ref.lower()) if w not in _STOP}
    if not items and not nums:
        return {"status": "abstain", "value": None, "reason": "reference has no content words"}
    found = sum(1 for t in items if re.search(rf"\b{re.escape(t)}\b", text))
    have = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text))
    found += len(nums & have)
    value = found / (len(items) + len(nums))
    status = "pass" if value >= min_share else "fail"
    return {"status": status, "value": value,
            "reason": f"{found}/{len(items) + len(nums)} reference items present"}


def length_vs_reference(sample: Any, low: float = 0.4, high: float = 2.5,
                        slack_words: int = 15) -> dict[str, Any]:
    """Note length within [low, high] x the reference's word count (± slack for one-line
    sections): a scribe that pads or truncates fails. Abstains without a reference."""
    ref = _reference_text(sample)
    if not ref:
        return {"status": "abstain", "value": None, "reason": "no reference"}
    n_ref, n = len(ref.split()), len((sample.completion or "").split())
    lo, hi = low * n_ref - slack_words, high * n_ref + slack_words
    ok = lo <= n <= hi
    return {"status": "pass" if ok else "fail", "value": 1.0 if ok else 0.0,
            "reason": f"{n} words vs reference {n_ref} (allowed {max(0, int(lo))}-{int(hi)})"}


# --- degenerate-output guards (used as `gate: global`) ---------------------------------------
def _content_words(text: str) -> int:
    return sum(w.strip(".,:;").lower() not in PLACEHOLDERS for w in text.split())


def substantive(sample: Any, min_words: int = 40, min_ratio: float = 0.25,
                relative_to: str = "reference") -> dict[str, Any]:
    """At least min(min_words, min_ratio x the reference's (or source's) words).

    An empty or one-line answer passes every "nothing invented" check vacuously (an empty
    note scored 2.7/5 before this gate); as a global gate it scores such answers 0 instead."""
    base = sample.reference if relative_to == "reference" else sample.source
    base = base if isinstance(base, str) else None
    need = min(min_words, min_ratio * _content_words(base)) if base else min_words
    # placeholder lines ("TBD." under every heading) are not content: with them counted, a
    # headings-and-TBD shell passed this gate and scored up to 3.7/5 (rewards.probe). A gold
    # that is itself only "None." (MTS-Dialog allergy sections) needs any non-empty answer
    n = _content_words(sample.completion or "")
    if base is not None and _content_words(base) == 0:
        n = len((sample.completion or "").split())
    ok = n >= max(1.0, need)
    return {"status": "pass" if ok else "fail", "value": 1.0 if ok else 0.0,
            "reason": f"{n} words (need {max(1.0, need):.0f})"}
