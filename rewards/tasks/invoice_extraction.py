"""invoice_extraction: invoice or receipt text -> JSON {vendor, invoice_number, date, total,
line_items[{description, quantity, unit_price, amount}]}.

Metric: harness score on 0-5. The generator draws a vendor from nine countries (currency,
tax regime, legal suffix, tax-id format, date habits), a trade (its item vocabulary and price
ranges) and one of five layouts (classic table, narrow till receipt, billing e-mail, pipe-
separated export, OCR-fragmented lines). Money is kept in integer cents so totals are exact.

- easy: clean text, no discount, one tax line.
- medium: ragged whitespace, light OCR noise on labels/addresses, discounts, shipping, PO
  numbers and due dates as distractors.
- hard: heavy OCR noise (0/O, 1/l, rn/m, dropped spaces), fragmented layouts, missing invoice
  numbers or dates (gold null; the due date is a distractor), deposits and balance-due lines,
  tax-inclusive prices, split taxes (CGST+SGST, GST+PST), net vs gross totals.

`total` is the invoice's gross total (after discounts, including tax and shipping), never the
subtotal or the balance left after a deposit; dates are ISO. Gold values are protected from
the noise so every gold number appears verbatim in the source (the rubric's grounding checks
rely on it). The SROIE adapter yields vendor/date/total only (receipts print no invoice
number, the annotations have no line items) and is scored by `rubrics/invoice_extraction.sroie.yaml`,
which requires only those fields.

Probes (`python -m rewards.probe --task invoice_extraction`, benchmarks/results/probes.md):
an empty `{}`-style shell scored 2.2/5 and an N/A shell 1.7/5 before the `fields_filled`
gate; now every built-in hack scores 0 except `invented` (1.3/5: format and schema still
pass). Not caught without gold or a judge: a confident value copied from elsewhere in the
document (the subtotal as total, a PO number as invoice number) is grounded, so on data
without gold fields only the grounding checks see it, and they pass.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

from rewards.normalize import (
    MISSING,
    as_json,
    find_numbers,
    numbers_equal,
    parse_date,
    parse_json,
    parse_number,
)
from rewards.tasks.base import Task, dataset_rows
from rewards.tasks.text_noise import jitter_whitespace, ocr_noise

# country -> currency display, tax lines (label, rate %), legal suffixes, date styles
COUNTRIES: dict[str, dict[str, Any]] = {
    "AU": {"cur": ("AUD", "$", "A$"), "tax": [[("GST", 10)]], "suffix": ("Pty Ltd", "Pty. Ltd."),
           "taxid": "ABN {d2} {d3} {d3} {d3}", "dates": ("dmy", "text_dmy", "iso"),
           "cities": ("Melbourne VIC 3000", "Brisbane QLD 4000", "Perth WA 6000")},
    "NZ": {"cur": ("NZD", "$", "NZ$"), "tax": [[("GST", 15)]], "suffix": ("Ltd", "Limited"),
           "taxid": "GST No. {d3}-{d3}-{d3}", "dates": ("dmy", "text_dmy"),
           "cities": ("Auckland 1010", "Wellington 6011", "Christchurch 8011")},
    "UK": {"cur": ("GBP", "£"), "tax": [[("VAT", 20)]], "suffix": ("Ltd", "LLP"),
           "taxid": "VAT Reg No GB {d3} {d4} {d2}", "dates": ("dmy", "text_dmy"),
           "cities": ("Leeds LS1 4DY", "Bristol BS1 5TR", "Manchester M1 3BN")},
    "US": {"cur": ("USD", "$"), "tax": [[("Sales Tax", 8.25)], [("Sales Tax", 7)], []],
           "suffix": ("LLC", "Inc.", "Co."), "taxid": "EIN {d2}-{d4}{d3}",
           "dates": ("mdy", "text_mdy", "iso"),
           "cities": ("Austin, TX 78701", "Portland, OR 97204", "Denver, CO 80202")},
    "DE": {"cur": ("EUR", "€"), "tax": [[("MwSt.", 19)], [("VAT", 19)]], "suffix": ("GmbH",),
           "taxid": "USt-IdNr. DE{d3}{d3}{d3}", "dates": ("dotted", "iso"),
           "cities": ("10115 Berlin", "80331 München", "50667 Köln")},
    "IE": {"cur": ("EUR", "€"), "tax": [[("VAT", 23)]], "suffix": ("Ltd", "DAC"),
           "taxid": "VAT No. IE{d3}{d4}X", "dates": ("dmy", "text_dmy"),
           "cities": ("Dublin 2", "Cork T12 X70A", "Galway H91 E2K3")},
    "MY": {"cur": ("MYR", "RM"), "tax": [[("SST", 6)], [("GST", 6)]], "suffix": ("Sdn Bhd",),
           "taxid": "SST Reg: W10-{d4}-{d4}{d4}", "dates": ("dmy", "text_dmy"),
           "cities": ("81100 Johor Bahru, Johor", "50450 Kuala Lumpur", "40150 Shah Alam")},
    "SG": {"cur": ("SGD", "S$"), "tax": [[("GST", 9)], [("GST", 8)]], "suffix": ("Pte Ltd",),
           "taxid": "GST Reg No: {d4}{d4}{d1}K", "dates": ("dmy", "text_dmy"),
           "cities": ("Singapore 069542", "Singapore 238859")},
    "IN": {"cur": ("INR", "₹", "Rs. "), "tax": [[("CGST", 9), ("SGST", 9)], [("IGST", 18)]],
           "suffix": ("Pvt Ltd", "Private Limited"), "taxid": "GSTIN 27AAPF{d4}F1Z{d1}",
           "dates": ("dmy", "text_dmy"), "cities": ("Pune 411001", "Mumbai 400001")},
    "CA": {"cur": ("CAD", "$", "C$"), "tax": [[("GST", 5), ("PST", 7)], [("HST", 13)]],
           "suffix": ("Inc.", "Ltd."), "taxid": "GST/HST No. {d3}{d3}{d3} RT0001",
           "dates": ("iso", "text_mdy", "dmy"),
           "cities": ("Vancouver, BC V6B 1A1", "Toronto, ON M5V 2T6")},
}

# trade -> (name words, items as (description, unit price range in currency units, unit))
TRADES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, int, int, str], ...]]] = {
    "office": (("Office Supplies", "Stationers", "Paper Co"), (
        ("A4 copy paper (box of 5 reams)", 25, 60, "ea"), ("Ballpoint pens, blue (pack of 12)", 4, 15, "ea"),
        ("Toner cartridge 26A black", 60, 180, "ea"), ("Desk organiser, mesh", 12, 40, "ea"),
        ("Sticky notes 76x76mm", 2, 9, "ea"), ("Lever arch files", 3, 8, "ea"),
        ("Whiteboard markers, assorted", 6, 20, "ea"), ("Ergonomic chair mat", 45, 120, "ea"))),
    "it": (("IT Solutions", "Tech Services", "Digital"), (
        ("Website maintenance", 150, 900, "mo"), ("Laptop setup and data migration", 90, 350, "ea"),
        ("On-site support", 85, 160, "hr"), ("Microsoft 365 Business licence", 12, 30, "ea"),
        ("SSD upgrade 1TB", 90, 220, "ea"), ("Network cabling", 40, 120, "hr"),
        ("Backup monitoring", 30, 120, "mo"), ("Firewall configuration", 200, 800, "ea"))),
    "catering": (("Catering", "Kitchen", "Events"), (
        ("Lunch platter (serves 10)", 80, 220, "ea"), ("Coffee and tea service", 3, 8, "pp"),
        ("Vegetarian wraps", 6, 14, "ea"), ("Fruit platter", 40, 95, "ea"),
        ("Delivery and setup", 25, 90, "ea"), ("Canapes selection", 2, 6, "ea"),
        ("Bottled water 600ml", 1, 4, "ea"), ("Waiting staff", 35, 60, "hr"))),
    "print": (("Print House", "Printing", "Signs"), (
        ("Business cards, 500 pcs", 35, 120, "ea"), ("A1 poster print, matte", 18, 60, "ea"),
        ("Vinyl banner 2m x 1m", 60, 180, "ea"), ("Graphic design", 60, 140, "hr"),
        ("Tri-fold brochures, 250 pcs", 90, 300, "ea"), ("Foam board mounting", 15, 45, "ea"),
        ("Window decal, custom", 40, 160, "ea"))),
    "trades": (("Plumbing", "Electrical", "Building Services"), (
        ("Labour", 70, 140, "hr"), ("Call-out fee", 60, 150, "ea"),
        ("Copper pipe 15mm (per metre)", 8, 20, "m"), ("Hot water valve replacement", 120, 380, "ea"),
        ("LED downlight installed", 45, 110, "ea"), ("Safety switch (RCD)", 90, 240, "ea"),
        ("Materials and consumables", 20, 150, "ea"), ("Drain camera inspection", 150, 400, "ea"))),
    "consulting": (("Consulting", "Advisory", "Partners"), (
        ("Strategy workshop", 1200, 4500, "ea"), ("Consulting hours", 150, 400, "hr"),
        ("Market research report", 800, 3500, "ea"), ("Travel expenses", 80, 900, "ea"),
        ("Quarterly board presentation", 500, 2000, "ea"), ("Data analysis", 120, 300, "hr"))),
    "hardware": (("Hardware", "Trading", "Building Supplies"), (
        ("Paint roller 230mm", 5, 18, "ea"), ("Masking tape 24mm", 2, 6, "ea"),
        ("Wood screws 8g x 40 (box)", 6, 15, "ea"), ("PVC pipe 50mm 3m", 9, 25, "ea"),
        ("Cement 20kg bag", 7, 16, "ea"), ("Extension cord 10m", 15, 40, "ea"),
        ("Safety gloves (pair)", 3, 12, "ea"), ("Spirit level 600mm", 14, 45, "ea"))),
}
NAME_WORDS = ("Harbor", "Bluegum", "Northgate", "Kowhai", "Silver Fern", "Lakeside", "Summit",
              "Tan & Sons", "Redwood", "Meridian", "Oakridge", "Greenline", "Atlas", "Copperleaf",
              "Westbay", "Sunrise", "Jade Garden", "Pinnacle", "Riverbend", "Brightwater",
              "Kestrel", "Lim Brothers", "Orchid", "Evergreen", "Granite", "Maple Leaf", "Saffron")
CUSTOMERS = ("Acme Dental Group", "Riverside Primary School", "J. Morrison", "Blue Door Cafe",
             "Hartley & Finch Solicitors", "Pacific Freight Lines", "Dr Anita Rao",
             "Greenfield Community Centre", "Nova Fitness", "Sato Architecture", "Wong Family Trust",
             "Lighthouse Veterinary Clinic", "M. Okonkwo", "Quarry Hill Winery")
STREETS = {"AU": ("Queen Street", "King William St", "Flinders Lane"),
           "NZ": ("Queen Street", "Lambton Quay", "Colombo Street"),
           "UK": ("High Street", "Station Road", "Deansgate"),
           "US": ("Main Street", "5th Avenue", "Market Street"),
           "DE": ("Bahnhofstraße", "Hauptstraße", "Lindenallee"),
           "IE": ("Grafton Street", "Patrick Street", "Shop Street"),
           "MY": ("Jalan Ampang", "Jalan Tampoi", "Jalan Bukit Bintang"),
           "SG": ("Orchard Road", "Tanjong Pagar Road", "Ubi Avenue 1"),
           "IN": ("MG Road", "FC Road", "Linking Road"),
           "CA": ("Granville Street", "Queen Street West", "Yonge Street")}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")


def money(cents: int) -> str:
    """123450 -> "1,234.50". Western grouping only: Indian lakh grouping (1,23,456.00) would
    split into several numbers for every reader that expects thousands separators."""
    sign = "-" if cents < 0 else ""
    units, frac = divmod(abs(cents), 100)
    return f"{sign}{units:,}.{frac:02d}"


def _digits(rng: random.Random, pattern: str) -> str:
    return re.sub(r"\{d(\d)\}", lambda m: "".join(str(rng.randrange(10))
                                                  for _ in range(int(m.group(1)))), pattern)


def format_date(d: dt.date, style: str, rng: random.Random) -> str:
    """Render a date; month-first numeric forms only when unambiguous (day > 12), because
    readers (and the rubric's date parser) try day-first first."""
    if style == "mdy" and d.day <= 12:
        style = "text_mdy"
    mon = MONTHS[d.month - 1]
    return {
        "iso": d.isoformat(),
        "dmy": f"{d.day:02d}/{d.month:02d}/{d.year}",
        "mdy": f"{d.month:02d}/{d.day:02d}/{d.year}",
        "dotted": f"{d.day:02d}.{d.month:02d}.{d.year}",
        "text_dmy": rng.choice((f"{d.day} {mon} {d.year}", f"{d.day} {mon[:3]} {d.year}",
                                f"{d.day:02d}-{mon[:3]}-{d.year}")),
        "text_mdy": rng.choice((f"{mon} {d.day}, {d.year}", f"{mon[:3]} {d.day}, {d.year}")),
    }[style]


def _invoice_number(rng: random.Random, year: int) -> str:
    style = rng.randrange(7)
    if style == 0:
        return f"INV-{year}-{rng.randint(1, 9999):04d}"
    if style == 1:
        return str(rng.randint(1000, 99999))
    if style == 2:
        return f"{rng.choice('ABCSTR')}-{rng.randint(100, 99999):05d}"
    if style == 3:
        return f"{year}/{rng.randint(1, 999):03d}"
    if style == 4:
        return f"INV{rng.randint(100, 999999):06d}"
    if style == 5:
        return f"SI-{rng.randint(10000, 99999)}"
    return f"TX{year % 100}{rng.randint(1, 12):02d}-{rng.randint(1, 9999):04d}"


def draw_invoice(rng: random.Random, difficulty: str) -> dict[str, Any]:
    """The invoice's facts (no layout): parties, ids, dates, items and totals in cents."""
    code = rng.choice(list(COUNTRIES))
    c = COUNTRIES[code]
    trade = rng.choice(list(TRADES))
    words, catalogue = TRADES[trade]
    vendor = f"{rng.choice(NAME_WORDS)} {rng.choice(words)} {rng.choice(c['suffix'])}"
    year = rng.randint(2019, 2025)
    date = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
    n_items = rng.randint(1, 3) if difficulty == "easy" else rng.randint(2, 6)
    items = []
    for desc, lo, hi, unit in rng.sample(catalogue, min(n_items, len(catalogue))):
        qty = rng.choice((1, 1, 2, 3, 4, 5, 10, 12)) if unit != "hr" else rng.choice(
            (1, 1.5, 2, 2.5, 3, 4, 6, 7.5))
        unit_cents = rng.randint(lo * 100, hi * 100) // 5 * 5
        items.append({"description": desc, "quantity": qty, "unit_cents": unit_cents,
                      "amount_cents": round(qty * unit_cents)})
    subtotal = sum(i["amount_cents"] for i in items)
    features = set()
    discount = 0
    if difficulty != "easy" and rng.random() < 0.35:
        pct = rng.choice((5, 10, 15, 20))
        discount = round(subtotal * pct / 100)
        features.add(f"discount_{pct}")
    shipping = rng.choice((0, 0, 0, 1500, 2500, 995)) if difficulty != "easy" else 0
    taxes = rng.choice(c["tax"])
    inclusive = difficulty == "hard" and bool(taxes) and rng.random() < 0.3
    base = subtotal - discount + shipping
    tax_lines = []
    if inclusive:
        rate = sum(r for _, r in taxes)
        included = round(base * rate / (100 + rate))
        tax_lines = [(f"{'+'.join(lab for lab, _ in taxes)} {rate:g}% (included)", included)]
        total = base
        features.add("tax_inclusive")
    else:
        tax_lines = [(f"{lab} {r:g}%", round(base * r / 100)) for lab, r in taxes]
        total = base + sum(a for _, a in tax_lines)
    deposit = 0
    if difficulty == "hard" and rng.random() < 0.3:
        deposit = round(total * rng.choice((20, 25, 30, 50)) / 100)
        features.add("deposit")
    has_number = not (difficulty == "hard" and rng.random() < 0.25)
    if not has_number:
        features.add("missing_number")
    # an undated invoice still shows a due date: the gold date is null, not the due date
    has_date = not (difficulty == "hard" and rng.random() < 0.1)
    if not has_date:
        features.add("missing_date")
    return {
        "country": code, "trade": trade, "vendor": vendor, "currency": rng.choice(c["cur"]),
        "code": c["cur"][0],
        "address": f"{rng.randint(1, 250)} {rng.choice(STREETS[code])}, {rng.choice(c['cities'])}",
        "phone": _digits(rng, rng.choice(("+{d2} {d1} {d4} {d4}", "({d3}) {d3}-{d4}", "{d2}-{d3} {d4}"))),
        "taxid": _digits(rng, c["taxid"]), "customer": rng.choice(CUSTOMERS),
        "customer_address": f"{rng.randint(1, 99)} {rng.choice(STREETS[code])}, "
                            f"{rng.choice(c['cities'])}",
        "number": _invoice_number(rng, year) if has_number else None,
        "po": f"PO-{rng.randint(1000, 99999)}" if difficulty != "easy" and rng.random() < 0.5 else None,
        "date": date if has_date else None,
        "date_str": format_date(date, rng.choice(c["dates"]), rng) if has_date else None,
        "due_str": format_date(date + dt.timedelta(days=rng.choice((7, 14, 30))),
                               rng.choice(c["dates"]), rng),
        "items": items, "subtotal": subtotal, "discount": discount, "shipping": shipping,
        "tax_lines": tax_lines, "total": total, "deposit": deposit, "features": sorted(features),
    }


def _m(inv: dict[str, Any], cents: int, sym: bool = False) -> str:
    s = money(cents)
    cur = inv["currency"]
    if not sym:
        return s
    # "RM31.00" would hide the number from readers that need a word boundary: codes get a space
    return f"{cur} {s}" if cur[-1].isalpha() else f"{cur}{s}"


def _qty(q: float) -> str:
    return f"{q:g}"


def _totals(inv: dict[str, Any], rng: random.Random) -> list[tuple[str, str]]:
    """(label, amount) rows under the items: subtotal, discount, shipping, taxes, total, deposit."""
    rows = [(rng.choice(("Subtotal", "Sub-total", "Net amount", "Net total")), _m(inv, inv["subtotal"]))]
    if inv["discount"]:
        pct = next(f.split("_")[1] for f in inv["features"] if f.startswith("discount_"))
        rows.append((f"{rng.choice(('Discount', 'Less discount', 'Trade discount'))} ({pct}%)",
                     _m(inv, -inv["discount"])))
    if inv["shipping"]:
        rows.append((rng.choice(("Shipping", "Freight", "Delivery")), _m(inv, inv["shipping"])))
    tax_rows = [(lab, _m(inv, amt)) for lab, amt in inv["tax_lines"]]
    total_label = rng.choice(("TOTAL", "Total", "Grand Total", "Invoice Total", "Total Amount"))
    if "tax_inclusive" in inv["features"]:
        rows.append((f"{total_label} (incl. tax)", _m(inv, inv["total"], sym=True)))
        rows += tax_rows
    else:
        rows += tax_rows
        if inv["tax_lines"] and rng.random() < 0.4:
            total_label = rng.choice(("Gross total", "Total incl. tax", "Total (gross)"))
        rows.append((total_label, _m(inv, inv["total"], sym=True)))
    if inv["deposit"]:
        rows.append((rng.choice(("Less deposit paid", "Deposit received", "Paid on account")),
                     _m(inv, -inv["deposit"])))
        rows.append((rng.choice(("Balance due", "Amount due now", "Balance payable")),
                     _m(inv, inv["total"] - inv["deposit"], sym=True)))
    return rows


def _header(inv: dict[str, Any], rng: random.Random) -> list[str]:
    lines = [inv["vendor"].upper() if rng.random() < 0.4 else inv["vendor"], inv["address"],
             f"Tel: {inv['phone']}", inv["taxid"]]
    if rng.random() < 0.3:
        lines[2:2] = [f"accounts@{re.sub(r'[^a-z]', '', inv['vendor'].lower())[:12]}.com"]
    return lines


def _id_lines(inv: dict[str, Any], rng: random.Random) -> list[str]:
    out = []
    if inv["number"]:
        out.append(f"{rng.choice(('Invoice No:', 'Invoice #', 'Inv. No.', 'INVOICE NUMBER:', 'Bill No.'))} {inv['number']}")
    if inv["date_str"]:
        out.append(f"{rng.choice(('Date:', 'Invoice Date:', 'Date of issue:', 'Issued:'))} "
                   f"{inv['date_str']}")
    if inv["po"]:
        out.append(f"{rng.choice(('PO Number:', 'Your ref:', 'Order ref:'))} {inv['po']}")
    if rng.random() < 0.6 or not inv["date_str"]:
        out.append(f"{rng.choice(('Due Date:', 'Payment due:', 'Due by'))} {inv['due_str']}")
    rng.shuffle(out)
    return out


def layout_table(inv: dict[str, Any], rng: random.Random) -> str:
    title = rng.choice(("TAX INVOICE", "INVOICE", "Invoice", "Tax Invoice / Receipt"))
    lines = _header(inv, rng) + ["", title, ""] + _id_lines(inv, rng)
    lines += ["", rng.choice(("Bill To:", "Billed to:", "Customer:")), inv["customer"],
              inv["customer_address"], ""]
    w = max(len(i["description"]) for i in inv["items"]) + 2
    lines.append(f"{'Description':<{w}}{'Qty':>6}{'Unit Price':>14}{'Amount':>14}")
    lines.append("-" * (w + 34))
    for it in inv["items"]:
        lines.append(f"{it['description']:<{w}}{_qty(it['quantity']):>6}"
                     f"{_m(inv, it['unit_cents']):>14}{_m(inv, it['amount_cents']):>14}")
    lines.append("")
    for label, amount in _totals(inv, rng):
        lines.append(f"{label + ':':>{w + 20}}{amount:>14}")
    lines += ["", rng.choice((f"All amounts in {inv['code']}.", "Payment terms: 14 days.",
                              "Thank you for your business!", "Please quote the invoice number "
                              "with your payment." if inv["number"] else "Payment by bank transfer."))]
    return "\n".join(lines)


def layout_receipt(inv: dict[str, Any], rng: random.Random) -> str:
    lines = [inv["vendor"].upper(), inv["address"], inv["taxid"], ""]
    lines += _id_lines(inv, rng)
    lines += [f"Cashier: {rng.choice(('01', 'AMY', 'K. LIM', '07'))}", "-" * 32]
    for it in inv["items"]:
        lines.append(it["description"])
        lines.append(f"  {_qty(it['quantity'])} x {_m(inv, it['unit_cents'])}"
                     f"{_m(inv, it['amount_cents']):>16}")
    lines.append("-" * 32)
    for label, amount in _totals(inv, rng):
        lines.append(f"{label.upper() + ':':<20}{amount:>12}")
    cash = (inv["total"] // 1000 + 1) * 1000
    lines += [f"{'CASH:':<20}{_m(inv, cash):>12}", f"{'CHANGE:':<20}{_m(inv, cash - inv['total']):>12}",
              "", rng.choice(("*** THANK YOU ***", "GOODS SOLD ARE NOT RETURNABLE", "PLEASE COME AGAIN"))]
    return "\n".join(lines)


def layout_email(inv: dict[str, Any], rng: random.Random) -> str:
    ref = f" {inv['number']}" if inv["number"] else ""
    dated = f" dated {inv['date_str']}" if inv["date_str"] else ""
    lines = [f"From: {inv['vendor']} <billing@{re.sub(r'[^a-z]', '', inv['vendor'].lower())[:10]}.com>",
             f"Subject: Your invoice{ref}", "",
             rng.choice(("Hello,", "Dear customer,", "Hi there,", f"Dear {inv['customer']},")), "",
             f"Please find your invoice{ref}{dated} below."]
    if inv["po"]:
        lines.append(f"This relates to your order {inv['po']}.")
    lines.append("")
    for it in inv["items"]:
        lines.append(f"- {it['description']}: {_qty(it['quantity'])} x {_m(inv, it['unit_cents'])}"
                     f" = {_m(inv, it['amount_cents'])}")
    lines.append("")
    lines += [f"{label}: {amount}" for label, amount in _totals(inv, rng)]
    lines += ["", f"Payment is due by {inv['due_str']}.", "", "Kind regards,",
              f"Accounts team, {inv['vendor']}", inv["address"], inv["taxid"]]
    return "\n".join(lines)


def layout_pipes(inv: dict[str, Any], rng: random.Random) -> str:
    lines = [f"supplier|{inv['vendor']}", f"supplier_tax_id|{inv['taxid']}",
             f"customer|{inv['customer']}"]
    if inv["number"]:
        lines.append(f"document_no|{inv['number']}")
    if inv["date_str"]:
        lines.append(f"issue_date|{inv['date_str']}")
    if inv["po"]:
        lines.append(f"purchase_order|{inv['po']}")
    lines.append(f"currency|{inv['code']}")
    lines.append("line|description|qty|unit_price|line_total")
    for n, it in enumerate(inv["items"], 1):
        lines.append(f"{n}|{it['description']}|{_qty(it['quantity'])}|{_m(inv, it['unit_cents'])}"
                     f"|{_m(inv, it['amount_cents'])}")
    lines += [f"{label.lower().replace(' ', '_')}|{amount}" for label, amount in _totals(inv, rng)]
    return "\n".join(lines)


def layout_fragments(inv: dict[str, Any], rng: random.Random) -> str:
    """SROIE-style OCR output: labels, colons and values on separate lines."""
    lines = _header(inv, rng)
    for row in _id_lines(inv, rng):
        label, _, value = row.partition(" ") if row.startswith("Due by") else row.rpartition(" ")
        lines += [label, ":", value] if rng.random() < 0.5 else [f"{label} {value}"]
    lines += ["DESCRIPTION", "QTY", "PRICE", "AMOUNT"]
    for it in inv["items"]:
        lines += [it["description"], _qty(it["quantity"]), _m(inv, it["unit_cents"]),
                  _m(inv, it["amount_cents"])]
    for label, amount in _totals(inv, rng):
        lines += [f"{label.upper()} :", amount]
    lines += ["THANK YOU", "PLEASE COME AGAIN"]
    return "\n".join(lines)


LAYOUTS = {"table": layout_table, "receipt": layout_receipt, "email": layout_email,
           "pipes": layout_pipes, "fragments": layout_fragments}
LAYOUTS_BY_DIFFICULTY = {"easy": ("table", "email", "receipt"),
                         "medium": ("table", "email", "receipt", "pipes"),
                         "hard": ("table", "receipt", "fragments", "pipes", "email")}


def reference_of(inv: dict[str, Any]) -> dict[str, Any]:
    return {
        "vendor": inv["vendor"], "invoice_number": inv["number"],
        "date": inv["date"].isoformat() if inv["date"] else None,
        "total": inv["total"] / 100,
        "line_items": [{"description": i["description"], "quantity": i["quantity"],
                        "unit_price": i["unit_cents"] / 100, "amount": i["amount_cents"] / 100}
                       for i in inv["items"]],
    }


def _protected(inv: dict[str, Any], text: str) -> list[str]:
    """Spans the noise must not touch: every gold value as written in the source. An item is
    protected from its description to its amount, so its quantity and prices survive without
    protecting every bare "1" or "2" elsewhere in the document."""
    spans = [inv["vendor"], inv["vendor"].upper(), inv["date_str"] or "", inv["number"] or "",
             _m(inv, inv["total"]), _m(inv, inv["total"], sym=True)]
    for it in inv["items"]:
        start = text.find(it["description"])
        amount = _m(inv, it["amount_cents"])
        end = text.find(amount, start)
        spans.append(text[start:end + len(amount)] if start >= 0 and end >= 0 else it["description"])
    return spans


class InvoiceExtraction(Task):
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        inv = draw_invoice(rng, difficulty)
        layout = rng.choice(LAYOUTS_BY_DIFFICULTY[difficulty])
        text = LAYOUTS[layout](inv, rng)
        if difficulty != "easy":
            text = jitter_whitespace(text, rng, rate=0.2 if difficulty == "medium" else 0.5)
            rate = 0.01 if difficulty == "medium" else rng.choice((0.03, 0.05, 0.08))
            text = ocr_noise(text, rng, rate=rate, protect=_protected(inv, text))
        ref = reference_of(inv)
        return {"fields": {"document": text}, "source": text, "reference": ref,
                "meta": {"layout": layout, "country": inv["country"], "currency": inv["code"],
                         "features": inv["features"],
                         "invoice_number_present": inv["number"] is not None}}


# ---- rubric helpers (python checks) -------------------------------------------------------

def _compact(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(s).lower())


def invoice_number_grounded(sample, **_: Any) -> dict[str, Any]:
    """An extracted invoice number must be copied from the document; when the document has
    none (gold null) the answer must be null rather than a PO number or an invention."""
    obj, why = parse_json(sample.completion)
    if obj is MISSING or not isinstance(obj, dict):
        return {"status": "fail", "value": 0.0, "reason": why or "not a JSON object"}
    got = obj.get("invoice_number")
    ref = as_json(sample.reference)
    gold_known = isinstance(ref, dict) and "invoice_number" in ref
    if got in (None, "", "null", "N/A"):
        return {"status": "pass", "reason": "no invoice number claimed"}
    if gold_known and ref["invoice_number"] is None:
        return {"status": "fail", "reason": f"document has no invoice number, got {got!r}"}
    if _compact(got) and _compact(got) in _compact(sample.source or ""):
        return {"status": "pass", "reason": f"{got!r} appears in the document"}
    return {"status": "fail", "reason": f"invoice number {got!r} not in the document"}


def total_grounded_ocr(sample, **_: Any) -> dict[str, Any]:
    """The answer's total appears in the OCR text, where the currency is often glued to the
    amount ("RM28.05", "TOTAL:7.72"): letters are split from digits before matching."""
    obj, why = parse_json(sample.completion)
    if obj is MISSING or not isinstance(obj, dict):
        return {"status": "fail", "value": 0.0, "reason": why or "not a JSON object"}
    got = parse_number(obj.get("total"))
    if got is None:
        return {"status": "fail", "reason": f"total {obj.get('total')!r} is not a number"}
    text = re.sub(r"(?<=[A-Za-z:])(?=\d)", " ", sample.source or "")
    if any(numbers_equal(got, n) for n in find_numbers(text)):
        return {"status": "pass", "reason": f"total {got:g} appears in the receipt"}
    return {"status": "fail", "reason": f"total {got:g} not in the receipt"}


# ---- SROIE adapter ------------------------------------------------------------------------

_SROIE_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})")


