"""judge: a yes/no question about the sample put to an LLM behind an OpenAI-compatible API.

value = P(yes) from the first answer token's top log-probs when the server returns them
(normalised over the yes/no mass), else the parsed answer. Transient failures (connection
refused, 429, 5xx, malformed bodies, timeouts) are retried with exponential backoff; what
still fails — or an answer that is neither yes nor no — becomes an abstain whose reason names
the error as it happened (`HTTP 503: …`, `malformed response body …`, `connection refused …`,
`timeout after 2s …`), never a fake 0 (verl scores a judge timeout as 0.0).

Each endpoint has a circuit breaker (rewards/breaker.py) shared by every harness in the
process: after `breaker_failures` failed requests in a row (5xx, malformed bodies, transport
errors, timeouts; not 429, which is a live server asking for patience) the endpoint's checks
abstain at once with "judge unavailable" for `breaker_cooldown_s`, then one request probes it.
A dead judge used to cost ~18 s of retries and backoff per 40 samples, every batch.

The API key is read from the environment variable *named* in the config and never logged or
stored: a key-shaped value where the name belongs, or a credential-named config key
(`api_key:`), is refused on load, and server error bodies are redacted (key value, `Bearer …`,
key-shaped tokens) before they become a verdict reason — a server that echoes request headers
would otherwise put the key into every scored row.

The check's time limit (`timeout_s` on the check, else the harness default) starts when the
request is sent, after the judge semaphore is acquired: counting the queue made a healthy
server at 0.5 s latency time out 148 of 200 checks at concurrency 8. Retries fit inside it
(no retry starts that its backoff would push past the limit), and the verdict's latency is
this time alone; the queue time is reported apart. Requests are logged at DEBUG (httpx logs
each at INFO, which under Hydra's INFO logging was one line per judge call).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from rewards.checks.base import REMOTE, Check, Params
from rewards.sample import Sample
from rewards.validate import (
    SECRET_KEYS,
    env_var_name,
    finite,
    looks_like_secret,
    redact,
    template_fields,
)
from rewards.verdict import Verdict, abstain

_YES, _NO = {"yes", "y", "true"}, {"no", "n", "false"}
_SYSTEM = ("You are a strict evaluator. Answer the question about the response with a single "
           "word: yes or no.")
_TEMPLATE = ("{question}\n\n[SOURCE]\n{source}\n\n[REFERENCE]\n{reference}\n\n"
             "[RESPONSE]\n{completion}\n\nAnswer yes or no.")


@dataclass
class JudgeConfig:
    base_url: str
    model: str
    # the NAME of the environment variable holding the key (never the key itself)
    api_key_env: str | None = None
    api: Literal["chat", "completions"] = "chat"
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_s: float = 0.5
    concurrency: int = 8
    top_logprobs: int = 5
    # failed requests in a row that open the endpoint's circuit breaker, and how long it then
    # stays open before one request probes it
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    # merged into every request body: provider extras, e.g. vLLM's
    # {"structured_outputs": {"choice": ["yes", "no"]}} to force a yes/no answer
    extra_body: dict[str, Any] | None = None

    @classmethod
    def resolve(cls, explicit: Any = None, rubric_judge: dict | None = None) -> JudgeConfig | None:
        """Explicit config > rubric `judge:` block > HARNESSRL_JUDGE_* environment variables."""
        if isinstance(explicit, JudgeConfig):
            return explicit
        raw = dict(rubric_judge or {})
        raw.update({k: v for k, v in dict(explicit or {}).items() if v is not None})
        # an empty variable means unset (`HARNESSRL_JUDGE_BASE_URL= cmd` switches the judge off)
        env_url = os.environ.get("HARNESSRL_JUDGE_BASE_URL") or None
        env_model = os.environ.get("HARNESSRL_JUDGE_MODEL") or None
        raw.setdefault("base_url", env_url)
        raw.setdefault("model", env_model)
        if os.environ.get("HARNESSRL_JUDGE_API_KEY_ENV"):
            raw.setdefault("api_key_env", os.environ["HARNESSRL_JUDGE_API_KEY_ENV"])
        raw = check_judge_block(raw, "HARNESSRL_JUDGE_* / judge config")
        if not raw.get("base_url") or not raw.get("model"):
            return None
        return cls(**{k: v for k, v in raw.items() if v is not None})

    def missing_key(self) -> str | None:
        """Why no request may be sent: a named key variable that is unset (a request without
        the key would fail on auth, or worse reach a server that needs none silently)."""
        if self.api_key_env and not os.environ.get(self.api_key_env):
            return (f"environment variable {self.api_key_env!r} (judge api_key_env) is not set")
        return None

    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def identity(self) -> dict[str, Any]:
        """Which judge answers: part of every judge verdict's cache key (never the key)."""
        return {"model": self.model, "base_url": self.base_url.rstrip("/"), "api": self.api}

    @classmethod
    def from_group(cls, group: Any) -> dict[str, Any] | None:
        """The recipes' `judge` config group (conf/judge/) -> the explicit judge settings
        `resolve` takes; None when the group is absent or names no endpoint. The judge is on
        exactly when `base_url` is set, so `judge.base_url=URL` alone selects it in every
        recipe; a mapping's `enabled: false` (the Python API's switch) turns it off."""
        if group is None:
            return None
        if type(group).__module__.startswith("omegaconf"):
            from omegaconf import OmegaConf

            group = OmegaConf.to_container(group, resolve=True)
        group = dict(group)
        if group.pop("enabled", True) is False or not group.get("base_url"):
            return None
        return group

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a reason, a log or an output file."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return (key,) if key else ()

    def public(self) -> dict[str, Any]:
        """What may be logged: everything but secrets (the key never lives here anyway)."""
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env,
                "api": self.api}


