"""Distributed helpers: no-ops in one process, a real 2-process gloo group under torchrun."""

from __future__ import annotations

import json

from sft import dist

SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
from sft import dist

info = dist.init_distributed()
out = Path(sys.argv[1])
with dist.main_first():
    # rank 0 writes first; rank 1 must see the file when its turn comes
    if dist.is_main():
        time.sleep(0.5)
        (out / "first.txt").write_text("rank0")
    seen = (out / "first.txt").exists()
result = {"rank": info.rank, "world": info.world_size, "backend": info.backend,
          "mean": dist.all_reduce_mean(info.rank + 1.0),
          "bcast": dist.broadcast_object({"from": dist.rank()}), "seen_first": seen}
(out / f"rank{info.rank}.json").write_text(json.dumps(result))
dist.barrier()
dist.cleanup()
"""


def test_single_process_noops(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = dist.init_distributed()
    assert (info.rank, info.world_size, info.is_main, info.backend) == (0, 1, True, None)
    dist.barrier()
    with dist.main_first():
        pass
    assert dist.all_reduce_mean(3.0) == 3.0 and dist.broadcast_object("x") == "x"


def test_torchrun_gloo_two_ranks(tmp_path, helpers):
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    proc = helpers.run_cli("torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(tmp_path), timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["world"] == 2 and r["backend"] == "gloo" for r in results)
    assert all(r["mean"] == 1.5 for r in results)  # (1 + 2) / 2
    assert all(r["bcast"] == {"from": 0} for r in results)
    assert all(r["seen_first"] for r in results)
