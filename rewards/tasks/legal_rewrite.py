"""legal_rewrite: a contract clause -> the same clause in plain English.

Metric: the 0-5 harness score of `rubrics/legal_rewrite.yaml`: meaning preserved (every
obligation, condition, party and qualifier; spans_preserved over meta), numbers and deadlines
(numbers_grounded against the clause, deadline and amount spans), and plain language
(Flesch-Kincaid grade, sentence length, legalese pitfalls such as "heretofore" or
"notwithstanding the foregoing", no "shall").

Generator: a clause is 1 (easy), 2 (medium) or 3-4 (hard) provisions from 24 provision
types across six contract families (license, supply, services, confidentiality, consulting,
lease) plus family-independent ones (termination, indemnity, liability cap, assignment,
force majeure, renewal, governing law). Each provision has several legal phrasings and several
plain ones; parties are drawn from ~1,000 company names (individuals for consultants),
deadlines and amounts are fresh numbers in mixed styles ("thirty (30) days", "USD 12,500.00").
Harder clauses add recitals, boilerplate openers ("Notwithstanding anything to the contrary
contained herein"), enumerated sub-clauses and more qualifiers. The gold rewrite uses one
plain phrasing per provision, digits for every number and short sentences.

meta (what the rubric checks): parties, obligations, conditions, qualifiers (each a list of
alternative phrasings, any of which counts), deadlines, amounts, provisions (type names).

Real adapters: CUAD clauses (`cuad-clauses/clauses.jsonl`, no rewrites: reference null, the
rubric alone grades) and the plain-English summaries (`legal-plain-english/all_v1.json`,
lower-cased sources, reference = the human summary). For both, meta is extracted from the
clause text: deadlines and amounts by pattern, qualifiers by the same table the generator
uses, parties from defined role words, obligations from the verbs after shall/must/agrees to
(with plain synonyms). Conditions are not extracted (that check abstains on real data).
The plain-English summaries are TL;DRs, not complete rewrites: they are scored by
`rubrics/legal_rewrite.legal-plain-english.yaml` (meaning = embedding cosine to the human
summary; grade bounds calibrated on those summaries), on which they are the control (>= 95%).

Probes (`python -m rewards.probe --task legal_rewrite`, benchmarks/results/probes.md): every
built-in hack scores below gold and under 30% of the scale since chat wrappers, padding and
span lists (4.3, 4.2 and 2.9/5 before) became global gates and an invented name removes
the meaning dimension (invented names and numbers: 2.5 -> 1.5/5). Not caught without a
judge: a rewrite that keeps every
required span but reverses who must do what ("the Customer must pay" -> "the Supplier must
pay": spans present, numbers grounded) or drops an unextracted condition on real data; the
`judge_meaning_preserved` question covers both when a judge is configured. On the
plain-English summaries (`--task-path .../legal-plain-english`) a short answer on the same
topic is hard to tell from a summary without a judge: "I have checked every requirement."
reached 3.9/5 on one of 50 summaries about requirements (cosine 0.3+ to the reference), and
the first sentence of a two-sentence summary reached gold on 1 of 9.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from rewards.tasks.base import Task, TaskError, dataset_rows
from rewards.tasks.checks_scribe import number_to_words, substantive
from rewards.tasks.guards import not_a_copy

SYSTEM_PROMPT = (
    "You rewrite contract clauses in plain English for people who are not lawyers. Keep every "
    "party, obligation, permission, condition, exception, deadline and amount, and restate "
    "every qualifier (for example non-exclusive, non-transferable, irrevocable, at its own "
    "cost) in everyday words. Do not add facts, advice or numbers that are not in the clause. "
    "Write numbers as digits. Use short sentences (under 20 words), 'must' instead of "
    "'shall', and no legal jargon such as hereby, herein, thereof, heretofore or "
    "notwithstanding. Reply with the rewrite only."
)
USER_TEMPLATE = "Rewrite this contract clause in plain English.\n\nClause:\n{clause}"

_W1 = ("Northwind", "Bluefin", "Cedar Ridge", "Halcyon", "Ironbark", "Juniper", "Kestrel", "Lumen",
       "Meridian", "Oakhaven", "Pinecrest", "Quarry Lane", "Redwood", "Silverline", "Tidewater",
       "Vantage", "Willow Creek", "Zephyr", "Atlas", "Brightside", "Copperfield", "Driftwood",
       "Evergreen", "Foxglove", "Granite Peak", "Harbor Point", "Larkspur", "Mosaic", "Nimbus",
       "Orchard", "Polaris", "Riverbend", "Sable", "Thornbury", "Upland", "Verdant", "Wrenfield")
_W2 = ("Logistics", "Analytics", "Health", "Software", "Foods", "Energy", "Robotics", "Media",
       "Capital", "Biotech", "Textiles", "Freight", "Labs", "Systems", "Outfitters", "Pharma",
       "Networks", "Studios", "Holdings", "Retail", "Dynamics", "Materials", "Interactive")
_ENTITY = ("Inc.", "LLC", "Ltd.", "Corp.", "GmbH", "plc", "LLP", "S.A.", "Pty Ltd", "B.V.")
_JURIS = ("Delaware", "New York", "California", "Texas", "Ontario", "England and Wales",
          "Illinois", "Washington", "Massachusetts", "Florida", "Georgia", "Colorado")
_PEOPLE = ("Maria Okafor", "Daniel Reyes", "Priya Raman", "Jonas Berg", "Aisha Bello",
           "Wei Zhang", "Tomas Novak", "Grace Mensah", "Liam O'Connor", "Sofia Marino",
           "Kenji Sato", "Nadia Haddad", "Ethan Brooks", "Amara Nwosu", "Lucas Ferreira")

FAMILIES = {
    "license": (("Licensor", "Licensee"), ("Software License Agreement", "License Agreement"),
                (("the Software", "the software"), ("the Platform", "the platform"),
                 ("the Licensed Technology", "the licensed technology"),
                 ("the Licensed Content", "the licensed content"))),
    "supply": (("Supplier", "Customer"), ("Supply Agreement", "Master Purchase Agreement"),
               (("the Products", "the products"), ("the Goods", "the goods"),
                ("the Components", "the components"))),
    "services": (("Service Provider", "Client"), ("Master Services Agreement",
                                                  "Services Agreement"),
                 (("the Services", "the services"), ("the Hosted Services", "the hosted services"))),
    "confidentiality": (("Disclosing Party", "Receiving Party"), ("Mutual Nondisclosure "
                        "Agreement", "Confidentiality Agreement"),
                        (("the Confidential Information", "the confidential information"),)),
    "consulting": (("Company", "Consultant"), ("Consulting Agreement",
                                               "Independent Contractor Agreement"),
                   (("the Deliverables", "the deliverables"), ("the Work Product",
                                                               "the work product"))),
    "lease": (("Landlord", "Tenant"), ("Commercial Lease", "Lease Agreement"),
              (("the Premises", "the premises"),)),
}

# qualifier -> (legal wording, plain phrasings used in gold rewrites, alternatives the check
# accepts); grouped so one clause never holds contradictory ones (revocable / irrevocable)
QUALIFIERS = {
    "non_exclusive": ("non-exclusive", ("not exclusive", "non-exclusive"),
                      ("non-exclusive", "nonexclusive", "not exclusive")),
    "exclusive": ("exclusive", ("exclusive",), ("exclusive",)),
    "non_transferable": ("non-transferable", ("cannot be transferred", "non-transferable"),
                         ("non-transferable", "nontransferable", "not transferable",
                          "cannot be transferred", "can't be transferred", "cannot transfer",
                          "may not transfer", "can't transfer")),
    "non_sublicensable": ("non-sublicensable", ("cannot be sublicensed",),
                          ("non-sublicensable", "cannot be sublicensed", "can't be sublicensed",
                           "cannot sublicense", "may not sublicense", "not sublicensable",
                           "no sublicens")),
    "revocable": ("revocable", ("can be revoked", "revocable"),
                  ("revocable", "can be revoked", "can revoke", "may revoke", "can be withdrawn",
                   "can be taken back", "can take back")),
    "irrevocable": ("irrevocable", ("cannot be revoked", "irrevocable"),
                    ("irrevocabl", "cannot be revoked", "can't be revoked", "cannot revoke",
                     "may not revoke", "cannot be taken back", "cannot be withdrawn")),
    "royalty_free": ("royalty-free", ("free of royalties", "royalty-free"),
                     ("royalty-free", "royalty free", "no royalties", "without royalties",
                      "free of royalties", "without paying royalties")),
    "fully_paid": ("fully paid-up", ("fully paid for",),
                   ("fully paid", "paid-up", "paid up", "no further payment", "no more payment")),
    "worldwide": ("worldwide", ("valid worldwide", "worldwide"),
                  ("worldwide", "world-wide", "anywhere in the world", "in every country")),
    "perpetual": ("perpetual", ("permanent", "perpetual"),
                  ("perpetual", "permanent", "forever", "never ends", "never expires",
                   "does not expire", "no end date")),
}
_GRANT_GROUPS = (("non_exclusive", "exclusive"), ("non_transferable",), ("non_sublicensable",),
                 ("revocable", "irrevocable"), ("royalty_free", "fully_paid"), ("worldwide",),
                 ("perpetual",))
# qualifiers attached to single provisions: legal wording -> accepted plain alternatives
OWN_COST = ("at its own cost", ("own cost", "own expense", "its own cost", "at its expense",
                                "pay for it", "bear the cost"))
WITHOUT_CAUSE = ("for any reason", ("for any reason", "without cause", "without a reason",
                                    "without giving a reason", "for no reason"))
DIRECTLY = ("directly or indirectly", ("directly or indirectly", "directly or through others",
                                       "in any way"))
REASONABLE = ("reasonable", ("reasonable",))
_LEGAL_Q = {"at its own cost": ("at its sole cost and expense", "at its own cost and expense"),
            "for any reason": ("without cause", "for convenience and without cause"),
            "directly or indirectly": ("directly or indirectly",),
            "reasonable": ("commercially reasonable", "reasonable")}
UNREASONABLY = ("which consent shall not be unreasonably withheld",
                ("good reason", "unreasonabl", "reasonable reason", "without a reason", "unfairly"))


def _prov(name, families, who, legal, plain, key, cond=(), qual=None, slots="", amount=None,
          pct=None):
    """One provision type. Templates share slots: {X}/{Y} legal role references (X is the
    party bound), {x}/{y} plain names, {item}/{item_p}, {D}/{d} deadline, {M}/{m} months,
    {YR}/{yr} years, {A}/{a} amount, {P}/{p} percent, {Q}/{q} grant qualifiers, {Qc}/{qc}
    a provision qualifier, {shall}/{shall_not} legal modal variants, {state}, {ORD}/{ord}."""
    return {"name": name, "families": families, "who": who, "legal": legal, "plain": plain,
            "key": key, "cond": cond, "qual": qual, "slots": slots, "amount": amount, "pct": pct}


_ANY = ("license", "supply", "services", "confidentiality", "consulting", "lease")
_TERMINATE = ("end this agreement", "terminate", "end the agreement", "cancel this agreement")
_IN_WRITING = ("in writing", "written notice", "notice in writing", "notify in writing")
PROVISIONS = (
    _prov("license_grant", ("license",), 0,
          ("{X} hereby grants to {Y} a {Q} license to use {item} solely for {Y}'s internal "
           "business purposes during the Term.",
           "Subject to the terms hereof, {X} grants {Y} a {Q} right and license to access and "
           "use {item} for the internal business operations of {Y} during the Term."),
          ("{x} gives {y} a license to use {item_p} for {y}'s own internal business during the "
           "term. {q}", "{y} may use {item_p} for its internal business while this agreement "
           "lasts. {x} gives this license. {q}"),
          ("internal business",), slots="Q"),
    _prov("no_reverse_engineering", ("license",), 1,
          ("{X} {shall_not} reverse engineer, decompile or disassemble {item}, nor permit any "
           "third party to do so.",),
          ("{x} must not reverse engineer or decompile {item_p}. {x} must not let anyone else do "
           "so either.",),
          ("reverse engineer", "reverse-engineer")),
    _prov("royalties", ("license",), 1,
          ("{X} {shall} pay to {Y} a royalty equal to {P} of Net Sales of each Licensed Product, "
           "payable within {D} after the end of each calendar quarter.",),
          ("{x} must pay {y} a royalty of {p} of net sales of each licensed product. Payment is "
           "due within {d} after the end of each calendar quarter.",),
          ("royalt",), (("quarter",),), slots="P D", pct=(3, 4, 5, 6, 7.5, 8, 10, 12)),
    _prov("audit", ("license", "supply"), 0,
          ("{X} shall have the right, upon not less than {D} prior written notice, to audit the "
           "books and records of {Y} relating to this Agreement, provided that such audit shall "
           "occur no more than once per calendar year.",),
          ("{x} may check {y}'s books and records about this agreement. {x} must give at least "
           "{d} written notice first. {x} may do this audit only once a year.",),
          ("audit",), (_IN_WRITING, ("once a year", "once per year", "once per calendar year",
                                     "once each year", "one audit per year", "more than once")),
          slots="D"),
    _prov("delivery", ("supply",), 0,
          ("{X} {shall} deliver {item} to the delivery location specified in the applicable "
           "Purchase Order no later than {D} following {X}'s acceptance thereof.",),
          ("{x} must deliver {item_p} to the delivery location in the purchase order. Delivery "
           "is due within {d} after {x} accepts the order.",),
          ("deliver",), (("accept",),), slots="D"),
    _prov("payment", ("supply", "services"), 1,
          ("{X} {shall} pay all undisputed amounts invoiced hereunder within {D} of the date of "
           "invoice, and any amount not paid when due shall accrue interest at the rate of {P} "
           "per month.",),
          ("{x} must pay each invoice within {d} of the invoice date. This does not apply to "
           "amounts {x} disputes. Late amounts carry interest of {p} per month.",),
          ("pay",), (("disput",), ("late", "not paid on time", "overdue", "unpaid",
                                    "not paid when due")), slots="D P", pct=(1, 1.5, 2)),
    _prov("inspection", ("supply",), 1,
          ("{X} may inspect {item} within {D} after receipt and reject any nonconforming items "
           "by written notice to {Y}, whereupon {Y} {shall}, {Qc}, repair or replace such "
           "nonconforming items.",),
          ("{x} may inspect {item_p} within {d} after receiving them. {x} may reject any items "
           "that do not meet the requirements by telling {y} in writing. {y} must then repair "
           "or replace them {qc}.",),
          ("replace",), (("reject",), _IN_WRITING), OWN_COST, slots="D"),
    _prov("warranty", ("supply", "consulting"), 0,
          ("{X} warrants that {item} shall be free from defects in materials and workmanship "
           "for a period of {M} from the date of delivery.",),
          ("{x} promises that {item_p} will be free from defects in materials and workmanship "
           "for {m} after delivery.",),
          ("defect",), slots="M"),
    _prov("availability", ("services",), 0,
          ("{X} {shall} use {Qc} efforts to make {item} available at least {P} of the time in "
           "each calendar month, excluding scheduled maintenance.",),
          ("{x} must make {qc} efforts to keep {item_p} available at least {p} of the time each "
           "month. Scheduled maintenance does not count.",),
          ("available", "availability"), (("scheduled maintenance", "planned maintenance"),),
          REASONABLE, slots="P", pct=(99, 99.5, 99.9)),
    _prov("monthly_fee", ("services", "consulting"), 1,
          ("In consideration of {item}, {X} {shall} pay {Y} a monthly fee of {A}, invoiced in "
           "advance on the first day of each calendar month.",),
          ("{x} must pay {y} a monthly fee of {a} for {item_p}. {y} sends the invoice in advance "
           "on the first day of each month.",),
          ("monthly fee", "fee each month", "fee every month", "per month"), (("in advance",),),
          slots="A", amount=(500, 60000, 250)),
    _prov("insurance", ("services", "supply", "lease"), 0,
          ("{X} {shall}, {Qc}, procure and maintain throughout the Term commercial general "
           "liability insurance with limits of not less than {A} per occurrence.",),
          ("{x} must buy and keep general liability insurance for the whole term, {qc}. The "
           "cover must be at least {a} per occurrence.",),
          ("insurance",), (("per occurrence", "each occurrence", "per claim", "each claim"),),
          OWN_COST, slots="A", amount=(1_000_000, 5_000_000, 500_000)),
    _prov("nondisclosure", ("confidentiality",), 1,
          ("{X} {shall} hold all Confidential Information of {Y} in strict confidence and "
           "{shall_not} disclose the same to any third party without the prior written consent "
           "of {Y}.",),
          ("{x} must keep {y}'s confidential information secret. {x} must not share it with "
           "anyone else unless {y} first agrees in writing.",),
          ("secret", "in confidence", "not share", "not disclose", "not reveal"),
          (("agrees in writing", "written consent", "written permission", "written approval",
            "consent in writing"),)),
    _prov("return_or_destroy", ("confidentiality",), 1,
          ("Upon termination of this Agreement or upon the written request of {Y}, {X} {shall} "
           "promptly, and in any event within {D}, return or destroy all Confidential "
           "Information of {Y}.",),
          ("When this agreement ends, or if {y} asks in writing, {x} must return or destroy all "
           "of {y}'s confidential information within {d}.",),
          ("return or destroy", "destroy or return"),
          (("ends", "end of", "terminat", "expir"), ("asks in writing", "written request",
                                                      "requests in writing", "asks for it in "
                                                      "writing")), slots="D"),
    _prov("survival", ("confidentiality",), 1,
          ("The obligations of {X} set forth in this Section shall survive the termination or "
           "expiration of this Agreement for a period of {YR}.",),
          ("{x}'s duties under this section continue for {yr} after this agreement ends.",),
          ("continue", "surviv", "still apply", "remain in force", "last for"),
          (("ends", "terminat", "expir"),), slots="YR"),
    _prov("compelled_disclosure", ("confidentiality",), 1,
          ("In the event that {X} is required by law or court order to disclose any Confidential "
           "Information, {X} {shall} give {Y} prompt written notice thereof so that {Y} may "
           "seek a protective order.",),
          ("If a law or court order requires {x} to disclose confidential information, {x} must "
           "promptly tell {y} in writing. This lets {y} ask a court for protection.",),
          ("tell", "notify", "inform", "notice"), (("court order",),)),
    _prov("non_solicit", ("consulting", "services"), 1,
          ("During the Term and for a period of {M} thereafter, {X} {shall_not}, {Qc}, solicit "
           "for employment or hire any employee of {Y}.",),
          ("While this agreement lasts and for {m} after it ends, {x} must not try to hire any "
           "of {y}'s employees, {qc}.",),
          ("hire", "recruit", "solicit"), qual=DIRECTLY, slots="M"),
    _prov("ip_assignment", ("consulting",), 1,
          ("{X} hereby irrevocably assigns to {Y} all right, title and interest in and to {item}, "
           "including all intellectual property rights therein.",),
          ("{x} transfers to {y} full ownership of {item_p}, including all intellectual property "
           "rights. This transfer cannot be revoked.",),
          ("ownership", "owns", "assign", "transfer"),
          qual=("irrevocably", QUALIFIERS["irrevocable"][2])),
    _prov("expenses", ("consulting",), 0,
          ("{X} {shall} reimburse {Y} for all reasonable, pre-approved out-of-pocket expenses "
           "incurred in the performance of this Agreement within {D} of receipt of itemized "
           "receipts therefor.",),
          ("{x} must repay {y} for reasonable out-of-pocket expenses that {x} approved in "
           "advance. Payment is due within {d} of receiving itemized receipts.",),
          ("repay", "reimburs", "pay back"),
          (("approved in advance", "pre-approved", "approves in advance", "approved beforehand",
            "advance approval"), ("receipt",)), slots="D"),
    _prov("rent", ("lease",), 1,
          ("{X} {shall} pay to {Y} monthly rent in the amount of {A}, in advance, on or before "
           "the {ORD} day of each calendar month.",),
          ("{x} must pay {y} rent of {a} each month, in advance. Rent is due on or before the "
           "{ord} day of each month.",),
          ("rent",), (("in advance",),), slots="A ORD", amount=(1500, 40000, 50)),
    _prov("late_fee", ("lease",), 1,
          ("In the event any installment of rent is not received within {D} after its due date, "
           "{X} {shall} pay a late charge equal to {P} of such overdue amount.",),
          ("If rent is not paid within {d} after it is due, {x} must pay a late fee of {p} of "
           "the overdue amount.",),
          ("late fee", "late charge", "late payment fee"),
          (("not paid", "unpaid", "not received", "is late", "has not paid", "overdue"),),
          slots="D P", pct=(4, 5, 8, 10)),
    _prov("repairs", ("lease",), 1,
          ("{X} {shall}, {Qc}, keep {item} in good order and repair, reasonable wear and tear "
           "excepted, and {shall} notify {Y} in writing within {D} of any damage thereto.",),
          ("{x} must keep {item_p} in good repair, {qc}. Normal wear and tear is an exception. "
           "{x} must tell {y} in writing about any damage within {d}.",),
          ("repair",), (("wear and tear",), _IN_WRITING), OWN_COST, slots="D"),
    _prov("termination_convenience", _ANY, 0,
          ("Either party may terminate this Agreement {Qc} upon {D} prior written notice to the "
           "other party.",),
          ("Either party may end this agreement {qc}. It must give the other party {d} written "
           "notice.",),
          _TERMINATE, (_IN_WRITING,), WITHOUT_CAUSE, slots="D"),
    _prov("termination_breach", _ANY, 0,
          ("Either party may terminate this Agreement upon written notice if the other party "
           "materially breaches this Agreement and fails to cure such breach within {D} after "
           "receipt of written notice thereof.",),
          ("Either party may end this agreement by written notice if the other party seriously "
           "breaks it. This applies only if the other party does not fix the breach within {d} "
           "after being told about it in writing.",),
          _TERMINATE, (("seriously break", "material breach", "materially breach",
                        "serious breach", "major breach"), ("fix", "cure", "remedy")), slots="D"),
    _prov("indemnity", _ANY, 0,
          ("{X} {shall} indemnify, defend and hold harmless {Y} and its officers, directors and "
           "employees from and against any and all third-party claims, losses and damages "
           "arising out of the gross negligence or willful misconduct of {X}.",),
          ("{x} must protect {y} and its officers, directors and employees against claims by "
           "others. {x} must also cover the resulting losses. This applies to claims caused by "
           "{x}'s gross negligence or deliberate wrongdoing.",),
          ("protect", "indemnif", "defend", "cover"),
          (("gross negligence", "grossly negligent", "serious carelessness"),
           ("willful misconduct", "wilful misconduct", "deliberate wrongdoing",
            "intentional wrongdoing", "intentional misconduct", "deliberate misconduct"))),
    _prov("liability_cap", _ANY, 0,
          ("In no event shall either party's aggregate liability arising out of or relating to "
           "this Agreement exceed {A}.",),
          ("Neither party has to pay more than {a} in total for claims under this agreement.",),
          ("more than", "liabilit", "exceed", "at most", "limit", "maximum"),
          slots="A", amount=(50_000, 2_000_000, 25_000)),
    _prov("assignment", _ANY, 0,
          ("Neither party may assign or otherwise transfer this Agreement, in whole or in part, "
           "without the prior written consent of the other party, {Qc}.",),
          ("Neither party may transfer this agreement, in whole or in part, without the other "
           "party's written consent. The other party must have a good reason to refuse.",),
          ("transfer this agreement", "assign this agreement", "transfer the agreement",
           "assign the agreement"),
          (("written consent", "written permission", "written approval", "consent in writing",
            "agrees in writing"),), UNREASONABLY),
    _prov("governing_law", _ANY, 0,
          ("This Agreement shall be governed by and construed in accordance with the laws of "
           "{state}, without regard to its conflict of laws principles.",),
          ("The laws of {state} govern this agreement.", "{state} law applies to this "
           "agreement."),
          ("{state}",)),
    _prov("force_majeure", _ANY, 0,
          ("Neither party shall be liable for any failure or delay in performance hereunder to "
           "the extent caused by events beyond its reasonable control, provided that such party "
           "gives prompt written notice thereof and resumes performance within {D} after such "
           "event ceases.",),
          ("Neither party is responsible for failures or delays caused by events outside its "
           "reasonable control. To rely on this, the party must promptly tell the other party "
           "in writing. It must also restart its work within {d} after the event ends.",),
          ("outside its reasonable control", "beyond its reasonable control", "outside its "
           "control", "beyond its control", "out of its control", "outside their control",
           "beyond their control"), (("prompt", "quickly", "right away", "without delay"),
                                     _IN_WRITING), slots="D"),
    _prov("auto_renewal", _ANY, 0,
          ("This Agreement shall automatically renew for successive renewal terms of {M} each, "
           "unless either party provides written notice of non-renewal at least {D} prior to "
           "the expiration of the then-current term.",),
          ("This agreement renews automatically for further terms of {m} each. Either party can "
           "stop the renewal by giving written notice at least {d} before the current term "
           "ends.",),
          ("renew",), (("unless", "can stop", "non-renewal", "not to renew", "stop the renewal",
                        "opt out"),), slots="M D"),
)
# provisions that say the same thing differently never share a clause
_EXCLUSIVE = ({"termination_convenience", "termination_breach"},)
_SHALL = ("shall", "shall", "agrees to", "covenants and agrees to", "will", "undertakes to")
_SHALL_NOT = ("shall not", "shall not", "agrees not to", "shall in no event", "covenants not to")
_OPENERS = ("Notwithstanding anything to the contrary contained herein, ",
            "Subject to the terms and conditions of this Agreement, ",
            "Except as otherwise expressly provided herein, ", "It is hereby agreed that ",
            "For the avoidance of doubt, ")
_CURRENCY = {"$": ("USD", "U.S. dollars"), "€": ("EUR", "euros"), "£": ("GBP", "pounds sterling")}
_ORDINALS = {1: ("first", "1st"), 5: ("fifth", "5th"), 10: ("tenth", "10th"),
             15: ("fifteenth", "15th")}


class _Slots:
    """Fresh slot values for one clause; numbers never repeat inside a clause, so each
    deadline or amount is a distinct fact a rewrite can drop."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[float] = set()
        self.deadlines: list[list[str]] = []
        self.amounts: list[list[str]] = []

    def _fresh(self, choices) -> float:
        left = [c for c in choices if c not in self.used]
        n = self.rng.choice(left)
        self.used.add(n)
        return n

    def period(self, choices, unit: str, kinds=("",)) -> tuple[str, str]:
        n = self._fresh(choices)
        kind = self.rng.choice(kinds)
        u = f"{kind}{unit}{'s' if n != 1 else ''}"
        w = number_to_words(n)
        legal = self.rng.choice((f"{w} ({n}) {u}", f"{n} {u}", f"{w} ({n}) {u}"))
        alts = [f"{n} {u}", f"{w} {u}"]
        if kind == "calendar ":
            alts.append(f"{n} {unit}s")
        if kind == "business ":
            alts.append(f"{n} working {unit}s")
        self.deadlines.append(alts)
        return legal, f"{n} {u}"

    def amount(self, lo: int, hi: int, step: int) -> tuple[str, str]:
        n = self.rng.randrange(lo, hi + 1, step)
        self.used.add(n)
        cur = self.rng.choice(("$", "$", "€", "£"))
        code, name = _CURRENCY[cur]
        digits = f"{n:,}"
        styles = [f"{cur}{digits}.00", f"{code} {digits}", f"{cur}{digits}"]
        if n < 1_000_000:
            styles.append(f"{number_to_words(n)} {name} ({cur}{digits})")
        self.amounts.append([digits])
        return self.rng.choice(styles), f"{cur}{digits}"

    def percent(self, choices) -> tuple[str, str]:
        p = self._fresh(choices)
        styles = [f"{p:g}%", f"{p:g} percent"]
        if float(p).is_integer():
            styles.append(f"{number_to_words(int(p))} percent ({p:g}%)")
        self.amounts.append([f"{p:g}%", f"{p:g} percent"])
        return self.rng.choice(styles), f"{p:g}%"

    def ordinal(self) -> tuple[str, str]:
        n = self._fresh(tuple(_ORDINALS))
        word, short = _ORDINALS[n]
        self.deadlines.append([short, word])
        return f"{word} ({short})", short


