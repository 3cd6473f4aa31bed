"""Seeded noise processes shared by the task generators: OCR, typing, speech-to-text.

Every function takes a `random.Random` and is a pure function of (text, rng state, params), so
generators stay byte-identical across machines. `protect` lists substrings that must survive
verbatim (gold values the rubric later looks for in the source: invoice numbers, totals,
dosages); noise is applied only between their occurrences.

    rng = random.Random("seed")
    ocr_noise("INVOICE TOTAL 1,234.50", rng, rate=0.05, protect=["1,234.50"])
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable

# scanner/OCR confusions seen in receipt corpora (SROIE, CORD): glyphs with near-identical
# shapes. Multi-char pairs come first so "rn" -> "m" wins over single-char rules.
OCR_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "rn": ("m",), "m": ("rn",), "cl": ("d",), "vv": ("w",),
    "0": ("O", "o"), "O": ("0",), "o": ("0",),
    "1": ("l", "I"), "l": ("1", "I"), "I": ("1", "l"),
    "5": ("S",), "S": ("5",), "8": ("B",), "B": ("8",),
    "2": ("Z",), "Z": ("2",), "6": ("G",), "G": ("6",),
    "e": ("c",), "c": ("e",), "a": ("o",), "h": ("b",), "u": ("v",),
}
# first character -> confusable keys starting with it, longest first (a per-position scan of
# every key made invoice generation 5x slower)
_OCR_BY_FIRST: dict[str, list[str]] = {}
for _key in sorted(OCR_CONFUSIONS, key=len, reverse=True):
    _OCR_BY_FIRST.setdefault(_key[0], []).append(_key)

# QWERTY neighbours for fat-finger substitutions
_KEY_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}

# common real-world misspellings customers type (target word -> misspelling)
_MISSPELLINGS = {
    "receive": "recieve", "account": "acount", "definitely": "definately", "separate": "seperate",
    "password": "pasword", "subscription": "subscribtion", "immediately": "immediatly",
    "because": "becuase", "really": "realy", "until": "untill", "which": "wich",
    "weird": "wierd", "address": "adress", "cancel": "cancell", "payment": "payemnt",
    "doesn't": "doesnt", "can't": "cant", "don't": "dont", "won't": "wont", "it's": "its",
    "I'm": "im", "you're": "your", "there": "their", "the": "teh", "again": "agian",
}

# speech-to-text confusions: homophones and dropped function words
_HOMOPHONES = {
    "their": "there", "there": "their", "to": "too", "two": "to", "for": "four",
    "right": "write", "know": "no", "hear": "here", "weak": "week", "pain": "pane",
    "sore": "soar", "ate": "eight", "one": "won", "new": "knew", "break": "brake",
}
_FILLERS = ("um", "uh", "you know", "like", "I mean", "so", "okay")

Noise = Callable[[str], str]


def protected_apply(text: str, protect: Iterable[str], fn: Noise) -> str:
    """Apply `fn` to the parts of `text` outside every occurrence of each protected span.

    Longer spans claim their characters first. Plain `str.find` rather than one regex
    alternation: compiling a fresh pattern per document dominated generation time."""
    spans = sorted({p for p in protect if p}, key=len, reverse=True)
    if not spans:
        return fn(text)
    mask = bytearray(len(text))
    claimed = []
    for span in spans:
        start = text.find(span)
        while start != -1:
            end = start + len(span)
            if not any(mask[start:end]):
                mask[start:end] = b"\x01" * len(span)
                claimed.append((start, end))
            start = text.find(span, start + 1)
    out, last = [], 0
    for start, end in sorted(claimed):
        out += [fn(text[last:start]), text[start:end]]
        last = end
    out.append(fn(text[last:]))
    return "".join(out)


def ocr_noise(text: str, rng: random.Random, rate: float = 0.03, protect: Iterable[str] = (),
              space_drop: float | None = None) -> str:
    """Glyph confusions (0/O, 1/l, rn/m, ...) at `rate` per eligible position, plus dropped and
    doubled spaces at `space_drop` (default rate/2): what a cheap scanner does to an invoice."""
    drop = rate / 2 if space_drop is None else space_drop

    def noise(seg: str) -> str:
        out, i = [], 0
        while i < len(seg):
            if seg[i] == " ":
                r = rng.random()
                if r < drop:
                    i += 1
                    continue
                if r < drop * 1.3:
                    out.append("  ")
                    i += 1
                    continue
            for key in _OCR_BY_FIRST.get(seg[i], ()):
                if seg.startswith(key, i) and rng.random() < rate:
                    out.append(rng.choice(OCR_CONFUSIONS[key]))
                    i += len(key)
                    break
            else:
                out.append(seg[i])
                i += 1
        return "".join(out)

    return protected_apply(text, protect, noise)


def _typo_word(word: str, rng: random.Random) -> str:
    """One fat-finger edit on a word: neighbour swap, deletion, doubling or transposition."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 3:
        return word
    i = rng.choice(letters[1:])
    kind = rng.randrange(4)
    ch = word[i]
    if kind == 0 and ch.lower() in _KEY_NEIGHBOURS:
        sub = rng.choice(_KEY_NEIGHBOURS[ch.lower()])
        return word[:i] + (sub.upper() if ch.isupper() else sub) + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + ch + word[i:]
    if i + 1 < len(word) and word[i + 1].isalpha():
        return word[:i] + word[i + 1] + ch + word[i + 2:]
    return word


