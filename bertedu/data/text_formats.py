"""Readers for the on-disk formats of the pretraining sources, down to plain paragraphs.

Every reader yields :class:`RawDocument` s: a title and paragraphs of running text, with the
markup of the format removed (tags, cross-reference braces, reST roles, code blocks, verse,
ASCII art). Sentence splitting and deduplication happen later, in
:mod:`bertedu.data.sources`, the same way for every source.

The formats:

* the Brown Corpus, form C (tagged): ``word/tag`` tokens, one sentence a line;
* dictd databases (``NAME.index`` + ``NAME.dict.dz``): FOLDOC, the Jargon File, The Devil's
  Dictionary;
* WordNet 3.0 ``data.noun`` / ``data.verb`` / ``data.adj`` / ``data.adv``;
* reStructuredText sources of the Python documentation (``*.rst.txt``);
* the CIA World Factbook as JSON (one file a country);
* novels as lines of Project Gutenberg plain text (Jane Austen's, from an R package);
* Python source files, for their docstrings (the standard library's).
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawDocument:
    """A document before sentence splitting: its title and paragraphs of plain text."""

    title: str
    paragraphs: tuple[str, ...]


_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[.,;:!?)]*$")


def is_prose(paragraph: str, *, min_words: int = 5, min_word_share: float = 0.6) -> bool:
    """Whether a paragraph reads as running text: enough words, most of them plain words.

    Code, tables, lists of numbers and signatures fail: their tokens are mostly symbols,
    digits or identifiers with dots and brackets.
    """
    tokens = paragraph.split()
    if len(tokens) < min_words:
        return False
    words = sum(1 for token in tokens if _WORD.match(token.lstrip("(\"'‘“")))
    return words / len(tokens) >= min_word_share


def blank_line_blocks(lines: Iterable[str]) -> Iterator[list[str]]:
    """The runs of non-blank lines between blank (or whitespace-only) lines, lines unchanged.

    The paragraphs of the Brown Corpus, of dictd entries and of docstrings are such runs;
    each reader decides what to keep of a run's lines (their indentation, their markup).
    """
    block: list[str] = []
    for line in lines:
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


# --- The Brown Corpus (form C) -------------------------------------------------------------

_BROWN_GENRES = {
    "a": "press: reportage",
    "b": "press: editorial",
    "c": "press: reviews",
    "d": "religion",
    "e": "skill and hobbies",
    "f": "popular lore",
    "g": "belles-lettres",
    "h": "government documents",
    "j": "learned",
    "k": "fiction: general",
    "l": "fiction: mystery",
    "m": "fiction: science",
    "n": "fiction: adventure",
    "p": "fiction: romance",
    "r": "humor",
}
_BROWN_FILE = re.compile(r"^c[a-r]\d\d$")
_BROWN_DETOKENIZE = [
    (re.compile(r"``\s*"), "\u201c"),
    (re.compile(r"\s*''"), "\u201d"),
    (re.compile(r" ([,.;:?!)\]])"), r"\1"),
    (re.compile(r"([(\[]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
    (re.compile(r"\s*--\s*"), " -- "),
    (re.compile(r"([?!;])(\s*\1)+"), r"\1"),  # the corpus doubles "?", "!" and ";" as two tokens
    (re.compile("\u201d([.,?!;:])"), "\\1\u201d"),  # tokenized 'word '' .' was 'word."'
]


def brown_genre(file_id: str) -> str:
    """The genre of a Brown sample from its file name (``ca01`` -> ``press: reportage``)."""
    return _BROWN_GENRES[file_id[1]]


def detokenize_brown_line(line: str) -> str:
    """``The/at jury/nn said/vbd ``/`` fine/jj ''/'' ./.`` -> ``The jury said “fine”.``

    The tag is what follows the last ``/``; the corpus writes quotes as `````` and ``''``.
    """
    words = [token.rsplit("/", 1)[0] for token in line.split()]
    text = " ".join(word for word in words if word)
    for pattern, replacement in _BROWN_DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text.strip()


def read_brown(folder: Path) -> Iterator[RawDocument]:
    """One document per Brown sample (500 of about 2,000 words), paragraphs as in the corpus."""
    for path in sorted(p for p in folder.iterdir() if _BROWN_FILE.match(p.name)):
        paragraphs = [
            " ".join(detokenize_brown_line(line) for line in block)
            for block in blank_line_blocks(path.read_text(encoding="latin-1").splitlines())
        ]
        yield RawDocument(f"{path.name} ({brown_genre(path.name)})", tuple(paragraphs))


# --- dictd databases -----------------------------------------------------------------------

_DICTD_DIGITS = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def decode_dictd_number(text: str) -> int:
    """dictd's index numbers: base 64 with the digits ``A-Z a-z 0-9 + /`` (``"BA"`` = 64)."""
    value = 0
    for char in text:
        value = value * 64 + _DICTD_DIGITS[char]
    return value


