"""The scripts that execute notebooks and build the book."""

from pathlib import Path

import nbformat
import yaml
from book_scripts import SCRIPTS, load_script


def write_notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, path)
    return path


def test_cdn_config_keeps_everything_but_the_offline_assets():
    build_book = load_script("build_book")
    original = yaml.safe_load((SCRIPTS.parent / "_config.yml").read_text())
    fallback = yaml.safe_load(build_book.cdn_config(SCRIPTS.parent / "_config.yml").read_text())
    assert set(original["sphinx"]["config"]) >= set(build_book.OFFLINE_KEYS)
    assert not set(fallback["sphinx"]["config"]) & set(build_book.OFFLINE_KEYS)
    assert fallback["execute"] == original["execute"] == {"execute_notebooks": "off"}
    assert fallback["title"] == original["title"]


def test_execution_stores_outputs_profile_and_widget_state(tmp_path):
    execute_notebooks = load_script("execute_notebooks")
    path = write_notebook(
        tmp_path / "01_demo.ipynb",
        "import os\nprint(os.environ['BERTEDU_PROFILE'])",
        "import ipywidgets\nipywidgets.IntSlider(value=3)",
    )
    execute_notebooks.execute(path, "smoke", timeout=120)
    notebook = nbformat.read(path, as_version=4)
    assert notebook.cells[0].outputs[0]["text"].strip() == "smoke"
    assert notebook.metadata["bertedu"] == {"profile": "smoke"}
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(
        model["model_name"] == "IntSliderModel" and model["state"]["value"] == 3
        for model in state.values()
    )


def test_a_failing_notebook_is_reported_and_left_unchanged(tmp_path, capsys):
    execute_notebooks = load_script("execute_notebooks")
    path = write_notebook(tmp_path / "02_broken.ipynb", "1 / 0")
    before = path.read_text()
    assert execute_notebooks.main([str(path), "--profile", "smoke", "--timeout", "120"]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert path.read_text() == before


def test_missing_notebook_is_named(tmp_path, capsys):
    execute_notebooks = load_script("execute_notebooks")
    assert execute_notebooks.main([str(tmp_path / "nope.ipynb")]) == 1
    assert "No such notebook" in capsys.readouterr().err


def test_layout_check_flags_overflow_but_lets_tables_scroll(tmp_path):
    """A too-wide code block and equation-like box fail; a wide table in a scroller does not."""
    import shutil

    import pytest

    check_layout = load_script("check_layout")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed")
    wide = "x" * 300
    page_html = f"""<html><body style="width: 1280px"><article class="bd-article"
        style="width: 600px"><div class="cell"><div class="cell_input"><pre
        style="overflow: auto">{wide}</pre></div><div class="cell_output"><div
        class="output text_html" style="overflow-x: auto"><table><tr><td>{wide}</td></tr>
        </table></div></div></div><pre>short enough</pre><div class="cell"><div
        class="cell_output"><pre style="white-space: pre-wrap">{"word " * 200}</pre></div>
        </div><p style="width: 900px">a paragraph too wide</p></article></body></html>"""
    path = tmp_path / "page.html"
    path.write_text(page_html)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=check_layout.CHROMIUM_FLAGS
        )
        page = browser.new_page(viewport=check_layout.VIEWPORT)
        page.goto(path.as_uri())
        problems = check_layout.layout_problems(page)
        browser.close()
    assert len(problems) == 1, problems
    assert problems[0].startswith('cell 1, pre "xxx') and "wider than its box" in problems[0]


def test_every_unenforced_page_is_a_page_of_the_book():
    """An exemption must name a real page (a stale one would hide nothing and mislead)."""
    check_layout = load_script("check_layout")
    repo = SCRIPTS.parent
    toc = (repo / "_toc.yml").read_text()
    for page in check_layout.UNENFORCED_PAGES:
        stem = page.removesuffix(".html")
        if stem == "index":
            continue  # the root page jupyter-book makes from the toc's root
        sources = [repo / f"{stem}{suffix}" for suffix in (".ipynb", ".md")]
        assert any(source.exists() for source in sources), page
        assert stem in toc, page


def test_an_overflow_fails_the_check_only_on_an_enforced_page(tmp_path, monkeypatch, capsys):
    import shutil

    import pytest

    check_layout = load_script("check_layout")
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed")
    html = tmp_path / "html"
    (html / "notebooks").mkdir(parents=True)
    (html / "index.html").write_text("<html><body>index</body></html>")
    overflowing = f"""<html><body style="width: 1280px"><article class="bd-article"
        style="width: 600px"><div class="cell"><div class="cell_input"><pre
        style="overflow: auto">{"x" * 300}</pre></div></div></article></body></html>"""
    # A page nobody listed anywhere (a new chapter) is enforced; only an exemption warns.
    enforced, draft = "notebooks/98_new_chapter.html", "notebooks/99_draft.html"
    monkeypatch.setattr(check_layout, "UNENFORCED_PAGES", (draft,))
    assert check_layout.is_enforced(enforced) and not check_layout.is_enforced(draft)
    assert check_layout.is_enforced(draft, enforce_all=True)
    for name in (enforced, draft):
        (html / name).write_text(overflowing)
    monkeypatch.setattr(check_layout, "HTML", html)
    assert check_layout.main([draft]) == 0
    assert "warn notebooks/99_draft.html: 1 overflowing" in capsys.readouterr().out
    assert check_layout.main([enforced]) == 1
    assert "FAIL notebooks/98_new_chapter.html: 1 overflowing" in capsys.readouterr().out
