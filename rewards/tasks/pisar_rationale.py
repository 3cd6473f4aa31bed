"""pisar_rationale: an app-store review + the user's demographic profile -> the user's
behavioural rationale (why this person, being who they are, acted and felt as the review shows).

Metric `sem_sim`, as in the PiSAR study: embedding cosine between the generated rationale and
the reference (all-MiniLM-L6-v2, offline), reported two ways:

- mean similarity: the harness score itself. The rubric has one `semantic_similarity` check,
  so score = normalized = the cosine (clamped to [0, 1]); its mean is
  `rewards.summarize(results)["score_mean"]` (W&B: `reward/total`).
- share of rationales with similarity >= 0.7: the check's threshold is 0.7, so its verdict is
  "pass" exactly when cosine >= 0.7, and the pass rate of check `sem_sim`,
  `summarize(results)["checks"]["sem_sim"]["pass_rate"]` (W&B:
  `reward/check/sem_sim/pass_rate`), is that share.

The rubric deliberately carries no judge check: any second check would move the harness score
away from the study's metric.

Generator (no public PiSAR copy exists): 20 rationale types (price sensitivity, accessibility,
privacy, learning curve after a redesign, connectivity, old device, professional need, social
pull, support failures, notification overload, ads, localisation, safety, streak motivation,
child safety, health management, trust after a billing error, time saving), each tied to the
profile attributes that make it inferable, over 48 apps in 15 categories. Reviews come in
several styles (terse, story, ranty, emoji, sarcastic, non-native phrasing) with typo and
casing noise; profiles list 5-9 attributes in varying order, most of them distractors.
Difficulty: easy = explicit review and few distractors; medium = more distractors and noise;
hard = the review states the behaviour but not the reason, which must come from the profile.

Adapter for users who hold the PiSAR data: a folder (or a file) of JSONL, JSON (a list) or CSV
rows with columns
    review     (required) the review text
    profile    (required) demographic profile: text, or a JSON object {attribute: value}
    rationale  (optional) reference rationale; rows without it get reference null
    id, app, rating (optional)

Probes (`python -m rewards.probe --task pisar_rationale`, benchmarks/results/probes.md): the
score is the study's embedding similarity, so a judge master key or an empty answer kept a
cosine of up to 0.26 before the `substantive` pitfall (0 now). Invented details (names,
numbers swapped) kept 0.95 of the similarity, chat prose around the rationale 0.86 and the
text repeated 0.82; pitfalls now take half the score for a name or number the prompt never
mentions (0.45) and all of it for a wrapper or a repeat (0). Still not caught without a
judge: a rationale that cites the wrong profile attribute in plain words (the prompt pasted
back keeps 0.44).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from rewards.tasks.base import Task, TaskError
from rewards.tasks.text_noise import casual_case, typo_noise

SYSTEM_PROMPT = (
    "You explain app users' behaviour. Given one app-store review and the reviewer's "
    "demographic profile, write the user's behavioural rationale: in 1-3 sentences, say what "
    "the user did or intends to do with the app and why, connecting the review to the parts of "
    "the profile that explain it. Ignore profile details that do not matter. Write in the "
    "third person ('The user ...'). Reply with the rationale only."
)
USER_TEMPLATE = (
    "App: {app} ({category})\nRating: {rating}/5\nReview: {review}\n\nUser profile:\n{profile}"
)

APPS = {
    "fitness": ("StrideLog", "PulseFit", "RunHive", "CoreCoach"),
    "finance": ("PennyWise", "Northbank Mobile", "LedgerLite", "Coinpath"),
    "food delivery": ("DashBite", "GrubRoute", "Platewise"),
    "ride-hailing": ("Hopr", "CityCab", "Rydely"),
    "language learning": ("Lingo Sprout", "Parlez", "WordNest"),
    "meditation": ("CalmNest", "Stillpoint", "Breathe Easy"),
    "photo editing": ("Lumio", "Framecraft", "PixelPress"),
    "social media": ("Chirply", "Circlet", "Snapgram"),
    "navigation": ("RouteWise", "Waymark", "OpenTrail"),
    "health": ("GlucoTrack", "MedMinder", "CareLink Telehealth"),
    "messaging": ("ChatterBox", "Whisp", "Relay"),
    "kids education": ("Tiny Tutors", "ABC Rocket", "Brainy Bears"),
    "productivity": ("TaskTide", "Notably", "FocusGrid"),
    "shopping": ("ShopSavvy", "Cartly", "DealDrop"),
    "dating": ("Kindred", "Sparkmatch", "Tandem Hearts"),
}

OCCUPATIONS = ("nurse", "software developer", "high school teacher", "truck driver", "accountant",
               "warehouse worker", "graphic designer", "small-business owner", "cashier",
               "electrician", "marketing manager", "farmer", "pharmacist", "chef", "journalist",
               "lawyer", "social worker", "delivery driver", "civil engineer", "hairdresser",
               "photographer", "bank clerk", "construction worker", "call-center agent")
RETIRED = ("retired teacher", "retired postal worker", "retired engineer", "retired nurse",
           "retired shop owner", "retired bus driver")
STUDENTS = ("university student", "high school student", "nursing student",
            "community college student", "graduate student")
PLACES = ("a large city in the United States", "a suburb of Toronto", "a rural village in Kenya",
          "a small town in Ohio", "central London", "a farming area in rural India",
          "Manila", "a coastal town in Portugal", "Berlin", "rural Australia", "Lagos",
          "a mountain village in Peru", "Seoul", "a small town in Poland", "São Paulo")
RURAL = ("a rural village in Kenya", "a farming area in rural India", "rural Australia",
         "a mountain village in Peru", "a remote island in Scotland", "a rural county in Montana")
DEVICES = ("the latest iPhone", "a mid-range Android phone", "a budget Android phone",
           "an iPad", "a two-year-old Samsung phone")
OLD_DEVICES = ("a six-year-old Android phone with little storage",
               "an old hand-me-down iPhone 7", "a cheap Android phone bought secondhand")
HOUSEHOLDS = ("lives alone", "married, no children", "married with two young children",
              "single parent of a toddler", "shares a flat with roommates",
              "lives with elderly parents", "lives with a partner and a teenage son")
HOBBIES = ("gardening", "football", "cooking", "video games", "hiking", "knitting", "chess",
           "church choir", "photography", "cycling", "reading mysteries", "woodworking")


def _type(name, categories, profile, who, reasons, behaviours, rating):
    """A rationale type. reasons/behaviours: (what the review says, what the rationale says).
    `profile` fixes the attributes that make the rationale inferable; `who` describes the
    user from them."""
    return {"name": name, "categories": categories, "profile": profile, "who": who,
            "reasons": reasons, "behaviours": behaviours, "rating": rating}


_OLD = {"age": (66, 86), "occupation": RETIRED}
TYPES = (
    _type("price_sensitivity", ("fitness", "meditation", "language learning", "productivity",
                                "photo editing"),
          {"income": ("low",), "occupation": STUDENTS + RETIRED + ("cashier", "warehouse worker")},
          "a {occupation} on a low income",
          (("they doubled the subscription price overnight", "finds the new subscription price "
            "too expensive for a tight budget"),
           ("everything useful is now behind the premium paywall", "cannot justify paying for "
            "premium features on a limited income")),
          (("cancelled my subscription", "cancelled the subscription"),
           ("switched to a free app", "moved to a free alternative"),
           ("just use the free version now", "downgraded to the free version")), (1, 2)),
    _type("accessibility", ("finance", "health", "messaging", "shopping"),
          {**_OLD, "health": ("low vision", "cataracts", "macular degeneration")},
          "a {age}-year-old {occupation} with {health}",
          (("the text is so tiny i can't read it even with my glasses", "struggles to read the "
            "small text and low-contrast buttons because of poor eyesight"),
           ("the buttons are too small and the colours are too faint", "cannot see or hit the "
            "small, faint buttons because of poor vision")),
          (("had to ask my grandson to do it for me", "depends on family members to use the app"),
           ("i've stopped using it", "stopped using the app"),
           ("one star until they add bigger text", "gave a low rating to push for larger text")),
          (1, 2)),
    _type("privacy", ("social media", "navigation", "shopping", "fitness", "messaging"),
          {"occupation": ("lawyer", "journalist", "software developer"), "tech": ("high",)},
          "a {occupation} who is very aware of how apps use personal data",
          (("it wants my contacts and location just to work", "sees the demand for contacts and "
            "location access as unnecessary data collection"),
           ("they share your data with advertisers, it's in the fine print", "distrusts the app "
            "for sharing personal data with advertisers")),
          (("deleted it", "uninstalled the app"), ("denied every permission", "refused the "
                                                    "permissions the app asks for"),
           ("i'm moving to something open source", "switched to a privacy-friendly "
            "alternative")), (1, 2)),
    _type("learning_curve", ("finance", "messaging", "health", "navigation", "shopping"),
          {"tech": ("low",), "age": (58, 80)},
          "a {age}-year-old with little confidence using technology",
          (("the new update moved everything around and i can't find anything",
            "is confused by the redesign that moved familiar features around"),
           ("too many menus now, it used to be simple", "finds the new, more complex menus "
            "too hard to learn")),
          (("i give up on it", "abandoned the app"),
           ("went back to doing it on paper", "returned to doing the task on paper"),
           ("i call the helpline instead now", "phones customer service instead of using the "
            "app")), (1, 2)),
    _type("connectivity", ("navigation", "messaging", "health", "language learning", "finance"),
          {"location": RURAL},
          "someone living in {location} with patchy mobile coverage",
          (("it's useless without a strong signal", "cannot use the app reliably on a weak "
            "mobile signal"),
           ("nothing loads unless i'm on wifi and there's no offline mode", "needs an offline "
            "mode because the connection at home is poor")),
          (("only use it when i'm in town", "only uses the app when visiting town"),
           ("went back to the old way", "fell back to doing things without the app"),
           ("two stars till they add offline mode", "rated the app low to ask for an offline "
            "mode")), (1, 3)),
    _type("old_device", ("social media", "photo editing", "shopping", "food delivery"),
          {"income": ("low",), "device": OLD_DEVICES},
          "a user on a low income who owns {device}",
          (("it eats my battery and the phone gets hot", "finds the app drains the battery of "
            "an old phone"),
           ("every update makes it bigger and slower, it crashes all the time", "experiences "
            "crashes because the app has grown too heavy for an old phone")),
          (("deleted it to free up space", "uninstalled the app to free storage"),
           ("i use the website instead", "switched to the mobile website"),
           ("stopped updating it", "stopped installing updates")), (1, 2)),
    _type("professional_need", ("photo editing", "productivity", "finance"),
          {"occupation": ("photographer", "graphic designer", "accountant",
                          "small-business owner"), "income": ("middle", "high")},
          "a {occupation} who uses the app for paid work",
          (("the raw editing and batch export save me hours on every job", "values the "
            "professional features because they save time on client work"),
           ("the invoice export is exactly what my clients need", "needs the export features "
            "to deliver work to clients")),
          (("upgraded to pro without thinking twice", "upgraded to the paid professional plan"),
           ("use it every single day", "relies on the app daily for work"),
           ("recommended it to my whole team", "recommended the app to colleagues")), (4, 5)),
    _type("social_pull", ("social media", "messaging", "fitness"),
          {"age": (15, 22), "occupation": STUDENTS},
          "a {age}-year-old {occupation} whose friends all use the app",
          (("all my friends are on here", "stays where their friends are"),
           ("it's how my group chats and plans stuff", "depends on the app to keep up with "
            "their friend group")),
          (("i'd never delete it even with the bugs", "keeps using the app despite its "
            "problems"), ("i'm on it every day", "opens the app every day"),
           ("got my cousins to join too", "invited relatives to join")), (3, 5)),
    _type("support_failure", ("finance", "food delivery", "shopping", "ride-hailing"),
          {"occupation": ("small-business owner", "accountant", "marketing manager")},
          "a {occupation} who expects problems to be solved quickly",
          (("support never answered my three emails", "is frustrated that customer support "
            "never responded"),
           ("the chatbot goes in circles and there's no human", "cannot reach a human support "
            "agent to fix a problem")),
          (("took my business elsewhere", "moved to a competitor"),
           ("posting this so others know", "wrote a public review to warn other users"),
           ("cancelled my account", "closed the account")), (1, 1)),
    _type("notification_overload", ("shopping", "social media", "food delivery",
                                    "language learning"),
          {"occupation": ("nurse", "software developer", "high school teacher", "lawyer"),
           "household": ("married with two young children", "single parent of a toddler")},
          "a busy {occupation} who {household}",
          (("it pings me ten times a day with deals i don't want", "is overwhelmed by constant "
            "promotional notifications"),
           ("notifications at 6am on a sunday, really?", "is annoyed by notifications at "
            "inconvenient times")),
          (("turned off all notifications", "disabled the app's notifications"),
           ("deleted it, my time matters", "uninstalled the app to protect their time")),
          (1, 3)),
    _type("ads", ("social media", "fitness", "language learning", "navigation"),
          {"occupation": STUDENTS, "income": ("low",), "age": (16, 25)},
          "a {age}-year-old {occupation} who cannot afford subscriptions",
          (("an ad after every single thing i do", "is annoyed by the ads interrupting every "
            "use"),
           ("video ads with sound, constantly", "finds the frequent loud video ads "
            "disruptive")),
          (("still use it because it's free", "tolerates the ads because the app is free"),
           ("found a free app with fewer ads", "switched to a free app with fewer ads")), (2, 3)),
    _type("localisation", ("finance", "health", "shopping", "ride-hailing"),
          {"language": ("Spanish (native), English (basic)", "Tagalog (native), English "
                        "(basic)", "Portuguese (native), English (limited)")},
          "a user whose first language is {language_short} and who reads English with "
          "difficulty",
          (("no spanish option and the english is hard for me", "cannot use the app comfortably "
            "because it is not available in their native language"),
           ("the translation is wrong, i paid the wrong bill", "made mistakes because of the "
            "poor translation")),
          (("my daughter does it for me now", "relies on a family member to use the app"),
           ("i use another app in my language", "switched to an app in their own language")),
          (1, 2)),
    _type("safety_trust", ("ride-hailing",),
          {"gender": ("female",), "occupation": ("nurse", "chef", "call-center agent",
                                                 "bartender")},
          "a woman who often travels alone late at night after work as a {occupation}",
          (("the share-my-trip feature makes me feel safe", "feels safer because of the trip "
            "sharing and safety features"),
           ("i can see the driver's photo and plate before i get in", "trusts the driver "
            "verification details when travelling alone")),
          (("it's the only one i use at night", "uses only this app for late journeys"),
           ("told my coworkers on the night shift to get it", "recommended the app to "
            "colleagues who also work nights")), (4, 5)),
    _type("safety_incident", ("ride-hailing", "dating"),
          {"gender": ("female",), "occupation": ("nurse", "chef", "call-center agent",
                                                 "bartender")},
          "a woman who often travels alone late at night after work as a {occupation}",
          (("the driver went off route and support didn't care", "no longer feels safe after a "
            "driver went off route and support ignored it"),
           ("a match kept messaging me after i blocked him", "feels unsafe because blocking "
            "did not stop harassment")),
          (("i won't use them again", "stopped using the app"),
           ("reported it and deleted my account", "reported the incident and deleted the "
            "account")), (1, 1)),
    _type("streak_motivation", ("language learning", "fitness", "meditation"),
          {"age": (18, 35), "hobbies": ("video games", "chess", "cycling")},
          "a competitive {age}-year-old who enjoys games",
          (("my 200 day streak keeps me going", "is motivated by keeping the daily streak "
            "alive"), ("the leaderboard is addictive", "is driven by competing on the "
                       "leaderboard")),
          (("i open it every day no matter what", "uses the app every day"),
           ("paid for streak freezes", "paid for extras to protect the streak")), (4, 5)),
    _type("child_safety", ("kids education", "messaging", "social media"),
          {"household": ("married with two young children", "single parent of a toddler"),
           "age": (28, 44)},
          "a parent of young children",
          (("the parental controls are solid and there are no ads", "trusts the app because "
            "its parental controls and lack of ads keep the children safe"),
           ("i can set screen time limits for each kid", "values being able to limit the "
            "children's screen time")),
          (("let my kids use it on their own", "lets the children use the app unsupervised"),
           ("paid for the family plan", "bought the family plan")), (4, 5)),
    _type("child_exposure", ("kids education", "social media"),
          {"household": ("married with two young children", "single parent of a toddler"),
           "age": (28, 44)},
          "a parent of young children",
          (("my kid saw an inappropriate ad in a kids app", "is alarmed that the children saw "
            "inappropriate content"),
           ("strangers can message kids through the chat", "worries that strangers can contact "
            "the children")),
          (("deleted it from the family tablet", "removed the app from the children's device"),
           ("reported it to the store", "reported the app to the app store")), (1, 1)),
    _type("health_management", ("health",),
          {"health": ("type 1 diabetes", "high blood pressure", "asthma")},
          "a user living with {health}",
          (("logging my readings takes seconds and my doctor sees them", "values how easily "
            "readings are logged and shared with the doctor"),
           ("the medication reminders actually work", "relies on the reminders to take "
            "medication on time")),
          (("use it every day", "uses the app every day to manage the condition"),
           ("told my support group about it", "recommended the app to others with the same "
            "condition")), (4, 5)),
    _type("billing_error", ("finance", "food delivery", "shopping"),
          {**_OLD, "income": ("low", "middle")},
          "a {age}-year-old {occupation} living on a fixed pension",
          (("charged me twice and took two weeks to refund", "lost trust after being charged "
            "twice on a fixed income"),
           ("hidden fees showed up on my statement", "feels deceived by unexpected fees")),
          (("moved my money to another bank", "moved their money to a different provider"),
           ("cancelled and warned my friends", "cancelled and warned friends to avoid the "
            "app")), (1, 1)),
    _type("time_saving", ("food delivery", "productivity", "shopping"),
          {"occupation": ("nurse", "delivery driver", "chef", "social worker"),
           "household": ("single parent of a toddler", "married with two young children")},
          "a {occupation} working long shifts who {household}",
          (("groceries in two taps after a 12 hour shift, lifesaver", "values saving time and "
            "effort after long shifts"), ("it plans my week so i don't have to think",
                                          "values how the app takes planning off their hands")),
          (("use it several times a week", "uses the app several times a week"),
           ("pay for the subscription happily", "pays for the subscription because of the time "
            "saved")), (4, 5)),
)
_LABELS = {"age": ("Age",), "gender": ("Gender",), "occupation": ("Occupation", "Job"),
           "location": ("Location", "Lives in"), "tech": ("Tech savviness",
                                                        "Comfort with technology"),
           "income": ("Income", "Income level"), "household": ("Household",),
           "device": ("Device", "Phone"), "health": ("Health", "Health conditions"),
           "language": ("Languages",), "hobbies": ("Hobbies", "Interests")}
_RATIONALES = ("The user, {who}, {r}, so the user {b}.",
               "As {who}, the user {r}. That is why the user {b}.",
               "The user {b}. Being {who}, the user {r}.",
               "Because the user is {who} and {r}, the user {b}.")
_OPENERS = ("", "Honestly, ", "Update: ", "Ok so ", "Long time user here. ", "Wow. ")
# closers by rating: a 5-star review does not end "would not recommend"
_CLOSERS = {1: ("", " Fix it please.", " Do better.", " Would not recommend.", " Whatever."),
            2: ("", " Fix it please.", " Just my two cents.", " Do better."),
            3: ("", " Just my two cents.", " Could be better."),
            4: ("", " Thanks devs!", " Just my two cents."),
            5: ("", " Thanks devs!", " 10/10.", " Love it.")}
_EMOJI = {1: " 😡", 2: " 👎", 3: " 😐", 4: " 👍", 5: " 😍🙌"}
_EXTRA = {"easy": 2, "medium": 4, "hard": 5}


def _profile(rng: random.Random, t: dict) -> dict[str, Any]:
    over = t["profile"]
    lo, hi = over.get("age", (18, 75))
    age = rng.randint(lo, hi)
    default_occ = STUDENTS if age < 23 else RETIRED if age >= 66 else OCCUPATIONS
    lang = rng.choice(over.get("language", ("English (native)", "English (native), French "
                                            "(basic)", "English (native), Spanish (fluent)")))
    return {
        "age": age,
        "gender": rng.choice(over.get("gender", ("female", "male", "female", "male",
                                                  "non-binary"))),
        "occupation": rng.choice(over.get("occupation", default_occ)),
        "location": rng.choice(over.get("location", PLACES)),
        "tech": rng.choice(over.get("tech", ("low", "medium", "high"))),
        "income": rng.choice(over.get("income", ("low", "middle", "high"))),
        "household": rng.choice(over.get("household", HOUSEHOLDS)),
        "device": rng.choice(over.get("device", DEVICES)),
        "health": rng.choice(over.get("health", ("none", "none", "seasonal allergies"))),
        "language": lang,
        "language_short": lang.split(" (")[0],
        "hobbies": ", ".join(dict.fromkeys([rng.choice(over.get("hobbies", HOBBIES)),
                                            rng.choice(HOBBIES)])),
    }


def _profile_text(rng: random.Random, t: dict, prof: dict[str, Any], difficulty: str) -> str:
    """The fields the rationale rests on, age/gender/occupation, and distractors."""
    needed = [k for k in t["profile"] if k in _LABELS]
    base = [k for k in ("age", "gender", "occupation") if k not in needed]
    rest = [k for k in _LABELS if k not in needed and k not in base]
    keys = needed + base + rng.sample(rest, _EXTRA[difficulty])
    if difficulty == "easy":
        keys = sorted(keys, key=list(_LABELS).index)
    else:
        rng.shuffle(keys)
    return "\n".join(f"{rng.choice(_LABELS[k])}: {prof[k]}" for k in keys)


def _review(rng: random.Random, reason: str, behaviour: str, rating: int,
            difficulty: str) -> str:
    reason, behaviour = reason[0].upper() + reason[1:], behaviour[0].upper() + behaviour[1:]
    if difficulty == "hard" and rng.random() < 0.5:
        # the reason is left for the profile to explain
        reason = rng.choice(("Not for me anymore", "Doesn't work for me", "It just doesn't fit "
                             "my life", "Can't deal with it", "Says it all really"))
    style = rng.randrange(4)
    if style == 0:
        text = f"{behaviour}. {reason}."
    elif style == 1:
        text = f"{rng.choice(_OPENERS)}{reason.lower() if rng.random() < 0.5 else reason}. " \
               f"{behaviour}.{rng.choice(_CLOSERS[rating])}"
    elif style == 2:
        text = f"{reason}!! {behaviour}.{_EMOJI[rating]}"
    else:
        text = f"{reason}, {behaviour.lower()}.{rng.choice(_CLOSERS[rating])}"
    rate = {"easy": 0.0, "medium": 0.03, "hard": 0.06}[difficulty]
    if rate:
        text = typo_noise(text, rng, rate=rate, misspell=0.3)
        text = casual_case(text, rng, p_lower=0.3, p_shout=0.1)
    return " ".join(text.split())


class PisarRationale(Task):
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        t = rng.choice(TYPES)
        category = rng.choice(t["categories"])
        app = rng.choice(APPS[category])
        prof = _profile(rng, t)
        fields = {**prof, "app": app, "lang_low": prof["language_short"].lower()}
        (r_rev, r_rat), (b_rev, b_rat) = rng.choice(t["reasons"]), rng.choice(t["behaviours"])
        rating = rng.randint(*t["rating"])
        review = _review(rng, r_rev.format(**fields), b_rev.format(**fields), rating, difficulty)
        rationale = rng.choice(_RATIONALES).format(who=t["who"].format(**fields),
                                                   r=r_rat.format(**fields),
                                                   b=b_rat.format(**fields))
        return {
            "fields": {"app": app, "category": category, "rating": rating, "review": review,
                       "profile": _profile_text(rng, t, prof, difficulty)},
            "source": None,
            "reference": rationale,
            "meta": {"rationale_type": t["name"], "app": app, "category": category,
                     "rating": rating},
        }


# --- adapter for users who hold the PiSAR data ------------------------------------------------
def _profile_str(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value.strip()
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _rows(f: Path) -> list[dict[str, Any]]:
    if f.suffix == ".csv":
        with f.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    if f.suffix == ".json":
        data = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise TaskError(f"{f}: expected a JSON list of rows")
        return data
    with f.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_pisar(path: Path) -> list[dict[str, Any]]:
    """PiSAR-style rows (see the module docstring for the columns) from a file or a folder."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        f for f in path.glob("*") if f.suffix in (".jsonl", ".json", ".csv"))
    if not files:
        raise TaskError(f"pisar adapter: expected a .jsonl/.json/.csv file or folder at {path} "
                        "with columns review, profile and (optionally) rationale")
    out = []
    for f in files:
        try:
            rows = _rows(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise TaskError(f"{f}: unreadable ({e})") from e
        for i, row in enumerate(rows, 1):
            if not isinstance(row, dict) or not row.get("review") or not row.get("profile"):
                raise TaskError(f"{f}: row {i} needs non-empty 'review' and 'profile' columns")
            out.append({
                "id": f"pisar-{f.stem}-{row.get('id') or i}",
                "fields": {"app": row.get("app") or "unknown", "category": row.get("category")
                           or "unknown", "rating": row.get("rating") or "?",
                           "review": str(row["review"]).strip(),
                           "profile": _profile_str(row["profile"])},
                "source": None,
                "reference": (str(row["rationale"]).strip() or None) if row.get("rationale")
                else None,
                "meta": {"app": row.get("app"), "rating": row.get("rating")},
            })
    return out


TASK = PisarRationale(
    name="pisar_rationale",
    description="App-store review + demographic profile -> the user's behavioural rationale "
                "(PiSAR); metric: MiniLM cosine to the reference (mean and share >= 0.7).",
    metric="sem_sim",
    scale=(0.0, 1.0),
    system_prompt=SYSTEM_PROMPT,
    user_template=USER_TEMPLATE,
    adapters={"pisar": load_pisar},
)
