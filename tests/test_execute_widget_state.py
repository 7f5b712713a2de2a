"""scripts/execute_notebooks.py keeps no widget state that the last run did not make."""

import nbformat
from test_book_scripts import load_script, write_notebook


def test_a_rerun_without_widgets_drops_the_old_widget_state(tmp_path):
    execute_notebooks = load_script("execute_notebooks")
    path = write_notebook(tmp_path / "01_demo.ipynb", "import ipywidgets\nipywidgets.IntSlider()")
    execute_notebooks.execute(path, "smoke", timeout=120)
    assert "widgets" in nbformat.read(path, as_version=4).metadata
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = "print('no widgets any more')"
    nbformat.write(notebook, path)
    execute_notebooks.execute(path, "smoke", timeout=120)
    rerun = nbformat.read(path, as_version=4)
    assert rerun.cells[0].outputs[0]["text"].strip() == "no widgets any more"
    assert "widgets" not in rerun.metadata
