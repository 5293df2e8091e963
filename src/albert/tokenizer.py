"""ALBERT's tokenizer: the released SentencePiece ids, offsets into the original text, batching.

:class:`AlbertTokenizer` reproduces the ids of the reference (slow) ALBERT tokenizer of
transformers 4.x exactly: ALBERT's own preprocessing (see :mod:`albert.text_normalization`),
SentencePiece, then the re-split of pieces such as ``▁9,`` into ``▁9 ,``. The one deliberate
difference: text that directly follows a special token written in the text (``"a [MASK]."``) is
encoded as the continuation of a word, as in pretraining, not as the start of a new one.

The calling convention (``tok(texts, text_pair, truncation=..., padding=..., ...)``, the output
keys, overflow windows with a stride, offsets and word ids) follows transformers' tokenizers so
that data collators, training loops and the QA recipe work unchanged. :class:`BaseTokenizer`
(:mod:`albert.tokenization_base`) holds that convention and composes the pure assembly of rows
(:mod:`albert.encoding_assembly`: truncation, windows, special tokens, padding, offsets); this
module supplies only the piece encoding, as the WordPiece tokenizer of the Chinese ALBERT
checkpoints (:mod:`albert.wordpiece`) does.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sentencepiece as spm

from albert import text_normalization
from albert.atomic_files import write_bytes_atomic
from albert.encoding_assembly import EncodedText
from albert.errors import CheckpointError, InputTypeError, OptionError
from albert.hub import ModelNotFoundError, local_folder, resolve_file
from albert.text_normalization import Span
from albert.tokenization_base import (
    DEFAULT_MODEL_MAX_LENGTH,
    SPECIAL_TOKEN_ATTRIBUTES,
    BaseTokenizer,
    BatchEncoding,
    as_id_list,
    build_from_config,
    check_flag,
    clean_up_tokenization,
    save_tokenizer_folder,
    word_ids_from_offsets,
    word_spans,
    write_configs,
)
from albert.tokenizer_inputs import check_utf8

SPIECE_UNDERLINE = "\u2581"
VOCAB_FILE = "spiece.model"
#: From this many texts on, ids come from SentencePiece's multi-threaded batch API; fewer are
#: encoded one call each (the batch API's thread start costs more than they do).
BATCH_API_MIN_TEXTS = 16
#: What _join_decoded joins: ids (decode) or pieces (convert_tokens_to_string).
_Item = TypeVar("_Item", int, str)

# --------------------------------------------------------------------------------------------------
# ALBERT's SentencePiece tokenizer
# --------------------------------------------------------------------------------------------------

_DEFAULT_SPECIAL_TOKENS = {
    "bos_token": "[CLS]",
    "eos_token": "[SEP]",
    "unk_token": "<unk>",
    "sep_token": "[SEP]",
    "pad_token": "<pad>",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


@dataclass(frozen=True)
class _Chunk:
    """A stretch of the text between special tokens, or one special token written in the text."""

    start: int
    end: int
    special_id: int | None = None
    glued: bool = False  # directly follows a special token: continues a word, no "▁" before it


@dataclass(frozen=True)
class _CommaSplit:
    """How the reference re-splits a piece like ``▁9,``: sub-pieces, their ids, spans in the piece."""

    pieces: tuple[str, ...]
    ids: tuple[int, ...]
    spans: tuple[Span, ...]  # relative to the piece's text without "▁"; the comma is the last


class AlbertTokenizer(BaseTokenizer):
    """ALBERT's SentencePiece tokenizer, giving exactly the ids ALBERT was pretrained with.

    Args:
        vocab_file: ALBERT's ``spiece.model``.
        do_lower_case: lowercase the text (all released ALBERT models do).
        remove_space: strip and collapse whitespace before SentencePiece.
        keep_accents: keep accents instead of removing them after NFKD decomposition.
        model_max_length: the longest input the model takes; ``truncation=True`` cuts to it.
        bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token: the special
            tokens (they must be in the vocabulary).
        num_threads: threads SentencePiece uses for batches (-1: all cores).

    Use :meth:`from_pretrained` to load from a model folder or the Hugging Face Hub.
    """

    config_options = (
        "do_lower_case", "remove_space", "keep_accents", "model_max_length", "num_threads", *SPECIAL_TOKEN_ATTRIBUTES,
    )  # fmt: skip

    def __init__(
        self,
        vocab_file: str | os.PathLike[str],
        do_lower_case: bool = True,
        remove_space: bool = True,
        keep_accents: bool = False,
        model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
        bos_token: str = "[CLS]",
        eos_token: str = "[SEP]",
        unk_token: str = "<unk>",
        sep_token: str = "[SEP]",
        pad_token: str = "<pad>",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        num_threads: int = -1,
    ) -> None:
        path = Path(vocab_file)
        if not path.is_file():
            raise ModelNotFoundError(
                f"no SentencePiece model at {path}: pass the path of ALBERT's spiece.model, or load a model "
                "folder / Hub id with AlbertTokenizer.from_pretrained(...)."
            )
        self.vocab_file = str(path)
        self.do_lower_case = check_flag("do_lower_case", do_lower_case)
        self.remove_space = check_flag("remove_space", remove_space)
        self.keep_accents = check_flag("keep_accents", keep_accents)
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < -1:
            raise OptionError(f"num_threads={num_threads!r} must be an integer: -1 (every core), 0 or more.")
        self.num_threads = num_threads
        self._load_model(path.read_bytes(), str(path))
        special_tokens = {
            "bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token, "sep_token": sep_token,
            "pad_token": pad_token, "cls_token": cls_token, "mask_token": mask_token,
        }  # fmt: skip
        super().__init__(special_tokens, model_max_length)
        self._prepare_special_matching()

    # -- loading ---------------------------------------------------------------------------------

    def _load_model(self, model_bytes: bytes, source: str) -> None:
        """Load the SentencePiece model twice: as is, and without the "▁" it puts before a text.

        The second one encodes text glued to a special token, which continues a word.
        """
        from sentencepiece import sentencepiece_model_pb2

        try:
            proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # protobuf-generated, no stub
            proto.ParseFromString(model_bytes)
            if not proto.pieces:
                raise CheckpointError("it holds no vocabulary")
            processor = spm.SentencePieceProcessor()
            processor.LoadFromSerializedProto(model_bytes)
            proto.normalizer_spec.add_dummy_prefix = False
            glued = spm.SentencePieceProcessor()
            glued.LoadFromSerializedProto(proto.SerializeToString())
        except Exception as error:  # protobuf and sentencepiece raise assorted types for a bad file
            raise CheckpointError(
                f"could not load {source} as a SentencePiece model ({type(error).__name__}: {error}). The file is "
                "corrupt or not a SentencePiece model: use the spiece.model shipped with ALBERT checkpoints."
            ) from None  # the message holds the cause: one error, not two tracebacks
        self._model_bytes = model_bytes
        self._sp = processor
        self._sp_glued = glued
        self._unk_id = processor.unk_id()
        self._comma_splits = self._find_comma_pieces()
        self._comma_splits_by_piece = {
            processor.id_to_piece(index): split for index, split in self._comma_splits.items()
        }

    def _find_comma_pieces(self) -> dict[int, _CommaSplit]:
        """Every vocabulary piece ending in ``<digit>,`` and how the reference re-splits it."""
        splits = {}
        for index in range(self._sp.get_piece_size()):
            piece = self._sp.id_to_piece(index)
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                splits[index] = self._comma_split(piece)
        return splits

    def _comma_split(self, piece: str) -> _CommaSplit:
        """``▁9,`` -> ``▁9 ,``; ``9,`` (inside a word) -> ``9 ,``, as ALBERT's original tokenization does."""
        core = piece[:-1].replace(SPIECE_UNDERLINE, "")
        pieces, sub_spans = self._pieces_with_spans(self._sp, core)
        sub_pieces = [sub for sub, _ in pieces]
        if (
            not piece.startswith(SPIECE_UNDERLINE)
            and sub_pieces
            and sub_pieces[0].startswith(SPIECE_UNDERLINE)
        ):
            # the piece continued a word, so its re-encoding must not start a new one
            if sub_pieces[0] == SPIECE_UNDERLINE:
                sub_pieces, sub_spans = sub_pieces[1:], sub_spans[1:]
            else:
                sub_pieces[0] = sub_pieces[0][1:]
        sub_pieces.append(",")
        sub_spans.append((len(core), len(core) + 1))
        ids = []
        for sub in sub_pieces:
            index = self._token_to_id(sub)
            ids.append(index if index is not None else self._unk_id)
        return _CommaSplit(tuple(sub_pieces), tuple(ids), tuple(sub_spans))

    def _prepare_special_matching(self) -> None:
        """Regexes that find special tokens written in the text (longest first at each position)."""
        tokens = sorted(set(self.all_special_tokens), key=len, reverse=True)
        self._special_pattern = re.compile("|".join(re.escape(token) for token in tokens))
        # The reference lowercases the text around special tokens before looking for them, so
        # "<PAD>" is found as "<pad>"; only tokens that are their own lowercase can match that way.
        self._lowercase_tokens = tuple(
            token for token in tokens if text_normalization.lowercase_per_char(token) == token
        ) if self.do_lower_case else ()  # fmt: skip
        # A text without any character that can start a special token needs no regex at all. A
        # cased first letter could also come from other characters once lowered, so then no shortcut.
        first_chars = {token[0] for token in tokens}
        uncased = all(char.lower() == char.upper() for char in first_chars)
        self._special_first_chars = tuple(first_chars) if uncased or not self._lowercase_tokens else None

    # -- vocabulary ------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the SentencePiece vocabulary (30000 for ALBERT)."""
        return self._sp.get_piece_size()

    def get_vocab(self) -> dict[str, int]:
        """Piece -> id for the whole vocabulary."""
        return {self._sp.id_to_piece(index): index for index in range(self.vocab_size)}

    def _token_to_id(self, token: str) -> int | None:
        index = self._sp.piece_to_id(token)
        if index == self._unk_id and token != self._sp.id_to_piece(index):
            return None
        return index

    def _id_to_token(self, index: int) -> str:
        return self._sp.id_to_piece(index)

    # -- splitting off special tokens written in the text ----------------------------------------

    def _chunks(self, text: str) -> list[_Chunk]:
        """Cut the text at special tokens written in it; text glued to a special token is marked."""
        matches = self._special_matches(text)
        if not matches:
            return [_Chunk(0, len(text))]
        chunks = []
        position = 0
        previous_special = False
        for start, end, special_id in matches:
            if start > position:
                glued = previous_special and not text[position].isspace()
                chunks.append(_Chunk(position, start, None, glued))
            chunks.append(_Chunk(start, end, special_id))
            position, previous_special = end, True
        if position < len(text):
            chunks.append(_Chunk(position, len(text), None, not text[position].isspace()))
        return chunks

    def _special_matches(self, text: str) -> list[tuple[int, int, int]]:
        """Special tokens in the text as (start, end, id), matched as the reference matches them."""
        if self._special_first_chars is not None and not any(
            char in text for char in self._special_first_chars
        ):
            return []
        exact = [(m.start(), m.end()) for m in self._special_pattern.finditer(text)]
        lowered_may_match = self._lowercase_tokens and any(
            token in text.lower() for token in self._lowercase_tokens
        )  # fmt: skip
        if lowered_may_match:
            exact = self._matches_in_lowercased(text, exact)
        return [(start, end, self._special_id_at(text, start, end)) for start, end in exact]

    def _special_id_at(self, text: str, start: int, end: int) -> int:
        """The id of the special token matched at ``text[start:end]``, as written or lowercased."""
        token = text[start:end]
        index = self._token_to_id(token)
        if index is None:
            index = self._token_to_id(text_normalization.lowercase_per_char(token))
        # the pattern matches special tokens only, and each was checked to be in the vocabulary
        assert index is not None
        return index

    def _matches_in_lowercased(self, text: str, exact: list[Span]) -> list[Span]:
        """Find special tokens the way the reference does: in the text lowercased around exact matches.

        Returns spans in the original text. Lowercasing can change lengths (``İ`` -> ``i̇``), so
        the lowered view keeps, for each of its characters, the original index.
        """
        view_chars: list[str] = []
        view_origin: list[int] = []
        position = 0
        for start, end in [*exact, (len(text), len(text))]:
            for index in range(position, start):
                lowered = text_normalization.lowercase_per_char(text[index])
                view_chars.append(lowered)
                view_origin.extend([index] * len(lowered))
            view_chars.append(text[start:end])
            view_origin.extend(range(start, end))
            position = end
        view = "".join(view_chars)
        return [
            (view_origin[m.start()], view_origin[m.end() - 1] + 1)
            for m in self._special_pattern.finditer(view)
        ]

    # -- encoding: the fast path (ids only) ------------------------------------------------------

    def _normalize(self, text: str) -> str:
        return text_normalization.normalize(
            text,
            do_lower_case=self.do_lower_case,
            remove_space=self.remove_space,
            keep_accents=self.keep_accents,
        )

    def _encode_texts(self, texts: list[str], with_alignment: bool) -> list[EncodedText]:
        if with_alignment:
            return [self._encode_aligned(text) for text in texts]
        return [EncodedText(ids) for ids in self._encode_ids(texts)]

    def _encode_ids(self, texts: list[str]) -> list[list[int]]:
        """Ids of many texts through SentencePiece's multi-threaded batch API, no per-character work."""
        plain: list[str] = []  # normalized chunks encoded as text starts
        glued: list[str] = []  # normalized chunks that continue a word (after a special token)
        plans: list[int | list[tuple[int, int]]] = []
        for text in texts:
            chunks = self._chunks(text)
            if len(chunks) == 1 and chunks[0].special_id is None:
                plans.append(len(plain))
                plain.append(self._normalize(text))
                continue
            steps: list[tuple[int, int]] = []
            for chunk in chunks:
                if chunk.special_id is not None:
                    steps.append((0, chunk.special_id))
                else:
                    target = glued if chunk.glued else plain
                    steps.append((2 if chunk.glued else 1, len(target)))
                    target.append(self._normalize(text[chunk.start : chunk.end]))
            plans.append(steps)
        plain_ids = self._encode_many(self._sp, plain)
        glued_ids = self._encode_many(self._sp_glued, glued)
        results = []
        for plan in plans:
            if isinstance(plan, int):
                results.append(self._split_commas(plain_ids[plan]))
                continue
            ids: list[int] = []
            for kind, value in plan:
                if kind == 0:
                    ids.append(value)
                else:
                    ids.extend(self._split_commas((plain_ids if kind == 1 else glued_ids)[value]))
            results.append(ids)
        return results

    def _encode_many(self, processor: Any, texts: list[str]) -> list[list[int]]:
        """SentencePiece ids of normalized texts: a few one call each, many through the batch API.

        The batch API starts its threads on every call (~75 microseconds here, a dozen texts'
        worth of encoding), which a service tokenizing one request's sentence at a time pays
        on each; below :data:`BATCH_API_MIN_TEXTS` texts, one call per text is faster.
        """
        if len(texts) < BATCH_API_MIN_TEXTS:
            return [processor.encode(text) for text in texts]
        return processor.encode(texts, num_threads=self.num_threads)

    def _split_commas(self, ids: list[int]) -> list[int]:
        """Replace pieces like ``▁9,`` by the reference's re-split (``▁9`` ``,``)."""
        if self._comma_splits.keys().isdisjoint(ids):
            return ids
        out: list[int] = []
        for index in ids:
            split = self._comma_splits.get(index)
            if split is None:
                out.append(index)
            else:
                out.extend(split.ids)
        return out

    # -- encoding: pieces ------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The pieces of a text (without [CLS]/[SEP]), e.g. ``["▁hello", "▁world"]``."""
        if not isinstance(text, str):
            raise InputTypeError(f"tokenize() takes a str, got {type(text).__name__}.")
        check_utf8([text], "text", batched=False)
        pieces: list[str] = []
        for chunk in self._chunks(text):
            if chunk.special_id is not None:
                pieces.append(self._id_to_token(chunk.special_id))
                continue
            processor = self._sp_glued if chunk.glued else self._sp
            for piece in processor.encode(self._normalize(text[chunk.start : chunk.end]), out_type=str):
                split = self._comma_splits_by_piece.get(piece)
                pieces.extend(split.pieces if split is not None else (piece,))
        return pieces

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Join pieces back into text; special tokens are kept as written (the reference's spacing)."""
        special = {token: token for token in self.all_special_tokens}
        return self._join_decoded(list(tokens), self._sp.decode_pieces, special)

    @staticmethod
    def _join_decoded(
        items: list[_Item], decode_run: Callable[[list[_Item]], str], special: Mapping[_Item, str]
    ) -> str:
        """Decode runs of ordinary items with SentencePiece, keeping special tokens as they are.

        Mirrors the reference's spacing so decoded text matches it: a special token that follows
        ordinary text is preceded by a space and that text; consecutive special tokens are glued.
        """
        out: list[str] = []
        run: list[_Item] = []
        previous_special = False
        for item in items:
            if item not in special:
                run.append(item)
                previous_special = False
                continue
            if not previous_special:
                out.append(" ")
            out.append(decode_run(run) + special[item])
            run, previous_special = [], True
        out.append(decode_run(run))
        return "".join(out).strip()

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Turn ids back into text (as the reference tokenizer does, special tokens included)."""
        ids = [self._checked_id(index) for index in as_id_list(token_ids)]
        if skip_special_tokens:
            ids = [index for index in ids if index not in self._special_id_set]
        special = {index: self._id_to_token(index) for index in self._special_id_set}
        text = self._join_decoded(ids, self._sp.decode, special)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    # -- encoding: the offsets path --------------------------------------------------------------

    def _encode_aligned(self, text: str) -> EncodedText:
        """Ids, offsets into the original text and word ids of one text."""
        ids: list[int] = []
        offsets: list[Span] = []
        special_spans = []
        for chunk in self._chunks(text):
            if chunk.special_id is not None:
                ids.append(chunk.special_id)
                offsets.append((chunk.start, chunk.end))
                special_spans.append((chunk.start, chunk.end))
                continue
            chunk_ids, chunk_offsets = self._encode_chunk_aligned(text[chunk.start : chunk.end], chunk.glued)
            ids.extend(chunk_ids)
            offsets.extend((start + chunk.start, end + chunk.start) for start, end in chunk_offsets)
        words = word_spans(text, special_spans)
        return EncodedText(ids, offsets, word_ids_from_offsets(offsets, words))

    def _encode_chunk_aligned(self, chunk: str, glued: bool) -> tuple[list[int], list[Span]]:
        """Encode one chunk, mapping each piece back to the chunk's original characters."""
        normalized, origin = text_normalization.normalize_with_alignment(
            chunk,
            do_lower_case=self.do_lower_case,
            remove_space=self.remove_space,
            keep_accents=self.keep_accents,
        )
        processor = self._sp_glued if glued else self._sp
        ids: list[int] = []
        spans: list[Span] = []
        pieces, piece_spans = self._pieces_with_spans(processor, normalized)
        for (_, index), (start, end) in zip(pieces, piece_spans, strict=True):
            split = self._comma_splits.get(index)
            if split is None:
                ids.append(index)
                spans.append(_to_original(start, end, origin, len(chunk)))
                continue
            # sub-pieces get their own part of the piece when its text has the expected length
            exact = end - start == split.spans[-1][1]
            for sub_index, (sub_start, sub_end) in zip(split.ids, split.spans, strict=True):
                sub = (start + sub_start, start + sub_end) if exact else (start, end)
                ids.append(sub_index)
                spans.append(_to_original(*sub, origin, len(chunk)))
        return ids, spans

    @staticmethod
    def _pieces_with_spans(
        processor: spm.SentencePieceProcessor, text: str
    ) -> tuple[list[tuple[str, int]], list[Span]]:
        """SentencePiece's pieces of ``text`` (each with its id) with character spans that leave out the "▁" space.

        SentencePiece reports byte offsets of each piece's surface (the input it covers, which
        for a "▁word" piece starts with the whitespace before the word); this converts them to
        characters and drops that whitespace. A lone "▁" gets an empty span where the next
        character starts. When SentencePiece's own normalization expands one character into
        several pieces (``ﬃ`` -> ``▁f`` ``fi``), it gives the character to the last of them; the
        others get that character's span too.
        """
        from sentencepiece import sentencepiece_pb2

        result = sentencepiece_pb2.SentencePieceText()  # type: ignore[attr-defined]  # protobuf-generated, no stub
        result.ParseFromString(processor.encode(text, out_type="serialized_proto"))
        char_at = _byte_to_char(text)
        pieces: list[tuple[str, int]] = []
        spans: list[Span] = []
        borrowing: list[int] = []  # pieces with text but no character of their own
        for piece in result.pieces:
            start, end = char_at[piece.begin], char_at[piece.end]
            body = piece.piece[1:] if piece.piece.startswith(SPIECE_UNDERLINE) else piece.piece
            if body != piece.piece:
                start = end if not body else start + _leading_blank_count(piece.surface, body)
            if body and start == end:
                borrowing.append(len(spans))
            pieces.append((piece.piece, piece.id))
            spans.append((start, end))
        for index in borrowing:
            spans[index] = _expanded_span(spans, index)
        return pieces, spans

    # -- is_split_into_words ---------------------------------------------------------------------

    def _encode_word_lists(self, word_lists: list[list[str]], with_alignment: bool) -> list[EncodedText]:
        """Encode each word as its own text (as the reference does); offsets are within each word."""
        flat = [word for words in word_lists for word in words]
        encoded_words = self._encode_texts(flat, with_alignment)
        results = []
        position = 0
        for words in word_lists:
            ids: list[int] = []
            offsets: list[Span] = []
            word_ids: list[int | None] = []
            for word_index, encoded in enumerate(encoded_words[position : position + len(words)]):
                ids.extend(encoded.ids)
                if with_alignment:
                    assert encoded.offsets is not None  # _encode_texts(..., with_alignment=True) gives them
                    offsets.extend(encoded.offsets)
                    word_ids.extend([word_index] * len(encoded.ids))
            position += len(words)
            results.append(EncodedText(ids, offsets, word_ids) if with_alignment else EncodedText(ids))
        return results

    # -- saving and loading ----------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "tokenizer_class": "AlbertTokenizer",
            "do_lower_case": self.do_lower_case,
            "remove_space": self.remove_space,
            "keep_accents": self.keep_accents,
            "model_max_length": self.model_max_length,
            "clean_up_tokenization_spaces": False,
            **self._special_tokens,
        }

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> tuple[str, ...]:
        """Write spiece.model, tokenizer_config.json and special_tokens_map.json into a folder.

        The folder loads back with :meth:`from_pretrained` and with transformers'
        ``AlbertTokenizer`` / ``AutoTokenizer``.
        """
        return save_tokenizer_folder(save_directory, lambda folder: (
            write_bytes_atomic(folder / VOCAB_FILE, self._model_bytes),
            *write_configs(folder, self._config(), self._special_tokens),
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
    ) -> BaseTokenizer:
        """Load the tokenizer of a model folder, a shipped model, or a Hub id (e.g. "albert/albert-base-v2").

        Reads ``spiece.model`` and, when present, ``tokenizer_config.json`` (lowercasing, accents,
        model_max_length, special tokens); keyword arguments override those settings. A model
        with a WordPiece ``vocab.txt`` instead (the Chinese ALBERT family) gives an
        :class:`albert.wordpiece.AlbertWordPieceTokenizer`.
        """
        return load_tokenizer(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
            token=token, **overrides,
        )  # fmt: skip

    # -- pickling (multiprocessing data loaders, datasets.map) -----------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_sp", "_sp_glued", "_special_pattern"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._load_model(self._model_bytes, self.vocab_file)
        self._prepare_special_matching()

    def __repr__(self) -> str:
        return (
            f"AlbertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
            f"remove_space={self.remove_space}, keep_accents={self.keep_accents}, "
            f"model_max_length={self.model_max_length})"
        )


def _byte_to_char(text: str) -> list[int]:
    """For each UTF-8 byte offset of ``text`` (and its end), the character index there."""
    if text.isascii():
        return list(range(len(text) + 1))
    table: list[int] = []
    for index, char in enumerate(text):
        table.extend([index] * len(char.encode("utf-8")))
    table.append(len(text))
    return table


def _leading_blank_count(surface: str, body: str) -> int:
    """How many leading characters of a "▁word" piece's surface are the space SentencePiece saw.

    That is whitespace and invisible format/control characters, which SentencePiece's
    normalization turns into a space or drops, unless the word itself starts with it.
    """
    count = 0
    while count < len(surface) and surface[count] != body[0] and _is_blank(surface[count]):
        count += 1
    return count


def _is_blank(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def _expanded_span(spans: list[Span], index: int) -> Span:
    """The span of the character a piece was expanded from: the next piece that has characters."""
    for start, end in spans[index + 1 :]:
        if start < end:
            return start, end
    for start, end in reversed(spans[:index]):
        if start < end:
            return start, end
    return spans[index]


def _to_original(start: int, end: int, origin: list[Span], chunk_length: int) -> Span:
    """Map a span of the normalized text to the original chunk; empty spans stay empty."""
    if start < end:
        return origin[start][0], origin[end - 1][1]
    if start < len(origin):
        position = origin[start][0]
    else:
        position = origin[-1][1] if origin else chunk_length
    return position, position


# --------------------------------------------------------------------------------------------------
# from_pretrained / save_pretrained helpers
# --------------------------------------------------------------------------------------------------


def load_tokenizer(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    **overrides: Any,
) -> BaseTokenizer:
    """The tokenizer of a model folder, a shipped model name or a Hub id: the one loader albert uses.

    Reads ``spiece.model`` (an :class:`AlbertTokenizer`) or, failing that, a WordPiece
    ``vocab.txt`` (an :class:`albert.wordpiece.AlbertWordPieceTokenizer`), with the settings of
    ``tokenizer_config.json`` / ``special_tokens_map.json``; ``overrides`` replace those settings.

    Raises:
        ModelNotFoundError: neither vocabulary is there; the message lists what the folder holds.
        OptionTypeError: an override that is not a tokenizer option. OptionError: an override
            of the wrong value. ConfigError: a saved setting of the wrong value.
    """
    hub: dict[str, Any] = {"revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
    vocab = resolve_file(name_or_path, VOCAB_FILE, required=False, **hub)
    if vocab is not None:
        return build_from_config(AlbertTokenizer, vocab, name_or_path, hub, overrides)
    wordpiece_vocab = resolve_file(name_or_path, "vocab.txt", required=False, **hub)
    if wordpiece_vocab is None:
        raise ModelNotFoundError(_missing_vocab_message(name_or_path))
    from albert.wordpiece import AlbertWordPieceTokenizer

    return build_from_config(AlbertWordPieceTokenizer, wordpiece_vocab, name_or_path, hub, overrides)


def _missing_vocab_message(name_or_path: str | os.PathLike[str]) -> str:
    folder = local_folder(name_or_path)
    if folder is not None:
        present = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        return (
            f"{folder} has no tokenizer vocabulary: it needs spiece.model (SentencePiece, the ALBERT models) "
            f"or vocab.txt (WordPiece, the Chinese ALBERT models), and holds: {present}. "
            "Save a tokenizer there with tokenizer.save_pretrained(folder)."
        )
    return (
        f"found neither spiece.model nor vocab.txt for '{name_or_path}': the Hub model has no tokenizer "
        "vocabulary, or the Hub is unreachable (offline?) and the files are not in the cache. "
        "Point at a local folder that holds spiece.model instead."
    )


__all__ = ["AlbertTokenizer", "BatchEncoding", "BaseTokenizer", "load_tokenizer"]
