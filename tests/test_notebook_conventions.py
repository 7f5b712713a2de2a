"""Every chapter follows the book's conventions (checked on the committed files).

A notebook is a chapter of the book: it opens with its title, then exactly one
parameters cell that resolves the run profile; its stored outputs were produced
by scripts/execute_notebooks.py (every code cell executed, in order, no errors),
so the rendered book shows what the code really printed.
"""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)
TOC = (Path(__file__).resolve().parent.parent / "_toc.yml").read_text()


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]


@pytest.fixture(params=NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def chapter(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 4


def test_chapter_is_in_the_table_of_contents(chapter):
    path, _ = chapter
    assert f"notebooks/{path.stem}" in TOC


def test_opens_with_a_title_then_one_parameters_cell(chapter):
    _, notebook = chapter
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert sum(line.startswith("# ") for line in first.source.splitlines()) == 1
    cells = code_cells(notebook)
    assert "PROFILE = resolve_profile()" in cells[0].source
    assert "SEED =" in cells[0].source
    assert not any("resolve_profile()" in cell.source for cell in cells[1:])


def test_stored_outputs_come_from_one_clean_run(chapter):
    _, notebook = chapter
    counts = [cell.execution_count for cell in code_cells(notebook)]
    assert None not in counts, (
        "a code cell has no stored execution: run scripts/execute_notebooks.py"
    )
    assert counts == sorted(counts), "cells were executed out of order"
    errors = [
        output
        for cell in code_cells(notebook)
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []


def test_stored_outputs_are_the_readers_cpu_profile(chapter):
    _, notebook = chapter
    assert notebook.metadata.get("bertedu", {}).get("profile") == "cpu", (
        "store outputs with: python scripts/execute_notebooks.py (cpu profile)"
    )
