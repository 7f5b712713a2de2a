"""A Sphinx extension: every page lists each of its scripts once.

Jupyter Book 1.0.4 runs sphinx-thebe's set-up twice per build, so each page carried its
inline configuration (``const THEBE_JS_URL = ...``) twice and the browser threw
"Identifier 'THEBE_JS_URL' has already been declared" on every page. Dropping repeats
of the same script (same file, same attributes, same inline body) fixes that for this
and any other script added twice.
"""

from __future__ import annotations


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # an inline script's file name is None or "" depending on who added it
    return getattr(script, "filename", str(script)) or "", tuple(sorted(attributes.items()))


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of each script in the page's ``script_files``."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
