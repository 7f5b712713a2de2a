"""The offline tokenizer and the WordPiece algorithm."""

import inspect

import pytest

from bertedu.constants import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID
from bertedu.hub import HubUnavailableError
from bertedu.tokenization import greedy_wordpiece, load_tokenizer, minilm_path


def test_default_tokenizer_is_bert_base_uncased(tokenizer):
    assert len(tokenizer) == 30522
    ids = tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"])
    assert ids == [0, 100, 101, 102, 103, 7592]
    assert ids[:5] == [PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID]  # bertedu.constants agrees
    encoded = tokenizer("Hello world", "Second segment")
    assert encoded["input_ids"][0] == CLS_ID and encoded["input_ids"][-1] == SEP_ID
    assert encoded["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]


def test_local_folder_loads(tokenizer):
    assert load_tokenizer(minilm_path()).get_vocab() == tokenizer.get_vocab()


def test_folder_without_vocab_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="neither vocab.txt nor tokenizer.json"):
        load_tokenizer(tmp_path)


def test_file_instead_of_folder_is_rejected(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n")
    with pytest.raises(ValueError, match="pass the folder"):
        load_tokenizer(path)


def test_unreachable_hub_says_what_to_do():
    with pytest.raises(HubUnavailableError, match="load_tokenizer\\(\\) with no argument"):
        load_tokenizer("bert-base-cased")


def english_words(tokenizer) -> list[str]:
    """Distinct pre-tokenised words from the standard library's docstrings (a few thousand)."""
    import argparse  # noqa: E401
    import collections
    import json as json_module
    import logging
    import pathlib
    import subprocess
    import typing
    import unittest

    text = " ".join(
        inspect.getdoc(obj) or ""
        for module in (
            argparse,
            collections,
            json_module,
            logging,
            pathlib,
            subprocess,
            typing,
            unittest,
        )
        for _, obj in inspect.getmembers(module)
    )
    normalized = tokenizer.backend_tokenizer.normalizer.normalize_str(text)
    pieces = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(normalized)
    return sorted({word for word, _ in pieces})


def test_greedy_wordpiece_equals_the_reference_tokenizer(tokenizer):
    vocab = tokenizer.get_vocab()
    words = english_words(tokenizer)
    assert len(words) > 2000
    mismatches = [w for w in words if greedy_wordpiece(w, vocab) != tokenizer.tokenize(w)]
    assert mismatches == []


def test_greedy_wordpiece_unknowns():
    vocab = {"un", "##aff", "##able", "a"}
    assert greedy_wordpiece("unaffable", vocab) == ["un", "##aff", "##able"]
    assert greedy_wordpiece("unaffablex", vocab) == ["[UNK]"]
    assert greedy_wordpiece("a" * 101, vocab) == ["[UNK]"]
