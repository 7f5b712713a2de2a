"""Generated answers take the passage's own characters back (issue 35, minor cases): the
uncased tokenizer loses accents, spaces Chinese and may glue words, so a reader that wrote the
right WordPieces scored 0 on SQuAD's EM."""

from __future__ import annotations

import pytest
import torch

from bertedu.model import BertConfig
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import decode_answer, generate_answers
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features
from bertedu.qa.metrics import exact_match_score
from bertedu.qa.passage_text import answer_from_passage

pytestmark = pytest.mark.usefixtures("one_thread")

CASES = {
    # (passage, gold answer): the uncased tokenizer's decoding loses what the passage has
    "accents": ("Wuthering Heights is a novel by Emily Brontë, published in 1847.", "Emily Brontë"),
    "Chinese": ("中国的首都是北京，它有很多历史。", "北京"),
    "glued words": ("It ended the Hundred Years' War in 1453.", "Hundred Years' War"),
    "capitals": ("BERT was developed by Google's AI team in 2018.", "Google's AI team"),
    "decomposed accent": ("They met at the Cafe\u0301 Central in Vienna.", "Cafe\u0301 Central"),
    "zero-width space": ("The Bei\u200bjing opera is old.", "Bei\u200bjing opera"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_perfectly_generated_answer_takes_the_passage_characters(tokenizer, case):
    passage, gold = CASES[case]
    ids = tokenizer(gold, add_special_tokens=False)["input_ids"]
    decoded = decode_answer(tokenizer, ids)
    restored = answer_from_passage(decoded, passage)
    assert restored == gold and gold in passage
    assert exact_match_score(restored, gold) == 1.0


def test_the_decoded_text_loses_what_the_tokenizer_cannot_write(tokenizer):
    """Why the mapping is needed: EM 0 on the decoded text of three right answers."""
    for case in ("accents", "Chinese"):
        passage, gold = CASES[case]
        decoded = decode_answer(tokenizer, tokenizer(gold, add_special_tokens=False)["input_ids"])
        assert exact_match_score(decoded, gold) == 0.0, decoded


def test_an_answer_not_in_the_passage_stays_as_decoded():
    assert answer_from_passage("ingmardblom", "Ingmar Bergman directed it.") == "ingmardblom"
    assert answer_from_passage("", "A passage.") == ""


def test_a_whole_word_match_wins_over_an_earlier_one_inside_a_word():
    assert answer_from_passage("an", "Anna met an owl.") == "an"
    assert answer_from_passage("ann", "Anna met ANN.") == "ANN"
    # No whole-word occurrence: the first occurrence, in the passage's characters.
    assert answer_from_passage("nn", "Anna") == "nn"


def test_answer_from_passage_refuses_what_is_not_a_string():
    with pytest.raises(TypeError, match="answer and passage must be strings, got NoneType"):
        answer_from_passage(None, "A passage.")


def test_generate_answers_maps_its_answers_to_the_passage(tokenizer, monkeypatch):
    """generate_answers gives each decoded answer its own passage's characters."""
    examples = [
        QAExample("a", "Who wrote it?", CASES["accents"][0], ()),
        QAExample("b", "Which city?", CASES["Chinese"][0], ()),
        QAExample("c", "Which city?", "No answer here.", ()),
    ]
    written = [
        tokenizer(text, add_special_tokens=False)["input_ids"]
        for text in ("Emily Brontë", "北京", "北京")
    ]
    monkeypatch.setattr(
        "bertedu.qa.decoding.greedy_decode", lambda model, **batch_and_limit: written
    )
    features = prepare_seq2seq_features(examples, tokenizer, max_length=64, with_labels=False)
    model = BertEncoderDecoder(BertConfig.tiny(max_position_embeddings=64))
    torch.manual_seed(0)
    assert generate_answers(model, features, tokenizer, "greedy") == [
        "Emily Brontë",
        "北京",
        "北 京",
    ]
