"""Make the files that run the shipped BERT-Tiny in the built book's pages (onnxruntime-web).

    python scripts/export_onnx.py            # into book/static/bert-tiny/ (the build runs it)
    python scripts/export_onnx.py --output DIR --force

Exports bertedu/checkpoints/bert-tiny-wiki to ONNX (MLM and NSP logits and every attention
map; see bertedu/viz/browser_model.py) and writes it and the vocabulary as the scripts
chapter 8's explorer loads on the first press of its button. The files are build products,
never committed: scripts/build_book.py runs this before Jupyter Book copies book/static/
into the book's _static/. A second run with the same weights, vocabulary and exporter
code does nothing (the manifest records what it was made from). A folder that is not empty
is written only when this script made it (its manifest tells); the files are written under
temporary names and moved into place at the end (bertedu.train.export_folder).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "book" / "static" / "bert-tiny"


def source_digest() -> str:
    """sha256 over what the files are made from: weights, vocabulary, exporter, torch version."""
    import torch

    from bertedu.tokenization import minilm_path
    from bertedu.viz import browser_model
    from bertedu.weights import pretrained_tiny_path

    digest = hashlib.sha256(torch.__version__.encode())
    for path in (
        pretrained_tiny_path() / "model.safetensors",
        minilm_path() / "vocab.txt",
        Path(browser_model.__file__),
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def made_here(folder: Path) -> bool:
    """Whether ``folder`` holds this script's manifest (the browser model's ``manifest.json``)."""
    from bertedu.viz.browser_model import MANIFEST

    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and {"files", "onnx_sha256", "opset"} <= set(manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to write")
    parser.add_argument("--force", action="store_true", help="export even if up to date")
    args = parser.parse_args(argv)

    from bertedu.train.export_folder import export_folder
    from bertedu.viz.browser_model import MANIFEST, write_browser_assets

    source = source_digest()
    manifest_path = args.output / MANIFEST
    if not args.force and made_here(args.output):
        if json.loads(manifest_path.read_text(encoding="utf-8")).get("source") == source:
            print(f"The browser model in {args.output} is up to date.")
            return 0
    start = time.perf_counter()
    try:
        with export_folder(args.output, recognised=made_here, what="export_onnx.py") as staging:
            manifest = write_browser_assets(staging)
            manifest["source"] = source
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    except (FileExistsError, NotADirectoryError) as error:
        raise SystemExit(f"export_onnx.py: {error}") from None
    megabytes = sum(manifest["files"].values()) / 1e6
    print(
        f"Exported BERT-Tiny for the browser into {args.output} in "
        f"{time.perf_counter() - start:.1f} s: {megabytes:.1f} MB, loaded by a page on first use."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