def read_dictd_entries(index_path: Path, dict_path: Path) -> Iterator[tuple[str, str]]:
    """``(headword, entry text)`` for every entry of a dictd database, in index order.

    The ``.dict.dz`` file is dictzip, which gzip reads; the index gives each entry's byte
    offset and length in base 64. The database's own ``00-database-*`` entries are skipped,
    and so is a second index line pointing at an entry already read (an alias).
    """
    data = gzip.decompress(dict_path.read_bytes())
    seen = set()
    for line in index_path.read_text(encoding="utf-8").splitlines():
        headword, offset, length = line.split("\t")[:3]
        if headword.startswith("00-database") or (offset, length) in seen:
            continue
        seen.add((offset, length))
        start = decode_dictd_number(offset)
        yield headword, data[start : start + decode_dictd_number(length)].decode("utf-8")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def dictd_paragraphs(entry: str) -> list[str]:
    """The paragraphs of a dictd entry at its body's base indentation, headword line dropped.

    Lines indented deeper than the body's base (code, verse, ASCII art, tables) and
    paragraphs that mix such lines are dropped, and so are lines indented less than the
    base (the Jargon File's pronunciation and part of speech).
    """
    lines = entry.expandtabs().splitlines()
    if len(lines[0].split()) <= 6 or _indent(lines[0]) > 0:
        lines = lines[1:]  # a headword line; The Devil's Dictionary starts its text there
    indents = [_indent(line) for line in lines if line.strip()]
    if not indents:
        return []
    base = max(set(indents), key=indents.count)  # the most common indentation is the body's
    paragraphs = []
    for block in blank_line_blocks(lines):
        body = [line.strip() for line in block if _indent(line) == base]
        if body and all(_indent(line) <= base for line in block):
            paragraphs.append(" ".join(body))
    return paragraphs


_FOLDOC_URL_REF = re.compile(
    r"\{\(?[a-z]+://[^}]*\}|\((?:https?|ftp)://[^)]*\)|(?:https?|ftp)://\S+"
)
_BRACES = re.compile(r"\{([^{}]*)\}")
_EMAIL = re.compile(r"<[^<>\s]+@[^<>\s]+>|\S+@\S+\.\w+")
_CATEGORY = re.compile(r"^<[^<>]*>\s*")
_DATE_LINE = re.compile(r"^\(\d{4}-\d\d-\d\d\)$")
_SENSE_NUMBER = re.compile(r"^\d+\.\s+")


def clean_dictd_paragraph(paragraph: str) -> str:
    """Remove FOLDOC/Jargon markup: ``{cross reference}`` -> text, URLs, e-mail addresses,
    leading ``<category>`` tags, sense numbers; a bare ``(1998-03-03)`` date becomes empty."""
    text = _FOLDOC_URL_REF.sub("", paragraph)
    text = _EMAIL.sub("", text)
    while _BRACES.search(text):
        text = _BRACES.sub(r"\1", text)
    text = _SENSE_NUMBER.sub("", _CATEGORY.sub("", text.strip()))
    text = _SPACES.sub(" ", text).strip()
    return "" if _DATE_LINE.match(text) else text


def read_dictd(index_path: Path, dict_path: Path) -> Iterator[RawDocument]:
    """One document per dictionary entry: its cleaned prose paragraphs, titled by headword."""
    for headword, entry in read_dictd_entries(index_path, dict_path):
        paragraphs = [clean_dictd_paragraph(p) for p in dictd_paragraphs(entry)]
        yield RawDocument(headword, tuple(p for p in paragraphs if is_prose(p, min_words=3)))


# --- WordNet 3.0 data files ----------------------------------------------------------------

_WORDNET_POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_QUOTED = re.compile(r'"([^"]+)"')


def wordnet_sentence(words: list[str], gloss: str) -> str:
    """A synset as one English sentence: ``"plum" means a highly desirable position, as in
    "a political plum".`` (the gloss's definition, then its quoted examples)."""
    definition = gloss.split('"')[0].strip().rstrip(";").strip()
    examples = [example.strip() for example in _QUOTED.findall(gloss)]
    headword = " or ".join(f'"{word}"' for word in words[:3])
    sentence = f"{headword} means {definition}"
    if examples:
        sentence += ", as in " + "; ".join(f'"{example}"' for example in examples[:3])
    return sentence.rstrip(".") + "."


