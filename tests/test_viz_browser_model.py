"""The shipped BERT-Tiny in the page (onnxruntime-web) against PyTorch, and bad input.

A page laid out like the built book (``notebooks/page.html`` with ``data-content_root``,
the runtime in ``_static/vendor/ort/``, the model made by ``bertedu.viz.browser_model``
in ``_static/bert-tiny/``) is opened from ``file://`` in headless Chromium with every
request outside the folder aborted. Five fixed sentence pairs run there and in PyTorch:
the WordPieces must be identical, every attention weight within 1e-4, every MLM and NSP
logit within 1e-3, the top 5 of each ``[MASK]`` identical. Then the reader's bad inputs:
empty, special tokens only, 10,000 characters, emoji and CJK, markup, typed or stored.

Needs the vendored runtime (``bash scripts/fetch_web_assets.sh``, npm) and Chromium:
skipped without them, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from book_scripts import check_book, load_script
from test_viz_explorer_browser import OfflinePages
from widget_pages import link_manager, write_widget_page

from bertedu.viz.browser_model import MAX_POSITIONS, write_browser_assets
from bertedu.viz.explorer import BERT_TINY, load_bert_tiny
from bertedu.viz.explorer_data import ExplorerExample
from bertedu.viz.widget import AttentionExplorer

REPO = Path(__file__).resolve().parent.parent
ORT = REPO / "book" / "static" / "vendor" / "ort"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PAIRS = [
    ("the capital of france is [MASK].", ""),
    ("The cat sat on the [MASK] because the cat was tired.", "Then the cat fell asleep."),
    ("Café naïve RÉSUMÉ: Ça marche?! (yes)", "東京 is big; Ελληνικά too 👍🏽 \u00a0ok"),
    ("She [MASK] to the market and bought some [MASK].", "It was [MASK] on Sunday."),
    ("history " * 90 + "of the [MASK] empire", "and then " * 40 + "it fell."),
]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A folder laid out like the built book, with the runtime and the model; its root."""
    if not (ORT / "ort-wasm.js").is_file():
        message = "onnxruntime-web is not vendored: run bash scripts/fetch_web_assets.sh (npm)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("book")
    shutil.copytree(ORT, root / "_static" / "vendor" / "ort")
    write_browser_assets(root / "_static" / "bert-tiny")
    link_manager(root / "_static")
    (root / "notebooks").mkdir()
    return root


@pytest.fixture(scope="module")
def tiny():
    return load_bert_tiny()  # (encoder, tokenizer); the full model is loaded below


@pytest.fixture(scope="module")
def pretraining_model():
    from bertedu.checkpoints import load_pretrained_tiny

    return load_pretrained_tiny()


def explorer_widget(examples=None) -> AttentionExplorer:
    """An explorer of BERT-Tiny with the in-page text box (stored maps: a made-up example)."""
    tokens = ["[CLS]", "hello", "world", "[SEP]"]
    weights = np.full((2, 2, 4, 4), 0.25)
    stored = examples or [ExplorerExample("hello world", tokens, tokens, weights)]
    return AttentionExplorer({BERT_TINY: stored}, browser_model=BERT_TINY)


@pytest.fixture
def open_book_page(browser, book):
    """Open an explorer as a chapter page of ``book``; after the test: no error, no request out."""
    pages = OfflinePages(
        browser, book / "notebooks", root="../", html_attrs='data-content_root="../"'
    )
    yield pages.open
    pages.close()


RUN_IN_PAGE = """async ([a, b, n]) => {
  const files = document.querySelector('.bx').explorer.data.browser.files;
  const r = await window.berteduBrowserModel.run(files, a, b, n);
  const b64 = (array) => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  return {tokens: r.tokens, ids: r.ids, types: r.token_type_ids, note: r.note,
    layers: r.layers, heads: r.heads, attentions: b64(r.attentions), mlm: b64(r.mlm_logits),
    nsp: r.nsp_logits, masks: r.masks.map(m => ({position: m.position,
      top: m.top.map(t => t.token)})), load_seconds: r.load_seconds};
}"""


def floats(text: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).reshape(shape)


