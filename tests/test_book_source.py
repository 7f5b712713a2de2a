"""bertedu.book.show_source: the page shows the package's real code, within the book's column."""

import ast
import importlib.util
import inspect
import textwrap

import pytest

from bertedu.book import (
    BOOK_WIDTH,
    CONTINUATION,
    break_spans,
    reflow_code,
    reflow_docstrings,
    reflow_strings,
    show_source,
)
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
    assert same_code(unwrap(shown.text), textwrap.dedent("".join(source)))


def same_code(shown: str, source: str) -> bool:
    """Whether two pieces of code mean the same, docstrings compared word by word (the
    page lays the code out again, and refills docstrings, for its column)."""

    def normalised(code: str) -> str:
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                node.value = " ".join(node.value.split())
        return ast.dump(tree)

    return normalised(shown) == normalised(source)


def test_every_line_fits_the_column_without_a_marker_where_the_code_can_be_laid_out():
    shown = show_source(mask_tokens)
    lines = shown.text.split("\n")
    assert max(len(line) for line in lines) <= BOOK_WIDTH
    source = textwrap.dedent(inspect.getsource(mask_tokens))
    assert any(len(line) > BOOK_WIDTH for line in source.split("\n"))  # it needed laying out
    assert not any(CONTINUATION in line for line in lines)
    assert same_code(shown.text, source)


def test_the_code_is_laid_out_for_the_column_by_ruff():
    long_call = "result = some_function(first_argument, second_argument, third_argument, x)\n"
    shown = reflow_code(long_call, 40)
    assert max(len(line) for line in shown.split("\n")) <= 40
    assert same_code(shown, long_call)
    assert reflow_code("class Partial(Base):", 40) == "class Partial(Base):"  # an excerpt


def test_docstrings_are_refilled_keeping_hanging_indents():
    code = (
        'def f(x):\n    """One line that is much too long for a narrow column of text.\n\n'
        "    Args:\n        x: an argument whose description runs on and on past the edge.\n"
        '    """\n'
    )
    shown = reflow_docstrings(code, 40)
    lines = shown.split("\n")
    assert max(len(line) for line in lines) <= 40
    assert "        x: an argument whose description" in lines
    assert "            runs on and on past the" in lines  # its hanging indent
    assert same_code(shown, code)


def test_long_strings_become_adjacent_literals_with_the_same_value():
    code = (
        'raise ValueError(\n    f"a message of {count} words that goes on past the column edge"\n)'
    )
    shown = reflow_strings(code, 40)
    assert max(len(line) for line in shown.split("\n")) <= 40
    assert ast.dump(ast.parse(shown)) == ast.dump(ast.parse(code))
    unsplittable = 'x = "a_single_word_that_cannot_be_split_at_any_space_at_all"'
    assert reflow_strings(unsplittable, 40) == unsplittable


def module_from_source(tmp_path, name: str, source: str):
    """Import ``source`` as a module from a file, so that show_source can read it back."""
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_what_cannot_be_laid_out_is_wrapped_and_marked(tmp_path):
    module = module_from_source(
        tmp_path, "shown_module", 'def f():\n    return "' + "a" * 120 + '"\n'
    )
    shown = show_source(module.f)
    lines = shown.text.split("\n")
    assert max(len(line) for line in lines) <= BOOK_WIDTH
    assert any(CONTINUATION in line for line in lines)


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


def test_docstrings_stay_strings_across_a_wrap(tmp_path):
    module = module_from_source(tmp_path, "doc_module", 'def g():\n    """' + "b" * 120 + '"""\n')
    page = show_source(module.g)._repr_html_()
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
