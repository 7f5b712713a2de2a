"""The ceiling of a generative reader on the embedded held-out set: what a *perfect* one scores.

    PYTHONPATH=$PWD python benchmarks/perfect_generative_reader.py

A perfect reader writes exactly its training target: the first reference answer as
WordPieces, cut to the cpu recipe's ``max_target_length`` (what
:func:`bertedu.qa.generative.prepare_seq2seq_features` makes its labels of). Those ids are
decoded as every generated answer is (:func:`bertedu.qa.decoding.decode_answer`), then
given back the passage's own characters where the passage holds them
(:func:`bertedu.qa.passage_text.answer_from_passage`, what
:func:`bertedu.qa.decoding.generate_answers` does). The script prints SQuAD EM/F1 of both,
and the answers that still differ from every reference after the mapping.
"""

from __future__ import annotations

from bertedu.qa.datasets import load_embedded_qa
from bertedu.qa.decoding import decode_answer
from bertedu.qa.finetune import get_qa_recipe
from bertedu.qa.generative import IGNORE_INDEX, prepare_seq2seq_features
from bertedu.qa.metrics import exact_match_score, squad_em_f1
from bertedu.qa.passage_text import answer_from_passage
from bertedu.tokenization import load_tokenizer


def main() -> None:
    tokenizer = load_tokenizer()
    examples = load_embedded_qa("dev")
    recipe = get_qa_recipe("generative", "cpu")
    features = prepare_seq2seq_features(
        examples, tokenizer, recipe.max_length, recipe.max_target_length
    )
    references = {str(i): list(e.answers) for i, e in enumerate(features.examples)}
    decoded, mapped = {}, {}
    for i, (row, example) in enumerate(zip(features.labels, features.examples, strict=True)):
        ids = [int(t) for t in row if t != IGNORE_INDEX and t != tokenizer.sep_token_id]
        decoded[str(i)] = decode_answer(tokenizer, ids)
        mapped[str(i)] = answer_from_passage(decoded[str(i)], example.context)
    print(f"{len(references)} held-out questions, max_target_length {recipe.max_target_length}")
    for name, answers in (("decoded", decoded), ("mapped to the passage", mapped)):
        scores = squad_em_f1(answers, references)
        print(f"{name:>22}: EM {scores['exact_match']:.2f}  F1 {scores['f1']:.2f}")
    for key, answer in mapped.items():
        if not any(exact_match_score(answer, truth) for truth in references[key]):
            print(f"  still wrong: {answer!r} (decoded {decoded[key]!r}) vs {references[key][0]!r}")


if __name__ == "__main__":
    main()
