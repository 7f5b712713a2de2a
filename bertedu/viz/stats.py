"""Attention statistics per head: what kind of head is this?

Clark et al. (2019, "What Does BERT Look At?") sorted BERT's heads by a few
averages over the query tokens of a sentence. For a head's map ``A`` (rows =
queries, each summing to 1), averaged over the query rows ``i``:

==============  ===============================================  ==========================
column          per query row ``i``                              a head that ...
==============  ===============================================  ==========================
entropy         ``-sum_j A_ij log A_ij`` (nats)                  is broad: near ``log n``
breadth         entropy / ``log n`` (``n`` = non-[PAD] keys)     is broad: 1 = uniform, 0 = one key
to_cls          weight on [CLS]                                  parks attention on [CLS]
to_sep          weight on every [SEP]                            parks attention on [SEP]
to_punct        weight on punctuation tokens (``.``, ``,``)      parks attention on punctuation
to_prev         ``A_i,i-1`` (rows with a previous token)         reads the previous token
to_next         ``A_i,i+1`` (rows with a next token)             reads the next token
to_self         ``A_ii``                                         reads the token itself
to_same_word    weight on the *other* positions with the same    links repeated words
                token (rows whose token repeats elsewhere)
mean_distance   ``sum_j A_ij |i - j|`` (in tokens)               looks far away
==============  ===============================================  ==========================

[PAD] query rows are left out (their attention means nothing), and [CLS], [SEP]
and [PAD] never count as repeated words. A punctuation token is one made only of
Unicode punctuation characters (:func:`is_punctuation`); Clark et al. counted periods
and commas, the most frequent of them. A column is NaN when it is undefined for the
input (no [CLS], a single token, no repeated word, no punctuation).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bertedu.viz.attention import as_layers_heads, attention_for

STAT_COLUMNS: tuple[str, ...] = (
    "entropy",
    "breadth",
    "to_cls",
    "to_sep",
    "to_punct",
    "to_prev",
    "to_next",
    "to_self",
    "to_same_word",
    "mean_distance",
)


def is_punctuation(token: str) -> bool:
    """True for a WordPiece made only of punctuation (``.``, ``,``, ``'``, ``##-``, ...).

    The ``##`` continuation prefix is ignored; special tokens such as ``[SEP]`` are not
    punctuation (their brackets are part of a name, not of the text).
    """
    text = token.removeprefix("##")
    if not text or (token.startswith("[") and token.endswith("]") and len(token) > 2):
        return False
    return all(unicodedata.category(char).startswith("P") for char in text)


def _mean_over(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Mean over the last axis of ``rows`` where ``keep``; NaN when nothing is kept."""
    count = keep.sum()
    if count == 0:
        return np.full(rows.shape[:-1], np.nan)
    return (rows * keep).sum(-1) / count


def head_stats(
    attention,
    tokens: Sequence[str],
    *,
    cls_token: str = "[CLS]",
    sep_token: str = "[SEP]",
    pad_token: str = "[PAD]",
) -> pd.DataFrame:
    """One row per head: ``layer``, ``head`` and the columns of :data:`STAT_COLUMNS`.

    ``attention`` is any shape :func:`bertedu.viz.attention.as_attention_array`
    takes; a lone ``[seq, seq]`` map is reported as layer 0, head 0.
    """
    a = as_layers_heads(attention, tokens)  # [L, H, n, n]
    layers, heads, n, _ = a.shape
    tokens = list(tokens)
    query = np.array([token != pad_token for token in tokens])
    is_cls = np.array([token == cls_token for token in tokens])
    is_sep = np.array([token == sep_token for token in tokens])
    is_punct = np.array([is_punctuation(token) for token in tokens])
    positions = np.arange(n)
    special = is_cls | is_sep | ~query
    same_word = (np.array(tokens)[:, None] == np.array(tokens)[None, :]) & ~np.eye(n, dtype=bool)
    same_word &= ~special[:, None] & ~special[None, :]

    entropy_rows = -np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0).sum(-1)
    distance_rows = (a * np.abs(positions[:, None] - positions[None, :])).sum(-1)
    real_keys = int(query.sum())
    entropy = _mean_over(entropy_rows, query)
    columns = {
        "entropy": entropy,
        "breadth": entropy / np.log(real_keys)
        if real_keys > 1
        else np.full((layers, heads), np.nan),
        "to_cls": _mean_over(a[..., is_cls].sum(-1), query)
        if is_cls.any()
        else np.full((layers, heads), np.nan),
        "to_sep": _mean_over(a[..., is_sep].sum(-1), query)
        if is_sep.any()
        else np.full((layers, heads), np.nan),
        "to_punct": _mean_over(a[..., is_punct].sum(-1), query)
        if is_punct.any()
        else np.full((layers, heads), np.nan),
        # diagonal(offset=-1)[k] = A[k+1, k]: query k+1 looking at k; offset=+1: query k at k+1.
        "to_prev": _mean_over(np.diagonal(a, offset=-1, axis1=-2, axis2=-1), query[1:]),
        "to_next": _mean_over(np.diagonal(a, offset=1, axis1=-2, axis2=-1), query[:-1]),
        "to_self": _mean_over(np.diagonal(a, axis1=-2, axis2=-1), query),
        "to_same_word": _mean_over((a * same_word).sum(-1), same_word.any(-1)),
        "mean_distance": _mean_over(distance_rows, query),
    }
    layer_index, head_index = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    table = pd.DataFrame({"layer": layer_index.ravel(), "head": head_index.ravel()})
    for name in STAT_COLUMNS:
        table[name] = columns[name].ravel()
    return table


