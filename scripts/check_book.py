"""Open every page of the built book in headless Chromium, as a reader would.

Checks, page by page:
- nothing is requested from outside the book (no CDN, no font server): every
  request must be a file:, data: or blob: URL;
- math is typeset: every Sphinx math element became a MathJax container;
- every image (the stored plots) and every file the page asks for loaded;
- widgets with stored state rendered as controls;
- every attention explorer (bertedu.viz.widget.AttentionExplorer) redraws: moving each of
  its controls (layer, head, hide special tokens, each view, example, model) and
  hovering a token changes the picture (a screenshot of it), with no kernel;
- an explorer with a text box (chapter 8: BERT-Tiny in the page) runs it offline:
  typing a sentence with a [MASK] and pressing the button adds it as a new example,
  draws it and shows a top 5 for the [MASK];
- no uncaught JavaScript error;
and that there is one page per notebook. It uses Debian's ``chromium`` (installed
with apt-get when missing and running as root) driven by Playwright. Where
Chromium cannot be installed, the check says so and is skipped, except under
CI (``CI=true``), where a skipped browser check is a failure.

    python scripts/check_book.py [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIPPED_PAGES = {"genindex.html", "search.html"}


EXPLORER = ".bx"  # the root element of each attention explorer (bertedu/viz/assets/explorer.js)
TYPED = "the capital of france is [MASK]."  # what the check types into a text box
RUN_TIMEOUT_MS = 120_000  # the first press loads the runtime and the model (about 16 MB)


def picture(explorer) -> str:
    """A hash of the explorer's picture: a screenshot of its drawing, without the caption."""
    return hashlib.sha256(explorer.locator(".bx-figure").screenshot()).hexdigest()


def slide(slider) -> None:
    """Move a range input as a reader would, with the keyboard: to its other end."""
    at_end = slider.evaluate("s => Number(s.value) === Number(s.max)")
    slider.press("Home" if at_end else "End")


def next_option(menu) -> bool:
    """Choose the menu's next entry (wrapping round); False when it has only one."""
    values = menu.evaluate("m => [...m.options].map(o => o.value)")
    if len(values) < 2:
        return False
    current = menu.evaluate("m => m.value")
    menu.select_option(values[(values.index(current) + 1) % len(values)])
    return True


def explorer_moves(explorer) -> list[tuple[str, Callable[[], object]]]:
    """A reader's moves of every control, in an order where each one must show: (name, move)."""

    def control(key: str):
        return explorer.locator(f'[data-control="{key}"]')

    def view(label: str) -> Callable[[], object]:
        return lambda: explorer.locator(".bx-view", has_text=label).click()

    return [
        ("layer", lambda: slide(control("layer"))),
        ("head", lambda: slide(control("head"))),
        ("hide special tokens", lambda: control("hide_special").click()),
        ("view: heatmap", view("heatmap")),
        ("view: model view", view("model view")),
        ("view: head view", view("head view")),
        ("hover a token", lambda: explorer.locator(".bx-token").nth(1).hover()),
        ("example", lambda: next_option(control("example"))),
        ("model", lambda: next_option(control("model"))),
    ]


def check_typed_sentence(explorer, name: str) -> list[str]:
    """Type a sentence into the explorer's text box and press its button, as a reader would.

    The model runs in the page (bertedu/viz/assets/browser_model.js); the run must add
    the sentence as the last example, draw it, and list a top 5 for its [MASK].
    """
    examples = explorer.locator('[data-control="example"] option')
    before = picture(explorer)
    explorer.locator('[data-control="text_a"]').fill(TYPED)
    explorer.locator('[data-control="text_b"]').fill("")
    status = explorer.locator('[data-role="status"]')
    status.evaluate("node => node.removeAttribute('data-state')")
    explorer.locator('[data-control="run"]').click()
    try:
        explorer.locator('[data-role="status"][data-state]').wait_for(timeout=RUN_TIMEOUT_MS)
    except Exception:  # Playwright's TimeoutError: a finding, not a crash
        return [f"{name}: pressing the button gave no answer within {RUN_TIMEOUT_MS / 1000:.0f} s"]
    if status.get_attribute("data-state") != "done":
        return [f"{name}: typing a sentence and pressing the button failed: {status.inner_text()}"]
    problems = []
    last = examples.nth(examples.count() - 1).inner_text()
    if last != TYPED:
        problems.append(f"{name}: the typed sentence is not the last example (found {last!r})")
    if not explorer.locator(".bx-figure svg, .bx-figure canvas").count():
        problems.append(f"{name}: after pressing the button, no picture is drawn")
    elif picture(explorer) == before:
        problems.append(f"{name}: pressing the button left the picture unchanged")
    fills = explorer.locator(".bx-fill").all_inner_texts()
    if not fills or fills[0].count(",") != 4:
        problems.append(f"{name}: no top 5 shown for the typed [MASK] (found {fills})")
    return problems


