"""vLLM rollouts benchmark: policy-sync cost (adapter vs merged vs a TRL-style full push) and
GRPO seconds per step (`rollout=hf` vs `rollout=vllm` per sync mode, async off/on).

    python -m benchmarks.vllm_rollouts sync --repeats 5        # smollm2-135m + a random r16 adapter
    python -m benchmarks.vllm_rollouts grpo --steps 5          # the main job's GRPO settings
    python -m benchmarks.vllm_rollouts grpo --model tiny-random --steps 3   # a quick self-check
    python -m benchmarks.vllm_rollouts stream --repeats 3 --judge-latency 0.5   # streamed vs batch scoring
    python -m benchmarks.vllm_rollouts prefix --prompts 16 --groups 4 16 --repeats 3   # KV block size

sync: one vLLM engine (LoRA on) takes the same trained-looking policy three ways, each
repeated, medians reported: `adapter` = save the adapter's safetensors to a versioned dir +
a new LoRARequest; `merged` = rl.policy.merged_weights (LoRA-wrapped linears and their fused
siblings) pushed in place; `trl_full` = what TRL's GRPOTrainer does every step (merge the
adapter, push every base weight: embeddings and norms too) through the same push. The first
1-token generate after each sync is timed separately (vLLM loads an adapter lazily).

grpo: the main job's settings (conf/pipeline.yaml: support_classification, smollm2-135m,
batch 16, G 4, max_new_tokens 8); `--steps` steps per configuration, the first left out of
the medians (warm-up); one vLLM engine per LoRA setting shared by its configurations (start-up
reported separately).

stream: one GRPO step's rollout + score phase (the task's first `--prompts` train prompts, G
completions each, per-prompt seeds as in rl.experience) scored as one batch after generation
vs streamed (rl/stream.py), alternating in one process on one vLLM engine (LoRA off), medians
of `--repeats`. The rubric is a length check plus a judge check answered by a 127.0.0.1
OpenAI-protocol server that sleeps `--judge-latency` s per request (a stand-in for a remote
frontier judge), under the harness's judge_concurrency. Completions and rewards of the two
paths are compared, not only timed. Thread binding, stated in the output: the trainer and HF generate use
OMP_NUM_THREADS threads; vLLM's CPU worker is bound by VLLM_CPU_OMP_THREADS_BIND (this script
sets it to core 0 unless given, i.e. 1 thread, as HF). On a GPU the same commands run with
the GPU defaults (bf16, CUDA graphs); nothing GPU-specific was measured here.

prefix: one rollout (the task's first `--prompts` train prompts, G samples each, per-prompt
seeds, temperature 0.7, `--max-new-tokens`) on two engines held side by side, vLLM-CPU's
default 128-token KV block vs `--block-size`, calls alternating, the prefix cache reset
before each call (as after every merged push in GRPO), medians of `--repeats`. Only full
blocks are shared by the prefix cache, so a prompt under 128 tokens shares nothing at the
default block, not even across a group's G samples. The completions of the two engines are
compared, not only timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import load, machine, median


def _policy(model_path: str, seed: int = 0):
    """smollm2 (or any model) + a rank-16 all-linear LoRA with random non-zero B."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    return get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                           init_lora_weights=False)).eval()


def _full_push(model) -> list[tuple[str, Any]]:
    """TRL-style: every base weight, LoRA merged in (embeddings, norms, lm_head included)."""
    from rl.policy import merged_weights

    merged = dict(merged_weights(model))
    out = []
    for name, p in model.base_model.model.named_parameters():
        if "lora_" in name:
            continue
        key = name.replace(".base_layer", "")
        out.append((key, merged.get(key, p.detach())))
    return out


