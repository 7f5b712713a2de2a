"""Show the package's real source on a page of the book, so page and package cannot drift.

A chapter that explains ``MultiHeadAttention.forward`` calls
``show_source(MultiHeadAttention.forward)`` instead of pasting a copy: the cell
reads the code with :func:`inspect.getsource` when the notebook runs, so the
rendered book always shows the code the tests exercise. The result renders as
syntax-highlighted HTML (Pygments) in Jupyter and in the book, and as plain text
elsewhere.

The package's lines may be up to 100 characters long; the book's column holds 88.
So the shown code is laid out again for the column, the way a person would: the
code by ruff's formatter at 88 columns (:func:`reflow_code`: calls and signatures
split over lines), a docstring line too long for the column refilled at spaces
(:func:`reflow_docstrings`), a trailing comment that does not fit moved to a line of
its own above its code and a long comment refilled (:func:`reflow_comments`). Only
what none of these can shorten (a long string literal) is wrapped at the last space
that fits, a continuation starting four spaces deeper than its line with a ``↪``
marker, so the reader sees it is the same line and nothing scrolls sideways. The
source is highlighted before it is wrapped, so a docstring stays a docstring.
"""

from __future__ import annotations

import ast
import html
import inspect
import io
import re
import shutil
import subprocess
import sys
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


def reflow_code(code: str, width: int) -> str:
    """``code`` as ruff's formatter lays it out at ``width`` columns (the package is
    formatted at 100). Unchanged when ruff is not installed or the code is not a whole
    statement (a ``lines=`` excerpt), so showing source never depends on it."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return code
    command = [ruff, "format", "--isolated", "--line-length", str(width)]
    command += ["--stdin-filename", "shown.py", "-"]
    result = subprocess.run(command, input=code, capture_output=True, text=True, check=False)
    return result.stdout.rstrip("\n") if result.returncode == 0 and result.stdout else code


def _docstring_rows(code: str) -> set[int]:
    """Line numbers (from 0) that hold part of a docstring, found by the lexer."""
    rows: set[int] = set()
    row = 0
    for token_type, value in lex(code, PythonLexer(stripnl=False, ensurenl=False)):
        if token_type in Token.Literal.String.Doc:
            rows.update(range(row, row + value.count("\n") + 1))
        row += value.count("\n")
    return rows


_ITEM = re.compile(r"^\s*(?:[-*] |>>>|[\w*.]+(?: \([^)]*\))?: |\"\"\"|[A-Z][\w ]*:$)")


def _docstring_paragraphs(lines: list[str], rows: set[int]) -> Iterator[tuple[int, int]]:
    """``[start, end)`` row ranges of the docstring paragraphs of ``lines``: a line and the
    lines after it at its continuation's indentation, up to a blank line or a new item
    (an ``Args:`` entry, a bullet, a heading)."""

    def indent(row: int) -> int:
        return len(lines[row]) - len(lines[row].lstrip(" "))

    row = 0
    while row < len(lines):
        if row not in rows or not lines[row].strip():
            row += 1
            continue
        end = row + 1
        while (
            end in rows
            and lines[end].strip()
            and not _ITEM.match(lines[end])
            and indent(end) == indent(row + 1)
            and indent(end) >= indent(row)
        ):
            end += 1
        yield row, end
        row = end


def reflow_docstrings(code: str, width: int) -> str:
    """Refill every docstring paragraph that has a line longer than ``width`` at spaces,
    keeping its first line's indentation and its continuation's (an ``Args:`` entry's
    hanging indent): prose, so no continuation marker is needed."""
    lines = code.split("\n")
    rows = _docstring_rows(code)
    out: list[str] = []
    done = 0
    for start, end in _docstring_paragraphs(lines, rows):
        out.extend(lines[done:start])
        block = lines[start:end]
        done = end
        if all(len(line) <= width for line in block):
            out.extend(block)
            continue
        first = block[0][: len(block[0]) - len(block[0].lstrip(" "))]
        if len(block) > 1:
            rest = block[1][: len(block[1]) - len(block[1].lstrip(" "))]
        else:
            hanging = _ITEM.match(block[0]) and not block[0].lstrip().startswith('"""')
            rest = first + ("    " if hanging else "")
        out.extend(
            textwrap.wrap(
                " ".join(line.strip() for line in block),
                width,
                initial_indent=first,
                subsequent_indent=rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    out.extend(lines[done:])
    return "\n".join(out)


_STRING_LINE = re.compile(
    r"^(?P<indent> *)(?P<prefix>[rRbBfFuU]{0,2})(?P<quote>[\"'])(?P<body>.*)(?P=quote)"
    r"(?P<suffix>[,)]*)$"
)


def _split_points(body: str, f_string: bool) -> list[int]:
    """Where ``body`` may be cut: after each space outside an f-string's ``{...}``."""
    points, depth = [], 0
    for i, char in enumerate(body):
        if f_string and char in "{}":
            depth += 1 if char == "{" else -1
        elif char == " " and depth == 0:
            points.append(i + 1)
    return points


def _split_string_line(line: str, width: int) -> list[str]:
    """A line holding only a string literal (inside brackets), longer than ``width``, as
    several literals of the same kind, one a line: Python joins adjacent literals, so the
    value is unchanged."""
    match = _STRING_LINE.match(line)
    if match is None or len(line) <= width or match["body"].startswith(match["quote"] * 2):
        return [line]
    indent, prefix, quote, body, suffix = match.group("indent", "prefix", "quote", "body", "suffix")
    room = width - len(indent) - len(prefix) - 2
    pieces, start = [], 0
    points = _split_points(body, "f" in prefix.lower())
    while len(body) - start > room - len(suffix):
        fitting = [p for p in points if start < p <= start + room]
        if not fitting:
            break
        pieces.append(body[start : fitting[-1]])
        start = fitting[-1]
    pieces.append(body[start:])
    shown = [f"{indent}{prefix}{quote}{piece}{quote}" for piece in pieces]
    shown[-1] += suffix
    return shown


def reflow_strings(code: str, width: int) -> str:
    """Split string literals that overflow ``width`` into adjacent literals (the error
    messages of the package). Unchanged unless the result means exactly the same code."""
    out = [piece for line in code.split("\n") for piece in _split_string_line(line, width)]
    shown = "\n".join(out)
    try:
        same = ast.dump(ast.parse(shown)) == ast.dump(ast.parse(code))
    except SyntaxError:
        same = False
    return shown if same else code


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
    code = reflow_strings(reflow_code(code, width), width)
    code = reflow_comments(reflow_docstrings(code, width), width)
    try:
        path = str(file.resolve().relative_to(_REPOSITORY))
    except ValueError:
        path = str(file)
    return Source(name, path, start + first - 1, start + last - 1, code, width)