def sroie_date(raw: str) -> str | None:
    """SROIE dates are Malaysian day-first ("09/01/2019", "20/06/18", "02 APR 2018",
    "20180428") -> ISO; None when unparseable."""
    m = _SROIE_DATE.fullmatch(raw.strip())
    if m:
        d, mth, y = (int(g) for g in m.groups())
        y = y + 2000 if y < 100 else y
        try:
            return dt.date(y, mth, d).isoformat()
        except ValueError:
            return None
    return parse_date(raw.strip().title())


def load_sroie(path: Path) -> list[dict[str, Any]]:
    """SROIE receipts: OCR lines -> vendor, date, total (no invoice numbers or line items, so
    the reference omits them and those checks abstain)."""
    out = []
    for lineno, row in dataset_rows(path, "train.jsonl", "sroie", ("entities", "ocr_lines")):
        ents, text = row["entities"], "\n".join(row["ocr_lines"])
        ref: dict[str, Any] = {}
        if ents.get("company"):
            ref["vendor"] = ents["company"]
        if ents.get("date") and sroie_date(ents["date"]):
            ref["date"] = sroie_date(ents["date"])
        total = re.sub(r"[^\d.]", "", ents.get("total") or "")
        if re.fullmatch(r"\d+(\.\d+)?", total):
            ref["total"] = float(total)
        out.append({"id": f"sroie-{row.get('key', lineno)}", "fields": {"document": text},
                    "source": text, "reference": ref,
                    "meta": {"layout": "sroie", "address": ents.get("address")}})
    return out