def bench_sync(args) -> str:
    from rl.policy import merged_weights, save_sync_adapter
    from rl.rollout.base import SamplingConfig
    from rl.rollout.vllm_engine import VLLMEngine
    from sft.model import resolve_model_path

    path = resolve_model_path({"name_or_path": args.model})
    model = _policy(path)
    t0 = time.perf_counter()
    engine = VLLMEngine(path, enable_lora=True, max_lora_rank=16)
    start = time.perf_counter() - t0
    one = SamplingConfig(max_new_tokens=1)
    prompt = ["Classify: my order never arrived."]
    run_dir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    res: dict[str, dict[str, list[float]]] = {}
    nbytes: dict[str, int] = {}
    version = 0
    try:
        for _ in range(args.repeats):
            for mode in ("adapter", "merged", "trl_full"):
                version += 1
                t0 = time.perf_counter()
                if mode == "adapter":
                    p = save_sync_adapter(model, run_dir, version, keep=2)
                    engine.load_adapter(str(p), version=version)
                    nbytes[mode] = sum(f.stat().st_size for f in p.glob("*.safetensors"))
                else:
                    weights = merged_weights(model) if mode == "merged" else _full_push(model)
                    engine.push_weights(weights, version=version)
                    nbytes[mode] = sum(t.numel() * t.element_size() for _, t in weights)
                t1 = time.perf_counter()
                engine.generate(prompt, one)
                t2 = time.perf_counter()
                r = res.setdefault(mode, {"sync": [], "first": []})
                r["sync"].append(t1 - t0)
                r["first"].append(t2 - t1)
                if mode != "adapter":
                    engine.restore_base_weights()
    finally:
        engine.close()
    lines = ["| sync | bytes moved | sync s (median) | first 1-token generate after it, s | "
             "each sync s |", "|---|---|---|---|---|"]
    for mode, r in res.items():
        each = ", ".join(f"{x:.3f}" for x in r["sync"])
        lines.append(f"| {mode} | {nbytes[mode] / 2**20:.1f} MiB | "
                     f"{median(r['sync']):.3f} | "
                     f"{median(r['first']):.3f} | {each} |")
    return "\n".join([f"engine start-up {start:.1f} s; {args.repeats} rounds, modes "
                      "interleaved", "", *lines])


GRPO = ["logger=none", "train.batch_size=16", "algo.num_generations=4",
        "sampling.max_new_tokens=8", "train.save_every=null", "train.progress=false",
        "train.resume=null", "train.table_every=null"]
ASYNC = ["rollout.async=true", "algo.rollout_correction=tis"]
# name -> (overrides, which shared vLLM engine: None = none, True = LoRA on, False = LoRA off);
# the first row is the reference of the "vs" column
CONFIGS = {"hf": (["rollout=hf"], None),
           "vllm adapter": (["rollout=vllm", "rollout.sync=adapter"], True),
           "vllm merged": (["rollout=vllm", "rollout.sync=merged"], False),
           "vllm adapter + async": (["rollout=vllm", "rollout.sync=adapter", *ASYNC], True),
           "vllm merged + async": (["rollout=vllm", "rollout.sync=merged", *ASYNC], False)}


