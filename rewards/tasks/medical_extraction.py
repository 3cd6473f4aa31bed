"""medical_extraction: a clinical note -> JSON {patient_concern, symptoms[], recommended_treatment,
follow_up: "yes"|"no"}.

Metric: harness score on 0-5. The generator writes notes of ~250-450 words from 20 conditions
(10 chronic: scheduled follow-up, "yes"; 10 routine/self-limited: return as needed, "no") in
three note styles (sectioned H&P, SOAP, terse clinic shorthand) with abbreviations (c/o, SOB,
HTN, BID, RTC 3 mo), home medications, vitals, exam and labs whose numbers are distractors.

- easy: full section names, 2-3 symptoms, no negatives beyond ROS.
- medium: abbreviations, pertinent negatives in the HPI ("denies fever"), SOAP or H&P.
- hard: shorthand notes, a routine visit in a patient whose history lists chronic disease
  (follow-up still "no"), follow-up written only as "RTC 6/52", symptoms abbreviated
  (gold keeps the note's wording; the checks expand known abbreviations on both sides).

Gold symptoms are the note's own phrases; the treatment is the plan's treatment sentences.
The MTSamples adapter yields real notes without gold (reference null): the reference-free
checks (format, grounding, treatment present when the note has a plan) still score them.

Probes (`python -m rewards.probe --task medical_extraction`, benchmarks/results/probes.md):
empty and N/A shells scored 2.2/5 and 2.4/5 before the `fields_filled` gate, 0 now. Not
caught without gold or a judge: on MTSamples (no reference) a record whose symptoms and
treatment are real phrases of the note but the wrong ones (a denied symptom listed as
present) passes the grounding checks; `nothing_added` (judge) covers it.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from rewards.normalize import MISSING, as_json, fuzzy_ratio, parse_json
from rewards.tasks.base import Task, dataset_rows
from rewards.tasks.text_noise import protected_apply

# name, abbr, concern phrases, symptoms, treatments, assessment, exam finding, home med
CHRONIC = (
    ("type 2 diabetes", "DM2", ("rising blood sugars at home", "poorly controlled diabetes"),
     ("increased thirst", "frequent urination", "fatigue", "blurred vision", "tingling in both feet"),
     ("Increase metformin to 1000 mg BID.", "Start empagliflozin 10 mg daily.",
      "Refer to diabetes educator for dietary counselling."),
     "DM2, suboptimally controlled, A1c {lab}%", "Monofilament sensation decreased over both soles.",
     "metformin 500 mg BID"),
    ("hypertension", "HTN", ("high blood pressure readings", "elevated home BP readings"),
     ("morning headaches", "dizziness on standing", "occasional palpitations"),
     ("Start lisinopril 10 mg daily.", "Increase amlodipine to 10 mg daily.",
      "Reduce salt intake to under 2 g per day."),
     "HTN, not at goal", "No carotid bruits. Fundi not visualised.", "amlodipine 5 mg daily"),
    ("asthma", "asthma", ("worsening asthma", "more frequent wheezing"),
     ("wheezing", "nighttime cough", "chest tightness", "shortness of breath with exercise"),
     ("Start fluticasone 250 mcg inhaler BID.", "Continue albuterol 2 puffs q4h PRN.",
      "Written asthma action plan reviewed."),
     "Moderate persistent asthma, poorly controlled", "Scattered expiratory wheezes bilaterally.",
     "albuterol inhaler PRN"),
    ("COPD", "COPD", ("increasing breathlessness", "worsening COPD symptoms"),
     ("productive cough", "breathlessness walking uphill", "reduced exercise tolerance"),
     ("Start tiotropium 18 mcg inhaled once daily.", "Refer to pulmonary rehabilitation.",
      "Smoking cessation counselling provided."),
     "COPD, GOLD 2", "Prolonged expiratory phase, no crackles.", "salbutamol inhaler PRN"),
    ("heart failure", "CHF", ("leg swelling and weight gain", "worsening heart failure"),
     ("ankle swelling", "orthopnea", "weight gain of 3 kg", "fatigue"),
     ("Increase furosemide to 40 mg daily.", "Daily weights; call if gain over 1 kg in a day.",
      "Limit fluids to 1.5 L per day."),
     "HFrEF, EF {lab}%, volume overloaded", "2+ pitting edema to mid-shin bilaterally.",
     "furosemide 20 mg daily"),
    ("hypothyroidism", "hypothyroidism", ("tiredness despite thyroid medication", "abnormal TSH"),
     ("fatigue", "weight gain", "cold intolerance", "constipation", "dry skin"),
     ("Increase levothyroxine to 75 mcg daily.", "Take levothyroxine on an empty stomach."),
     "Hypothyroidism, undertreated, TSH {lab}", "Thyroid not enlarged. Skin dry.",
     "levothyroxine 50 mcg daily"),
    ("depression", "MDD", ("low mood for several weeks", "ongoing depression"),
     ("low mood", "poor sleep", "loss of interest in hobbies", "poor concentration"),
     ("Start sertraline 50 mg daily.", "Refer to counselling service.",
      "Safety plan discussed; crisis line number given."),
     "Major depressive disorder, moderate, PHQ-9 {lab}", "Flat affect, linear thought process.",
     "none"),
    ("knee osteoarthritis", "OA", ("chronic knee pain", "worsening right knee pain"),
     ("right knee pain", "morning stiffness", "swelling after walking", "clicking in the knee"),
     ("Acetaminophen 1 g TID as needed.", "Refer to physical therapy for quadriceps strengthening.",
      "Topical diclofenac gel QID to the knee."),
     "Primary OA of right knee", "Crepitus and mild effusion of right knee, ROM 0-110.",
     "ibuprofen 200 mg PRN"),
    ("atrial fibrillation", "AF", ("palpitations", "irregular heartbeat"),
     ("palpitations", "lightheadedness", "shortness of breath on exertion"),
     ("Start apixaban 5 mg BID.", "Start metoprolol succinate 25 mg daily."),
     "Paroxysmal AF, CHA2DS2-VASc {lab}", "Irregularly irregular rhythm, rate 96.",
     "aspirin 81 mg daily"),
    ("migraine", "migraine", ("frequent migraines", "recurrent headaches"),
     ("throbbing headaches", "sensitivity to light", "nausea with headaches"),
     ("Start propranolol 40 mg BID for prevention.", "Sumatriptan 50 mg at onset, max 2 doses per day.",
      "Keep a headache diary."),
     "Chronic migraine without aura, {lab} headache days/month", "Neuro exam nonfocal.",
     "ibuprofen 400 mg PRN"),
)
ROUTINE = (
    ("upper respiratory infection", "URI", ("sore throat and runny nose", "cold symptoms"),
     ("sore throat", "runny nose", "nasal congestion", "mild cough"),
     ("Supportive care with fluids and rest.", "Acetaminophen 500 mg every 6 hours as needed."),
     "Viral URI", "Mild pharyngeal erythema, no exudate. TMs clear.", None),
    ("ankle sprain", "sprain", ("left ankle pain after a fall", "twisted ankle"),
     ("left ankle pain", "swelling of the ankle", "bruising", "pain when bearing weight"),
     ("RICE and ankle brace.", "Ibuprofen 400 mg TID with food for 5 days."),
     "Grade 1 lateral ankle sprain", "Tenderness over ATFL, no bony tenderness; Ottawa negative.", None),
    ("contact dermatitis", "dermatitis", ("itchy rash on forearms", "skin rash"),
     ("itchy rash", "redness on both forearms", "small blisters"),
     ("Hydrocortisone 1% cream BID for 7 days.", "Avoid the new detergent."),
     "Contact dermatitis", "Erythematous papulovesicular rash on volar forearms.", None),
    ("urinary tract infection", "UTI", ("burning with urination", "possible bladder infection"),
     ("burning on urination", "urinary frequency", "suprapubic discomfort"),
     ("Nitrofurantoin 100 mg BID for 5 days.", "Increase fluid intake."),
     "Uncomplicated cystitis", "Mild suprapubic tenderness, no CVA tenderness. UA nitrite positive.", None),
    ("conjunctivitis", "conjunctivitis", ("red eye", "sticky eye"),
     ("red left eye", "yellow discharge", "crusting in the morning"),
     ("Erythromycin eye ointment QID for 5 days.", "Hand hygiene; no contact lenses until clear."),
     "Bacterial conjunctivitis", "Injected left conjunctiva with mucopurulent discharge; VA 20/20.", None),
    ("gastroenteritis", "AGE", ("vomiting and diarrhea", "stomach bug"),
     ("nausea", "vomiting", "watery diarrhea", "abdominal cramps"),
     ("Oral rehydration solution, small frequent sips.", "Ondansetron 4 mg every 8 hours as needed."),
     "Acute viral gastroenteritis", "Abdomen soft, mildly tender diffusely; mucous membranes moist.", None),
    ("otitis externa", "OE", ("right ear pain", "sore ear after swimming"),
     ("right ear pain", "itching in the ear", "muffled hearing"),
     ("Ciprofloxacin ear drops 4 drops BID for 7 days.", "Keep the ear dry."),
     "Acute otitis externa", "Edematous right ear canal, pain on tragal pressure.", None),
    ("sunburn", "sunburn", ("painful sunburn", "burnt shoulders"),
     ("painful red skin on the shoulders", "tightness of the skin", "mild headache"),
     ("Aloe vera gel and cool compresses.", "Ibuprofen 400 mg every 8 hours as needed."),
     "First-degree sunburn", "Blanching erythema over shoulders, no blistering.", None),
    ("tension headache", "TTH", ("headache", "band-like headache"),
     ("band-like headache", "neck tightness", "tiredness at the end of the day"),
     ("Ibuprofen 400 mg as needed, no more than 3 days per week.", "Regular breaks from screen work."),
     "Episodic tension-type headache", "Pericranial muscle tenderness; neuro exam normal.", None),
    ("insect bite reaction", "bite", ("swollen insect bite", "bite on the leg"),
     ("itchy swelling on the calf", "redness around the bite"),
     ("Cetirizine 10 mg daily for 5 days.", "Cold compresses; do not scratch."),
     "Local reaction to insect bite", "5 cm area of erythema on left calf, no streaking.", None),
)
NEGATIVES = ("fever", "chills", "chest pain", "vomiting", "weight loss", "night sweats",
             "rash", "abdominal pain", "headache", "cough", "blood in the stool", "dysuria")
# abbreviations the notes use; checks expand them on both sides before comparing
ABBREV = {"sob": "shortness of breath", "doe": "dyspnea on exertion", "n/v": "nausea and vomiting",
          "ha": "headache", "cp": "chest pain", "abd": "abdominal", "b/l": "bilateral",
          "pt": "patient", "c/o": "complains of", "le": "lower extremity",
          "uti": "urinary tract infection", "uri": "upper respiratory infection"}
SHORTHAND = {"shortness of breath": "SOB", "patient": "pt", "bilateral": "b/l", "abdominal": "abd"}
CHRONIC_FU = ("RTC in 3 months with repeat labs.", "Follow up in clinic in 6 weeks.",
              "F/u 4 wks to reassess.", "See again in 2 weeks for review.",
              "Recheck labs in 3 months and follow up after.", "RTC 3 mo.", "RTC 6/52.")
ROUTINE_FU = ("Return PRN if symptoms worsen.", "No routine follow-up needed.",
              "F/u PRN.", "Return if not improving; otherwise no follow-up required.",
              "Follow up only as needed.")
DURATIONS = ("2 days", "3 days", "5 days", "1 week", "2 weeks", "3 weeks", "1 month", "2 months",
             "several weeks")
SOCIAL = ("Nonsmoker, drinks 2-3 glasses of wine per week.", "Former smoker, quit 10 years ago.",
          "Works as a teacher. Lives with partner.", "Retired electrician, lives alone, walks daily.",
          "Smokes 10 cigarettes/day. Occasional alcohol.", "Student, no tobacco, no alcohol.")
FAMILY = ("Mother with type 2 diabetes.", "Father had MI at 62.", "Noncontributory.",
          "Sister with asthma.", "No family history of cancer.")
ALLERGIES = ("NKDA", "Penicillin (rash)", "Sulfa drugs", "No known drug allergies")
SURGICAL = ("Appendectomy 2009.", "Cholecystectomy.", "None.", "C-section x2.", "Right ACL repair.",
            "Tonsillectomy as a child.", "Hernia repair 2015.")
HPI_EXTRA = ("Symptoms are worse in the evening.", "No recent travel.", "No sick contacts.",
             "Tried OTC remedies without much relief.", "Sleep has been affected.",
             "Able to continue working.", "Came in at the urging of family.",
             "Rates severity {n}/10.", "Onset was gradual.", "Symptoms started after a busy week at work.",
             "Has been checking symptoms online and is worried.", "Partner noticed it first.",
             "No similar episodes in the past year.", "Appetite unchanged.")
# review of systems: system -> negatives; any that overlaps the condition's own symptoms is
# dropped so a note never denies what it reports
ROS_SYSTEMS = (("Constitutional", ("fever", "chills", "weight loss", "fatigue")),
               ("Eyes", ("vision changes", "eye pain")),
               ("ENT", ("sore throat", "ear pain", "nasal congestion")),
               ("CV", ("chest pain", "palpitations", "leg swelling")),
               ("Resp", ("cough", "wheezing", "shortness of breath")),
               ("GI", ("nausea", "vomiting", "diarrhea", "constipation", "abdominal pain")),
               ("GU", ("dysuria", "urinary frequency")), ("MSK", ("joint pain", "back pain")),
               ("Skin", ("rash", "itching")), ("Neuro", ("headache", "dizziness", "numbness")),
               ("Psych", ("low mood", "anxiety")))
# normal exam lines, each skipped when the condition's finding concerns the same system
NORMAL_EXAM = (("General", "Alert, oriented, no acute distress.", ()),
               ("HEENT", "Normocephalic. PERRLA. Oropharynx clear.",
                ("pharyn", "tms", "conjunctiva", "ear", "fundi")),
               ("Neck", "Supple, no lymphadenopathy.", ("thyroid", "carotid")),
               ("CV", "Regular rate and rhythm, no murmurs.", ("rhythm", "murmur")),
               ("Lungs", "Clear to auscultation bilaterally.", ("wheez", "expiratory", "crackles")),
               ("Abdomen", "Soft, nontender, nondistended.", ("abdomen", "suprapubic")),
               ("Extremities", "No edema, pulses 2+.", ("edema", "knee", "ankle", "calf", "atfl")),
               ("Skin", "Warm and dry, no rashes.", ("rash", "erythema", "skin")),
               ("Neuro", "CN II-XII intact, gait normal.", ("neuro", "monofilament")),
               ("Psych", "Normal mood and affect.", ("affect",)))


def _vitals(rng: random.Random) -> str:
    return (f"BP {rng.randint(108, 162)}/{rng.randint(64, 98)}, HR {rng.randint(58, 104)}, "
            f"T {rng.choice(('36.6', '36.9', '37.1', '98.4 F', '98.9 F'))}, RR {rng.randint(12, 20)}, "
            f"SpO2 {rng.randint(94, 99)}% RA, Wt {rng.randint(52, 118)} kg")


def _lab(rng: random.Random, cond: tuple) -> str:
    return {"DM2": f"{rng.randint(76, 104) / 10:g}", "CHF": str(rng.randint(25, 40)),
            "hypothyroidism": f"{rng.randint(62, 140) / 10:g}", "MDD": str(rng.randint(12, 19)),
            "AF": str(rng.randint(2, 5)), "migraine": str(rng.randint(8, 18))}.get(cond[1], "")


def draw_case(rng: random.Random, difficulty: str) -> dict[str, Any]:
    """Facts of one visit: condition, demographics, symptoms, negatives, plan, history."""
    chronic = rng.random() < 0.5
    cond = rng.choice(CHRONIC if chronic else ROUTINE)
    n_sym = 2 if difficulty == "easy" else rng.randint(2, min(4, len(cond[3])))
    symptoms = rng.sample(cond[3], n_sym)
    negatives = [n for n in rng.sample(NEGATIVES, 4) if not any(n in s for s in cond[3])][:3]
    treatments = rng.sample(cond[4], rng.randint(1, min(2, len(cond[4]))))
    pmh = []
    if chronic:
        pmh.append(cond[0])
    if difficulty == "hard" and not chronic or rng.random() < 0.3:
        # chronic history on a routine visit is the distractor the follow-up rule must resist
        pmh += [c[0] for c in rng.sample(CHRONIC, 2) if c[0] not in pmh]
    home_meds = [c[7] for c in CHRONIC if c[0] in pmh and c[7] != "none"]
    fu = rng.choice(CHRONIC_FU[:5] if difficulty == "easy" else CHRONIC_FU) if chronic else \
        rng.choice(ROUTINE_FU)
    age = rng.randint(19, 84)
    return {
        "cond": cond, "chronic": chronic, "age": age, "sex": rng.choice(("M", "F")),
        "concern": rng.choice(cond[2]), "duration": rng.choice(DURATIONS),
        "symptoms": symptoms, "negatives": negatives, "treatments": treatments,
        "pmh": pmh, "home_meds": home_meds, "followup": fu, "lab": _lab(rng, cond),
        "assessment": cond[5].format(lab=_lab(rng, cond)),
    }


def _person(case: dict[str, Any], rng: random.Random, terse: bool) -> str:
    if terse:
        return f"{case['age']}{case['sex']}"
    word = {"M": rng.choice(("man", "male")), "F": rng.choice(("woman", "female"))}[case["sex"]]
    return f"{case['age']}-year-old {word}"


def _hpi(case: dict[str, Any], rng: random.Random, difficulty: str) -> str:
    terse = difficulty == "hard"
    who = _person(case, rng, terse)
    verb = rng.choice(("c/o", "presents with")) if difficulty != "easy" else "presents with"
    syms = case["symptoms"]
    sym_text = ", ".join(syms[:-1]) + (" and " if len(syms) > 1 else "") + syms[-1]
    out = [f"{who} {verb} {case['concern']} x {case['duration']}." if terse else
           f"{rng.choice(('Pt is a', 'This is a', 'Patient is a'))} {who} who {verb} "
           f"{case['concern']} for the past {case['duration']}."]
    out.append(rng.choice((f"Reports {sym_text}.", f"Describes {sym_text}.",
                           f"Symptoms include {sym_text}.", f"Has noticed {sym_text}.")))
    if difficulty != "easy" and case["negatives"]:
        out.append(f"Denies {', '.join(case['negatives'][:-1])}"
                   f"{' or ' if len(case['negatives']) > 1 else ''}{case['negatives'][-1]}.")
    out += [x.format(n=rng.randint(3, 8)) for x in rng.sample(HPI_EXTRA, rng.randint(2, 4))]
    if case["chronic"]:
        out.append(rng.choice(("Adherent to current medications.", "Admits missing doses at times.",
                               "Home readings reviewed today.")))
    return " ".join(out)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP}


def _ros(cond: tuple, rng: random.Random) -> str:
    taken = _stems(" ".join(cond[3]) + " " + " ".join(cond[2]))
    parts = []
    for system, negs in ROS_SYSTEMS:
        ok = [n for n in negs if not _stems(n) & taken]
        parts.append(f"{system}: negative for {', '.join(ok)}." if len(ok) == len(negs)
                     else f"{system}: see HPI." if not ok
                     else f"{system}: see HPI; negative for {', '.join(ok)}.")
    return " ".join(parts)


def _exam(cond: tuple, rng: random.Random) -> str:
    finding = cond[6].lower()
    lines = [f"{sys}: {txt}" for sys, txt, keys in NORMAL_EXAM
             if not any(k in finding for k in keys) and rng.random() < 0.85]
    lines.append(f"Focused: {cond[6]}")
    return " ".join(lines)


def _sections(case: dict[str, Any], rng: random.Random, difficulty: str) -> list[tuple[str, str]]:
    cond = case["cond"]
    pmh = ", ".join(case["pmh"]) if case["pmh"] else rng.choice(("None.", "Unremarkable."))
    meds = "; ".join(case["home_meds"]) if case["home_meds"] else "None."
    plan = [*case["treatments"]]
    if case["home_meds"] and rng.random() < 0.5:
        plan.append("Continue other home medications.")
    plan.append(rng.choice(("Discussed diagnosis and warning signs; pt verbalised understanding.",
                            "Questions answered.", "Patient agrees with plan.")))
    plan.append(case["followup"])
    secs = [
        ("CC", case["concern"][0].upper() + case["concern"][1:] + "."),
        ("HPI", _hpi(case, rng, difficulty)),
        ("PMH", pmh), ("PSH", rng.choice(SURGICAL)), ("Meds", meds),
        ("Allergies", rng.choice(ALLERGIES)),
        ("SH", rng.choice(SOCIAL)), ("FH", rng.choice(FAMILY)),
        ("ROS", _ros(cond, rng)),
        ("Vitals", _vitals(rng)),
        ("Exam", _exam(cond, rng)),
        ("Assessment", f"{case['assessment']}."),
        ("Plan", " ".join(plan)),
    ]
    if rng.random() < 0.5:
        labs = (f"Na {rng.randint(134, 144)}, K {rng.randint(35, 50) / 10:g}, "
                f"Cr {rng.randint(6, 14) / 10:g}, Hgb {rng.randint(110, 160) / 10:g}")
        secs.insert(10, ("Labs", labs))
    return secs


HEADERS = {
    "hp": {"CC": "CHIEF COMPLAINT", "HPI": "HISTORY OF PRESENT ILLNESS", "PMH": "PAST MEDICAL HISTORY",
           "Meds": "MEDICATIONS", "Allergies": "ALLERGIES", "SH": "SOCIAL HISTORY",
           "FH": "FAMILY HISTORY", "ROS": "REVIEW OF SYSTEMS", "Vitals": "VITAL SIGNS",
           "PSH": "PAST SURGICAL HISTORY", "Labs": "LABORATORY DATA",
           "Exam": "PHYSICAL EXAMINATION", "Assessment": "ASSESSMENT", "Plan": "PLAN"},
    "abbr": {k: k for k in ("CC", "HPI", "PMH", "PSH", "Meds", "Allergies", "SH", "FH", "ROS",
                            "Vitals", "Labs", "Exam", "Assessment", "Plan")}
    | {"Exam": "PE", "Assessment": "A", "Plan": "P"},
}


def render_note(case: dict[str, Any], rng: random.Random, difficulty: str) -> str:
    secs = _sections(case, rng, difficulty)
    style = {"easy": "hp", "medium": rng.choice(("hp", "soap")),
             "hard": rng.choice(("abbr", "soap", "hp"))}[difficulty]
    header = f"{rng.choice(('Clinic note', 'Office visit', 'Progress note', 'Primary care visit'))}" \
             f" - {rng.choice(('Dr. Patel', 'Dr. Okafor', 'J. Lee, NP', 'Dr. Fischer', 'Dr. Alvarez'))}"
    if style == "soap":
        by = dict(secs)
        parts = [
            f"S: {by['CC']} {by['HPI']} PMH: {by['PMH']}. PSH: {by['PSH']} Meds: {by['Meds']}. "
            f"Allergies: {by['Allergies']}. SH: {by['SH']} FH: {by['FH']} ROS: {by['ROS']}",
            f"O: Vitals: {by['Vitals']}. {by['Exam']}" + (f" Labs: {by['Labs']}." if "Labs" in by else ""),
            f"A: {by['Assessment']}", f"P: {by['Plan']}"]
        return header + "\n\n" + "\n\n".join(parts)
    names = HEADERS[style]
    sep = ":\n" if style == "hp" and rng.random() < 0.5 else ": "
    return header + "\n\n" + "\n\n".join(f"{names[k]}{sep}{v}" for k, v in secs)


def shorthand(text: str) -> str:
    """Clinic shorthand: shortness of breath -> SOB, bilateral -> b/l, ..."""
    for long, abbr in SHORTHAND.items():
        text = re.sub(rf"\b{long}\b", abbr, text)
    return text


class MedicalExtraction(Task):
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        case = draw_case(rng, difficulty)
        note = render_note(case, rng, difficulty)
        if difficulty == "hard":
            # gold keeps the note's wording, so symptoms and concern are abbreviated too;
            # the treatment sentences are left whole because gold copies them verbatim
            note = protected_apply(note, case["treatments"], shorthand)
            case["symptoms"] = [shorthand(x) for x in case["symptoms"]]
            case["concern"] = shorthand(case["concern"])
        ref = {"patient_concern": case["concern"], "symptoms": case["symptoms"],
               "recommended_treatment": " ".join(case["treatments"]),
               "follow_up": "yes" if case["chronic"] else "no"}
        return {"fields": {"note": note}, "source": note, "reference": ref,
                "meta": {"condition": case["cond"][0], "chronic": case["chronic"],
                         "has_treatment": True, "symptoms": case["symptoms"]}}


# ---- rubric helpers (python checks) ---------------------------------------------------------

_STOP = {"the", "and", "of", "in", "on", "a", "an", "with", "to", "at", "for", "or", "both",
         "her", "his", "my", "some", "mild"}


_ABBREV_RE = re.compile(r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(ABBREV, key=len, reverse=True))
                        + r")(?![\w/])")


def expand(text: str) -> str:
    """Lower-cased text with known clinical abbreviations spelled out and punctuation dropped."""
    t = _ABBREV_RE.sub(lambda m: ABBREV[m.group(1)], text.lower())
    return " ".join(re.sub(r"[^\w\s]", " ", t).split())


def _symptom_match(a: str, b: str) -> bool:
    ea, eb = expand(a), expand(b)
    return ea == eb or ea in eb or eb in ea or fuzzy_ratio(ea, eb) >= 0.8


def _completion_obj(sample) -> tuple[Any, str]:
    obj, why = parse_json(sample.completion)
    if obj is MISSING or not isinstance(obj, dict):
        return None, why or "not a JSON object"
    return obj, ""


def _symptom_list(obj: dict[str, Any]) -> list[str] | None:
    syms = obj.get("symptoms")
    if not isinstance(syms, list):
        return None
    return [s for s in syms if isinstance(s, str) and s.strip()]


def symptoms_f1(sample, **_: Any) -> dict[str, Any]:
    """F1 of extracted vs gold symptoms (abbreviation-aware fuzzy matching); abstains without gold."""
    ref = as_json(sample.reference)
    if not isinstance(ref, dict) or not isinstance(ref.get("symptoms"), list):
        return {"status": "abstain", "reason": "no gold symptoms"}
    obj, why = _completion_obj(sample)
    if obj is None:
        return {"status": "fail", "value": 0.0, "reason": why}
    got = _symptom_list(obj)
    if got is None:
        return {"status": "fail", "value": 0.0, "reason": "symptoms is not a list"}
    gold, unused, hits = ref["symptoms"], list(got), 0
    for g in gold:
        for i, s in enumerate(unused):
            if _symptom_match(s, g):
                hits += 1
                del unused[i]
                break
    p = hits / len(got) if got else float(not gold)
    r = hits / len(gold) if gold else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"status": "pass" if f1 >= 0.999 else "fail", "value": f1,
            "reason": f"{hits}/{len(gold)} gold symptoms found, {len(got)} given"}


def symptoms_grounded(sample, **_: Any) -> dict[str, Any]:
    """Each extracted symptom is stated in the note: its content words all occur there (after
    abbreviation expansion), so "tingling in feet" counts for "tingling in both feet"."""
    obj, why = _completion_obj(sample)
    if obj is None:
        return {"status": "fail", "value": 0.0, "reason": why}
    got = _symptom_list(obj)
    if got is None:
        return {"status": "fail", "value": 0.0, "reason": "symptoms is not a list"}
    if not got:
        return {"status": "pass", "value": 1.0, "reason": "no symptoms claimed"}
    note = expand(sample.source or "")
    note_words = set(note.split())
    ungrounded = [s for s in got if expand(s) not in note
                  and not all(w in note_words for w in expand(s).split() if w not in _STOP)]
    share = 1 - len(ungrounded) / len(got)
    return {"status": "pass" if not ungrounded else "fail", "value": share,
            "reason": "all symptoms in the note" if not ungrounded else
            f"not in the note: {'; '.join(u[:40] for u in ungrounded[:3])}"}


def treatment_present(sample, **_: Any) -> dict[str, Any]:
    """When the note has a plan (meta.has_treatment) the extracted treatment is not blank."""
    if not (sample.meta or {}).get("has_treatment"):
        return {"status": "abstain", "reason": "note has no treatment plan"}
    obj, why = _completion_obj(sample)
    if obj is None:
        return {"status": "fail", "reason": why}
    t = obj.get("recommended_treatment")
    blank = not isinstance(t, str) or t.strip().lower() in ("", "none", "n/a", "null", "unknown")
    return {"status": "fail" if blank else "pass",
            "reason": "treatment blank although the note has a plan" if blank else "treatment given"}


# ---- MTSamples adapter ----------------------------------------------------------------------

_MTS_HEADER = re.compile(r",\s*([A-Z][A-Z /&()-]{2,}):\s*,?")
_PLAN = re.compile(r"\b(PLAN|RECOMMENDATIONS?|DISPOSITION)\b")
_COMPLAINT = re.compile(r"\b(CHIEF COMPLAINT|HISTORY OF PRESENT ILLNESS|SUBJECTIVE|REASON FOR "
                        r"(VISIT|CONSULTATION)|HPI)\b")


def clean_mtsamples(text: str) -> str:
    """MTSamples flattens sections into ",HEADER:," runs: restore one section per paragraph."""
    text = _MTS_HEADER.sub(lambda m: f"\n\n{m.group(1)}: ", "," + text.strip())
    return re.sub(r"[ \t]{2,}", " ", text).strip().lstrip(",").strip()


def load_mtsamples(path: Path) -> list[dict[str, Any]]:
    """Real notes with a complaint/HPI section -> inputs without gold (reference null)."""
    out = []
    for lineno, row in dataset_rows(path, "notes.jsonl", "mtsamples", ("transcription",)):
        raw = row["transcription"]
        if not isinstance(raw, str) or not _COMPLAINT.search(raw):
            continue
        note = clean_mtsamples(raw)
        out.append({"id": f"mtsamples-{row.get('note_id', lineno)}", "fields": {"note": note},
                    "source": note, "reference": None,
                    "meta": {"has_treatment": bool(_PLAN.search(raw)),
                             "specialty": row.get("medical_specialty"),
                             "description": row.get("description")}})
    return out


TASK = MedicalExtraction(
    name="medical_extraction",
    description="Clinical note -> JSON with patient_concern, symptoms, recommended_treatment, "
                "follow_up (yes for chronic conditions, no for routine); 0-5 harness score.",
    metric="score",
    scale=(0.0, 5.0),
    system_prompt=(
        "You extract key facts from clinical notes. Reply with one JSON object and nothing "
        "else: no explanation, no code fence. Keys:\n"
        '- "patient_concern": the reason for the visit in a few words, as the note states it\n'
        '- "symptoms": a list of the symptoms the patient has, in the note\'s words; leave out '
        "symptoms the patient denies\n"
        '- "recommended_treatment": the treatment the plan recommends (medications with doses, '
        "procedures, referrals, advice), copied from the plan\n"
        '- "follow_up": "yes" if the visit is for a chronic condition and the plan schedules a '
        'follow-up, "no" for a routine or self-limited problem seen only as needed\n'
        "Use only what the note says; add nothing."),
    user_template="Clinical note:\n{note}",
    adapters={"mtsamples": load_mtsamples},
)
