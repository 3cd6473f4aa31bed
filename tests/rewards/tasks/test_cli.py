"""python -m rewards.tasks: list and export, exit 2 with a clear message on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rewards.sample import read_jsonl
from rewards.tasks.__main__ import main

REPO = Path(__file__).resolve().parents[3]


def test_list_shows_metric_scale_and_adapters(capsys):
    assert main(["list", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["support_classification"]["metric"] == "accuracy"
    assert rows["support_classification"]["scale"] == [0.0, 1.0]
    assert rows["invoice_extraction"]["adapters"] == ["sroie"]
    assert rows["medical_extraction"]["scale"] == [0.0, 5.0]
    assert all(r["description"] for r in rows.values())
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "product_copywriting" in text and "flipkart-products" in text and "custom" in text


def test_export_generated_split(tmp_path, capsys):
    out = tmp_path / "eval.jsonl"
    assert main(["export", "invoice_extraction", "--split", "eval", "--seed", "3", "--n", "7",
                 "--out", str(out)]) == 0
    assert "wrote 7" in capsys.readouterr().err
    rows = read_jsonl(out)
    assert len(rows) == 7 and all(r.reference and r.completion is None for r in rows)
    assert {"vendor", "total", "line_items"} <= set(rows[0].reference)
    again = tmp_path / "again.jsonl"
    main(["export", "invoice_extraction", "--split", "eval", "--seed", "3", "--n", "7",
          "--out", str(again)])
    assert out.read_bytes() == again.read_bytes()


def test_export_real_split(real_data_dir, tmp_path):
    out = tmp_path / "sroie.jsonl"
    assert main(["export", "invoice_extraction", "--split", "train", "--n", "5", "--source",
                 "real", "--path", str(real_data_dir / "sroie"), "--out", str(out)]) == 0
    rows = read_jsonl(out)
    assert len(rows) == 5 and all(r.meta["dataset"] == "sroie" for r in rows)


@pytest.mark.parametrize(("argv", "needle"), [
    (["export", "nope", "--split", "eval", "--out", "x.jsonl"], "unknown task 'nope'; valid tasks"),
    (["export", "invoice_extraction", "--split", "eval", "--source", "real", "--out", "x.jsonl"],
     "--source real needs --path"),
    (["export", "invoice_extraction", "--split", "eval", "--source", "real", "--path",
      "/no/such/dir", "--out", "x.jsonl"], "task.path"),
    (["export", "invoice_extraction", "--split", "eval", "--n", "-1", "--out", "x.jsonl"], "--n"),
    (["export", "invoice_extraction", "--split", "test", "--out", "x.jsonl"], "invalid choice"),
    (["export", "invoice_extraction", "--split", "eval"], "--out"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_message(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    assert code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_module_entry_point_help():
    proc = subprocess.run([sys.executable, "-m", "rewards.tasks", "export", "--help"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0
    assert "--split" in proc.stdout and "--source" in proc.stdout and "reference" in proc.stdout
