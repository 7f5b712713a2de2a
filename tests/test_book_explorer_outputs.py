"""The widgets stored in the committed notebooks are complete, current and draw in the browser.

A notebook executed by scripts/execute_notebooks.py stores its widgets' state, and the
static book draws them from it with no kernel. These checks fail when the stored front
end (an anywidget's ``_esm`` and ``_css``) is older than bertedu/viz/assets (re-execute
the notebook), when a stored explorer lacks a layer or head of an example, or when a
notebook stores a widget whose picture only a kernel can draw (a control that would be
dead in the book).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nbformat
import pytest

from bertedu.viz.softmax_scale import SoftmaxScale
from bertedu.viz.widget import AttentionExplorer

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)
#: Widget models that draw nothing and move nothing: boxes, layouts and styles.
INERT = ("LayoutModel", "VBoxModel", "HBoxModel", "BoxModel")


#: Tags that keep a cell's outputs off the book's page.
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}
VIEW = "application/vnd.jupyter.widget-view+json"


def shown_model_ids(notebook, state: dict) -> set[str]:
    """Ids of the widget models the book's pages draw: those a shown cell's output views,
    and every model they refer to (a box's children, a widget's layout)."""
    shown = [
        output["data"][VIEW]["model_id"]
        for cell in notebook.cells
        if cell.cell_type == "code" and not HIDDEN_OUTPUT_TAGS & set(cell.metadata.get("tags", []))
        for output in cell.get("outputs", [])
        if VIEW in output.get("data", {})
    ]
    seen: set[str] = set()
    while shown:
        model_id = shown.pop()
        if model_id in seen or model_id not in state:
            continue
        seen.add(model_id)
        shown += [ref[len("IPY_MODEL_") :] for ref in _references(state[model_id]["state"])]
    return seen


def _references(value) -> list[str]:
    """Every ``IPY_MODEL_<id>`` string inside a model's state."""
    if isinstance(value, str):
        return [value] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def stored_widgets() -> list[tuple[str, dict]]:
    """(notebook name, model) for every widget model a page of the book draws from the
    state stored in the committed notebooks (a cell whose output the book leaves out, a
    kernel-only widget among them, draws nothing there)."""
    found = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        stored = notebook.metadata.get("widgets", {})
        state = stored.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
        shown = shown_model_ids(notebook, state)
        found += [(path.stem, model) for model_id, model in state.items() if model_id in shown]
    return found


WIDGETS = stored_widgets()
ANYWIDGETS = [
    (name, model["state"]) for name, model in WIDGETS if model["model_name"] == "AnyModel"
]


def explorers() -> list[tuple[str, dict]]:
    return [
        (name, state)
        for name, state in ANYWIDGETS
        if state["_anywidget_id"].endswith("AttentionExplorer")
    ]


def test_chapter_8_stores_an_explorer_of_both_models():
    chapter = [state for name, state in explorers() if name.startswith("08_")]
    assert len(chapter) == 1
    models = json.loads(chapter[0]["data"]["models"])
    assert [(m["layers"], m["heads"]) for m in models] == [(6, 12), (2, 2)]
    assert all(len(m["examples"]) >= 5 for m in models)  # four stored, one added from Python


def test_chapter_2_stores_its_softmax_slider():
    sliders = [s for name, s in ANYWIDGETS if s["_anywidget_id"].endswith("SoftmaxScale")]
    assert [len(s["scores"]) for s in sliders] == [16]


@pytest.mark.parametrize("name, state", ANYWIDGETS, ids=[name for name, _ in ANYWIDGETS])
def test_a_stored_widget_has_the_current_front_end(name, state):
    current = {"AttentionExplorer": AttentionExplorer, "SoftmaxScale": SoftmaxScale}
    kind = current[state["_anywidget_id"].rsplit(".", 1)[1]]
    assert state["_esm"] == kind._esm and state["_css"] == kind._css, (
        f"notebooks/{name}.ipynb stores an older front end: re-execute it "
        "(scripts/execute_notebooks.py) so the book draws with the current one"
    )


@pytest.mark.parametrize("name, state", explorers(), ids=[name for name, _ in explorers()])
def test_a_stored_explorer_holds_every_layer_and_head_of_every_example(name, state):
    for model in json.loads(state["data"]["models"]):
        maps = model["layers"] * model["heads"]
        for example in model["examples"]:
            queries = len(example["queries"])
            keys = len(example.get("keys", example["queries"]))
            assert len(base64.b64decode(example["weights"])) == maps * queries * keys
            assert len(example["scales"]) == maps


def test_no_notebook_stores_a_widget_that_needs_a_kernel_to_draw():
    kernel_drawn = sorted(
        {
            f"{name}: {model['model_name']}"
            for name, model in WIDGETS
            if model["model_name"] != "AnyModel"
            and not model["model_name"].endswith("StyleModel")
            and model["model_name"] not in INERT
        }
    )
    assert kernel_drawn == [], (
        "these stored widgets are drawn or moved by the kernel, so in the book they are "
        "dead: draw them in the browser (an anywidget) or show a figure"
    )
