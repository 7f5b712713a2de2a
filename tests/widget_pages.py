"""Widgets saved as a page the way the book saves them, for tests that open it in Chromium.

``write_widget_page(folder, widgets)`` stores the widgets' state (``ipywidgets.embed``,
what "Save widget state" stores in a notebook) in ``folder/page.html``, with the book's
own offline widget manager (require.js, ``book/static/js/widgets-offline.js``, the
vendored html-manager and anywidget front end) under ``folder/_static`` as in the built
book. The vendored files come from ``scripts/fetch_web_assets.sh`` (npm): without them,
:func:`need_vendored_manager` skips the test, except under CI, where it fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "book" / "static"
MANAGER_FILES = ("vendor/require.js", "vendor/widgets/embed-amd.js", "vendor/anywidget/index.js")


def need_vendored_manager() -> None:
    """Skip (fail under CI) when the offline widget manager is not vendored."""
    missing = [name for name in MANAGER_FILES if not (STATIC / name).is_file()]
    if missing:
        message = f"not vendored: {missing}; run bash scripts/fetch_web_assets.sh (npm)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def script_json(data: object) -> str:
    """JSON that cannot close the ``<script>`` element holding it."""
    return json.dumps(data).replace("</", "<\\/")


def link_manager(static: Path) -> None:
    """Put the offline widget manager's files into a book's ``_static`` folder (as links)."""
    need_vendored_manager()
    for name in ("js", "vendor/require.js", "vendor/widgets", "vendor/anywidget"):
        target = static / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(STATIC / name)


def write_widget_page(
    folder: Path, widgets: list, *, name: str = "page.html", root: str = "", html_attrs: str = ""
) -> Path:
    """A page showing ``widgets`` from their stored state, each in a ``div.cell``; its path.

    ``root`` is the book's root relative to the page (``"../"`` for a chapter page, whose
    ``_static`` is then ``folder/../_static``, set up with :func:`link_manager`); without
    it, ``folder/_static`` links to ``book/static``. ``html_attrs`` go on ``<html>``.
    """
    from ipywidgets.embed import embed_data

    need_vendored_manager()
    static = folder / "_static"
    if not root and not static.exists():
        static.symlink_to(STATIC, target_is_directory=True)
    data = embed_data(views=widgets, drop_defaults=False)  # as a notebook stores it: all of it
    cells = "".join(
        '<div class="cell"><div class="cell_output">'
        f'<script type="application/vnd.jupyter.widget-view+json">{script_json(spec)}</script>'
        "</div></div>"
        for spec in data["view_specs"]
    )
    path = folder / name
    path.write_text(
        f'<!doctype html><html {html_attrs}><head><meta charset="utf-8">'
        f'<script src="{root}_static/vendor/require.js"></script>'
        f'<script src="{root}_static/js/widgets-offline.js"></script>'
        f'<script src="{root}_static/vendor/widgets/embed-amd.js" '
        f'data-jupyter-widgets-cdn="{root}_static/vendor/widgets/"></script>'
        '<script type="application/vnd.jupyter.widget-state+json">'
        f"{script_json(data['manager_state'])}</script></head>"
        f'<body style="width: 900px">{cells}</body></html>',
        encoding="utf-8",
    )
    return path
