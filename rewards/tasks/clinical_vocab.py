"""clinical_scribe vocabulary: patient names, chronic medications, allergies and the 16 acute
presentations (descriptors, associated symptoms, negatives, exam, diagnosis, plan), plus
small talk. Data only; the generator in `clinical_scribe.py` composes transcripts from it."""

from __future__ import annotations

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


def with_units(n: float, unit: str) -> str:
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
