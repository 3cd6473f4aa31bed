"""TRL 1.16 GRPOTrainer as the oracle for our advantages and losses.

A real `GRPOTrainer` (tiny random Llama, word-level tokenizer, CPU) generates a batch; its own
`_generate_and_score_completions` computes advantages from rewards we feed through a reward
function, and its own `_compute_loss` computes the loss for the loss types both codebases have:
    TRL grpo    == ours agg="seq_mean"
    TRL dr_grpo == ours agg="dr_grpo"
    TRL dapo    == ours agg="token_mean"
with token- and sequence-level (GSPO) ratios, beta 0 and > 0 (KL with and without TRL's
importance-weight "bias correction"), off-policy old log-probs; loss and every gradient.
Nothing of TRL is re-implemented here: we only set the inputs and read its outputs.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from rl.advantages import group_advantages, rubric_advantages  # noqa: E402
from rl.losses import completion_logprobs, policy_loss  # noqa: E402

NAN = float("nan")
G = 4
MAX_LEN = 6
LOSS_TYPES = {"grpo": "seq_mean", "dr_grpo": "dr_grpo", "dapo": "token_mean"}


def _tiny_model_dir(path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2} | {f"w{i}": i + 3 for i in range(61)}
    t = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="<pad>", eos_token="<eos>",
                                  unk_token="<unk>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                      pad_token_id=0, eos_token_id=1, bos_token_id=1)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


class _Rewards:
    """Two reward functions returning whatever the test put in `values` ([B, 2], NaN=None)."""

    def __init__(self):
        self.values = None

    def _col(self, k):
        def f(prompts, completions, **kwargs):
            col = self.values[:, k].tolist()
            return [None if v != v else v for v in col]

        f.__name__ = f"dim{k}"
        return f

    def funcs(self):
        return [self._col(0), self._col(1)]


@pytest.fixture(scope="module")
def trl_env(tmp_path_factory):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    path = _tiny_model_dir(tmp_path_factory.mktemp("tiny"))
    rewards = _Rewards()
    args = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("out")), per_device_train_batch_size=2 * G,
        num_generations=G, max_completion_length=MAX_LEN, use_cpu=True, bf16=False,
        report_to="none", gradient_checkpointing=False, beta=0.0, save_strategy="no",
        reward_weights=[0.6, 0.4], seed=0)
    ds = Dataset.from_dict({"prompt": ["w1 w2 w3", "w4 w5"]})
    trainer = GRPOTrainer(model=path, reward_funcs=rewards.funcs(), args=args,
                          train_dataset=ds)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop; we call directly
    return trainer, rewards


def _trl_advantages(trainer, rewards, values, scale, aggregation):
    rewards.values = values
    trainer.scale_rewards = scale
    trainer.multi_objective_aggregation = aggregation
    batch = [{"prompt": "w1 w2 w3"}] * G + [{"prompt": "w4 w5"}] * G
    return trainer._generate_and_score_completions(batch)


REWARDS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [NAN, NAN], [1.0, 1.0],
                        [0.5, 0.2], [0.5, 0.2], [0.1, 0.9], [0.0, 0.0]])


@pytest.mark.parametrize(("scale", "ours_scale"), [("group", True), ("none", False)])
def test_group_advantages_equal_trl(trl_env, scale, ours_scale):
    trainer, rewards = trl_env
    out = _trl_advantages(trainer, rewards, REWARDS, scale, "sum_then_normalize")
    w = torch.tensor([0.6, 0.4])
    summed = (REWARDS * w).sum(1)  # NaN rows stay NaN: every reward func returned None
    ours = group_advantages(summed, G, scale_std=ours_scale)
    torch.testing.assert_close(ours.values, out["advantages"], atol=1e-6, rtol=0)


def test_rubric_advantages_equal_trl_normalize_then_sum(trl_env):
    trainer, rewards = trl_env
    out = _trl_advantages(trainer, rewards, REWARDS, "group", "normalize_then_sum")
    ours = rubric_advantages(REWARDS, torch.tensor([0.6, 0.4]), G,
                             sample_valid=~torch.isnan(REWARDS[:, 0]), batch_norm=True)
    torch.testing.assert_close(ours.values, out["advantages"], atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def loss_inputs(trl_env):
    trainer, rewards = trl_env
    out = _trl_advantages(trainer, rewards, REWARDS, "group", "sum_then_normalize")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        lp = completion_logprobs(trainer.model, out["prompt_ids"], out["prompt_mask"],
                                 out["completion_ids"], out["completion_mask"])
    shape = lp.shape
    return {
        "prompt_ids": out["prompt_ids"], "prompt_mask": out["prompt_mask"],
        "completion_ids": out["completion_ids"], "completion_mask": out["completion_mask"],
        "advantages": torch.randn(shape[0], generator=g),
        # off-policy by ~0.3 nats so both clip branches are exercised
        "old_per_token_logps": lp + 0.3 * torch.randn(shape, generator=g),
        "ref_per_token_logps": lp + 0.2 * torch.randn(shape, generator=g),
        "num_items_in_batch": out["completion_mask"].sum(),
    }


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()
            if p.grad is not None}


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize(("beta", "kl_is"), [(0.0, True), (0.04, True), (0.04, False)])
@pytest.mark.parametrize("loss_type", list(LOSS_TYPES))
def test_loss_and_grads_equal_trl(trl_env, loss_inputs, loss_type, beta, kl_is, level):
    trainer, _ = trl_env
    model = trainer.model
    trainer.loss_type, trainer.beta, trainer.importance_sampling_level = loss_type, beta, level
    trainer.args.use_bias_correction_kl = kl_is
    trainer.epsilon_low, trainer.epsilon_high = (0.2, 0.28) if level == "token" else (3e-4, 4e-4)

    model.zero_grad()
    trl_loss = trainer._compute_loss(model, loss_inputs)
    trl_loss.backward()
    trl_grads = _grads(model)

    model.zero_grad()
    x = loss_inputs
    logp = completion_logprobs(model, x["prompt_ids"], x["prompt_mask"], x["completion_ids"],
                               x["completion_mask"])
    ours = policy_loss(logp, x["old_per_token_logps"], x["advantages"], x["completion_mask"],
                       eps_low=trainer.epsilon_low, eps_high=trainer.epsilon_high, level=level,
                       agg=LOSS_TYPES[loss_type], max_completion_len=MAX_LEN,
                       ref_logp=x["ref_per_token_logps"], beta=beta, kl_is_weight=kl_is)
    ours.loss.backward()
    assert abs(ours.loss.item() - trl_loss.item()) < 1e-6
    ours_grads = _grads(model)
    assert ours_grads.keys() == trl_grads.keys()
    for name, g in trl_grads.items():
        torch.testing.assert_close(ours_grads[name], g, atol=1e-6, rtol=1e-5, msg=name)
