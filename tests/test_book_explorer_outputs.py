"""The attention explorers stored in the committed notebooks are complete and current.

An explorer's output inlines bertedu/viz/assets/explorer.js and explorer.css when the
notebook is executed; the static book shows that stored copy. These checks fail when
the assets changed after the last execution (re-execute the notebook), or when a
stored explorer lacks a layer or head of an example.
"""

from __future__ import annotations

import base64
import json
import re
from importlib import resources
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)
MOUNT = "window.berteduExplorer.mount("
ASSETS = resources.files("bertedu.viz") / "assets"


def stored_explorers() -> list[tuple[str, str]]:
    """(notebook name, HTML) of every explorer output in the committed notebooks."""
    found = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                page = output.get("data", {}).get("text/html", "")
                if MOUNT in page:
                    found.append((path.stem, page))
    return found


EXPLORERS = stored_explorers()


def payload(page: str) -> dict:
    data = re.search(r'<script type="application/json" id="[^"]+-data">(.*?)</script>', page, re.S)
    return json.loads(data.group(1).replace("<\\/", "</"))


def test_chapter_8_stores_an_explorer_of_both_models():
    chapter = [page for name, page in EXPLORERS if name.startswith("08_")]
    assert len(chapter) == 1
    models = payload(chapter[0])["models"]
    assert [(m["layers"], m["heads"]) for m in models] == [(6, 12), (2, 2)]
    assert all(len(m["examples"]) >= 4 for m in models)


@pytest.mark.parametrize("name, page", EXPLORERS, ids=[name for name, _ in EXPLORERS])
def test_a_stored_explorer_inlines_the_current_script_and_stylesheet(name, page):
    script = (ASSETS / "explorer.js").read_text(encoding="utf-8")
    style = (ASSETS / "explorer.css").read_text(encoding="utf-8")
    assert script in page and style in page, (
        f"notebooks/{name}.ipynb stores an older explorer: re-execute it "
        "(scripts/execute_notebooks.py) so the book shows the current one"
    )


@pytest.mark.parametrize("name, page", EXPLORERS, ids=[name for name, _ in EXPLORERS])
def test_a_stored_explorer_holds_every_layer_and_head_of_every_example(name, page):
    for model in payload(page)["models"]:
        maps = model["layers"] * model["heads"]
        for example in model["examples"]:
            queries = len(example["queries"])
            keys = len(example.get("keys", example["queries"]))
            assert len(base64.b64decode(example["weights"])) == maps * queries * keys
            assert len(example["scales"]) == maps
