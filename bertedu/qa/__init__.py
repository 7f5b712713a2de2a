"""Question answering: extractive (span prediction) and generative (encoder-decoder).

* :mod:`bertedu.qa.datasets`: :class:`QAExample`; the embedded Wikipedia QA set, local SQuAD
  JSON, SQuAD v1.1 and MS MARCO v2.1 through ``datasets``.
* :mod:`bertedu.qa.extractive`: windows with offsets, span labels,
:class:`BertForQuestionAnswering`,
  n-best post-processing, :func:`answer_question`.
* :mod:`bertedu.qa.generative`: :class:`BertEncoderDecoder` (our BERT + a Transformer decoder with
  tied embeddings; ``copy=True`` for the pointer-generator, ``warm_start=True`` to start the
  decoder from the encoder), teacher-forcing features.
* :mod:`bertedu.qa.copying`: the pointer-generator's pointer, selective read, copy
  distribution and gate.
* :mod:`bertedu.qa.augment`: cloze questions made from the training passages.
* :mod:`bertedu.qa.decoding`: greedy and beam search (with inspectable steps).
* :mod:`bertedu.qa.metrics`: SQuAD v1.1 EM/F1 (``squad_em_f1``), corpus and sentence BLEU,
  ROUGE-L, an MS MARCO-style ROUGE-L and BLEU-1, bootstrap confidence intervals.
* :mod:`bertedu.qa.reader`: a saved reader (its folder, :func:`save_reader`,
  :func:`load_reader`) and its :meth:`Reader.answer`: text, characters, score, n-best.
* :mod:`bertedu.qa.command`: ``python -m bertedu finetune-qa``.
* :mod:`bertedu.qa.baselines`: first-sentence and sliding-window word-overlap answers.
"""

from bertedu.qa.datasets import (
    QAExample,
    load_embedded_qa,
    load_ms_marco,
    load_squad,
    load_squad_json,
)
from bertedu.qa.decoding import beam_search, decode_answer, generate_answers, greedy_decode
from bertedu.qa.extractive import (
    BertForQuestionAnswering,
    answer_question,
    postprocess_predictions,
    predict_answers,
    prepare_features,
)
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features
from bertedu.qa.metrics import bleu, generation_scores, rouge_l, squad_em_f1
from bertedu.qa.reader import (
    Answer,
    Candidate,
    NotAReaderError,
    Reader,
    load_reader,
    save_reader,
)

__all__ = [
    "QAExample",
    "load_embedded_qa",
    "load_ms_marco",
    "load_squad",
    "load_squad_json",
    "BertForQuestionAnswering",
    "answer_question",
    "postprocess_predictions",
    "predict_answers",
    "prepare_features",
    "BertEncoderDecoder",
    "prepare_seq2seq_features",
    "beam_search",
    "decode_answer",
    "generate_answers",
    "greedy_decode",
    "bleu",
    "generation_scores",
    "rouge_l",
    "squad_em_f1",
    "Answer",
    "Candidate",
    "NotAReaderError",
    "Reader",
    "load_reader",
    "save_reader",
]