def check_explorer(explorer, name: str) -> list[str]:
    """Move every control of one explorer; each move must change the picture.

    A menu with a single entry cannot move, so it is left out (an explorer of one model
    is fine); every other control must redraw.
    """
    drawing = explorer.locator(".bx-figure svg, .bx-figure canvas")
    if not drawing.count():
        return [f"{name}: the explorer drew no picture (its script did not run)"]
    problems = []
    for label, move in explorer_moves(explorer):
        before = picture(explorer)
        if move() is False:
            continue
        if not drawing.count():
            problems.append(f"{name}: after moving {label}, no picture is drawn")
        elif picture(explorer) == before:
            problems.append(f"{name}: moving {label} left the picture unchanged")
    if explorer.locator('[data-control="run"]').count():
        problems += check_typed_sentence(explorer, name)
    return problems


def find_chromium() -> str | None:
    """Path to Chromium, installing Debian's package first when possible."""
    found = shutil.which("chromium")
    if found or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("Installing Debian's chromium for the browser check ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            return None
    return shutil.which("chromium")


def book_pages(html: Path = HTML) -> list[Path]:
    """Every page of the book built in ``html`` (not its search, index or static files)."""
    pages = [
        p
        for p in html.rglob("*.html")
        if p.name not in SKIPPED_PAGES and not {"_static", "_sources", "_images"} & set(p.parts)
    ]
    return sorted(pages)


def record(failures: dict[str, list[str]], name: str, problems: list[str]) -> None:
    """Print a page's verdict as it is checked; keep its problems for the summary."""
    print(f"{'FAIL' if problems else 'ok  '} {name}", flush=True)
    if problems:
        failures[name] = problems


def print_failures(failures: dict[str, list[str]]) -> None:
    """Every problem of every failed page, on stderr (after the pages' verdicts)."""
    for name, problems in failures.items():
        for problem in problems:
            print(f"  {name}: {problem}", file=sys.stderr)


QUIET_MS = 500  # a page has settled once no request has been in flight this long
SETTLE_TIMEOUT_S = 45.0


class RequestTracker:
    """The requests a page has started and not yet finished, and when the last one ended.

    Playwright's own ``networkidle`` wait is discouraged upstream as flaky, and on a
    busy 2-core CI machine it once never fired for chapter 1 (which settles in 3 s
    here); its exception ended the whole check. This tracker waits for the same
    thing, nothing in flight for ``QUIET_MS``, and when that does not come it names
    the requests still pending instead of raising.
    """

    def __init__(self, page) -> None:
        self.page = page
        self.pending: dict[object, str] = {}
        self.last_change = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request) -> None:
        self.pending[request] = request.url
        self.last_change = time.monotonic()

    def _ended(self, request) -> None:
        self.pending.pop(request, None)
        self.last_change = time.monotonic()

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> list[str]:
        """Wait until nothing is in flight for QUIET_MS; the URLs still pending at the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            quiet_s = time.monotonic() - self.last_change
            if not self.pending and quiet_s >= QUIET_MS / 1000:
                return []
            self.page.wait_for_timeout(100)  # lets Playwright deliver the page's events
        return sorted(set(self.pending.values()))


def route_offline(page, outside: list[str]) -> None:
    """Let ``page`` load the book's own files only; record and abort every other request."""

    def route(route_request):
        url = route_request.request.url
        if url.startswith(LOCAL_SCHEMES):
            route_request.continue_()
        else:
            outside.append(url)
            route_request.abort()

    page.route("**/*", route)


