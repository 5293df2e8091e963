"""Training a SentencePiece vocabulary with ALBERT's settings, into a folder AlbertTokenizer loads.

The settings are those stored in ALBERT's released ``30k-clean.model`` (its trainer spec):
a unigram model; <pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4 (control symbols, never produced
from text), no <s>/</s>; the same user-defined pieces; character coverage 0.99995; pieces of
at most 16 characters; NFKC normalization. The text is fed through ALBERT's own preprocessing
first (lowercase, accents stripped, whitespace collapsed), the same function the tokenizer
applies, so the vocabulary is learnt on exactly what it will later see.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ...atomic_files import write_bytes_atomic
from ...errors import OptionError
from ...text_normalization import normalize
from .corpus import CorpusError, iter_documents

#: ALBERT's special pieces, in id order from 2 (0 and 1 are <pad> and <unk>).
CONTROL_SYMBOLS = ("[CLS]", "[SEP]", "[MASK]")
#: Pieces ALBERT's vocabulary always keeps whole.
USER_DEFINED_SYMBOLS = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")


def _normalized_sentences(paths: Sequence[str | os.PathLike[str]], counter: list[int]) -> Iterator[str]:
    for document in iter_documents(paths, min_document_chars=0):
        for sentence in document.sentences:
            text = normalize(sentence)
            if text:
                counter[0] += 1
                yield text


_INT32_MAX = 2**31 - 1


def train_tokenizer(
    corpus: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    vocab_size: int = 30000,
    *,
    max_sentences: int = 10_000_000,
    model_max_length: int = 512,
    num_threads: int | None = None,
    seed: int = 0,
) -> Path:
    """Train a unigram SentencePiece model on the corpus and write ``spiece.model``,
    ``tokenizer_config.json`` and ``special_tokens_map.json`` into ``out_dir``.

    Args:
        corpus: text files (.txt, .txt.gz, .txt.xz) and folders of them.
        vocab_size: pieces in the vocabulary, special ones included (ALBERT: 30,000).
        max_sentences: sentences sampled for training at most (SentencePiece's input_sentence_size).
        model_max_length: written to the tokenizer config (the model's longest input).
        seed: SentencePiece's random seed (sampling of sentences), for a reproducible vocabulary.

    Returns:
        The folder, which ``AlbertTokenizer.from_pretrained`` loads.

    Raises:
        CorpusError: unreadable or empty corpus, or too little text for ``vocab_size`` pieces.
        OptionError: a size or seed outside what SentencePiece takes.
    """
    import sentencepiece as spm

    minimum = 2 + len(CONTROL_SYMBOLS) + len(USER_DEFINED_SYMBOLS) + 1
    if not minimum <= vocab_size <= _INT32_MAX:
        raise OptionError(
            f"vocab_size must be between {minimum} (special and fixed pieces included) and {_INT32_MAX:,}, got {vocab_size}"
        )
    # SentencePiece takes these as C++ int32 / uint32: anything else is a TypeError deep inside it.
    if not 1 <= max_sentences <= _INT32_MAX:
        raise OptionError(f"max_sentences must be between 1 and {_INT32_MAX:,}, got {max_sentences}")
    if not 0 <= seed < 2**32:
        raise OptionError(f"seed must be between 0 and {2**32 - 1:,}, got {seed}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    counter = [0]
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_normalized_sentences(corpus, counter),
            model_writer=model,
            model_type="unigram",
            vocab_size=vocab_size,
            character_coverage=0.99995,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            max_sentence_length=4192,
            max_sentencepiece_length=16,
            split_by_unicode_script=True,
            split_by_whitespace=True,
            split_by_number=True,
            normalization_rule_name="nmt_nfkc",
            pad_id=0,
            unk_id=1,
            bos_id=-1,
            eos_id=-1,
            control_symbols=list(CONTROL_SYMBOLS),
            user_defined_symbols=list(USER_DEFINED_SYMBOLS),
            hard_vocab_limit=True,
            num_threads=num_threads or os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as error:
        if counter[0] == 0:
            raise CorpusError(f"the corpus {', '.join(map(str, corpus))} has no text to train a vocabulary on") from None
        raise CorpusError(
            f"SentencePiece could not train {vocab_size} pieces on {counter[0]:,} sentences ({error}); "
            "give more text or a smaller --vocab-size"
        ) from None

    write_bytes_atomic(folder / "spiece.model", model.getvalue())

    from ...tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer(folder / "spiece.model", model_max_length=model_max_length)
    tokenizer.save_pretrained(folder)
    return folder
