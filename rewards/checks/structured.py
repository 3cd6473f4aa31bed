"""JSON and label checks: json_valid, json_schema, field_match, label_match."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from rewards.checks.base import Check, Params, meta_value
from rewards.normalize import (
    MISSING,
    as_json,
    fuzzy_ratio,
    get_path,
    normalize_text,
    numbers_equal,
    parse_date,
    parse_json,
    parse_number,
)
from rewards.safe_yaml import LoadError, read_text
from rewards.sample import Sample
from rewards.validate import field_path, meta_path
from rewards.verdict import Verdict, abstain, failed, passed


class JsonValidParams(Params):
    allow_fence: bool = False


class JsonValid(Check):
    kind = "json_valid"
    Params = JsonValidParams

    def evaluate_sync(self, sample: Sample) -> Verdict:
        obj, why = parse_json(sample.completion, self.p.allow_fence)
        return failed(why) if obj is MISSING else passed("parses as JSON")


class JsonSchemaParams(Params):
    # `schema` shadows a BaseModel attribute, hence the alias
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    schema_file: str | None = None
    allow_fence: bool = False


class JsonSchema(Check):
    kind = "json_schema"
    Params = JsonSchemaParams

    def __init__(self, spec, rubric_dir):
        super().__init__(spec, rubric_dir)
        from rewards.schema import build_validator  # jsonschema loads only when a rubric uses it

        schema, key = self.p.schema_, "schema"
        if self.p.schema_ is not None and self.p.schema_file:
            raise ValueError("schema_file: give `schema` or `schema_file`, not both")
        if self.p.schema_file:
            key = "schema_file"
            try:
                text = read_text(rubric_dir / self.p.schema_file, "JSON schema")
                schema = json.loads(text)
            except (LoadError, ValueError, RecursionError) as e:
                raise ValueError(f"schema_file: {str(e)[:300]}") from None
        if schema is None:
            raise ValueError("json_schema needs `schema` or `schema_file`")
        try:
            self.validator = build_validator(schema, lambda: self.time_limit_s)
        except ValueError as e:
            raise ValueError(f"{key}: {e}") from None

    def evaluate_sync(self, sample: Sample) -> Verdict:
        obj, why = parse_json(sample.completion, self.p.allow_fence)
        if obj is MISSING:
            return failed(why)
        errors = sorted(self.validator.iter_errors(obj), key=lambda e: [(isinstance(x, str), x) for x in e.path])
        if not errors:
            return passed("matches schema")
        e = errors[0]
        where = "/".join(str(x) for x in e.path) or "<root>"
        return failed(f"{len(errors)} schema error(s); first at {where}: {e.message[:160]}")


class FieldMatchParams(Params):
    path: str
    reference_path: str | None = None
    mode: Literal["exact", "normalized", "numeric", "date", "fuzzy"] = "normalized"
    rel_tol: float = Field(0.0, ge=0.0)
    abs_tol: float = Field(0.005, ge=0.0)
    threshold: float = Field(0.85, ge=0.0, le=1.0)
    # fuzzy mode: a value below `threshold` fails and pays 0, like every other failed match;
    # true = it pays its similarity (a near miss earns part of the weight). A pass pays its
    # similarity either way
    partial: bool = False
    allow_fence: bool = False

    @field_validator("path", "reference_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else field_path(v)


def _compare(mode: str, got: Any, want: Any, p: FieldMatchParams) -> tuple[bool, float | None, str]:
    if want is None or got is None:
        return got is None and want is None, None, f"got {got!r}, expected {want!r}"
    if mode == "exact":
        return got == want, None, f"got {got!r}, expected {want!r}"
    if mode == "normalized":
        return normalize_text(got) == normalize_text(want), None, f"got {got!r}, expected {want!r}"
    if mode == "numeric":
        a, b = parse_number(got), parse_number(want)
        if a is None or b is None:
            return False, None, f"not a number: got {got!r}, expected {want!r}"
        return numbers_equal(a, b, p.rel_tol, p.abs_tol), None, f"got {a:g}, expected {b:g}"
    if mode == "date":
        a, b = parse_date(got), parse_date(want)
        return a is not None and a == b, None, f"got {got!r} ({a}), expected {want!r} ({b})"
    ratio = fuzzy_ratio(got, want)
    return ratio >= p.threshold, ratio, f"similarity {ratio:.2f} (threshold {p.threshold})"


class FieldMatch(Check):
    kind = "field_match"
    Params = FieldMatchParams
    reads = ("completion", "reference")

    def evaluate_sync(self, sample: Sample) -> Verdict:
        ref = get_path(as_json(sample.reference), self.p.reference_path or self.p.path)
        if sample.reference is None or ref is MISSING:
            return abstain(f"reference has no {self.p.reference_path or self.p.path!r}")
        obj, why = parse_json(sample.completion, self.p.allow_fence)
        if obj is MISSING:
            return failed(why)
        got = get_path(obj, self.p.path)
        if got is MISSING:
            return failed(f"field {self.p.path!r} missing")
        if isinstance(ref, list) and isinstance(got, list):
            return self._compare_lists(got, ref)
        ok, value, why = _compare(self.p.mode, got, ref, self.p)
        if not ok and not self.p.partial:
            value = None  # the threshold decides the value too: "Walmart" for "Urban Outfit
            # Co." (similarity 0.3) must not earn 30% of the field's weight
        return Verdict("pass" if ok else "fail", value, f"{self.p.path}: {why}")

    def _compare_lists(self, got: list, ref: list) -> Verdict:
        """Each reference item matched by some completion item; extra items count against
        (value = F1 over greedy matches)."""
        unused = list(got)
        hits = 0
        for want in ref:
            for i, g in enumerate(unused):
                if _compare(self.p.mode, g, want, self.p)[0]:
                    hits += 1
                    del unused[i]
                    break
        precision = hits / len(got) if got else float(not ref)
        recall = hits / len(ref) if ref else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        ok = hits == len(ref) == len(got)
        return Verdict("pass" if ok else "fail", f1,
                       f"{self.p.path}: {hits}/{len(ref)} expected items matched, {len(got)} given")


class LabelMatchParams(Params):
    labels: list[str] | None = None
    labels_from_meta: str | None = None
    reference_path: str | None = None

    @field_validator("labels_from_meta")
    @classmethod
    def _meta(cls, v: str | None) -> str | None:
        return None if v is None else meta_path(v)

    @field_validator("reference_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else field_path(v)


class LabelMatch(Check):
    kind = "label_match"
    Params = LabelMatchParams
    reads = ("completion", "reference", "meta")

    def __init__(self, spec, rubric_dir):
        super().__init__(spec, rubric_dir)
        if not self.p.labels and not self.p.labels_from_meta:
            raise ValueError("label_match needs `labels` or `labels_from_meta`")

    def evaluate_sync(self, sample: Sample) -> Verdict:
        labels = self.p.labels or meta_value(sample, self.p.labels_from_meta or "") or []
        if not labels:
            return abstain(f"no labels in meta.{self.p.labels_from_meta}")
        by_norm = {normalize_text(lab): lab for lab in labels}
        got = normalize_text(sample.completion or "")
        if got not in by_norm:
            return failed(f"not an allowed label: {(sample.completion or '')[:60]!r}")
        ref = sample.reference
        if self.p.reference_path:
            ref = get_path(as_json(ref), self.p.reference_path)
        if ref is None or ref is MISSING:
            return abstain("no reference label")
        if normalize_text(ref) == got:
            return passed(f"label {by_norm[got]!r}")
        return failed(f"label {by_norm[got]!r}, expected {ref!r}")