def torch_run(model, tokenizer, text_a: str, text_b: str):
    """PyTorch's tokens, attention maps, MLM and NSP logits, and top 5 of each [MASK]."""
    encoded = tokenizer(
        text_a,
        text_b or None,
        truncation="longest_first",
        max_length=MAX_POSITIONS,
        return_tensors="pt",
    )
    with torch.no_grad():
        out = model(encoded["input_ids"], encoded["token_type_ids"], output_attentions=True)
    ids = encoded["input_ids"][0]
    masks = (ids == tokenizer.mask_token_id).nonzero().flatten().tolist()
    top = [
        tokenizer.convert_ids_to_tokens(out.mlm_logits[0, p].topk(5).indices.tolist())
        for p in masks
    ]
    return {
        "tokens": tokenizer.convert_ids_to_tokens(ids.tolist()),
        "types": encoded["token_type_ids"][0].tolist(),
        "attentions": torch.stack(out.attentions, 1)[0].numpy(),
        "mlm": out.mlm_logits[0].numpy(),
        "nsp": out.nsp_logits[0].numpy(),
        "masks": list(zip(masks, top, strict=True)),
    }


def test_five_pairs_match_pytorch(open_book_page, pretraining_model, tokenizer):
    page = open_book_page(explorer_widget())
    worst = {"attention": 0.0, "logit": 0.0}
    for text_a, text_b in PAIRS:
        mine = page.evaluate(RUN_IN_PAGE, [text_a, text_b, MAX_POSITIONS])
        ref = torch_run(pretraining_model, tokenizer, text_a, text_b)
        assert mine["tokens"] == ref["tokens"], text_a
        assert mine["types"] == ref["types"]
        n = len(ref["tokens"])
        attention = floats(mine["attentions"], (mine["layers"], mine["heads"], n, n))
        logits = floats(mine["mlm"], ref["mlm"].shape)
        worst["attention"] = max(worst["attention"], np.abs(attention - ref["attentions"]).max())
        worst["logit"] = max(
            worst["logit"],
            np.abs(logits - ref["mlm"]).max(),
            np.abs(np.array(mine["nsp"]) - ref["nsp"]).max(),
        )
        assert [(m["position"], m["top"]) for m in mine["masks"]] == ref["masks"], text_a
    print(f"largest differences over {len(PAIRS)} pairs: {worst}")
    assert worst["attention"] <= 1e-4 and worst["logit"] <= 1e-3, worst
    assert n == MAX_POSITIONS  # the last pair was truncated to the model's positions


TOKENIZER_CASES = [
    "Hello, World!",
    "a\x0bb a\x0cb a\x85b a\u00a0b a\u200bb a\ufeffb a\u2028b a\x1cb a\tb\r\nc",
    "ΟΔΟΣ Σ İstanbul café naïve e\u0301 Ångström straße ǅ",
    "foo[MASK]bar [mask] [CLS][SEP] [UNK] [PAD]x",
    "👍🏽 👨\u200d👩\u200d👧 是首很 東京タワー 한국어 \U0002b820x\U0002b81f",
    "$5+3=8 ^_^ `x` |y| ~z «quoted» “curly” — dash … ¿qué? ¡sí!",
    "x" * 101 + " " + "y" * 100,
    "a\u0378b a\ue000b a\U000f0000b a\u0600b a\u00adb a\u2060b a\ufff9b a\U000e0001b",
    "\U0001f1e6\U0001f1f7 flags",
    "unaffable unbelievably tokenization antidisestablishmentarianism 1234567",
    "",
    "   \n\t ",
    "<!--<script> </script> <img src=x onerror=alert(1)> &amp;",
    # the edges of every CJK block (each character inside one is a word of its own)
    " ".join(
        chr(cp) + "x"
        for edge in (0x2B81F, 0x2B820, 0x2B91F, 0x2B920, 0x2CEAF, 0x2CEB0, 0x2A6DF, 0x2A6E0)
        for cp in (edge,)
    )
    + "".join(chr(cp) + "y" for cp in (0x3400, 0x4DBF, 0x4E00, 0x9FFF, 0xF900, 0xFAFF, 0x2FA20)),
]


def test_tokenizer_matches_the_books(open_book_page, tokenizer):
    """The page's WordPieces equal bertedu's tokenizer's on edge cases and real sentences."""
    from bertedu.data.corpus import load_embedded_wikipedia
    from bertedu.tokenization import minilm_path

    texts = TOKENIZER_CASES + [
        sentence for doc in load_embedded_wikipedia(limit=60) for sentence in doc.sentences[:5]
    ]
    page = open_book_page(explorer_widget())
    vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8")
    mine = page.evaluate(
        "([vocab, texts]) => { const t = new window.berteduBrowserModel.Tokenizer(vocab);"
        " return texts.map(x => t.tokenize(x)); }",
        [vocab, texts],
    )
    for text, pieces in zip(texts, mine, strict=True):
        assert pieces == tokenizer.tokenize(text), text
    assert len(texts) > 200