def _join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _grant_qualifiers(rng: random.Random, difficulty: str) -> tuple[str, str, list[list[str]]]:
    k = {"easy": 2, "medium": 3, "hard": rng.choice((4, 5))}[difficulty]
    keys = [rng.choice(g) for g in sorted(rng.sample(_GRANT_GROUPS, k), key=_GRANT_GROUPS.index)]
    legal = ", ".join(QUALIFIERS[q][0] for q in keys)
    plain = "The license is " + _join_and([rng.choice(QUALIFIERS[q][1]) for q in keys]) + "."
    return legal, plain, [list(QUALIFIERS[q][2]) for q in keys]


def _parties(rng: random.Random, family: str) -> list[dict[str, str]]:
    roles = FAMILIES[family][0]
    firsts = rng.sample(_W1, 2)
    out = []
    for i, role in enumerate(roles):
        if family == "consulting" and i == 1:
            person = rng.choice(_PEOPLE)
            out.append({"role": role, "full": person, "short": person, "desc": "an individual"})
            continue
        short = f"{firsts[i]} {rng.choice(_W2)}"
        kind = rng.choice(("corporation", "limited liability company", "company"))
        juris = rng.choice(_JURIS)
        article = "an" if juris[0] in "AEIOU" else "a"
        out.append({"role": role, "full": f"{short} {rng.choice(_ENTITY)}", "short": short,
                    "desc": f"{article} {juris} {kind}"})
    return out


