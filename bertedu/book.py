"""Show the package's real source on a page of the book, so page and package cannot drift.

A chapter that explains ``MultiHeadAttention.forward`` calls
``show_source(MultiHeadAttention.forward)`` instead of pasting a copy: the cell
reads the code with :func:`inspect.getsource` when the notebook runs, so the
rendered book always shows the code the tests exercise. The result renders as
syntax-highlighted HTML (Pygments) in Jupyter and in the book, and as plain text
elsewhere.

The package's lines may be up to 100 characters long; the book's column holds 88.
Longer lines are wrapped at the last space that fits (at the width when there is
none), and a continuation starts four spaces deeper than its line with a ``↪``
marker, so the reader sees it is the same line and nothing scrolls sideways. The
source is highlighted before it is wrapped, so a docstring stays a docstring.
Comments are never cut by a marker: a trailing comment that does not fit moves to
a line of its own above its code, and a comment line too long for the column is
refilled at spaces into several comment lines (:func:`reflow_comments`).
"""

from __future__ import annotations

import html
import inspect
import io
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pygments import lex
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from pygments.token import Token, _TokenType

#: Characters per line in the book's column (notebooks/ruff.toml says the same for code cells).
BOOK_WIDTH = 88
CONTINUATION = "↪ "
_REPOSITORY = Path(__file__).resolve().parent.parent

Span = tuple[int, int]  # [start, end) columns of one displayed piece of a source line


@dataclass(frozen=True)
class Source:
    """Lines of one object's source as the page shows them (``text``: dedented, wrapped)."""

    name: str  # qualified name, e.g. "MultiHeadAttention.forward"
    path: str  # the file, relative to the repository when it lies inside it
    first_line: int  # line numbers in that file of the first and last line shown
    last_line: int
    code: str  # the original lines, dedented, not wrapped
    width: int

    @property
    def text(self) -> str:
        """The shown code as plain text, every line at most ``width`` characters."""
        return "".join(value for _, value in wrapped_tokens(self.code, self.width))

    def caption(self) -> str:
        return f"{self.name} ({self.path}, lines {self.first_line}-{self.last_line})"

    def __str__(self) -> str:
        return f"# {self.caption()}\n{self.text}"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """IPython's plain-text display (``text/plain``): the caption, then the code."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """Highlighted HTML: a caption naming the file and lines, then the code."""
        spans = html_spans(wrapped_tokens(self.code, self.width))
        return (
            '<div class="bertedu-source">'
            f'<div class="bertedu-source-caption">{html.escape(self.caption())}</div>'
            f'<div class="highlight"><pre>{spans}</pre></div></div>'
        )


_HTML = HtmlFormatter(nowrap=True)


def html_spans(tokens: list[tuple[_TokenType, str]]) -> str:
    """Pygments tokens as ``<span class="k">def</span>`` HTML, styled by the page's CSS."""
    buffer = io.StringIO()
    _HTML.format(tokens, buffer)
    return buffer.getvalue()


def break_spans(line: str, width: int) -> list[Span]:
    """Where to break one source line so that every displayed piece fits in ``width``.

    The first piece keeps the line's indentation; later pieces get a prefix of
    ``len(continuation_prefix(line, width))`` characters, so they hold fewer.
    Breaks fall on spaces (which are dropped), or mid-word when a piece has none.
    """
    spans: list[Span] = []
    start, room = 0, width
    while len(line) - start > room:
        window = line[start : start + room + 1]
        lead = len(window) - len(window.lstrip(" "))
        cut = window.rfind(" ", lead)
        end = start + (cut if cut > lead else room)
        spans.append((start, start + len(line[start:end].rstrip(" "))))
        start = end
        while start < len(line) and line[start] == " ":
            start += 1
        room = width - len(continuation_prefix(line, width))
    spans.append((start, len(line)))
    return spans


def continuation_prefix(line: str, width: int) -> str:
    """Indentation plus marker that starts a wrapped piece of ``line``."""
    indent = " " * (len(line) - len(line.lstrip(" ")) + 4)
    return indent + CONTINUATION if len(indent) <= width // 2 else CONTINUATION


def wrapped_tokens(code: str, width: int) -> list[tuple[_TokenType, str]]:
    """Highlight ``code`` whole, then lay its tokens out on lines of at most ``width``."""
    lines = code.split("\n")
    layouts = [break_spans(line, width) for line in lines]
    out: list[tuple[_TokenType, str]] = []
    row, column = 0, 0
    for token_type, char in _characters(code):
        if char == "\n":
            out.append((Token.Text, "\n"))
            row, column = row + 1, 0
            continue
        for piece, (start, end) in enumerate(layouts[row]):
            if piece and column == start:
                prefix = continuation_prefix(lines[row], width)
                out.append((Token.Text, "\n" + prefix[: -len(CONTINUATION)]))
                out.append((Token.Comment, CONTINUATION))
            if start <= column < end:
                out.append((token_type, char))
                break
        column += 1
    return _merged(out)


