"""Batched generation: shapes, n samples, seeding, finish reasons, and log-probs checked
against a teacher-forced forward pass on the unpadded sequence (which also checks that left
padding does not leak into the batch)."""

from __future__ import annotations

import pytest
import torch

from sft.generate import generate, render_prompts

PROMPTS = [
    [{"role": "user", "content": "Classify: my card was charged twice"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "A much longer prompt so that the batch needs left padding "
                                 "for the shorter one: where is my parcel?"}],
    "plain string prompt",
]


def test_shapes_and_counts(tiny):
    model, tok = tiny
    out = generate(model, tok, PROMPTS, n=3, temperature=1.0, max_new_tokens=6, seed=0,
                   batch_size=4)
    assert len(out) == 3 and all(len(o) == 3 for o in out)
    for per_prompt, prompt_ids in zip(out, render_prompts(tok, PROMPTS), strict=True):
        for c in per_prompt:
            assert len(c.token_ids) == len(c.logprobs) <= 6
            assert c.finish_reason in ("stop", "length")
            assert c.prompt_token_ids == prompt_ids
            assert all(lp <= 0 for lp in c.logprobs)
    # a random tiny model never emits its stop token in 6 steps: all hit the length limit
    assert {c.finish_reason for o in out for c in o} == {"length"}
    assert len({tuple(c.token_ids) for c in out[0]}) > 1  # n samples differ


def test_seeded_and_rng_neutral(tiny):
    model, tok = tiny
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = generate(model, tok, PROMPTS[:2], n=2, max_new_tokens=5, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the caller's RNG stream is untouched
    b = generate(model, tok, PROMPTS[:2], n=2, max_new_tokens=5, seed=7)
    c = generate(model, tok, PROMPTS[:2], n=2, max_new_tokens=5, seed=8)
    ids = lambda res: [x.token_ids for o in res for x in o]  # noqa: E731
    assert ids(a) == ids(b) and ids(a) != ids(c)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_logprobs_match_teacher_forcing(tiny, temperature):
    model, tok = tiny
    out = generate(model, tok, PROMPTS, n=2, temperature=temperature, max_new_tokens=5,
                   seed=1, batch_size=6)
    scale = temperature or 1.0
    for per_prompt in out:
        for c in per_prompt:
            seq = torch.tensor([c.prompt_token_ids + c.token_ids])
            with torch.no_grad():
                logits = model(seq).logits[0, len(c.prompt_token_ids) - 1:-1]
            ref = torch.log_softmax(logits / scale, -1).gather(
                1, torch.tensor(c.token_ids)[:, None])[:, 0]
            torch.testing.assert_close(torch.tensor(c.logprobs), ref, atol=2e-4, rtol=0)
            if temperature == 0:
                assert c.token_ids == logits.argmax(-1).tolist()


def test_stop_token_ends_and_is_kept_out_of_text(tiny):
    model, tok = tiny
    first = generate(model, tok, PROMPTS[1:2], temperature=0, max_new_tokens=8)[0][0].token_ids
    # make the first greedy token not seen before (after position 0) a stop token
    k = next((i for i in range(1, len(first)) if first[i] not in first[:i]), 0)
    out = generate(model, tok, PROMPTS[1:2], temperature=0, max_new_tokens=8,
                   stop_token_ids=[first[k]])[0][0]
    assert out.finish_reason == "stop"
    assert out.token_ids == first[:k + 1] and len(out.logprobs) == k + 1
    assert out.text == tok.decode(first[:k], skip_special_tokens=True)
