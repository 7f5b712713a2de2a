"""bertedu.tables.show_table: the one way a chapter shows a table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bertedu.tables import auto_decimals, format_interval, show_table


def cells(table) -> list[list[str]]:
    return table.frame.values.tolist()


def test_numbers_get_separators_and_the_decimals_their_magnitude_deserves():
    table = show_table(
        [
            {"questions": 9224, "f1": 15.123456, "loss": 0.634567, "lr": 0.0001},
            {"questions": 661, "f1": 12.3, "loss": 1.5, "lr": 3e-05},
        ]
    )
    assert cells(table) == [["9,224", "15.1", "0.63", "0.0001"], ["661", "12.3", "1.50", "3e-05"]]
    assert list(table.frame.columns) == ["questions", "f1", "loss", "lr"]


def test_missing_values_intervals_and_booleans():
    table = show_table(
        {
            "rule": {"F1": 20.0, "CI": (12.11, 18.06), "trained": False},
            "student": {"F1": math.nan, "CI": (-6.81, 1.44), "trained": True},
            "other": {"F1": None, "CI": None, "trained": None},
        },
        index="reader",
    )
    assert cells(table) == [
        ["20.0", "12.1-18.1", "no"],
        ["–", "−6.8 to +1.4", "yes"],
        ["–", "–", "–"],
    ]
    page = table._repr_html_()
    assert '<th class="text">reader</th>' in page and ">student</th>" in page
    assert "nan" not in page.lower() and "none" not in page.lower()
    assert 'class="bertedu-scroll bertedu-table"' in page


def test_columns_select_order_and_rename_and_field_names_lose_underscores():
    frame = pd.DataFrame({"train_min": [1.0], "f1": [63.61], "name": ["MiniLM"]})
    renamed = show_table(frame, columns={"name": "reader", "f1": "F1"})
    assert list(renamed.frame.columns) == ["reader", "F1"]
    assert cells(renamed) == [["MiniLM", "63.6"]]
    assert list(show_table(frame, columns=["train_min"]).frame.columns) == ["train min"]
    assert renamed.numeric == (False, True)


def test_decimals_by_column_or_for_all():
    rows = [{"a": 1.23456, "b": 2.5}]
    assert cells(show_table(rows, decimals={"a": 4})) == [["1.2346", "2.50"]]
    assert cells(show_table(rows, decimals=0)) == [["1", "2"]]


def test_html_escapes_text_and_right_aligns_numbers():
    page = show_table([{"question": "a < b & c?", "F1": 1.0}])._repr_html_()
    assert "a &lt; b &amp; c?" in page
    assert '<td class="num">1.00</td>' in page


def test_bad_input_says_what_to_pass():
    with pytest.raises(TypeError, match="list of row mappings"):
        show_table(42)
    with pytest.raises(KeyError, match="its columns are"):
        show_table([{"a": 1}], columns=["b"])
    with pytest.raises(ValueError, match="same name"):
        show_table([{"a": 1, "b": 2}], columns={"a": "x", "b": "x"})


def test_auto_decimals_and_intervals_edge_cases():
    assert auto_decimals([123.4]) == 0
    assert auto_decimals([0.5]) == 3
    assert auto_decimals([0.004]) is None
    assert auto_decimals([]) == 2
    assert format_interval(0.0, 1.0, 1) == "0.0-1.0"


def test_verbatim_columns_keep_ids_and_years_as_they_are():
    table = show_table([{"token": "bert", "id": 14324, "year": 2018}], verbatim=["id", "year"])
    assert cells(table) == [["bert", "14324", "2018"]]
    assert table.numeric == (False, True, True)
    gains = show_table([{"gain": 2.25}, {"gain": -1.6}, {"gain": 0.0}], signed=["gain"])
    assert cells(gains) == [["+2.25"], ["−1.60"], ["0.00"]]
    with pytest.raises(KeyError, match="verbatim"):
        show_table([{"a": 1}], verbatim=["b"])
