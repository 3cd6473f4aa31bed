"""The SQLite verdict cache opened by several processes at once, as every rank of a torchrun
job opens the run dir's cache at start: none may fail with "database is locked" (SQLite
refuses two concurrent switches of a new file to WAL without waiting; CI hit it)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

PROCESSES = 4
FILES = 20


def _open_each(root: str, barrier, errors) -> None:
    from rewards.cache import VerdictCache

    for i in range(FILES):
        barrier.wait()  # every process opens file i at the same moment
        try:
            cache = VerdictCache(Path(root) / f"c{i}.sqlite")
            cache.put_many({})
        except Exception as e:  # noqa: BLE001 - reported to the test
            errors.put(f"file {i}: {e!r}")


def test_ranks_opening_one_new_cache_together_all_succeed(tmp_path):
    ctx = mp.get_context("spawn")
    barrier, errors = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_open_each, args=(str(tmp_path), barrier, errors))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert all(p.exitcode == 0 for p in procs)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert len(list(tmp_path.glob("c*.sqlite"))) == FILES
