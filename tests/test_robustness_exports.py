"""The export scripts write only into folders they made (issue 35, item 1): a user's folder is
refused untouched, intermediate files have temporary names, a failed export changes nothing."""

from __future__ import annotations

import shutil

import pytest
from book_scripts import load_script

from bertedu.weights import TINY_WIKI_DIR


def folder_bytes(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def users_folder(tmp_path, *names: str):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(f"the user's own {name}\n")
    return folder


def test_export_onnx_refuses_a_folder_it_did_not_make(tmp_path):
    export_onnx = load_script("export_onnx")
    mine = users_folder(tmp_path, "manifest.json", "model.js", "bert-tiny.onnx")
    before = folder_bytes(mine)
    with pytest.raises(SystemExit, match="not made by export_onnx.py"):
        export_onnx.main(["--output", str(mine)])
    with pytest.raises(SystemExit, match="not made by export_onnx.py"):
        export_onnx.main(["--output", str(mine), "--force"])
    assert folder_bytes(mine) == before


def test_export_onnx_writes_through_temporary_names(tmp_path, monkeypatch):
    from bertedu.viz import browser_model

    export_onnx = load_script("export_onnx")
    seen = []

    def watched(model, path):
        seen.append(path)
        raise RuntimeError("the exporter failed")  # after the graph's name was chosen

    monkeypatch.setattr(browser_model, "export_onnx", watched)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="exporter failed"):
        export_onnx.main(["--output", str(out)])
    assert seen and seen[0].parent.name.startswith(".export.tmp-")  # not the folder's own name
    assert not out.exists()  # a failed export leaves nothing behind


def test_export_pretrained_refuses_a_folder_it_did_not_make(tmp_path):
    export_pretrained = load_script("export_pretrained")
    mine = users_folder(tmp_path, "config.json", "MODEL_CARD.md")
    before = folder_bytes(mine)
    with pytest.raises(SystemExit, match="not made by export_pretrained.py"):
        export_pretrained.main([str(tmp_path / "no-run"), "--target", str(mine)])
    assert folder_bytes(mine) == before


def test_export_pretrained_rewrites_its_own_folder_and_keeps_it_on_failure(tmp_path):
    export_pretrained = load_script("export_pretrained")
    shipped = tmp_path / "shipped"
    shutil.copytree(TINY_WIKI_DIR, shipped)  # made by the script: its metrics.json tells
    (shipped / "NOTES.txt").write_text("why this run")
    assert export_pretrained.made_here(shipped)
    before = folder_bytes(shipped)
    run_dir = tmp_path / "run"  # no run.json: the export fails after the claim
    with pytest.raises(FileNotFoundError):
        export_pretrained.main([str(run_dir), "--target", str(shipped)])
    assert folder_bytes(shipped) == before
    assert not list(shipped.glob(".export.tmp-*"))
