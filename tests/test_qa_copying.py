"""The pointer-generator: the copy distribution, the gate's mixture, warm-starting the decoder,
and a copying reader that answers with words it never saw as answers."""

from __future__ import annotations

import pytest
import torch

from bertedu.constants import CLS_ID, SEP_ID
from bertedu.model import BertConfig, BertModel
from bertedu.qa.copying import (
    PointerAttention,
    copy_distribution,
    mix_log_probs,
    passage_mask,
    selective_read,
)
from bertedu.qa.decoding import beam_search, greedy_decode
from bertedu.qa.generative import BertEncoderDecoder


def small_config(**overrides) -> BertConfig:
    values = dict(
        hidden_size=32,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertConfig.tiny(**(values | overrides))


def test_passage_mask_keeps_only_passage_tokens():
    ids = torch.tensor([[CLS_ID, 2000, SEP_ID, 3000, 3001, SEP_ID, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 0]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 0]])
    assert passage_mask(ids, types, attention).tolist() == [
        [False, False, False, True, True, False, False]
    ]
    assert passage_mask(ids).tolist() == [[False, True, False, True, True, False, False]]


def test_copy_distribution_sums_the_positions_of_a_repeated_token():
    weights = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]])
    ids = torch.tensor([[5, 7, 5, 9]])
    out = copy_distribution(weights, ids, vocab_size=10)
    expected = torch.zeros(1, 1, 10)
    expected[0, 0, 5], expected[0, 0, 7], expected[0, 0, 9] = 0.4, 0.2, 0.4
    torch.testing.assert_close(out, expected)


def test_pointer_is_one_softmax_over_the_copyable_positions():
    torch.manual_seed(0)
    pointer = PointerAttention(8)
    state, source = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[False, True, True, True, False], [False] * 5])
    weights = pointer(state, source, mask)
    scores = pointer.query(state[0]) @ pointer.key(source[0]).T / 8**0.5
    torch.testing.assert_close(weights[0][:, 1:4], scores[:, 1:4].softmax(-1))
    assert float(weights[0][:, [0, 4]].abs().sum()) == 0.0
    assert float(weights[1].abs().sum()) == 0.0  # nothing copyable: zeros, not NaN


def test_selective_read_averages_the_states_where_the_input_token_sits():
    states = torch.arange(12.0).reshape(1, 4, 3)  # positions 0..3
    source = torch.tensor([[CLS_ID, 3000, 3001, 3000]])
    mask = torch.tensor([[False, True, True, True]])
    read = selective_read(torch.tensor([[CLS_ID, 3000, 3001]]), source, mask, states)
    torch.testing.assert_close(read[0, 0], torch.zeros(3))  # [CLS] is not copyable
    torch.testing.assert_close(read[0, 1], (states[0, 1] + states[0, 3]) / 2)
    torch.testing.assert_close(read[0, 2], states[0, 2])


def test_the_gate_mixes_two_distributions():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 10)
    copied = torch.softmax(torch.randn(2, 3, 10), dim=-1)
    for gate_value in (0.0, 0.3, 1.0):
        p_gen = torch.full((2, 3), gate_value)
        mixed = mix_log_probs(logits, p_gen, copied).exp()
        expected = gate_value * logits.softmax(-1) + (1 - gate_value) * copied
        torch.testing.assert_close(mixed, expected.clamp_min(1e-12))
        torch.testing.assert_close(mixed.sum(-1), torch.ones(2, 3))


def test_copying_model_outputs_a_normalised_mixture_with_its_gate():
    torch.manual_seed(0)
    model = BertEncoderDecoder(small_config(), copy=True).eval()
    ids = torch.tensor([[CLS_ID, 2000, SEP_ID, 3000, 3001, 3000, SEP_ID]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1]])
    labels = torch.tensor([[3001, 3000, SEP_ID]])
    with torch.no_grad():
        out = model(ids, types, labels=labels)
    torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(1, 3))
    assert out.copy_gate.shape == (1, 3) and bool(((0 < out.copy_gate) & (out.copy_gate < 1)).all())
    assert out.copy_weights.shape == (1, 3, 7)
    assert float(out.copy_weights[0, :, [0, 1, 2, 6]].abs().sum()) == 0.0  # passage only
    # With the gate shut (p_gen -> 0) all mass is on passage tokens, as the attention puts it.
    model.copy_gate.linear.bias.data.fill_(-100.0)
    with torch.no_grad():
        out = model(ids, types, labels=labels)
    probs = out.logits.exp()[0]
    torch.testing.assert_close(
        probs[:, 3000], out.copy_weights[0, :, 3] + out.copy_weights[0, :, 5], atol=1e-6, rtol=0
    )
    torch.testing.assert_close(probs[:, [3000, 3001]].sum(-1), torch.ones(3), atol=1e-5, rtol=0)


