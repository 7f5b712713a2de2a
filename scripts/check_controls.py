"""No dead control on any page: every select, slider and toggle changes what its cell shows.

Every page of the built book is opened from disk in headless Chromium, with every request
outside the book aborted and no kernel, as a reader opens the static book. On each page,
every control a reader can move one step is moved one step:

- a ``<select>`` with more than one entry: the next entry;
- a slider (``<input type="range">``, or an ipywidgets slider handle): one key press;
- a toggle (a checkbox, a radio button, an ipywidgets toggle button): one click.

After each move, the control's own cell (the ``div.cell`` holding it: its code, its
widgets and its outputs) must show another picture or another text within a few seconds.
The control itself, with its label and its readout (the number next to a slider, the
label a checkbox carries), is left out of that comparison: a slider whose number changes
while its picture stays the same is a dead control. A page without controls passes.

    python scripts/check_controls.py [--html DIR] [PAGE ...]

``--html`` checks another built book (default: ``_build/html``); PAGEs (paths relative to
it, or file names) limit the check to those pages. The exit status is 1 when a control is
dead, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_book import (  # noqa: E402
    CHROMIUM_FLAGS,
    HTML,
    book_pages,
    find_chromium,
    load_settled,
    print_failures,
    record,
    route_offline,
)

#: How long a moved control's cell has to change (a widget manager redraws asynchronously).
CHANGE_TIMEOUT_S = 5.0
#: How long a page's stored widgets have to render before its controls are collected.
RENDER_TIMEOUT_MS = 20_000

#: What a reader can move one step: native selects, sliders and toggles, and the ipywidgets
#: ones the HTML manager draws without native inputs (slider handles, toggle buttons).
CONTROLS = (
    "select",
    'input[type="range"]',
    'input[type="checkbox"]',
    'input[type="radio"]',
    ".noUi-handle",
    "button.widget-toggle-button",
)

# Runs in the page: whether the widget manager has drawn every stored widget (each view
# sits in a .widget-subarea; an anywidget's view stays empty until its module has run).
WIDGETS_DRAWN = """
() => {
  const areas = [...document.querySelectorAll(".widget-subarea")];
  const drawn = (a) => a.firstElementChild && a.firstElementChild.childElementCount > 0;
  return areas.length > 0 && areas.every(drawn);
}
"""

# Runs in the page: marks every control with data-cc (its number) and says what it is.
COLLECT = """
(selectors) => {
  const found = [];
  document.querySelectorAll(selectors.join(",")).forEach((control) => {
    const cell = control.closest("div.cell");
    if (!cell || control.closest("[hidden], .toggle-hidden")) return;
    if (control.disabled || control.getAttribute("aria-disabled") === "true") return;
    control.setAttribute("data-cc", String(found.length));
    found.push({
      tag: control.tagName.toLowerCase(),
      type: control.getAttribute("type") || "",
      handle: control.classList.contains("noUi-handle"),
      label: (control.getAttribute("aria-label") || control.getAttribute("data-control") ||
              control.closest("label, .widget-inline-hbox")?.innerText || control.innerText ||
              control.tagName).trim().split("\\n")[0].slice(0, 60),
    });
  });
  return found;
}
"""

# Runs in the page: what the cell of control n shows, leaving out the control itself, its
# label and its readout (the control's closest <label> or ipywidgets row). Text, drawings
# (SVG markup, canvas pixels, image sources) and the state of the other inputs all count.
SHOWN = """
(n) => {
  const control = document.querySelector(`[data-cc="${n}"]`);
  const cell = control.closest("div.cell");
  const own = control.closest("label, .widget-inline-hbox, .widget-toggle-buttons") || control;
  const parts = [];
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let node = walker.currentNode; node; node = walker.nextNode()) {
    if (own.contains(node)) continue;
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) parts.push(text);
      continue;
    }
    const tag = node.tagName.toLowerCase();
    if (tag === "canvas") parts.push("canvas:" + node.toDataURL());
    else if (tag === "img") parts.push("img:" + node.src);
    else if (node instanceof SVGElement && tag !== "svg") {
      parts.push(tag + ":" + [...node.attributes].map((a) => a.name + "=" + a.value).join(" "));
    } else if (tag === "input" || tag === "select") {
      const toggle = node.type === "checkbox" || node.type === "radio";
      parts.push(tag + ":" + (toggle ? node.checked : node.value));
    }
  }
  return parts.join("\\n");
}
"""


def move(page, index: int, control: dict) -> bool:
    """Move control ``index`` one step as a reader would; False when it cannot move."""
    locator = page.locator(f'[data-cc="{index}"]')
    locator.scroll_into_view_if_needed()
    if control["tag"] == "select":
        values = locator.evaluate("m => [...m.options].filter(o => !o.disabled).map(o => o.value)")
        if len(values) < 2:
            return False
        current = locator.evaluate("m => m.value")
        following = (
            values[(values.index(current) + 1) % len(values)] if current in values else values[0]
        )
        locator.select_option(following)
    elif control["type"] == "range" or control["handle"]:
        at_end = locator.evaluate(
            "s => s.matches('input') ? Number(s.value) >= Number(s.max)"
            " : Number(s.getAttribute('aria-valuenow')) >= Number(s.getAttribute('aria-valuemax'))"
        )
        locator.focus()
        locator.press("ArrowLeft" if at_end else "ArrowRight")
    elif control["type"] == "radio":
        if locator.is_checked():  # the selected radio cannot move; the others can
            return False
        locator.check(force=True)
    elif control["tag"] == "button":
        if "mod-active" in (locator.get_attribute("class") or ""):
            return False  # the selected toggle button; the others move
        locator.click()
    else:
        locator.click(force=True)
    return True


def changed(page, index: int, before: str) -> bool:
    """Whether control ``index``'s cell shows something else within CHANGE_TIMEOUT_S."""
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while time.monotonic() < deadline:
        if page.evaluate(SHOWN, index) != before:
            return True
        page.wait_for_timeout(100)
    return False


