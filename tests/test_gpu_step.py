"""The GPU step's options, checked on the CPU: attention without a mask tensor for batches
without padding, bf16 autocast, torch.compile's modes, and the padding of the gpu recipe's
batches."""

from __future__ import annotations

import pytest
import torch
from small_models import TINY_NO_DROPOUT as CONFIG
from small_models import masked_batch

from bertedu.data.nsp import Instance
from bertedu.data.pipeline import PretrainingCollator
from bertedu.model import BertForPreTraining, BertModel
from bertedu.model.attention import MultiHeadAttention
from bertedu.pretraining import get_recipe
from bertedu.pretraining.data import PretrainingBatches
from bertedu.pretraining.padding import padding_report
from bertedu.train import TrainConfig, train
from bertedu.train.distributed import DistributedInfo
from bertedu.train.loop import training_runner, without_full_attention_mask

pytestmark = pytest.mark.usefixtures("one_thread")


def batch() -> dict[str, torch.Tensor]:
    """Four unpadded rows of 16 tokens, with 1 to 4 MLM labels each."""
    return masked_batch((1, 4, 2, 3), next_sentence_label=(0, 1, 0, 1))


def test_attention_without_a_mask_equals_an_all_true_mask():
    torch.manual_seed(0)
    attention = MultiHeadAttention(32, 4)
    x = torch.randn(3, 10, 32)
    everywhere = torch.ones(3, 1, 1, 10, dtype=torch.bool)
    masked, _ = attention(x, mask=everywhere)
    unmasked, _ = attention(x, mask=None)
    torch.testing.assert_close(unmasked, masked, rtol=0, atol=1e-6)


def test_the_model_without_a_mask_gives_the_masked_outputs_and_gradients():
    # What drop_full_attention_mask relies on: for a batch without padding, leaving the
    # all-ones mask out changes nothing but the kernel attention may use.
    inputs = batch()
    unmasked = {k: v for k, v in inputs.items() if k != "attention_mask"}
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG)
    with_mask = model(**inputs)
    with_mask.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    without = model(**unmasked)
    without.loss.backward()
    torch.testing.assert_close(without.loss, with_mask.loss, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        without.last_hidden_state, with_mask.last_hidden_state, rtol=0, atol=1e-6
    )
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, grads[name], rtol=0, atol=1e-6, msg=name)
    encoder = BertModel(CONFIG).eval()
    ids = inputs["input_ids"]
    torch.testing.assert_close(
        encoder(ids).last_hidden_state,
        encoder(ids, attention_mask=torch.ones_like(ids)).last_hidden_state,
        rtol=0,
        atol=1e-6,
    )


def test_only_a_mask_without_padding_is_dropped():
    full = batch()
    assert "attention_mask" not in without_full_attention_mask(full)
    assert torch.equal(without_full_attention_mask(full)["input_ids"], full["input_ids"])
    padded = dict(full, attention_mask=full["attention_mask"].clone())
    padded["attention_mask"][1, -3:] = 0
    assert without_full_attention_mask(padded) is padded
    no_mask = {"input_ids": full["input_ids"]}
    assert without_full_attention_mask(no_mask) is no_mask


def eager_compile(monkeypatch) -> list[str | None]:
    """torch.compile with the ``eager`` backend (it traces, needs no C compiler): the modes
    asked for are recorded."""
    modes: list[str | None] = []
    real = torch.compile

    def compile_(model, *, mode=None, **kwargs):
        modes.append(mode)
        return real(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_)
    torch._dynamo.reset()
    return modes


def losses(config: TrainConfig, batches: list[dict[str, torch.Tensor]]) -> list[float]:
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG, max_predictions=4)
    return list(train(model, batches, config=config).losses.values())


def test_the_gpu_step_trains_like_the_plain_one_within_bf16_rounding(monkeypatch):
    # The gpu recipe's step (bf16 autocast, no mask tensor, compiled, fused AdamW) against
    # the plain fp32 step, a few updates of a tiny model on the same batches.
    padded = batch()
    padded["attention_mask"][0, -4:] = 0  # one batch keeps its mask
    batches = [batch(), padded]
    plain = TrainConfig(total_steps=6, lr=1e-3, precision="fp32", progress=False)
    reference = losses(plain, batches)
    no_mask = losses(plain.replace(drop_full_attention_mask=True), batches)
    bf16 = losses(plain.replace(precision="bf16"), batches)
    modes = eager_compile(monkeypatch)
    gpu_step = plain.replace(precision="bf16", drop_full_attention_mask=True, compile=True)
    compiled = losses(gpu_step, batches)
    assert modes == ["default"]
    torch.testing.assert_close(no_mask, reference, rtol=1e-5, atol=1e-6)
    assert bf16 != reference  # autocast did run in bf16
    torch.testing.assert_close(bf16, reference, rtol=2e-2, atol=0)
    torch.testing.assert_close(compiled, reference, rtol=2e-2, atol=0)
    assert reference[-1] < reference[0]  # it learns, so the comparison means something


def test_compile_modes_reach_torch_compile(monkeypatch):
    modes = eager_compile(monkeypatch)
    model = torch.nn.Linear(2, 2)
    one = DistributedInfo()
    cpu = torch.device("cpu")
    for compile_ in (False, True, "reduce-overhead", "max-autotune"):
        config = TrainConfig(total_steps=1, compile=compile_)
        runner = training_runner(model, config, one, cpu)
        assert (runner is model) == (compile_ is False)
    assert modes == ["default", "reduce-overhead", "max-autotune"]
    assert TrainConfig(total_steps=1, compile=True).compile_mode == "default"
    assert TrainConfig(total_steps=1).compile_mode is None
    for bad in ("fast", 1, None):
        with pytest.raises(ValueError, match="compile must be True, False or one of"):
            TrainConfig(total_steps=1, compile=bad)


def collator(pad_to: int | None) -> PretrainingCollator:
    return PretrainingCollator(
        cls_id=101,
        sep_id=102,
        pad_id=0,
        mask_token_id=103,
        vocab_size=CONFIG.vocab_size,
        random_token_ids=torch.arange(110, CONFIG.vocab_size),
        generator=torch.Generator().manual_seed(0),
        pad_to=pad_to,
    )


@pytest.mark.parametrize(("pad_to", "group"), [(None, 0), (16, 0), (16, 2), (None, 2)])
def test_padding_report_counts_what_the_collator_pads(pad_to, group):
    # Pairs of 13 tokens fill 16 with [CLS] and the two [SEP]; half of them are shorter.
    sizes = [13, 13, 9, 13, 5, 13, 11, 13] * 2
    instances = [
        Instance(tuple(range(110, 110 + n // 2)), tuple(range(200, 200 + n - n // 2)), False)
        for n in sizes
    ]
    batches = PretrainingBatches(
        [instances], collator(pad_to), batch_size=4, seed=3, group_by_length=group
    )
    report = padding_report(batches)
    collated = list(batches.epoch_batches(0))
    masks = [b["attention_mask"] for b in collated]
    assert report.batches == len(collated) == 4
    expected = sum(int((m == 0).sum()) for m in masks) / sum(m.numel() for m in masks)
    assert report.slot_share == pytest.approx(expected)
    unpadded = sum("attention_mask" not in without_full_attention_mask(b) for b in collated)
    assert report.unpadded_batch_share == unpadded / len(collated)
    if group:  # sorted runs of two batches: four full pairs share a batch without padding
        assert report.unpadded_batch_share > 0


def test_the_gpu_recipe_sends_unpadded_batches_without_a_mask():
    recipe = get_recipe("gpu")
    assert recipe.batch_size * recipe.max_seq_length >= 256 * 128
    assert recipe.train.precision == "bf16" and recipe.train.compile
    assert recipe.train.drop_full_attention_mask and recipe.group_by_length
    assert recipe.pad_to_max  # static shapes for torch.compile


def test_a_compiled_step_of_the_benchmark_is_traced_once(monkeypatch):
    from bertedu.pretraining.benchmark import VARIANTS, variant_step

    modes = eager_compile(monkeypatch)
    data = batch()
    steps = {
        name: variant_step(
            VARIANTS[name],
            CONFIG,
            data,
            device=torch.device("cpu"),
            autocast_dtype=None,
            max_predictions=4,
        )  # fmt: skip
        for name in ("plain", "no-mask", "cuda-graphs")
    }
    first = {name: step() for name, step in steps.items()}
    assert modes == ["reduce-overhead"]
    assert first["no-mask"] == pytest.approx(first["plain"], abs=1e-6)
    assert first["cuda-graphs"] == pytest.approx(first["plain"], abs=1e-5)
    second = {name: step() for name, step in steps.items()}  # each its own model and AdamW
    assert second["plain"] < first["plain"]
    assert second["cuda-graphs"] == pytest.approx(second["plain"], abs=1e-4)


class MaskRecorder(torch.nn.Module):
    """A model that records, per call, whether it was given an attention mask."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.masked: list[bool] = []

    def forward(self, input_ids, attention_mask=None, **_):
        self.masked.append(attention_mask is not None)
        return {"loss": self.weight * input_ids.float().mean()}


@pytest.mark.parametrize("drop", [False, True])
def test_the_loop_leaves_out_only_masks_without_padding(drop):
    padded = batch()
    padded["attention_mask"][2, -5:] = 0
    model = MaskRecorder()
    config = TrainConfig(total_steps=2, precision="fp32", progress=False)
    train(model, [batch(), padded], config=config.replace(drop_full_attention_mask=drop))
    assert model.masked == ([False, True] if drop else [True, True])
