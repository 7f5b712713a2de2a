"""QA loaders: local SQuAD-format JSON, the embedded set, SQuAD and MS MARCO through `datasets`
(offline errors)."""

from __future__ import annotations

import json

import pytest

from bertedu.hub import HubUnavailableError
from bertedu.qa.datasets import (
    embedded_qa_path,
    load_embedded_qa,
    load_ms_marco,
    load_squad,
    load_squad_json,
    ms_marco_records_to_examples,
    squad_records_to_examples,
)

CONTEXT = "BERT was developed by Google's AI team in 2018."


def squad_file(tmp_path, answers, qid="q1"):
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "BERT",
                "paragraphs": [
                    {
                        "context": CONTEXT,
                        "qas": [{"id": qid, "question": "Who developed BERT?", "answers": answers}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_local_squad_json(tmp_path):
    path = squad_file(
        tmp_path,
        [{"text": "Google's AI team", "answer_start": 22}, {"text": "Google", "answer_start": 22}],
    )
    (example,) = load_squad_json(path)
    assert example.answers == ("Google's AI team", "Google") and example.answer_starts == (22, 22)
    assert example.is_extractive and example.title == "BERT"


@pytest.mark.parametrize(
    "answers, match",
    [
        ([{"text": "Google", "answer_start": 5}], "not at character 5"),
        ([], "has no answer"),
    ],
)
def test_broken_squad_files_are_explained(tmp_path, answers, match):
    with pytest.raises(ValueError, match=match):
        load_squad_json(squad_file(tmp_path, answers))


def test_not_squad_format_and_missing_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not in the SQuAD format"):
        load_squad_json(path)
    with pytest.raises(FileNotFoundError):
        load_squad_json(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="splits train, dev"):
        embedded_qa_path("test")


@pytest.mark.skipif(not embedded_qa_path("dev").exists(), reason="embedded QA set not written yet")
def test_embedded_set_loads_offline():
    train, dev = load_embedded_qa("train"), load_embedded_qa("dev")
    assert len(train) >= 600 and len(dev) >= 200
    assert all(example.is_extractive for example in train + dev)
    assert not {e.context for e in train} & {e.context for e in dev}  # held out by passage
    assert len(load_embedded_qa("dev", limit=5)) == 5


@pytest.mark.parametrize("loader", [load_squad, load_ms_marco])
def test_hub_datasets_offline_raise_a_clear_error(monkeypatch, loader):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError, match="load_embedded_qa"):
        loader("validation", limit=10)


def test_squad_rows_convert():
    rows = [
        {
            "id": "5733",
            "title": "T",
            "context": CONTEXT,
            "question": "Who?",
            "answers": {"text": ["Google"], "answer_start": [22]},
        }
    ]
    (example,) = squad_records_to_examples(rows)
    assert example.answers == ("Google",) and example.answer_starts == (22,)


def test_ms_marco_rows_become_free_form_examples():
    rows = [
        {
            "query_id": 1,
            "query": "who developed bert",
            "answers": ["Google's AI team developed BERT."],
            "passages": {"passage_text": ["Unrelated.", CONTEXT], "is_selected": [0, 1]},
        },
        {
            "query_id": 2,
            "query": "what is x",
            "answers": ["No Answer Present."],
            "passages": {"passage_text": ["Nothing."], "is_selected": [0]},
        },
    ]
    (example,) = ms_marco_records_to_examples(rows)
    assert example.context == CONTEXT and not example.is_extractive and example.id == "1"
    (everything,) = ms_marco_records_to_examples(rows, passages="all")
    assert everything.context == "Unrelated.\n" + CONTEXT
    with pytest.raises(ValueError, match="selected"):
        ms_marco_records_to_examples(rows, passages="some")
