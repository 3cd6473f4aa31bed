"""What every benchmark here reports the same way: the machine, the load beside each number
(the 2-core CPUs these run on are shared and seconds drift with their load), medians over
repeats and markdown tables.

    from benchmarks.measure import load, machine, median, table, utc_now

    lines = [f"- machine: {machine()}", f"- load before: {load()}",
             *table(["backend", "s/step (median of 3)"], [["hf", f"{median(s):.2f}"]])]

Benchmarks import the library and this module; nothing else imports either.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (`platform.processor()` is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, core count, GPU, Python and torch versions (torch imported here,
    not at module load: the harness benchmark runs without it)."""
    try:
        import torch
    except ImportError:
        return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu_name()}, {os.cpu_count()} cores, {gpu}, Python "
            f"{platform.python_version()}, torch {torch.__version__}")


def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]


def load() -> str:
    """The load averages as a report phrase: "load 2.31 / 1.90 / 1.75 (1/5/15 min)"."""
    one, five, fifteen = loadavg()
    return f"load {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min)"


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Markdown table lines: the header, the rule, one line per row (cells str()-ed)."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def fmt_delta(d: dict | None) -> str:
    """A paired delta {mean, ci_low, ci_high} as "+0.059 [+0.008, +0.113] ✓" (✓ CI above 0,
    ✗ below 0); "–" when there is none."""
    if not d or d.get("mean") is None:
        return "–"
    star = " ✓" if d["ci_low"] > 0 else (" ✗" if d["ci_high"] < 0 else "")
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]{star}"