def test_copying_model_needs_its_source():
    model = BertEncoderDecoder(small_config(), copy=True)
    states = model.encode(torch.tensor([[CLS_ID, 3000, SEP_ID]]))
    with pytest.raises(ValueError, match="pass source_ids"):
        model.decode(torch.tensor([[CLS_ID]]), states)


def test_warm_start_copies_the_encoder_into_the_decoder_but_not_cross_attention():
    torch.manual_seed(0)
    encoder = BertModel(small_config(num_hidden_layers=2))
    model = BertEncoderDecoder.from_encoder(encoder, warm_start=True, num_decoder_layers=1)
    block, layer = model.decoder_layers[0], encoder.encoder.layer[0]
    for mine, theirs in (
        (block.self_attention, layer.attention),
        (block.ffn, layer.ffn),
        (block.ffn_norm, layer.ffn_norm),
        (model.decoder_embeddings.position_embeddings, encoder.embeddings.position_embeddings),
    ):
        for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
            torch.testing.assert_close(a, b)
            assert a.data_ptr() != b.data_ptr()  # copies, not shared: they are trained apart
    assert not torch.equal(block.cross_attention.query.weight, layer.attention.query.weight)
    cold = BertEncoderDecoder.from_encoder(encoder, num_decoder_layers=1)
    assert not torch.equal(
        cold.decoder_layers[0].ffn.intermediate.weight, layer.ffn.intermediate.weight
    )
    with pytest.raises(ValueError, match="num_decoder_layers <= 2"):
        BertEncoderDecoder.from_encoder(encoder, warm_start=True, num_decoder_layers=3)


# A synthetic reading task: the answer is the first word of a passage of random words. Every word
# occurs in training passages, but training answers come from one set of words and test answers
# from another, which the model never wrote: only a model that copies can answer them.
QUESTION = 2054
TRAIN_WORDS, TEST_WORDS = torch.arange(3000, 3100), torch.arange(4000, 4100)
ALL_WORDS = torch.cat([TRAIN_WORDS, TEST_WORDS])


def reading_batch(
    answers: torch.Tensor, n: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    length = 10
    passage = ALL_WORDS[torch.randint(len(ALL_WORDS), (n, length), generator=generator)]
    answer = answers[torch.randint(len(answers), (n,), generator=generator)]
    passage[:, 0] = answer
    question = torch.tensor([[CLS_ID, QUESTION, SEP_ID]]).expand(n, -1)
    ids = torch.cat([question, passage, torch.full((n, 1), SEP_ID)], dim=1)
    types = torch.cat([torch.zeros(n, 3), torch.ones(n, length + 1)], dim=1).long()
    labels = torch.stack([answer, torch.full((n,), SEP_ID)], dim=1)
    return {"input_ids": ids, "token_type_ids": types, "labels": labels}


def train_reader(copy: bool) -> tuple[BertEncoderDecoder, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = BertEncoderDecoder(small_config(num_hidden_layers=2), copy=copy)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        loss = model(**reading_batch(TRAIN_WORDS, 32, generator)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval(), reading_batch(TEST_WORDS, 64, generator)


@pytest.fixture(scope="module")
def readers():
    return {copy: train_reader(copy) for copy in (False, True)}


def accuracy(model, batch) -> float:
    ids = greedy_decode(model, batch["input_ids"], batch["token_type_ids"], max_new_tokens=3)
    return sum(row == [int(t)] for row, t in zip(ids, batch["labels"][:, 0], strict=True)) / len(
        ids
    )


def test_only_the_copying_reader_answers_with_words_it_never_wrote(readers):
    plain, copying = accuracy(*readers[False]), accuracy(*readers[True])
    assert plain == 0.0  # it can only write the answers it was trained on
    assert copying >= 0.9
    model, batch = readers[True]
    with torch.no_grad():
        out = model(**batch)
    assert float(out.copy_gate[:, 0].mean()) < 0.5  # the answer word: mostly copied
    assert float(out.copy_gate[:, 1].mean()) > 0.5  # [SEP]: generated (it cannot be copied)


def test_beam_width_one_is_greedy_for_the_copying_reader(readers):
    model, batch = readers[True]
    greedy = greedy_decode(model, batch["input_ids"][:4], batch["token_type_ids"][:4])
    for i in range(4):
        result = beam_search(model, batch["input_ids"][i], batch["token_type_ids"][i], beam_width=1)
        assert result.best.token_ids == greedy[i]
