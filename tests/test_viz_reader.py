"""The ask-your-reader widget (driven without a kernel) and the static answer browser."""

from __future__ import annotations

import json
import re

import pytest
from test_qa_reader import pointing_reader

from bertedu.qa import QAExample
from bertedu.viz.answer_browser import answer_browser, answer_records
from bertedu.viz.reader_widget import reader_widget

PASSAGE = "Animals of the city. The Zürich Zebra lives in the zoo. It eats hay."


@pytest.fixture
def reader(tokenizer):
    """An extractive reader that always answers "Zürich Zebra" when the passage has it."""
    return pointing_reader(tokenizer, "zurich", "zebra")


def test_the_widget_answers_what_is_typed_and_shows_why(reader):
    widget = reader_widget(reader, passage=PASSAGE, question="Which animal lives in the zoo?")
    assert widget.answer.answer == "Zürich Zebra"  # both boxes prefilled: answered at once
    shown = widget.result.value
    assert '<mark class="bertedu-answer"' in shown and ">Zürich Zebra</mark>" in shown
    # The start and end probabilities over the passage tokens: the pointed-at tokens are darkest.
    starts = re.search(r'class="bertedu-reader-starts".*?</div>', shown).group(0)
    assert 'title="99.9%" style="background:rgba(47,158,68,1.00)">Zürich<' in starts
    assert 'title="0.0%" style="background:rgba(47,158,68,0.01)">Zebra<' in starts
    ends = re.search(r'class="bertedu-reader-ends".*?</div>', shown).group(0)
    assert 'title="99.9%" style="background:rgba(25,113,194,1.00)">Zebra<' in ends
    assert "most likely: &ldquo;Zürich&rdquo; 99.9%" in shown
    assert "Probability (%)" in shown  # the candidates table

    widget.passage.value = "The Zürich Zebra was never seen."
    widget.question.value = "What was never seen?"
    widget.button.click()  # what pressing Ask does
    assert widget.answer.start == 4 and "was never seen." in widget.result.value
    assert widget.result.value != shown

    widget.question.value = ""
    widget.button.click()
    assert widget.answer is None and "question is empty" in widget.result.value


def test_the_widget_with_no_span_says_so(tokenizer):
    reader = pointing_reader(tokenizer, "zebra", "zurich", n_best=1)
    widget = reader_widget(reader, PASSAGE, "Which?")
    assert widget.answer.answer == ""  # its one end comes before its one start: no valid span
    assert "(no answer)" in widget.result.value and "No candidate" in widget.result.value


ZEBRA, HAY = PASSAGE.index("Zürich Zebra"), PASSAGE.index("hay")
OTHER = "The Zürich Zebra is <here> & there."
EXAMPLES = [
    QAExample("a", "Which animal lives in the zoo?", PASSAGE, ("Zürich Zebra",), (ZEBRA,)),
    QAExample("b", "What does it eat?", PASSAGE, ("hay", "hay."), (HAY, HAY)),
    QAExample("c", "Where is <it>?", OTHER, ("there",), (OTHER.index("there"),)),
]


def test_records_hold_spans_f1_and_candidates(reader):
    records = answer_records(reader, EXAMPLES, top=3)
    first, second, third = records
    zebra = {"text": "Zürich Zebra", "start": ZEBRA, "end": ZEBRA + len("Zürich Zebra")}
    assert first["predicted"] == zebra and first["gold"] == [zebra]
    assert first["f1"] == 100 and first["exact_match"] == 100
    assert first["candidates"][0]["text"] == "Zürich Zebra" and len(first["candidates"]) <= 3
    assert second["predicted"] == zebra and second["f1"] == 0 and second["exact_match"] == 0
    assert second["gold"] == [
        {"text": "hay", "start": HAY, "end": HAY + 3},
        {"text": "hay.", "start": HAY, "end": HAY + 4},
    ]
    assert third["f1"] == 0 and third["passage"].endswith("& there.")


def test_the_browser_embeds_the_data_and_one_option_per_question(reader, tmp_path):
    records = answer_records(reader, EXAMPLES)
    browser = answer_browser(records)
    page = browser._repr_html_()
    assert page.count("<option ") == len(records)
    assert "3. Where is &lt;it&gt;? (F1 0)" in page  # question text escaped in the select
    data = re.search(r'class="bertedu-answer-browser-data">(.*?)</script>', page).group(1)
    assert "<" not in data and "&" not in data  # nothing in the JSON can close the script
    embedded = json.loads(data)
    assert len(embedded["passages"]) == 2  # shared passages are embedded once
    assert [embedded["passages"][r["passage"]] for r in embedded["records"]] == [
        r["passage"] for r in records
    ]
    assert browser.data_bytes == len(data.encode())
    for name in ("bertedu-answer-browser", "bertedu-answer-browser-select"):
        assert f'class="{name}"' in page
    assert 'class="bertedu-answer-browser-view"' in page and "addEventListener" in page
    assert "http" not in page  # nothing loaded from the network
    saved = browser.save(tmp_path / "browser.html").read_text("utf-8")
    assert saved.startswith("<!doctype html>") and page in saved
    with pytest.raises(ValueError, match="No records"):
        answer_browser([])