def _check_columns(stats: pd.DataFrame, columns: Sequence[str]) -> None:
    """A ValueError naming the first of ``columns`` that ``stats`` lacks (an empty table lacks
    them all): pandas would raise a bare ``KeyError``."""
    for name in columns:
        if name not in stats.columns:
            raise ValueError(
                f"stats has no column {name!r}: pass a table made by head_stats or "
                "average_head_stats (one row per head, at least one head)."
            )


def strongest_heads(stats: pd.DataFrame, columns: Sequence[str] = STAT_COLUMNS) -> pd.DataFrame:
    """For each statistic, the head with the largest value: ``statistic, layer, head, value``.

    The largest ``entropy`` is the broadest head; the largest ``to_prev`` is the
    best previous-token head, and so on. Average the stats of several sentences
    first (``pd.concat(tables).groupby(["layer", "head"]).mean()``) for findings
    that do not hang on one example. A statistic that is NaN for every head (no
    repeated word in the input, say) is left out.
    """
    stats = stats.reset_index() if "layer" not in stats.columns else stats
    _check_columns(stats, [*columns, "layer", "head"])
    rows = []
    for name in columns:
        if stats[name].isna().all():
            continue
        best = stats.loc[stats[name].idxmax()]
        rows.append(
            {
                "statistic": name,
                "layer": int(best["layer"]),
                "head": int(best["head"]),
                "value": float(best[name]),
            }
        )
    return pd.DataFrame(rows).set_index("statistic")


def average_head_stats(
    model, tokenizer, pairs: Sequence[tuple[str, str | None]], max_length: int = 128
) -> pd.DataFrame:
    """:func:`head_stats` of ``model`` averaged over sentence ``pairs`` (``(text_a, text_b or
    None)``).

    Returns one row per head, indexed by ``(layer, head)``. A statistic that is
    undefined for a pair (``to_same_word`` without a repeated word) is averaged
    over the pairs where it is defined. Compare models on the same pairs.
    """
    if not pairs:
        raise ValueError("average_head_stats needs at least one sentence pair.")
    tables = []
    for text_a, text_b in pairs:
        result = attention_for(model, tokenizer, text_a, text_b, max_length=max_length)
        tables.append(head_stats(result.attentions, result.tokens))
    return pd.concat(tables).groupby(["layer", "head"]).mean()


def best_of_k_heads(
    stats: pd.DataFrame,
    k: int,
    columns: Sequence[str] = STAT_COLUMNS,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
) -> pd.DataFrame:
    """What the best of ``k`` heads drawn at random from ``stats`` scores, per statistic.

    Comparing the best of a model's 72 heads with the best of another's 4 favours
    the larger model by selection alone: the maximum of more draws is larger even
    when every head is alike. This puts a larger model on the smaller one's footing.
    For each column, with its ``N`` defined values sorted, the best of ``k`` heads
    drawn without replacement is the ``r``-th smallest with probability
    ``C(r-1, k-1) / C(N, k)``; the result gives that distribution's mean
    (``expected``) and its ``quantiles`` (columns ``"5%"``, ``"50%"``, ...), exactly.
    """
    _check_columns(stats, columns)
    rows = {}
    for name in columns:
        values = np.sort(stats[name].dropna().to_numpy(dtype=np.float64))
        count = len(values)
        if not 1 <= k <= count:
            raise ValueError(
                f"best_of_k_heads: k={k} heads cannot be drawn from the {count} heads "
                f"with a value for {name!r}; choose k between 1 and {count}."
            )
        total = math.comb(count, k)
        cdf = np.array([math.comb(r, k) / total for r in range(1, count + 1)])  # P(best <= r-th)
        row = {"expected": float(np.diff(cdf, prepend=0.0) @ values)}
        for q in quantiles:  # the smallest value whose cumulative probability reaches q
            row[f"{100 * q:g}%"] = float(values[np.searchsorted(cdf, q - 1e-12)])
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("statistic")
