"""Generative QA: the decoder (causal, cross-attention, tying), teacher forcing, greedy and beam
search."""

from __future__ import annotations

import pytest
import torch

from bertedu.constants import CLS_ID, IGNORE_INDEX, SEP_ID
from bertedu.model import BertConfig
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import (
    beam_search,
    beam_steps_table,
    decode_answer,
    generate_answers,
    greedy_decode,
    normalized_score,
)
from bertedu.qa.generative import (
    BertEncoderDecoder,
    collate_seq2seq,
    prepare_seq2seq_features,
    shift_right,
)

CONTEXT = "BERT is a language model. It was developed by Google's AI team in 2018."
EXAMPLES = [
    QAExample("a", "Who developed BERT?", CONTEXT, ("Google's AI team",)),
    QAExample("b", "When was BERT developed?", CONTEXT, ("2018",)),
]


def small_config() -> BertConfig:
    return BertConfig.tiny(
        hidden_size=32,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A small encoder-decoder overfit on the two examples (teacher forcing)."""
    torch.manual_seed(0)
    model = BertEncoderDecoder(small_config())
    features = prepare_seq2seq_features(EXAMPLES, tokenizer, max_length=48, max_target_length=12)
    batch = collate_seq2seq([features[i] for i in range(len(features))])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return model.eval(), features, losses


def test_embeddings_and_output_projection_are_tied():
    model = BertEncoderDecoder(small_config())
    shared = model.encoder.embeddings.word_embeddings.weight
    assert model.decoder_embeddings.word_embeddings.weight is shared
    assert model.lm_head.decoder.weight is shared
    names = [name for name, p in model.named_parameters() if p is shared]
    assert len(names) == 1  # stored once
    assert shared.std().item() == pytest.approx(0.02, rel=0.1)  # BERT init survived the tying


def test_shift_right_makes_teacher_forcing_inputs():
    labels = torch.tensor([[5, 6, SEP_ID, IGNORE_INDEX], [7, SEP_ID, IGNORE_INDEX, IGNORE_INDEX]])
    assert shift_right(labels, CLS_ID, 0).tolist() == [
        [CLS_ID, 5, 6, SEP_ID],
        [CLS_ID, 7, SEP_ID, 0],
    ]


def test_features_end_targets_with_sep(tokenizer):
    features = prepare_seq2seq_features(EXAMPLES, tokenizer, max_length=48, max_target_length=4)
    labels = features.labels[0].tolist()
    assert labels[:3] == tokenizer("Google's", add_special_tokens=False)["input_ids"][:3]
    assert labels[3] == tokenizer.sep_token_id  # cut to fit, [SEP] always kept
    assert features.labels[1].tolist()[:2] == [
        tokenizer.convert_tokens_to_ids("2018"),
        tokenizer.sep_token_id,
    ]
    assert features.context_truncated == [False, False]
    short = prepare_seq2seq_features(EXAMPLES, tokenizer, max_length=16, max_target_length=4)
    assert short.context_truncated == [True, True]


def test_decoder_is_causal_and_ignores_padded_encoder_tokens():
    torch.manual_seed(0)
    model = BertEncoderDecoder(small_config()).eval()
    input_ids = torch.randint(1000, 2000, (1, 10))
    mask = torch.ones(1, 10, dtype=torch.long)
    mask[0, 7:] = 0
    decoder_ids = torch.randint(1000, 2000, (1, 6))
    logits = model(input_ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
    changed = decoder_ids.clone()
    changed[0, 4] = 42  # a later token may not influence earlier positions
    other = model(input_ids, attention_mask=mask, decoder_input_ids=changed).logits
    assert torch.allclose(logits[:, :4], other[:, :4], atol=1e-5)
    assert not torch.allclose(logits[:, 4:], other[:, 4:], atol=1e-5)
    padded = input_ids.clone()
    padded[0, 8] = 7  # a padded encoder token may not influence anything
    assert torch.allclose(
        logits, model(padded, attention_mask=mask, decoder_input_ids=decoder_ids).logits, atol=1e-5
    )


def test_cross_attention_reads_the_encoder():
    torch.manual_seed(0)
    model = BertEncoderDecoder(small_config()).eval()
    decoder_ids = torch.tensor([[CLS_ID, 2000]])
    out = model(
        torch.tensor([[CLS_ID, 3000, SEP_ID]]),
        decoder_input_ids=decoder_ids,
        output_attentions=True,
    )
    assert len(out.cross_attentions) == 2 and out.cross_attentions[0].shape == (1, 2, 2, 3)
    other = model(torch.tensor([[CLS_ID, 4000, SEP_ID]]), decoder_input_ids=decoder_ids).logits
    assert not torch.allclose(out.logits, other)


def test_teacher_forcing_learns_and_greedy_reproduces(trained, tokenizer):
    model, features, losses = trained
    assert losses[-1] < 0.1 * losses[0]
    # The model writes "google ' s ai team"; the passage's own characters come back.
    assert generate_answers(model, features, tokenizer, "greedy") == ["Google's AI team", "2018"]
    assert generate_answers(model, features, tokenizer, "beam", beam_width=3) == [
        "Google's AI team",
        "2018",
    ]


def test_beam_search_records_steps_and_width_one_is_greedy(trained, tokenizer):
    model, features, _ = trained
    item = features[0]
    greedy = greedy_decode(
        model, item["input_ids"][None], item["token_type_ids"][None], item["attention_mask"][None]
    )[0]
    one = beam_search(
        model, item["input_ids"], item["token_type_ids"], item["attention_mask"], beam_width=1
    )
    assert one.best.token_ids == greedy and one.best.finished
    result = beam_search(
        model,
        item["input_ids"],
        item["token_type_ids"],
        item["attention_mask"],
        beam_width=3,
        tokenizer=tokenizer,
    )
    assert result.best == max(result.hypotheses, key=lambda h: h.score)
    first = result.steps[0]
    assert len(first.candidates) == 3 and first.beams == [([], 0.0)]
    assert [c.status for c in first.candidates].count("kept") <= 3
    totals = [c.total_log_prob for c in first.candidates]
    assert totals == sorted(totals, reverse=True)
    rows = beam_steps_table(result, tokenizer)
    assert rows[0]["prefix"] == "[CLS]" and {"kept", "pruned"} & {row["status"] for row in rows}
    for hypothesis in result.hypotheses:
        length = len(hypothesis.token_ids) + (1 if hypothesis.finished else 0)
        assert hypothesis.score == pytest.approx(normalized_score(hypothesis.log_prob, length, 1.0))


def test_length_limit_and_batch_errors(trained):
    model, features, _ = trained
    item = features[0]
    short = beam_search(
        model, item["input_ids"], item["token_type_ids"], item["attention_mask"], max_new_tokens=2
    )
    assert all(len(h.token_ids) <= 2 for h in short.hypotheses)
    assert any(not h.finished for h in short.hypotheses)
    with pytest.raises(ValueError, match="one sequence at a time"):
        beam_search(model, features.input_ids[:2])
    with pytest.raises(ValueError, match="at least 1"):
        greedy_decode(model, features.input_ids[:1], max_new_tokens=0)


def test_normalized_score():
    assert normalized_score(-4.0, 4, 0.0) == -4.0
    assert normalized_score(-4.0, 4, 1.0) == -1.0


def test_decode_answer_removes_wordpiece_spaces(tokenizer):
    ids = tokenizer("state-of-the-art (2018), 3.5% of Google's", add_special_tokens=False)[
        "input_ids"
    ]
    assert (
        decode_answer(tokenizer, [CLS_ID, *ids, SEP_ID])
        == "state-of-the-art (2018), 3.5% of google's"
    )


def test_decode_answer_joins_thousands_but_not_a_date(tokenizer):
    for text in ("February 13, 2000", "17,897 people", "1,000,000", "c. 800 AD"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert decode_answer(tokenizer, ids) == text.lower()


def test_decode_answer_never_shows_a_leading_continuation_marker(tokenizer):
    """A generator whose first piece is '##mar' (chapter 7's weak reader did this) must not
    answer '##marmar': the marker belongs to no word."""
    pieces = tokenizer.convert_tokens_to_ids(["##mar", "##mar"])
    assert decode_answer(tokenizer, [CLS_ID, *pieces, SEP_ID]) == "marmar"
    hans = tokenizer.convert_tokens_to_ids(["hans", "##mar"])
    assert decode_answer(tokenizer, hans) == "hansmar"


def test_bad_input(tokenizer):
    with pytest.raises(ValueError, match="question is empty"):
        prepare_seq2seq_features([QAExample("x", " ", CONTEXT, ("a",))], tokenizer, max_length=48)
    with pytest.raises(ValueError, match="needs a reference answer"):
        prepare_seq2seq_features([QAExample("x", "Who?", CONTEXT, ())], tokenizer, max_length=48)
    model = BertEncoderDecoder(small_config())
    with pytest.raises(ValueError, match="labels .* or decoder_input_ids"):
        model(torch.tensor([[CLS_ID, SEP_ID]]))


def test_last_only_scores_just_the_last_position():
    torch.manual_seed(0)
    model = BertEncoderDecoder(small_config()).eval()
    states = model.encode(torch.tensor([[CLS_ID, 3000, 3001, SEP_ID]]))
    prefix = torch.tensor([[CLS_ID, 2000, 2001]])
    full = model.decode(prefix, states).logits
    last = model.decode(prefix, states, last_only=True).logits
    assert last.shape == (1, 1, full.shape[-1])
    torch.testing.assert_close(last[:, 0], full[:, -1])


def test_long_question_is_truncated_with_a_warning_and_still_answered(trained, tokenizer):
    model, _, _ = trained
    question = "Which " + "very " * 100 + "team developed BERT?"
    with pytest.warns(UserWarning, match="truncated to their first 20"):
        features = prepare_seq2seq_features(
            [QAExample("long", question, CONTEXT, ())],
            tokenizer,
            max_length=48,
            with_labels=False,
            max_question_length=20,
        )
    assert features.input_ids.shape == (1, 48) and not features.context_truncated[0]
    assert isinstance(
        generate_answers(model, features, tokenizer, "greedy", max_new_tokens=6)[0], str
    )


def test_non_english_question_decodes_within_the_length_limit(trained, tokenizer):
    """Chinese is split into characters (some [UNK]): the model answers something, never crashes or
    runs on."""
    model, _, _ = trained
    examples = [
        QAExample(
            "zh",
            "BERT模型是由哪个公司提出的？",
            "BERT是2018年由Google公司的AI团队开发的预训练语言模型。",
            (),
        ),
        QAExample(
            "de", "Wer hat BERT entwickelt?", "BERT wurde 2018 von Googles KI-Team entwickelt.", ()
        ),
    ]
    features = prepare_seq2seq_features(examples, tokenizer, max_length=48, with_labels=False)
    greedy = greedy_decode(
        model,
        features.input_ids,
        features.token_type_ids,
        features.attention_mask,
        max_new_tokens=5,
    )
    assert len(greedy) == 2 and all(len(ids) <= 5 for ids in greedy)
    for method in ("greedy", "beam"):
        answers = generate_answers(
            model, features, tokenizer, method, beam_width=2, max_new_tokens=5
        )
        assert len(answers) == 2 and all(isinstance(answer, str) for answer in answers)
