"""One-step-off rollouts (`rollout.async: true`): step t+1's completions are generated and
scored in a background thread while step t is trained and synced, so generation and the
harness (judge calls, embeddings) overlap the optimizer step; with `rollout.stream_scoring`
the thread also scores each group as it finishes (rl/stream.py).

    step t:   take(t) ── start(t+1) ──► train(t) ─► wait() ─► sync(v_{t+1})
    thread:                 └── generate + score(t+1) with policy v_t ─┘

Data order equals the synchronous loop's: step t+1's prompts are drawn from the shared stream
on the main thread, right after step t's, with step t+1's seeds. Staleness is exactly one
version (step t+1 trains on samples of v_t while the trainer is at v_{t+1}); the loop checks
it against `rollout.max_lag` and `algo.rollout_correction` (tis | seq_mask) corrects it with
the sampler's log-probs. The engine is never used from two threads at once: `wait()` joins
the generation before a sync touches the engine. Needs an engine with its own copy of the
policy (not `shares_live_model`: the thread would sample from weights being updated) and no
DAPO resampling (its extra rounds are decided after scoring). A checkpoint records the data
position before the in-flight prompts; a resumed run draws them again, generating them
synchronously from its restored (newer) policy — same prompts, not bit-equal completions.
"""

from __future__ import annotations

import copy
from concurrent.futures import Future, ThreadPoolExecutor

from rl.experience import Scored, next_prompts_for_rank, rollout_scored
from rl.state import DataPosition, RLError, Run


def next_scored(run: Run, n_prompts: int, group_size: int) -> Scored:
    """This step's scored rollout of this rank's `n_prompts` prompts: with rollout.async the
    one started last step (and step t+1's started now, while this one trains), else drawn,
    generated and scored now."""
    if run.overlap is None:
        prompts, first = next_prompts_for_rank(run, n_prompts)
        return rollout_scored(run, prompts, group_size, 0, first)
    done = run.overlap.take(run, n_prompts, group_size)[2]
    if run.step + 1 < int(run.cfg.train.max_steps):
        run.overlap.start(run, n_prompts, group_size)
    return done


def check_async(cfg, engine) -> None:
    """rollout.async is refused where it would be wrong, naming why."""
    from rl.rollout.base import capability

    if capability(engine, "shares_live_model"):
        raise RLError(f"rollout.async=true: engine {type(engine).__name__} samples from the "
                      "trainer's live model, which the optimizer changes under it; use an engine "
                      "with its own copy (rollout=vllm | openai) or rollout.async=false")
    if cfg.algo.get("dynamic_sampling"):  # GRPO's DAPO option; PPO has none
        raise RLError("rollout.async=true with algo.dynamic_sampling=true: DAPO's re-sampling "
                      "rounds are decided after scoring; use one or the other")
    if int(cfg.rollout.max_lag) < 1:
        raise RLError("rollout.async=true generates from the previous policy (lag 1) but "
                      f"rollout.max_lag={cfg.rollout.max_lag}; set rollout.max_lag>=1")


class Overlap:
    """The in-flight generation of the next step; see the module docstring."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="rollout")
        self.pending: tuple[list, int, int, Future] | None = None  # prompts, first, step, fut
        self.data_before: DataPosition | None = None
        # the data position before this step's prompts (a failed step rewinds to it)
        self.step_start: DataPosition | None = None

    def take(self, run: Run, n_prompts: int, group_size: int) -> tuple[list, int, Scored]:
        """This step's (prompts, first index, scored rollout): the one started last step, or
        (first step, after a resume) one drawn, generated and scored now."""
        if self.pending is None:
            self.step_start = copy.copy(run.data)
            prompts, first = next_prompts_for_rank(run, n_prompts)
            return prompts, first, rollout_scored(run, prompts, group_size, 0, first)
        prompts, first, step, fut = self.pending
        self.step_start = self.data_before
        self.pending, self.data_before = None, None
        if step != run.step:
            raise RLError(f"rollout.async: the in-flight generation is for step {step + 1}, "
                          f"the loop is at step {run.step + 1}")
        return prompts, first, fut.result()

    def start(self, run: Run, n_prompts: int, group_size: int) -> None:
        """Draw step run.step+1's prompts now (stream order); generate and score them in the
        thread with the engine's current policy."""
        self.data_before = copy.copy(run.data)
        prompts, first = next_prompts_for_rank(run, n_prompts)
        step = run.step + 1
        fut = self.pool.submit(rollout_scored, run, prompts, group_size, 0, first, step)
        self.pending = (prompts, first, step, fut)

    def wait(self) -> None:
        """Block until the in-flight generation is done (before anything touches the engine);
        its errors surface in `take`."""
        if self.pending is not None:
            self.pending[3].exception()

    def resume_position(self, data: DataPosition) -> DataPosition:
        """The data position a checkpoint records: before the in-flight prompts."""
        return self.data_before if self.pending is not None and self.data_before else data

    def close(self) -> None:
        self.wait()
        self.pool.shutdown(wait=True)
