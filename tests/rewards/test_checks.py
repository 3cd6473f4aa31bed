"""Each check kind on passing, failing and not-applicable inputs."""

import json

import pytest

from rewards import Harness, Sample, load_rubric


def verdict(check: dict, **sample):
    rubric = load_rubric({"dimensions": {"d": {}},
                          "checks": [{"id": "c", "dimension": "d", **check}]})
    s = Sample(id="x", **sample)
    return Harness(rubric).score_batch([s])[0].verdicts["c"]


def status(check, **sample):
    return verdict(check, **sample).status


def test_json_valid_rejects_reasoning_around_json_unless_fences_allowed():
    assert status({"kind": "json_valid"}, completion=' {"a": 1} ') == "pass"
    assert status({"kind": "json_valid"}, completion='Sure! {"a": 1}') == "fail"
    fenced = 'Here it is:\n```json\n{"a": 1}\n```'
    assert status({"kind": "json_valid"}, completion=fenced) == "fail"
    assert status({"kind": "json_valid", "allow_fence": True}, completion=fenced) == "pass"


def test_json_schema_reports_first_error_path():
    schema = {"type": "object", "required": ["total"],
              "properties": {"total": {"type": "number"}}}
    assert status({"kind": "json_schema", "schema": schema}, completion='{"total": 3}') == "pass"
    v = verdict({"kind": "json_schema", "schema": schema}, completion='{"total": "3"}')
    assert v.status == "fail" and "total" in v.reason


def test_json_schema_file_relative_to_rubric(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"type": "array"}))
    (tmp_path / "r.yaml").write_text(
        "dimensions: {d: {}}\nchecks:\n  - {id: c, kind: json_schema, dimension: d, schema_file: s.json}\n")
    h = Harness(load_rubric(tmp_path / "r.yaml"))
    assert [r.verdicts["c"].status for r in h.score_batch(
        [Sample(id="1", completion="[1]"), Sample(id="2", completion="{}")])] == ["pass", "fail"]


@pytest.mark.parametrize("mode, got, want, expected", [
    ("numeric", "1,234.50", 1234.5, "pass"),
    ("numeric", "$1,234.50", "1234.5", "pass"),
    ("numeric", "1234.4", 1234.5, "fail"),
    ("date", "12/03/2024", "2024-03-12", "pass"),
    ("date", "March 12, 2024", "2024-03-12", "pass"),
    ("date", "13/03/2024", "2024-03-12", "fail"),
    ("normalized", "  acme  CORP. ", "Acme Corp", "pass"),
    ("exact", "Acme corp", "Acme Corp", "fail"),
    ("fuzzy", "Acme Corporation Ltd", "Acme Corporation Limited", "pass"),
    ("fuzzy", "Globex", "Acme Corporation", "fail"),
])
def test_field_match_modes(mode, got, want, expected):
    check = {"kind": "field_match", "path": "v", "mode": mode}
    assert status(check, completion=json.dumps({"v": got}), reference={"v": want}) == expected


def test_field_match_lists_paths_and_abstain():
    check = {"kind": "field_match", "path": "items[*].sku", "mode": "exact"}
    ref = {"items": [{"sku": "A"}, {"sku": "B"}]}
    assert status(check, completion=json.dumps({"items": [{"sku": "B"}, {"sku": "A"}]}),
                  reference=ref) == "pass"
    v = verdict(check, completion=json.dumps({"items": [{"sku": "A"}]}), reference=ref)
    assert v.status == "fail" and 0 < v.value < 1
    # reference lacks the field: not applicable, so abstain rather than fail
    assert status(check, completion="{}", reference={"other": 1}) == "abstain"
    # reference given as a JSON string
    assert status({"kind": "field_match", "path": "a", "mode": "numeric"}, completion='{"a": 2}',
                  reference='{"a": 2.0}') == "pass"
    assert status({"kind": "field_match", "path": "a"}, completion='{"b": 2}',
                  reference={"a": 2}) == "fail"


