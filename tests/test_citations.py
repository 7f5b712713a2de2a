"""Every author-year citation in the chapters has an entry in book/references.md.

A citation is "Surname et al. 2019", "Surname et al. (2019)", "Surname and Other 2019" (in
markdown or in a code comment, across line breaks); a bare "Surname et al." must name an
author of some entry. Entries are the bold heads of book/references.md's list items,
"**Surname, Other (2019).**" or "**Surname et al. (2019).**": the first author and the year.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "book" / "references.md"
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_NAME = r"[A-Z][A-Za-z\-']+"
CITATION = re.compile(rf"\b({_NAME})(?: et al\.| and {_NAME})\s+\(?((?:19|20)\d\d)\b")
BARE_ET_AL = re.compile(rf"\b({_NAME}) et al\.(?!\s+\(?(?:19|20)\d\d)")
ENTRY = re.compile(rf"^- \*\*({_NAME})[^*(]*\(((?:19|20)\d\d)\)\.\*\*", re.MULTILINE)


def reference_entries(text: str) -> set[tuple[str, str]]:
    """``{(first author, year)}`` of the bibliography's entries."""
    return set(ENTRY.findall(text))


def citations(text: str) -> tuple[set[tuple[str, str]], set[str]]:
    """``({(first author, year)}, {first authors cited without a year})`` found in ``text``."""
    flat = " ".join(text.split())  # citations are wrapped across lines
    return set(CITATION.findall(flat)), set(BARE_ET_AL.findall(flat))


def missing_citations(text: str, entries: set[tuple[str, str]]) -> list[str]:
    """The citations of ``text`` that have no entry, as they would be written."""
    dated, bare = citations(text)
    authors = {author for author, _ in entries}
    missing = [f"{author} ... {year}" for author, year in sorted(dated - entries)]
    return missing + [f"{author} et al." for author in sorted(bare - authors)]


def test_the_pattern_finds_citations_and_entries():
    text = "ELMo (Peters et al.\n2018), AdamW (Loshchilov and Hutter 2019), See et al. add"
    assert citations(text) == ({("Peters", "2018"), ("Loshchilov", "2019")}, {"See"})
    entries = reference_entries("- **Peters et al. (2018).** *ELMo.*\n- **See, Liu (2017).** x")
    assert entries == {("Peters", "2018"), ("See", "2017")}
    assert missing_citations(text, entries) == ["Loshchilov ... 2019"]
    assert missing_citations("Devlin et al. 2018", {("Devlin", "2019")}) == ["Devlin ... 2018"]


def test_the_bibliography_has_entries():
    assert len(reference_entries(REFERENCES.read_text(encoding="utf-8"))) >= 20


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_every_citation_has_a_reference(chapter):
    entries = reference_entries(REFERENCES.read_text(encoding="utf-8"))
    cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(cell["source"]) for cell in cells)
    missing = missing_citations(text, entries)
    assert not missing, (
        f"{chapter.name} cites {missing} but book/references.md has no entry with that first "
        "author and year: add one (first author and year in bold, as the others) or fix the "
        "citation."
    )