class JudgeError(RuntimeError):
    pass


class JudgeConfigError(ValueError):
    """An invalid judge setting; `key` is the offending key for the caller's key path."""

    def __init__(self, key: str, msg: str):
        super().__init__(msg)
        self.key = key


def _url(v: Any) -> str:
    if not isinstance(v, str) or not v.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s):// URL, got {v!r}")
    if "@" in v.split("//", 1)[1].split("/", 1)[0]:
        raise ValueError("credentials in the URL are refused (they would be logged); "
                         "name an environment variable in api_key_env instead")
    return v


def _choice(*allowed):
    def check(v):
        if v not in allowed:
            raise ValueError(f"expected one of {', '.join(map(repr, allowed))}, got {v!r}")
        return v
    return check


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty string, got {v!r}")
    return v


def _extra_body(v: Any) -> dict:
    if not isinstance(v, dict):
        raise ValueError(f"expected a mapping of request-body extras, got {v!r}")
    for k in v:
        if not isinstance(k, str) or SECRET_KEYS.search(k):
            raise ValueError(f"key {k!r}: credentials do not belong in the request body config")
    return v


# the domain of every judge setting (None = unset, filled from the next source)
_JUDGE_KEYS = {
    "base_url": _url,
    "model": _text,
    "api_key_env": env_var_name,
    "api": _choice("chat", "completions"),
    "timeout_s": lambda v: finite(v, positive=True, hi=86_400),
    "max_retries": lambda v: finite(v, integer=True, lo=0, hi=20),
    "backoff_s": lambda v: finite(v, lo=0, hi=600),
    "concurrency": lambda v: finite(v, integer=True, lo=1, hi=4096),
    "top_logprobs": lambda v: finite(v, integer=True, lo=0, hi=20),
    "breaker_failures": lambda v: finite(v, integer=True, lo=1, hi=10_000),
    "breaker_cooldown_s": lambda v: finite(v, positive=True, hi=86_400),
    "extra_body": _extra_body,
}


