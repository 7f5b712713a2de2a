"""Small local copies of the three Hub datasets the gpu profile reads, in their exact schemas.

The gpu profile's loaders call ``datasets.load_dataset`` with the Hub names
``Salesforce/wikitext`` (``wikitext-103-raw-v1`` / ``wikitext-2-raw-v1``),
``rajpurkar/squad`` (``plain_text``) and ``microsoft/ms_marco`` (``v2.1``). CI has
no network, so :func:`install` writes a few rows of each, with the features the
Hub's Parquet files declare, to local Parquet files, and makes
``datasets.load_dataset`` read those for exactly these names (any other name
fails loudly). Split strings such as ``train[:100000]`` go through ``datasets``'
own slicing, as they would on the Hub.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from datasets import Dataset, Features, Sequence, Value

from bertedu.data.corpus import embedded_wikipedia_path

WIKITEXT_FEATURES = Features({"text": Value("string")})
SQUAD_FEATURES = Features(
    {
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")}),
    }
)
MS_MARCO_FEATURES = Features(
    {
        "answers": Sequence(Value("string")),
        "passages": Sequence(
            {
                "is_selected": Value("int32"),
                "passage_text": Value("string"),
                "url": Value("string"),
            }
        ),
        "query": Value("string"),
        "query_id": Value("int32"),
        "query_type": Value("string"),
        "wellFormedAnswers": Sequence(Value("string")),
    }
)


def _leads(count: int) -> list[dict]:
    """``count`` Wikipedia leads from the embedded corpus (real prose for realistic rows)."""
    with embedded_wikipedia_path().open(encoding="utf-8") as file:
        records = list(json.load(file).values())
    step = len(records) // count
    return [records[index * step] for index in range(count)]


def wikitext_lines(articles: int = 40) -> list[str]:
    """WikiText-raw lines: `` = Title = ``, `` = = Section = = ``, blank lines, ``@,@`` numbers."""
    lines = [""]
    for number, record in enumerate(_leads(articles)):
        sentences = record["extract"].split(". ")
        half = max(1, len(sentences) // 2)
        lines += [f" = {record['title']} = ", "", " " + ". ".join(sentences[:half]) + " ", ""]
        lines += [" = = History = = ", ""]
        lines += [f" In {1900 + number} it had 1 @,@ {number:03d} parts and 3 @.@ 14 more . ", ""]
        lines += [" " + ". ".join(sentences[half:]) + " ", ""]
    return lines


def squad_rows(count: int = 24) -> list[dict]:
    """SQuAD ``plain_text`` rows: every answer the exact text at its ``answer_start``."""
    rows = []
    for number, record in enumerate(_leads(count)):
        context = record["extract"]
        answer = record["title"] if record["title"] in context else context.split()[0]
        start = context.index(answer)
        rows.append(
            {
                "id": f"{number:024x}",
                "title": record["title"].replace(" ", "_"),
                "context": context,
                "question": f"What is the subject of the passage number {number}?",
                "answers": {"text": [answer, answer], "answer_start": [start, start]},
            }
        )
    return rows


def ms_marco_rows(count: int = 24) -> list[dict]:
    """MS MARCO v2.1 rows: ten-ish passages, some selected, some unanswerable questions."""
    leads = _leads(count + 3)
    rows = []
    for number in range(count):
        passages = [leads[(number + k) % len(leads)]["extract"] for k in range(3)]
        unanswerable = number % 6 == 5
        rows.append(
            {
                "answers": ["No Answer Present."] if unanswerable else [passages[0].split(". ")[0]],
                "passages": {
                    "is_selected": [0, 0, 0] if unanswerable else [1, 0, 0],
                    "passage_text": passages,
                    "url": [f"https://example.org/{number}/{k}" for k in range(3)],
                },
                "query": f"what is {leads[number]['title'].lower()}",
                "query_id": 1_000_000 + number,
                "query_type": "DESCRIPTION",
                "wellFormedAnswers": [] if number % 2 else [f"It is {leads[number]['title']}."],
            }
        )
    return rows


def write_local_hub(root: Path) -> dict[tuple[str, str, str], Path]:
    """Parquet files in the Hub's layout under ``root``: ``(name, config, split) -> file``."""
    tables = {
        ("Salesforce/wikitext", "wikitext-103-raw-v1", "train"): (
            [{"text": line} for line in wikitext_lines()],
            WIKITEXT_FEATURES,
        ),
        ("Salesforce/wikitext", "wikitext-2-raw-v1", "train"): (
            [{"text": line} for line in wikitext_lines(20)],
            WIKITEXT_FEATURES,
        ),
        ("rajpurkar/squad", "plain_text", "train"): (squad_rows(24), SQUAD_FEATURES),
        ("rajpurkar/squad", "plain_text", "validation"): (squad_rows(8), SQUAD_FEATURES),
        ("microsoft/ms_marco", "v2.1", "train"): (ms_marco_rows(24), MS_MARCO_FEATURES),
        ("microsoft/ms_marco", "v2.1", "validation"): (ms_marco_rows(12), MS_MARCO_FEATURES),
    }
    files = {}
    for (name, config, split), (rows, features) in tables.items():
        path = root / name / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_list(rows, features).to_parquet(str(path))
        files[(name, config, split)] = path
    return files


DEFAULT_CONFIGS = {"rajpurkar/squad": "plain_text", "Salesforce/wikitext": None}


def install(monkeypatch, root: Path) -> list[tuple[str, str | None, str]]:
    """Make ``datasets.load_dataset`` read the local copies; returns the list of calls made."""
    files = write_local_hub(root)
    real_load_dataset = datasets.load_dataset
    calls = []

    def load_dataset(name, config=None, *, split):
        calls.append((name, config, split))
        base_split = split.split("[")[0]
        key = (name, config or DEFAULT_CONFIGS.get(name), base_split)
        if key not in files:
            raise AssertionError(f"unexpected Hub dataset {key}; local copies: {sorted(files)}")
        sliced = split.replace(base_split, "train", 1)  # one local file is one "train" split
        return real_load_dataset(
            "parquet", data_files={"train": str(files[key])}, split=sliced, cache_dir=str(root)
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls
