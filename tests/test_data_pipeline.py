"""The batching pipeline: cached tokenization, collated batches for BertForPreTraining, dynamic
masks."""

import random

import pytest
import torch

from bertedu.constants import IGNORE_INDEX
from bertedu.data.corpus import Document, load_embedded_wikipedia
from bertedu.data.nsp import create_instances
from bertedu.data.pipeline import (
    PretrainingCollator,
    build_dataloader,
    document_token_ids,
    tokenize_documents,
)

MAX_LEN = 128


@pytest.fixture(scope="module")
def tokenized(tokenizer, tmp_path_factory):
    return tokenize_documents(
        load_embedded_wikipedia(limit=150), tokenizer, cache_dir=tmp_path_factory.mktemp("cache")
    )


@pytest.fixture(scope="module")
def instances(tokenized):
    return create_instances(
        document_token_ids(tokenized), max_seq_length=MAX_LEN, rng=random.Random(0)
    )


def _collator(tokenizer, seed=0, **kwargs):
    return PretrainingCollator.from_tokenizer(
        tokenizer, generator=torch.Generator().manual_seed(seed), **kwargs
    )


def test_tokenization_is_cached_and_keyed_by_the_corpus(tokenizer, tmp_path):
    documents = [
        Document(("Hello world.", "Second sentence here."), "a"),
        Document(("Another one.",), "b"),
    ]
    first = tokenize_documents(documents, tokenizer, cache_dir=tmp_path)
    assert (
        first["input_ids"][0]
        == tokenizer(["Hello world.", "Second sentence here."], add_special_tokens=False)[
            "input_ids"
        ]
    )
    assert first["num_tokens"] == [sum(map(len, ids)) for ids in first["input_ids"]]
    again = tokenize_documents(documents, tokenizer, cache_dir=tmp_path)
    assert (
        again.cache_files == first.cache_files
        and len(list(tmp_path.glob("tokenized-*.arrow"))) == 1
    )
    tokenize_documents(documents[:1] + documents, tokenizer, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("tokenized-*.arrow"))) == 2  # other documents, other cache file
    with pytest.raises(ValueError, match="No documents"):
        tokenize_documents([], tokenizer)


def test_batch_has_what_bert_for_pretraining_needs(tokenizer, instances):
    batch = _collator(tokenizer, pad_to=MAX_LEN)(instances[:64])
    assert set(batch) == {
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "labels",
        "next_sentence_label",
    }
    assert all(value.dtype == torch.long for value in batch.values())
    assert batch["input_ids"].shape == (64, MAX_LEN)
    lengths = batch["attention_mask"].sum(1)
    for row, instance in enumerate(instances[:64]):
        n_a, n_b = len(instance.tokens_a), len(instance.tokens_b)
        assert lengths[row] == n_a + n_b + 3
        assert batch["token_type_ids"][row].tolist() == [0] * (n_a + 2) + [1] * (n_b + 1) + [0] * (
            MAX_LEN - lengths[row]
        )
        assert batch["next_sentence_label"][row] == int(instance.is_random_next)
    chosen = batch["labels"] != IGNORE_INDEX
    assert not (chosen & (batch["attention_mask"] == 0)).any()  # padding is never predicted
    assert (chosen.sum(1) == ((lengths - 3) * 0.15).round().clamp(1, 20)).all()
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()


def test_batch_runs_through_transformers_bert_for_pretraining(tokenizer, instances):
    from transformers import BertConfig, BertForPreTraining

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LEN,
    )
    torch.manual_seed(0)
    output = BertForPreTraining(config)(**_collator(tokenizer)(instances[:8]))
    assert (
        torch.isfinite(output.loss) and 8 < output.loss.item() < 13
    )  # about ln(30522) + ln(2) untrained


def test_masks_are_new_every_call_and_reproducible(tokenizer, instances):
    collator = _collator(tokenizer, seed=5)
    first, second = collator(instances[:32]), collator(instances[:32])
    assert not torch.equal(first["labels"], second["labels"])
    assert torch.equal(first["labels"], _collator(tokenizer, seed=5)(instances[:32])["labels"])


def test_dataloader_covers_every_instance_once_per_epoch(tokenizer, instances):
    loader = build_dataloader(
        instances, _collator(tokenizer), batch_size=32, generator=torch.Generator().manual_seed(0)
    )
    labels = torch.cat([batch["next_sentence_label"] for batch in loader])
    assert len(labels) == len(instances)
    assert labels.sum() == sum(instance.is_random_next for instance in instances)


def test_workers_draw_new_masks_each_epoch_reproducibly(tokenizer, instances):
    def two_epochs():
        loader = build_dataloader(
            instances[:64],
            _collator(tokenizer),
            batch_size=64,
            shuffle=False,
            generator=torch.Generator().manual_seed(0),
            num_workers=1,
        )
        return [next(iter(loader))["labels"] for _ in range(2)]

    epoch1, epoch2 = two_epochs()
    assert not torch.equal(epoch1, epoch2)
    assert all(torch.equal(a, b) for a, b in zip((epoch1, epoch2), two_epochs(), strict=True))


def test_awkward_text_goes_through_the_whole_pipeline(tokenizer):
    documents = [
        Document(("word " * 20_000 + "end.", "A short follow-up."), "enormous sentence"),
        Document(("北京是中国的首都。", "上海很大！", "Emoji 😀 everywhere 🎉."), "other scripts"),
        Document(("Only one sentence here.",), "one sentence"),
        Document(("Control\x00chars\x1b stripped.", "Zero\u200bwidth too."), "control characters"),
    ]
    tokenized = tokenize_documents(documents, tokenizer)
    instances = create_instances(
        document_token_ids(tokenized), max_seq_length=64, rng=random.Random(0), dupe_factor=10
    )
    assert all(
        0 < len(i.tokens_a) and 0 < len(i.tokens_b) and len(i.tokens_a) + len(i.tokens_b) + 3 <= 64
        for i in instances
    )
    batch = _collator(tokenizer, pad_to=64)(instances)
    assert batch["input_ids"].shape == (len(instances), 64)
    with pytest.raises(ValueError, match="pad_to=16"):
        _collator(tokenizer, pad_to=16)(instances)


def test_empty_inputs_are_clear_errors(tokenizer):
    with pytest.raises(ValueError, match="create_instances"):
        build_dataloader([], _collator(tokenizer), batch_size=4, generator=torch.Generator())
    with pytest.raises(ValueError, match="empty batch"):
        _collator(tokenizer)([])
