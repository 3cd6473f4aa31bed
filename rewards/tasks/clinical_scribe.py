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


# --- vocabulary --------------------------------------------------------------------------------
FEMALE_NAMES = ("Martha", "Aisha", "Linda", "Priya", "Rosa", "Keiko", "Fatima", "Grace", "Olivia",
                "Nadia", "Sofia", "Janet", "Mei", "Amara", "Helen", "Carmen", "Ingrid", "Dolores",
                "Tanya", "Beatriz", "Ruth", "Chloe", "Yara", "Denise")
MALE_NAMES = ("James", "Carlos", "Wei", "Ahmed", "Robert", "Tomas", "Kwame", "Daniel", "Raj",
              "Luis", "Kenji", "Peter", "Omar", "Victor", "Samuel", "Ivan", "Marcus", "Ethan",
              "Hector", "Dmitri", "Frank", "Andre", "Yusuf", "George")
SURNAMES = ("Collins", "Nguyen", "Okafor", "Garcia", "Patel", "Kowalski", "Rossi", "Haddad",
            "Johansson", "Kim", "O'Brien", "Silva", "Dubois", "Tanaka", "Martinez", "Schmidt",
            "Mensah", "Walker", "Novak", "Ramirez", "Fischer", "Abara", "Lindqvist", "Chen")
_UNIT_SPOKEN = {"mg": "milligrams", "mcg": "micrograms", "% cream": "percent cream"}


def _med(name, dose, unit, freq, freq_spoken, days=None, cls=None, doses=None):
    return {"name": name, "dose": dose, "doses": doses or [dose], "unit": unit,
            "unit_spoken": _UNIT_SPOKEN[unit], "freq": freq, "freq_spoken": freq_spoken,
            "days": days, "cls": cls}


def _x(spoken, note, *alts):
    """An exam finding or test: what the doctor says, the note line, spans the note must keep."""
    return {"spoken": spoken, "note": note, "alts": alts}


_DAILY = ("once daily", "once a day")
_BID = ("twice daily", "twice a day")
CHRONIC = (
    {"spoken": "high blood pressure", "note": "Hypertension", "meds": (
        _med("lisinopril", 10, "mg", *_DAILY, doses=[10, 20, 40]),
        _med("amlodipine", 5, "mg", *_DAILY, doses=[5, 10]),
        _med("losartan", 25, "mg", *_DAILY, doses=[25, 50, 100]))},
    {"spoken": "type two diabetes", "note": "Type 2 diabetes", "meds": (
        _med("metformin", 500, "mg", *_BID, doses=[500, 1000]),
        _med("glipizide", 5, "mg", *_DAILY, doses=[5, 10]))},
    {"spoken": "high cholesterol", "note": "Hyperlipidemia", "meds": (
        _med("atorvastatin", 20, "mg", "at bedtime", "at night", doses=[10, 20, 40]),
        _med("rosuvastatin", 10, "mg", *_DAILY, doses=[5, 10, 20]))},
    {"spoken": "thyroid", "note": "Hypothyroidism", "meds": (
        _med("levothyroxine", 50, "mcg", "every morning", "every morning", doses=[50, 75, 100]),)},
    {"spoken": "depression", "note": "Depression", "meds": (
        _med("sertraline", 50, "mg", *_DAILY, doses=[50, 100]),
        _med("escitalopram", 10, "mg", *_DAILY, doses=[10, 20]))},
    {"spoken": "acid reflux", "note": "Gastroesophageal reflux disease", "meds": (
        _med("omeprazole", 20, "mg", "daily before breakfast", "before breakfast", doses=[20, 40]),)},
    {"spoken": "afib", "note": "Atrial fibrillation", "meds": (
        _med("apixaban", 5, "mg", *_BID), _med("metoprolol", 25, "mg", *_BID, doses=[25, 50]))},
    {"spoken": "asthma", "note": "Asthma", "meds": (
        _med("fluticasone", 110, "mcg", *_BID, doses=[110, 220]),)},
)
for _c in CHRONIC:
    for _m in _c["meds"]:
        _m["doses"] = sorted(_m["doses"])
