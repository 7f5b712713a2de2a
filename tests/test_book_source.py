"""bertedu.book.show_source: the page shows the package's real code, within the book's column."""

import inspect

import pytest

from bertedu.book import BOOK_WIDTH, CONTINUATION, break_spans, show_source
from bertedu.data.masking import mask_tokens
from bertedu.model import MultiHeadAttention


def unwrap(text: str) -> str:
    """Join the ``↪`` continuation lines back onto their line (a space where the break was)."""
    lines: list[str] = []
    for line in text.split("\n"):
        if line.lstrip().startswith(CONTINUATION):
            lines[-1] += " " + line.lstrip()[len(CONTINUATION) :]
        else:
            lines.append(line)
    return "\n".join(lines)


def test_shows_the_real_source_of_a_method_dedented():
    shown = show_source(MultiHeadAttention.forward)
    source, start = inspect.getsourcelines(MultiHeadAttention.forward)
    assert shown.code.split("\n")[0] == "def forward("  # dedented out of the class
    assert shown.first_line == start and shown.last_line == start + len(source) - 1
    assert shown.path == "bertedu/model/attention.py"
    assert unwrap(shown.text).split() == "".join(source).split()


def test_every_line_fits_the_column_and_long_lines_are_marked():
    shown = show_source(mask_tokens)
    lines = shown.text.split("\n")
    assert max(len(line) for line in lines) <= BOOK_WIDTH
    assert any(len(line) > BOOK_WIDTH for line in shown.code.split("\n"))  # there was wrapping
    assert any(CONTINUATION in line for line in lines)
    assert unwrap(shown.text) == shown.code  # wrapping only moved text, breaking at spaces


def test_a_line_without_spaces_is_cut_hard():
    line = "    " + "a" * 200
    spans = break_spans(line, 40)
    assert spans[0] == (0, 40) and spans[-1][1] == len(line)
    assert "".join(line[s:e] for s, e in spans) == line
    assert all(e - s <= 40 - len("        " + CONTINUATION) for s, e in spans[1:])


def test_line_range_and_caption():
    shown = show_source(MultiHeadAttention, lines=(1, 2))
    assert shown.code.split("\n")[0].startswith("class MultiHeadAttention(")
    assert len(shown.code.split("\n")) == 2
    assert shown.last_line == shown.first_line + 1
    assert "bertedu/model/attention.py, lines" in str(shown)


def test_html_is_highlighted_and_escaped():
    page = show_source(MultiHeadAttention.split_heads)._repr_html_()
    assert '<span class="k">def</span>' in page
    assert "-&gt;" in page and "->" not in page.replace("-&gt;", "")
    assert page.count('class="bertedu-source-caption"') == 1


def test_docstrings_stay_strings_across_a_wrap():
    page = show_source(mask_tokens)._repr_html_()
    # the wrapped docstring line continues as a string after the marker, not as code
    marker = page.index(CONTINUATION)
    assert page[marker:].split("</span>", 1)[1].lstrip("\n ").startswith('<span class="s')


@pytest.mark.parametrize(
    ("obj", "lines", "message"),
    [
        (3, None, "cannot show the source of 3"),
        (len, None, "cannot show the source"),
        (mask_tokens, (0, 2), "1 <= first <= last"),
        (mask_tokens, (5, 2), "1 <= first <= last"),
        (mask_tokens, (1, 10_000), "is outside mask_tokens's"),
    ],
)
def test_bad_input_says_what_to_pass(obj, lines, message):
    with pytest.raises(ValueError, match=message):
        show_source(obj, lines)


def test_too_narrow_a_width_is_refused():
    with pytest.raises(ValueError, match="at least 20 columns"):
        show_source(mask_tokens, width=10)


def test_comments_move_or_refill_instead_of_being_cut():
    from bertedu.book import reflow_comments

    code = (
        "def f(x):\n"
        "    y = x + 1  # a trailing comment that is much too long to stay on its line\n"
        "    # a comment block whose first line is long enough to overflow the column\n"
        "    # and a second line\n"
        "    s = '# not a comment, a string that is long enough to overflow the col'\n"
        "    return y"
    )
    lines = reflow_comments(code, 40).split("\n")
    comments = [line.strip() for line in lines if line.strip().startswith("#")]
    assert all(len(line) <= 40 for line in lines if line.strip().startswith("#"))
    assert lines.index("    y = x + 1") > lines.index("    # a trailing comment that is much")
    words = " ".join(c.lstrip("# ") for c in comments).split()
    assert words[-4:] == ["and", "a", "second", "line"]  # the block refilled as one paragraph
    assert any(line.startswith("    s = '# not a comment") for line in lines)  # strings kept
    assert reflow_comments("x = 1  # short\n", 40) == "x = 1  # short\n"


def test_a_decorated_function_shows_its_own_source():
    from bertedu.qa.decoding import greedy_decode

    shown = show_source(greedy_decode)
    assert shown.path == "bertedu/qa/decoding.py"
    assert "def greedy_decode(" in shown.code
