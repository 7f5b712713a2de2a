"""ROUGE-L F-measure (rouge-score) as a local ``evaluate`` metric (works offline).

metric = evaluate.load(bertedu.metrics.metric_path("rouge_l"))
metric.compute(predictions=["google ai team"], references=[["Google's AI team"]])
"""

import evaluate

from bertedu.metrics import text_metric_info
from bertedu.qa.metrics import rouge_l

_DESCRIPTION = (
    "Mean ROUGE-L F-measure (longest common subsequence of words, rouge-score), "
    "best reference per prediction, 0-100."
)
_KWARGS = """
Args:
    predictions: list of generated strings.
    references: list of lists of reference strings (one list per prediction).
Returns:
    rouge_l: 0-100.
"""
_CITATION = """@inproceedings{lin-2004-rouge,
  title={{ROUGE}: A Package for Automatic Evaluation of Summaries}, author={Lin, Chin-Yew},
  booktitle={Text Summarization Branches Out}, year={2004}}"""


class RougeL(evaluate.Metric):
    def _info(self):
        return text_metric_info(_DESCRIPTION, _CITATION, _KWARGS)

    def _compute(self, predictions, references):
        return {"rouge_l": rouge_l(predictions, references)}
