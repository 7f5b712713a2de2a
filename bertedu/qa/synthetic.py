"""Synthetic questions over the embedded corpus's training leads, and the shipped set.

Chapter 9's data: questions made by rules and by a model from the ~9,500
Wikipedia leads the book pretrains on, never from a held-out QA passage or
its article. ``scripts/build_synthetic_qa.py`` builds them
(:mod:`bertedu.qa.candidates`, :mod:`bertedu.qa.question_generation`,
:mod:`bertedu.qa.roundtrip`); this module holds what both the script and a
reader of the shipped files need:

* :func:`training_passages`: the leads a synthetic question may come from;
* :func:`cloze_examples`: cloze questions of one passage (:mod:`bertedu.qa.augment`);
* :func:`to_squad`: records -> SQuAD v1.1 JSON (each question also has ``kind``);
* :func:`load_synthetic_qa` / :func:`load_teacher_labels`: the shipped files,
  as :class:`~bertedu.qa.datasets.QAExample` lists and
  :class:`~bertedu.qa.roundtrip.TeacherOutput` per question id.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from bertedu.data.corpus import embedded_wikipedia_path
from bertedu.qa.augment import cloze_questions
from bertedu.qa.datasets import EMBEDDED_QA_DIR, QAExample, load_embedded_qa, parse_squad
from bertedu.qa.roundtrip import TeacherOutput

SYNTHETIC_QA_PATH = EMBEDDED_QA_DIR / "synthetic-train.json.gz"
TEACHER_LABELS_PATH = EMBEDDED_QA_DIR / "synthetic-teacher.json.gz"
KINDS = ("cloze", "generated")


def passage_order(title: str, seed: int = 0) -> str:
    """A passage's place in the build order: SHA-256 of seed and title, so any first ``n``
    passages are a random sample of all, the same on every machine."""
    return hashlib.sha256(f"{seed}\x00{title}".encode()).hexdigest()


def held_out_qa_titles() -> set[str]:
    """The articles of the embedded QA set's held-out (dev) split."""
    return {example.title for example in load_embedded_qa("dev")}


def training_passages(
    exclude_titles: Iterable[str] = (), seed: int = 0, min_chars: int = 100
) -> list[tuple[str, str]]:
    """``(title, lead)`` of every embedded Wikipedia lead a synthetic question may use.

    Left out: the held-out QA set's articles (always), ``exclude_titles``
    (e.g. the documents pretraining holds out) and leads under ``min_chars``
    characters. The lead is the file's text verbatim, so SQuAD offsets hold;
    the order is :func:`passage_order`'s.
    """
    excluded = set(exclude_titles) | held_out_qa_titles()
    with embedded_wikipedia_path().open(encoding="utf-8") as file:
        records = json.load(file).values()
    passages = {
        record["title"]: record["extract"]
        for record in records
        if record["title"] not in excluded and len(record["extract"].strip()) >= min_chars
    }
    return sorted(passages.items(), key=lambda item: passage_order(item[0], seed))


def cloze_examples(
    title: str, passage: str, per_passage: int, seed: int = 0, prefix: str = "cloze"
) -> list[QAExample]:
    """Up to ``per_passage`` cloze questions of one passage, drawn with a string seed
    (``f"{seed}:{title}"``); ids ``{prefix}-{passage hash[:12]}-{k}``."""
    found = cloze_questions(passage)
    rng = random.Random(f"{seed}:{title}")
    chosen = sorted(rng.sample(range(len(found)), min(per_passage, len(found))))
    key = passage_order(title)[:12]
    return [
        QAExample(
            f"{prefix}-{key}-{k}", found[i][0], passage, (found[i][1],), (found[i][2],), title
        )
        for k, i in enumerate(chosen)
    ]


def to_squad(records: Sequence[dict], version: str = "bertedu-synthetic-1") -> dict:
    """SQuAD v1.1 JSON from records ``{"id", "title", "context", "question", "answer",
    "answer_start", "kind"}``: one article per title, one paragraph per context, questions
    in the order given."""
    articles: dict[str, dict[str, list[dict]]] = {}
    for record in records:
        paragraphs = articles.setdefault(record["title"], {})
        paragraphs.setdefault(record["context"], []).append(
            {
                "id": record["id"],
                "question": record["question"],
                "answers": [{"text": record["answer"], "answer_start": record["answer_start"]}],
                "kind": record["kind"],
            }
        )
    return {
        "version": version,
        "data": [
            {
                "title": title,
                "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()],
            }
            for title, paragraphs in articles.items()
        ],
    }


def write_json_gz(data: object, path: Path) -> None:
    """Write ``data`` as gzipped JSON, byte for byte the same for the same data (no time
    stamp in the gzip header), through a temporary file renamed into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(payload)
    tmp.replace(path)


def read_json_gz(path: Path) -> object:
    """Inverse of :func:`write_json_gz`."""
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return json.load(file)


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"No synthetic question file at {path}. The book ships it in bertedu/qa/data/; "
        "rebuild it with: python scripts/build_synthetic_qa.py --help"
    )


def load_synthetic_qa(
    kinds: Sequence[str] = KINDS, path: str | Path = SYNTHETIC_QA_PATH, limit: int | None = None
) -> list[QAExample]:
    """The shipped synthetic questions (``cloze``, ``generated`` or both), as examples."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"Unknown kinds {sorted(unknown)}; use some of {', '.join(KINDS)}.")
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    data = read_json_gz(path)
    examples = parse_squad(data, source=str(path))
    kind_of = {
        qa["id"]: qa.get("kind")
        for article in data["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }
    chosen = [example for example in examples if kind_of[example.id] in kinds]
    return chosen if limit is None else chosen[:limit]


def load_teacher_labels(path: str | Path = TEACHER_LABELS_PATH) -> dict[str, TeacherOutput]:
    """The teacher's answer and top-k start/end logits per synthetic question id."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    data = read_json_gz(path)
    return {qid: TeacherOutput.from_json(record) for qid, record in data["questions"].items()}
