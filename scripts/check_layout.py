"""Check that nothing on the book's pages overflows the article column at 1280 px.

Every page of the built book is opened in headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright, as scripts/check_book.py does), at a
1280 x 900 viewport, with every collapsed block opened (hidden cell outputs,
dropdown solutions), because a reader opens them. A block overflows when

- it reaches beyond the right edge of the article column;
- it is a code block, a text output or a display equation whose content is wider
  than its box (it scrolls sideways, or spills): code must fit its 88 columns,
  long outputs must be wrapped or trimmed, long equations split;
- it is a figure shown at less than half its stored width, so that its labels
  are too small to read.

Wide tables may scroll, but only inside a container styled as a scroller (a
stored HTML output, or an element of class ``bertedu-scroll``; book/static/
bertedu.css draws them with a border and a scroll shadow).

The check fails for every page of the book, a chapter added later included. A page
listed in ``UNENFORCED_PAGES`` is only reported, while its layout is being fixed
(``--all`` enforces it too); the list is empty today.

    python scripts/check_layout.py [--all] [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_book import (  # noqa: E402
    CHROMIUM_FLAGS,
    HTML,
    book_pages,
    find_chromium,
    load_settled,
    route_offline,
)

#: Pages (relative to _build/html) whose overflows are reported but do not fail the check:
#: none. Every other page is enforced, so a new chapter is checked from its first build; list
#: a page here only while its layout is being fixed.
UNENFORCED_PAGES: tuple[str, ...] = ()


def is_enforced(name: str, enforce_all: bool = False) -> bool:
    """Whether an overflow on page ``name`` (relative to _build/html) fails the check."""
    return enforce_all or name not in UNENFORCED_PAGES


VIEWPORT = {"width": 1280, "height": 900}
#: Every chapter page (and the measurements page) must stay short enough to read as one story:
#: its height in px at the viewport's width, collapsed blocks closed (as a reader first scrolls
#: through them).
CHAPTER_PAGES = "notebooks/"
MAX_CHAPTER_HEIGHT = 25_000


def height_limit(name: str) -> int | None:
    """The most px page ``name`` (relative to _build/html) may be tall, or None for no limit."""
    return MAX_CHAPTER_HEIGHT if name.startswith(CHAPTER_PAGES) else None


#: A figure displayed at less than this fraction of its stored width has unreadable labels.
MIN_FIGURE_SCALE = 0.5

# Runs in the page: open what a reader can open, then measure every block of the article.
MEASURE = """
() => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  document.querySelectorAll(".toggle-hidden").forEach((e) => e.classList.remove("toggle-hidden"));
  const article = document.querySelector("article.bd-article") || document.body;
  const column = article.getBoundingClientRect();
  const cells = [...article.querySelectorAll("div.cell")];
  const where = (el) => {
    const cell = el.closest("div.cell");
    const text = (el.innerText || el.getAttribute("alt") || "").trim().split("\\n")[0];
    const label = cell ? `cell ${cells.indexOf(cell) + 1}` : "text";
    return `${label}, ${el.tagName.toLowerCase()} "${text.slice(0, 50)}"`;
  };
  const scroller = (el) => el.closest("div.output.text_html, .bertedu-scroll");
  const found = [];
  const blocks = article.querySelectorAll(
    "pre, div.math, mjx-container[display='true'], table, img, div.cell_output > div.output"
  );
  for (const el of blocks) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const wide = el.scrollWidth - el.clientWidth;
    if (box.right > column.right + 1) {
      const contained = el.tagName === "TABLE" && scroller(el) &&
        scroller(el).getBoundingClientRect().right <= column.right + 1;
      if (!contained) {
        found.push(`${where(el)}: reaches ${Math.round(box.right - column.right)} px ` +
          "beyond the column");
        continue;
      }
    }
    const isTableScroller = el.matches("div.output") && el.querySelector("table") &&
      scroller(el) === el;
    if (wide > 1 && !isTableScroller && el.tagName !== "TABLE" && el.tagName !== "IMG") {
      found.push(`${where(el)}: content is ${wide} px wider than its box`);
    }
    if (el.tagName === "IMG" && el.naturalWidth > 0) {
      const scale = box.width / el.naturalWidth;
      if (scale < MIN_SCALE) {
        found.push(`${where(el)}: figure shown at ${Math.round(scale * 100)}% of its ` +
          `${el.naturalWidth} px width, labels too small to read`);
      }
    }
  }
  return found;
}
""".replace("MIN_SCALE", str(MIN_FIGURE_SCALE))


def layout_problems(page) -> list[str]:
    """Overflowing blocks of the loaded (settled) Playwright ``page``, one line each."""
    if page.locator(".math").count():
        try:  # measure typeset equations, not their TeX source
            page.wait_for_function(
                "n => document.querySelectorAll('mjx-container').length >= n",
                arg=page.locator(".math").count(),
                timeout=20000,
            )
        except Exception:  # Playwright's TimeoutError: check_book.py reports untypeset math
            pass
    return page.evaluate(MEASURE)


def height_problems(page, name: str) -> list[str]:
    """The page's height, if it is over its ``height_limit`` (measured before
    ``layout_problems`` opens the collapsed blocks)."""
    limit = height_limit(name)
    if limit is None:
        return []
    height = page.evaluate("document.documentElement.scrollHeight")
    if height <= limit:
        return []
    return [f"page is {height:,} px tall at {VIEWPORT['width']} px, over its {limit:,} px limit"]


def check_page(browser, path: Path, screenshots: Path | None) -> list[str]:
    page = browser.new_page(viewport=VIEWPORT)
    route_offline(page, outside=[])  # check_book.py reports requests outside the book
    name = path.relative_to(HTML).as_posix()
    problems = load_settled(page, path) or height_problems(page, name) + layout_problems(page)
    if screenshots is not None:
        name = "_".join(path.relative_to(HTML).with_suffix(".png").parts)
        page.screenshot(path=str(screenshots / name), full_page=True)
    page.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all", action="store_true", help="enforce the pages in UNENFORCED_PAGES too"
    )
    parser.add_argument("--screenshots", type=Path, help="save a full-page screenshot of each page")
    parser.add_argument("pages", nargs="*", help="only these pages (relative to _build/html)")
    args = parser.parse_args(argv)
    if not (HTML / "index.html").exists():
        print(f"No built book at {HTML}: run scripts/build_book.py first.", file=sys.stderr)
        return 1
    chromium = find_chromium()
    if chromium is None:
        in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
        print("Layout check SKIPPED: Chromium is not installed.", file=sys.stderr)
        return 1 if in_ci else 0
    pages = book_pages()
    if args.pages:
        pages = [HTML / name for name in args.pages]
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    failed, warned = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        for path in pages:
            name = path.relative_to(HTML).as_posix()
            problems = check_page(browser, path, args.screenshots)
            enforced = is_enforced(name, args.all)
            status = "ok  " if not problems else ("FAIL" if enforced else "warn")
            print(f"{status} {name}" + (f": {len(problems)} overflowing" if problems else ""))
            for problem in problems:
                print(f"       {problem}")
            (failed if enforced else warned).extend([name] if problems else [])
        browser.close()
    print(
        f"Layout check at {VIEWPORT['width']} px: {len(pages) - len(failed) - len(warned)} of "
        f"{len(pages)} pages fit; failing: {len(failed)}; overflowing but not enforced yet "
        f"(remove them from UNENFORCED_PAGES in scripts/check_layout.py once fixed): "
        f"{len(warned)}."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
