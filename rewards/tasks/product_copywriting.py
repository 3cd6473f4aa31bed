"""product_copywriting: a structured spec sheet -> a concise product description.

Metric: harness score on 0-5. The description must keep every listed feature and number
(`meta.required_spans`, numbers grounded in the spec), invent nothing (a puffery regex plus a
judge question when a judge is configured), name the product once, and stay within 30-150
words. The generator covers ten product families, each with its own names, materials, feature
pool, size/weight/capacity ranges and warranty terms, rendered in five spec-sheet formats
(key-value, bullets, markdown table, JSON, supplier prose). Difficulty:

- easy: 3 features, clean key-value sheet.
- medium: 4-5 features, colours and capacity, any format.
- hard: 5-7 features, imperial/metric mixes, and distractor lines the copy must not use:
  SKU and cost fields, internal notes, and supplier puffery flagged as unverified.

Gold descriptions are composed from ~40 sentence templates that mention the name exactly
once and carry every feature verbatim. The Flipkart adapter has no usable gold (its
descriptions are price boilerplate), so real samples are scored by the reference-free checks.

Probes (`python -m rewards.probe --task product_copywriting`, benchmarks/results/probes.md):
before the `substantive`/`not_spec_copy` gates and the `no_chat_wrapper` pitfall an empty
answer scored 2.1/5, a judge master key 2.4/5, chat prose or markdown around the copy 5.0/5
(gold). The required features listed in one run-on sentence (`keyword_stuff`) kept 4.8/5
and the copy repeated to the 150-word limit 4.6/5 until the `reads_as_prose` and
`no_padding` global gates (and `no_chat_wrapper` turned into one: wrappers had kept 4.2/5):
all score 0 now. The highest hack left without a judge is invented numbers and names
(1.6/5, 32% of the scale).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from rewards.tasks.base import Task, dataset_rows

# family -> noun, name stems, materials, features, dims (cm ranges or None), weight kg range,
# capacity (unit, lo, hi) or None, warranty years choices
FAMILIES: dict[str, dict[str, Any]] = {
    "backpack": {"noun": "backpack", "names": ("Trailhead", "Commuter", "Ridgeline", "Daypack", "Metro"),
                 "materials": ("recycled polyester", "ripstop nylon", "waxed canvas", "leather trim"),
                 "features": ("padded laptop sleeve", "water-resistant zippers", "hidden passport pocket",
                              "luggage pass-through strap", "side bottle pockets", "ventilated back panel",
                              "adjustable chest strap", "key clip", "reflective trim", "lockable main zip"),
                 "dims": ((40, 52), (25, 32), (12, 22)), "kg": (0.6, 1.6), "cap": ("L", 18, 35),
                 "warranty": (1, 2, 5, 10)},
    "kettle": {"noun": "kettle", "names": ("Brewmaster", "Pourover", "Highland", "Nordic", "Alba"),
               "materials": ("brushed stainless steel", "borosilicate glass", "BPA-free plastic"),
               "features": ("auto shut-off", "boil-dry protection", "removable limescale filter",
                            "360-degree swivel base", "keep-warm setting", "five temperature presets",
                            "gooseneck spout", "cool-touch handle", "water level window"),
               "dims": ((20, 26), (14, 18), (22, 28)), "kg": (0.9, 1.6), "cap": ("L", 1, 2),
               "warranty": (1, 2, 3)},
    "table": {"noun": "side table", "names": ("Linden", "Oslo", "Haven", "Cove", "Marlow"),
              "materials": ("solid oak", "powder-coated steel", "walnut veneer", "tempered glass"),
              "features": ("lower storage shelf", "felt-lined drawer", "adjustable feet",
                           "tool-free assembly", "rounded corners", "cable cut-out",
                           "water-resistant lacquer", "hidden wheels"),
              "dims": ((40, 60), (35, 50), (45, 65)), "kg": (4, 12), "cap": None,
              "warranty": (1, 2, 5)},
    "speaker": {"noun": "speaker", "names": ("Pulse", "Echo Mini", "Wavelet", "Bolt", "Harmony"),
                "materials": ("aluminium grille", "silicone body", "fabric mesh cover"),
                "features": ("Bluetooth 5.3", "IP67 dust and water resistance", "built-in microphone",
                             "USB-C charging", "stereo pairing", "aux input", "carabiner loop",
                             "power bank function", "companion app equaliser"),
                "dims": ((15, 22), (6, 9), (6, 9)), "kg": (0.3, 0.9), "cap": ("hours of playback", 10, 24),
                "warranty": (1, 2)},
    "lantern": {"noun": "camping lantern", "names": ("Firefly", "Basecamp", "Glowworm", "Nightjar"),
                "materials": ("ABS housing", "aluminium frame", "frosted polycarbonate globe"),
                "features": ("three brightness modes", "red night-light mode", "hanging hook",
                             "USB-C charging", "battery level indicator", "collapsible body",
                             "magnetic base", "SOS flash mode"),
                "dims": ((10, 14), (10, 14), (15, 24)), "kg": (0.2, 0.6), "cap": ("lumens", 200, 600),
                "warranty": (1, 2, 3)},
    "skillet": {"noun": "skillet", "names": ("Hearth", "Ironside", "Prairie", "Forge"),
                "materials": ("pre-seasoned cast iron", "tri-ply stainless steel", "carbon steel"),
                "features": ("oven-safe construction up to 260°C", "induction-compatible base", "helper handle",
                             "pour spouts on both sides", "flat base", "hanging hole", "matching lid"),
                "dims": ((26, 32), (26, 32), (5, 7)), "kg": (1.2, 3.4), "cap": None,
                "warranty": (5, 10, 25)},
    "lamp": {"noun": "desk lamp", "names": ("Lumen", "Arc", "Beacon", "Halo", "Studio"),
             "materials": ("anodised aluminium", "weighted steel base", "matte ABS"),
             "features": ("touch dimmer", "adjustable colour temperature", "wireless charging base",
                          "USB-A charging port", "auto-off timer", "flicker-free LEDs",
                          "memory function", "swivel head"),
             "dims": ((15, 20), (15, 20), (35, 50)), "kg": (0.8, 2.0), "cap": None, "warranty": (1, 2, 3)},
    "bottle": {"noun": "water bottle", "names": ("Summit", "Hydra", "Tidal", "Aspen", "Canyon"),
               "materials": ("18/8 stainless steel", "food-grade silicone", "Tritan plastic"),
               "features": ("double-wall vacuum insulation", "leak-proof lid", "wide mouth",
                            "powder-coated finish", "carry loop", "dishwasher-safe lid",
                            "spare straw lid", "cup-holder-friendly base"),
               "dims": ((7, 9), (7, 9), (22, 30)), "kg": (0.3, 0.6), "cap": ("ml", 500, 1200),
               "warranty": (1, 5, 10)},
    "jacket": {"noun": "rain jacket", "names": ("Drizzle", "Stormline", "Coastal", "Tempest"),
               "materials": ("2.5-layer nylon shell", "recycled polyester lining", "DWR coating"),
               "features": ("fully taped seams", "adjustable hood", "pit zips", "stow-away pocket",
                            "two zippered hand pockets", "hem drawcord", "velcro cuffs",
                            "reflective logo"),
               "dims": None, "kg": (0.25, 0.5), "cap": None, "warranty": (1, 2)},
    "dogbed": {"noun": "dog bed", "names": ("Snooze", "Burrow", "Cloud", "Nestle", "Dozer"),
               "materials": ("memory foam", "faux-fur cover", "oxford fabric base", "cotton canvas"),
               "features": ("removable washable cover", "non-slip base", "raised bolster edges",
                            "water-resistant liner", "orthopaedic support", "chew-resistant stitching"),
               "dims": ((60, 110), (45, 80), (12, 25)), "kg": (1, 4), "cap": None, "warranty": (1, 2)},
}
BRANDS = ("Northwind", "Kestrel & Co", "Oakhaven", "Bramble", "Lumio", "Fjordline", "Terra",
          "Mossgrove", "Pikes", "Corvid", "Wren", "Saltmarsh", "Alder")
COLOURS = ("black", "slate grey", "forest green", "navy", "sand", "terracotta", "white",
           "charcoal", "olive", "burgundy", "sky blue", "natural")
PUFFERY_NOTES = ("Supplier claim: \"best in the world\" (unverified, do not use)",
                 "Marketing wants \"military-grade\" in the copy; legal has not approved it",
                 "Supplier note: \"revolutionary design\" (not substantiated)",
                 "Competitor says theirs is \"#1 rated\"; we have no rating data")


def _dims_str(d: tuple[int, ...], imperial: bool) -> str:
    if imperial:
        inch = tuple(round(x / 2.54, 1) for x in d)
        return f"{inch[0]:g} x {inch[1]:g} x {inch[2]:g} in"
    return " x ".join(str(x) for x in d) + " cm"


def draw_product(rng: random.Random, difficulty: str) -> dict[str, Any]:
    """The product's facts: name, brand, materials, features, sizes, warranty, distractors."""
    fam_key = rng.choice(list(FAMILIES))
    fam = FAMILIES[fam_key]
    brand = rng.choice(BRANDS)
    n_feat = {"easy": 3, "medium": rng.randint(4, 5), "hard": rng.randint(5, 7)}[difficulty]
    features = rng.sample(fam["features"], min(n_feat, len(fam["features"])))
    materials = rng.sample(fam["materials"], rng.randint(1, 2))
    imperial = difficulty == "hard" and rng.random() < 0.4
    dims = tuple(rng.randint(lo, hi) for lo, hi in fam["dims"]) if fam["dims"] else None
    kg = round(rng.uniform(*fam["kg"]), 1)
    weight = f"{round(kg * 2.2046, 1):g} lb" if imperial else f"{kg:g} kg"
    cap = None
    if fam["cap"] and difficulty != "easy" or fam["cap"] and rng.random() < 0.5:
        unit, lo, hi = fam["cap"]
        value = rng.choice((1, 1.2, 1.5, 1.7, 2)) if unit == "L" and hi <= 2 else (
            rng.randint(lo, hi) // 5 * 5 if hi > 100 else rng.randint(lo, hi))
        cap = f"{value:g} {unit}"
    years = rng.choice(fam["warranty"])
    warranty = f"{years}-year {rng.choice(('limited warranty', 'warranty', 'manufacturer warranty'))}"
    return {
        "family": fam_key, "noun": fam["noun"], "brand": brand,
        "name": f"{brand} {rng.choice(fam['names'])} {fam['noun'].title()}"
                if rng.random() < 0.5 else f"{rng.choice(fam['names'])} {fam['noun'].title()}",
        "materials": materials, "features": features,
        "dims": _dims_str(dims, imperial) if dims else None, "weight": weight,
        "capacity": cap, "warranty": warranty, "years": years,
        "colours": rng.sample(COLOURS, rng.randint(2, 4)) if difficulty != "easy" and rng.random() < 0.6 else [],
        "sku": f"{fam_key[:3].upper()}-{rng.randint(1000, 9999)}-{rng.choice('ABCDEFGH')}",
        "distractors": difficulty == "hard",
    }


def _spec_rows(p: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("Product name", p["name"]), ("Brand", p["brand"]),
                                   ("Category", p["noun"]), ("Materials", ", ".join(p["materials"]))]
    if p["dims"]:
        rows.append(("Dimensions (W x D x H)", p["dims"]))
    rows.append(("Weight", p["weight"]))
    if p["capacity"]:
        rows.append(("Capacity" if not p["capacity"].endswith(("playback", "lumens")) else "Rating",
                     p["capacity"]))
    rows.append(("Features", p["features"]))
    if p["colours"]:
        rows.append(("Colours", ", ".join(p["colours"])))
    rows.append(("Warranty", p["warranty"]))
    return rows


def render_specs(p: dict[str, Any], rng: random.Random, difficulty: str) -> str:
    rows = _spec_rows(p)
    extra: list[tuple[str, Any]] = []
    if p["distractors"]:
        extra = [("SKU", p["sku"]), ("Internal note", rng.choice(PUFFERY_NOTES)),
                 ("Unit cost (internal)", f"{rng.randint(8, 90)}.{rng.randint(0, 99):02d} USD")]
        for item in extra:
            rows.insert(rng.randint(1, len(rows)), item)
    style = "kv" if difficulty == "easy" else rng.choice(("kv", "bullets", "table", "json", "prose"))
    if style == "json":
        return json.dumps({k.lower().replace(" ", "_"): v for k, v in rows}, indent=2,
                          ensure_ascii=False)
    if style == "table":
        return "| Field | Value |\n|---|---|\n" + "\n".join(
            f"| {k} | {'; '.join(v) if isinstance(v, list) else v} |" for k, v in rows)
    if style == "prose":
        feats = "; ".join(p["features"])
        parts = [f"{k}: {v}." for k, v in rows if k != "Features"]
        parts.insert(rng.randint(1, len(parts)), f"Key features: {feats}.")
        return "Supplier sheet. " + " ".join(parts)
    out = []
    for k, v in rows:
        if isinstance(v, list):
            mark = "-" if style == "kv" else rng.choice(("*", "•", "-"))
            out.append(f"{k}:\n" + "\n".join(f"  {mark} {x}" for x in v))
        else:
            out.append(f"{k}: {v}" if style == "kv" else f"- {k}: {v}")
    return "\n".join(out)


# ---- gold copy ------------------------------------------------------------------------------

OPENINGS = (
    "The {name} is made from {materials}.",
    "Made from {materials}, the {name} is built for everyday use.",
    "Meet the {name}, a {noun} in {materials}.",
    "The {name} pairs {materials} with a practical design.",
    "Crafted from {materials}, the {name} keeps things simple.",
    "Looking for a dependable {noun}? The {name} is made from {materials}.",
)
FEATURE_SENTENCES = (
    "It comes with {list}.", "Highlights include {list}.", "You also get {list}.",
    "Practical touches include {list}.", "It offers {list}.", "Features include {list}.",
    "There is also {list}.", "Details such as {list} make daily use easier.",
)
SIZE_SENTENCES = (
    "It measures {dims} and weighs {weight}.", "At {dims}, it weighs just {weight}.",
    "The {noun} measures {dims} and weighs {weight}.", "Size: {dims}; weight: {weight}.",
)
WEIGHT_ONLY = ("It weighs {weight}.", "The whole {noun} weighs {weight}.")
CAPACITY_SENTENCES = ("It is rated at {cap}.", "Capacity: {cap}.", "It offers {cap}.")
COLOUR_SENTENCES = ("Available in {colours}.", "Choose from {colours}.",
                    "It comes in {colours}.")
WARRANTY_SENTENCES = ("It is backed by a {warranty}.", "A {warranty} is included.",
                      "Covered by a {warranty}.", "Every purchase includes a {warranty}.")


# head nouns read without an article ("with tool-free assembly", not "a tool-free assembly")
_MASS = {"protection", "charging", "insulation", "assembly", "support", "lacquer", "stitching",
         "resistance", "trim", "equaliser", "construction", "finish", "input"}
_NUMBER_WORDS = {"two", "three", "four", "five", "six"}


def with_article(feature: str) -> str:
    """"gooseneck spout" -> "a gooseneck spout"; plurals, mass nouns, names stay bare."""
    first, last = feature.split()[0], feature.split()[-1].lower()
    if (not feature[0].islower() or first in _NUMBER_WORDS or last in _MASS
            or last.endswith("s") and not last.endswith("ss")):
        return feature
    return ("an " if feature[0] in "aeiou" else "a ") + feature


def join_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def gold_copy(p: dict[str, Any], rng: random.Random) -> str:
    """A description that keeps every feature and number and names the product once."""
    sent = [rng.choice(OPENINGS).format(name=p["name"], noun=p["noun"],
                                        materials=join_list(p["materials"]))]
    feats = list(p["features"])
    rng.shuffle(feats)
    cut = len(feats) // 2 if len(feats) > 3 else len(feats)
    templates = rng.sample(FEATURE_SENTENCES, 2)
    for chunk, tpl in zip((feats[:cut], feats[cut:]), templates, strict=True):
        if chunk:
            sent.append(tpl.format(list=join_list([with_article(f) for f in chunk])))
    if p["dims"]:
        sent.append(rng.choice(SIZE_SENTENCES).format(dims=p["dims"], weight=p["weight"],
                                                      noun=p["noun"]))
    else:
        sent.append(rng.choice(WEIGHT_ONLY).format(weight=p["weight"], noun=p["noun"]))
    if p["capacity"]:
        sent.append(rng.choice(CAPACITY_SENTENCES).format(cap=p["capacity"]))
    if p["colours"]:
        sent.append(rng.choice(COLOUR_SENTENCES).format(colours=join_list(p["colours"])))
    sent.append(rng.choice(WARRANTY_SENTENCES).format(warranty=p["warranty"]))
    return " ".join(sent)


def required_spans(p: dict[str, Any]) -> list[Any]:
    """What the copy must keep: each feature, each measurement; a list is a set of accepted
    alternatives (the warranty may be written "2-year" or "2 year")."""
    spans: list[Any] = list(p["features"])
    if p["dims"]:
        spans.append(p["dims"])
    spans.append(p["weight"])
    if p["capacity"]:
        spans.append(p["capacity"])
    spans.append([f"{p['years']}-year", f"{p['years']} year"])
    return spans


class ProductCopywriting(Task):
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        p = draw_product(rng, difficulty)
        specs = render_specs(p, rng, difficulty)
        return {"fields": {"specs": specs}, "source": specs, "reference": gold_copy(p, rng),
                "meta": {"product_name": p["name"], "family": p["family"],
                         "required_spans": required_spans(p), "features": p["features"]}}


# ---- rubric helper (python check) -------------------------------------------------------------

def no_invented_numbers(sample, **_: Any) -> dict[str, Any]:
    """Pass/fail twin of `numbers_grounded` for the rubric's pitfall: that check's value is the
    grounded share (one invented number among ten costs 1/10 of it), this one fails outright so
    a fabricated measurement or count costs a fixed share of the fidelity score."""
    from rewards.normalize import find_numbers, numbers_equal

    if sample.source is None:
        return {"status": "abstain", "reason": "no spec sheet"}
    allowed = find_numbers(sample.source)
    invented = [n for n in find_numbers(sample.completion or "")
                if not any(numbers_equal(n, a) for a in allowed)]
    if invented:
        return {"status": "fail", "reason": "not in the spec: " + ", ".join(f"{n:g}" for n in invented[:5])}
    return {"status": "pass", "reason": "every number is in the spec"}


# ---- Flipkart adapter -----------------------------------------------------------------------

_RUBY_PAIR = re.compile(r'"key"=>"((?:[^"\\]|\\.)*)",\s*"value"=>"((?:[^"\\]|\\.)*)"')
_RUBY_VALUE = re.compile(r'\{"value"=>"((?:[^"\\]|\\.)*)"\}')
# spec keys that are packaging/logistics noise rather than copy material
_SKIP_KEYS = {"Number of Contents in Sales Package", "Sales Package", "Model Number",
              "Model ID", "Style Code", "Design Code", "Net Quantity"}


def parse_flipkart_specs(raw: str) -> list[tuple[str, str]]:
    """Flipkart's Ruby-hash text ({"product_specification"=>[{"key"=>..., "value"=>...}]})
    -> [(key, value)]; key-less entries ({"value"=>...}) become ("Note", value)."""
    pairs = [(k, v) for k, v in _RUBY_PAIR.findall(raw or "")]
    keyed = {v for _, v in pairs}
    pairs += [("Note", v) for v in _RUBY_VALUE.findall(raw or "") if v not in keyed]
    return [(k.strip(), v.strip()) for k, v in pairs if v.strip()]


def load_flipkart(path: Path) -> list[dict[str, Any]]:
    """Flipkart products -> spec sheets; reference None (the listing descriptions are price
    boilerplate), spec values become the spans the copy should keep."""
    out = []
    for lineno, row in dataset_rows(path, "train.jsonl", "flipkart", ("name", "specifications_raw")):
        name, raw = str(row["name"]).strip(), str(row["specifications_raw"])
        pairs = [(k, v) for k, v in parse_flipkart_specs(raw) if k not in _SKIP_KEYS]
        if not pairs:
            continue
        try:
            category = json.loads(row.get("category_tree") or "[]")[0].split(" >> ")[-2]
        except (json.JSONDecodeError, IndexError, AttributeError):
            category = ""
        lines = [f"Product name: {name}"]
        if row.get("brand"):
            lines.append(f"Brand: {row['brand']}")
        if category:
            lines.append(f"Category: {category}")
        lines += [f"{k}: {v}" for k, v in pairs]
        specs = "\n".join(lines)
        # short values (colours, materials, sizes) are copy material; long care texts are not
        spans = [v for k, v in pairs if len(v) <= 30 and k != "Note"][:8]
        out.append({"id": f"flipkart-{lineno}", "fields": {"specs": specs}, "source": specs,
                    "reference": None,
                    "meta": {"product_name": name, "family": category, "required_spans": spans}})
    return out


TASK = ProductCopywriting(
    name="product_copywriting",
    description="Structured product specs -> concise description keeping every feature and "
                "number, no invented claims, product name once; 0-5 harness score.",
    metric="score",
    scale=(0.0, 5.0),
    system_prompt=(
        "You write product descriptions for an online shop. Use only facts from the spec "
        "sheet: keep every listed feature (in the spec's wording) and every measurement, "
        "weight, capacity and warranty term exactly as given. Do not add claims the specs do "
        "not support, no superlatives or hype (\"best\", \"revolutionary\", \"military-grade\"), "
        "and ignore internal notes, SKUs and costs. Mention the product name once. Write one "
        "plain paragraph of 30 to 150 words, with no heading and no bullet points."),
    user_template="Spec sheet:\n{specs}\n\nWrite the product description.",
    adapters={"flipkart-products": load_flipkart},
)