def read_wordnet_synsets(path: Path) -> Iterator[tuple[str, list[str], str]]:
    """``(lexicographer file, words, gloss)`` for each synset line of a WordNet data file."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue  # the licence header
        fields, gloss = line.split("|", 1)
        parts = fields.split()
        word_count = int(parts[3], 16)
        words = [parts[4 + 2 * i].replace("_", " ") for i in range(word_count)]
        words = [re.sub(r"\(\w+\)$", "", word) for word in words]  # adjective markers "(a)"
        yield _LEXNAMES[int(parts[1])], words, gloss.strip()


def read_wordnet(folder: Path, *, synsets_per_document: int = 20) -> Iterator[RawDocument]:
    """WordNet glosses as sentences, grouped into documents of consecutive synsets.

    Consecutive synsets of one lexicographer file are near in meaning (the file is sorted by
    topic: "noun.animal", "verb.motion"), so a document reads as a short glossary of one
    field; one sentence per paragraph keeps pysbd from splitting at the abbreviations.
    """
    for part in _WORDNET_POS:
        group: list[str] = []
        group_lexname, number = "", 0
        for lexname, words, gloss in read_wordnet_synsets(folder / f"data.{part}"):
            if group and (lexname != group_lexname or len(group) >= synsets_per_document):
                number += 1
                yield RawDocument(f"{group_lexname} #{number}", tuple(group))
                group = []
            group_lexname = lexname
            group.append(wordnet_sentence(words, gloss))
        if group:
            yield RawDocument(f"{group_lexname} #{number + 1}", tuple(group))


# --- reStructuredText (the Python documentation) -------------------------------------------

# Directives whose body is prose (notes, API descriptions); every other directive's block
# (code, tables, toctrees, indexes, includes) is dropped with its body.
_PROSE_DIRECTIVES = frozenset(
    "note warning tip important hint caution attention danger error admonition seealso "
    "versionadded versionchanged deprecated deprecated-removed impl-detail topic sidebar "
    "function method class attribute data exception decorator decoratormethod classmethod "
    "staticmethod abstractmethod coroutinefunction coroutinemethod awaitablefunction "
    "describe opcode cmdoption option envvar module-level-function c:function c:macro "
    "c:type c:member c:var c:struct c:data".split()
)
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::(.*)$")
_COMMENT = re.compile(r"^(\s*)\.\.(\s|$)")
_UNDERLINE = re.compile(r"^([=\-~^*#\"+'`.:_])\1{2,}\s*$")
_BULLET = re.compile(r"^(\s*)([-*+\u2022]|\d+\.|#\.|\(?[a-z0-9]\))\s+")
_TABLE = re.compile(r"^\s*(\+[-=+]+\+|\|.*\||=+( +=+)+)\s*$")
_OPTION_LINE = re.compile(r"^\s+:[\w-]+:")
_ROLE = re.compile(r":[\w:.-]+:`([^`]*)`")
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`_{1,2}")
_INTERPRETED = re.compile(r"`+([^`]+)`+_{0,2}")
_EMPHASIS = re.compile(r"\*{1,2}([^*\s][^*]*?)\*{1,2}")
_FOOTNOTE_REF = re.compile(r"\s*\[(#[\w-]*|\d+|\*)\]_")
_SUBSTITUTION = re.compile(r"\|([\w -]+)\|")


def _role_text(match: re.Match) -> str:
    text = match.group(1)
    target = re.match(r"^(.*?)\s*<[^>]*>$", text)
    if target:
        return target.group(1)
    text = text.lstrip("!")
    return text.split(".")[-1] if text.startswith("~") else text


def clean_rst_inline(text: str) -> str:
    """reST inline markup to plain text: roles, links, literals, emphasis, footnote refs."""
    text = _ROLE.sub(_role_text, text)
    text = _LINK.sub(r"\1", text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _INTERPRETED.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _SUBSTITUTION.sub(r"\1", text).replace("\\ ", "").replace("\\", "")
    text = _SPACES.sub(" ", text).strip()
    return text[:-2] + ":" if text.endswith("::") else text


def rst_blocks(text: str) -> Iterator[tuple[str, str]]:
    """``("heading", title)`` and ``("paragraph", text)`` blocks of a reST file, code dropped.

    Line-based, like the reST parser's first pass: a paragraph ends at a blank line; a line
    of punctuation under a one-line paragraph makes it a heading; a paragraph ending in
    ``::`` announces a literal (code) block, and any block indented under it is skipped.
    """
    skip_deeper_than: int | None = None  # skip blank lines and lines indented more than this
    skip_to_blank = False
    current: list[str] = []
    for line in text.expandtabs().splitlines() + [""]:
        stripped = line.strip()
        if skip_deeper_than is not None:
            if not stripped or _indent(line) > skip_deeper_than:
                continue
            skip_deeper_than = None
        if skip_to_blank:
            skip_to_blank = bool(stripped)
            continue
        if not stripped:
            if current:
                yield "paragraph", " ".join(current)
            current = []
            continue
        if _UNDERLINE.match(stripped):
            if len(current) == 1:
                yield "heading", current.pop()
            continue  # an overline or a transition
        directive = _DIRECTIVE.match(line)
        if directive or _COMMENT.match(line):
            if current:
                yield "paragraph", " ".join(current)
                current = []
            if directive and directive.group(2) in _PROSE_DIRECTIVES:
                # Arguments and options run to the first blank line; the prose body follows.
                skip_to_blank = True
                continue
            skip_deeper_than = _indent(line)
            continue
        if _OPTION_LINE.match(line) and not current:
            continue
        if stripped.startswith(">>>") or _TABLE.match(line):
            if current:
                yield "paragraph", " ".join(current)
                current = []
            skip_to_blank = True
            continue
        bullet = _BULLET.match(line)
        if bullet:
            if current:
                yield "paragraph", " ".join(current)
            current = [line[bullet.end() :].strip()]
        else:
            current.append(stripped)
        if stripped.endswith("::"):
            yield "paragraph", " ".join(current)
            current = []
            skip_deeper_than = _indent(line) if not bullet else bullet.end() - 1
    if current:
        yield "paragraph", " ".join(current)


def read_rst_document(text: str, name: str, *, min_section_words: int = 150) -> list[RawDocument]:
    """A reST file as documents: a heading starts a new one once the current has enough words.

    Short API sections are kept with their neighbours (one page's sections are about one
    module), so documents are long enough for sentence pairs; headings are titles, not text.
    """
    documents: list[RawDocument] = []
    title, paragraphs, words = name, [], 0
    for kind, block in rst_blocks(text):
        if kind == "heading":
            if words >= min_section_words:
                documents.append(RawDocument(title, tuple(paragraphs)))
                paragraphs, words = [], 0
            if not paragraphs:
                title = f"{name}: {clean_rst_inline(block)}"
            continue
        paragraph = clean_rst_inline(block)
        if is_prose(paragraph):
            paragraphs.append(paragraph)
            words += len(paragraph.split())
    if paragraphs:
        documents.append(RawDocument(title, tuple(paragraphs)))
    return documents


def read_rst_folder(folder: Path, *, exclude: Iterable[str] = ()) -> Iterator[RawDocument]:
    """Documents from every ``*.rst.txt`` / ``*.rst`` under ``folder`` (sorted, recursive)."""
    excluded = set(exclude)
    for path in sorted(folder.rglob("*.rst*")):
        name = path.relative_to(folder).as_posix().removesuffix(".txt").removesuffix(".rst")
        if name not in excluded:
            yield from read_rst_document(path.read_text(encoding="utf-8"), name)


# --- The CIA World Factbook (JSON) ---------------------------------------------------------

_HTML_BREAK = re.compile(r"<br\s*/?>\s*(<br\s*/?>)?", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]+>")


def _factbook_texts(node: object, field: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield field, value
            else:
                yield from _factbook_texts(value, key.strip())


def factbook_paragraphs(section: dict) -> list[str]:
    """The prose of one Factbook section, HTML removed: ``text`` fields of at least 8 words
    that pass :func:`is_prose`.

    Many fields are figures ("1,001,450 sq km") and fail. The Factbook's telegraphic fields
    ("tropical; hot and humid in equatorial river basin") become sentences with their name:
    "Climate: tropical; hot and humid in equatorial river basin."
    """
    paragraphs = []
    for field, text in _factbook_texts(section):
        for part in _HTML_BREAK.split(text):
            part = _SPACES.sub(" ", _HTML_TAG.sub(" ", part or "")).strip()
            if not is_prose(part, min_words=8):
                continue
            if not part[0].isupper() and field:
                part = f"{field[0].upper()}{field[1:]}: {part}"
            paragraphs.append(part if part.endswith((".", "!", "?")) else part + ".")
    return paragraphs


def factbook_country_name(country: dict, fallback: str) -> str:
    """The conventional short name of a Factbook entry, else ``fallback`` (the file's code)."""
    names = country.get("Government", {}).get("Country name", {})
    for key in ("conventional short form", "conventional long form"):
        name = names.get(key, {}).get("text", "").strip()
        if name and name.lower() != "none":
            return name
    return fallback


def read_factbook(folder: Path) -> Iterator[RawDocument]:
    """One document per country and section ("Egypt: Economy"), for every ``*.json`` file."""
    for path in sorted(folder.rglob("*.json")):
        country = json.loads(path.read_text(encoding="utf-8"))
        name = factbook_country_name(country, path.stem)
        for section, content in country.items():
            yield RawDocument(
                f"{name} ({path.stem}): {section}", tuple(factbook_paragraphs(content))
            )


# --- Novels as plain-text lines (Project Gutenberg) -----------------------------------------

_HEADING_WORD = re.compile(r"^(VOLUME|CHAPTER)\s+([IVXLC]+|\d+)\b\.?$", re.IGNORECASE)
_UNDERSCORE_EMPHASIS = re.compile(r"_([^_]+)_")


def read_novel(book: str, lines: Iterable[str | None]) -> Iterator[RawDocument]:
    """One document per chapter of a novel given as its lines ("CHAPTER I" headings).

    The title page before the first chapter is dropped; ``_emphasis_`` (Gutenberg's italics)
    loses its underscores; paragraphs are the blank-line separated blocks; a line indented
    as a letter's heading or verse joins its paragraph like any other.
    """
    volume, title, paragraphs, current = "", None, [], []

    def flush_paragraph() -> None:
        text = _UNDERSCORE_EMPHASIS.sub(r"\1", " ".join(current))
        if text and not (text.isupper() and len(text.split()) <= 4):  # "THE END", "FINIS"
            paragraphs.append(text)
        current.clear()

    for line in list(lines) + [""]:
        stripped = (line or "").strip()
        heading = _HEADING_WORD.match(stripped)
        if heading:
            flush_paragraph()
            if title is not None and paragraphs:
                yield RawDocument(title, tuple(paragraphs))
            paragraphs = []
            name = f"{heading.group(1).title()} {heading.group(2).upper()}"
            if name.startswith("Volume"):
                volume, title = name, None
            else:
                title = ", ".join(part for part in (book, volume, name) if part)
        elif not stripped:
            flush_paragraph()
        elif title is not None:
            current.append(stripped)
    flush_paragraph()
    if title is not None and paragraphs:
        yield RawDocument(title, tuple(paragraphs))


# --- Docstrings of Python source files -------------------------------------------------------

_SKIPPED_STDLIB_PARTS = frozenset(
    "test tests idlelib lib2to3 turtledemo site-packages dist-packages __pycache__ _bundled".split()
)


def docstring_paragraphs(docstring: str) -> list[str]:
    """The prose paragraphs of a (cleaned) docstring: doctests and indented blocks dropped."""
    paragraphs = []
    for lines in blank_line_blocks(docstring.splitlines()):
        if any(line.lstrip().startswith(">>>") for line in lines):
            continue
        if sum(line.startswith(" ") for line in lines) * 2 > len(lines):
            continue  # mostly indented: code, a parameter table or an example
        paragraph = clean_rst_inline(" ".join(line.strip() for line in lines))
        if is_prose(paragraph):
            paragraphs.append(paragraph)
    return paragraphs


def module_docstrings(source: str) -> list[str]:
    """The docstrings of a module, its classes and functions, in source order."""
    tree = ast.parse(source)
    nodes = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    nodes.sort(key=lambda node: getattr(node, "lineno", 0))
    return [text for text in (ast.get_docstring(node) for node in nodes) if text]


def read_python_docstrings(folder: Path) -> Iterator[RawDocument]:
    """One document per module under ``folder`` (tests and vendored code skipped), titled by
    its dotted name: the prose of its docstrings."""
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder)
        if _SKIPPED_STDLIB_PARTS & set(relative.parts[:-1]) or relative.name.startswith("test_"):
            continue
        try:
            docstrings = module_docstrings(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few files are templates or deliberately invalid (lib2to3 data)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        paragraphs = [p for docstring in docstrings for p in docstring_paragraphs(docstring)]
        yield RawDocument(module, tuple(paragraphs))
