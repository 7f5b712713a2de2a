"""Sentence splitting once (the cached corpus, a pool safe after CUDA/NCCL); the right licence."""

from __future__ import annotations

import os

import pytest
import torch

from bertedu.data import document_cache
from bertedu.data.attribution import corpus_attribution
from bertedu.data.corpus import WIKIPEDIA_ATTRIBUTION, Document, load_corpus
from bertedu.data.document_cache import cached_corpus, corpus_key
from bertedu.data.sentences import pool_start_method, split_many, split_sentences
from bertedu.data.wikitext import WIKITEXT_ATTRIBUTION

TEXTS = [f"Dr. Smith met {n} people. They paid 3.14 dollars each! Did it rain?" for n in range(120)]


def test_a_fresh_process_forks_its_pool():
    assert pool_start_method() == "fork"


@pytest.mark.parametrize("started", ["cuda", "process group"])
def test_the_pool_is_spawned_once_cuda_or_a_process_group_started(monkeypatch, started):
    if started == "cuda":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    else:
        monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    assert pool_start_method() == "spawn"


def test_a_spawned_pool_splits_like_one_process(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)  # forces spawn
    assert split_many(TEXTS, num_proc=2) == [split_sentences(text) for text in TEXTS]


def test_the_corpus_is_split_once_then_read_from_the_cache(tmp_path, monkeypatch):
    first = cached_corpus("embedded", limit=12, cache_dir=tmp_path)
    assert first == load_corpus("embedded", limit=12)

    def no_splitting(*args, **kwargs):
        raise AssertionError("the cached corpus was split again")

    monkeypatch.setattr(document_cache, "load_corpus", no_splitting)
    assert cached_corpus("embedded", limit=12, cache_dir=tmp_path) == first
    assert len(list(tmp_path.iterdir())) == 1  # no partial folder left behind
    with pytest.raises(AssertionError, match="split again"):
        cached_corpus("embedded", limit=13, cache_dir=tmp_path)  # another corpus, another key


def test_a_local_corpus_is_split_again_when_its_files_change(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("One document. Two sentences.\n\nAnother one here.\n", encoding="utf-8")
    key = corpus_key(str(text), None)
    assert corpus_key(str(text), None) == key
    text.write_text("One document. Two sentences.\n\nAn edited one.\n", encoding="utf-8")
    assert corpus_key(str(text), None) != key
    documents = cached_corpus(str(text), cache_dir=tmp_path / "cache")
    assert documents[1].sentences == ("An edited one.",)


def test_the_attribution_follows_the_corpus_really_loaded():
    embedded = load_corpus("embedded", limit=3)
    wikitext = [Document(("A sentence.",), "T", "", "wikitext/wikitext-103-raw-v1/train")]
    assert corpus_attribution(embedded) == WIKIPEDIA_ATTRIBUTION
    assert corpus_attribution(wikitext) == WIKITEXT_ATTRIBUTION
    assert "CC BY-SA 3.0" in WIKITEXT_ATTRIBUTION and "CC BY-SA 4.0" not in WIKITEXT_ATTRIBUTION
    both = corpus_attribution(embedded + wikitext)
    assert both.count("\n\n") == 1 and WIKITEXT_ATTRIBUTION in both
    with pytest.raises(ValueError, match="state the licence of your own text"):
        corpus_attribution([Document(("Mine.",), source="notes.txt")])


def test_an_edit_that_keeps_size_and_modification_time_is_split_again(tmp_path):
    # An editor (or rsync, or a restore from a backup) can change bytes and keep both.
    text = tmp_path / "corpus.txt"
    text.write_text("One document. Two sentences.\n\nAnother one here.\n", encoding="utf-8")
    cached_corpus(str(text), cache_dir=tmp_path / "cache")
    before = text.stat()
    text.write_text("One document. Two sentences.\n\nAnother one HERE.\n", encoding="utf-8")
    os.utime(text, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert text.stat().st_size == before.st_size
    documents = cached_corpus(str(text), cache_dir=tmp_path / "cache")
    assert documents[1].sentences == ("Another one HERE.",)


def test_the_same_bytes_elsewhere_share_a_key(tmp_path, monkeypatch):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "corpus.txt").write_text("Same text. Twice.\n\nAgain.\n")
    assert corpus_key(str(tmp_path / "a/corpus.txt"), None) == corpus_key(
        str(tmp_path / "b/corpus.txt"), None
    )
    monkeypatch.chdir(tmp_path)
    assert corpus_key("a/corpus.txt", None) == corpus_key(str(tmp_path / "a/corpus.txt"), None)
