"""From documents to ``BertForPreTraining`` batches: tokenize once, pair once, mask every batch.

The expensive, deterministic steps run once and are cached: WordPiece
tokenization through ``datasets.Dataset.map`` (written to an Arrow file keyed
by the corpus and the tokenizer), then NSP pairing. Masking is the cheap step
and runs in the collator, per batch, from one ``torch.Generator``: every epoch
sees new masks (RoBERTa's dynamic masking), where Google's pipeline fixed the
masks at data-creation time and copied the corpus ``dupe_factor`` times to get
some variety.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from datasets.fingerprint import Hasher
from torch.utils.data import DataLoader, get_worker_info
from transformers import PreTrainedTokenizerBase

from bertedu.data.documents import Document, require_documents
from bertedu.data.masking import mask_tokens, replaceable_token_ids
from bertedu.data.nsp import Instance, encode_instance


def _tokenize_batch(batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
    # One tokenizer call for all sentences of the batch (the Rust tokenizer parallelises it),
    # then regroup the ids by document.
    flat = [sentence for sentences in batch["sentences"] for sentence in sentences]
    ids = tokenizer(
        flat,
        add_special_tokens=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]
    grouped, start = [], 0
    for sentences in batch["sentences"]:
        grouped.append(ids[start : start + len(sentences)])
        start += len(sentences)
    return {"input_ids": grouped, "num_tokens": [sum(map(len, document)) for document in grouped]}


def tokenize_documents(
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    *,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """A ``datasets.Dataset`` with ``title``, ``topic``, ``sentences``, ``input_ids`` (per sentence)
    and ``num_tokens``.

    With ``cache_dir`` the result is stored there under a name derived from the
    documents and the tokenizer, and a second call with the same inputs reads it back.
    """
    require_documents(list(documents), "the documents given to tokenize_documents")
    dataset = Dataset.from_dict(
        {
            "title": [document.title for document in documents],
            "topic": [document.topic for document in documents],
            "sentences": [list(document.sentences) for document in documents],
        }
    )
    cache_file = None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        cache_file = str(
            Path(cache_dir) / f"tokenized-{Hasher.hash([dataset._fingerprint, tokenizer])}.arrow"
        )
    return dataset.map(
        _tokenize_batch,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer},
        cache_file_name=cache_file,
        desc="WordPiece",
    )


def document_token_ids(tokenized: Dataset) -> list[list[list[int]]]:
    """The ``input_ids`` column as plain lists (documents > sentences > ids), the input of
    ``create_instances``."""
    return tokenized.data.column("input_ids").to_pylist()


@dataclass
class PretrainingCollator:
    """Pads NSP instances into a batch and masks it anew on every call.

    Returns ``input_ids`` (masked), ``token_type_ids``, ``attention_mask``,
    ``labels`` (``IGNORE_INDEX`` where nothing is predicted) and ``next_sentence_label``
    (1 when B is a random sentence, as in ``BertForPreTraining``).
    """

    cls_id: int
    sep_id: int
    pad_id: int
    mask_token_id: int
    vocab_size: int
    random_token_ids: torch.Tensor
    generator: torch.Generator
    mlm_probability: float = 0.15
    max_predictions: int | None = 20
    pad_to: int | None = None  # pad every batch to this length instead of its longest instance
    _worker_seed: int | None = field(default=None, init=False, repr=False)
    _worker_generator: torch.Generator | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_tokenizer(
        cls,
        tokenizer: PreTrainedTokenizerBase,
        *,
        generator: torch.Generator,
        mlm_probability: float = 0.15,
        max_predictions: int | None = 20,
        pad_to: int | None = None,
    ) -> PretrainingCollator:
        """A collator with the tokenizer's special ids and its real WordPieces as random
        replacements."""
        return cls(
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
            tokenizer.pad_token_id,
            tokenizer.mask_token_id,
            len(tokenizer),
            replaceable_token_ids(tokenizer),
            generator,
            mlm_probability,
            max_predictions,
            pad_to,
        )

    def _masking_generator(self) -> torch.Generator:
        # A DataLoader worker holds a copy of this collator, and a new copy each epoch: masks drawn
        # from the copied generator would repeat every epoch. Workers draw instead from the seed
        # the DataLoader gives them, which changes per epoch and follows the loader's generator.
        worker = get_worker_info()
        if worker is None:
            return self.generator
        if self._worker_seed != worker.seed:
            self._worker_seed = worker.seed
            self._worker_generator = torch.Generator().manual_seed(worker.seed)
        return self._worker_generator

    def __call__(self, instances: Sequence[Instance]) -> dict[str, torch.Tensor]:
        if not instances:
            raise ValueError("Cannot collate an empty batch of instances.")
        encoded = [
            encode_instance(instance, cls_id=self.cls_id, sep_id=self.sep_id)
            for instance in instances
        ]
        lengths = [len(features["input_ids"]) for features in encoded]
        length = self.pad_to or max(lengths)
        if max(lengths) > length:
            raise ValueError(
                f"An instance has {max(lengths)} tokens but pad_to={length}; build the instances "
                f"with max_seq_length={length} or raise pad_to."
            )

        def padded(name: str, value: int) -> torch.Tensor:
            # Row-wise copies into one NumPy array: ten times faster than torch.tensor on nested
            # lists.
            array = np.full((len(encoded), length), value, dtype=np.int64)
            for row, (features, n) in enumerate(zip(encoded, lengths, strict=True)):
                array[row, :n] = features[name]
            return torch.from_numpy(array)

        special_tokens_mask = padded("special_tokens_mask", 1).bool()  # padding is never predicted
        input_ids, labels = mask_tokens(
            padded("input_ids", self.pad_id),
            special_tokens_mask,
            vocab_size=self.vocab_size,
            mask_token_id=self.mask_token_id,
            mlm_probability=self.mlm_probability,
            max_predictions=self.max_predictions,
            generator=self._masking_generator(),
            random_token_ids=self.random_token_ids,
        )
        positions = torch.arange(length)
        return {
            "input_ids": input_ids,
            "token_type_ids": padded("token_type_ids", 0),
            "attention_mask": (positions < torch.tensor(lengths).unsqueeze(1)).long(),
            "labels": labels,
            "next_sentence_label": torch.tensor(
                [int(instance.is_random_next) for instance in instances]
            ),
        }


def build_dataloader(
    instances: Sequence[Instance],
    collator: PretrainingCollator,
    *,
    batch_size: int,
    generator: torch.Generator,
    shuffle: bool = True,
    drop_last: bool = False,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader over the instances; ``generator`` drives the shuffling (and the workers' seeds).

    Collation costs about a millisecond per batch of 128 x 128, so ``num_workers=0``
    (the default, and fully reproducible) is already faster than any model step.
    """
    if not instances:
        raise ValueError(
            "No instances to load; build them with bertedu.data.nsp.create_instances first."
        )
    return DataLoader(
        instances,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        collate_fn=collator,
        generator=generator,
        num_workers=num_workers,
    )
