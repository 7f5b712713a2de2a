"""Question-answering data: the embedded Wikipedia QA set, SQuAD v1.1 and MS MARCO v2.1.

Everything becomes a list of :class:`QAExample`: a question, the passage to
read, and the reference answers. In *extractive* data (SQuAD format) every
answer is a span of the passage and carries its character offset
(``answer_starts``); in *free-form* data (MS MARCO) answers were written by
people and need not occur in the passage (``answer_starts`` is empty).

* :func:`load_embedded_qa`: the book's own SQuAD-format set, original questions
  over passages of the embedded Wikipedia corpus; offline, in the repository.
* :func:`load_squad_json`: any local file in the SQuAD v1.1 JSON format.
* :func:`load_squad` / :func:`load_ms_marco`: the real datasets through
  ``datasets.load_dataset`` (network needed the first time; offline they raise
  :class:`bertedu.hub.HubUnavailableError` saying what to use instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertedu.hub import explain_hub_errors

EMBEDDED_QA_DIR = Path(__file__).resolve().parent / "data"
EMBEDDED_SPLITS = {"train": "wikiqa-train.json", "dev": "wikiqa-dev.json"}
#: MS MARCO's marker for "the annotator found no answer in the passages".
MS_MARCO_NO_ANSWER = "No Answer Present."


@dataclass(frozen=True)
class QAExample:
    """One question about one passage, with its reference answers.

    ``answer_starts[k]`` is the character offset of ``answers[k]`` in
    ``context`` (extractive data); it is empty for free-form answers.
    """

    id: str
    question: str
    context: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...] = ()
    title: str = ""

    @property
    def is_extractive(self) -> bool:
        """True when every answer is a located span of the context."""
        return bool(self.answer_starts) and len(self.answer_starts) == len(self.answers)


def _limit(items: list, limit: int | None) -> list:
    if limit is None:
        return items
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive number of questions or None, got {limit!r}")
    return items[:limit]


def parse_squad(data: dict[str, Any], source: str = "the data") -> list[QAExample]:
    """SQuAD v1.1 JSON (``{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}``) -> examples.

    Every answer must be the exact text at its ``answer_start`` in the
    context; a mismatch is an error (a silently shifted span would train the
    model on the wrong tokens).
    """
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(
            f"{source} is not in the SQuAD format: expected a JSON object with a "
            "'data' list of articles ({'title', 'paragraphs': [{'context', 'qas'}]})."
        )
    examples, seen = [], set()
    for article in data["data"]:
        if not isinstance(article, dict):
            raise ValueError(f"{source}: every entry of 'data' must be an object (an article).")
        title = article.get("title", "")
        for paragraph in article.get("paragraphs", []):
            if not isinstance(paragraph, dict):
                raise ValueError(f"{source}: every paragraph must be an object with 'context'.")
            for qa in paragraph.get("qas", []):
                if not isinstance(qa, dict) or "id" not in qa:
                    raise ValueError(f"{source}: every entry of 'qas' needs an 'id'.")
                if isinstance(qa["id"], bool) or not isinstance(qa["id"], (str, int)):
                    raise ValueError(
                        f"{source}: question id {qa['id']!r} (of question "
                        f"{str(qa.get('question'))[:60]!r}) must be a string or a whole number."
                    )
                qid = str(qa["id"])
                where = f"{source}: question {qid!r}"
                context = _text(paragraph.get("context"), f"{where}: its paragraph's 'context'")
                question = _text(qa.get("question"), f"{where}: 'question'")
                if qid in seen:
                    raise ValueError(f"{where} occurs twice; ids must be unique.")
                seen.add(qid)
                texts, starts = [], []
                for answer in qa.get("answers", []):
                    if not isinstance(answer, dict):
                        raise ValueError(f"{where}: every answer must be an object.")
                    text = _text(answer.get("text"), f"{where}: an answer's 'text'")
                    start = _answer_start(answer.get("answer_start"), where)
                    if context[start : start + len(text)] != text:
                        raise ValueError(
                            f"{where}: answer {text!r} is not at character "
                            f"{start} of its context (found "
                            f"{context[start : start + len(text)]!r})."
                        )
                    texts.append(text)
                    starts.append(start)
                if not texts:
                    raise ValueError(
                        f"{where} has no answer; SQuAD v1.1 questions all have at least one."
                    )
                examples.append(
                    QAExample(qid, question, context, tuple(texts), tuple(starts), title)
                )
    return examples


def _text(value: Any, what: str) -> str:
    """``value`` when it is a non-empty string of real characters; a ValueError naming
    ``what`` otherwise (a lone surrogate, ``"\\ud800"`` in the JSON, is no character: the
    tokenizer would fail on it far from the file)."""
    if not isinstance(value, str) or not value.strip():
        found = "missing" if value is None else f"{type(value).__name__} {value!r:.40}"
        raise ValueError(f"{what} must be a non-empty string, got {found}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} holds a lone surrogate {value[error.start]!r} at character {error.start} "
            "(a broken \\uXXXX escape): fix or drop it."
        ) from None
    return value


def _answer_start(value: Any, where: str) -> int:
    """A character offset: a whole number >= 0 (a string of ASCII digits is read as one;
    ``"²"`` counts as a digit to ``str.isdigit`` but is no number to ``int``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"{where}: 'answer_start' must be a whole number of characters >= 0, got {value!r}."
        )
    return value


