"""Pretraining data faithful to BERT: documents, sentence pairs, masks and batches.

* :mod:`bertedu.data.sentences`: clean text and split it into sentences (pysbd);
* :mod:`bertedu.data.corpus`: documents from the embedded Wikipedia leads, local text files,
  and ``load_corpus(name)``, which picks a source by name;
* :mod:`bertedu.data.sources`: a multi-source corpus (Factbook, FOLDOC, Brown...), deduplicated,
  with a held-out split by document that adding sources never changes;
* :mod:`bertedu.data.text_formats`: readers for those sources' on-disk formats;
* :mod:`bertedu.data.rdata`: character vectors from an R package's lazy-load data;
* :mod:`bertedu.data.dedup`: repeated paragraphs and near-duplicate documents across sources;
* :mod:`bertedu.data.wikitext`: documents from WikiText-2/103 on the Hugging Face Hub;
* :mod:`bertedu.data.splits`: held-out sets by document;
* :mod:`bertedu.data.nsp`: next-sentence-prediction pairs (Google's ``create_pretraining_data.py``);
* :mod:`bertedu.data.masking`: MLM masking, 15% and 80/10/10;
* :mod:`bertedu.data.pipeline`: cached tokenization, the collator and the DataLoader;
* :mod:`bertedu.data.display`: HTML pictures of instances and masked batches for the book.
"""