def test_label_match():
    check = {"kind": "label_match", "labels": ["Billing", "Technical Issue"]}
    assert status(check, completion=" technical issue\n", reference="Technical Issue") == "pass"
    assert status(check, completion="Billing", reference="Technical Issue") == "fail"
    v = verdict(check, completion="The label is Billing", reference="Billing")
    assert v.status == "fail" and "not an allowed label" in v.reason
    meta_check = {"kind": "label_match", "labels_from_meta": "labels"}
    assert status(meta_check, completion="REFUND", reference="refund",
                  meta={"labels": ["REFUND", "ORDER"]}) == "pass"
    assert status(meta_check, completion="REFUND", reference="refund") == "abstain"


def test_regex_must_and_must_not():
    assert status({"kind": "regex", "pattern": r"^PLAN:", "flags": ["MULTILINE"]},
                  completion="A\nPLAN: rest") == "pass"
    v = verdict({"kind": "regex", "pattern": "military[- ]grade", "must_match": False,
                 "flags": ["IGNORECASE"]}, completion="Military-grade steel")
    assert v.status == "fail" and "Military-grade" in v.reason


@pytest.mark.parametrize("unit, text, expected", [
    ("words", "one two three", "pass"), ("words", "one two three four five six", "fail"),
    ("chars", "ab", "fail"), ("sentences", "One. Two! Three? Four.", "fail"),
])
def test_length(unit, text, expected):
    bounds = {"words": (1, 5), "chars": (3, 100), "sentences": (1, 3)}[unit]
    assert status({"kind": "length", "unit": unit, "min": bounds[0], "max": bounds[1]},
                  completion=text) == expected


def test_numbers_grounded_normalises_formats():
    src = "Subtotal 1,234.50 USD, GST 5%, qty 3"
    assert status({"kind": "numbers_grounded"}, source=src,
                  completion="Total was $1234.5 with 5% tax on 3 items") == "pass"
    v = verdict({"kind": "numbers_grounded"}, source=src, completion="Total 1234.5, invoice 7781")
    assert v.status == "fail" and v.value == 0.5 and "7781" in v.reason
    assert status({"kind": "numbers_grounded", "ignore": [7781]}, source=src,
                  completion="Total 1234.5, invoice 7781") == "pass"
    assert status({"kind": "numbers_grounded"}, completion="12") == "abstain"
    assert status({"kind": "numbers_grounded", "path": "total"}, source=src,
                  completion='{"total": 1234.5, "id": 99}') == "pass"


def test_spans_preserved_share_alternatives_and_sources():
    check = {"kind": "spans_preserved", "from_meta": "must"}
    meta = {"must": ["30 days", ["non-exclusive", "not exclusive"], "Licensee"]}
    v = verdict(check, meta=meta, completion="The licensee has a not exclusive right for 30 days.")
    assert v.status == "pass" and v.value == 1.0
    v = verdict(check, meta=meta, completion="The licensee may use it.")
    assert v.status == "fail" and v.value == pytest.approx(1 / 3) and "30 days" in v.reason
    assert status(check, completion="x") == "abstain"
    assert status({"kind": "spans_preserved", "from_reference": "name"},
                  reference={"name": "ACME Ltd"}, completion="Sold by acme ltd.") == "pass"
    assert status({"kind": "spans_preserved", "spans": ["1,200"]}, completion="for 1200.00") == "pass"


def test_no_repetition():
    assert status({"kind": "no_repetition", "phrase_from_meta": "name"}, meta={"name": "Aero Mug"},
                  completion="The Aero Mug keeps drinks hot. Buy the aero mug today.") == "fail"
    assert status({"kind": "no_repetition", "ngram": 3, "max_ngram_repeats": 1},
                  completion="keeps it warm, keeps it warm") == "fail"
    assert status({"kind": "no_repetition"}, completion="A mug that keeps coffee warm.") == "pass"