def _intro(rng: random.Random, parties, doc: str, difficulty: str) -> tuple[str, str]:
    a, b = parties
    legal = [
        f'{a["full"]} (the "{a["role"]}") and {b["full"]} (the "{b["role"]}") agree as follows.',
        f'This {doc} (this "Agreement") is entered into by and between {a["full"]}, {a["desc"]} '
        f'("{a["role"]}"), and {b["full"]}, {b["desc"]} ("{b["role"]}").',
        f'As between {a["full"]} (hereinafter the "{a["role"]}") and {b["full"]} (hereinafter '
        f'the "{b["role"]}"), the parties agree as follows:',
    ]
    if difficulty == "hard":
        legal = [f'WHEREAS, {a["full"]} ("{a["role"]}") and {b["full"]} ("{b["role"]}") desire '
                 f'to enter into this {doc} on the terms set forth herein; NOW, THEREFORE, in '
                 f'consideration of the mutual covenants and agreements hereinafter set forth '
                 f'and other good and valuable consideration, the receipt and sufficiency of '
                 f'which are hereby acknowledged, the parties hereto agree as follows:']
    ra, rb = a["role"].lower(), b["role"].lower()
    plain = rng.choice((f"This agreement is between {a['short']} (the {ra}) and {b['short']} "
                        f"(the {rb}).", f"{a['short']} is the {ra} and {b['short']} is the {rb}.",
                        f"In this clause, {a['short']} is the {ra} and {b['short']} is the {rb}."))
    return rng.choice(legal), plain


