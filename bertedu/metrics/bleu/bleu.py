"""Corpus BLEU (sacrebleu) as a local ``evaluate`` metric (works offline).

metric = evaluate.load(bertedu.metrics.metric_path("bleu"))
metric.compute(predictions=["google"], references=[["Google"]])
"""

import evaluate

from bertedu.metrics import text_metric_info
from bertedu.qa.metrics import bleu

_DESCRIPTION = (
    "Corpus-level BLEU from sacrebleu (13a tokenisation, lower-cased by default), "
    "any number of references per prediction, 0-100."
)
_KWARGS = """
Args:
    predictions: list of generated strings.
    references: list of lists of reference strings (one list per prediction).
    lowercase: compare lower-cased text (default True; the book's models are uncased).
Returns:
    bleu: 0-100.
"""
_CITATION = """@inproceedings{post-2018-call,
  title={A Call for Clarity in Reporting {BLEU} Scores}, author={Post, Matt},
  booktitle={Proceedings of the Third Conference on Machine Translation}, year={2018}}"""


class Bleu(evaluate.Metric):
    def _info(self):
        return text_metric_info(_DESCRIPTION, _CITATION, _KWARGS)

    def _compute(self, predictions, references, lowercase=True):
        return {"bleu": bleu(predictions, references, lowercase=lowercase)}
