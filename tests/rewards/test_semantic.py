"""semantic_similarity with the real offline all-MiniLM-L6-v2."""

import pytest

from rewards import Harness, Sample, load_rubric


@pytest.fixture(scope="module")
def harness():
    return Harness(load_rubric({"dimensions": {"d": {}}, "checks": [
        {"id": "sem", "kind": "semantic_similarity", "dimension": "d", "threshold": 0.7}]}))


def test_paraphrase_passes_unrelated_fails_batched(harness):
    ref = "The user switched apps because the old one drained the battery."
    res = harness.score_batch([
        Sample(id="same", completion=ref, reference=ref),
        Sample(id="para", completion="They moved to another app since the previous one used too "
                                     "much battery.", reference=ref),
        Sample(id="other", completion="Pasta should be cooked in salted boiling water.", reference=ref),
        Sample(id="noref", completion="anything"),
    ])
    same, para, other, noref = (r.verdicts["sem"] for r in res)
    assert same.value == pytest.approx(1.0, abs=1e-5) and same.status == "pass"
    assert para.status == "pass" and 0.7 <= para.value < 1.0
    assert other.status == "fail" and other.value < 0.3
    assert noref.status == "abstain"
    assert same.value > para.value > other.value
