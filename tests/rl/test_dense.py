"""Dense PPO rewards: checks that can point at the text to blame (Check.locate), the cost of
a failure (the score gain if it passed), and blame_tokens moving exactly that cost from the
last token to the blamed ones (hand-computed)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from rewards import Harness, Sample  # noqa: E402
from rl.advantages import blame_tokens  # noqa: E402
from rl.dense import blame, spans_to_tokens  # noqa: E402

RUBRIC = {"scale": [0, 1], "dimensions": {"d": {"weight": 1.0, "min_coverage": 0.5}},
          "checks": [{"id": "no_sorry", "kind": "regex", "dimension": "d",
                      "pattern": "sorry", "must_match": False, "weight": 1.0},
                     {"id": "rep", "kind": "no_repetition", "dimension": "d", "ngram": 2,
                      "max_ngram_repeats": 1, "weight": 1.0},
                     {"id": "long", "kind": "length", "dimension": "d", "unit": "chars",
                      "min": 1, "weight": 2.0}]}


def test_locate_points_at_the_offending_text():
    h = Harness(RUBRIC)
    s = Sample(id="a", completion="sorry, the red car the red car, sorry")
    regex, rep, length = h.rubric.built
    assert regex.locate(s) == [(0, 5), (32, 37)]
    assert rep.locate(s) == [(19, 26), (23, 30)]  # "the red" and "red car" again
    assert length.locate(s) is None  # a length has no tokens to blame


def test_blame_tokens_moves_the_cost_and_keeps_the_return():
    rewards = torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.2, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    out = blame_tokens(rewards, mask, [[([0, 2], 0.3)], [([1, 7], 0.1), ([], 0.4)]])
    # row 0: last token 0.5 + 0.3; tokens 0 and 2 pay 0.15 each
    assert out[0].tolist() == pytest.approx([-0.15, 0.0, -0.15, 0.8, 0.0])
    # row 1: token 7 is past the end, so token 1 (also the last) pays and gets it back
    assert out[1].tolist() == pytest.approx([0.0, 0.2, 0.0, 0.0, 0.0])
    assert out.sum(1).tolist() == pytest.approx(rewards.sum(1).tolist())


def test_blame_costs_what_the_score_would_gain():
    class Chars:  # a tokenizer that decodes each id as one character
        def decode(self, ids, skip_special_tokens=True):
            return "".join(chr(i) for i in ids)

    h = Harness(RUBRIC)
    text = "sorry ok"
    s = Sample(id="a", completion=text)
    result = h.score_batch([s])[0]
    assert result.score == pytest.approx(3 / 4)  # regex failed (weight 1 of 4)
    pairs = blame(h.rubric, s, result, [ord(c) for c in text], Chars())
    assert pairs == [([0, 1, 2, 3, 4], pytest.approx(0.25))]
    assert spans_to_tokens([(6, 8)], [1, 2, 3, 4, 5, 6, 7, 8]) == [6, 7]
