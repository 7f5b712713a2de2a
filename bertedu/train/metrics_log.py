"""The metrics log: one JSON object per line, appended as training goes.

JSON lines survive a crash (every complete line is a record), can be read
while the run is going (``tail -f``, or :func:`read_metrics` in a notebook),
and need no library. A train record looks like
``{"split": "train", "step": 100, "loss": 6.1, "mlm_loss": 5.4, "nsp_loss": 0.69, "lr": 0.001,
...}``;
an evaluation record has ``"split": "eval"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_metrics(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """All records of a metrics log (those of ``split`` if given).

    A line that is not a JSON object (one torn by a killed process, or garbage
    written into the file) is skipped: the log is a record of training, and a
    damaged line must not stop a resumption.
    """
    records = []
    path = Path(path)
    if not path.exists():
        return records
    _require_file(path)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
        if not isinstance(record, dict):
            continue
        if split is None or record.get("split") == split:
            records.append(record)
    return records


def _require_file(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise IsADirectoryError(
            f"The metrics log {path} is not a file. Move it away (the run writes its log there) "
            "or pass another metrics_path."
        )


def _step(record: dict[str, Any]) -> float:
    """The record's step (0 if absent); a non-numeric one counts as after every step."""
    step = record.get("step", 0)
    return step if isinstance(step, (int, float)) else float("inf")


class MetricsLog:
    """Append-only JSON-lines file of training and evaluation records."""

    def __init__(self, path: str | Path, *, resume_from_step: int | None = None) -> None:
        """Open ``path``; when resuming, drop the records written after ``resume_from_step``.

        A run killed at step 130 after checkpointing at 100 logged steps 101-130
        that the resumed run will redo; keeping them would draw those steps twice.
        Without ``resume_from_step`` an existing log is started afresh.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _require_file(self.path)
        kept = (
            []
            if resume_from_step is None
            else [r for r in read_metrics(self.path) if _step(r) <= resume_from_step]
        )
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (flushed at once, so a reader sees it)."""
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
