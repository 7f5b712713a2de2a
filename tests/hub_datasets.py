"""Small local copies of the three Hub datasets the gpu profile reads, in their exact schemas.

The gpu profile's loaders call ``datasets.load_dataset`` with the Hub names
``Salesforce/wikitext`` (``wikitext-103-raw-v1`` / ``wikitext-2-raw-v1``),
``rajpurkar/squad`` (``plain_text``) and ``microsoft/ms_marco`` (``v2.1``). CI has
no network, so :func:`install` writes a few rows of each, with the features the
Hub's Parquet files declare, to local Parquet files, and makes
``datasets.load_dataset`` read those for exactly these names (any other name
fails loudly). Split strings such as ``train[:100000]`` go through ``datasets``'
own slicing, as they would on the Hub.

``scripts/gpu_check.py`` uses the same builders with more rows (``rows``) for the
notebooks it runs on a GPU machine without network: :func:`write_local_hub` writes
the files once, and :func:`use_local_hub` makes a notebook's kernel read them.
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
    if not 1 <= count <= len(records):
        raise ValueError(f"count must be between 1 and {len(records)} leads, got {count}")
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


def write_local_hub(
    root: Path, rows: int | None = None, articles: int | None = None
) -> dict[tuple[str, str, str], Path]:
    """Parquet files in the Hub's layout under ``root``: ``(name, config, split) -> file``.

    ``rows``: None gives the CI tests' few rows (40 WikiText-103 articles, 24 training
    questions of each QA set); a number gives that many WikiText-103 articles and training
    questions of SQuAD and MS MARCO, and a third (SQuAD) or half (MS MARCO, WikiText-2) as
    many in the other splits. ``articles`` sets the WikiText-103 articles apart from that
    (the chapters read up to 5,000: their held-out 0.5% is then 25 articles).
    """
    sizes = (40, 20, 24, 8, 24, 12) if rows is None else (
        rows, max(2, rows // 2), rows, max(2, rows // 3), rows, max(2, rows // 2)
    )  # fmt: skip
    if articles is not None:
        sizes = (articles, *sizes[1:])
    tables = {
        ("Salesforce/wikitext", "wikitext-103-raw-v1", "train"): (
            [{"text": line} for line in wikitext_lines(sizes[0])],
            WIKITEXT_FEATURES,
        ),
        ("Salesforce/wikitext", "wikitext-2-raw-v1", "train"): (
            [{"text": line} for line in wikitext_lines(sizes[1])],
            WIKITEXT_FEATURES,
        ),
        ("rajpurkar/squad", "plain_text", "train"): (squad_rows(sizes[2]), SQUAD_FEATURES),
        ("rajpurkar/squad", "plain_text", "validation"): (squad_rows(sizes[3]), SQUAD_FEATURES),
        ("microsoft/ms_marco", "v2.1", "train"): (ms_marco_rows(sizes[4]), MS_MARCO_FEATURES),
        ("microsoft/ms_marco", "v2.1", "validation"): (
            ms_marco_rows(sizes[5]),
            MS_MARCO_FEATURES,
        ),
    }
    files = {}
    for (name, config, split), (table, features) in tables.items():
        path = root / name / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_list(table, features).to_parquet(str(path))
        files[(name, config, split)] = path
    return files


DEFAULT_CONFIGS = {"rajpurkar/squad": "plain_text", "Salesforce/wikitext": None}
#: ``datasets``' own loader, kept before any replacement: a second replacement reads the
#: local files through it, not through the first replacement.
DATASETS_LOAD_DATASET = datasets.load_dataset


def local_load_dataset(files: dict[tuple[str, str, str], Path], cache_dir: Path, calls: list):
    """A ``datasets.load_dataset`` that reads ``files`` for exactly their Hub names.

    Every call is appended to ``calls``; any other name raises. Split slices such as
    ``train[:100]`` go through ``datasets``' own slicing.
    """

    def load_dataset(name, config=None, *, split):
        calls.append((name, config, split))
        base_split = split.split("[")[0]
        key = (name, config or DEFAULT_CONFIGS.get(name), base_split)
        if key not in files:
            raise AssertionError(f"unexpected Hub dataset {key}; local copies: {sorted(files)}")
        sliced = split.replace(base_split, "train", 1)  # one local file is one "train" split
        return DATASETS_LOAD_DATASET(
            "parquet", data_files={"train": str(files[key])}, split=sliced, cache_dir=str(cache_dir)
        )

    return load_dataset


def install(monkeypatch, root: Path) -> list[tuple[str, str | None, str]]:
    """Make ``datasets.load_dataset`` read the local copies; returns the list of calls made."""
    files = write_local_hub(root)
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", local_load_dataset(files, root, calls))
    return calls


def use_local_hub(root: Path, cache_dir: Path) -> list[tuple[str, str | None, str]]:
    """Outside pytest (a notebook's kernel): read the files :func:`write_local_hub` wrote.

    ``datasets.load_dataset`` is replaced for the rest of the process; the list records
    every call. Fails if ``root`` holds no local copies.
    """
    files = {}
    for path in Path(root).glob("*/*/*/*-00000-of-00001.parquet"):
        name = f"{path.parents[2].name}/{path.parents[1].name}"  # owner/dataset
        files[(name, path.parent.name, path.name.split("-")[0])] = path
    if not files:
        raise FileNotFoundError(f"{root} holds no local Hub copies; write them first")
    calls = []
    datasets.load_dataset = local_load_dataset(files, cache_dir, calls)
    return calls
