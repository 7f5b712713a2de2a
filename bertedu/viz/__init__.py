"""Looking inside a BERT: attention heatmaps, head views, per-head statistics, an explorer.

    result = attention_for(model, tokenizer, "The cat sat on the mat.")
    plot_heatmap(result.attentions[2, 5], result.tokens)      # one head
    plot_head_view(result.attentions[2, 5], result.tokens)    # the same head as lines
    plot_head(result.attentions[2, 5], result.tokens)         # both, side by side
    plot_grid(result.attentions)                              # every layer x head
    head_stats(result.attentions, result.tokens)              # a tidy table, one row per head

Every function takes an attention map as ``[seq, seq]``, ``[layers, heads, seq, seq]``
(or ``[heads, seq, seq]``, or a model's ``outputs.attentions`` for one example), as a
tensor or an array, plus the token strings. ``bertedu.viz.widget.AttentionExplorer``
is a Jupyter widget that draws every layer and head of the models in
``bertedu.viz.explorer`` in the browser, in a kernel and in the static book alike
(``bertedu.viz.cross_attention`` puts a decoder's cross-attention in it), and
``bertedu.viz.importance`` asks which attention weights the output depends on.
"""

from bertedu.viz.attention import (
    SPECIAL_TOKENS,
    AttentionResult,
    as_attention_array,
    as_layers_heads,
    attention_for,
    hide_tokens,
    select_head,
)
from bertedu.viz.head_view import plot_head, plot_head_view
from bertedu.viz.heatmaps import mosaic, plot_grid, plot_heatmap
from bertedu.viz.stats import (
    STAT_COLUMNS,
    average_head_stats,
    best_of_k_heads,
    head_stats,
    is_punctuation,
    strongest_heads,
)

__all__ = [
    "SPECIAL_TOKENS",
    "AttentionResult",
    "as_attention_array",
    "as_layers_heads",
    "attention_for",
    "hide_tokens",
    "select_head",
    "plot_head",
    "plot_head_view",
    "mosaic",
    "plot_grid",
    "plot_heatmap",
    "STAT_COLUMNS",
    "average_head_stats",
    "best_of_k_heads",
    "head_stats",
    "is_punctuation",
    "strongest_heads",
]
