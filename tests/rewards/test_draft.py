"""rewards.draft: the checks drafted from hand-made references (JSON, label, free text), schema
inference, the half-split catching an overfit check, the CLI's outputs and exit codes,
negatives and expert labels, and the judge-question parser against malformed replies."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from rewards.draft.__main__ import main
from rewards.draft.infer_json import infer_schema
from rewards.draft.inputs import Example, gold_of
from rewards.draft.proposal import why_comments
from rewards.draft.questions import parse_questions
from rewards.draft.workbench import draft, split
from rewards.normalize import parse_json
from rewards.rubric import load_rubric
from rewards.sample import Sample

LETTERS = "ABCDEFGHIJ"


def json_rows(n=8, status=None):
    status = status or (lambda i: "paid" if i % 2 == 0 else "due")
    return [{"id": f"e{i}", "prompt": "Extract the order as JSON.",
             "source": f"Order for Item {LETTERS[i]} costs {10 + i} dollars, status {status(i)}.",
             "reference": {"name": f"Item {LETTERS[i]}", "price": 10 + i, "status": status(i)}}
            for i in range(n)]


def examples(rows):
    out = []
    for i, r in enumerate(rows):
        s = Sample.from_dict(r)
        gold = gold_of(s.reference)
        out.append(Example(s, gold, parse_json(gold)[0], i + 1))
    return out


def by_id(outcome):
    return {p.id: p for p in outcome.proposals}


def test_json_draft_proposes_the_contract_the_references_show():
    o = draft(examples(json_rows()), "orders", encoder=None)
    assert o.contract == "json"
    p = by_id(o)
    assert list(p) == ["json_ok", "schema", "values_status", "fields_filled", "match_name",
                       "match_price", "match_status", "grounded_name", "grounded_price",
                       "grounded_status"]
    assert p["json_ok"].gate == "global" and p["json_ok"].dimension == "format"
    assert p["schema"].params["schema"] == {
        "type": "object", "required": ["name", "price", "status"],
        "properties": {"name": {"type": "string"}, "price": {"type": "number"},
                       "status": {"type": "string"}}}
    # 2 values, 4 times each: an enum; names are all different, prices are numbers: none
    assert p["values_status"].params["schema"] == {"properties": {"status": {"enum": ["due",
                                                                                       "paid"]}}}
    assert p["values_status"].why == "status takes 2 values in 8 references: paid (4), due (4)"
    assert p["fields_filled"].params["params"] == {"min_share": 0.5,
                                                    "keys": ["name", "price", "status"]}
    assert [(p[k].params["mode"]) for k in ("match_name", "match_price", "match_status")] == [
        "normalized", "numeric", "normalized"]
    assert p["grounded_price"].why.startswith("price values appear in the source in 8/8")
    v = o.validation
    assert v.gold_pct == 1.0 and v.heldout_pct == 1.0 and v.failures == []
    assert all(share < 0.6 for _, _, share, _ in v.hack_ceilings())


def test_label_draft_uses_the_label_set_and_a_meta_list_when_one_holds_every_label():
    labels = ["Billing", "Billing", "Refund", "Refund", "Billing", "Other", "Other", "Refund"]
    rows = [{"id": str(i), "prompt": f"Ticket {i}", "reference": lab} for i, lab in
            enumerate(labels)]
    p = by_id(draft(examples(rows), "triage", encoder=None))
    assert list(p) == ["label_only", "label"]
    assert p["label_only"].params == {"pattern": r"^\s*(?:Billing|Refund|Other)\s*\.?\s*$",
                                      "flags": ["IGNORECASE"]}
    assert p["label_only"].gate == "global"
    assert p["label"].params == {"labels": ["Billing", "Other", "Refund"]}
    assert p["label"].why.endswith("Billing (3), Refund (3), Other (2)")
    for r in rows:
        r["meta"] = {"labels": ["Billing", "Refund", "Other", "Spam"]}
    p = by_id(draft(examples(rows), "triage", encoder=None))
    assert p["label"].params == {"labels_from_meta": "labels"}
    assert "Spam" in p["label_only"].params["pattern"]


TEXT_ROWS = [
    {"id": f"t{i}", "prompt": "Describe the product.",
     "source": f"Product: {c} lamp. Brand: {b}. Price: {p} USD. Shipping: {d} days.",
     "reference": f"The {c} lamp from {b} costs {p} dollars and ships in {d} days."}
    for i, (c, b, p, d) in enumerate([
        ("red", "Lumo", 30, 2), ("blue", "Arca", 45, 3), ("green", "Lumo", 25, 5),
        ("white", "Nordy", 60, 4), ("black", "Arca", 55, 2), ("grey", "Nordy", 35, 6),
        ("pink", "Lumo", 40, 3), ("gold", "Arca", 70, 7)])]


def test_text_draft_bounds_come_from_the_references():
    """Every reference has 13 words, 4 of them function words (the, from, and, in), no
    commas, no 5-gram from the source; numbers and the brand come from the source."""
    p = by_id(draft(examples(TEXT_ROWS), "product copy", encoder=None))
    assert list(p) == ["substantive", "no_chat_wrapper", "no_padding", "reads_as_prose",
                       "not_a_copy", "not_truncated", "numbers_grounded", "names_grounded",
                       "copied_numbers", "copied_names", "length", "readability"]
    assert p["substantive"].params["params"] == {"min_words": 6}          # 13 // 2
    assert p["no_padding"].params["max_repeat_share"] == 0.2               # floor of the limit
    assert p["reads_as_prose"].params == {"min_function_word_share": 0.15,  # 4/13 halved
                                          "max_comma_rate": 0.2}
    assert p["not_a_copy"].params["params"] == {"n": 5, "max_share": 0.5, "against": "source"}
    assert p["not_truncated"].params == {"unit": "words", "min_ratio": 0.35}
    # every reference's numbers are in its source: an ungrounded number zeroes fidelity
    assert p["numbers_grounded"].gate is True and p["numbers_grounded"].params == {}
    assert p["length"].params == {"unit": "words", "min": 6, "max": 20}    # 13//2, 1.5 x 13
    assert p["readability"].params["max_avg_sentence_words"] == 20         # 1.5 x 13
    for gate in ("no_chat_wrapper", "no_padding", "reads_as_prose"):
        assert p[gate].pitfall and p[gate].gate == "global"
    assert p["names_grounded"].pitfall and p["names_grounded"].params["params"] == {
        "against": "source"}
    assert p["copied_numbers"].params == {"what": ["numbers"]}
    assert p["copied_names"].why.startswith("8/8 references copy names from the source")


def test_schema_inference_nested_arrays_and_nullable_fields():
    refs = [{"a": None, "items": [{"x": 1, "y": "p"}, {"x": 2.5}], "tags": [["u"], []]},
            {"a": "s", "items": []}]
    schema = infer_schema(refs)
    assert schema == {
        "type": "object", "required": ["a", "items"],
        "properties": {
            "a": {"type": ["null", "string"]},
            "items": {"type": "array", "items": {
                "type": "object", "required": ["x"],
                "properties": {"x": {"type": "number"}, "y": {"type": "string"}}}},
            "tags": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}}
    for r in refs:
        jsonschema.validate(r, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": 3, "items": []}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": None, "items": [{"y": "no x"}]}, schema)


def test_half_split_leaves_out_a_check_that_overfits_its_half():
    """Fitted on one half, `status` looks like an enum {paid, due}; the held-back half says
    'refunded' every time. Fitted on all ten, the enum would hold all three values and pass
    every gold: only the split shows it generalises from what one half happened to show."""
    ids = [f"e{i}" for i in range(10)]
    fit, held = split(examples([{"id": i, "reference": "x"} for i in ids]))
    held_ids = {e.sample.id for e in held}
    rows = json_rows(10, status=lambda i: ("refunded" if f"e{i}" in held_ids
                                           else "paid" if i % 2 else "due"))
    o = draft(examples(rows), "orders", encoder=None)
    assert [p.id for p in o.left_out] == ["values_status"]
    assert "overfit" in o.left_out[0].flags[0]
    assert o.heldout["rates"]["values_status"] == 0.0
    assert "values_status" not in by_id(o) and "match_status" in by_id(o)
    assert o.heldout["gold_before"] < 0.95 <= o.heldout["gold_after"]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def files(tmp_path):
    return tmp_path, write_jsonl(tmp_path / "gold.jsonl", json_rows(10))


def test_cli_drafts_then_checks_the_edited_file(files, capsys):
    tmp, gold = files
    out, rep = tmp / "rubric.yaml", tmp / "review.md"
    rc = main(["--examples", gold, "--description", "orders as JSON", "--out", str(out),
               "--report", str(rep), "--no-semantic"])
    assert rc == 0, capsys.readouterr().err
    text = out.read_text()
    rubric = load_rubric(out)
    assert [s.id for s in rubric.checks][:2] == ["json_ok", "schema"]
    assert why_comments(text)["match_price"].startswith("price: a number in 10/10 values")
    review = rep.read_text()
    assert "**PASS**" in review and "| `match_price` | field_match | fidelity |" in review
    assert "## Hack ceilings" in review and "| invented |" in review
    assert main(["--check", str(out), "--examples", gold, "--report", str(rep)]) == 0
    assert "Rubric check" in rep.read_text()
    # a person loosens it to a length limit: every hack now ties gold -> exit 1 (CI gate)
    out.write_text(yaml.safe_dump({"dimensions": {"d": {}}, "checks": [
        {"id": "short", "kind": "length", "dimension": "d", "unit": "chars", "max": 5000}]}))
    assert main(["--check", str(out), "--examples", gold, "--report", str(rep)]) == 1
    err = capsys.readouterr().err
    assert "FAILS probe prose_wrap: mean 1 is not below gold 1" in err
    assert "**FAIL**" in rep.read_text()


@pytest.mark.parametrize("case, expect", [
    ("few", "gold.jsonl: 5 examples; at least 8 are needed"),
    ("noref", "gold.jsonl:3: key 'reference': required"),
    ("dup", "gold.jsonl:2: key 'id': 'e0' already used on line 1"),
    ("same", "--out {gold}: is the --examples input"),
    ("negid", "bad.jsonl:1: key 'id': 'zz' is not the id of any example"),
    ("labelcheck", "labels.jsonl:1: checks.nope: no such check"),
    ("rubric", "r.yaml: checks[0] (x).kind: unknown kind 'lenght'"),
    ("nodesc", "drafting needs --out and a non-empty --description"),
])
def test_cli_bad_input_exit_2_names_the_place_and_writes_nothing(case, expect, files, capsys):
    tmp, gold = files
    out, rep = tmp / "rubric.yaml", tmp / "review.md"
    rows = json_rows(10)
    args = ["--examples", gold, "--description", "d", "--out", str(out), "--report", str(rep),
            "--no-semantic"]
    if case == "few":
        write_jsonl(tmp / "gold.jsonl", rows[:5])
    elif case == "noref":
        del rows[2]["reference"]
        write_jsonl(tmp / "gold.jsonl", rows)
    elif case == "dup":
        rows[1]["id"] = "e0"
        write_jsonl(tmp / "gold.jsonl", rows)
    elif case == "same":
        args[args.index(str(out))] = gold
        expect = expect.format(gold=gold)
    elif case == "negid":
        args += ["--negatives", write_jsonl(tmp / "bad.jsonl", [{"id": "zz", "completion": ""}])]
    elif case == "labelcheck":
        args += ["--labels", write_jsonl(tmp / "labels.jsonl",
                                         [{"id": "e0", "checks": {"nope": True}}])]
    elif case == "rubric":
        (tmp / "r.yaml").write_text(yaml.safe_dump({"dimensions": {"d": {}}, "checks": [
            {"id": "x", "kind": "lenght", "dimension": "d"}]}))
        args = ["--check", str(tmp / "r.yaml"), "--examples", gold, "--report", str(rep)]
    elif case == "nodesc":
        args[args.index("--description") + 1] = "  "
    assert main(args) == 2
    assert expect in capsys.readouterr().err
    assert not rep.exists() and not (case != "same" and out.exists())


def test_negatives_and_expert_labels(files, capsys):
    tmp, gold = files
    rows = json_rows(10)
    wrong = json.dumps({"name": "Item A", "price": 99, "status": "paid"})
    negs = write_jsonl(tmp / "bad.jsonl", [{"id": "e0", "completion": wrong}])
    # the experts agree with match_price on gold (pass) and on the wrong price (fail), and
    # call grounded_name wrong on a gold the harness passes: kappa undefined/low there
    labels = write_jsonl(tmp / "labels.jsonl", [
        {"id": "e0", "checks": {"match_price": True, "grounded_name": True}},
        {"id": "e1", "checks": {"match_price": True, "grounded_name": False}},
        {"id": "e0", "completion": wrong, "checks": {"match_price": False}, "score": 0.2}])
    rep = tmp / "review.md"
    rc = main(["--examples", gold, "--description", "d", "--out", str(tmp / "r.yaml"),
               "--report", str(rep), "--negatives", negs, "--labels", labels, "--no-semantic"])
    assert rc == 0, capsys.readouterr().err
    review = rep.read_text()
    assert "## Known-bad answers" in review and "| 1 | e0 |" in review and "| yes |" in review
    row = next(ln for ln in review.splitlines() if ln.startswith("| `match_price` |"))
    assert "1.00 (n=3)" in row
    row = next(ln for ln in review.splitlines() if ln.startswith("| `grounded_name` |"))
    assert "disagrees with experts" in row
    # a "bad" answer that is the gold itself is not below it: exit 1, named by line
    write_jsonl(tmp / "bad.jsonl", [{"id": "e3", "completion": gold_of(rows[3]["reference"])}])
    rc = main(["--check", str(tmp / "r.yaml"), "--examples", gold, "--report", str(rep),
               "--negatives", negs])
    assert rc == 1
    assert "negative on line 1 (id e3)" in capsys.readouterr().err


@pytest.mark.parametrize("reply, kept, reason", [
    ("Sure, here are some questions: 1. Is it good?", 0, "reply is not JSON"),
    ('{"q": ["Is it good?"]}', 0, "reply is not a JSON array"),
    ('["Does the answer name the vendor?"]', 0, "expected an object with a string 'question'"),
    ('[{"question": "The answer names the vendor."}]', 0, "not a yes/no question"),
    ('[{"question": "Does it name the vendor? Is it short?"}]', 0, "not exactly one question"),
    ('[{"question": "Does it name the vendor and the total?"}]', 0, "asks more than one thing"),
    ('[{"question": "Is it {completion} correct?"}]', 0, "contains braces"),
    ('[{"question": "Is the total correct?", "dimension": "vibes"}]', 0, "unknown dimension"),
    ('[{"question": "Is it?"}]', 0, "2 words"),
    ('```json\n[{"question": "Does the answer name the vendor?", "dimension": "fidelity"},\n'
     ' {"question": "Does the answer name the  vendor ?"}]\n```', 1, "duplicate of question 1"),
])
def test_judge_proposal_parser_is_strict(reply, kept, reason):
    got, dropped = parse_questions(reply)
    assert len(got) == kept
    assert dropped and reason in dropped[-1].reason


def test_judge_proposal_parser_keeps_good_questions_and_caps_them():
    facts = ["vendor name", "invoice total", "issue date", "due date", "tax amount"]
    qs = [{"question": f"Does the answer give the {f} exactly as the source?",
           "dimension": "coverage"} for f in facts]
    got, dropped = parse_questions(json.dumps({"questions": qs}), max_questions=3)
    assert got[0] == ("Does the answer give the vendor name exactly as the source?", "coverage")
    assert len(got) == 3 and "over the limit of 3" in dropped[-1].reason


def test_judge_questions_from_a_real_openai_compatible_server(vllm_server, files, capsys):
    """The vLLM CPU server on 127.0.0.1 (tiny random model: its questions are garbage). What
    is checked: the request protocol, the strict parse (every dropped item has a reason), and
    that the draft lands the endpoint, never a key, in the YAML."""
    tmp, gold = files
    out, rep = tmp / "rubric.yaml", tmp / "review.md"
    rc = main(["--examples", gold, "--description", "orders as JSON", "--out", str(out),
               "--report", str(rep), "--no-semantic", "--judge-base-url", vllm_server.base_url,
               "--judge-model", vllm_server.model])
    assert rc == 0, capsys.readouterr().err
    review = rep.read_text()
    section = review.split("## Judge questions", 1)[1]
    assert "No questions" not in section                # the endpoint answered
    items = [ln for ln in section.splitlines() if ln.startswith("- ")]
    assert items and all(": " in ln for ln in items)    # kept, or dropped with a reason
    data = yaml.safe_load(out.read_text())
    assert data["judge"] == {"base_url": vllm_server.base_url, "model": vllm_server.model}
    for c in data["checks"]:
        if c["kind"] == "judge":
            assert c["audit"] is True