def check_judge_block(raw: Any, where: str = "judge") -> dict[str, Any]:
    """Validate a judge mapping (rubric block, Hydra group or CLI flags); unknown keys and
    credential-valued keys are refused, so a key never reaches .hydra/*.yaml or W&B."""
    out = {}
    for k, v in dict(raw).items():
        if k not in _JUDGE_KEYS:
            if isinstance(k, str) and (SECRET_KEYS.search(k) or
                                       (isinstance(v, str) and looks_like_secret(v))):
                raise JudgeConfigError(str(k), "a credential does not belong in a config (it "
                                       "would be copied into .hydra/*.yaml, W&B and logs); put "
                                       "it in an environment variable and set api_key_env to "
                                       "that variable's NAME")
            raise JudgeConfigError(str(k), "unknown judge key; expected one of "
                                   + ", ".join(_JUDGE_KEYS))
        try:
            out[k] = None if v is None else _JUDGE_KEYS[k](v)
        except ValueError as e:
            raise JudgeConfigError(k, str(e)) from None
    return out


def p_yes_from_top_logprobs(top: list[dict[str, Any]] | dict[str, float]) -> float | None:
    """P(yes) normalised over yes/no tokens among the top candidates of the first token."""
    items = top.items() if isinstance(top, dict) else ((t["token"], t["logprob"]) for t in top)
    yes = no = 0.0
    for token, lp in items:
        word = token.strip().lower().strip(".!,\"'")
        if word in _YES:
            yes += math.exp(lp)
        elif word in _NO:
            no += math.exp(lp)
    return yes / (yes + no) if yes + no > 0 else None


def parse_answer(text: str) -> bool | None:
    m = re.match(r"\W*(\w+)", text or "")
    word = m.group(1).lower() if m else ""
    return True if word in _YES else False if word in _NO else None


@dataclass
class Attempts:
    """What one judge question went through: requests sent and the last error, so a time
    limit that cuts the retries short still reports what the server did."""

    deadline: float
    limit: float  # the check's time limit, which the deadline ends
    requests: int = 0
    last: str = ""

    def failed(self, why: str) -> None:
        self.last = why


_BREAKERS: dict[tuple, Any] = {}
log = logging.getLogger(__name__)


def breaker_states() -> dict[str, str]:
    """endpoint -> closed | open | half-open, for every judge this process has called."""
    return {url: b.state for (url, *_), b in list(_BREAKERS.items())}


def breaker_for(cfg: JudgeConfig):
    """The process-wide breaker of cfg's endpoint (every harness and batch shares it)."""
    from rewards.breaker import Breaker

    key = (cfg.base_url.rstrip("/"), cfg.breaker_failures, cfg.breaker_cooldown_s)
    if key not in _BREAKERS:
        _BREAKERS[key] = Breaker(cfg.breaker_failures, cfg.breaker_cooldown_s)
    return _BREAKERS[key]


def _transport_error(e: Exception, timeout: float) -> str:
    import httpx

    name = type(e).__name__
    if isinstance(e, httpx.TimeoutException):
        return f"timeout after {timeout:g}s ({name}: no answer)"
    text = str(e)[:160]
    if isinstance(e, httpx.ConnectError):
        cause, refused = e, False  # httpx says "All connection attempts failed": ask the OS
        while cause is not None and not refused:
            refused = isinstance(cause, ConnectionRefusedError)
            cause = cause.__cause__ or cause.__context__
        return f"{'connection refused' if refused else 'cannot connect'} ({name}: {text})"
    return f"connection error ({name}: {text})"