def press(page, text_a: str, text_b: str = "") -> str:
    """Type into the explorer's boxes, press its button, wait for the run; the status text."""
    page.fill('[data-control="text_a"]', text_a)
    page.fill('[data-control="text_b"]', text_b)
    status = page.locator('[data-role="status"]')
    page.locator('[data-role="status"]').evaluate("node => node.removeAttribute('data-state')")
    page.click('[data-control="run"]')
    page.wait_for_selector("[data-role=status][data-state]", timeout=60000)
    return status.inner_text()


def drawn(page) -> dict:
    """The explorer's state and whether it draws a picture."""
    return {
        "state": json.loads(page.locator(".bx").get_attribute("data-state")),
        "pictures": page.locator(".bx-figure svg, .bx-figure canvas").count(),
        "note": page.locator(".bx-note").inner_text(),
    }


def test_typed_mask_sentence_gives_fill_masks_top5(open_book_page, pretraining_model, tokenizer):
    """Done-when of the issue: the page's top 5 for the typed sentence is bertedu's fill_mask."""
    from bertedu.pretraining import fill_mask

    page = open_book_page(explorer_widget())
    status = press(page, "the capital of france is [MASK].")
    assert status.startswith("Added as example 2"), status
    top5 = fill_mask(pretraining_model, tokenizer, "the capital of france is [MASK].")[0]
    expected = [prediction.token for prediction in top5]
    shown = page.locator(".bx-fill").first.inner_text()
    assert [part.rsplit(" ", 1)[0] for part in shown.split(": ", 1)[1].split(", ")] == expected
    after = drawn(page)
    assert after["state"]["example"] == 1 and after["pictures"] == 1
    menu = page.locator('[data-control="example"] option')
    assert menu.count() == 2 and menu.nth(1).inner_text() == "the capital of france is [MASK]."
    # every layer and head of the typed pair is drawable
    for view in ("heatmap", "model view", "head view"):
        page.locator(".bx-view", has_text=view).click()
        assert drawn(page)["pictures"] >= 1
    # an empty input says why nothing was added and leaves no stale top 5 behind
    assert press(page, "").startswith("Nothing added: Sentence A is empty")
    assert page.locator(".bx-fill").count() == 0


def test_bad_input_never_breaks_the_explorer(open_book_page):
    page = open_book_page(explorer_widget())
    page.evaluate("() => { window.injected = 0; }")
    assert press(page, "").startswith("Nothing added: Sentence A is empty")
    assert press(page, " \u200b\x07 ").startswith("Nothing added: Sentence A has no WordPieces")
    assert drawn(page)["pictures"] == 1  # the stored example is still drawn

    assert press(page, "[CLS] [SEP]", "[PAD]").startswith("Added as example 2")
    assert drawn(page)["state"]["example"] == 1
    page.locator('[data-control="hide_special"]').check()
    assert "Nothing to draw" in page.locator(".bx-figure").inner_text()
    page.locator('[data-control="hide_special"]').uncheck()

    long_text = ("lorem ipsum dolor sit amet " * 400)[:10000]
    assert press(page, long_text).startswith("Added as example 3")
    note = drawn(page)["note"]
    assert note.startswith("Input truncated:") and "first 128" in note
    assert page.locator(".bx-head-view .bx-token").count() == 2 * 128

    added = press(page, "👍🏽 emoji and 東京 and 한국어", "Ελληνικά!")
    assert added.startswith("Added as example 4")
    markup = '<!--<script> </script><img src=x onerror="window.injected=1"> [MASK]'
    assert press(page, markup, "<b>bold</b>").startswith("Added as example 5")
    assert page.evaluate("() => window.injected") == 0
    assert page.locator(".bx img, .bx b:not(.bx-fill b), .bx script").count() == 0
    assert "<!--<script>" in page.locator('[data-control="example"]').inner_text()
    assert drawn(page)["pictures"] == 1 and drawn(page)["state"]["example"] == 4


