"""judge: a yes/no question about the sample put to an LLM behind an OpenAI-compatible API.

value = P(yes) from the first answer token's top log-probs when the server returns them
(normalised over the yes/no mass), else the parsed answer. Transient failures (connect errors,
429, 5xx, timeouts) are retried with exponential backoff; what still fails — or an answer that
is neither yes nor no — becomes an abstain carrying the error, never a fake 0 (verl scores a
judge timeout as 0.0). The API key is read from the environment variable *named* in the
config and never logged or stored.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from rewards.checks.base import REMOTE, Check, Params
from rewards.sample import Sample
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
        env_url, env_model = os.environ.get("HARNESSRL_JUDGE_BASE_URL"), os.environ.get(
            "HARNESSRL_JUDGE_MODEL")
        raw.setdefault("base_url", env_url)
        raw.setdefault("model", env_model)
        if os.environ.get("HARNESSRL_JUDGE_API_KEY_ENV"):
            raw.setdefault("api_key_env", os.environ["HARNESSRL_JUDGE_API_KEY_ENV"])
        if not raw.get("base_url") or not raw.get("model"):
            return None
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def identity(self) -> dict[str, Any]:
        """Which judge answers: part of every judge verdict's cache key (never the key)."""
        return {"model": self.model, "base_url": self.base_url.rstrip("/"), "api": self.api}

    @classmethod
    def from_group(cls, group: Any) -> dict[str, Any] | None:
        """The recipes' `judge` config group (`enabled` + endpoint fields) -> the explicit
        judge settings `resolve` takes; None when the group is absent or disabled."""
        if group is None:
            return None
        if type(group).__module__.startswith("omegaconf"):
            from omegaconf import OmegaConf

            group = OmegaConf.to_container(group, resolve=True)
        group = dict(group)
        if not group.pop("enabled", False):
            return None
        return group

    def public(self) -> dict[str, Any]:
        """What may be logged: everything but secrets (the key never lives here anyway)."""
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env,
                "api": self.api}


class JudgeError(RuntimeError):
    pass


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


async def ask(client, cfg: JudgeConfig, prompt: str) -> tuple[float, str]:
    """One question → (P(yes), raw answer). Raises JudgeError after retries are exhausted."""
    import httpx

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
    last = ""
    for attempt in range(cfg.max_retries + 1):
        if attempt:
            await asyncio.sleep(cfg.backoff_s * 2 ** (attempt - 1))
        try:
            r = await client.post(url, json=body, headers=cfg.headers(), timeout=cfg.timeout_s)
        except (httpx.TransportError, httpx.TimeoutException) as e:
            last = f"{type(e).__name__}: {e}"[:200]
            continue
        if r.status_code == 429 or r.status_code >= 500:
            last = f"HTTP {r.status_code}"
            continue
        if r.status_code >= 400:
            raise JudgeError(f"HTTP {r.status_code}: {r.text[:200]}")
        return _parse_response(r.json(), cfg.api)
    raise JudgeError(f"judge unreachable after {cfg.max_retries + 1} attempts: {last}")


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
    if p is None:
        answer = parse_answer(text)
        if answer is None:
            raise JudgeError(f"answer is neither yes nor no: {text[:60]!r}")
        p = 1.0 if answer else 0.0
    return p, text


class JudgeParams(Params):
    question: str
    yes_threshold: float = 0.5
    template: str | None = None


class Judge(Check):
    kind = "judge"
    Params = JudgeParams
    reads = ("completion", "source", "reference", "prompt")
    cost = REMOTE
    needs_judge = True

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
        try:
            async with ctx.judge_sem:
                p, text = await ask(ctx.http, cfg, self.render(sample))
        except JudgeError as e:
            ctx.judge_errors += 1
            return abstain(f"judge error: {e}")
        status = "pass" if p >= self.p.yes_threshold else "fail"
        return Verdict(status, p, f"P(yes)={p:.3f} answer={text.strip()[:20]!r}")