async def ask(client, cfg: JudgeConfig, prompt: str,
              tries: Attempts | None = None) -> tuple[float, str]:
    """One question → (P(yes), raw answer). Raises JudgeError once the retries, the time
    left before `tries.deadline` or the endpoint's breaker say stop."""
    if cfg.api == "chat":
        url = cfg.base_url.rstrip("/") + "/chat/completions"
        body = {"model": cfg.model, "max_tokens": 1, "temperature": 0.0, "logprobs": True,
                "top_logprobs": cfg.top_logprobs,
                "messages": [{"role": "system", "content": _SYSTEM},
                             {"role": "user", "content": prompt}]}
    else:
        url = cfg.base_url.rstrip("/") + "/completions"
        body = {"model": cfg.model, "max_tokens": 1, "temperature": 0.0,
                "logprobs": cfg.top_logprobs, "prompt": f"{_SYSTEM}\n\n{prompt}\nAnswer:"}
    body.update(cfg.extra_body or {})
    if tries is None:
        budget = cfg.timeout_s * (cfg.max_retries + 1)
        tries = Attempts(deadline=time.monotonic() + budget, limit=budget)
    breaker = breaker_for(cfg)
    for attempt in range(cfg.max_retries + 1):
        if attempt:
            pause = cfg.backoff_s * 2 ** (attempt - 1)
            if time.monotonic() + pause >= tries.deadline:
                break  # no time left for another request: report the last error
            await asyncio.sleep(pause)
        if not breaker.allow():
            raise JudgeError(f"judge unavailable: {breaker.failures}+ failed requests in a row "
                             f"(last: {breaker.last_error}); next probe in "
                             f"{breaker.retry_in():.0f}s")
        out = await _attempt(client, cfg, url, body, tries, breaker)
        if out is not None:
            return out
    n = tries.requests
    raise JudgeError(redact(f"{tries.last} ({n} request{'s' * (n != 1)})", cfg.secrets()))


async def _attempt(client, cfg: JudgeConfig, url: str, body: dict, tries: Attempts,
                   breaker) -> tuple[float, str] | None:
    """One request: the answer, None (retry) or JudgeError (retrying cannot help)."""
    import httpx

    left = tries.deadline - time.monotonic()
    # the request's own timeout, or what is left of the check's limit (then named as such)
    timeout = cfg.timeout_s if cfg.timeout_s < left else tries.limit
    tries.requests += 1
    try:
        r = await client.post(url, json=body, headers=cfg.headers(),
                              timeout=max(0.001, min(cfg.timeout_s, left)))
    except (httpx.TransportError, httpx.TimeoutException) as e:
        tries.failed(_transport_error(e, timeout))
        _note(breaker.record(False, tries.last), cfg)
        return None
    if r.status_code == 429:  # alive, rate-limiting: retry, but the breaker stays closed
        tries.failed(f"HTTP 429 (rate limited): {r.text[:120]}")
        return None
    if r.status_code >= 500:
        tries.failed(f"HTTP {r.status_code}: {r.text[:120]}")
        _note(breaker.record(False, f"HTTP {r.status_code}"), cfg)
        return None
    if r.status_code >= 400:
        _note(breaker.record(True), cfg)
        raise JudgeError(redact(f"HTTP {r.status_code}: {r.text[:200]}", cfg.secrets()))
    try:
        out = _parse_response(r.json(), cfg.api)
    except JudgeError:  # neither yes nor no: a live server, a model problem
        _note(breaker.record(True), cfg)
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as e:
        # a truncated or garbled body is a server fault like a 5xx: retry it
        tries.failed(f"malformed response body ({type(e).__name__}: {e}): {r.text[:80]}")
        _note(breaker.record(False, "malformed response body"), cfg)
        return None
    _note(breaker.record(True), cfg)
    return out


def _note(change: str | None, cfg: JudgeConfig) -> None:
    if change == "opened":
        log.warning("judge %s: %d failed requests in a row; its checks abstain at once "
                    "('judge unavailable') for %gs, then one request probes it", cfg.base_url,
                    cfg.breaker_failures, cfg.breaker_cooldown_s)
    elif change == "closed":
        log.warning("judge %s answers again", cfg.base_url)


