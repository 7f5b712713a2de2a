"""scripts/check_controls.py on tiny pages: a dead control fails, a live one passes."""

from __future__ import annotations

import math

import ipywidgets
import numpy as np
import pytest
from book_scripts import load_script
from widget_pages import write_widget_page

from bertedu.viz.explorer_data import ExplorerExample
from bertedu.viz.softmax_scale import SoftmaxScale
from bertedu.viz.widget import AttentionExplorer

check_controls = load_script("check_controls")

LIVE = """
<div class="cell">
  <label>size <select id="s"><option>1</option><option>2</option></select></label>
  <label>bold <input type="checkbox" id="c"></label>
  <p id="out">size 1</p>
</div>
<script>
  const out = document.getElementById("out");
  document.getElementById("s").onchange = (e) => { out.textContent = "size " + e.target.value; };
  document.getElementById("c").onchange = (e) => {
    out.textContent = out.textContent + (e.target.checked ? " (bold)" : "");
  };
</script>
"""
# The slider's own readout changes, nothing else in its cell does: a dead control.
DEAD = """
<div class="cell">
  <label>divide by
    <input type="range" min="0" max="8" value="4" id="r"><output id="v">4</output>
  </label>
  <img alt="a picture drawn once" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
</div>
<script>
  const readout = document.getElementById("v");
  document.getElementById("r").oninput = (e) => { readout.textContent = e.target.value; };
</script>
"""


def write(tmp_path, body: str, name: str):
    path = tmp_path / name
    path.write_text(f'<!doctype html><meta charset="utf-8"><body>{body}</body>', "utf-8")
    return path


def problems(browser, path):
    page = browser.new_page()
    try:
        return check_controls.page_problems(page, path)
    finally:
        page.close()


def test_controls_that_change_their_cell_pass(browser, tmp_path):
    assert problems(browser, write(tmp_path, LIVE, "live.html")) == []


def test_a_control_that_changes_only_its_own_readout_is_dead(browser, tmp_path):
    found = problems(browser, write(tmp_path, DEAD, "dead.html"))
    assert len(found) == 1 and found[0].startswith("dead control: moving")
    assert "(input range)" in found[0]


def test_a_page_without_controls_passes(browser, tmp_path):
    assert problems(browser, write(tmp_path, "<p>Only prose.</p>", "prose.html")) == []


def test_stored_ipywidgets_without_a_kernel_are_dead(browser, tmp_path):
    slider = ipywidgets.IntSlider(description="layer", max=3)
    picture = ipywidgets.HTML("<b>drawn by the kernel</b>")
    page = write_widget_page(tmp_path, [ipywidgets.VBox([slider, picture])])
    found = problems(browser, page)
    assert len(found) == 1 and "dead control" in found[0]


def test_the_books_widgets_redraw_without_a_kernel(browser, tmp_path):
    rng = np.random.default_rng(0)
    tokens = ["[CLS]", "a", "b", "c", "[SEP]"]
    weights = rng.random((2, 3, 5, 5))
    weights /= weights.sum(-1, keepdims=True)
    item = ExplorerExample("x", tokens, tokens, weights)
    explorer = AttentionExplorer({"m": [item, item], "n": [item]})
    slider = SoftmaxScale(list(rng.normal(size=16) * 20), divide_by=math.sqrt(512))
    page = write_widget_page(tmp_path, [explorer, slider])
    assert problems(browser, page) == []


def test_usage_errors_exit_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        check_controls.main(["--html", str(tmp_path)])
    assert exit_.value.code == 2
    assert "no built book" in capsys.readouterr().err
    (tmp_path / "index.html").write_text("<p>book</p>")
    with pytest.raises(SystemExit) as exit_:
        check_controls.main(["--html", str(tmp_path), "nowhere.html"])
    assert exit_.value.code == 2
    assert "no such page" in capsys.readouterr().err
