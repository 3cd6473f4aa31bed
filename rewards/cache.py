"""Content-hash verdict cache: SQLite on local disk (default) or Redis shared across nodes.

Key = sha256(check id, rubric hash, the sample fields the check reads, and for judge checks the
judge's identity: model, endpoint, API style — never its key). Lookups and writes
are batched (one query / one transaction per harness batch) so the cache costs far less than
the judge or embedding calls it saves. The SQLite file travels with RL checkpoints.

`open_cache("redis://host:6379/0")` gives a RedisVerdictCache with the same interface
(get_many / put_many / stats) and the same keys, so every rank, node and reward-service process
pointed at one Redis pays for a judge verdict once. Anything else is a SQLite path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from rewards.verdict import Verdict

# the one file name every stage gives its verdict cache (run dir and checkpoints)
CACHE_FILE = "verdict_cache.sqlite"
# URL schemes that select the shared Redis cache instead of a SQLite file
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

log = logging.getLogger(__name__)


def cache_key(check_id: str, rubric_hash: str, inputs: dict,
              scorer: dict | None = None) -> str:
    """`scorer`: who produced the verdict beyond the rubric (the judge's model and endpoint);
    verdicts of a different judge never share a key."""
    blob = json.dumps([check_id, rubric_hash, inputs, scorer], sort_keys=True, default=str,
                      ensure_ascii=False)
    # surrogatepass: a lone surrogate in a Sample built in Python must not crash the batch
    # (the JSONL reader refuses them; the API takes what it is given)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _setup_retrying(db: sqlite3.Connection, path: Path, budget_s: float) -> None:
    """WAL mode and the table, retried while another process holds the lock. SQLite returns
    "database is locked" at once, without calling the busy handler (`timeout`), when two
    connections switch a new file to WAL together (measured: 9 of 60 processes failed, 4 at
    a time on fresh files) — a 2-rank torchrun start did exactly that in CI."""
    deadline = time.monotonic() + budget_s
    pause = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, v TEXT)")
            db.commit()
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError(
                    f"{path}: verdict cache still locked by another process after "
                    f"{budget_s:.0f} s ({e})") from e
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


class VerdictCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # every rank of a torchrun job opens the run dir's cache at once: wait for the
        # others' schema/WAL set-up instead of failing with "database is locked"
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        _setup_retrying(self._db, self.path, budget_s=60.0)
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: list[str]) -> dict[str, Verdict]:
        found: dict[str, Verdict] = {}
        with self._lock:
            for i in range(0, len(keys), 500):  # SQLite caps bound variables per statement
                chunk = keys[i:i + 500]
                q = f"SELECT key, v FROM verdicts WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in self._db.execute(q, chunk):
                    found[k] = Verdict.from_dict(json.loads(v))
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, items: dict[str, Verdict]) -> None:
        if not items:
            return
        rows = [(k, json.dumps(v.to_dict())) for k, v in items.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self)}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisVerdictCache:
    """The VerdictCache interface on Redis: one hash (`namespace`) of key -> verdict JSON, so
    a look-up is one HMGET and `entries` one HLEN whatever the size. A Redis that is down or
    slow never fails a batch: look-ups count as misses and writes are dropped, each with one
    warning line (the verdicts are recomputed, never faked)."""

    def __init__(self, url: str, namespace: str = "harnessrl:verdicts", timeout_s: float = 2.0):
        import redis  # lazy: only a Redis-backed cache needs the client

        self.url = url
        self.namespace = namespace
        self._r = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                       socket_connect_timeout=timeout_s)
        self._errors = (redis.RedisError, OSError)
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self._failing = False

    def _warn(self, what: str, e: Exception) -> None:
        self.errors += 1
        if self._failing:  # one line per outage, not three per batch
            return
        self._failing = True
        # the URL may carry a password (redis://:pw@host): log the host part only
        host = self.url.rsplit("@", 1)[-1]
        log.warning("verdict cache: Redis at %s %s failed (%s); continuing without it "
                    "(verdicts are recomputed) until it answers again", host, what,
                    type(e).__name__)

    def _ok(self) -> None:
        if self._failing:
            log.warning("verdict cache: Redis answers again")
            self._failing = False

    def get_many(self, keys: list[str]) -> dict[str, Verdict]:
        uniq = list(dict.fromkeys(keys))
        found: dict[str, Verdict] = {}
        if uniq:
            try:
                values = self._r.hmget(self.namespace, uniq)
                self._ok()
            except self._errors as e:
                self._warn("look-up", e)
                values = [None] * len(uniq)
            found = {k: Verdict.from_dict(json.loads(v))
                     for k, v in zip(uniq, values, strict=True) if v is not None}
        self.hits += len(found)
        self.misses += len(uniq) - len(found)
        return found

    def put_many(self, items: dict[str, Verdict]) -> None:
        if not items:
            return
        try:
            self._r.hset(self.namespace, mapping={k: json.dumps(v.to_dict())
                                                  for k, v in items.items()})
            self._ok()
        except self._errors as e:
            self._warn("write", e)

    def __len__(self) -> int:
        try:
            return int(self._r.hlen(self.namespace))
        except self._errors as e:
            self._warn("count", e)
            return 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self)}

    def close(self) -> None:
        self._r.close()


def open_cache(where) -> VerdictCache | RedisVerdictCache | None:
    """A cache from a location: a redis:// (rediss://, unix://) URL, a SQLite path, an already
    open cache (returned as is), or None (no cache)."""
    if isinstance(where, VerdictCache | RedisVerdictCache):
        return where
    if where is None or where == "":
        return None
    if isinstance(where, str) and where.startswith(REDIS_SCHEMES):
        return RedisVerdictCache(where)
    return VerdictCache(where)