ALLERGIES = (
    {"name": "penicillin", "classes": ("penicillin",), "alts": ("penicillin",),
     "note": "Penicillin (hives).", "spoken": ("penicillin, it gives me hives.",
                                               "yeah, penicillin. i broke out in hives as a kid.")},
    {"name": "amoxicillin", "classes": ("penicillin",), "alts": ("amoxicillin",),
     "note": "Amoxicillin (rash).", "spoken": ("amoxicillin, i got a really bad rash from it.",)},
    {"name": "sulfa", "classes": ("sulfa",), "alts": ("sulfa",), "note": "Sulfa drugs (rash).",
     "spoken": ("sulfa drugs, i get a rash.", "i think sulfa? something with sulfa, a rash.")},
    {"name": "codeine", "classes": ("codeine",), "alts": ("codeine",),
     "note": "Codeine (nausea and vomiting).", "spoken": ("codeine makes me throw up.",
                                                          "codeine, it makes me so sick.")},
    {"name": "ibuprofen", "classes": ("nsaid",), "alts": ("ibuprofen",),
     "note": "Ibuprofen (lip swelling).", "spoken": ("ibuprofen, my lips swelled up once.",)},
)
_TYLENOL = _med("acetaminophen", 500, "mg", "every 6 hours as needed",
                "every six hours as needed")


def _complaint(key, cc, spoken, alts, durations, openers, variants, associated, negatives, exam,
               meds, tests, advice, pain=True, fever=False):
    """variants: (patient description, note sentence, (spoken dx, note dx)) chosen together."""
    return {"key": key, "cc": cc, "spoken": spoken, "alts": alts, "keep": alts,
            "durations": durations, "openers": openers, "variants": variants,
            "associated": associated, "negatives": negatives, "exam": exam, "plan_meds": meds,
            "tests": tests, "advice": advice, "pain": pain, "fever": fever}


_WEEKS, _DAYS = ((1, 2, 3, 4, 6), "week"), ((2, 3, 4, 5, 7, 10), "day")


def _units(n: float, unit: str) -> str:
    return f"{unit}s" if n != 1 else unit