class _JudgeRequestsAtDebug(logging.Filter):
    """httpx logs every request at INFO ("HTTP Request: POST …"); under Hydra's INFO logging
    that was one line per judge call. Judge requests become DEBUG records: dropped unless the
    httpx logger is enabled for DEBUG. Other httpx requests are untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.prefixes: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith("HTTP Request"):
            return True
        url = str(record.args[1]) if isinstance(record.args, tuple) and len(record.args) > 1 \
            else ""
        if not any(url.startswith(p) for p in self.prefixes):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("httpx").isEnabledFor(logging.DEBUG)


_REQUEST_LOG = _JudgeRequestsAtDebug()


def judge_client(concurrency: int, verify: Any, base_url: str | None = None):
    """The HTTP client of one judged batch (at most `concurrency` connections); judge
    requests to `base_url` are logged at DEBUG."""
    import httpx

    if _REQUEST_LOG not in logging.getLogger("httpx").filters:
        logging.getLogger("httpx").addFilter(_REQUEST_LOG)
    if base_url:
        _REQUEST_LOG.prefixes.add(base_url.rstrip("/"))
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), verify=verify)


def _parse_response(data: dict[str, Any], api: str) -> tuple[float, str]:
    choice = (data.get("choices") or [{}])[0]
    if api == "chat":
        text = (choice.get("message") or {}).get("content") or ""
        content = (choice.get("logprobs") or {}).get("content") or []
        top = content[0].get("top_logprobs") if content else None
    else:
        text = choice.get("text") or ""
        tops = (choice.get("logprobs") or {}).get("top_logprobs") or []
        top = tops[0] if tops else None
    p = p_yes_from_top_logprobs(top) if top else None
    if p is not None and not 0.0 <= p <= 1.0:  # NaN/inf log-probs
        raise ValueError(f"P(yes) {p} from the log-probs is not a probability")
    if p is None:
        answer = parse_answer(text)
        if answer is None:
            raise JudgeError(f"answer is neither yes nor no: {text[:60]!r}")
        p = 1.0 if answer else 0.0
    return p, text


_FIELDS = {"completion", "source", "reference", "prompt"}


class JudgeParams(Params):
    question: str
    yes_threshold: float = Field(0.5, ge=0.0, le=1.0)
    template: str | None = None

    @field_validator("question")
    @classmethod
    def _question(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("expected a non-empty question")
        return template_fields(v, _FIELDS)

    @field_validator("template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        return None if v is None else template_fields(v, _FIELDS | {"question"})


class Judge(Check):
    kind = "judge"
    Params = JudgeParams
    reads = ("completion", "source", "reference", "prompt")
    cost = REMOTE
    needs_judge = True
    # applies its own time limit once the judge semaphore is held (see the module docstring)
    self_timed = True

    def render(self, sample: Sample) -> str:
        fields = {"completion": sample.completion or "", "source": sample.source or "(none)",
                  "reference": "(none)" if sample.reference is None else str(sample.reference),
                  "prompt": sample.prompt_text()}
        question = self.p.question.format(**fields)
        return (self.p.template or _TEMPLATE).format(question=question, **fields)

    async def evaluate(self, sample: Sample, ctx: Any) -> Verdict:
        cfg = ctx.judge
        if cfg is None:
            return Verdict("abstain", None, "judge not configured", skipped=True)
        if cfg.missing_key():
            ctx.judge_errors += 1
            return abstain(f"judge error: {cfg.missing_key()}")
        limit = self.spec.timeout_s or getattr(ctx, "timeout_s", None) or 60.0
        async with ctx.judge_sem:
            t0 = time.monotonic()
            tries = Attempts(deadline=t0 + limit, limit=limit)
            try:
                # the deadline ends retries in time; wait_for is the backstop for a server
                # that trickles bytes slower than httpx's per-read timeout notices
                p, text = await asyncio.wait_for(ask(ctx.http, cfg, self.render(sample), tries),
                                                 limit + 1.0)
                v = Verdict("pass" if p >= self.p.yes_threshold else "fail", p,
                            f"P(yes)={p:.3f} answer={text.strip()[:20]!r}")
            except TimeoutError:
                ctx.judge_errors += 1
                last = f"; last: {tries.last}" if tries.last else ""
                v = abstain(redact(f"judge error: timeout after {limit:g}s ({tries.requests} "
                                   f"requests{last})", cfg.secrets()))
            except JudgeError as e:
                ctx.judge_errors += 1
                v = abstain(redact(f"judge error: {e}", cfg.secrets()))
            finally:
                ctx.judge_requests += tries.requests
        v.latency_s = time.monotonic() - t0  # the request's own time, not the queue's
        return v
