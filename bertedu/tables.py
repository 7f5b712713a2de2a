"""Show a table on a page of the book, formatted the one way every chapter uses.

A chapter hands :func:`show_table` its rows (a DataFrame, a list of records, or a
mapping from row name to record) and gets back a :class:`Table` that renders as a
compact HTML table in Jupyter and in the built book, and as aligned text elsewhere.
Formatting happens here, once, so that no page shows ``NaN``, ``0.123456``,
``1234567`` or a field name such as ``train_min``:

- integers get thousands separators (``9,224``);
- a float column gets the decimals its magnitude deserves (``15.1``, ``0.63``,
  ``0.0001``), or the number the caller asks for;
- a pair of numbers ``(low, high)`` is an interval and reads ``12.1-18.1``;
- a missing value (``None``, ``NaN``) is ``–``;
- ``True``/``False`` read ``yes``/``no``;
- column names are the caller's readable names (``columns={"f1": "F1"}``), and
  field names nobody renamed lose their underscores.

Wide tables scroll inside their own box (class ``bertedu-scroll``, styled in
book/static/bertedu.css) instead of being clipped by the column.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

MISSING = "–"


def is_missing(value: object) -> bool:
    """Whether ``value`` stands for "no value": ``None``, a float NaN or pandas' NA."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)