def _pick_provisions(rng: random.Random, family: str, n: int) -> list[dict]:
    pool = [p for p in PROVISIONS if family in p["families"]]
    chosen: list[dict] = []
    for p in rng.sample(pool, len(pool)):
        names = {c["name"] for c in chosen} | {p["name"]}
        if any(len(names & group) > 1 for group in _EXCLUSIVE):
            continue
        chosen.append(p)
        if len(chosen) == n:
            break
    return chosen
_LOWERABLE = ("The ", "Either ", "Neither ", "In ", "This ", "Upon ", "During ", "Subject ")


def _lower_first(s: str) -> str:
    return s[0].lower() + s[1:] if s.startswith(_LOWERABLE) else s


def _render(rng: random.Random, p: dict, parties, family: str, slots: _Slots, difficulty: str,
            role_the: bool) -> tuple[str, str, dict[str, list]]:
    """(legal text, plain text, facts) for one provision."""
    bound, other = parties[p["who"]], parties[1 - p["who"]]
    item, item_p = rng.choice(FAMILIES[family][2])
    vals = {"X": f"the {bound['role']}" if role_the else bound["role"],
            "Y": f"the {other['role']}" if role_the else other["role"],
            "x": bound["short"], "y": other["short"], "item": item, "item_p": item_p,
            "shall": rng.choice(_SHALL), "shall_not": rng.choice(_SHALL_NOT),
            "state": rng.choice(_JURIS)}
    quals: list[list[str]] = []
    for slot in p["slots"].split():
        if slot == "D":
            vals["D"], vals["d"] = slots.period((5, 7, 10, 14, 15, 20, 30, 45, 60, 90), "day",
                                                ("", "", "calendar ", "business "))
        elif slot == "M":
            vals["M"], vals["m"] = slots.period((3, 6, 12, 18, 24, 36), "month")
        elif slot == "YR":
            vals["YR"], vals["yr"] = slots.period((2, 3, 5, 7), "year")
        elif slot == "A":
            vals["A"], vals["a"] = slots.amount(*p["amount"])
        elif slot == "P":
            vals["P"], vals["p"] = slots.percent(p["pct"])
        elif slot == "ORD":
            vals["ORD"], vals["ord"] = slots.ordinal()
        elif slot == "Q":
            vals["Q"], vals["q"], grant = _grant_qualifiers(rng, difficulty)
            quals += grant
    if p["qual"]:
        key, alts = p["qual"]
        vals["Qc"] = rng.choice(_LEGAL_Q[key]) if key in _LEGAL_Q else key
        vals["qc"] = key
        quals.append(list(alts))
    legal = rng.choice(p["legal"]).format(**vals)
    # "Mosaic Analytics's" -> "Mosaic Analytics'"
    plain = re.sub(r"(?<=s)'s\b", "'", rng.choice(p["plain"]).format(**vals))
    facts = {"obligations": [[k.format(**vals) for k in p["key"]]],
             "conditions": [list(c) for c in p["cond"]], "qualifiers": quals}
    return legal[0].upper() + legal[1:], plain, facts


