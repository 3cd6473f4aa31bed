"""Text, number, date and JSON-path normalisation shared by the deterministic checks."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

MISSING = object()

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n\s*```", re.S)
# numbers as people write them: 1,234.50  -3  12.5%  $1,200  1e3 is not matched on purpose
# (scientific notation is rare in these tasks and "1e3" often is an identifier)
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")
_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%y",
    "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d-%b-%Y",
    "%d %b, %Y", "%Y%m%d", "%d-%m-%y", "%d.%m.%y",
)


def parse_json(text: str | None, allow_fence: bool = False) -> tuple[Any, str]:
    """Parse a completion as JSON. Returns (obj, "") or (MISSING, reason).

    Without `allow_fence` the whole text must parse, so reasoning around the JSON fails — the
    published extraction evaluations count that as a format failure."""
    if text is None:
        return MISSING, "no completion"
    candidate = text.strip()
    if allow_fence:
        m = _FENCE.search(candidate)
        if m:
            candidate = m.group(1).strip()
    try:
        return json.loads(candidate), ""
    except json.JSONDecodeError as e:
        return MISSING, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"
    # Python refuses what JSON allows: an integer past its 4,300-digit limit (ValueError),
    # nesting deeper than its recursion limit. Either made every check of the answer abstain
    # (error) and masked the sample instead of scoring an unusable answer
    except ValueError:
        return MISSING, (f"not usable JSON: a number with more than "
                         f"{sys.get_int_max_str_digits()} digits")
    except RecursionError:
        return MISSING, "not usable JSON: nested too deeply to parse"


def as_json(value: Any, allow_fence: bool = False) -> Any:
    """A reference or completion as a JSON value: strings are parsed when they hold JSON."""
    if isinstance(value, str):
        obj, _ = parse_json(value, allow_fence)
        return value if obj is MISSING else obj
    return value


def get_path(obj: Any, path: str) -> Any:
    """Resolve `a.b[0].c` or `items[*].name` (a list) in nested dicts/lists; MISSING if absent."""
    if path in ("", "$", "*"):
        return obj
    current = [obj]
    fan_out = False
    for key, index in _PATH_TOKEN.findall(path):
        nxt = []
        for node in current:
            if key:
                if isinstance(node, dict) and key in node:
                    nxt.append(node[key])
            elif index == "*":
                fan_out = True
                if isinstance(node, list):
                    nxt.extend(node)
            elif isinstance(node, list) and int(index) < len(node):
                nxt.append(node[int(index)])
        if not nxt and not (fan_out and index == "*"):
            return MISSING
        current = nxt
    return current if fan_out else current[0]


def normalize_text(s: Any) -> str:
    """Case-, accent-, punctuation- and whitespace-insensitive form of a value."""
    s = unicodedata.normalize("NFKD", str(s)).encode("ascii", "ignore").decode()
    s = re.sub(r"[^\w\s%.-]", " ", s.lower())
    s = re.sub(r"(?<!\d)[.-]|[.-](?!\d)", " ", s)
    return " ".join(s.split())


def parse_number(value: Any) -> float | None:
    """1,234.50 / "$1,234.50" / "12%" / 12 -> float; None when it is not one number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    s = re.sub(r"[\s$€£₹¥]|(?i:usd|eur|gbp|inr|rs\.?|aud|cad|sgd|myr|rm)", "", str(value))
    s = s.rstrip("%")
    if re.fullmatch(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", s):
        return float(s.replace(",", ""))
    if re.fullmatch(r"[-+]?\d+,\d{1,2}", s):  # European decimal comma: 12,50
        return float(s.replace(",", "."))
    return None


def find_numbers(text: str) -> list[float]:
    """Every number written in `text`, normalised (thousands separators dropped)."""
    return [float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(text or "")]


def numbers_equal(a: float, b: float, rel_tol: float = 0.0, abs_tol: float = 1e-9) -> bool:
    return abs(a - b) <= max(abs_tol, rel_tol * max(abs(a), abs(b)))


def parse_date(value: Any) -> str | None:
    """A date in any common written format -> ISO `YYYY-MM-DD`; None when unparseable.

    Day-first formats are tried before month-first: invoices here and SROIE are day-first."""
    if value is None:
        return None
    s = " ".join(str(value).strip().replace(",", ", ").split()).replace(" ,", ",")
    s = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", s)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def fuzzy_ratio(a: Any, b: Any) -> float:
    return SequenceMatcher(None, normalize_text(a), normalize_text(b)).ratio()


def contains_span(haystack: str, span: str, case_sensitive: bool = False) -> bool:
    """Whether `span` appears in `haystack`, tolerant of whitespace, punctuation and number
    formats (a span "1,200" is found in "1200.00")."""
    if case_sensitive:
        return " ".join(span.split()) in " ".join(haystack.split())
    if normalize_text(span) in normalize_text(haystack):
        return True
    nums = find_numbers(span)
    words = normalize_text(re.sub(r"[-+]?[\d,]+(?:\.\d+)?", " ", span))
    if not nums:
        return False
    hay_nums = find_numbers(haystack)
    return all(any(numbers_equal(n, h) for h in hay_nums) for n in nums) and (
        not words or words in normalize_text(haystack))