def typo_noise(text: str, rng: random.Random, rate: float = 0.04, protect: Iterable[str] = (),
               misspell: float = 0.5) -> str:
    """Keyboard typos at `rate` per word and habitual misspellings (recieve, dont) with
    probability `misspell` where the word occurs: how hurried customers type."""

    def noise(seg: str) -> str:
        parts = re.split(r"(\s+)", seg)
        out = []
        for part in parts:
            if not part or part.isspace():
                out.append(part)
                continue
            core = part.rstrip(".,!?;:")
            tail = part[len(core):]
            if core in _MISSPELLINGS and rng.random() < misspell:
                core = _MISSPELLINGS[core]
            elif rng.random() < rate:
                core = _typo_word(core, rng)
            out.append(core + tail)
        return "".join(out)

    return protected_apply(text, protect, noise)


def casual_case(text: str, rng: random.Random, p_lower: float = 0.3,
                p_shout: float = 0.05) -> str:
    """Whole-message casing habits: all lower case, or a shouted phrase in capitals."""
    r = rng.random()
    if r < p_lower:
        return text.lower()
    if r < p_lower + p_shout:
        words = text.split(" ")
        if len(words) > 4:
            i = rng.randrange(len(words) - 3)
            words[i:i + 3] = [w.upper() for w in words[i:i + 3]]
        return " ".join(words)
    return text


def asr_noise(text: str, rng: random.Random, rate: float = 0.05, protect: Iterable[str] = (),
              fillers: float = 0.03) -> str:
    """Speech-to-text artefacts: homophone swaps at `rate`, inserted fillers at `fillers` per
    word, and punctuation dropped at sentence ends half the time."""

    def noise(seg: str) -> str:
        out = []
        for part in re.split(r"(\s+)", seg):
            if not part or part.isspace():
                out.append(part)
                continue
            core = part.rstrip(".,!?;:")
            tail = part[len(core):]
            low = core.lower()
            if low in _HOMOPHONES and rng.random() < rate:
                core = _HOMOPHONES[low]
            if tail and rng.random() < 0.5:
                tail = ""
            # a bare-punctuation part (",") has no word to put a filler before: inserting one
            # would glue it to the previous (possibly protected) token, e.g. "eighty-sixum ,"
            if rng.random() < fillers and core:
                core = f"{rng.choice(_FILLERS)} {core}"
            out.append(core + tail)
        return "".join(out)

    return protected_apply(text, protect, noise)


def jitter_whitespace(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """Ragged columns: each run of 2+ spaces grows or shrinks, as in text pulled from PDFs."""
    return re.sub(r" {2,}", lambda m: " " * max(1, len(m.group(0)) + rng.randint(-2, 3))
                  if rng.random() < rate * 5 else m.group(0), text)
