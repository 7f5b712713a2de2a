"""bertedu.hf: parity with transformers on real and random weights, round trips, pipelines."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch
import transformers
from small_models import small_hf_config

from bertedu.constants import IGNORE_INDEX
from bertedu.hf import from_hf, to_hf
from bertedu.model import BertConfig, BertForPreTraining, BertModel
from bertedu.weights import load_reference_bert

TOLERANCE = 1e-5  # float32


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.fixture(scope="module")
def reference():
    return load_reference_bert()


@pytest.fixture(scope="module")
def pair_batch(tokenizer):
    """Three sentence pairs of different lengths: padded, with two segments each."""
    return tokenizer(
        ["The cat sat on the mat.", "Attention is all you need, they said.", "Hi."],
        ["Where did it sit?", "Was it really all that was needed for language?", "Bye."],
        padding=True,
        return_tensors="pt",
    )


def test_real_minilm_weights_match_transformers_on_a_padded_pair_batch(reference, pair_batch):
    ids, types, mask = (
        pair_batch["input_ids"],
        pair_batch["token_type_ids"],
        pair_batch["attention_mask"],
    )
    assert (mask == 0).any() and (types == 1).any()  # really padded, really two segments
    ours = from_hf(reference)
    assert isinstance(ours, BertModel) and not ours.training
    assert ours.config.num_hidden_layers == 6 and ours.config.hidden_size == 384
    with torch.no_grad():
        expected = reference(**pair_batch, output_attentions=True)
        explicit = ours(ids, types, mask, output_attentions=True)
        fused = ours(ids, types, mask)
    assert len(explicit.attentions) == len(expected.attentions) == 6
    for got, want in zip(explicit.attentions, expected.attentions, strict=True):
        assert max_diff(got, want) <= TOLERANCE
    # The explicit path does transformers' eager arithmetic: every position, padding included.
    assert max_diff(explicit.last_hidden_state, expected.last_hidden_state) <= TOLERANCE
    assert max_diff(explicit.pooler_output, expected.pooler_output) <= TOLERANCE
    # The fused kernel sums in another order: real tokens agree to ~1e-6. Outputs at [PAD]
    # positions (meaningless, never read) amplify rounding more, so only real tokens count.
    real = mask.bool()
    assert max_diff(fused.last_hidden_state[real], expected.last_hidden_state[real]) <= TOLERANCE
    assert max_diff(fused.pooler_output, expected.pooler_output) <= TOLERANCE


@pytest.fixture(scope="module")
def hf_pretraining():
    torch.manual_seed(0)
    model = transformers.BertForPreTraining(small_hf_config()).eval()
    with torch.no_grad():  # transformers zero-initialises the MLM bias: make it matter
        model.cls.predictions.bias.normal_()
    return model


def test_random_hf_pretraining_model_matches_after_from_hf(hf_pretraining, pair_batch):
    ours = from_hf(hf_pretraining)
    assert isinstance(ours, BertForPreTraining)
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight
    labels = torch.full_like(pair_batch["input_ids"], IGNORE_INDEX)
    labels[:, 2] = pair_batch["input_ids"][:, 2]
    labels[0, 4] = 7592
    nsp = torch.tensor([0, 1, 0])
    with torch.no_grad():
        expected = hf_pretraining(**pair_batch, labels=labels, next_sentence_label=nsp)
        dense = ours(
            pair_batch["input_ids"], pair_batch["token_type_ids"], pair_batch["attention_mask"]
        )
        sparse = ours(
            pair_batch["input_ids"],
            pair_batch["token_type_ids"],
            pair_batch["attention_mask"],
            labels=labels,
            next_sentence_label=nsp,
        )
    assert max_diff(dense.mlm_logits, expected.prediction_logits) <= TOLERANCE
    assert max_diff(dense.nsp_logits, expected.seq_relationship_logits) <= TOLERANCE
    assert (
        max_diff(sparse.mlm_logits, expected.prediction_logits[labels != IGNORE_INDEX]) <= TOLERANCE
    )
    assert abs(sparse.loss.item() - expected.loss.item()) <= TOLERANCE


def test_to_hf_round_trip_keeps_weights_and_outputs(pair_batch):
    torch.manual_seed(1)
    ours = BertForPreTraining(BertConfig.tiny(max_position_embeddings=64)).eval()
    hf = to_hf(ours)
    assert isinstance(hf, transformers.BertForPreTraining) and not hf.training
    assert (
        hf.cls.predictions.decoder.weight is hf.bert.embeddings.word_embeddings.weight
    )  # still tied
    with torch.no_grad():
        expected = ours(**pair_batch, output_attentions=True)
        got = hf(**pair_batch, output_attentions=True)
    assert max_diff(got.prediction_logits, expected.mlm_logits) <= TOLERANCE
    assert max_diff(got.seq_relationship_logits, expected.nsp_logits) <= TOLERANCE
    assert max_diff(got.attentions[-1], expected.attentions[-1]) <= TOLERANCE
    back = from_hf(hf)
    for (name, a), (other, b) in zip(
        ours.state_dict().items(), back.state_dict().items(), strict=True
    ):
        assert name == other and torch.equal(a, b), name


def test_to_hf_of_a_bert_model(pair_batch):
    torch.manual_seed(2)
    ours = BertModel(BertConfig.tiny()).eval()
    hf = to_hf(ours)
    assert type(hf) is transformers.BertModel
    with torch.no_grad():
        got, expected = hf(**pair_batch), ours(**pair_batch)
    assert max_diff(got.last_hidden_state, expected.last_hidden_state) <= TOLERANCE
    assert max_diff(got.pooler_output, expected.pooler_output) <= TOLERANCE


def test_to_hf_masked_lm_works_in_the_fill_mask_pipeline(tokenizer):
    torch.manual_seed(3)
    ours = BertForPreTraining(BertConfig.tiny()).eval()
    hf = to_hf(ours, masked_lm=True)
    assert type(hf) is transformers.BertForMaskedLM
    fill = transformers.pipeline("fill-mask", model=hf, tokenizer=tokenizer, device="cpu")
    results = fill("the capital of france is [MASK].", top_k=3)
    assert len(results) == 3 and all(
        {"score", "token", "token_str", "sequence"} <= set(r) for r in results
    )
    # the pipeline's top guess is our model's top guess
    encoded = tokenizer("the capital of france is [MASK].", return_tensors="pt")
    position = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().item()
    with torch.no_grad():
        logits = ours(
            encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]
        ).mlm_logits
    assert results[0]["token"] == logits[0, position].argmax().item()


def test_unsupported_models_and_configs_are_refused(hf_pretraining):
    with pytest.raises(TypeError, match="BertForMaskedLM and BertForQuestionAnswering"):
        from_hf(transformers.BertForTokenClassification(small_hf_config()))
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        from_hf(transformers.BertModel(small_hf_config(hidden_act="relu")))
    relative = small_hf_config()
    relative.position_embedding_type = "relative_key"
    with pytest.raises(ValueError, match="absolute"):
        from_hf(transformers.BertModel(relative))
    with pytest.raises(ValueError, match="Decoder"):
        from_hf(transformers.BertModel(small_hf_config(is_decoder=True)))
    untied = transformers.BertForPreTraining(small_hf_config(tie_word_embeddings=False))
    with torch.no_grad():
        untied.cls.predictions.decoder.weight.add_(1.0)
    with pytest.raises(ValueError, match="not tied"):
        from_hf(untied)
    with pytest.raises(ValueError, match="no MLM head"):
        to_hf(BertModel(BertConfig.tiny(num_hidden_layers=1)), masked_lm=True)
    with pytest.raises(TypeError, match="to_hf supports"):
        to_hf(torch.nn.Linear(2, 2))


def test_to_hf_reader_saves_for_transformers_and_answers_alike(tokenizer, tmp_path):
    """A reader through to_hf, save_pretrained and AutoModelForQuestionAnswering answers as ours.

    transformers 5 removed pipeline("question-answering"), so the converted model is
    checked through the book's own window post-processing, on a passage of several windows.
    """
    from bertedu.qa.extractive import BertForQuestionAnswering, answer_question

    torch.manual_seed(4)
    ours = BertForQuestionAnswering(BertConfig.tiny()).eval()
    hf = to_hf(ours)
    assert type(hf) is transformers.BertForQuestionAnswering
    hf.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()
    encoded = tokenizer("who wrote it?", "the book was written by anna.", return_tensors="pt")
    with torch.no_grad():
        got, expected = loaded(**encoded), ours(**encoded)
    assert max_diff(got.start_logits, expected.start_logits) <= TOLERANCE
    assert max_diff(got.end_logits, expected.end_logits) <= TOLERANCE

    context = " ".join(
        f"In {1900 + year} the book was written again by Anna in Paris." for year in range(12)
    )
    mine = answer_question(ours, tokenizer, "who wrote the book?", context, 64, 32)
    theirs = answer_question(loaded, tokenizer, "who wrote the book?", context, 64, 32)
    assert len(mine.features) > 2  # several windows
    assert theirs.answer == mine.answer
    assert [(c.char_start, c.char_end) for c in theirs.candidates] == [
        (c.char_start, c.char_end) for c in mine.candidates
    ]


def test_to_hf_refuses_a_generative_reader():
    from bertedu.qa.generative import BertEncoderDecoder

    with pytest.raises(TypeError, match="no transformers counterpart"):
        to_hf(BertEncoderDecoder.__new__(BertEncoderDecoder))
