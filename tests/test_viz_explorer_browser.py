"""The attention explorer's JavaScript, in headless Chromium: it draws the stored maps.

Each test stores an explorer widget (bertedu.viz.widget.AttentionExplorer) in a page as
a notebook stores it, opens it offline with the book's widget manager, moves controls as
a reader would and compares what is drawn with the weights computed in Python. Skipped
where Chromium is not installed, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import numpy as np
import pytest
from book_scripts import check_book
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex
from widget_pages import write_widget_page

from bertedu.viz.explorer_data import LINE_THRESHOLD, ExplorerExample
from bertedu.viz.widget import AttentionExplorer

SPECIAL = {"[CLS]", "[SEP]", "[PAD]"}
TOKENS = ["[CLS]", "the", "cat", "sat", ",", "it", "slept", ".", "[SEP]", "then", "[SEP]"]


def peaky_maps(layers, heads, queries, keys, seed) -> np.ndarray:
    """Random attention maps (rows sum to 1) with many weights under the line threshold."""
    logits = np.random.default_rng(seed).normal(scale=3.0, size=(layers, heads, queries, keys))
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def self_example(label, seed, layers=3, heads=4, tokens=TOKENS):
    return ExplorerExample(
        label, list(tokens), list(tokens), peaky_maps(layers, heads, len(tokens), len(tokens), seed)
    )


class OfflinePages:
    """Explorer widgets opened in Chromium from stored state, every request outside aborted.

    ``open(explorer)`` writes the widget's page into ``folder`` (``page_options`` go to
    ``write_widget_page``), opens it and waits for its first drawing; ``close()``
    asserts that no page had a JavaScript error or asked for anything outside, and
    closes them.
    """

    def __init__(self, browser, folder, **page_options) -> None:
        self.browser, self.folder, self.options = browser, folder, page_options
        self.opened: list[dict] = []

    def open(self, explorer):
        name = f"page{len(self.opened)}.html"
        path = write_widget_page(self.folder, [explorer], name=name, **self.options)
        page = self.browser.new_page(viewport={"width": 1280, "height": 900})
        record = {"page": page, "errors": [], "outside": []}
        check_book.route_offline(page, record["outside"])
        page.on("pageerror", lambda error: record["errors"].append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_selector(".bx .bx-figure > *", timeout=30_000)
        self.opened.append(record)
        return page

    def close(self) -> None:
        for record in self.opened:
            assert record["errors"] == [] and record["outside"] == []
            record["page"].close()


@pytest.fixture
def open_page(browser, tmp_path):
    """Open an explorer widget as a page; after the test, no error and no request outside."""
    pages = OfflinePages(browser, tmp_path)
    yield pages.open
    pages.close()


@pytest.fixture
def explorer():
    """Two models of different shapes, two examples each; opens on layer 1, head 2."""
    return AttentionExplorer(
        {
            "four heads": [self_example("first", 1), self_example("second", 2, tokens=TOKENS[:8])],
            "two heads": [self_example("first", 3, 2, 2), self_example("second", 4, 2, 2)],
        },
        layer=1,
        head=2,
        kernel_note="Kernel note.",
    )


def state(page) -> dict:
    import json

    return json.loads(page.locator(".bx").get_attribute("data-state"))


def drawn_lines(page) -> dict[tuple[int, int], float]:
    """The head view's visible lines: (query, key) -> opacity."""
    return {
        (int(q), int(k)): float(opacity)
        for q, k, opacity in page.evaluate(
            """[...document.querySelectorAll('.bx-lines line')]
                 .filter(l => l.style.display !== 'none')
                 .map(l => [l.dataset.q, l.dataset.k, l.getAttribute('stroke-opacity')])"""
        )
    }


def expected_lines(matrix, tokens, hide=False) -> dict[tuple[int, int], float]:
    kept = [i for i, token in enumerate(tokens) if not (hide and token in SPECIAL)]
    return {
        (i, j): float(matrix[i, j]) for i in kept for j in kept if matrix[i, j] >= LINE_THRESHOLD
    }


def assert_same_lines(drawn, expected):
    assert drawn.keys() == expected.keys()
    assert max(abs(drawn[key] - expected[key]) for key in expected) <= 5e-5