class LegalRewrite(Task):
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        family = rng.choice(sorted(FAMILIES))
        doc = rng.choice(FAMILIES[family][1])
        parties = _parties(rng, family)
        n = {"easy": 1, "medium": 2, "hard": rng.choice((3, 4))}[difficulty]
        provs = _pick_provisions(rng, family, n)
        slots, role_the = _Slots(rng), rng.random() < 0.5
        rendered = [_render(rng, p, parties, family, slots, difficulty, role_the) for p in provs]
        legal = [r[0] for r in rendered]
        if difficulty != "easy" and rng.random() < 0.6:
            i = rng.randrange(len(legal))
            if not legal[i].startswith("Subject"):
                legal[i] = rng.choice(_OPENERS) + _lower_first(legal[i])
        if difficulty == "hard" and rng.random() < 0.5:
            items = [f"({chr(97 + i)}) {_lower_first(s.rstrip('.'))}" for i, s in enumerate(legal)]
            body = "The parties further agree that: " + "; ".join(items[:-1]) + "; and " + \
                items[-1] + "."
        else:
            body = " ".join(legal)
        intro_legal, intro_plain = _intro(rng, parties, doc, difficulty)
        heading = ""
        if rng.random() < 0.5:
            title = provs[0]["name"].replace("_", " ").title()
            heading = f"{rng.randint(2, 14)}.{rng.randint(1, 9)} {title}. "
        clause = f"{heading}{intro_legal} {body}"
        facts: dict[str, list] = {"obligations": [], "conditions": [], "qualifiers": []}
        for _, _, f in rendered:
            for k in facts:
                facts[k] += f[k]
        return {
            "fields": {"clause": clause},
            "source": clause,
            "reference": " ".join([intro_plain] + [r[1] for r in rendered]),
            "meta": {
                "family": family, "provisions": [p["name"] for p in provs],
                "parties": [_party_alts(pt) for pt in parties], **facts,
                "deadlines": slots.deadlines, "amounts": slots.amounts,
            },
        }


