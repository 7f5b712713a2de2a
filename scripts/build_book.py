"""Build the HTML book into _build/html from the notebooks' stored outputs.

    python scripts/build_book.py            # a normal build
    python scripts/build_book.py --strict   # Sphinx warnings are errors (the tests use this)

When scripts/fetch_web_assets.sh could not vendor MathJax and the widget
manager (no npm), the build uses a copy of _config.yml without the offline
overrides, so the pages load those scripts from their CDNs instead. Before the
build, scripts/export_onnx.py makes the browser copy of the shipped BERT-Tiny
(book/static/bert-tiny/, about 11 MB, loaded only when a reader presses the
button of chapter 8's explorer).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
VENDOR_MARKER = REPO / "book" / "static" / "vendor" / ".complete"
OFFLINE_KEYS = ("mathjax_path", "nb_ipywidgets_js")


def cdn_config(config_path: Path) -> Path:
    """Write a copy of the book config without the offline asset keys; return its path."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    sphinx_config = config.get("sphinx", {}).get("config", {})
    for key in OFFLINE_KEYS:
        sphinx_config.pop(key, None)
    handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, encoding="utf-8")
    with handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return Path(handle.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail on any Sphinx warning")
    args = parser.parse_args(argv)

    # The console script sits next to the interpreter (the venv's bin/).
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "--all"]
    if args.strict:
        command += ["--warningiserror", "--keep-going"]
    if not VENDOR_MARKER.exists():
        print(
            "Offline web assets missing (run scripts/fetch_web_assets.sh with npm): "
            "building a book that loads MathJax and widgets from CDNs.",
            file=sys.stderr,
        )
        command += ["--config", str(cdn_config(REPO / "_config.yml"))]
    # Chapter 8's explorer runs the shipped BERT-Tiny in the page: its ONNX graph and
    # vocabulary go into book/static/bert-tiny/ (skipped when up to date).
    exported = subprocess.run([sys.executable, str(REPO / "scripts" / "export_onnx.py")], cwd=REPO)
    if exported.returncode != 0:
        print("Exporting BERT-Tiny for the browser failed (see above).", file=sys.stderr)
        return exported.returncode
    # Start from an empty output folder so pages of removed files cannot linger.
    shutil.rmtree(REPO / "_build" / "html", ignore_errors=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO)
    if result.returncode == 0:
        print(
            f"Book built in {time.perf_counter() - start:.1f} s: open "
            f"{REPO / '_build/html/index.html'}"
        )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
