"""Read the built book's chapters as an editor would; fail on what a reader should never see.

The rules, each a function over one page's article (``RULES`` lists them):

- ``markdown-table-as-text``: a markdown table left as run-on text ("| step | count |
  |---|---:|") in the prose or a cell's output: it was meant to render as a table;
- ``missing-in-table``: ``NaN``, ``None``, ``<NA>`` or ``NaT`` in a rendered table
  (bertedu.tables.show_table writes a missing value as "–");
- ``long-decimals``: a number with 5 or more decimals in a rendered table;
- ``wrapped-source``: a line of the package's source wrapped with a "↪" marker
  (bertedu.book.show_source): reflow the source or widen the block instead;
- ``process-words``: words about how the book was made ("smoke test", "working tree",
  a commit hash, "re-executed", who ran a run) in the prose or an output;
- ``exercises``: in a section called Exercises, every cell is hidden until opened,
  every exercise ("**N.** ...") has a solution, and each solution (a hidden cell or a
  dropdown) sits directly under its own exercise with its toggle naming the exercise
  number ("Solution to exercise N");
- ``figure-alt``: every image has an alt text that says what it shows, not an empty one
  nor a file path or name ("../_images/<hash>.png", what myst-nb writes for a cell's
  figure unless the cell's metadata sets ``"mystnb": {"image": {"alt": "..."}}``): it is
  what a screen reader reads, and what shows when the image fails to load.

The page-height rule (no chapter taller than 25,000 px at 1,280 px) needs a browser:
scripts/check_layout.py enforces it. The code of a cell (its input) is not read by
these rules, except for exercises' hiding: code may legitimately build a markdown
table or hold a hexadecimal constant; what the reader reads is the prose and the outputs.

    python scripts/check_editor.py [PAGE ...]   # default: every page under notebooks/
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
CHAPTERS = "notebooks"  # the folder of the chapter pages under _build/html

#: The rule under a markdown table's header ("|---|---:|"; the typesetter turns "---" into "—").
MARKDOWN_TABLE_RULE = re.compile(r"\|\s*:?[-–—]+:?\s*\|\s*:?[-–—]+:?\s*\|")
MISSING_WORDS = {"nan", "none", "<na>", "nat", "null"}
LONG_DECIMALS = re.compile(r"\d[.,]\d{5,}")
WRAP_MARKER = "↪"
#: Phrases about how the page was made, with the reason each is a slip.
PROCESS_WORDS: dict[str, re.Pattern[str]] = {
    "a smoke test": re.compile(r"\bsmoke[- ]tests?\b", re.IGNORECASE),
    "the working tree": re.compile(r"\bworking[- ]tree\b", re.IGNORECASE),
    "a commit hash": re.compile(
        r"\bcommit(?:ted)?\b[^.\n]{0,40}?\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"
        r"|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b[^.\n]{0,10}?\bcommit\b",
        re.IGNORECASE,
    ),
    "how the page was executed": re.compile(
        r"\bre-?execut(?:ed|ing|ion)\b|\bnbclient\b|\bmake notebooks\b|\bthis page was\b",
        re.IGNORECASE,
    ),
    "who ran a run": re.compile(
        r"\b(?:the lead's run|a helper|this session|our session|ran it today)\b", re.IGNORECASE
    ),
}
#: An alt text that is a file's path or name rather than words about the figure.
FILE_LIKE_ALT = re.compile(r"_images/|\.(?:png|svg|jpe?g|gif|webp)\s*$", re.IGNORECASE)
EXERCISE_START = re.compile(r"^\s*(\d+)\.")
NUMBER = re.compile(r"\b(\d+)\b")


@dataclass(frozen=True)
class Problem:
    rule: str
    where: str  # "cell 12", "section Exercises", "text"
    what: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.what}"


def article_of(page: BeautifulSoup) -> Tag:
    """The chapter's article (the theme's main column), or the whole page."""
    return page.select_one("article.bd-article") or page


def where(element: Tag, article: Tag) -> str:
    """``cell N`` (counted from 1 on the page) for an element inside a cell, else ``text``
    with the nearest heading."""
    cell = (
        element
        if "cell" in (element.get("class") or [])
        else element.find_parent("div", class_="cell")
    )
    if cell is not None:
        cells = article.select("div.cell")
        return f"cell {cells.index(cell) + 1}"
    heading = element.find_previous(["h1", "h2", "h3"])
    title = heading.get_text(" ", strip=True).rstrip("#").strip() if heading else "top"
    return f"text under '{title[:50]}'"


def reader_text_blocks(article: Tag) -> Iterator[Tag]:
    """What a reader reads: prose blocks outside cells, and every block of cells' outputs
    (cell inputs are code and are skipped)."""
    for block in article.find_all(["p", "li", "td", "th", "dd", "pre", "h1", "h2", "h3"]):
        if block.find_parent("div", class_="cell_input") is not None:
            continue
        if block.name == "pre" and block.find_parent("div", class_="cell_output") is None:
            continue  # a code block in the prose: code, like a cell's input
        if block.name in ("p", "li") and block.find(["p", "li"]):
            continue  # its own paragraphs are read one by one
        yield block


def shorten(text: str, at: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= at else text[: at - 1] + "…"


def markdown_tables_as_text(article: Tag) -> list[Problem]:
    return [
        Problem("markdown-table-as-text", where(b, article), shorten(b.get_text(" ")))
        for b in reader_text_blocks(article)
        if MARKDOWN_TABLE_RULE.search(b.get_text(" "))
    ]


def table_cells(article: Tag) -> Iterator[Tag]:
    for table in article.find_all("table"):
        if table.find_parent("div", class_="cell_input") is None:
            yield from table.find_all(["td", "th"])


def missing_in_tables(article: Tag) -> list[Problem]:
    return [
        Problem("missing-in-table", where(c, article), f"a table cell reads {c.get_text()!r}")
        for c in table_cells(article)
        if c.get_text(strip=True).lower() in MISSING_WORDS
    ]


def long_decimals(article: Tag) -> list[Problem]:
    return [
        Problem("long-decimals", where(c, article), f"a table cell reads {c.get_text()!r}")
        for c in table_cells(article)
        if LONG_DECIMALS.search(c.get_text())
    ]


def wrapped_source(article: Tag) -> list[Problem]:
    found = []
    for pre in article.find_all("pre"):
        for line in pre.get_text().splitlines():
            if WRAP_MARKER in line:
                found.append(Problem("wrapped-source", where(pre, article), shorten(line)))
    return found


def process_words(article: Tag) -> list[Problem]:
    found = []
    for block in reader_text_blocks(article):
        text = block.get_text(" ")
        for slip, pattern in PROCESS_WORDS.items():
            match = pattern.search(text)
            if match:
                found.append(
                    Problem("process-words", where(block, article), f"{slip}: {match.group(0)!r}")
                )
    return found


def exercises_sections(article: Tag) -> Iterator[Tag]:
    for section in article.find_all("section"):
        heading = section.find(["h1", "h2", "h3"], recursive=False)
        if heading and heading.get_text(" ", strip=True).rstrip("#").strip().endswith("Exercises"):
            yield section


def is_hidden(cell: Tag) -> bool:
    """Whether nothing of a cell shows until the reader opens it: all it holds is
    inside collapsed ``<details>`` (myst-nb's ``hide-cell``)."""
    children = [c for c in cell.children if isinstance(c, Tag)]
    return bool(children) and all(c.name == "details" for c in children)


def toggle_label(solution: Tag) -> str:
    """The text of a solution's toggle: a hidden cell's "show" prompt, a dropdown's title."""
    collapsed = solution.select_one("summary .collapsed") or solution.select_one("summary")
    if collapsed is not None:
        return collapsed.get_text(" ", strip=True)
    title = solution.select_one(".admonition-title")
    return title.get_text(" ", strip=True) if title else ""


def exercise_number(block: Tag) -> int | None:
    """N for a paragraph that starts an exercise (``**N.** ...``), else None."""
    if block.name != "p":
        return None
    first = next((c for c in block.children if not (isinstance(c, str) and not c.strip())), None)
    if not (isinstance(first, Tag) and first.name == "strong"):
        return None
    match = EXERCISE_START.match(first.get_text())
    return int(match.group(1)) if match else None


def exercises(article: Tag) -> list[Problem]:
    found = []
    for section in exercises_sections(article):
        current, solved = None, set()
        numbers = []
        for block in section.find_all(recursive=False):
            number = exercise_number(block)
            if number is not None:
                current = number
                numbers.append(number)
                continue
            classes = block.get("class") or []
            is_cell, is_dropdown = "cell" in classes, "dropdown" in classes
            if not (is_cell or is_dropdown):
                continue
            label = toggle_label(block)
            place = where(block, article)
            if is_cell and not is_hidden(block):
                found.append(Problem("exercises", place, "a cell under Exercises shows itself"))
            label_numbers = {int(n) for n in NUMBER.findall(label)}
            if current is None:
                found.append(Problem("exercises", place, "a solution before the first exercise"))
            elif current not in label_numbers:
                found.append(
                    Problem(
                        "exercises",
                        place,
                        f"solution under exercise {current} is labelled {label!r}: "
                        f"say 'Solution to exercise {current}'",
                    )
                )
            else:
                solved.add(current)
        for number in numbers:
            if number not in solved:
                found.append(
                    Problem("exercises", "section Exercises", f"exercise {number} has no solution")
                )
    return found


def figure_alt(article: Tag) -> list[Problem]:
    found = []
    for image in article.find_all("img"):
        alt = (image.get("alt") or "").strip()
        if alt and not FILE_LIKE_ALT.search(alt):
            continue
        said = (
            f"alt text {alt!r} is a file name" if alt else f"{image.get('src')!r} has no alt text"
        )
        fix = 'say what the figure shows (a cell\'s figure: "mystnb": {"image": {"alt": ...}})'
        found.append(Problem("figure-alt", where(image, article), f"{said}: {fix}"))
    return found


RULES: tuple[Callable[[Tag], list[Problem]], ...] = (
    markdown_tables_as_text,
    missing_in_tables,
    long_decimals,
    wrapped_source,
    process_words,
    exercises,
    figure_alt,
)


def check_page(path: Path) -> list[Problem]:
    """Every rule's problems on one built page."""
    article = article_of(BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser"))
    return [problem for rule in RULES for problem in rule(article)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages", nargs="*", help="pages relative to _build/html (default: chapters)"
    )
    args = parser.parse_args(argv)
    pages = [HTML / p for p in args.pages] or sorted((HTML / CHAPTERS).glob("*.html"))
    if not pages:
        print(f"No chapter pages under {HTML / CHAPTERS}: build the book first.", file=sys.stderr)
        return 1
    missing = [str(p) for p in pages if not p.is_file()]
    if missing:
        print(f"No such page: {', '.join(missing)}", file=sys.stderr)
        return 1
    failed = 0
    for path in pages:
        problems = check_page(path)
        name = path.relative_to(HTML).as_posix() if path.is_relative_to(HTML) else str(path)
        print(
            f"{'ok  ' if not problems else 'FAIL'} {name}"
            + (f": {len(problems)}" if problems else "")
        )
        for problem in problems:
            print(f"       {problem}")
        failed += bool(problems)
    print(f"Editor check: {len(pages) - failed} of {len(pages)} pages pass.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
