"""The WordPiece tokenizer of the Chinese ALBERT checkpoints (e.g. ``voidful/albert_chinese_base``).

Those models were trained with BERT's WordPiece vocabulary (``vocab.txt``) rather than
SentencePiece, and are meant to be used with BERT's tokenizer. This wraps the ``tokenizers``
library's BERT pipeline (normalizer, pre-tokenizer, WordPiece model) behind the same interface
as :class:`albert.tokenizer.AlbertTokenizer`, so the rest of the package does not care which
kind a model has. The ids equal those of transformers' ``BertTokenizer`` on the same vocabulary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece

from albert.atomic_files import write_text_atomic
from albert.encoding_assembly import EncodedText
from albert.errors import CheckpointError, InputTypeError, ModelNotFoundError
from albert.tokenization_base import (
    DEFAULT_MODEL_MAX_LENGTH,
    BaseTokenizer,
    build_from_config,
    check_flag,
    clean_up_tokenization,
    save_tokenizer_folder,
    write_configs,
)

WORDPIECE_VOCAB_FILE = "vocab.txt"
_CONTINUATION = "##"


def read_vocab(path: Path) -> list[str]:
    """The tokens of a ``vocab.txt``, one per line, in id order."""
    try:
        with path.open(encoding="utf-8") as handle:  # split into lines exactly as BERT's own loader does
            lines = handle.readlines()
    except UnicodeDecodeError as error:
        raise CheckpointError(
            f"{path} is not a UTF-8 text file ({error}); a WordPiece vocab.txt has one token a line."
        ) from None
    tokens = [line.rstrip("\n") for line in lines]
    if not tokens:
        raise CheckpointError(f"{path} is empty: a WordPiece vocab.txt has one token a line.")
    return tokens


class AlbertWordPieceTokenizer(BaseTokenizer):
    """BERT-style WordPiece tokenizer for ALBERT models that ship a ``vocab.txt``.

    Args:
        vocab_file: the ``vocab.txt`` (one token a line; the line number is the id).
        do_lower_case: lowercase (and strip accents, unless ``strip_accents=False``).
        model_max_length: the longest input the model takes; ``truncation=True`` cuts to it.
        tokenize_chinese_chars: put spaces around CJK characters, so each is a word.
        strip_accents: None follows ``do_lower_case``, as in BERT.
        unk_token, sep_token, pad_token, cls_token, mask_token: special tokens of the vocabulary.
    """

    config_options = (
        "do_lower_case", "model_max_length", "tokenize_chinese_chars", "strip_accents",
        "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
    )  # fmt: skip
    #: BERT's decode removes the spaces before punctuation by default.
    clean_up_tokenization_spaces = True

    def __init__(
        self,
        vocab_file: str | os.PathLike[str],
        do_lower_case: bool = True,
        model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
    ) -> None:
        path = Path(vocab_file)
        if not path.is_file():
            raise ModelNotFoundError(
                f"no WordPiece vocabulary at {path}: pass the path of a vocab.txt, or load a model folder "
                "with AlbertTokenizer.from_pretrained(...)."
            )
        self.vocab_file = str(path)
        self.do_lower_case = check_flag("do_lower_case", do_lower_case)
        self.tokenize_chinese_chars = check_flag("tokenize_chinese_chars", tokenize_chinese_chars)
        self.strip_accents = check_flag("strip_accents", strip_accents, allow_none=True)
        self._tokens = read_vocab(path)
        # a token listed twice keeps its last id, as in transformers' BertTokenizer
        self._vocab = {token: index for index, token in enumerate(self._tokens)}
        special_tokens = {
            "unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token,
            "cls_token": cls_token, "mask_token": mask_token,
        }  # fmt: skip
        super().__init__(special_tokens, model_max_length)
        self._backend = self._build_backend()

    def _build_backend(self) -> Tokenizer:
        """BERT's pipeline: clean and lowercase, split on whitespace and punctuation, WordPiece."""
        backend = Tokenizer(WordPiece(self._vocab, unk_token=self.unk_token, max_input_chars_per_word=100))
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=self.strip_accents,
            lowercase=self.do_lower_case,
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        # special tokens written in the text are matched as written, before normalization
        backend.add_special_tokens(
            [AddedToken(token, special=True, normalized=False) for token in self.all_special_tokens]
        )
        return backend

    # -- vocabulary ------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens in vocab.txt."""
        return len(self._vocab)

    def get_vocab(self) -> dict[str, int]:
        """Token -> id for the whole vocabulary."""
        return dict(self._vocab)

    def _token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    def _id_to_token(self, index: int) -> str:
        return self._tokens[index]

    # -- encoding --------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of a text (without [CLS]/[SEP]), e.g. ``["hello", "##s"]``."""
        if not isinstance(text, str):
            raise InputTypeError(f"tokenize() takes a str, got {type(text).__name__}.")
        return self._backend.encode(text, add_special_tokens=False).tokens

    def _encode_texts(self, texts: list[str], with_alignment: bool) -> list[EncodedText]:
        """Encode texts in one batch; word ids are BERT's pre-tokens (as transformers' BertTokenizerFast).

        BERT's words split at punctuation and around every CJK character, which is what Chinese
        token classification needs (a whitespace word would be a whole sentence).
        """
        return self._from_encodings(
            self._backend.encode_batch(texts, add_special_tokens=False), with_alignment
        )

    def _encode_word_lists(self, word_lists: list[list[str]], with_alignment: bool) -> list[EncodedText]:
        """Encode given words; offsets are within each word and word ids index the words."""
        encodings = self._backend.encode_batch(word_lists, is_pretokenized=True, add_special_tokens=False)
        return self._from_encodings(encodings, with_alignment)

    @staticmethod
    def _from_encodings(encodings: list, with_alignment: bool) -> list[EncodedText]:
        if not with_alignment:
            return [EncodedText(encoding.ids) for encoding in encodings]
        return [
            EncodedText(encoding.ids, [tuple(span) for span in encoding.offsets], list(encoding.word_ids))
            for encoding in encodings
        ]

    # -- decoding --------------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join tokens with spaces and glue ``##`` continuations to the token before them."""
        return " ".join(tokens).replace(" " + _CONTINUATION, "").strip()

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Turn ids back into text, as BERT's tokenizer does (cleaning spaces before punctuation)."""
        text = self.convert_tokens_to_string(self.convert_ids_to_tokens(token_ids, skip_special_tokens))
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    # -- saving and loading ----------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> tuple[str, ...]:
        """Write vocab.txt, tokenizer_config.json and special_tokens_map.json (BertTokenizer-compatible)."""
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "strip_accents": self.strip_accents,
            "model_max_length": self.model_max_length,
            **self._special_tokens,
        }
        vocabulary = "".join(token + "\n" for token in self._tokens)
        return save_tokenizer_folder(save_directory, lambda folder: (
            write_text_atomic(folder / WORDPIECE_VOCAB_FILE, vocabulary),
            *write_configs(folder, config, self._special_tokens),
        ))  # fmt: skip

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **overrides: Any,
    ) -> AlbertWordPieceTokenizer:
        """Load the WordPiece tokenizer of a model folder or Hub id (its vocab.txt and tokenizer_config.json)."""
        from albert.hub import resolve_file

        hub: dict[str, Any] = {
            "revision": revision,
            "cache_dir": cache_dir,
            "local_files_only": local_files_only,
            "token": token,
        }
        vocab = resolve_file(name_or_path, WORDPIECE_VOCAB_FILE, **hub)
        return build_from_config(cls, vocab, name_or_path, hub, overrides)

    # -- pickling --------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_backend", None)  # rebuilt from the vocabulary on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._backend = self._build_backend()

    def __repr__(self) -> str:
        return (
            f"AlbertWordPieceTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
            f"model_max_length={self.model_max_length})"
        )
