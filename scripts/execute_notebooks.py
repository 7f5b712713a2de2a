"""Re-execute notebooks and store their outputs and widget state in place.

This is the only way the book's stored outputs are produced: every number and
plot a reader sees in the rendered book comes from running this script, in the
profile a CPU reader gets (``cpu``) unless ``--profile`` says otherwise.

    python scripts/execute_notebooks.py                 # every notebook
    python scripts/execute_notebooks.py notebooks/01_*.ipynb --profile smoke

Widget state is saved (``store_widget_state=True``, what Jupyter's "Save widget
state" does) so ipywidgets render in the static book without a kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def execute(path: Path, profile: str, timeout: int) -> float:
    """Execute one notebook in place; return the wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    # nbclient writes widget state only when the run made widgets: drop the old state
    # first, or a notebook that no longer makes any keeps a stale snapshot of them.
    notebook.metadata.pop("widgets", None)
    os.environ["BERTEDU_PROFILE"] = profile  # inherited by the kernel process
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    for cell in notebook.cells:
        if cell.cell_type == "code" and any(
            o.get("output_type") == "error" for o in cell.get("outputs", [])
        ):
            raise RuntimeError(
                f"{path.name}: a cell stored an error output; fix it before committing."
            )
    # Record which profile produced the stored outputs (the tests check it is "cpu").
    notebook.metadata["bertedu"] = {"profile": profile}
    nbformat.write(notebook, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="notebooks to run (default: every notebooks/*.ipynb)",
    )
    parser.add_argument(
        "--profile",
        default="cpu",
        choices=("smoke", "cpu", "gpu"),
        help="run profile stored in the outputs (default: cpu, what a laptop reader sees)",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are noise in stored outputs
    os.environ.setdefault(
        "HF_DATASETS_DISABLE_PROGRESS_BARS", "1"
    )  # datasets' own bars (Dataset.map)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("No notebooks found.", file=sys.stderr)
        return 1
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"No such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"Executing {path} (profile {args.profile}) ...", flush=True)
        try:
            seconds = execute(path.resolve(), args.profile, args.timeout)
        except CellExecutionError as error:
            print(f"FAILED {path}:\n{error}", file=sys.stderr)
            return 1
        print(f"  stored outputs in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