def _party_alts(party: dict[str, str]) -> list[str]:
    """A party counts as named by its short name, its role, or its first/last word alone."""
    words = party["short"].split()
    extra = words[-1] if party["short"] == party["full"] else words[0]
    return [party["short"], party["role"].lower(), extra]


# --- graded plain-language checks (rubric kind `python`) ------------------------------------
_ABBREV_RX = re.compile(r"\b(Inc|Ltd|Corp|Co|Mr|Ms|Mrs|Dr|No|St|vs|etc|B\.V|S\.A|N\.V|U\.S|"
                        r"e\.g|i\.e)\.", re.I)
_AMOUNT_RX = re.compile(r"[$€£]?\d[\d,]*(?:\.\d+)?%?")


def _fk_text(sample: Any) -> str:
    """The completion as Flesch-Kincaid should see it: party names and roles (which a rewrite
    must keep, and whose syllables would otherwise dominate a 3-sentence grade) become one
    short word, numbers one token, and abbreviation dots ("Inc.", "B.V.") stop ending
    sentences."""
    text = sample.completion or ""
    names = {a for alts in (sample.meta or {}).get("parties") or [] for a in alts}
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}\b", "X", text, flags=re.I)
    text = _ABBREV_RX.sub(lambda m: m.group(1).replace(".", ""), text)
    return _AMOUNT_RX.sub("N", text)


