"""Browse a reader's answers to held-out questions in a static page: no kernel, no network.

    records = answer_records(reader, examples)       # runs the reader once per question
    answer_browser(records)                           # in a notebook: the browser

:func:`answer_records` asks a :class:`bertedu.qa.Reader` every question and keeps what the
page shows: the question, its passage, the predicted span and the reference (gold) spans
as characters, SQuAD's official F1 and exact match, and the top candidates with their
probabilities. :func:`answer_browser` embeds them as JSON in one HTML block with a few
lines of plain JavaScript: a ``<select>`` of the questions, and under it the passage with
the predicted span (orange) and the gold spans (underlined green) marked, F1 and the
candidates. It works in Jupyter, in the built book and from ``file://``.

For a page check: the block is ``div.bertedu-answer-browser``; its select is
``select.bertedu-answer-browser-select``; a change redraws
``div.bertedu-answer-browser-view``, whose ``data-question-id`` is the shown question's id
and whose ``.bertedu-answer-browser-predicted`` holds the predicted answer.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertedu.qa.datasets import QAExample
from bertedu.qa.metrics import exact_match_score, f1_score, max_over_ground_truths
from bertedu.qa.reader import Reader

ROOT = "bertedu-answer-browser"


def answer_records(
    reader: Reader, examples: Sequence[QAExample], top: int = 5
) -> list[dict[str, Any]]:
    """One record per question: what the reader answered, the gold spans, F1 and EM (0-100,
    SQuAD v1.1's official definitions, best over the references) and its ``top`` candidates."""
    records = []
    for example in examples:
        answer = reader.answer(example.question, example.context)
        gold = [
            {"text": text, "start": start, "end": start + len(text)}
            for text, start in zip(example.answers, example.answer_starts, strict=False)
        ]
        references = list(example.answers) or [""]
        records.append(
            {
                "id": example.id,
                "question": example.question,
                "passage": example.context,
                "predicted": {"text": answer.answer, "start": answer.start, "end": answer.end},
                "gold": gold,
                "f1": 100 * max_over_ground_truths(f1_score, answer.answer, references),
                "exact_match": 100
                * max_over_ground_truths(exact_match_score, answer.answer, references),
                "candidates": [
                    {"text": c.text, "probability": c.probability} for c in answer.candidates[:top]
                ],
            }
        )
    return records


def embedded_json(records: Sequence[dict[str, Any]]) -> str:
    """The records as compact JSON that is safe inside ``<script>`` (no ``<``, ``>``, ``&``):
    ``{"passages": [...], "records": [...]}``, each passage once (held-out questions share
    them, a few per passage) and each record's ``passage`` its index there."""
    passages: dict[str, int] = {}
    shared = [
        record | {"passage": passages.setdefault(record["passage"], len(passages))}
        for record in records
    ]
    value = {"passages": list(passages), "records": shared}
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def option_label(index: int, record: dict[str, Any]) -> str:
    """``12. Who developed BERT? (F1 100)``: a question in the select."""
    return f"{index + 1}. {record['question']} (F1 {record['f1']:.0f})"


STYLE = """
.bertedu-answer-browser select{max-width:100%;margin-bottom:.6em}
.bertedu-answer-browser .passage{line-height:1.7;max-height:16em;overflow:auto;
  border:1px solid #ddd;padding:.4em .6em;border-radius:4px}
.bertedu-answer-browser mark{background:none;padding:0}
.bertedu-answer-browser .predicted{background:#ffd8a8}
.bertedu-answer-browser .gold{border-bottom:3px solid #2f9e44}
.bertedu-answer-browser table{border-collapse:collapse;margin-top:.5em}
.bertedu-answer-browser td,.bertedu-answer-browser th{padding:.15em .7em;text-align:left}
.bertedu-answer-browser td.num{text-align:right;font-variant-numeric:tabular-nums}
"""

# Draws record i into the view: question, answers, F1, the passage cut at every span
# boundary (each piece marked predicted and/or gold), the candidates table.
SCRIPT = """
(function () {
  var root = document.getElementById(ROOT_ID);
  var data = JSON.parse(root.querySelector("script.bertedu-answer-browser-data").textContent);
  var records = data.records, passages = data.passages;
  var select = root.querySelector("select.bertedu-answer-browser-select");
  var view = root.querySelector("div.bertedu-answer-browser-view");
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function line(label, text, cls) {
    var p = el("p"); p.appendChild(el("span", label));
    p.appendChild(el("b", text === "" ? "(no answer)" : text, cls)); return p;
  }
  function passage(r) {
    var text = passages[r.passage];
    var spans = r.gold.map(function (g) { return [g.start, g.end, "gold"]; });
    if (r.predicted.start !== null) spans.push([r.predicted.start, r.predicted.end, "predicted"]);
    var cuts = [0, text.length];
    spans.forEach(function (s) { cuts.push(s[0], s[1]); });
    cuts = cuts.sort(function (a, b) { return a - b; })
      .filter(function (c, i, all) { return i === 0 || c !== all[i - 1]; });
    var box = el("div", undefined, "passage");
    for (var i = 0; i + 1 < cuts.length; i++) {
      var a = cuts[i], b = cuts[i + 1], piece = text.slice(a, b);
      var kinds = spans.filter(function (s) { return s[0] <= a && b <= s[1]; })
        .map(function (s) { return s[2]; });
      if (!kinds.length) { box.appendChild(document.createTextNode(piece)); continue; }
      var mark = el("mark", piece, kinds.filter(function (k, j) {
        return kinds.indexOf(k) === j; }).join(" "));
      box.appendChild(mark);
    }
    return box;
  }
  function candidates(r) {
    var table = el("table"), head = el("tr");
    ["#", "Candidate", "Probability (%)"].forEach(function (h) { head.appendChild(el("th", h)); });
    table.appendChild(head);
    r.candidates.forEach(function (c, i) {
      var row = el("tr");
      row.appendChild(el("td", String(i + 1), "num"));
      row.appendChild(el("td", c.text === "" ? "(empty)" : c.text));
      row.appendChild(el("td", (100 * c.probability).toFixed(2), "num"));
      table.appendChild(row);
    });
    return table;
  }
  function draw(i) {
    var r = records[i];
    view.textContent = "";
    view.setAttribute("data-question-id", r.id);
    view.appendChild(line("Question: ", r.question));
    view.appendChild(line("Predicted: ", r.predicted.text, "bertedu-answer-browser-predicted"));
    view.appendChild(line("Gold: ", r.gold.map(function (g) { return g.text; }).join(" | ")));
    view.appendChild(line("F1: ", r.f1.toFixed(1) + " (exact match " +
      (r.exact_match ? "yes" : "no") + ")"));
    view.appendChild(passage(r));
    view.appendChild(candidates(r));
  }
  select.addEventListener("change", function () { draw(Number(select.value)); });
  draw(Number(select.value));
})();
"""


@dataclass(frozen=True)
class AnswerBrowser:
    """The browser's HTML (shown by Jupyter and the book) and the size of its embedded data."""

    html: str
    data_bytes: int  # the embedded JSON, UTF-8

    def _repr_html_(self) -> str:
        return self.html

    def save(self, path: str | Path) -> Path:
        """Write the browser as a page of its own (open it from ``file://``)."""
        path = Path(path)
        page = f'<!doctype html><html><head><meta charset="utf-8"></head><body>{self.html}'
        path.write_text(page + "</body></html>\n", "utf-8")
        return path


def answer_browser(
    records: Sequence[dict[str, Any]], element_id: str | None = None
) -> AnswerBrowser:
    """The records of :func:`answer_records` as a self-contained browser (see the module
    docstring). ``element_id`` (default: from a hash of the data) must be unique on a page."""
    if not records:
        raise ValueError("No records to browse; pass answer_records(reader, examples).")
    data = embedded_json(records)
    element_id = element_id or f"{ROOT}-{hashlib.sha1(data.encode()).hexdigest()[:10]}"
    options = "".join(
        f'<option value="{i}">{html.escape(option_label(i, record))}</option>'
        for i, record in enumerate(records)
    )
    script = SCRIPT.replace("ROOT_ID", json.dumps(element_id))
    page = (
        f'<div class="{ROOT}" id="{html.escape(element_id)}"><style>{STYLE}</style>'
        f'<label>Question <select class="{ROOT}-select">{options}</select></label>'
        '<p>In the passage: <mark class="predicted">the predicted answer</mark>, '
        '<mark class="gold">the reference answers</mark>.</p>'
        f'<div class="{ROOT}-view">The answers need JavaScript to show.</div>'
        f'<script type="application/json" class="{ROOT}-data">{data}</script>'
        f"<script>{script}</script></div>"
    )
    return AnswerBrowser(page, len(data.encode("utf-8")))
