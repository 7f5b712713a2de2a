"""Chapters 6 and 7 as stored: every glued value the prose quotes was stored by a cell, each
exercise has one hidden solution right under it (its toggle numbered), and the pages keep what
a reader without a kernel needs: the ask-your-reader widgets' state and chapter 6's answer
browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bertedu.glued import glued_values

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
QA_CHAPTERS = ("06_extractive_qa.ipynb", "07_generative_qa.ipynb")
#: ``{glue:text}`name``` or ``{glue:text}`name:.1f``` in the prose: the name.
GLUE_REFERENCE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")
EXERCISE = re.compile(r"^\*\*(\d+)\.\*\*", re.MULTILINE)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def notebook(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def glue_references(cells: list[dict]) -> set[str]:
    """The glued names the markdown cells quote."""
    return {
        name
        for cell in cells
        if cell["cell_type"] == "markdown"
        for name in GLUE_REFERENCE.findall(source(cell))
    }


def exercise_problems(cells: list[dict]) -> list[str]:
    """What is wrong with the Exercises section: a code cell there that is not a hidden
    solution of the exercise just above it, an exercise without one, a toggle not numbered."""
    start = next((i for i, c in enumerate(cells) if source(c).startswith("## Exercises")), None)
    if start is None:
        return ["no '## Exercises' section"]
    problems, exercise, solved = [], None, set()
    for cell in cells[start:]:
        if cell["cell_type"] == "markdown":
            found = EXERCISE.findall(source(cell))
            if len(found) > 1:
                problems.append(f"exercises {found} share one markdown cell")
            exercise = int(found[0]) if found else exercise
            continue
        meta = cell.get("metadata", {})
        prompts = meta.get("mystnb", {})
        if exercise is None or exercise in solved:
            problems.append(f"a code cell not directly under an exercise (after {exercise})")
        elif "hide-cell" not in meta.get("tags", []):
            problems.append(f"the solution of exercise {exercise} is not hidden (hide-cell)")
        elif prompts.get("code_prompt_show") != f"Solution to exercise {exercise}" or (
            prompts.get("code_prompt_hide") != f"Hide solution {exercise}"
        ):
            problems.append(f"the toggle of exercise {exercise} is not numbered: {prompts}")
        solved.add(exercise)
    asked = {int(n) for c in cells[start:] for n in EXERCISE.findall(source(c))}
    problems += [f"exercise {n} has no solution cell" for n in sorted(asked - solved)]
    return problems


def solution(n: int) -> dict:
    prompts = {
        "code_prompt_show": f"Solution to exercise {n}",
        "code_prompt_hide": f"Hide solution {n}",
    }
    return {"cell_type": "code", "metadata": {"tags": ["hide-cell"], "mystnb": prompts}}


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "source": text}


@pytest.mark.parametrize("chapter", QA_CHAPTERS)
def test_every_glued_value_the_prose_quotes_was_stored(chapter):
    quoted = glue_references(notebook(chapter)["cells"])
    assert quoted, "the prose quotes no glued value: the pattern no longer finds them"
    missing = quoted - set(glued_values(NOTEBOOKS / chapter))
    assert not missing, f"{chapter} quotes values no cell glued: {sorted(missing)}"


def test_glue_references_are_found_with_and_without_a_format():
    cells = [
        markdown("F1 {glue:text}`minilm_f1:.1f` on {glue:text}`n_dev` questions"),
        {"cell_type": "code", "source": "glue('x', 1)"},
    ]
    assert glue_references(cells) == {"minilm_f1", "n_dev"}


@pytest.mark.parametrize("chapter", QA_CHAPTERS)
def test_each_exercise_has_one_hidden_numbered_solution_under_it(chapter):
    assert exercise_problems(notebook(chapter)["cells"]) == []


def test_exercise_problems_are_found():
    good = [
        markdown("## Exercises\n\n**1.** Why?"),
        solution(1),
        markdown("**2.** How?"),
        solution(2),
    ]
    assert exercise_problems(good) == []
    shown = [*good[:3], {"cell_type": "code", "metadata": {}}]
    assert exercise_problems(shown) == ["the solution of exercise 2 is not hidden (hide-cell)"]
    assert exercise_problems([*good[:3], solution(1)]) == [
        "the toggle of exercise 2 is not numbered: "
        "{'code_prompt_show': 'Solution to exercise 1', 'code_prompt_hide': 'Hide solution 1'}"
    ]
    combined = [markdown("## Exercises\n\n**1.** Why?\n\n**2.** How?"), solution(1)]
    assert "exercises ['1', '2'] share one markdown cell" in exercise_problems(combined)
    assert exercise_problems([*good, solution(2)]) == [
        "a code cell not directly under an exercise (after 2)"
    ]
    assert exercise_problems(good[:3]) == ["exercise 2 has no solution cell"]


@pytest.mark.parametrize("chapter", QA_CHAPTERS)
def test_the_ask_your_reader_widget_was_saved_with_the_page(chapter):
    nb = notebook(chapter)
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    passages = [
        model["state"]["value"]
        for model in state.values()
        if model.get("model_name") == "TextareaModel"
    ]
    assert passages and all(p.strip() for p in passages), "no prefilled passage box stored"
    answers = [
        model["state"]["value"]
        for model in state.values()
        if model.get("model_name") == "HTMLModel"
    ]
    assert any(answers), "the widget's answer was not stored"


def test_chapter_6_embeds_the_answer_browser():
    outputs = [
        "".join(o.get("data", {}).get("text/html", ""))
        for cell in notebook(QA_CHAPTERS[0])["cells"]
        for o in cell.get("outputs", [])
    ]
    browsers = [html for html in outputs if 'class="bertedu-answer-browser"' in html]
    assert len(browsers) == 1
    assert "<select" in browsers[0] and "bertedu-answer-browser-data" in browsers[0]
