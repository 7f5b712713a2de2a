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
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from book_scripts import check_book

from bertedu.viz.browser_model import MAX_POSITIONS, write_browser_assets
from bertedu.viz.explorer import BERT_TINY, load_bert_tiny
from bertedu.viz.static_explorer import ExplorerExample, StaticExplorer

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
    (root / "notebooks").mkdir()
    return root


@pytest.fixture(scope="module")
def tiny():
    return load_bert_tiny()  # (encoder, tokenizer); the full model is loaded below


@pytest.fixture(scope="module")
def pretraining_model():
    from bertedu.checkpoints import load_pretrained_tiny

    return load_pretrained_tiny()


def explorer_html(examples=None) -> str:
    """An explorer of BERT-Tiny with the in-page text box (stored maps: a made-up example)."""
    tokens = ["[CLS]", "hello", "world", "[SEP]"]
    weights = np.full((2, 2, 4, 4), 0.25)
    stored = examples or [ExplorerExample("hello world", tokens, tokens, weights)]
    return StaticExplorer({BERT_TINY: stored}, browser_model=BERT_TINY).html()


@pytest.fixture
def open_book_page(browser, book):
    """Open an explorer as a chapter page of ``book``; after the test: no error, no request out."""
    opened = []

    def open_(fragment: str):
        path = book / "notebooks" / f"page{len(opened)}.html"
        path.write_text(
            '<!doctype html><html data-content_root="../"><meta charset="utf-8">'
            f'<body style="width: 900px">{fragment}</body></html>',
            encoding="utf-8",
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        record = {"page": page, "errors": [], "outside": []}
        check_book.route_offline(page, record["outside"])
        page.on("pageerror", lambda error: record["errors"].append(str(error)))
        page.goto(path.as_uri())
        opened.append(record)
        return page

    yield open_
    for record in opened:
        assert record["errors"] == [] and record["outside"] == []
        record["page"].close()


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
    page = open_book_page(explorer_html())
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