def test_head_view_draws_a_line_for_every_stored_weight_above_the_threshold(open_page, explorer):
    page = open_page(explorer)
    stored = explorer.stored("four heads", 0)
    assert_same_lines(drawn_lines(page), expected_lines(stored[1, 2], TOKENS))
    assert (
        page.locator(".bx-caption").inner_text()
        == "four heads \u00b7 head view \u00b7 layer 1, head 2"
    )
    page.locator('[data-control="head"]').press("ArrowRight")
    page.locator('[data-control="layer"]').press("Home")
    assert state(page)["layer"] == 0 and state(page)["head"] == 3
    assert_same_lines(drawn_lines(page), expected_lines(stored[0, 3], TOKENS))
    page.locator('[data-control="hide_special"]').check()
    assert_same_lines(drawn_lines(page), expected_lines(stored[0, 3], TOKENS, hide=True))
    shown = page.locator(".bx-token").all_text_contents()
    assert shown == 2 * [token for token in TOKENS if token not in SPECIAL]


def test_hovering_a_token_isolates_its_lines_and_a_click_pins_them(open_page, explorer):
    page = open_page(explorer)
    matrix = explorer.stored("four heads", 0)[1, 2]
    everything = expected_lines(matrix, TOKENS)
    page.locator('.bx-token[data-side="q"][data-index="2"]').hover()  # query "cat"
    assert_same_lines(drawn_lines(page), {k: v for k, v in everything.items() if k[0] == 2})
    assert page.locator(".bx-readout").inner_text().startswith("cat attends to:")
    page.locator('.bx-token[data-side="k"][data-index="0"]').hover()  # key [CLS]
    assert_same_lines(drawn_lines(page), {k: v for k, v in everything.items() if k[1] == 0})
    page.mouse.move(1200, 10)
    assert_same_lines(drawn_lines(page), everything)
    page.locator('.bx-token[data-side="q"][data-index="5"]').click()
    page.mouse.move(1200, 10)
    assert_same_lines(drawn_lines(page), {k: v for k, v in everything.items() if k[0] == 5})


def test_heatmap_colours_are_matplotlibs_for_the_stored_weights(open_page, explorer):
    page = open_page(explorer)
    page.locator(".bx-view", has_text="heatmap").click()
    matrix = explorer.stored("four heads", 0)[1, 2]
    fills = page.evaluate(
        "[...document.querySelectorAll('.bx-heatmap rect[data-q]')]"
        ".map(r => [Number(r.dataset.q), Number(r.dataset.k), r.getAttribute('fill')])"
    )
    assert len(fills) == len(TOKENS) ** 2
    colour = colormaps["viridis"].resampled(256)
    scale = Normalize(0.0, matrix.max())  # as plot_heatmap: 0 to the head's largest weight
    assert all(fill == to_hex(colour(scale(matrix[q, k]))) for q, k, fill in fills)


def test_model_view_draws_every_head_and_a_click_selects_one(open_page, explorer):
    page = open_page(explorer)
    page.locator(".bx-view", has_text="model view").click()
    thumbs = page.locator("canvas.bx-thumb")
    assert thumbs.count() == 3 * 4
    assert page.locator("canvas.bx-selected").get_attribute("data-layer") == "1"
    stored = explorer.stored("four heads", 0)
    colour, scale = colormaps["viridis"].resampled(256), Normalize(0.0, stored.max())
    pixel = page.evaluate(
        """() => { const c = document.querySelector('canvas[data-layer="2"][data-head="1"]');
                   return [...c.getContext('2d').getImageData(3, 4, 1, 1).data].slice(0, 3); }"""
    )
    expected = colour(scale(stored[2, 1, 4, 3]))[:3]  # row 4 = query 4, column 3 = key 3
    assert pixel == [round(255 * channel) for channel in expected]
    page.locator('canvas[data-layer="2"][data-head="1"]').click()
    assert state(page)["layer"] == 2 and state(page)["head"] == 1
    assert page.locator('[data-control="layer"]').input_value() == "2"
    assert page.locator("canvas.bx-selected").get_attribute("data-head") == "1"


