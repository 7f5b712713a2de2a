"""scripts/check_layout.py fails a chapter page taller than 25,000 px at 1,280 px."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_layout.py"


def load_check_layout():
    spec = importlib.util.spec_from_file_location("check_layout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_page_over_its_height_limit_fails_and_one_under_it_passes(tmp_path, monkeypatch, capsys):
    check_layout = load_check_layout()
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed")
    name = "notebooks/07_generative_qa.html"
    limit = check_layout.height_limit(name)
    assert limit == 25_000 and check_layout.height_limit("intro.html") is None
    html = tmp_path / "html"
    (html / "notebooks").mkdir(parents=True)
    (html / "index.html").write_text("<html><body>index</body></html>")
    monkeypatch.setattr(check_layout, "HTML", html)
    page = '<html><body><article class="bd-article"><div style="height: {}px">text</div>'
    page += "</article></body></html>"
    (html / name).write_text(page.format(limit + 2_000))
    assert check_layout.main([name]) == 1
    assert f"over its {limit:,} px limit" in capsys.readouterr().out
    (html / name).write_text(page.format(limit - 2_000))
    assert check_layout.main([name]) == 0
    assert "ok   notebooks/07_generative_qa.html" in capsys.readouterr().out