def load_squad_json(path: str | Path, limit: int | None = None) -> list[QAExample]:
    """Examples from a local SQuAD v1.1-format JSON file (first ``limit`` questions)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No SQuAD-format file at {path}.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is read
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {raw[error.start]:#04x} at position {error.start}; "
            "Latin-1 or Windows-1252?). Save it as UTF-8, as SQuAD JSON files are."
        ) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(
            f"{path} nests its JSON too deeply to read; a SQuAD file is four levels deep "
            "(data, paragraphs, qas, answers)."
        ) from None
    return _limit(parse_squad(data, source=str(path)), limit)


def embedded_qa_path(split: str = "train") -> Path:
    """Path of the embedded QA set's ``train`` or ``dev`` file."""
    if split not in EMBEDDED_SPLITS:
        raise ValueError(
            f"The embedded QA set has the splits {', '.join(EMBEDDED_SPLITS)}, not {split!r}."
        )
    return EMBEDDED_QA_DIR / EMBEDDED_SPLITS[split]


def load_embedded_qa(split: str = "train", limit: int | None = None) -> list[QAExample]:
    """The book's QA set over embedded Wikipedia passages (SQuAD v1.1 format), offline.

    Text from Wikipedia, CC BY-SA 4.0 (see :data:`bertedu.data.corpus.WIKIPEDIA_ATTRIBUTION`).
    """
    return load_squad_json(embedded_qa_path(split), limit)


def _hf_split(name: str, split: str, limit: int | None, config: str | None = None):
    from datasets import load_dataset

    if limit is not None:
        _limit([], limit)  # validate
        split = f"{split}[:{limit}]"
    with explain_hub_errors(
        f"the dataset {name!r}" + (f" ({config})" if config else ""),
        "Use bertedu.qa.datasets.load_embedded_qa() for the book's offline QA set, or "
        "load_squad_json(path) for a SQuAD-format file you have.",
    ):
        return (
            load_dataset(name, config, split=split) if config else load_dataset(name, split=split)
        )


def squad_records_to_examples(records) -> list[QAExample]:
    """Rows of ``rajpurkar/squad`` (id, title, context, question, answers) -> examples."""
    return [
        QAExample(
            str(row["id"]),
            row["question"],
            row["context"],
            tuple(row["answers"]["text"]),
            tuple(int(s) for s in row["answers"]["answer_start"]),
            row.get("title", ""),
        )
        for row in records
    ]


def load_squad(split: str = "train", limit: int | None = None) -> list[QAExample]:
    """SQuAD v1.1 (``rajpurkar/squad``; splits ``train``, ``validation``) through ``datasets``."""
    return squad_records_to_examples(_hf_split("rajpurkar/squad", split, limit))


def ms_marco_records_to_examples(records, passages: str = "selected") -> list[QAExample]:
    """Rows of ``microsoft/ms_marco`` v2.1 -> free-form examples.

    The context is the passages an annotator marked as used for the answer
    (``passages="selected"``, falling back to the first passage) or all ten
    (``"all"``). Questions whose only answer is "No Answer Present." are
    dropped: a generative reader trained on them learns to say that.
    """
    if passages not in ("selected", "all"):
        raise ValueError(f"passages must be 'selected' or 'all', got {passages!r}")
    examples = []
    for row in records:
        answers = tuple(a for a in row["answers"] if a.strip() and a != MS_MARCO_NO_ANSWER)
        texts = list(row["passages"]["passage_text"])
        if not answers or not texts:
            continue
        if passages == "selected":
            chosen = [
                t for t, used in zip(texts, row["passages"]["is_selected"], strict=False) if used
            ]
            texts = chosen or texts[:1]
        examples.append(QAExample(str(row["query_id"]), row["query"], "\n".join(texts), answers))
    return examples


def load_ms_marco(
    split: str = "train", limit: int | None = None, passages: str = "selected"
) -> list[QAExample]:
    """MS MARCO v2.1 (``microsoft/ms_marco``, ``v2.1``) through ``datasets``, as free-form examples.

    ``limit`` counts rows read before unanswerable questions are dropped.
    """
    return ms_marco_records_to_examples(
        _hf_split("microsoft/ms_marco", split, limit, "v2.1"), passages
    )
