"""MLM masking: the 15% selection, the 80/10/10 split, the cap, specials and determinism."""

import pytest
import torch

from bertedu.constants import CLS_ID, IGNORE_INDEX, MASK_ID
from bertedu.data.masking import mask_tokens, replaceable_token_ids

VOCAB = 30522
MASK = MASK_ID
ALLOWED = torch.arange(999, VOCAB)  # bert-base-uncased: real WordPieces start at 999 ("!")


def _batch(rows=2000, seq=128, seed=0):
    """Random real tokens with [CLS]/[SEP] around them and padding after a random length."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(999, VOCAB, (rows, seq), generator=g)
    lengths = torch.randint(8, seq + 1, (rows,), generator=g)
    positions = torch.arange(seq).expand(rows, seq)
    special = (
        (positions == 0)
        | (positions == lengths.unsqueeze(1) - 1)
        | (positions >= lengths.unsqueeze(1))
    )
    ids[positions == 0] = CLS_ID
    ids[positions >= lengths.unsqueeze(1)] = 0
    return ids, special


def _mask(ids, special, seed=0, generator=None, **kwargs):
    """Mask with a fresh generator seeded ``seed``, or with ``generator``, left where it ends."""
    kwargs.setdefault("random_token_ids", ALLOWED)
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    return mask_tokens(
        ids, special, vocab_size=VOCAB, mask_token_id=MASK, generator=generator, **kwargs
    )


def test_selection_rate_is_15_percent_and_never_special():
    ids, special = _batch()
    masked, labels = _mask(ids, special)
    chosen = labels != IGNORE_INDEX
    rate = chosen.sum().item() / (~special).sum().item()
    assert abs(rate - 0.15) < 0.003
    assert not (chosen & special).any()
    assert torch.equal(masked[special], ids[special])  # [CLS], [SEP], padding untouched
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the original tokens
    assert (chosen.sum(1) >= 1).all()  # every sequence predicts something, as in Google's code


def test_80_10_10_split():
    ids, special = _batch(rows=4000)
    masked, labels = _mask(ids, special)
    chosen = labels != IGNORE_INDEX
    n = chosen.sum().item()
    as_mask = (masked[chosen] == MASK).float().sum().item() / n
    unchanged = (masked[chosen] == ids[chosen]).float().sum().item() / n
    randomised = 1 - as_mask - unchanged
    assert n > 35_000
    assert abs(as_mask - 0.8) < 0.01
    assert abs(randomised - 0.1) < 0.008
    assert abs(unchanged - 0.1) < 0.008
    assert not ((masked != ids) & ~chosen).any()  # nothing outside the chosen positions changes


def test_cap_limits_predictions_per_sequence():
    ids, special = _batch(rows=200)
    _, labels = _mask(ids, special, mlm_probability=0.5, max_predictions=20)
    per_row = (labels != IGNORE_INDEX).sum(1)
    expected = ((~special).sum(1) * 0.5).round().clamp(min=1, max=20)
    assert torch.equal(per_row, expected.long())


def test_standard_128_setting_predicts_19_of_126():
    ids = torch.randint(999, VOCAB, (64, 128))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    _, labels = _mask(ids, special, max_predictions=20)
    assert ((labels != IGNORE_INDEX).sum(1) == 19).all()  # round(0.15 * 126)


def test_deterministic_for_a_generator_and_varies_between_calls():
    ids, special = _batch(rows=64)
    first, second = _mask(ids, special, seed=3), _mask(ids, special, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    generator = torch.Generator().manual_seed(3)
    epoch1 = _mask(ids, special, generator=generator)
    epoch2 = _mask(ids, special, generator=generator)  # the next epoch: the generator moved on
    assert torch.equal(epoch1[1], first[1]) and not torch.equal(
        epoch2[1], epoch1[1]
    )  # dynamic masking


def test_default_random_tokens_are_never_special_or_unused():
    ids, special = _batch(rows=400)
    masked, labels = mask_tokens(
        ids,
        special,
        vocab_size=VOCAB,
        mask_token_id=MASK,
        generator=torch.Generator().manual_seed(0),
    )
    replaced = (labels != IGNORE_INDEX) & (masked != MASK) & (masked != ids)
    assert replaced.sum() > 300
    assert (masked[replaced] >= 999).all()


def test_replaceable_token_ids_from_the_tokenizer():
    from bertedu.tokenization import load_tokenizer

    ids = replaceable_token_ids(load_tokenizer())
    assert torch.equal(ids, ALLOWED)


def test_whole_word_masking_keeps_words_together():
    ids, special = _batch(rows=500)
    g = torch.Generator().manual_seed(1)
    word_start = torch.rand(ids.shape, generator=g) < 0.6  # about 1.7 pieces a word
    masked, labels = _mask(ids, special, word_start_mask=word_start, max_predictions=20)
    chosen = labels != IGNORE_INDEX
    candidates = ~special
    starts = candidates & (word_start | ~torch.nn.functional.pad(candidates[:, :-1], (1, 0)))
    word_number = starts.long().cumsum(1)
    for row in range(ids.shape[0]):
        for word in word_number[row][chosen[row]].unique():
            pieces = (word_number[row] == word) & candidates[row]
            assert chosen[row][pieces].all()  # a chosen word is chosen whole
    rate = chosen.sum().item() / candidates.sum().item()
    assert 0.12 < rate <= 0.15  # whole words that would overshoot the budget are not taken
    assert (chosen.sum(1) <= 20).all()


def test_zero_probability_predicts_nothing():
    ids, special = _batch(rows=10)
    masked, labels = _mask(ids, special, mlm_probability=0.0)
    assert (labels == IGNORE_INDEX).all() and torch.equal(masked, ids)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"input_ids": torch.ones(10, dtype=torch.long), "special_tokens_mask": torch.zeros(10)},
            "unsqueeze",
        ),
        ({"special_tokens_mask": torch.zeros(2, 5)}, "must match"),
        ({"mlm_probability": 1.5}, "mlm_probability"),
        ({"max_predictions": 0}, "max_predictions"),
        ({"random_token_ids": None, "vocab_size": 50}, "replaceable_token_ids"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, message):
    arguments = {
        "input_ids": torch.ones(2, 4, dtype=torch.long),
        "special_tokens_mask": torch.zeros(2, 4),
        "vocab_size": VOCAB,
        "mask_token_id": MASK,
        "random_token_ids": ALLOWED,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        mask_tokens(arguments.pop("input_ids"), arguments.pop("special_tokens_mask"), **arguments)


@pytest.mark.parametrize("probability, words", [(0.1, 1), (0.25, 2), (0.3, 3), (1.0, 10)])
def test_whole_words_fill_the_budget_without_splitting_one(probability, words):
    """Ten 3-piece words per row: the budget round(30 p) takes floor(budget / 3) whole words."""
    rows, pieces = 64, torch.arange(32)
    ids = torch.randint(999, VOCAB, (rows, 32), generator=torch.Generator().manual_seed(0))
    special = ((pieces == 0) | (pieces == 31)).expand(rows, 32)
    word_start = ((pieces - 1) % 3 == 0).expand(rows, 32)
    _, labels = _mask(ids, special, word_start_mask=word_start, mlm_probability=probability)
    chosen = labels != IGNORE_INDEX
    assert (chosen.sum(1) == 3 * words).all()
    by_word = chosen[:, 1:31].reshape(rows, 10, 3)
    assert (by_word.all(-1) == by_word.any(-1)).all()  # every word whole or not at all


def test_token_masking_is_whole_word_masking_with_one_piece_words():
    ids, special = _batch(rows=200)
    tokens = _mask(ids, special, seed=4)
    words = _mask(ids, special, seed=4, word_start_mask=torch.ones_like(special))
    assert all(torch.equal(a, b) for a, b in zip(tokens, words, strict=True))
