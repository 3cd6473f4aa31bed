"""Content-hash verdict cache persisted in SQLite.

Key = sha256(check id, rubric hash, the sample fields the check reads). Lookups and writes
are batched (one query / one transaction per harness batch) so the cache costs far less than
the judge or embedding calls it saves. The file travels with RL checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from rewards.verdict import Verdict


def cache_key(check_id: str, rubric_hash: str, inputs: dict) -> str:
    blob = json.dumps([check_id, rubric_hash, inputs], sort_keys=True, default=str,
                      ensure_ascii=False)
    # surrogatepass: a lone surrogate in a Sample built in Python must not crash the batch
    # (the JSONL reader refuses them; the API takes what it is given)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class VerdictCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, v TEXT)")
        self._db.commit()
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