def bench_grpo(args) -> str:
    from rl import grpo
    from rl.rollout.vllm_engine import VLLMEngine
    from sft.cli import compose
    from sft.model import resolve_model_path

    base = [f"model={args.model}", f"task={args.task}", f"train.max_steps={args.steps}", *GRPO]
    path = resolve_model_path(compose("grpo", base).model)
    engines: dict[bool, Any] = {}
    starts: dict[str, float] = {}
    rows = []
    try:
        for name, (extra, lora) in CONFIGS.items():
            if args.only and name not in args.only:
                continue
            engine = None
            if lora is not None:
                if lora not in engines:
                    t0 = time.perf_counter()
                    engines[lora] = VLLMEngine(path, enable_lora=lora, max_lora_rank=16,
                                               max_model_len=2048)
                    starts["LoRA on" if lora else "LoRA off"] = time.perf_counter() - t0
                engine = engines[lora]
            cfg = compose("grpo", [*base, *extra,
                                   f"run_dir={tempfile.mkdtemp(prefix='bench-grpo-')}"])
            out = grpo.train(cfg, engine=engine)
            hist = out["history"][1:] or out["history"]
            med = {k: median(h.get(k, 0.0) for h in hist)
                   for k in ("perf/step_s", "perf/rollout_s", "perf/reward_s", "perf/train_s",
                             "perf/sync_s", "rollout/version_lag", "rollout/mismatch_kl")}
            rows.append((name, med, [round(h["perf/step_s"], 1) for h in out["history"]]))
            if engine is not None and getattr(engine, "weights_modified", False):
                engine.restore_base_weights()
    finally:
        for e in engines.values():
            e.close()
    ref = rows[0][1]["perf/step_s"] if rows else None
    lines = [f"| rollout | s/step (median) | vs {rows[0][0] if rows else '-'} | rollout s | reward s | train s | sync s | "
             "version lag | mismatch KL | each step s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, m, each in rows:
        ratio = f"{ref / m['perf/step_s']:.2f}x" if ref else "-"
        lines.append(f"| {name} | {m['perf/step_s']:.2f} | {ratio} | {m['perf/rollout_s']:.2f} | "
                     f"{m['perf/reward_s']:.2f} | {m['perf/train_s']:.2f} | "
                     f"{m['perf/sync_s']:.3f} | {m['rollout/version_lag']:.0f} | "
                     f"{m['rollout/mismatch_kl']:.2e} | {', '.join(map(str, each))} |")
    start = "; ".join(f"{k} {v:.1f} s" for k, v in starts.items())
    return "\n".join([f"vLLM engine start-up: {start or 'none'}; {args.steps} steps each, "
                      "first excluded from medians; async rollout s = waiting for the "
                      "prefetched generation", "", *lines])


class _SlowJudge:
    """A 127.0.0.1 server answering every chat-completions POST with "yes" after `latency`
    s (stdlib threads): a judge whose latency the harness has to wait for."""

    def __init__(self, latency: float):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = json.dumps({"choices": [{"message": {"content": "yes"}}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(latency)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def bench_stream(args) -> str:
    from rewards import Harness
    from rewards.tasks import resolve
    from rl.experience import prompt_seed, to_samples
    from rl.rollout.base import SamplingConfig
    from rl.rollout.vllm_engine import VLLMEngine
    from rl.stream import stream_and_score
    from sft.cli import compose
    from sft.model import resolve_model_path

    cfg = compose("grpo", [f"model={args.model}", f"task={args.task}"])
    prompts = resolve(cfg.task, None).split("train")[: args.prompts]
    g = args.group
    sampling = SamplingConfig(n=g, max_new_tokens=args.max_new_tokens, temperature=1.0,
                              seeds=[prompt_seed(0, 0, 0, k) for k in range(len(prompts))])
    judge = _SlowJudge(args.judge_latency)
    rubric = {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": [
        {"id": "short", "kind": "length", "dimension": "d", "unit": "chars", "max": 80},
        {"id": "judge", "kind": "judge", "dimension": "d", "question": "Is {completion} right?"}]}
    harness = Harness(rubric, judge={"base_url": judge.base_url, "model": "judge"},
                      judge_concurrency=args.judge_concurrency)
    t0 = time.perf_counter()
    engine = VLLMEngine(resolve_model_path(cfg.model), enable_lora=False, max_model_len=2048)
    start = time.perf_counter() - t0
    res: dict[str, list[tuple[float, float, float, int]]] = {"batch": [], "streamed": []}
    outs: dict[str, Any] = {}
    try:
        engine.generate([p.prompt for p in prompts[:1]], SamplingConfig(max_new_tokens=1))
        for _ in range(args.repeats):
            for mode in ("batch", "streamed"):
                t0 = time.perf_counter()
                if mode == "batch":
                    rows = engine.generate([p.prompt for p in prompts], sampling)
                    pairs = [(p, x) for p, row in zip(prompts, rows, strict=True) for x in row]
                    t1 = time.perf_counter()
                    results, chunks = harness.score_batch(to_samples(pairs, g)), 1
                else:
                    pairs, results, tl = stream_and_score(engine, harness, prompts, sampling,
                                                          lambda c: to_samples(c, g))
                    t1, chunks = tl["last_chunk"], tl["chunks"]
                t2 = time.perf_counter()
                res[mode].append((t2 - t0, t1 - t0, t2 - t1, chunks))
                outs[mode] = ([x.token_ids for _, x in pairs], [r.score for r in results])
    finally:
        engine.close()
        judge.close()
    same = outs["batch"] == outs["streamed"]
    judged = sum(r.verdicts["judge"].status == "pass" for r in results)
    lines = ["| scoring | rollout+score s (median) | vs batch | generation s | scoring after "
             "the last completion s | chunks | each rollout+score s |", "|---|---|---|---|---|---|---|"]
    ref = median(r[0] for r in res["batch"])
    for mode, r in res.items():
        med = [median(x[i] for x in r) for i in range(4)]
        lines.append(f"| {mode} | {med[0]:.2f} | {ref / med[0]:.2f}x | {med[1]:.2f} | "
                     f"{med[2]:.2f} | {med[3]:.0f} | {', '.join(f'{x[0]:.2f}' for x in r)} |")
    return "\n".join([
        f"vLLM start-up {start:.1f} s (LoRA off); {len(prompts)} prompts x G={g}, "
        f"max_new_tokens={args.max_new_tokens}, temperature 1, per-prompt seeds "
        f"prompt_seed(0, 0, 0, k); judge latency {args.judge_latency} s/request, "
        f"judge_concurrency {args.judge_concurrency}; {args.repeats} repeats, modes "
        f"alternating; completions and rewards identical between the modes: {same}; judge "
        f"verdicts pass {judged}/{len(results)}", "",
        *lines])


def bench_prefix(args) -> str:
    from rewards.tasks import resolve
    from rl.experience import prompt_seed
    from rl.rollout.base import SamplingConfig
    from rl.rollout.vllm_engine import VLLMEngine
    from sft.cli import compose
    from sft.model import resolve_model_path

    cfg = compose("grpo", [f"model={args.model}", f"task={args.task}"])
    prompts = [p.prompt for p in resolve(cfg.task, None).split("train")[: args.prompts]]
    engines: dict[int, VLLMEngine] = {}
    times: dict[tuple[int, int], list[float]] = {}
    texts: dict[tuple[int, int], list] = {}
    try:
        for bs in (128, args.block_size):
            engines[bs] = VLLMEngine(resolve_model_path(cfg.model), enable_lora=False,
                                     block_size=bs)
            engines[bs].generate(prompts[:1], SamplingConfig(max_new_tokens=1))
        for g in args.groups:
            sampling = SamplingConfig(n=g, max_new_tokens=args.max_new_tokens, temperature=0.7,
                                      seeds=[prompt_seed(0, 0, 0, k)
                                             for k in range(len(prompts))])
            for _ in range(args.repeats):
                for bs, engine in engines.items():
                    engine.llm.reset_prefix_cache()
                    t0 = time.perf_counter()
                    rows = engine.generate(prompts, sampling)
                    times.setdefault((g, bs), []).append(time.perf_counter() - t0)
                    texts[(g, bs)] = [[x.text for x in row] for row in rows]
    finally:
        for engine in engines.values():
            engine.close()
    from sft.generate import render_prompts
    from sft.model import load_tokenizer

    lens = [len(ids) for ids in render_prompts(
        load_tokenizer({"name_or_path": resolve_model_path(cfg.model)}), prompts)]
    lines = ["| G | block | rollout s (median) | vs block 128 | each s | completions equal to "
             "block 128 |", "|---|---|---|---|---|---|"]
    for g in args.groups:
        ref = median(times[(g, 128)])
        for bs in engines:
            med = median(times[(g, bs)])
            same = sum(a == b for a, b in zip(texts[(g, bs)], texts[(g, 128)], strict=True))
            lines.append(f"| {g} | {bs} | {med:.2f} | {ref / med:.2f}x | "
                         f"{', '.join(f'{t:.2f}' for t in times[(g, bs)])} | "
                         f"{same}/{len(prompts)} prompts |")
    return "\n".join([
        f"{len(prompts)} prompts of {args.task} ({min(lens)}-{max(lens)} prompt tokens), "
        f"max_new_tokens={args.max_new_tokens}, temperature 0.7, per-prompt seeds; LoRA off; "
        f"{args.repeats} repeats, engines alternating, prefix cache reset before each call", "",
        *lines])


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0")
    p = argparse.ArgumentParser(prog="python -m benchmarks.vllm_rollouts",
                                description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("sync", "grpo", "stream", "prefix"))
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--task", default="support_classification")
    p.add_argument("--repeats", type=int, default=5, help="sync rounds")
    p.add_argument("--steps", type=int, default=5, help="GRPO steps per configuration")
    p.add_argument("--only", nargs="*", help="GRPO configurations to run (names as printed)")
    p.add_argument("--out", default=None, help="append the markdown here")
    p.add_argument("--prompts", type=int, default=8, help="stream: prompts per step")
    p.add_argument("--group", type=int, default=4, help="stream: completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=32, help="stream: completion cap")
    p.add_argument("--judge-latency", type=float, default=0.5, help="stream: s per request")
    p.add_argument("--judge-concurrency", type=int, default=4, help="stream: judge budget")
    p.add_argument("--groups", type=int, nargs="+", default=[4, 16], help="prefix: G values")
    p.add_argument("--block-size", type=int, default=32, help="prefix: block vs 128")
    args = p.parse_args()
    head = [f"## {args.what}: `python -m benchmarks.vllm_rollouts {' '.join(sys.argv[1:])}`", "",
            f"- machine: {machine()}; {load()} before",
            f"- threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} (trainer, HF), "
            f"VLLM_CPU_OMP_THREADS_BIND={os.environ['VLLM_CPU_OMP_THREADS_BIND']} (vLLM "
            "worker); seed 0", ""]
    body = {"sync": bench_sync, "grpo": bench_grpo, "stream": bench_stream,
            "prefix": bench_prefix}[args.what](args)
    md = "\n".join(head + [body, ""])
    print(md)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(md + "\n")


if __name__ == "__main__":
    main()