def _ramp(x: float, good: float, bad: float) -> float:
    return min(1.0, max(0.0, (bad - x) / (bad - good)))


def grade_level(sample: Any, good: float = 6.0, bad: float = 16.0) -> dict[str, Any]:
    """Flesch-Kincaid grade mapped linearly to [0, 1] (grade <= good -> 1, >= bad -> 0);
    pass at the midpoint.

    Graded rather than a single bound: a 3-sentence rewrite's grade moves by ~0.5 when a few
    words go, and a cliff at one grade would let a rewrite that drops a condition outscore
    the complete one. The hard bound stays in the rubric as a `readability` check."""
    from rewards.checks.text import flesch_kincaid_grade, words

    text = _fk_text(sample)
    if not words(text):
        return {"status": "fail", "value": 0.0, "reason": "empty text"}
    grade, _ = flesch_kincaid_grade(text)
    return {"status": "pass" if grade <= (good + bad) / 2 else "fail",
            "value": _ramp(grade, good, bad), "reason": f"FK grade {grade:.1f} (names masked)"}


def sentence_length(sample: Any, good: float = 15.0, bad: float = 30.0) -> dict[str, Any]:
    """Average words per sentence mapped linearly to [0, 1] (<= good -> 1, >= bad -> 0);
    pass at 20 words, the usual plain-language ceiling."""
    from rewards.checks.text import flesch_kincaid_grade, words

    text = _fk_text(sample)
    if not words(text):
        return {"status": "fail", "value": 0.0, "reason": "empty text"}
    _, wps = flesch_kincaid_grade(text)
    return {"status": "pass" if wps <= 20 else "fail", "value": _ramp(wps, good, bad),
            "reason": f"{wps:.1f} words per sentence"}


def substantive_rewrite(sample: Any, min_words: int = 15, min_ratio: float = 0.2):
    """At least min(min_words, min_ratio x the clause's words): a one-line gist is no rewrite."""
    return substantive(sample, min_words, min_ratio, relative_to="source")


def rewritten_not_copied(sample: Any, n: int = 5, max_share: float = 0.6):
    """At most `max_share` of the rewrite's 5-grams come from the clause verbatim."""
    return not_a_copy(sample, n, max_share)