def auto_decimals(values: Sequence[float]) -> int | None:
    """Decimals for a column of floats, from its largest magnitude (``None``: use 3
    significant digits, for columns of tiny numbers such as learning rates)."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    largest = max(finite, default=0.0)
    if largest >= 100:
        return 0
    if largest >= 10:
        return 1
    if largest >= 1 or largest == 0:
        return 2
    if largest >= 0.01:
        return 3
    return None


def format_number(value: float, decimals: int | None) -> str:
    """One number as the page shows it: thousands separators, ``decimals`` places
    (``None``: 3 significant digits), a proper minus sign."""
    if isinstance(value, numbers.Integral):
        text = f"{int(value):,}"
    elif not math.isfinite(value):
        text = "∞" if value > 0 else ("-∞" if value < 0 else MISSING)
    elif decimals is None:
        text = f"{value:.3g}"
    else:
        text = f"{value:,.{decimals}f}"
    return "−" + text[1:] if text.startswith("-") else text


def _is_interval(value: object) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )


def format_interval(low: float, high: float, decimals: int | None) -> str:
    """An interval as ``12.1-18.1``; with a negative end, ``−6.8 to +1.4`` (a hyphen
    between signed numbers would read as a minus)."""
    if low >= 0 and high >= 0:
        return f"{format_number(low, decimals)}-{format_number(high, decimals)}"
    high_text = format_number(high, decimals)
    return f"{format_number(low, decimals)} to {'+' if high > 0 else ''}{high_text}"


def _numbers_of(column: pd.Series) -> list[float]:
    """The float values of a column (interval ends included), to choose its decimals."""
    found: list[float] = []
    for value in column:
        if _is_interval(value):
            found.extend(float(v) for v in value if not isinstance(v, numbers.Integral))
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
            if not math.isnan(value):
                found.append(float(value))
    return found


def format_column(
    column: pd.Series, decimals: int | None | str = "auto", signed: bool = False
) -> list[str]:
    """Every cell of one column as text; floats share the column's decimals; ``signed``
    writes a ``+`` before positive numbers (differences)."""
    if decimals == "auto":
        decimals = auto_decimals(_numbers_of(column))
    texts = []
    for value in column:
        if _is_interval(value):
            texts.append(format_interval(value[0], value[1], decimals))
        elif is_missing(value):
            texts.append(MISSING)
        elif isinstance(value, bool):
            texts.append("yes" if value else "no")
        elif isinstance(value, numbers.Real):
            text = format_number(value, decimals)
            texts.append("+" + text if signed and value > 0 else text)
        else:
            texts.append(str(value))
    return texts


def _numeric(column: pd.Series) -> bool:
    """Whether a column holds numbers (or intervals) only: it is right-aligned."""
    present = [v for v in column if not is_missing(v)]
    return bool(present) and all(
        _is_interval(v) or (isinstance(v, numbers.Real) and not isinstance(v, bool))
        for v in present
    )


def readable(name: object) -> str:
    """A field name nobody renamed, as a reader sees it: ``train_min`` -> ``train min``."""
    return str(name).replace("_", " ")


@dataclass(frozen=True)
class Table:
    """A formatted table: ``frame`` holds the shown text of every cell."""

    frame: pd.DataFrame  # every cell a string, columns already renamed
    numeric: tuple[bool, ...]  # per column: right-aligned
    index_name: str | None  # the header of the row-name column, or None for no row names
    caption: str | None = None

    def __repr__(self) -> str:
        return self.frame.to_string(index=self.index_name is not None)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        escape = html.escape
        head = "".join(
            f'<th class="{"num" if num else "text"}">{escape(str(name))}</th>'
            for name, num in zip(self.frame.columns, self.numeric, strict=True)
        )
        if self.index_name is not None:
            head = f'<th class="text">{escape(self.index_name)}</th>' + head
        rows = []
        for name, row in self.frame.iterrows():
            cells = "".join(
                f'<td class="{"num" if num else "text"}">{escape(text)}</td>'
                for text, num in zip(row, self.numeric, strict=True)
            )
            if self.index_name is not None:
                cells = f'<th class="text">{escape(str(name))}</th>' + cells
            rows.append(f"<tr>{cells}</tr>")
        caption = f"<caption>{escape(self.caption)}</caption>" if self.caption else ""
        return (
            '<div class="bertedu-scroll bertedu-table"><table class="bertedu">'
            f"{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>"
        )


def _as_frame(data: object) -> tuple[pd.DataFrame, bool]:
    """``data`` as a DataFrame, and whether its index holds row names worth showing."""
    if isinstance(data, pd.DataFrame):
        named = not isinstance(data.index, pd.RangeIndex)
        return data, named
    if isinstance(data, Mapping):
        if not all(isinstance(row, Mapping) for row in data.values()):
            raise TypeError(
                "show_table: a mapping must map each row's name to a mapping of its "
                "values, e.g. {'BERT-Tiny': {'F1': 15.1}}"
            )
        return pd.DataFrame.from_dict(data, orient="index"), True
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        if not all(isinstance(row, Mapping) for row in data):
            raise TypeError("show_table: a list of rows must hold mappings (column -> value)")
        return pd.DataFrame(list(data)), False
    raise TypeError(
        f"show_table: expected a DataFrame, a list of row mappings or a mapping of row "
        f"names to rows, got {type(data).__name__}"
    )


def show_table(
    data: object,
    columns: Mapping[str, str] | Sequence[str] | None = None,
    decimals: Mapping[str, int | None] | int | None = None,
    index: str | None = "",
    caption: str | None = None,
    verbatim: Sequence[str] = (),
    signed: Sequence[str] = (),
) -> Table:
    """Format ``data`` for the page.

    ``columns`` selects, orders and names the shown columns: a mapping from field to
    readable name, or a list of fields (shown with underscores as spaces). Left out,
    every column is shown. ``decimals`` fixes the decimals of some columns (by
    field name) or of all; the others get :func:`auto_decimals`. ``index`` names the
    row-name column (row names are shown when the data has them: a mapping of rows,
    or a DataFrame with a non-default index); ``None`` hides them. Columns named in
    ``verbatim`` show their values as they are (ids and years: ``14324``, not ``14,324``);
    columns named in ``signed`` are differences, written ``+2.2`` and ``−1.6``.
    """
    frame, named_rows = _as_frame(data)
    if columns is not None:
        wanted = list(columns)
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:
            raise KeyError(
                f"show_table: no column {unknown} in the data; its columns are "
                f"{list(frame.columns)}"
            )
        frame = frame[wanted]
    names = (
        [columns[c] for c in frame.columns]
        if isinstance(columns, Mapping)
        else [readable(c) for c in frame.columns]
    )
    if len(set(names)) < len(names):
        raise ValueError(f"show_table: two columns would have the same name: {names}")
    per_column: dict[object, int | None | str] = {c: "auto" for c in frame.columns}
    if isinstance(decimals, Mapping):
        unknown = [c for c in decimals if c not in frame.columns]
        if unknown:
            raise KeyError(f"show_table: decimals for unknown columns {unknown}")
        per_column.update(decimals)
    elif decimals is not None:
        per_column = {c: decimals for c in frame.columns}
    unknown = [c for c in (*verbatim, *signed) if c not in frame.columns]
    if unknown:
        raise KeyError(f"show_table: verbatim or signed columns {unknown} are not in the data")
    shown = pd.DataFrame(
        {
            name: [str(v) for v in frame[c]]
            if c in verbatim
            else format_column(frame[c], per_column[c], signed=c in signed)
            for name, c in zip(names, frame.columns, strict=True)
        },
        index=[str(i) for i in frame.index],
    )
    numeric = tuple(_numeric(frame[c]) for c in frame.columns)
    index_name = None if (index is None or not named_rows) else index
    return Table(shown, numeric, index_name, caption)
