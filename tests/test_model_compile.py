"""The pretraining model under torch.compile: one graph, the same loss as eager code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from small_models import TINY_NO_DROPOUT as CONFIG
from small_models import masked_batch

from bertedu.constants import IGNORE_INDEX
from bertedu.model import BertForPreTraining
from bertedu.model.pretraining import gather_predictions
from bertedu.pretraining.dense_loss import dense_mlm_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def batch(per_row: tuple[int, ...] = (1, 4, 2)) -> dict[str, torch.Tensor]:
    """Three rows of 16 tokens, with ``per_row`` MLM labels (1, 4 and 2 by default)."""
    return masked_batch(per_row, next_sentence_label=(0, 1, 0))


def test_gather_predictions_has_a_fixed_shape_and_the_sparse_rows_in_order():
    hidden = torch.randn(3, 16, 8)
    labels = batch()["labels"]
    rows, targets = gather_predictions(hidden, labels, max_predictions=5)
    assert rows.shape == (15, 8) and targets.shape == (15,)
    kept = targets != IGNORE_INDEX
    selected = labels != IGNORE_INDEX
    torch.testing.assert_close(rows[kept], hidden[selected], rtol=0, atol=0)
    assert torch.equal(targets[kept], labels[selected])
    assert int(kept.sum()) == 7  # 1 + 4 + 2 labels, the rest padding


@pytest.mark.parametrize("grad", [False, True])
def test_compiled_model_is_one_graph_with_the_eager_loss(grad):
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG, max_predictions=4)
    inputs = batch()
    torch._dynamo.reset()
    # fullgraph=True fails on any graph break; the "eager" backend only traces (no C compiler).
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.set_grad_enabled(grad):
        fixed, sparse = compiled(**inputs), model(**inputs)
    torch.testing.assert_close(fixed.loss, sparse.loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fixed.mlm_loss, sparse.mlm_loss, rtol=1e-6, atol=1e-6)
    if not grad:  # the logits of the labelled rows are the same rows, padded
        kept = fixed.mlm_labels != IGNORE_INDEX
        torch.testing.assert_close(fixed.mlm_logits[kept], sparse.mlm_logits)


def test_without_max_predictions_the_selection_breaks_the_graph():
    model = BertForPreTraining(CONFIG)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(**batch())
    assert explanation.graph_break_count >= 1  # why max_predictions exists


def test_rows_with_more_labels_than_max_predictions_are_refused():
    model = BertForPreTraining(CONFIG, max_predictions=3)
    with pytest.raises(ValueError, match="A row has 4 MLM labels but the model was built with"):
        model(**batch())
    with pytest.raises(ValueError, match="max_predictions must be a positive"):
        BertForPreTraining(CONFIG, max_predictions=0)


@pytest.mark.parametrize("chunk_rows", [1, 2, 8])
def test_dense_mlm_loss_equals_the_whole_batch_at_once(chunk_rows):
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG).eval()
    inputs = batch()
    with torch.no_grad():
        dense = model(
            inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"]
        ).mlm_logits
        masked = inputs["labels"] != IGNORE_INDEX
        expected = F.cross_entropy(dense[masked], inputs["labels"][masked])
        sparse = model(**inputs).mlm_loss
    got = dense_mlm_loss(model, inputs, chunk_rows=chunk_rows)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got, sparse, rtol=1e-5, atol=1e-5)


def test_dense_mlm_loss_says_what_is_wrong():
    model = BertForPreTraining(CONFIG)
    with pytest.raises(ValueError, match="chunk_rows must be at least 1"):
        dense_mlm_loss(model, batch(), chunk_rows=0)
    with pytest.raises(ValueError, match="no MLM label"):
        dense_mlm_loss(model, batch(per_row=(0, 0, 0)))
