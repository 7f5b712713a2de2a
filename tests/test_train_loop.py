"""bertedu.train.loop: exact resume, accumulation, clipping, the NaN guard, logs and evaluation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from bertedu.constants import IGNORE_INDEX
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train import NonFiniteLossError, TrainConfig, read_metrics, train
from bertedu.train.optim import build_optimizer, warmup_linear_schedule

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 300
CONFIG = BertConfig.tiny(
    vocab_size=VOCAB, max_position_embeddings=32
)  # dropout 0.1 stays on: RNG matters


def bert_batch(
    generator: torch.Generator, rows: int = 4, length: int = 16
) -> dict[str, torch.Tensor]:
    ids = torch.randint(5, VOCAB, (rows, length), generator=generator)
    picked = torch.rand(rows, length, generator=generator) < 0.2
    picked[:, 1] = True  # at least one prediction per row
    return {
        "input_ids": torch.where(picked, 4, ids),
        "token_type_ids": torch.zeros_like(ids),
        "attention_mask": torch.ones_like(ids),
        "labels": torch.where(picked, ids, IGNORE_INDEX),
        "next_sentence_label": torch.randint(0, 2, (rows,), generator=generator),
    }


class MaskedBatches:
    """A ResumableBatches source whose masks come from a generator the loop must checkpoint."""

    def __init__(self, batches_per_epoch: int = 3) -> None:
        self.batches_per_epoch = batches_per_epoch
        self.generator = torch.Generator().manual_seed(7)

    def epoch_batches(self, epoch: int, start: int = 0):
        for _ in range(start, self.batches_per_epoch):
            yield bert_batch(self.generator)


def new_bert(seed: int = 0) -> BertForPreTraining:
    torch.manual_seed(seed)
    return BertForPreTraining(CONFIG)


@pytest.mark.parametrize("kind", ["resumable", "callable"])
def test_interrupted_run_resumes_exactly(tmp_path, kind):
    """8 updates in one go == 3, a restart in a new model object, then 5 more (bitwise)."""
    config = TrainConfig(
        total_steps=8,
        lr=2e-3,
        warmup_fraction=0.25,  # 2 updates
        checkpoint_every=2,
        log_every=1,
        progress=False,
        grad_accumulation=2 if kind == "callable" else 1,
    )

    def epoch_batches(epoch):  # every epoch rebuilt from its number; resume re-reads and skips
        return [bert_batch(torch.Generator().manual_seed(100 * epoch + i)) for i in range(3)]

    def run(checkpoint_dir, stop=None, resume=False, model_seed=0):
        if kind == "resumable":
            source = MaskedBatches()
            generators = {"masking": source.generator}
        else:
            source, generators = epoch_batches, None
        model = new_bert(model_seed)
        result = train(
            model,
            source,
            config=config,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            generators=generators,
            stop_at_step=stop,
        )
        return result, model

    straight, straight_model = run(tmp_path / "a")
    first, _ = run(tmp_path / "b", stop=3)
    torch.manual_seed(12345)  # the restarted process is in some other random state
    second, resumed_model = run(tmp_path / "b", resume=True, model_seed=1)
    assert sorted(first.losses) == [1, 2, 3] and sorted(second.losses) == [4, 5, 6, 7, 8]
    assert {**first.losses, **second.losses} == straight.losses  # bitwise equal floats
    for (name, a), b in zip(
        straight_model.state_dict().items(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # The log holds each update once, across the restart.
    steps = [r["step"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl", split="train")]
    assert steps == list(range(1, 9))


def test_log_is_trimmed_to_the_checkpoint_on_resume(tmp_path):
    config = TrainConfig(
        total_steps=6,
        lr=1e-3,
        checkpoint_every=2,
        log_every=1,
        progress=False,
        keep_checkpoints=None,
    )
    source = MaskedBatches()
    train(
        new_bert(),
        source,
        config=config,
        checkpoint_dir=tmp_path,
        generators={"masking": source.generator},
    )
    # Pretend the run died at update 5, after checkpoint 4: remove checkpoint 6 (its log lines
    # stay).
    import shutil

    shutil.rmtree(tmp_path / "step-00000006")
    source = MaskedBatches()
    result = train(
        new_bert(),
        source,
        config=config,
        checkpoint_dir=tmp_path,
        resume=True,
        generators={"masking": source.generator},
    )
    assert sorted(result.losses) == [5, 6]
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl", "train")] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


class Regression(nn.Module):
    """A generic model: forward(**batch) returns a dict with a scalar loss (no BERT anywhere)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 1)
        self.norm = nn.LayerNorm(6)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        prediction = self.linear(self.norm(x)).squeeze(-1)
        return {"loss": ((prediction - y) ** 2).mean(), "prediction": prediction}