def _characters(code: str) -> Iterator[tuple[_TokenType, str]]:
    """Every character of ``code`` with its Pygments token type (the lexer's final newline
    dropped)."""
    count = 0
    for token_type, value in lex(code, PythonLexer(stripnl=False, ensurenl=False)):
        for char in value:
            if count < len(code):
                yield token_type, char
            count += 1


def _merged(tokens: list[tuple[_TokenType, str]]) -> list[tuple[_TokenType, str]]:
    merged: list[tuple[_TokenType, str]] = []
    for token_type, value in tokens:
        if merged and merged[-1][0] is token_type:
            merged[-1] = (token_type, merged[-1][1] + value)
        else:
            merged.append((token_type, value))
    return merged


def _comment_columns(code: str) -> dict[int, int]:
    """``{line number: column where its comment starts}`` for every line with a ``#`` comment
    (found by the lexer, so a ``#`` inside a string does not count)."""
    columns: dict[int, int] = {}
    row, column = 0, 0
    for token_type, value in lex(code, PythonLexer(stripnl=False, ensurenl=False)):
        if token_type in Token.Comment and value.startswith("#"):
            columns.setdefault(row, column)
        for char in value:
            row, column = (row + 1, 0) if char == "\n" else (row, column + 1)
    return columns


def reflow_comments(code: str, width: int) -> str:
    """Lay out the comments of ``code`` so that none is wrapped mid-sentence by a marker.

    A line longer than ``width`` that ends in a comment puts the comment on its own
    line(s) above the code, at the code's indentation. A block of comment lines (one
    indentation, one after the other) with a line longer than ``width`` is refilled
    at spaces as one paragraph. Other lines are kept as they are.
    """
    lines = code.split("\n")
    columns = _comment_columns(code)

    def indent_of(line: str) -> str:
        return " " * (len(line) - len(line.lstrip(" ")))

    def comment_only(row: int) -> bool:
        return row in columns and not lines[row][: columns[row]].strip()

    def refill(indent: str, text: str) -> list[str]:
        pieces = textwrap.wrap(text, max(width - len(indent) - 2, 20)) or [""]
        return [f"{indent}# {piece}" for piece in pieces]

    out: list[str] = []
    row = 0
    while row < len(lines):
        line = lines[row]
        if comment_only(row):
            end = row + 1
            while (
                end < len(lines) and comment_only(end) and indent_of(lines[end]) == indent_of(line)
            ):
                end += 1
            block = lines[row:end]
            if any(len(text) > width for text in block):
                words = " ".join(text.strip().lstrip("#").strip() for text in block)
                out.extend(refill(indent_of(line), words))
            else:
                out.extend(block)
            row = end
            continue
        if row in columns and len(line) > width:
            comment = line[columns[row] :].lstrip("#").strip()
            out.extend(refill(indent_of(line), comment))
            out.append(line[: columns[row]].rstrip())
        else:
            out.append(line)
        row += 1
    return "\n".join(out)


def show_source(
    obj: object, lines: tuple[int, int] | None = None, *, width: int = BOOK_WIDTH
) -> Source:
    """The source of a function, class or method of the package, for display in a notebook.

    Args:
        obj: what to show, e.g. ``MultiHeadAttention.forward`` or ``mask_tokens``.
        lines: ``(first, last)``, 1-based and inclusive, counted from the object's
            first line (its ``def`` or ``class`` line, or its first decorator), to
            show only part of a long definition.
        width: the longest displayed line; longer source lines are wrapped.

    Returns a :class:`Source`, which Jupyter displays highlighted.
    """
    if width < 20:
        raise ValueError(f"width={width} is too narrow to show code; use at least 20 columns")
    obj = inspect.unwrap(obj)  # a decorated function: its own source, not the decorator's
    try:
        source_lines, start = inspect.getsourcelines(obj)
        file = Path(inspect.getsourcefile(obj) or "")
    except (TypeError, OSError) as error:
        raise ValueError(
            f"cannot show the source of {obj!r} ({type(obj).__name__}): pass a function, class "
            "or method defined in a Python file, e.g. show_source(MultiHeadAttention.forward)"
        ) from error
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    count = len(source_lines)
    first, last = (1, count) if lines is None else lines
    if not 1 <= first <= last <= count:
        raise ValueError(
            f"lines={lines} is outside {name}'s {count} lines: pass (first, last) with "
            f"1 <= first <= last <= {count}, counted from its first line"
        )
    code = textwrap.dedent("".join(source_lines[first - 1 : last])).rstrip("\n")
    code = reflow_comments(code, width)
    try:
        path = str(file.resolve().relative_to(_REPOSITORY))
    except ValueError:
        path = str(file)
    return Source(name, path, start + first - 1, start + last - 1, code, width)