def test_stored_markup_examples_mount(open_book_page):
    """An example text such as ``<!--<script>`` once stopped the explorer mounting."""
    tokens = ["[CLS]", "<", "!", "-", "-", "<", "script", ">", "[SEP]"]
    weights = np.full((2, 2, 9, 9), 1 / 9)
    labels = ["<!--<script>", "</script><script>window.injected=1</script>", "a & b <!--"]
    examples = [ExplorerExample(label, tokens, tokens, weights) for label in labels]
    page = open_book_page(explorer_widget(examples))
    assert drawn(page)["pictures"] == 1
    assert page.locator('[data-control="example"] option').all_inner_texts() == labels
    assert page.evaluate("() => window.injected === undefined")


def test_outside_the_built_book_the_box_runs_in_the_kernel_or_is_not_there(browser, tmp_path):
    """In Jupyter (no _static/ next to the page) the box asks the kernel, or is left out."""
    stored_only = explorer_widget()
    kernel = explorer_widget()
    kernel._add_example = lambda a, b: {}
    kernel._refresh_data()
    page = browser.new_page()
    page.goto(write_widget_page(tmp_path, [stored_only, kernel]).as_uri())
    page.wait_for_selector(".bx svg")
    page.wait_for_function("document.querySelectorAll('.bx svg').length === 2")
    assert page.locator('[data-control="run"]').count() == 1  # no box that cannot run
    assert page.locator('[data-control="run"]').inner_text() == "Run in the kernel"
    assert "in the kernel" in page.locator(".bx-run-title").inner_text()
    page.close()


def two_examples() -> list[ExplorerExample]:
    """Two stored examples whose every layer and head differ (so each control redraws)."""
    tokens = ["[CLS]", "hello", ",", "world", "[SEP]"]
    examples = []
    for seed, label in enumerate(("first", "second")):
        logits = np.random.default_rng(seed).normal(scale=3.0, size=(2, 2, 5, 5))
        weights = np.exp(logits)
        examples.append(
            ExplorerExample(label, tokens, tokens, weights / weights.sum(-1, keepdims=True))
        )
    return examples


def test_the_book_check_types_a_sentence_and_presses_the_button(open_book_page):
    page = open_book_page(explorer_widget(two_examples()))
    assert check_book.check_explorer(page.locator(".bx"), "explorer") == []
    assert page.locator('[data-control="example"] option').count() == 3


def test_the_book_check_reports_a_button_that_fails(open_book_page):
    page = open_book_page(explorer_widget(two_examples()))
    page.route("**/vocab.js", lambda route: route.abort())  # as if the build left it out
    problems = check_book.check_typed_sentence(page.locator(".bx"), "explorer")
    assert len(problems) == 1 and "could not load" in problems[0] and "vocab.js" in problems[0]


def test_export_script_skips_an_up_to_date_folder(tmp_path, capsys):
    export_onnx = load_script("export_onnx")

    assert export_onnx.main(["--output", str(tmp_path)]) == 0
    made = {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    assert set(made) == {"model.js", "vocab.js", "manifest.json"}
    assert export_onnx.main(["--output", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert made == {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}


def test_pairs_are_cut_as_longest_first_cuts_them(open_book_page, tokenizer):
    """The page's [CLS] a [SEP] b [SEP] equals the tokenizer's, truncated or not."""
    from bertedu.tokenization import minilm_path

    words = "one two three four five six seven eight nine ten eleven twelve".split()
    cases = [
        (" ".join(words[:a]), " ".join(words[:b]), limit)
        for a, b in ((1, 12), (12, 1), (12, 12), (7, 9), (9, 7), (3, 0), (12, 0))
        for limit in (8, 9, 16, 17, 128)
    ]
    page = open_book_page(explorer_widget())
    vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8")
    mine = page.evaluate(
        "([vocab, cases]) => { const t = new window.berteduBrowserModel.Tokenizer(vocab);"
        " return cases.map(([a, b, n]) => { const e = t.encode(a, b, n);"
        " return [e.ids, e.types, e.note !== null]; }); }",
        [vocab, cases],
    )
    for (text_a, text_b, limit), (ids, types, noted) in zip(cases, mine, strict=True):
        full = tokenizer(text_a, text_b or None)["input_ids"]
        cut = tokenizer(text_a, text_b or None, truncation="longest_first", max_length=limit)
        assert ids == cut["input_ids"] and types == cut["token_type_ids"], (text_a, text_b, limit)
        assert noted == (len(full) > limit)
