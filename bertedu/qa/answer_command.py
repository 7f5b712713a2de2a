"""``python -m bertedu answer``: ask a saved reader a question about a passage.

    python -m bertedu answer --reader runs/qa-minilm --question "Who developed BERT?" \\
        --context "BERT was developed by Google's AI team in 2018."
    python -m bertedu answer --reader runs/qa-minilm --questions questions.txt \\
        --context-file passage.txt                           # one JSON line per question

The reader is any folder ``finetune-qa`` wrote (:func:`bertedu.qa.reader.load_reader`);
``--json`` prints what :meth:`bertedu.qa.reader.Answer.to_dict` gives in Python. A folder
that is not a reader, a missing file or an empty question is refused with one line and
exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bertedu.arguments import positive_int

SHOWN_CANDIDATES = 5  # in the plain-text output


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``answer`` on the CLI's subcommands."""
    ask = commands.add_parser(
        "answer",
        help="answer a question about a passage with a reader saved by finetune-qa",
        description="Answer questions about a passage with a saved reader (a finetune-qa "
        "--output folder). Plain text by default; --json prints the answer, its characters in "
        "the passage, its score and the candidates with their probabilities.",
    )
    ask.add_argument("--reader", type=Path, required=True, help="a folder finetune-qa wrote")
    question = ask.add_mutually_exclusive_group(required=True)
    question.add_argument("--question", help="the question")
    question.add_argument(
        "--questions", type=Path, help="a text file, one question per line (JSON lines out)"
    )
    context = ask.add_mutually_exclusive_group(required=True)
    context.add_argument("--context", help="the passage to answer from")
    context.add_argument("--context-file", type=Path, help="a UTF-8 text file holding the passage")
    ask.add_argument("--json", action="store_true", help="one JSON object per answer")
    ask.add_argument(
        "--n-best", type=positive_int, default=20, help="candidates kept (default: 20)"
    )
    ask.add_argument(
        "--beam-width",
        type=positive_int,
        default=4,
        help="generative reader: beams searched (1: the greedy answer finetune-qa scores)",
    )


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file's content, or a ``ValueError`` saying what is wrong with it."""
    if not path.is_file():
        raise ValueError(f"{what} {path} does not exist or is not a file; pass a UTF-8 text file.")
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not UTF-8 text.") from None


def questions_of(args: argparse.Namespace) -> list[str]:
    """The question, or the non-blank lines of ``--questions``."""
    if args.question is not None:
        return [args.question]
    lines = [line.strip() for line in read_text(args.questions, "--questions").splitlines()]
    questions = [line for line in lines if line]
    if not questions:
        raise ValueError(f"--questions {args.questions} holds no question (one per line).")
    return questions


def as_text(answer) -> str:
    """An answer for a person: the text, where it is, then the best candidates."""
    if not answer.answer:
        return "(no answer)"
    where = (
        f"characters {answer.start}-{answer.end} of the passage"
        if answer.found_in_passage
        else "not found in the passage"
    )
    lines = [answer.answer, f"  {where}, score {answer.score:.3f}"]
    lines += ["  candidates (probability):"]
    lines += [f"    {c.probability:7.2%}  {c.text}" for c in answer.candidates[:SHOWN_CANDIDATES]]
    return "\n".join(lines)


def answer_command(args: argparse.Namespace) -> int:
    """Run ``answer`` as parsed from the command line (2 and one line on a bad input)."""
    from bertedu.qa.reader import NotAReaderError, load_reader

    try:
        context = (
            args.context
            if args.context is not None
            else read_text(args.context_file, "--context-file")
        )
        questions = questions_of(args)
        reader = load_reader(args.reader, n_best=args.n_best, beam_width=args.beam_width)
        answers = [reader.answer(question, context) for question in questions]
    except (NotAReaderError, ValueError) as error:
        message = " ".join(str(error).split())  # one line, whatever the message holds
        print(f"bertedu answer: {message}", file=sys.stderr)
        return 2
    for question, answer in zip(questions, answers, strict=True):
        if args.questions is not None:
            print(json.dumps({"question": question, **answer.to_dict()}, ensure_ascii=False))
        elif args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print(as_text(answer))
    return 0