def test_model_and_example_menus_keep_the_controls_in_each_models_range(open_page, explorer):
    page = open_page(explorer)
    page.locator('[data-control="head"]').press("End")
    page.locator('[data-control="layer"]').press("End")
    page.locator('[data-control="example"]').select_option("1")
    assert state(page) == {
        "model": 0,
        "example": 1,
        "layer": 2,
        "head": 3,
        "view": "head",
        "hide_special": False,
    }
    assert page.locator(".bx-token").count() == 2 * 8  # the second example has 8 tokens
    page.locator('[data-control="model"]').select_option("1")
    assert (state(page)["layer"], state(page)["head"]) == (1, 1)
    assert page.locator('[data-control="layer"]').get_attribute("max") == "1"
    assert page.locator('[data-control="head"]').get_attribute("max") == "1"
    assert_same_lines(
        drawn_lines(page), expected_lines(explorer.stored("two heads", 1)[1, 1], TOKENS)
    )


def test_cross_attention_draws_answer_rows_against_source_columns(open_page):
    source = ["[CLS]", "who", "wrote", "it", "?", "[SEP]", "ann", "wrote", "it", ".", "[SEP]"]
    answer = ["ann", "[SEP]"]
    maps = peaky_maps(2, 2, len(answer), len(source), 7)
    explorer = AttentionExplorer(
        {"seq2seq": [ExplorerExample("q", answer, source, maps)]},
        axes=("answer (decoder)", "question + passage (encoder)"),
    )
    page = open_page(explorer)
    stored = explorer.stored("seq2seq", 0)[0, 0]
    expected = {
        (i, j): float(stored[i, j])
        for i in range(len(answer))
        for j in range(len(source))
        if stored[i, j] >= LINE_THRESHOLD
    }
    assert_same_lines(drawn_lines(page), expected)
    assert page.locator('.bx-token[data-side="q"]').all_text_contents() == answer
    assert page.locator('.bx-token[data-side="k"]').all_text_contents() == source
    assert page.locator(".bx-axis").all_text_contents() == explorer.data["axes"]
    page.locator(".bx-view", has_text="heatmap").click()
    assert page.locator(".bx-heatmap rect[data-q]").count() == len(answer) * len(source)
    page.locator('[data-control="hide_special"]').check()
    assert page.locator(".bx-heatmap rect[data-q]").count() == 1 * 8


def test_a_side_left_with_only_special_tokens_says_so(open_page):
    only_end = ExplorerExample(
        "empty answer", ["[SEP]"], ["[CLS]", "a", "[SEP]"], np.ones((1, 1, 1, 3)) / 3
    )
    page = open_page(AttentionExplorer({"m": [only_end]}))
    page.locator('[data-control="hide_special"]').check()
    assert "only special tokens" in page.locator(".bx-figure").inner_text()


# ----- the book check's explorer test, on known good and broken pages -----
def test_the_book_check_moves_every_control_and_accepts_a_working_explorer(open_page, explorer):
    page = open_page(explorer)
    assert check_book.check_explorer(page.locator(check_book.EXPLORER), "explorer") == []


def test_the_book_check_leaves_out_menus_with_a_single_entry(open_page):
    single = AttentionExplorer({"only model": [self_example("only example", 5)]})
    page = open_page(single)
    assert check_book.check_explorer(page.locator(check_book.EXPLORER), "explorer") == []


def test_the_book_check_catches_an_explorer_that_does_not_redraw(open_page, explorer):
    redraw = "this.pinned = null;\n  this.draw();"
    assert redraw in explorer._esm
    explorer._esm = explorer._esm.replace(redraw, "this.pinned = null;\n  this.syncControls();")
    page = open_page(explorer)
    problems = check_book.check_explorer(page.locator(check_book.EXPLORER), "explorer")
    moved = ["layer", "head", "hide special tokens", "view: heatmap", "view: model view"]
    moved += ["view: head view", "example", "model"]
    assert problems == [f"explorer: moving {name} left the picture unchanged" for name in moved]


def test_the_book_check_catches_an_explorer_whose_script_never_ran(browser, tmp_path, explorer):
    explorer._esm = 'export default { render({ el }) { el.innerHTML = "<div class=bx></div>"; } };'
    page = browser.new_page()
    page.goto(write_widget_page(tmp_path, [explorer]).as_uri())
    page.wait_for_selector(".bx", state="attached", timeout=30_000)
    problems = check_book.check_explorer(page.locator(check_book.EXPLORER), "explorer")
    assert problems == ["explorer: the explorer drew no picture (its script did not run)"]
    page.close()
