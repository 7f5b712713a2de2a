"""SQuAD v1.1 exact match and F1 as a local ``evaluate`` metric (works offline).

metric = evaluate.load(bertedu.metrics.metric_path("squad_em_f1"))
metric.compute(predictions=["Google"], references=[["Google", "Google's AI team"]])
"""

import evaluate

from bertedu.metrics import text_metric_info
from bertedu.qa.metrics import squad_em_f1

_DESCRIPTION = (
    "Exact match and token F1 with the official SQuAD v1.1 normalisation "
    "(lower case, no punctuation, no articles, single spaces), max over references, in percent."
)
_KWARGS = """
Args:
    predictions: list of predicted answer strings.
    references: list of lists of reference answer strings (one list per prediction).
    unicode: False (default) for the official script's normalisation; True to compare the
        answers after NFKC with invisible format characters deleted (not the official
        score: see bertedu.qa.metrics.squad_em_f1).
Returns:
    exact_match, f1: percentages (0-100).
"""
_CITATION = """@inproceedings{rajpurkar2016squad,
  title={SQuAD: 100,000+ Questions for Machine Comprehension of Text},
  author={Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy},
  booktitle={EMNLP}, year={2016}}"""


class SquadEmF1(evaluate.Metric):
    def _info(self):
        return text_metric_info(_DESCRIPTION, _CITATION, _KWARGS)

    def _compute(self, predictions, references, unicode=False):
        ids = [str(index) for index in range(len(predictions))]
        return squad_em_f1(
            dict(zip(ids, predictions, strict=True)),
            dict(zip(ids, references, strict=True)),
            unicode=unicode,
        )