def page_problems(page, path: Path) -> list[str]:
    """Open one page and move each of its controls; the dead ones (and load problems)."""
    problems = load_settled(page, path)
    if problems:
        return problems
    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        try:  # shown widgets: wait for the manager to draw them before collecting controls
            page.wait_for_function(WIDGETS_DRAWN, timeout=RENDER_TIMEOUT_MS)
        except Exception:  # Playwright's TimeoutError: a finding, not a crash
            return ["the page shows a widget but none rendered"]
    controls = page.evaluate(COLLECT, list(CONTROLS))
    for index, control in enumerate(controls):
        before = page.evaluate(SHOWN, index)
        try:
            moved = move(page, index, control)
        except Exception as error:  # Playwright: the control could not be moved
            problems.append(f"{control['label']!r} ({control['tag']}) cannot be moved: {error}")
            continue
        if moved and not changed(page, index, before):
            problems.append(
                f"dead control: moving {control['label']!r} ({control['tag']}"
                f"{' ' + control['type'] if control['type'] else ''}) changed nothing in its cell"
            )
    return problems


def selected_pages(html: Path, names: list[str]) -> list[Path]:
    """The pages to check: every page of the book, or those named (relative path or file name)."""
    pages = book_pages(html)
    if not names:
        return pages
    chosen = [p for p in pages if p.relative_to(html).as_posix() in names or p.name in names]
    unknown = sorted(
        set(names) - {p.relative_to(html).as_posix() for p in chosen} - {p.name for p in chosen}
    )
    if unknown:
        raise ValueError(f"no such page in {html}: {', '.join(unknown)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="pages to check (default: every page)")
    parser.add_argument(
        "--html", type=Path, default=HTML, help="the built book (default: _build/html)"
    )
    args = parser.parse_args(argv)
    html = args.html.resolve()
    if not (html / "index.html").exists():
        parser.error(f"no built book at {html}: build it first (scripts/build_book.py)")
    try:
        pages = selected_pages(html, args.pages)
    except ValueError as error:
        parser.error(str(error))
    chromium = find_chromium()
    if chromium is None:
        print(
            "Control check SKIPPED: Chromium is not installed (apt-get install chromium).",
            file=sys.stderr,
        )
        return 1 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else 0

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    failures: dict[str, list[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        for path in pages:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            route_offline(page, outside=[])  # check_book.py reports requests outside the book
            try:
                problems = page_problems(page, path)
            except PlaywrightError as error:
                problems = [f"the check of this page failed: {str(error).splitlines()[0]}"]
            finally:
                page.close()
            record(failures, path.relative_to(html).as_posix(), problems)
        browser.close()
    print_failures(failures)
    print(
        f"Control check: {len(pages) - len(failures)} of {len(pages)} pages without a dead control."
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
