"""scripts/check_editor.py: each rule fails on a small bad page and passes its good twin."""

from __future__ import annotations

from pathlib import Path

import pytest
from book_scripts import load_script

check_editor = load_script("check_editor")


def page(body: str) -> str:
    return f'<html><body><article class="bd-article">{body}</article></body></html>'


def cell(output: str = "", code: str = "x = 1", tags: str = "") -> str:
    return (
        f'<div class="cell {tags} docutils container">'
        f'<div class="cell_input docutils container"><pre>{code}</pre></div>'
        f'<div class="cell_output docutils container">{output}</div></div>'
    )


def hidden_cell(label: str, code: str = "assert True") -> str:
    return (
        '<div class="cell tag_hide-cell docutils container"><details class="hide above-input">'
        f'<summary><p class="collapsed admonition-title">{label}</p>'
        '<p class="expanded admonition-title">Hide</p></summary>'
        f'<div class="cell_input docutils container"><pre>{code}</pre></div></details></div>'
    )


def dropdown(title: str) -> str:
    return (
        f'<div class="dropdown admonition"><p class="admonition-title">{title}</p>'
        "<p>Because.</p></div>"
    )


def exercises(body: str) -> str:
    return (
        f'<section id="exercises"><h2>9.1. Exercises<a href="#exercises">#</a></h2>{body}</section>'
    )


def exercise(number: int) -> str:
    return f"<p><strong>{number}.</strong> Compute something.</p>"


def problems(tmp_path: Path, body: str, rule: str) -> list[str]:
    path = tmp_path / "chapter.html"
    path.write_text(page(body), encoding="utf-8")
    return [p.what for p in check_editor.check_page(path) if p.rule == rule]


def table(*cells: str) -> str:
    return "<table><tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr></table>"


GOOD_AND_BAD = {
    "markdown-table-as-text": (
        cell("<p>| step | count |</p><table><tr><td>1</td></tr></table>"),
        cell("<p>| step | count | |—|—:| | 1 | 2 |</p>"),
    ),
    "missing-in-table": (cell(table("–", "1.5")), cell(table("NaN", "1.5"))),
    "long-decimals": (cell(table("0.6346", "1,234")), cell(table("0.634567", "1"))),
    "wrapped-source": (
        cell("<pre>def f(x):\n    return x  # fine</pre>"),
        cell("<pre>def f(x, y,\n    ↪ z):</pre>"),
    ),
    "process-words": (
        "<p>The lead sections of Wikipedia articles; a commit to memory of 3 facts.</p>",
        "<p>The smoke test of the working tree at commit a6ae144 passed.</p>",
    ),
    "exercises": (
        exercises(
            exercise(1)
            + dropdown("Solution to exercise 1")
            + exercise(2)
            + hidden_cell("Solution to exercise 2")
        ),
        exercises(exercise(1) + exercise(2) + hidden_cell("Show code cell content")),
    ),
    "figure-alt": (
        cell('<img alt="Histogram of tokens per document" src="../_images/ab12.png" />')
        + '<img alt="one encoder block" class="bertedu-diagram" src="../_images/block.svg" />',
        cell('<img alt="../_images/ab12.png" src="../_images/ab12.png" />'),
    ),
}


@pytest.mark.parametrize("rule", sorted(GOOD_AND_BAD))
def test_each_rule_passes_a_good_page_and_fails_a_bad_one(tmp_path, rule):
    good, bad = GOOD_AND_BAD[rule]
    assert problems(tmp_path, good, rule) == []
    assert problems(tmp_path, bad, rule), f"{rule} missed its bad page"


def test_every_rule_has_a_bad_page():
    names = {
        "markdown_tables_as_text": "markdown-table-as-text",
        "missing_in_tables": "missing-in-table",
        "long_decimals": "long-decimals",
        "wrapped_source": "wrapped-source",
        "process_words": "process-words",
        "exercises": "exercises",
        "figure_alt": "figure-alt",
    }
    assert {names[rule.__name__] for rule in check_editor.RULES} == set(GOOD_AND_BAD)


def test_each_process_slip_is_caught(tmp_path):
    for text in (
        "This chapter was re-executed on a quiet machine.",
        "Run under nbclient.",
        "the 7a3b82b commit",
        "We ran this in this session.",
    ):
        assert problems(tmp_path, f"<p>{text}</p>", "process-words"), text


def test_code_in_a_cell_input_is_not_read_as_prose(tmp_path):
    body = cell(code="# a smoke test of the working tree\nrows = '| a |---| b |'")
    assert check_editor.check_page(_write(tmp_path, body)) == []


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "chapter.html"
    path.write_text(page(body), encoding="utf-8")
    return path


def test_exercise_rules_in_detail(tmp_path):
    shown = exercises(exercise(1) + cell(code="assert 1"))
    assert "a cell under Exercises shows itself" in problems(tmp_path, shown, "exercises")
    misplaced = exercises(exercise(1) + exercise(2) + hidden_cell("Solution to exercise 1"))
    found = problems(tmp_path, misplaced, "exercises")
    assert any("labelled 'Solution to exercise 1'" in f for f in found)
    assert "exercise 1 has no solution" in found
    before = exercises(hidden_cell("Solution to exercise 1") + exercise(1))
    assert "a solution before the first exercise" in problems(tmp_path, before, "exercises")


def test_the_command_reports_each_page_and_fails(tmp_path, monkeypatch, capsys):
    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    (chapters / "01_good.html").write_text(page("<p>Fine.</p>"), encoding="utf-8")
    (chapters / "02_bad.html").write_text(page(cell(table("nan"))), encoding="utf-8")
    monkeypatch.setattr(check_editor, "HTML", tmp_path)
    assert check_editor.main([]) == 1
    out = capsys.readouterr().out
    assert "ok   notebooks/01_good.html" in out
    assert "FAIL notebooks/02_bad.html: 1" in out and "[missing-in-table] cell 1" in out
    assert check_editor.main(["notebooks/01_good.html"]) == 0


@pytest.mark.parametrize(
    "image",
    [
        '<img src="../_images/ab12.png" />',
        '<img alt="" src="../_images/ab12.png" />',
        '<img alt="  " src="../_images/ab12.png" />',
        '<img alt="encoder_block.SVG" src="../_images/encoder_block.svg" />',
        '<img alt="_images/ab12" src="../_images/ab12" />',
    ],
)
def test_an_image_without_words_for_alt_text_fails(tmp_path, image):
    found = problems(tmp_path, cell(image), "figure-alt")
    assert len(found) == 1 and "say what the figure shows" in found[0]
