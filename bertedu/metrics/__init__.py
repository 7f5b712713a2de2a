"""Local ``evaluate`` modules for the book's QA scores, usable offline.

``evaluate.load("bleu")`` downloads its script from the Hugging Face Hub, so it
fails without a network (a common first implementation stops there). The same scores are here
as local metric scripts: ``evaluate.load(metric_path("bleu"))`` works offline.
Each script is a thin wrapper around :mod:`bertedu.qa.metrics`, so the
numbers are the same whichever way they are computed.
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
# : The local metric modules: squad_em_f1 (SQuAD v1.1 EM/F1), bleu (sacrebleu), rouge_l (rouge-
# score).
METRIC_NAMES = ("squad_em_f1", "bleu", "rouge_l")


def metric_path(name: str) -> str:
    """Folder of the local metric ``name``, to pass to ``evaluate.load``."""
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown local metric {name!r}; choose one of {', '.join(METRIC_NAMES)}.")
    return str(METRICS_DIR / name)


def metric_paths() -> dict[str, str]:
    """``{name: folder}`` for every local metric."""
    return {name: metric_path(name) for name in METRIC_NAMES}


def text_metric_info(description: str, citation: str, inputs_description: str):
    """The ``evaluate.MetricInfo`` every local metric shares: string predictions, lists of string
    references."""
    import datasets
    import evaluate

    features = datasets.Features(
        {
            "predictions": datasets.Value("string"),
            "references": datasets.Sequence(datasets.Value("string")),
        }
    )
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs_description,
        features=features,
    )
