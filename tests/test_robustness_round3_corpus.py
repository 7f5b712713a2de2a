"""A corpus given as ``--corpus`` is read safely and the same way whatever its line endings
(issue 35, item 4): a FIFO or a device is refused before it is read, CRLF files give the
documents and sentences LF files give, non-UTF-8 bytes are named with the file and the byte,
and sentence splitting costs time in proportion to the text's length."""

from __future__ import annotations

import os
from pathlib import Path

import pysbd
import pytest
from test_robustness_checkpoint_files import fails_instead_of_hanging

from bertedu.cli import main
from bertedu.data import sentences
from bertedu.data.corpus import load_text_documents
from bertedu.data.sentences import split_sentences

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = (
    "Dr. Smith met J. R. R. Tolkien in 1955. They spoke about pi, which is 3.14.\n"
    "Then they left.\n"
    "\n"
    "A second document starts here. It has two sentences.\n"
    "\n"
    "  \n"
    "A third one, after a line of spaces. Mr. Brown wrote it.\n"
)


def pretrain(out: Path, corpus: str) -> None:
    main(
        ["pretrain", "--profile", "smoke", "--no-progress", "--threads", "1", "--steps", "1"]
        + ["--output", str(out), "--corpus", corpus]
    )


# ------------------------------------------------------------------ files that are not files


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "fifo-in-folder"])
def test_a_fifo_or_a_device_is_refused_before_it_is_read(tmp_path, kind):
    if kind == "dev-zero":
        corpus = Path("/dev/zero")
    else:
        folder = tmp_path / "corpus"
        folder.mkdir()
        (folder / "real.txt").write_text(TEXT)
        corpus = folder / "pipe.txt"
        os.mkfifo(corpus)  # nobody writes to it: reading would wait forever
        corpus = folder if kind == "fifo-in-folder" else corpus
    with fails_instead_of_hanging(), pytest.raises(ValueError, match="not a regular file"):
        load_text_documents(corpus)
    out = tmp_path / "out"
    with fails_instead_of_hanging(), pytest.raises(SystemExit, match="not a regular file"):
        pretrain(out, str(corpus))
    assert not out.exists()


# ------------------------------------------------------------------ line endings and encodings


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_crlf_and_cr_files_give_the_documents_of_lf_files(tmp_path, ending):
    unix, windows = tmp_path / "unix.txt", tmp_path / "windows.txt"
    unix.write_bytes(TEXT.encode())
    windows.write_bytes(TEXT.replace("\n", ending).encode())
    expected = load_text_documents(unix)
    assert len(expected) == 3
    found = load_text_documents(windows)
    assert [d.sentences for d in found] == [d.sentences for d in expected]
    assert [d.title.replace("windows", "unix") for d in found] == [d.title for d in expected]


def test_latin1_bytes_are_named_with_the_file_and_the_offset(tmp_path):
    corpus = tmp_path / "latin.txt"
    text = TEXT.replace("Tolkien", "Tolkién")
    corpus.write_bytes(text.encode("latin-1"))
    offset = text.index("é")
    message = (
        rf"{corpus} is not UTF-8 text \(byte 0xe9 at offset {offset}; Latin-1 or "
        r"Windows-1252\?\)\. Save it as UTF-8"
    )
    with pytest.raises(ValueError, match=message):
        load_text_documents(corpus)
    with pytest.raises(SystemExit, match=rf"--corpus {corpus}: .*byte 0xe9 at offset {offset}"):
        pretrain(tmp_path / "out", str(corpus))


def test_a_byte_order_mark_is_read_as_utf8(tmp_path):
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text(TEXT, encoding="utf-8")
    marked.write_text(TEXT, encoding="utf-8-sig")
    assert [d.sentences for d in load_text_documents(marked)] == [
        d.sentences for d in load_text_documents(plain)
    ]


# ------------------------------------------------------------------ sentence splitting is linear


class CountingSegmenter:
    """pysbd's segmenter, recording the length of every text it is given."""

    def __init__(self, segmenter):
        self.segmenter, self.lengths = segmenter, []

    def segment(self, text):
        self.lengths.append(len(text))
        return self.segmenter.segment(text)


@pytest.fixture
def counted(monkeypatch):
    real = sentences._segmenter
    counting = CountingSegmenter(real("en"))
    monkeypatch.setattr(sentences, "_segmenter", lambda language: counting)
    return counting


def test_pysbd_is_given_bounded_pieces_whose_total_is_linear(counted):
    # pysbd's work on one text grows with the square of its length (each abbreviation it
    # finds rescans the whole text: 40,000 unpunctuated words took 36 s). Given pieces of at
    # most WINDOW characters, together a small multiple of the text, the work is linear.
    words = "the quick brown fox jumps over a lazy dog then I and Mr runs away".split()
    text = " ".join(words[(i * 7) % len(words)] for i in range(40_000))
    found = split_sentences(text)
    assert " ".join(found) == text  # no word lost or doubled at the pieces' edges
    assert max(counted.lengths) <= sentences.WINDOW
    assert sum(counted.lengths) <= 2 * len(text)


def test_pieces_are_cut_at_sentence_boundaries_pysbd_finds(monkeypatch, counted):
    # A long text of short sentences with abbreviations, decimals and initials: split in
    # pieces of 300 characters, the sentences are those of the whole text split at once.
    sentence_kinds = [
        "Dr. Smith paid 3.14 dollars for it.",
        "J. R. R. Tolkien wrote on Jan. 5 about the U.S. economy.",
        "Was it Mr. Brown?",
        'She said "stop!" and left.',
        "Short.",
    ]
    text = " ".join(sentence_kinds[(i * 3) % 5] + f" Item {i}." for i in range(400))
    whole = [s.strip() for s in pysbd.Segmenter(language="en", clean=False).segment(text)]
    monkeypatch.setattr(sentences, "WINDOW", 300)
    pieces = split_sentences(text)
    assert max(counted.lengths) <= 300 and len(counted.lengths) > 20
    assert pieces == whole


def test_a_sentence_longer_than_a_window_is_cut_between_words(monkeypatch, counted):
    monkeypatch.setattr(sentences, "WINDOW", 100)
    text = " ".join(f"w{i}" for i in range(200)) + ". The end."
    found = split_sentences(text)
    assert found[-1] == "The end."
    assert " ".join(found) == text
    assert all(len(s) <= 100 for s in found)
