"""Numbers every part of bertedu agrees on: the label that means "no prediction", the special ids.

This module imports nothing from bertedu, so any part (even :mod:`bertedu.model`) may use it.

The special ids are those of the bert-base-uncased WordPiece vocabulary that the book uses
throughout (:func:`bertedu.tokenization.load_tokenizer`). Code that takes a tokenizer reads the
ids from it (``tokenizer.mask_token_id``); these constants are for code that has none (a
benchmark batch, a model's default beginning- and end-of-sequence tokens).
"""

IGNORE_INDEX = -100  # a label meaning "no prediction here": PyTorch's cross-entropy skips it

PAD_ID = 0  # [PAD]
UNK_ID = 100  # [UNK]
CLS_ID = 101  # [CLS]: the first token of every input; the decoder's beginning of sequence
SEP_ID = 102  # [SEP]: ends each segment; the decoder's end of sequence
MASK_ID = 103  # [MASK]