# --- fact extraction for real clauses --------------------------------------------------------
_PERIOD_RX = re.compile(r"\b(\d+)\s*\)?\s*(business |calendar |working )?(day|month|year)s?\b", re.I)
_MONEY_RX = re.compile(r"(?:[$€£]|\b(?:USD|EUR|GBP|US\$)\s?)\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_PCT_RX = re.compile(r"\b(\d+(?:\.\d+)?)\s?(?:%|percent\b)", re.I)
_ROLES = ("Licensor", "Licensee", "Company", "Distributor", "Supplier", "Customer", "Franchisee",
          "Franchisor", "Consultant", "Contractor", "Client", "Vendor", "Buyer", "Seller",
          "Manufacturer", "Landlord", "Tenant", "Employer", "Employee", "Agent", "Reseller",
          "Purchaser", "Provider", "Developer", "Publisher", "Sponsor", "Borrower", "Lender")
_ROLE_RX = re.compile(r"\b(" + "|".join(_ROLES) + r")\b", re.I)
# longest first so "non-exclusive" is not also read as "exclusive"
_QUAL_RX = re.compile(r"(?<![\w-])(" + "|".join(
    re.escape(q) for q in sorted([v[0] for v in QUALIFIERS.values()] + ["irrevocably"],
                                 key=len, reverse=True)) + r")\b")
_MODAL_RX = re.compile(r"\b(?:shall|must|agrees? to|undertakes? to|will)\s+(?:not\s+|also\s+|"
                       r"promptly\s+|use\s+)?([a-z]{3,})", re.I)
_NOT_OBLIGATIONS = {"be", "have", "not", "also", "only", "then", "the", "any", "all", "such",
                    "its", "his", "her", "their", "each", "apply", "continue", "remain",
                    "become", "survive", "include", "mean", "govern", "automatically", "promptly"}
# legal verb -> plain verbs a rewrite may use instead
_SYNONYMS = {"remit": ("pay",), "maintain": ("keep",), "provide": ("give", "supply"),
             "furnish": ("give", "provide", "supply"), "terminate": ("end", "cancel"),
             "indemnify": ("protect", "cover", "compensate", "defend"),
             "procure": ("get", "obtain", "buy"), "notify": ("tell", "inform"),
             "reimburse": ("repay", "pay back"), "commence": ("start", "begin"),
             "permit": ("allow", "let"), "grant": ("give",), "assign": ("transfer",),
             "disclose": ("share", "reveal", "tell"), "retain": ("keep",), "utilize": ("use",),
             "deliver": ("send", "give"), "execute": ("sign",), "render": ("provide", "give"),
             "cooperate": ("work with", "help"), "refrain": ("not",), "perform": ("do", "carry out")}


def _stem(verb: str) -> str:
    # "provide" -> "provid" finds provides/provided/providing; short verbs stay whole
    return verb[:-1] if len(verb) > 4 and verb.endswith("e") else verb


def extract_facts(text: str) -> dict[str, list]:
    """Rubric facts read off a real clause (no gold rewrite exists): deadlines and amounts by
    pattern, qualifiers from the QUALIFIERS table, parties from defined role words,
    obligations from the verbs after shall/must/agrees to (with plain synonyms)."""
    deadlines, seen = [], set()
    for m in _PERIOD_RX.finditer(text):
        n, kind, unit = m.group(1), (m.group(2) or "").lower(), m.group(3).lower()
        key = (n, kind, unit)
        if key not in seen:
            seen.add(key)
            unit += "s" if n != "1" else ""
            deadlines.append([f"{n} {kind}{unit}"] + ([f"{n} {unit}"] if kind == "calendar " else []))
    amounts = [[m.group(1)] for m in _MONEY_RX.finditer(text)]
    amounts += [[f"{m.group(1)}%", f"{m.group(1)} percent"] for m in _PCT_RX.finditer(text)]
    low = text.lower()
    found = {m.lower() for m in _QUAL_RX.findall(low)}
    quals = [list(alts) for legal, _, alts in QUALIFIERS.values() if legal in found]
    if "irrevocably" in found and "irrevocable" not in found:
        quals.append(list(QUALIFIERS["irrevocable"][2]))
    if re.search(r"sole (?:cost|expense)|own (?:cost|expense)", low):
        quals.append(list(OWN_COST[1]))
    roles = {m.lower() for m in _ROLE_RX.findall(text)}
    parties = [[r.lower()] for r in _ROLES if r.lower() in roles]
    verbs: list[str] = []
    for m in _MODAL_RX.finditer(text):
        v = m.group(1).lower()
        if v not in _NOT_OBLIGATIONS and v not in verbs:
            verbs.append(v)
    obligations = [[_stem(v), *_SYNONYMS.get(v, ())] for v in verbs[:6]]
    return {"deadlines": deadlines, "amounts": amounts, "qualifiers": quals,
            "parties": parties, "obligations": obligations}


def _real_example(text: str, reference: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    # real clauses carry no annotated conditions: meta.conditions is absent, so that check
    # abstains rather than passing vacuously
    return {"fields": {"clause": text}, "source": text, "reference": reference,
            "meta": {**extract_facts(text), **extra}}


def load_cuad(path: Path) -> list[dict[str, Any]]:
    """CUAD clauses (`clauses.jsonl`: clause_type, text); no reference rewrites exist."""
    out = []
    for lineno, row in dataset_rows(path, "clauses.jsonl", "cuad", ("clause_type", "text")):
        text = " ".join(str(row["text"]).replace("<omitted>", " [...] ").split())
        meta = {"clause_type": row["clause_type"]}
        out.append({"id": f"cuad-{lineno}", **_real_example(text, None, meta)})
    return out


def load_legal_plain_english(path: Path) -> list[dict[str, Any]]:
    """legal_summarization `all_v1.json`: {uid: {original_text, reference_summary, doc, title}}
    (sources are lower-cased; span checks are case-insensitive, so that costs nothing)."""
    f = Path(path) / "all_v1.json"
    if not f.is_file():
        raise TaskError(f"legal-plain-english adapter: expected {f}")
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TaskError(f"{f}: invalid JSON ({e.msg} at line {e.lineno})") from e
    out = []
    for uid, row in sorted(data.items()):
        if not isinstance(row, dict) or not row.get("original_text"):
            raise TaskError(f"{f}: entry {uid!r} lacks original_text")
        out.append({"id": f"legalsum-{uid}", **_real_example(
            row["original_text"], row.get("reference_summary"),
            {"doc": row.get("doc"), "title": row.get("title")})})
    return out


TASK = LegalRewrite(
    name="legal_rewrite",
    description="Contract clause -> plain English that keeps every party, obligation, "
                "condition, deadline, amount and qualifier.",
    metric="score",
    scale=(0.0, 5.0),
    system_prompt=SYSTEM_PROMPT,
    user_template=USER_TEMPLATE,
    adapters={"cuad-clauses": load_cuad, "legal-plain-english": load_legal_plain_english},
    adapter_rubrics={"legal-plain-english": "legal_rewrite.legal-plain-english.yaml"},
)