TASK = InvoiceExtraction(
    name="invoice_extraction",
    description="Invoice/receipt text (clean to messy OCR) -> JSON with vendor, invoice_number, "
                "date, total, line_items; field accuracy, schema, grounding.",
    metric="score",
    scale=(0.0, 5.0),
    system_prompt=(
        "You extract structured data from invoices and receipts. Reply with one JSON object and "
        "nothing else: no explanation, no code fence. Keys:\n"
        '- "vendor": the business that issued the invoice (not the customer), as written\n'
        '- "invoice_number": the invoice/bill number exactly as printed, or null if the document '
        "has none (a PO or order reference is not an invoice number)\n"
        '- "date": the invoice date as YYYY-MM-DD (not the due date), or null if absent\n'
        '- "total": the invoice total as a number: after discounts, including tax and shipping; '
        "not the subtotal, and not the balance left after a deposit\n"
        '- "line_items": a list of {"description", "quantity", "unit_price", "amount"} in '
        "document order, numbers as numbers\n"
        "Copy values from the document; never guess a value that is not there. The scan may "
        "contain OCR errors such as O for 0 or l for 1."),
    user_template="Document:\n{document}",
    adapters={"sroie": load_sroie},
    adapter_rubrics={"sroie": "invoice_extraction.sroie.yaml"},
)
