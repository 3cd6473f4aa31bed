"""Score through a reward service (`python -m rewards.serve`) with the Harness surface.

    h = RemoteHarness("http://reward-host:8000", rubric="invoice", token_env="REWARD_TOKEN")
    results = h.score_batch(samples)         # list[HarnessResult], as Harness gives
    funcs, weights = remote_trl_reward_funcs("http://reward-host:8000", per_dimension=True)

`rubric`: a Rubric, dict or YAML path is loaded here and the service must serve a rubric with
its hash (the request names the hash; a mismatch is a 409, raised as RemoteRewardError); a
name (or None: the service's default) is looked up on the service (GET /v1/rubrics).

Failure policy: connection errors, timeouts, 429 and 5xx are retried with exponential backoff
(`backoff_s` * 1, 2, 4, ...); when the retries are spent the batch gets abstain verdicts
(score None: the RL loop masks the samples, never a fake 0), one ERROR log line says so, and
the caller continues; a later batch tries again and a WARNING line says when the service is
back. Other 4xx answers (bad token, bad request, rubric mismatch) are configuration errors and
raise RemoteRewardError with the service's message.

verl: `custom_reward_function.path=rewards/integrations.py name=remote_compute_score` with
`reward_kwargs: {url: ..., rubric: ...}` or HARNESSRL_REWARD_URL set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewards.rubric import Rubric, load_rubric
from rewards.sample import Sample
from rewards.spec import CheckSpec, Dimension
from rewards.sync import run_sync
from rewards.verdict import HarnessResult, Verdict

log = logging.getLogger(__name__)


class RemoteRewardError(RuntimeError):
    """The service refused the request for a reason retrying cannot fix (4xx)."""


class _RemoteCheck:
    """A check that runs on the service: what summaries and metrics ask of a built check."""

    def __init__(self, spec: CheckSpec, needs_judge: bool):
        self.spec = spec
        self.needs_judge = needs_judge
        self.cacheable = False


def rubric_from_service(info: dict[str, Any]) -> Rubric:
    """GET /v1/rubrics entry -> a Rubric whose checks run remotely (same hash, dimensions)."""
    dims = {n: Dimension(n, d["weight"], d["min_coverage"]) for n, d in info["dimensions"].items()}
    specs = [CheckSpec(c["id"], c["kind"], c["dimension"], c["weight"], c["gate"], c["pitfall"])
             for c in info["checks"]]
    return Rubric(specs, dims, tuple(info["scale"]), hash=info["hash"],
                  built=[_RemoteCheck(s, c["needs_judge"]) for s, c in zip(specs, info["checks"],
                                                                            strict=True)])


class RemoteHarness:
    """Harness-compatible client of the reward service: score_batch / ascore_batch / rubric /
    rubric_hash / last_stats. `cache` is None here: the service owns the verdict cache."""

    def __init__(self, url: str, rubric: Rubric | str | Path | dict | None = None,
                 token_env: str | None = None, timeout_s: float = 120.0, max_retries: int = 3,
                 backoff_s: float = 0.5, batch_size: int = 512):
        self.url = url.rstrip("/").removesuffix("/v1/score")
        self.token_env = token_env
        if token_env and not os.environ.get(token_env):
            raise RemoteRewardError(f"token_env: the environment variable {token_env} is empty "
                                    "or unset")
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.batch_size = batch_size
        self.cache = None
        self.judge = None
        self.last_stats: dict[str, Any] = {}
        self._name: str | None = None
        self._rubric: Rubric | None = None
        if isinstance(rubric, str) and not Path(rubric).is_file():
            self._name = rubric
        elif rubric is not None:
            self._rubric = load_rubric(rubric)
        self._down = False

    # ---- the Harness surface ------------------------------------------------------------
    @property
    def rubric(self) -> Rubric:
        if self._rubric is None:
            self._rubric = self._fetch_rubric()
        return self._rubric

    @property
    def rubric_hash(self) -> str:
        return self.rubric.hash

    def score_batch(self, samples: Sequence[Sample]) -> list[HarnessResult]:
        """Synchronous wrapper; safe to call from code that already runs an event loop."""
        return run_sync(lambda: self.ascore_batch(samples))

    async def ascore_batch(self, samples: Sequence[Sample]) -> list[HarnessResult]:
        import httpx

        t0 = time.perf_counter()
        samples = list(samples)
        rubric = self.rubric
        stats = {"judge_calls": 0, "judge_requests": 0, "judge_errors": 0, "cache_hits": 0,
                 "cache_misses": 0, "remote_failed": 0, "judge_error": None}
        results: list[HarnessResult] = []
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            for i in range(0, len(samples), self.batch_size):
                chunk = samples[i:i + self.batch_size]
                body = {"samples": [s.to_dict() for s in chunk], "rubric_hash": rubric.hash}
                if self._name is not None:
                    body["rubric"] = self._name
                data, error = await self._post(http, "/v1/score", body)
                if data is None:
                    stats["remote_failed"] += len(chunk)
                    results += abstain_results(rubric, chunk, f"reward service: {error}")
                    continue
                got = data.get("stats", {})
                for k in ("judge_calls", "judge_requests", "judge_errors", "cache_hits",
                          "cache_misses"):
                    stats[k] += int(got.get(k, 0))
                stats["judge_error"] = got.get("judge_error") or stats["judge_error"]
                results += self._results(data, chunk)
        self.last_stats = {"seconds": time.perf_counter() - t0, "cache": None, **stats}
        return results

    # ---- HTTP ---------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        token = os.environ.get(self.token_env) if self.token_env else None
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _post(self, http, path: str, body: dict) -> tuple[dict | None, str]:
        """(response JSON, "") or (None, why) once retries are spent; 4xx raise."""
        import httpx

        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                r = await http.post(self.url + path, json=body, headers=self._headers())
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"[:200]
                continue
            if r.status_code == 429 or r.status_code >= 500:
                last = f"HTTP {r.status_code}"
                continue
            if r.status_code >= 400:
                raise RemoteRewardError(f"reward service {self.url}{path}: HTTP {r.status_code}: "
                                        f"{_error_text(r)}")
            if self._down:
                log.warning("reward service %s is reachable again; scoring resumes", self.url)
                self._down = False
            return r.json(), ""
        why = f"unreachable after {self.max_retries + 1} attempts ({last})"
        log.error("reward service %s %s: %d samples abstain (score None, masked); the run "
                  "continues and the next batch tries again", self.url, why,
                  len(body.get("samples", [])))
        self._down = True
        return None, why

    def _fetch_rubric(self) -> Rubric:
        import httpx

        try:
            r = httpx.get(self.url + "/v1/rubrics", headers=self._headers(), timeout=self.timeout_s)
        except httpx.HTTPError as e:
            raise RemoteRewardError(f"reward service {self.url}: cannot fetch rubric "
                                    f"{self._name or '(default)'}: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise RemoteRewardError(f"reward service {self.url}/v1/rubrics: HTTP {r.status_code}: "
                                    f"{_error_text(r)}")
        data = r.json()
        name = self._name or data["default"]
        if name not in data["rubrics"]:
            raise RemoteRewardError(f"rubric: the service at {self.url} serves no rubric {name!r} "
                                    f"(served: {', '.join(data['rubrics'])})")
        self._name = name
        return rubric_from_service(data["rubrics"][name])

    def _results(self, data: dict, chunk: list[Sample]) -> list[HarnessResult]:
        rows = data.get("results")
        if not isinstance(rows, list) or len(rows) != len(chunk):
            raise RemoteRewardError(f"reward service {self.url}: expected {len(chunk)} results, "
                                    f"got {len(rows) if isinstance(rows, list) else rows!r}")
        if data.get("rubric_hash") != self.rubric.hash:
            raise RemoteRewardError(f"reward service {self.url}: scored with rubric hash "
                                    f"{data.get('rubric_hash')}, expected {self.rubric.hash}")
        return [result_from_dict(row, s.meta) for row, s in zip(rows, chunk, strict=True)]


def _error_text(r) -> str:
    try:
        return str(r.json().get("error", r.text))[:300]
    except ValueError:
        return r.text[:300]


def result_from_dict(row: dict[str, Any], meta: dict | None = None) -> HarnessResult:
    """One line of `rewards.score` output (or a /v1/score result) -> HarnessResult."""
    return HarnessResult(str(row["id"]), row["score"], row["normalized"], dict(row["dimensions"]),
                         dict(row["coverage"]),
                         {k: Verdict.from_dict(v) for k, v in row["verdicts"].items()},
                         row["rubric_hash"], dict(meta or {}))


def abstain_results(rubric: Rubric, samples: Sequence[Sample], reason: str) -> list[HarnessResult]:
    """Every check abstains, every dimension is uncovered, the score is None (masked)."""
    return [HarnessResult(s.id, None, None, {d: None for d in rubric.dimensions},
                          {d: 0.0 for d in rubric.dimensions},
                          {c.id: Verdict("abstain", None, reason) for c in rubric.checks},
                          rubric.hash, dict(s.meta)) for s in samples]
