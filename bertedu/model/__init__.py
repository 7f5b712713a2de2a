"""BERT, built from scratch: config, embeddings, attention, encoder and heads."""

from bertedu.model.config import BertConfig
from bertedu.model.embeddings import BertEmbeddings

__all__ = ["BertConfig", "BertEmbeddings"]