def regression_batches(rows: int, count: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        {"x": torch.randn(rows, 6, generator=g) * 3, "y": torch.randn(rows, generator=g)}
        for _ in range(count)
    ]


def test_loop_equals_a_hand_written_loop():
    """Groups, schedule, clipping and AdamW as documented: compare with the few lines they stand
    for."""
    batches = regression_batches(8, 5)
    config = TrainConfig(
        total_steps=5,
        lr=5e-2,
        warmup_fraction=0.4,  # 2 updates
        max_grad_norm=0.5,
        progress=False,
        weight_decay=0.1,
    )
    assert config.warmup_steps == 2
    torch.manual_seed(0)
    model = Regression()
    result = train(model, batches, config=config)

    torch.manual_seed(0)
    reference = Regression()
    optimizer = build_optimizer(reference, lr=5e-2, weight_decay=0.1)
    scheduler = warmup_linear_schedule(optimizer, 2, 5)
    losses = {}
    for step, batch in enumerate(batches, start=1):
        loss = reference(**batch)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses[step] = loss.item()
    assert result.losses == pytest.approx(losses, rel=1e-6)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_gradient_accumulation_equals_the_big_batch():
    big = regression_batches(8, 1)
    halves = [{k: v[:4] for k, v in big[0].items()}, {k: v[4:] for k, v in big[0].items()}]
    params = []
    for batches, accumulation in ((big, 1), (halves, 2)):
        torch.manual_seed(0)
        model = Regression()
        train(
            model,
            batches,
            config=TrainConfig(
                total_steps=1, lr=1e-2, grad_accumulation=accumulation, progress=False
            ),
        )
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(params[0], params[1], rtol=0, atol=1e-6)


def test_clipping_bounds_the_gradient_norm(tmp_path):
    """AdamW steps with gradients clipped to max_grad_norm; the log keeps the norm before."""
    seen = []

    def record_norm(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        seen.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))

    config = TrainConfig(total_steps=3, lr=1e-3, max_grad_norm=1e-3, log_every=1, progress=False)
    hook = register_optimizer_step_pre_hook(record_norm)
    try:
        result = train(
            Regression(), regression_batches(8, 3), config=config, metrics_path=tmp_path / "m.jsonl"
        )
    finally:
        hook.remove()
    records = read_metrics(tmp_path / "m.jsonl", "train")
    assert len(seen) == 3 and all(norm == pytest.approx(1e-3, rel=1e-4) for norm in seen)
    assert len(records) == 3 and all(r["grad_norm"] > 1e-2 for r in records)
    assert all(math.isfinite(v) for v in result.losses.values())


class ExplodesAt(nn.Module):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.calls, self.step = 0, step

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        loss = (self.weight * x).mean()
        return {"loss": loss * (math.nan if self.calls == self.step else 1.0), "aux_loss": loss}


def test_nan_guard_names_the_update_and_the_loss():
    model = ExplodesAt(3)
    with pytest.raises(
        NonFiniteLossError, match=r"Non-finite loss at update 3 \(loss=nan, aux_loss="
    ):
        train(
            model,
            [{"x": torch.ones(2)}],
            config=TrainConfig(total_steps=5, lr=1e-3, progress=False),
        )
    assert torch.isfinite(model.weight).all()  # stopped before the NaN reached the weights


def test_output_without_loss_is_explained():
    class NoLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, x):
            return {"logits": self.linear(x)}

    with pytest.raises(ValueError, match="without a scalar `loss`"):
        train(
            NoLoss(), [{"x": torch.ones(1, 2)}], config=TrainConfig(total_steps=1, progress=False)
        )


def test_evaluation_runs_in_eval_mode_without_gradients(tmp_path):
    calls = []

    def evaluate(model):
        calls.append((model.training, torch.is_grad_enabled()))
        return {"metric": float(len(calls))}

    config = TrainConfig(total_steps=5, lr=1e-3, eval_every=2, progress=False)
    result = train(
        Regression(),
        regression_batches(4, 2),
        config=config,
        evaluate=evaluate,
        metrics_path=tmp_path / "m.jsonl",
    )
    assert calls == [(False, False)] * 3  # updates 2, 4 and the last one, 5
    assert result.eval_metrics == {"metric": 3.0}
    assert [r["step"] for r in read_metrics(tmp_path / "m.jsonl", "eval")] == [2, 4, 5]


def test_resume_without_checkpoint_starts_fresh(tmp_path, capsys):
    result = train(
        Regression(),
        regression_batches(4, 2),
        config=TrainConfig(total_steps=2, progress=False),
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert result.step == 2 and "starting from step 0" in capsys.readouterr().out


def test_an_exhausted_iterator_is_explained():
    once = iter(regression_batches(4, 1))
    with pytest.raises(ValueError, match="one-shot iterator"):
        train(Regression(), once, config=TrainConfig(total_steps=3, progress=False))
