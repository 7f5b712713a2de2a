"""Ask your own reader: a passage, a question, an Ask button, and why the reader chose its answer.

    reader_widget(reader, passage=passage, question="Who developed BERT?")

``reader`` is a :class:`bertedu.qa.Reader` (``load_reader(DIR)``, or ``Reader(model,
tokenizer, recipe)`` around the model a chapter just trained). Pressing *Ask* (or calling
:meth:`ReaderWidget.ask`) answers and draws, as HTML:

* the passage with the answer marked;
* for an extractive reader, the passage twice more, each token shaded by the reader's
  probability that the answer *starts* there, then that it *ends* there (softmax of its
  start and end scores over the window's passage tokens; hover a token for its number), and
  the most likely tokens of each, so the learner sees why that span won;
* for a generative reader, whether its answer occurs in the passage;
* the candidates with their probabilities.

It needs a running kernel; a notebook saved with its widget state shows the last answer.
"""

from __future__ import annotations

import html
import math

from bertedu.qa.reader import Answer, Reader, WindowProbabilities
from bertedu.tables import show_table

TOP_TOKENS = 3  # most likely start and end tokens named under the shading
SHOWN_CANDIDATES = 5
#: The colours of the answer (orange) and of the start (green) and end (blue) shading.
ANSWER_STYLE = "background:#ffd8a8;border-radius:2px"
START_RGB, END_RGB = "47,158,68", "25,113,194"


def marked_passage(passage: str, start: int | None, end: int | None) -> str:
    """The passage as HTML with ``[start, end)`` marked (no mark when ``start`` is None)."""
    if start is None or end is None:
        return html.escape(passage)
    return (
        html.escape(passage[:start])
        + f'<mark class="bertedu-answer" style="{ANSWER_STYLE}">'
        + html.escape(passage[start:end])
        + "</mark>"
        + html.escape(passage[end:])
    )


def shaded_tokens(passage: str, spans: list[tuple[int, int]], probs: list[float], rgb: str) -> str:
    """The window's stretch of the passage, each token shaded by its probability ``p`` (opacity
    ``sqrt(p)``: a sure reader shows one dark token, an unsure one a pale wash) with the
    probability in its tooltip (nothing for a window without tokens)."""
    if not spans:
        return ""
    parts, previous = [], spans[0][0]
    for (start, end), p in zip(spans, probs, strict=True):
        parts.append(html.escape(passage[previous:start]))
        parts.append(
            f'<span title="{p:.1%}" style="background:rgba({rgb},{math.sqrt(p):.2f})">'
            f"{html.escape(passage[start:end])}</span>"
        )
        previous = end
    return "".join(parts)


def most_likely(passage: str, spans: list[tuple[int, int]], probs: list[float]) -> str:
    """The ``TOP_TOKENS`` most probable tokens, as ``"Google" 62.1%, ...``."""
    order = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)[:TOP_TOKENS]
    return ", ".join(
        f"&ldquo;{html.escape(passage[spans[i][0] : spans[i][1]])}&rdquo; {probs[i]:.1%}"
        for i in order
    )


def probabilities_html(answer: Answer, passage: str) -> str:
    """The start and end probabilities of the answer's window, drawn over its tokens."""
    window: WindowProbabilities = answer.windows[answer.window or 0]
    where = ""
    if len(answer.windows) > 1:
        where = (
            f" The passage is read in {len(answer.windows)} overlapping windows; this is "
            f"window {(answer.window or 0) + 1}, which holds the answer."
        )
    rows = []
    for label, probs, rgb in (
        ("starts", window.start, START_RGB),
        ("ends", window.end, END_RGB),
    ):
        rows.append(
            f"<p><b>Where the answer {label}</b> (most likely: "
            f"{most_likely(passage, window.spans, probs)})</p>"
            f'<div class="bertedu-reader-{label}" style="line-height:1.7">'
            f"{shaded_tokens(passage, window.spans, probs, rgb)}</div>"
        )
    return (
        "<p>Each token (a WordPiece) is shaded by the reader's probability, darker for more "
        f"likely; hover a token for its number.{where}</p>" + "".join(rows)
    )


def candidates_html(answer: Answer) -> str:
    """The best candidates as a table: answer, probability (%), score."""
    rows = [
        {"answer": c.text or "(empty)", "probability": 100 * c.probability, "score": c.score}
        for c in answer.candidates[:SHOWN_CANDIDATES]
    ]
    if not rows:
        return "<p>No candidate: no span of the passage was a valid answer.</p>"
    columns = {"answer": "Candidate", "probability": "Probability (%)", "score": "Score"}
    return show_table(rows, columns=columns, decimals={"probability": 2, "score": 2})._repr_html_()


def answer_html(answer: Answer, passage: str, task: str) -> str:
    """Everything the widget shows about one answer, as HTML."""
    shown = html.escape(answer.answer) if answer.answer else "(no answer)"
    head = f'<p>Answer: <b class="bertedu-reader-answer">{shown}</b>'
    if task == "generative":
        head += (
            " (found in the passage, marked below)"
            if answer.found_in_passage
            else " (written by the reader: these words do not occur in the passage)"
        )
        if answer.passage_truncated:
            head += ". The passage is longer than the reader reads: it saw only its beginning"
    head += "</p>"
    passage_html = (
        f'<div class="bertedu-reader-passage" style="line-height:1.7">'
        f"{marked_passage(passage, answer.start, answer.end)}</div>"
    )
    body = probabilities_html(answer, passage) if answer.windows else ""
    return head + passage_html + body + candidates_html(answer)


class ReaderWidget:
    """A passage box, a question box and an Ask button over a :class:`~bertedu.qa.Reader`.

    ``answer`` holds the last :class:`~bertedu.qa.Answer` (None before the first question
    or after a refused one); ``result`` is the HTML widget that shows it.
    """

    def __init__(self, reader: Reader, passage: str = "", question: str = "") -> None:
        import ipywidgets as w

        self.reader = reader
        self.answer: Answer | None = None
        wide = w.Layout(width="100%")
        self.passage = w.Textarea(
            value=passage, description="Passage", layout=w.Layout(width="100%", height="10em")
        )
        self.question = w.Text(value=question, description="Question", layout=wide)
        self.button = w.Button(description="Ask", button_style="primary")
        self.button.on_click(self._on_click)
        self.result = w.HTML(layout=wide)
        self.box = w.VBox([self.passage, self.question, self.button, self.result])
        if passage.strip() and question.strip():
            self.ask()

    def ask(self) -> Answer | None:
        """Answer the boxes' question from their passage and show it (a refusal is shown
        in red: an empty question, say)."""
        passage = self.passage.value
        try:
            self.answer = self.reader.answer(self.question.value, passage)
        except ValueError as error:
            self.answer = None
            self.result.value = f'<p style="color:#b00">{html.escape(str(error))}</p>'
            return None
        self.result.value = answer_html(self.answer, passage, self.reader.task)
        return self.answer

    def _on_click(self, _button) -> None:
        self.ask()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def reader_widget(reader: Reader, passage: str = "", question: str = "") -> ReaderWidget:
    """An ask-your-reader widget over ``reader``, its boxes prefilled (answered at once when
    both are given)."""
    return ReaderWidget(reader, passage, question)