def load_settled(page, page_path: Path, timeout_s: float = SETTLE_TIMEOUT_S) -> list[str]:
    """Open ``page_path`` in ``page`` and wait until it settles; problems when it never does.

    A page that does not settle is loaded once more before that is reported (and the
    retry is printed), so that one stall of the browser on a busy machine is not
    mistaken for a broken page, while a page that never settles still fails.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    tracker = RequestTracker(page)
    problems: list[str] = []
    for attempt in ("first", "second"):
        tracker.pending.clear()
        try:
            if attempt == "first":
                page.goto(page_path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
            else:
                page.reload(wait_until="load", timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            problems = [f"no load event after {timeout_s:.0f} s"]
        else:
            pending = tracker.settle(timeout_s)
            if not pending:
                return []
            problems = [f"still loading after {timeout_s:.0f} s: {url}" for url in pending]
        if attempt == "first":
            print(f"note {page_path.name}: {problems[0]}; loading it again", flush=True)
    return problems


def check_page(browser, page_path: Path, screenshots: Path | None) -> list[str]:
    """Load one page and run every check of it; the problems found (empty when fine).

    A Playwright error in one check (a control that never becomes clickable) is a
    finding of this page, not the end of the whole run.
    """
    from playwright.sync_api import Error as PlaywrightError

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        return page_problems(page, page_path, screenshots)
    except PlaywrightError as error:
        first_line = str(error).splitlines()[0] if str(error) else error.__class__.__name__
        return [f"the check of this page failed: {first_line}"]
    finally:
        page.close()


def page_problems(page, page_path: Path, screenshots: Path | None) -> list[str]:
    """Load ``page_path`` in ``page`` and run every check; the problems found."""
    problems: list[str] = []
    external: list[str] = []
    errors: list[str] = []
    route_offline(page, external)
    missing: list[str] = []  # book files a page asks for that are not there (fonts, scripts)
    page.on(
        "requestfailed",
        lambda request: missing.append(request.url) if request.url.startswith("file:") else None,
    )
    # Every JavaScript error fails (sphinx-thebe's doubled configuration, which threw on
    # every page, is dropped by book/_ext/unique_scripts.py).
    page.on("pageerror", lambda error: errors.append(str(error)))
    problems += load_settled(page, page_path)
    if problems:
        return problems

    math_count = page.locator(".math").count()
    if math_count:
        try:
            page.wait_for_function(
                "n => document.querySelectorAll('mjx-container').length >= n",
                arg=math_count,
                timeout=20000,
            )
        except Exception:  # Playwright's TimeoutError: report it as a finding, not a crash
            typeset = page.locator("mjx-container").count()
            problems.append(f"math not typeset: {typeset} of {math_count} formulas rendered")
    # A page that shows a widget (a view of the stored state; a cell whose output the book
    # leaves out shows none) must draw it.
    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        try:
            page.wait_for_selector(
                ".widget-subarea > *", timeout=20000
            )  # any widget, anywidgets too
        except Exception:
            problems.append("the page shows a widget but none rendered")
    explorers = page.locator(EXPLORER)
    for index in range(explorers.count()):
        problems += check_explorer(explorers.nth(index), f"attention explorer {index + 1}")
    broken = page.evaluate(
        "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    problems += [f"image did not load: {src}" for src in broken]
    problems += [f"request outside the book: {url}" for url in sorted(set(external))]
    problems += [f"missing file: {url}" for url in sorted(set(missing))]
    problems += [f"JavaScript error: {error}" for error in errors]
    if screenshots is not None:
        name = "_".join(page_path.relative_to(HTML).with_suffix(".png").parts)
        page.screenshot(path=str(screenshots / name), full_page=False)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", type=Path, help="also save a screenshot of each page here")
    args = parser.parse_args(argv)
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")

    if not (HTML / "index.html").exists():
        print(f"No built book at {HTML}: run the book build first.", file=sys.stderr)
        return 1
    chromium = find_chromium()
    if chromium is None:
        message = (
            "Browser check SKIPPED: Chromium is not installed and could not be installed "
            "(installing needs root and apt-get: apt-get install chromium)."
        )
        print(message, file=sys.stderr)
        return 1 if in_ci else 0

    missing = [
        nb.stem
        for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        if not (HTML / "notebooks" / f"{nb.stem}.html").exists()
    ]
    failures = {f"notebooks/{stem}.ipynb": ["no page in the built book"] for stem in missing}
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    pages = book_pages()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        for page_path in pages:
            problems = check_page(browser, page_path, args.screenshots)
            record(failures, str(page_path.relative_to(HTML)), problems)
        browser.close()
    print_failures(failures)
    print(f"Browser check: {len(pages) - len(failures)} of {len(pages)} pages fine.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