def test_no_repetition_share_of_repeated_ngrams():
    once = "We discussed treatment options and the patient agreed."
    body = ("Blood pressure is stable on current medication and she walks daily. Sleep is good "
            "and her appetite has returned after the infection cleared last month.")
    # boilerplate restated per problem, as real notes do: 3 occurrences, 10 of 55 4-grams repeat
    note = f"{once} {body} {once} Knee pain improved with physical therapy twice a week. {once}"
    share = {"kind": "no_repetition", "ngram": 4, "max_ngram_repeats": None,
             "max_repeat_share": 0.3}
    assert status({"kind": "no_repetition", "ngram": 4}, completion=note) == "fail"  # count rule
    assert status(share, completion=note) == "pass"
    # the body said twice: 22 of 47 4-grams repeat an earlier one
    v = verdict(share, completion=f"{body} {body}")
    assert v.status == "fail" and "47% of the 4-grams" in v.reason
    assert status(dict(share, max_repeat_share=0.5), completion=f"{body} {body}") == "pass"


def test_prose_tells_sentences_from_keyword_lists():
    prose = ("Made from tempered glass and powder-coated steel, the side table is built for "
             "everyday use. It has a felt-lined drawer and a lower shelf.")
    listing = ("Key points: rounded corners, tool-free assembly, lower storage shelf, "
               "felt-lined drawer, adjustable feet, hidden wheels, 5 kg.")
    both = {"kind": "prose", "min_function_word_share": 0.15, "max_comma_rate": 0.25}
    assert status(both, completion=prose) == "pass"
    v = verdict(both, completion=listing)
    assert v.status == "fail" and "0% function words" in v.reason
    # commas alone: the listing has 6 commas in 17 words (0.35)
    v = verdict({"kind": "prose", "max_comma_rate": 0.25}, completion=listing)
    assert v.status == "fail" and "0.35 commas/word" in v.reason
    # a one-line list is too short to judge: length and substance checks own it
    assert status(both, completion="Amlodipine, lisinopril, metformin.") == "pass"
    assert status(dict(both, min_words=3), completion="Amlodipine, lisinopril, metformin.") == "fail"
    with pytest.raises(ValueError, match="min_function_word_share or max_comma_rate"):
        load_rubric({"dimensions": {"d": {}},
                     "checks": [{"id": "c", "dimension": "d", "kind": "prose"}]})


def test_readability_grade():
    easy = "You pay us in ten days. We send the goods. You can end this deal at any time."
    hard = ("Notwithstanding the aforementioned indemnification obligations, the licensor "
            "shall, contemporaneously with termination, relinquish all proprietary "
            "documentation pertaining thereto.")
    assert status({"kind": "readability", "max_grade": 8}, completion=easy) == "pass"
    assert status({"kind": "readability", "max_grade": 8}, completion=hard) == "fail"
    assert status({"kind": "readability", "max_avg_sentence_words": 10}, completion=hard) == "fail"


def test_python_kind_sync_async_and_errors(tmp_path, monkeypatch):
    (tmp_path / "user_checks.py").write_text(
        "async def has_plan(sample, word='PLAN'):\n    return word in sample.completion\n"
        "def share(sample):\n    return 0.25\n"
        "def boom(sample):\n    raise RuntimeError('bad input')\n"
        "def verdict(sample):\n    return {'status': 'abstain', 'reason': 'n/a'}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert status({"kind": "python", "function": "user_checks:has_plan"}, completion="PLAN: x") == "pass"
    assert status({"kind": "python", "function": "user_checks:has_plan",
                   "params": {"word": "ZZ"}}, completion="PLAN") == "fail"
    v = verdict({"kind": "python", "function": "user_checks:share"}, completion="")
    assert v.status == "fail" and v.value == 0.25
    v = verdict({"kind": "python", "function": "user_checks:boom"}, completion="")
    assert v.status == "abstain" and "bad input" in v.reason
    assert status({"kind": "python", "function": "user_checks:verdict"}, completion="") == "abstain"
    with pytest.raises(Exception, match="cannot import"):
        load_rubric({"dimensions": {"d": {}}, "checks": [
            {"id": "c", "kind": "python", "dimension": "d", "function": "user_checks:nope"}]})


def test_sentence_split_ignores_abbreviation_dots():
    from rewards.checks.text import sentences

    # single capitals are not treated as initials: "Plan B. Then" must still split
    text = "Acme Inc. shall pay Foo B.V. the fee, e.g. rent, to Dr. Smith. The term ends in May."
    assert len(sentences(text)) == 2
    assert len(sentences("One. Two! Three? Four.")) == 4
    assert len(sentences("We chose plan B. Then we left.")) == 2
