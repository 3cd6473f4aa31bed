"""Resuming after SIGKILL: the checkpoint's verdict cache replaces the run dir's, and the killed
process's WAL must not be replayed onto it (SQLite pairs a WAL with its database by file name
only; a GRPO resume after an OOM kill read "database disk image is malformed")."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys

from rl.state import restore_sqlite

WRITER = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA wal_autocheckpoint=0")
with db:
    db.executemany("INSERT INTO v VALUES (?, ?)", [(f"k{i}", "x" * 500) for i in range(2000)])
os._exit(0)  # like SIGKILL: no checkpoint, no close, the -wal stays behind
"""


def _keys(path):
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {k for (k,) in db.execute("SELECT k FROM v")}


def test_restore_drops_the_killed_processes_wal(tmp_path):
    ckpt, live = tmp_path / "ckpt.sqlite", tmp_path / "run" / "verdict_cache.sqlite"
    live.parent.mkdir()
    with contextlib.closing(sqlite3.connect(ckpt)) as db, db:
        db.execute("CREATE TABLE v (k TEXT PRIMARY KEY, val TEXT)")
        db.execute("INSERT INTO v VALUES ('saved', 'at the checkpoint')")
    restore_sqlite(ckpt, live)
    subprocess.run([sys.executable, "-c", WRITER, str(live)], check=True)
    wal = live.with_name(live.name + "-wal")
    assert wal.stat().st_size > 100_000  # the killed run's frames, never checkpointed
    restore_sqlite(ckpt, live)
    assert not wal.exists()
    assert _keys(live) == {"saved"}
