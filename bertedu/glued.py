"""Read back the values a chapter glued (``myst_nb.glue``) from its stored outputs.

A chapter that quotes another chapter's numbers (chapter 9 quotes chapters 6 and 7)
and the GPU check's summary read them here, from the notebook file itself, so a number
is computed once, by the cell that glued it, and never typed again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_NUMPY_SCALAR = re.compile(r"np\.(?:float|int)\d+\((.*)\)")  # numpy 2's repr: np.float64(1.5)


def glued_values(path: str | Path) -> dict[str, float | str]:
    """``{name: value}`` for every ``glue(name, value)`` stored in the notebook at ``path``:
    numbers as floats, anything else as its text (quotes stripped). A missing file gives
    ``{}`` (a notebook not executed yet has glued nothing)."""
    path = Path(path)
    if not path.exists():
        return {}
    notebook = json.loads(path.read_text(encoding="utf-8"))
    values: dict[str, float | str] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            if "name" not in record:
                continue
            text = output.get("data", {}).get(record.get("mime_prefix", "") + "text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            numpy_scalar = _NUMPY_SCALAR.fullmatch(text)
            text = numpy_scalar.group(1) if numpy_scalar else text
            try:
                values[record["name"]] = float(text)
            except ValueError:
                values[record["name"]] = text.strip("'\"")
    return values