COMPLAINTS = (
    _complaint("headache", "headache", "headaches", ("headache",), _DAYS,
               ("i've had this headache for {dur}.", "my head has been pounding for {dur}."),
               (("it's like a tight band around my whole head.", "{He} describes a band-like "
                 "pressure around the head.", ("tension headaches", "Tension-type headache")),
                ("it throbs, mostly on the left side.", "The pain is throbbing and left-sided.",
                 ("a migraine", "Migraine without aura"))),
               (("bright lights really bother me.", "{He} reports light sensitivity."),
                ("i feel a bit sick to my stomach with it.", "{He} reports mild nausea.")),
               (("fever", "fever"), ("vision changes", "vision changes"), ("weakness", "weakness")),
               (_x("your neuro exam looks completely normal and your neck isn't stiff.",
                   "Neurological exam is normal; neck is supple.", "neurological exam"),),
               (_med("sumatriptan", 50, "mg", "at headache onset", "as soon as it starts"),
                _TYLENOL), (),
               (("try to keep a headache diary for me.", "Keep a headache diary"),
                ("cut back on screen time in the evening.", "Limit evening screen time"))),
    _complaint("cough", "cough", "this cough", ("cough",), _DAYS,
               ("i've had this cough for {dur} now.", "this cough started {dur} ago."),
               (("it's a wet cough, bringing up yellow stuff.", "The cough is productive of "
                 "yellow sputum.", ("bronchitis", "Acute bronchitis")),
                ("it's dry, it just keeps me up at night.", "The cough is dry and worse at night.",
                 ("a viral bronchitis", "Viral bronchitis"))),
               (("i get a little short of breath climbing stairs.", "{He} reports mild dyspnea "
                 "on stairs."), ("i've had some chills.", "{He} reports chills.")),
               (("chest pain", "chest pain"), ("coughing up blood", "hemoptysis")),
               (_x("i hear some wheezing on both sides when i listen to your lungs.",
                   "Lungs: scattered wheezing bilaterally.", "wheezing"),
                _x("your lungs sound pretty clear, just a few crackles at the bottom.",
                   "Lungs: mostly clear with a few basilar crackles.", "crackles")),
               (_med("benzonatate", 100, "mg", "three times daily as needed",
                     "three times a day as needed"),),
               (_x("i'd like to get a chest x-ray to be safe.", "Chest x-ray",
                   "chest x-ray", "chest xray", "cxr"),),
               (("drink plenty of fluids and rest.", "Fluids and rest"),), pain=False, fever=True),
    _complaint("sore throat", "sore throat", "your throat", ("sore throat", "throat pain"), _DAYS,
               ("my throat's been really sore for {dur}.", "i've had a sore throat for {dur}."),
               (("it hurts to swallow, even water.", "{He} reports pain with swallowing.",
                 ("strep throat", "Streptococcal pharyngitis")),),
               (("i've had fevers at night.", "{He} reports fevers at night."),
                ("my neck feels swollen.", "{He} reports neck swelling.")),
               (("cough", "cough"), ("trouble breathing", "difficulty breathing")),
               (_x("your tonsils are swollen with white patches on them.",
                   "Throat: enlarged tonsils with exudate.", "exudate"),),
               (_med("amoxicillin", 500, "mg", *_BID, days=10, cls="penicillin"),
                _med("azithromycin", 250, "mg", *_DAILY, days=5)),
               (_x("the rapid strep test we did came back positive.", "Rapid strep test positive",
                   "rapid strep"),),
               (("salt water gargles will help with the pain.", "Salt water gargles"),),
               fever=True),
    _complaint("back pain", "low back pain", "your back", ("back pain",), _DAYS,
               ("my lower back has been killing me for {dur}.",
                "i hurt my back lifting boxes {dur} ago."),
               (("it's a dull ache right across the low back.", "{He} describes a dull ache "
                 "across the low back.", ("a lumbar strain", "Lumbar strain")),),
               (("it gets worse when i bend over.", "The pain is worse with bending."),
                ("sitting for long is hard.", "Prolonged sitting aggravates it.")),
               (("numbness in your legs", "leg numbness"), ("trouble with your bladder",
                                                            "bladder dysfunction")),
               (_x("you're tender along the muscles of your lower back and the straight leg "
                   "raise is negative.", "Lumbar paraspinal tenderness; straight leg raise "
                   "negative.", "paraspinal tenderness"),),
               (_med("naproxen", 500, "mg", *_BID, cls="nsaid"),
                _med("cyclobenzaprine", 10, "mg", "at bedtime", "at bedtime")),
               (_x("i'm going to refer you to physical therapy.", "Referral to physical therapy",
                   "physical therapy"),),
               (("use heat and keep moving gently.", "Heat and gentle activity"),)),
    _complaint("knee pain", "right knee pain", "your knee", ("knee pain",), _WEEKS,
               ("my right knee has been bothering me for {dur}.",
                "it's my right knee, for about {dur} now."),
               (("it aches and it's stiff in the morning.", "{He} reports aching and morning "
                 "stiffness.", ("osteoarthritis of the knee", "Right knee osteoarthritis")),),
               (("it swells up after i walk a lot.", "{He} reports swelling after walking."),
                ("stairs are tough.", "Stairs aggravate the pain.")),
               (("locking or giving way", "locking or instability"), ("fever", "fever")),
               (_x("there's a small effusion and some tenderness along the inside of the knee.",
                   "Right knee: small effusion, medial joint line tenderness.", "effusion"),),
               (_med("meloxicam", 15, "mg", *_DAILY, cls="nsaid"), _TYLENOL),
               (_x("let's get an x-ray of the knee.", "X-ray of the right knee", "x-ray",
                   "xray", "radiograph"),),
               (("try to lose a little weight and do the quad exercises.",
                 "Weight loss and quadriceps strengthening"),)),
    _complaint("dizziness", "dizziness", "the dizziness", ("dizziness", "dizzy"), _DAYS,
               ("i've been getting dizzy spells for {dur}.", "the room spins, for {dur} now."),
               (("it happens when i roll over in bed.", "Episodes occur when rolling over in "
                 "bed.", ("benign positional vertigo", "Benign paroxysmal positional vertigo")),),
               (("it only lasts a minute or so.", "Episodes last about a minute."),
                ("i feel nauseous with it.", "{He} reports nausea with the episodes.")),
               (("hearing loss", "hearing loss"), ("slurred speech", "slurred speech")),
               (_x("when i tilted you back, the dix-hallpike brought on the spinning.",
                   "Dix-Hallpike maneuver positive.", "dix-hallpike", "dix hallpike"),),
               (_med("meclizine", 25, "mg", "three times daily as needed",
                     "three times a day as needed"),),
               (_x("i'll send you to vestibular therapy.", "Referral to vestibular therapy",
                   "vestibular"),),
               (("you can do the epley maneuver at home.", "Home Epley maneuvers"),), pain=False),
    _complaint("urinary burning", "burning with urination", "the burning",
               ("burning with urination", "dysuria", "painful urination"), _DAYS,
               ("it burns when i pee, for {dur}.", "i've had burning when i urinate for {dur}."),
               (("and i have to go all the time.", "{He} reports urinary frequency.",
                 ("a bladder infection", "Urinary tract infection")),),
               (("there's some pressure low in my belly.", "{He} reports suprapubic pressure."),),
               (("back pain", "flank pain"), ("fever", "fever")),
               (_x("you're a bit tender right above the pubic bone.",
                   "Abdomen: mild suprapubic tenderness.", "suprapubic tenderness"),),
               (_med("nitrofurantoin", 100, "mg", *_BID, days=5),),
               (_x("we'll check a urinalysis and send a culture.", "Urinalysis and urine culture",
                   "urinalysis"),),
               (("drink extra water.", "Increase water intake"),)),
    _complaint("rash", "rash", "this rash", ("rash",), _DAYS,
               ("i've got this itchy rash on my arms for {dur}.",
                "this rash showed up {dur} ago."),
               (("it started after i switched laundry soap.", "Onset followed a change of "
                 "laundry detergent.", ("contact dermatitis", "Contact dermatitis")),),
               (("it itches like crazy.", "{He} reports intense itching."),),
               (("fever", "fever"), ("mouth sores", "mouth sores")),
               (_x("it's a red bumpy rash on both forearms, no blisters.",
                   "Skin: erythematous papular rash on both forearms.", "forearms"),),
               (_med("triamcinolone", 0.1, "% cream", *_BID),), (),
               (("go back to your old detergent.", "Avoid the new detergent"),), pain=False),
    _complaint("fatigue", "fatigue", "being so tired", ("fatigue", "tired"), _WEEKS,
               ("i've been exhausted for {dur}.", "i'm just tired all the time, for {dur}."),
               (("even after a full night of sleep.", "{He} remains tired despite a full night "
                 "of sleep.", ("fatigue, maybe anemia or thyroid", "Fatigue, rule out anemia "
                 "and hypothyroidism")),),
               (("i get winded easily.", "{He} reports getting winded easily."),
                ("i'm always cold.", "{He} reports cold intolerance.")),
               (("weight loss", "weight loss"), ("night sweats", "night sweats")),
               (_x("you look a little pale, but your heart and lungs sound fine.",
                   "Pale conjunctivae; heart and lungs normal.", "pale"),),
               (), (_x("we'll check a blood count and thyroid levels.", "CBC and TSH", "cbc"),),
               (("keep a regular sleep schedule.", "Regular sleep schedule"),), pain=False),
    _complaint("wheezing", "shortness of breath", "your breathing",
               ("shortness of breath", "short of breath"), _DAYS,
               ("i've been short of breath for {dur}.", "my breathing's been bad for {dur}."),
               (("and i'm wheezing, especially at night.", "{He} reports nighttime wheezing.",
                 ("an asthma flare", "Asthma exacerbation")),),
               (("i've been using my inhaler a lot more.", "{He} reports increased inhaler use."),),
               (("chest pain", "chest pain"), ("leg swelling", "leg swelling")),
               (_x("you've got expiratory wheezes all over.", "Lungs: diffuse expiratory wheezes.",
                   "expiratory wheez"),),
               (_med("prednisone", 40, "mg", *_DAILY, days=5),), (),
               (("stay away from smoke and your triggers.", "Avoid smoke and known triggers"),),
               pain=False),
    _complaint("ear pain", "left ear pain", "your ear", ("ear pain",), _DAYS,
               ("my left ear has been hurting for {dur}.", "this earache started {dur} ago."),
               (("it's a deep, sharp pain.", "{He} describes a deep, sharp pain.",
                 ("an ear infection", "Left acute otitis media")),),
               (("my hearing's a bit muffled on that side.", "{He} reports muffled hearing."),),
               (("drainage from the ear", "ear drainage"), ("dizziness", "dizziness")),
               (_x("your left eardrum is red and bulging.", "Left tympanic membrane erythematous "
                   "and bulging.", "tympanic membrane", "eardrum"),),
               (_med("amoxicillin", 500, "mg", *_BID, days=10, cls="penicillin"),
                _med("azithromycin", 250, "mg", *_DAILY, days=5)), (),
               (("warm compresses can help.", "Warm compresses"),), fever=True),
    _complaint("ankle", "left ankle pain", "your ankle", ("ankle",), _DAYS,
               ("i rolled my left ankle {dur} ago.", "i twisted my ankle playing soccer {dur} ago."),
               (("it swelled up right away.", "Swelling began immediately after the injury.",
                 ("an ankle sprain", "Left ankle sprain")),),
               (("i can walk on it, but it hurts.", "{He} can bear weight with pain."),),
               (("numbness in your foot", "foot numbness"), ("a popping sound", "an audible pop")),
               (_x("there's swelling and tenderness over the outside of the ankle.",
                   "Left ankle: lateral swelling and tenderness.", "lateral swelling"),),
               (_med("ibuprofen", 600, "mg", "every 8 hours as needed", "every eight hours as "
                     "needed", cls="nsaid"), _TYLENOL),
               (_x("let's get an x-ray of the ankle.", "X-ray of the left ankle", "x-ray", "xray",
                   "radiograph"),),
               (("rest, ice, compression and elevation.", "Rest, ice, compression, elevation"),)),
    _complaint("vomiting", "nausea and vomiting", "the stomach bug", ("vomiting",), _DAYS,
               ("i've been throwing up for {dur}.", "i've had vomiting for {dur}."),
               (("i can't keep much down.", "{He} has difficulty keeping fluids down.",
                 ("a stomach virus", "Viral gastroenteritis")),),
               (("and some diarrhea.", "{He} reports diarrhea."),),
               (("blood in the vomit", "hematemesis"), ("black stools", "melena")),
               (_x("your belly is soft with just mild tenderness everywhere.",
                   "Abdomen: soft, mild diffuse tenderness.", "diffuse tenderness"),),
               (_med("ondansetron", 4, "mg", "every 8 hours as needed",
                     "every eight hours as needed"),), (),
               (("small sips of fluids, often.", "Small frequent sips of fluids"),)),
    _complaint("insomnia", "trouble sleeping", "the sleep", ("sleep",), _WEEKS,
               ("i haven't been sleeping well for {dur}.", "i can't sleep, it's been {dur}."),
               (("i lie awake for hours.", "{He} lies awake for hours before falling asleep.",
                 ("insomnia", "Insomnia")),),
               (("work stress is part of it.", "{He} attributes it partly to work stress."),),
               (("snoring", "snoring"), ("low mood", "low mood")),
               (_x("your exam is normal today.", "Exam unremarkable.", "unremarkable"),),
               (_med("trazodone", 50, "mg", "at bedtime", "at bedtime"),), (),
               (("no screens an hour before bed.", "No screens an hour before bed"),), pain=False),
    _complaint("chest pain", "chest pain", "the chest pain", ("chest pain",), _DAYS,
               ("i've had this pain in my chest for {dur}.", "my chest has been hurting for {dur}."),
               (("it's sharp and worse when i press on it.", "The pain is sharp and reproducible "
                 "with palpation.", ("costochondritis", "Costochondritis")),),
               (("it hurts more when i take a deep breath.", "It worsens with deep breaths."),),
               (("shortness of breath", "shortness of breath"), ("sweating", "diaphoresis")),
               (_x("pressing here on your breastbone reproduces it.", "Chest wall tenderness over "
                   "the sternum.", "chest wall tenderness"),),
               (_med("ibuprofen", 600, "mg", "every 8 hours as needed", "every eight hours as "
                     "needed", cls="nsaid"), _TYLENOL),
               (_x("i want an ekg today to be safe.", "EKG", "ekg", "ecg", "electrocardiogram"),),
               (("avoid heavy lifting for now.", "Avoid heavy lifting"),)),
)
SMALL_TALK = (
    ("how was the drive in?", "oh, traffic on the highway was terrible, there was an accident "
     "near the bridge and everyone was slowing down to look.", "that's the worst. glad you made "
     "it."),
    ("did you do anything fun this weekend?", "we went to my niece's birthday party, she turned "
     "seven, so it was a lot of screaming kids and cake.", "sounds exhausting but fun."),
    ("are you still doing the gardening?", "yes, the tomatoes did great this year, the squash "
     "not so much, something kept eating the leaves.", "probably the rabbits. we have the same "
     "problem."),
    ("how's work been?", "busy. we're short staffed so i've been covering extra shifts and "
     "coming home pretty late most nights.", "that's a lot. try to take a break when you can."),
    ("did you catch the game last night?", "i did, what a finish. i couldn't believe they came "
     "back in the last few minutes.", "my son was yelling at the tv the whole time."),
    ("how are the grandkids?", "growing so fast. the oldest just started high school and the "
     "little one is learning to ride a bike.", "that's wonderful."),
    ("i like your jacket.", "thanks, my daughter got it for me. it's warmer than it looks.",
     "good, it's getting cold out there."),
    ("are you still walking the dog every morning?", "most mornings, yeah. he's getting old "
     "though, so the walks are shorter and slower now.", "that's still good for both of you."),
    ("how was your trip?", "it was nice. we drove up the coast, stopped at a few little towns, "
     "ate way too much seafood.", "sounds lovely. i need a vacation myself."),
    ("sorry about the wait today.", "no problem, i had my book. the waiting room was pretty full "
     "though.", "it's been a busy morning. thanks for your patience."),
    ("so the nurse mentioned you moved recently?", "yes, we finally found a place closer to my "
     "work, so the commute is only ten minutes now.", "that must make a big difference."),
    ("how's the family doing?", "everyone's okay. my partner retired last spring and now is home "
     "all day reorganizing the garage.", "that's a classic retirement project."),
    ("are you still doing the night classes?", "yeah, two more semesters and i'm done with the "
     "nursing program, if i survive the exams.", "you'll do great."),
    ("i saw you brought your own water bottle, good for you.", "i'm trying to drink more water, "
     "my sister said it helps with everything.", "she's not wrong."),
    ("it's been raining all week, huh?", "all week. my basement flooded a little on tuesday, we "
     "had to move everything upstairs.", "oh no, i hope nothing got ruined."),
    ("did you get the flu shot this year?", "not yet, i keep meaning to. can i get it here "
     "today?", "we can do that at the end of the visit."),
    ("how's the new job going?", "it's good. the people are nice, the pay is better, the "
     "parking is a nightmare though.", "there's always something."),
    ("any plans for the holidays?", "we're hosting this year, so i'll be cooking for about "
     "fifteen people, which is a little scary.", "that's ambitious. good luck."),
    ("are you still painting?", "a little. i finished a landscape last month, my friend wants "
     "to hang it in her cafe.", "that's exciting."),
    ("how's your mom doing?", "she's hanging in there. she's in assisted living now and she "
     "actually likes it, she plays cards every afternoon.", "i'm glad she's settled in."),
    ("okay, let me just pull up your chart here. the computer is slow this morning.", "take your "
     "time.", "there we go. okay."),
    ("so i'm going to be using this recording app to help me write the note, is that okay?",
     "sure, that's fine.", "great. it just lets me focus on you instead of the keyboard."),
    ("have you been able to exercise at all?", "i try to walk at lunch, maybe twenty minutes, "
     "but some weeks it just doesn't happen.", "every bit counts."),
    ("how's your diet been?", "honestly not great. lots of takeout since things got busy, and "
     "too much coffee.", "we can talk about small changes."),
    ("i heard you're volunteering at the food bank now.", "yes, every saturday morning. it's "
     "really rewarding, and i've met some great people.", "that's wonderful to hear."),
    ("are the kids back in school?", "yes, thank goodness. summer was long. they each caught a "
     "cold the first week back of course.", "that always happens."),
)


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
                "c": c, "n": n, "unit": _units(n, c["durations"][1]),
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
        self.follow_up = (n, _units(n, unit))

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
