"""bertedu.glued reads back what myst_nb.glue stored, numbers as numbers."""

from __future__ import annotations

import json

from bertedu.glued import glued_values


def glue_output(name: str, text: str, prefix: str = "application/papermill.record/") -> dict:
    """One stored output as myst_nb.glue(name, value, display=False) writes it."""
    return {
        "output_type": "display_data",
        "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
        "data": {prefix + "text/plain": text},
    }


def test_glued_values_reads_numbers_numpy_scalars_and_text(tmp_path):
    cells = [
        {"cell_type": "code", "outputs": [glue_output("f1", "74.76"), {"output_type": "stream"}]},
        {"cell_type": "markdown"},
        {
            "cell_type": "code",
            "outputs": [
                glue_output("share", "np.float64(0.25)"),
                glue_output("token", "','"),
                glue_output("steps", ["11", "00"]),
            ],
        },
    ]
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert glued_values(path) == {"f1": 74.76, "share": 0.25, "token": ",", "steps": 1100.0}


def test_a_notebook_not_executed_yet_has_glued_nothing(tmp_path):
    assert glued_values(tmp_path / "missing.ipynb") == {}
