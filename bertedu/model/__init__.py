"""BERT, built from scratch: config, embeddings, attention, encoder and heads."""

from bertedu.model.attention import (
    MultiHeadAttention,
    additive_mask,
    attention_weights,
    causal_mask,
    padding_mask,
)
from bertedu.model.bert import (
    BertModel,
    BertModelOutput,
    BertPooler,
    init_bert_weights,
    parameter_count,
)
from bertedu.model.config import BertConfig
from bertedu.model.embeddings import BertEmbeddings
from bertedu.model.encoder import BertEncoder, BertLayer
from bertedu.model.feedforward import FeedForward
from bertedu.model.pretraining import (
    BertForPreTraining,
    BertForPreTrainingOutput,
    BertLMPredictionHead,
    BertPreTrainingHeads,
)

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "MultiHeadAttention",
    "additive_mask",
    "attention_weights",
    "causal_mask",
    "padding_mask",
    "FeedForward",
    "BertLayer",
    "BertEncoder",
    "BertModel",
    "BertModelOutput",
    "BertPooler",
    "init_bert_weights",
    "parameter_count",
    "BertForPreTraining",
    "BertForPreTrainingOutput",
    "BertLMPredictionHead",
    "BertPreTrainingHeads",
]
