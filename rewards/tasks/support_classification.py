"""support_classification: a customer message -> one of five support categories.

Metric: exact-match accuracy on [0, 1] (the rubric's `label_match` check carries it). The
generator composes messages from ~15 core templates per category, shared slot vocabularies
(products, devices, error strings, plans, features), greetings, context sentences, signatures
and a typo/casing noise process, so memorising a template does not transfer. Difficulty:

- easy: one clear request, short.
- medium: greeting, context, signature, light typos.
- hard: the confusable pairs the published evaluation calls out (Account Access vs Technical
  Issue; feature requests phrased as complaints or questions) and multi-issue messages whose
  side remark belongs to another category, plus heavier noise.

The label set travels in `meta["labels"]` and the prompt, so the same rubric
(`labels_from_meta: labels`) serves the Bitext adapter, which keeps the dataset's OWN categories.

Probes (`python -m rewards.probe --task support_classification`, benchmarks/results/probes.md):
every built-in hack scores 0 (the answer must be exactly one allowed label). Nothing here
needs a judge; a wrong but valid label is an error, not a hack.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from rewards.tasks.base import Task, dataset_rows
from rewards.tasks.text_noise import casual_case, typo_noise

LABELS = ("Billing", "Technical Issue", "Feature Request", "Account Access", "General Inquiry")

# definitions shown in the prompt for the generated label set; the hard cases hinge on them
DEFINITIONS = {
    "Billing": "charges, refunds, invoices, payment methods, plan prices and renewals",
    "Technical Issue": "the product misbehaves once the customer is in: errors, crashes, sync, "
                       "slowness, broken pages or integrations",
    "Feature Request": "asks for something the product does not do yet, or suggests an improvement",
    "Account Access": "cannot get into the account: sign-in, passwords, verification codes, "
                      "locked, suspended or compromised accounts",
    "General Inquiry": "questions about the company, plans, policies or how existing features work",
}

PRODUCTS = ("the app", "the mobile app", "the desktop app", "the web dashboard", "your portal",
            "the iOS app", "the Android app", "the browser extension", "the admin console",
            "the website")
DEVICES = ("iPhone 14", "iPhone 12", "Pixel 7", "Galaxy S22", "iPad Air", "a Windows 11 laptop",
           "my MacBook Pro", "a Chromebook", "an Android tablet", "my work PC", "Ubuntu 22.04")
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge", "Brave")
ERRORS = ("Error 500", "error code E-1042", "'Something went wrong'", "ERR_CONNECTION_RESET",
          "a blank white screen", "'Unable to sync (0x80070005)'", "a spinning wheel forever",
          "'Request timed out'", "error 403", "'Unexpected token in JSON'", "a 502 Bad Gateway")
FEATURES_BROKEN = ("the export button", "the calendar sync", "notifications", "the search bar",
                   "file uploads", "the reports page", "the CSV import", "two-way sync with Outlook",
                   "the PDF preview", "the invoice generator", "autosave", "the chat widget",
                   "the Slack integration", "push notifications", "the print view")
FEATURES_WANTED = ("a dark mode", "export to Excel", "bulk delete", "a Linux client",
                   "recurring reminders", "custom fields on contacts", "multi-currency invoices",
                   "an offline mode", "keyboard shortcuts", "a Zapier integration",
                   "shared folders for teams", "two-factor login with a hardware key",
                   "a weekly summary email", "an API webhook for new orders",
                   "the option to undo a deleted item", "Apple Watch support",
                   "a way to merge duplicate contacts", "more than five users on the Basic plan")
PLANS = ("Basic", "Pro", "Premium", "Team", "Business", "Family", "Starter", "Enterprise")
AMOUNTS = ("$9.99", "$14.99", "$29.00", "$49", "$120.00", "€19.99", "£12.50", "$199.99",
           "A$24.95", "$7.49")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
NAMES = ("Maria", "Tom", "Priya", "Jonas", "Aisha", "Wei", "Carlos", "Fatima", "Liam", "Sofia",
         "Kenji", "Olga", "Daniel", "Amara", "Lucas", "Nadia", "Ben", "Chloe", "Ravi", "Ingrid")
SURNAMES = ("Garcia", "Nguyen", "Smith", "Okafor", "Müller", "Patel", "Kowalski", "Rossi",
            "Haddad", "Johansson", "Kim", "O'Brien", "Silva", "Dubois", "Tanaka")
COMPANIES = ("Brightline Dental", "Northwind Logistics", "Kiwi Bakery", "Harbor & Co",
             "Atlas Legal", "Pine Street Yoga", "Vela Studio", "Orbit Freight", "Maple Tutors")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "Billing": (
        "I was charged {amount} twice this month. Can you refund the duplicate?",
        "Why did my bill go up to {amount}? I'm on the {plan} plan and nothing changed.",
        "Please send me the invoice for {month}, our accountant needs it.",
        "I cancelled in {month} but I still got charged {amount}. I want my money back.",
        "How do I update the credit card on file? The old one expired.",
        "Can I switch from monthly to annual billing and get the discount?",
        "There's a charge of {amount} on my statement I don't recognise.",
        "My payment failed and I want to pay with PayPal instead.",
        "Can you add our VAT number to the invoices from now on?",
        "I was promised a {amount} credit last month and it never showed up on my bill.",
        "I downgraded to {plan} but I'm still being billed the old price.",
        "Please stop the auto-renewal, I don't want to be charged {amount} again.",
        "Our finance team needs receipts for every payment since {month}.",
        "The student discount wasn't applied to my last payment of {amount}.",
        "Is a refund possible for the unused months of my {plan} subscription?",
    ),
    "Technical Issue": (
        "{feature} doesn't work in {product}, it just shows {error}.",
        "{product} crashes every time I open {feature} on {device}.",
        "Since the last update {feature} is extremely slow, pages take a minute to load.",
        "I get {error} whenever I try to save a document.",
        "{feature} stopped working on {browser}, it's fine in other browsers.",
        "My data isn't syncing between {device} and the web version.",
        "{product} freezes on {device} after about ten minutes of use.",
        "Uploading anything bigger than 5 MB fails with {error}.",
        "The numbers on the reports page are wrong, totals don't add up.",
        "{feature} is broken: clicking it does nothing at all.",
        "After the update {product} won't start on {device}.",
        "Images don't load in {product}, I just see grey boxes.",
        "{feature} duplicates every entry I create.",
        "Every time I scroll in {product} on {device} it jumps back to the top.",
        "The {browser} tab uses 100% CPU when {product} is open.",
    ),
    "Feature Request": (
        "It would be great if you could add {wanted}.",
        "Please consider adding {wanted}, we'd use it every day.",
        "Could you build {wanted}? A lot of my team keeps asking for it.",
        "Suggestion: {wanted}. That would save us hours every week.",
        "Any chance of {wanted} in a future release?",
        "I'd love to see {wanted} in {product}.",
        "We would pay more for {wanted}, please put it on the roadmap.",
        "Feature idea: {wanted}. Competitors already have it.",
        "Can you add {wanted}? It's the one thing missing for us.",
        "My wish list for next year: {wanted}.",
        "Would you consider {wanted}? I'd vote for it.",
        "Request from our team: {wanted} in {product}.",
    ),
    "Account Access": (
        "I can't log in, it says my password is incorrect but I just reset it.",
        "My account is locked after too many attempts. Please unlock it.",
        "I never receive the verification code by SMS so I can't sign in.",
        "The password reset email never arrives, I checked spam too.",
        "I lost my phone with the authenticator app and can't get past two-factor.",
        "I think someone hacked my account, I got an email that my password changed.",
        "My account was suspended without warning and I can't access anything.",
        "I changed my email address and now I can't log in with either one.",
        "It keeps saying 'user not found' when I try to sign in with {email}.",
        "I'm locked out of my admin account and my whole team is blocked.",
        "The sign-in link you emailed me says it has expired every time I click it.",
        "How do I get back into my account? I forgot which email I used.",
        "My login stopped working after you switched to single sign-on.",
        "I can't sign in on {device}: it says my account is disabled.",
    ),
    "General Inquiry": (
        "What are your support hours?",
        "Do you have an office in {city}?",
        "Where is my data stored? We need to know for GDPR.",
        "Is there a discount for non-profits?",
        "How do I add a colleague to my workspace?",
        "What's the difference between the {plan} and {plan2} plans?",
        "Do you offer training sessions for new teams?",
        "Is {product} available in Spanish?",
        "Can I use the {plan} plan for commercial work?",
        "How long do you keep deleted files?",
        "Are you hiring? I'd love to work on {product}.",
        "Do you have a status page I can subscribe to?",
        "Does {product} work on {device}?",
        "How do I export my data if I ever decide to leave?",
        "Who do I talk to about a partnership?",
    ),
}

CITIES = ("Berlin", "Toronto", "Sydney", "London", "Singapore", "Austin", "Dublin", "Nairobi")

# confusable hard cases: the label is the first element; wording borrows the other class's words
HARD_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Account Access", "{product} keeps telling me my verification code is invalid. I reinstalled "
     "it and cleared the cache, still can't get into my account."),
    ("Account Access", "Tried logging in on {device} and {browser}, both say my password is wrong. "
     "I'm sure it's right, I use a password manager."),
    ("Account Access", "After the update I get logged out and the sign-in page won't accept my "
     "two-factor code anymore, so I'm stuck outside my account."),
    ("Account Access", "The 'forgot password' page gives me {error} and I can't get into my "
     "account to do anything."),
    ("Technical Issue", "I can log in fine, but once I'm in, {feature} shows {error}."),
    ("Technical Issue", "Login works, my password is fine, but the dashboard spins forever "
     "after I sign in on {device}."),
    ("Technical Issue", "My account is working and I'm signed in, yet {feature} fails with "
     "{error} every single time."),
    ("Technical Issue", "Not a password problem: I'm already logged in and {product} crashes "
     "as soon as I open {feature}."),
    ("Feature Request", "Why is there no {wanted_bare}? It's honestly frustrating to work "
     "around it every day."),
    ("Feature Request", "Is there any plan to support {wanted}? Right now we can't do that "
     "at all."),
    ("Feature Request", "I looked everywhere in {product} and there's no way to get {wanted}. "
     "Please add it."),
    ("Feature Request", "Not a bug report, but {product} really needs {wanted}."),
    ("General Inquiry", "Does the {plan} plan already include {wanted_bare}, or only {plan2}?"),
    ("General Inquiry", "Quick question about billing policy in general: do prices differ by "
     "country? I'm not being charged anything yet."),
    ("Billing", "I deleted my account in {month} and you still charged me {amount}. Refund "
     "please."),
    ("Billing", "The app works fine, the problem is the {amount} charge I didn't authorise."),
    ("Billing", "I can log in without trouble, but my account page shows I owe {amount} and I "
     "already paid it in {month}."),
    ("Billing", "Not a technical problem: the checkout worked, but I was billed for {plan} "
     "when I picked {plan2}."),
    ("General Inquiry", "Before I sign up: does {product} work offline, and is my data "
     "encrypted? Just curious, nothing is broken."),
)

# side remarks for multi-issue messages: marked as minor so "the main request" is well defined
SIDE_REMARKS = (
    "Also, not urgent, but {wanted} would be nice someday.",
    "P.S. love the new design, by the way.",
    "Unrelated, but what are your support hours?",
    "By the way, the login was slow this morning, but it's fine now.",
    "(Side note: my invoice from {month} looked fine.)",
    "Btw I already updated my card details last week, no issue there.",
)

GREETINGS = ("Hi,", "Hello,", "Hey team,", "Good morning,", "Hi there,", "Dear support,",
             "To whom it may concern,", "Hello support team,", "Hiya,")
CONTEXT = (
    "I've been a customer since {year}.", "This is the second time I'm writing about this.",
    "We're a small team of {n} people.", "I use {product} for my business every day.",
    "I tried the help center first but couldn't find an answer.",
    "I'm writing on behalf of my manager.", "Sorry if this is the wrong address.",
    "It started on {month} {day}.", "Our account is under {company}.",
    "I'm not very technical, so please keep it simple.",
    "My colleague had the same thing last week.", "We rely on {product} for client work.",
    "I'd appreciate a quick reply, we have a deadline on Friday.",
    "I'm on the {plan} plan, if that matters.", "I'm using {device}.",
)
CLOSINGS = ("Thanks", "Thanks in advance", "Regards", "Best", "Cheers", "Thank you",
            "Kind regards", "Many thanks", "Appreciate it")
FOOTERS = ("Sent from my iPhone", "Sent from Outlook for Android",
           "This email and any attachments are confidential.", "Get Outlook for iOS")


def _fill(template: str, rng: random.Random) -> str:
    wanted = rng.choice(FEATURES_WANTED)
    plan, plan2 = rng.sample(PLANS, 2)
    name = rng.choice(NAMES).lower()
    return template.format(
        product=rng.choice(PRODUCTS), device=rng.choice(DEVICES), browser=rng.choice(BROWSERS),
        error=rng.choice(ERRORS), feature=rng.choice(FEATURES_BROKEN), wanted=wanted,
        wanted_bare=wanted.removeprefix("a ").removeprefix("an ").removeprefix("the "),
        plan=plan, plan2=plan2, amount=rng.choice(AMOUNTS), month=rng.choice(MONTHS),
        city=rng.choice(CITIES), email=f"{name}@{rng.choice(('gmail.com', 'outlook.com', 'me.com'))}",
        year=rng.randint(2012, 2023), n=rng.randint(3, 40), day=rng.randint(1, 28),
        company=rng.choice(COMPANIES))


def _capitalise(s: str) -> str:
    return s[:1].upper() + s[1:]


def _signature(rng: random.Random) -> str:
    name = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"
    style = rng.randrange(4)
    if style == 0:
        return name.split()[0]
    if style == 1:
        return f"{name}\n{rng.choice(COMPANIES)}"
    if style == 2:
        return f"{name}\n{rng.choice(FOOTERS)}"
    return f"- {name[0]}."


def _wrap(core: str, rng: random.Random, context: int) -> str:
    """Greeting, context sentences, the request, a closing and a signature, each optional."""
    parts = []
    if rng.random() < 0.8:
        parts.append(rng.choice(GREETINGS))
    ctx = [_fill(c, rng) for c in rng.sample(CONTEXT, context)]
    split = rng.randint(0, len(ctx))
    body = " ".join(ctx[:split] + [core] + ctx[split:])
    parts.append(body)
    if rng.random() < 0.8:
        parts.append(f"{rng.choice(CLOSINGS)},\n{_signature(rng)}")
    return "\n\n".join(parts)


# task.label_variants: other spellings of the five categories (real support data names them in
# its own words and case: Bitext lists ACCOUNT, PAYMENT, REFUND, ...). Each stays one category's
# name, so the gold answer is the alias the prompt lists for the message's category
ALIASES = {
    "Billing": ("Billing", "Payments", "Payment", "Billing and Payments", "Invoices and Charges",
                "Charges"),
    "Technical Issue": ("Technical Issue", "Technical Support", "Bug Report", "Tech Support",
                        "Product Problem", "Technical Problem"),
    "Feature Request": ("Feature Request", "Product Suggestion", "Suggestion", "Feature Idea",
                        "Enhancement Request", "New Feature"),
    "Account Access": ("Account Access", "Account", "Login Problem", "Sign-in Issue",
                       "Account Security", "Login"),
    "General Inquiry": ("General Inquiry", "General Question", "Question", "Other",
                        "Information Request", "Inquiry"),
}
# extra categories no generated message belongs to (physical goods, jobs, press), so the list
# can be longer than five without making any message's gold ambiguous
DISTRACTORS = ("Shipping", "Delivery", "Order Status", "Returns", "Newsletter", "Careers",
               "Press", "Partnerships", "Store Locations", "Warranty Claim")
# how a varied list is cased: as written, UPPER_SNAKE (Bitext's style), lower case
_CASES = (lambda x: x, lambda x: x.upper().replace(" ", "_").replace("-", "_"), str.lower)


def vary_labels(rng: random.Random) -> dict[str, Any]:
    """One varied vocabulary: {canonical label: its alias here} and the listed order (aliases
    plus 0-3 distractors, shuffled, one casing for the whole list)."""
    case = rng.choice(_CASES)
    names = {lab: case(rng.choice(ALIASES[lab])) for lab in LABELS}
    listed = list(names.values()) + [case(d) for d in rng.sample(DISTRACTORS, rng.randint(0, 3))]
    rng.shuffle(listed)
    return {"names": names, "listed": listed}


# task.prompt=short: ~2.5x fewer prompt tokens than the full prompt (104 vs 258 on average
# with the chat template; the label definitions are ~110 of them), for the CPU-sized main job,
# where prompt tokens are ~99% of the compute of SFT, GRPO and evaluation alike
SHORT_SYSTEM_PROMPT = "Answer with exactly one category from the list, spelled as listed."
SHORT_USER_TEMPLATE = "Categories: {labels}\n\nMessage:\n{message}\n\nCategory:"


class SupportClassification(Task):
    def short_messages(self, sample: Any) -> list[dict[str, str]]:
        """The label names without their definitions, and a one-line instruction."""
        labels = ", ".join((sample.meta or {}).get("labels") or LABELS)
        return [{"role": "system", "content": SHORT_SYSTEM_PROMPT},
                {"role": "user", "content": SHORT_USER_TEMPLATE.format(
                    labels=labels, message=sample.source)}]

    def label_variants(self, samples: list[Any], share: float, seed: int) -> list[Any]:
        """A `share` of the generated train prompts list a varied vocabulary (`vary_labels`)
        and expect its spelling; which ones, and how, is seeded by (seed, sample id), so the
        split stays a prefix-stable function of the config. Real-data rows keep their own."""
        out = []
        for s in samples:
            rng = random.Random(f"{self.name}:label_variants:{seed}:{s.id}")
            meta = s.meta or {}
            if tuple(meta.get("labels") or ()) != LABELS or rng.random() >= share:
                out.append(s)
                continue
            v = vary_labels(rng)
            ex = _example(s.source, v["names"][meta["label"]], v["listed"],
                          {k: x for k, x in meta.items() if k not in ("label", "labels")}
                          | {"canonical_label": meta["label"]})
            out.append(self.to_sample(ex, s.id, meta.get("split", "train")))
        return out

    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        hard_kind = None
        if difficulty == "hard" and rng.random() < 0.6:
            label, template = rng.choice(HARD_TEMPLATES)
            core = _fill(template, rng)
            hard_kind = "confusable"
        else:
            label = rng.choice(LABELS)
            core = _capitalise(_fill(rng.choice(TEMPLATES[label]), rng))
            if difficulty == "hard":
                # a second sentence from the same class makes the main request longer
                extra = _capitalise(_fill(rng.choice(TEMPLATES[label]), rng))
                if extra != core:
                    core = f"{core} {extra}"
                hard_kind = "multi_issue"
        if hard_kind == "multi_issue" or (hard_kind and rng.random() < 0.4):
            remark = _fill(rng.choice(SIDE_REMARKS), rng)
            core = f"{core} {remark}" if rng.random() < 0.7 else f"{remark} {core}"
            hard_kind = "multi_issue"
        if difficulty == "easy":
            message = core if rng.random() < 0.5 else _wrap(core, rng, 0)
        else:
            message = _wrap(core, rng, rng.randint(1, 3) if difficulty == "medium" else
                            rng.randint(2, 4))
        rate = {"easy": 0.0, "medium": 0.02, "hard": 0.05}[difficulty]
        if rate:
            message = typo_noise(message, rng, rate=rate, misspell=rate * 8)
            message = casual_case(message, rng, p_lower=rate * 4, p_shout=rate)
        return _example(message, label, LABELS, {"hard_kind": hard_kind})


def _example(message: str, label: str, labels: tuple[str, ...] | list[str],
             extra_meta: dict[str, Any]) -> dict[str, Any]:
    if set(labels) == set(LABELS):
        categories = "\n".join(f"- {lab}: {DEFINITIONS[lab]}" for lab in labels)
    else:
        categories = "\n".join(f"- {lab}" for lab in labels)
    return {"fields": {"categories": categories, "message": message}, "source": message,
            "reference": label,
            "meta": {"label": label, "labels": list(labels), **extra_meta}}


def load_bitext(path: Path) -> list[dict[str, Any]]:
    """Bitext customer-support set: `text` -> `category`, with the dataset's own 11 categories."""
    rows = [(lineno, row["text"], row["category"], row.get("intent"))
            for lineno, row in dataset_rows(path, "train.jsonl", "bitext", ("text", "category"))]
    labels = sorted({r[2] for r in rows})
    return [{"id": f"bitext-{lineno}", **_example(text, cat, labels, {"intent": intent})}
            for lineno, text, cat, intent in rows]


TASK = SupportClassification(
    name="support_classification",
    description="Customer message -> one support category (Billing, Technical Issue, Feature "
                "Request, Account Access, General Inquiry); exact-match accuracy.",
    metric="accuracy",
    scale=(0.0, 1.0),
    system_prompt=(
        "You are a customer-support triage assistant. Read the customer's message and answer "
        "with exactly one category from the list you are given, spelled as listed, and nothing "
        "else: no explanation, no punctuation. If the message raises several things, choose the "
        "category of the main request; side remarks and background do not count."),
    user_template="Categories:\n{categories}\n\nCustomer message:\n{message}\n\nCategory:",
    adapters={"bitext-support": load_bitext},
)
