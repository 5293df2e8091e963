"""Saving any albert model as a sentence-transformers folder: the encoder, its tokenizer and the
sentence-embedding settings (:mod:`albert.sentence_folder`), so that
``sentence_transformers.SentenceTransformer(folder)`` loads it and gives albert's vectors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .atomic_files import atomic_folder
from .errors import OptionError, OptionTypeError
from .sentence_folder import SentenceEmbeddingConfig, read_sentence_config, write_sentence_config


def save_sentence_transformer(
    model: Any,
    out: str | os.PathLike[str],
    *,
    tokenizer: Any = None,
    pooling: str | None = None,
    normalize: bool | None = None,
    max_length: int | None = None,
    dimension: int | None = None,
    matryoshka_dimensions: tuple[int, ...] | list[int] | None = None,
) -> Path:
    """Save ``model``'s encoder as a sentence-transformers folder ``out``.

    Args:
        model: an albert model (any head: its encoder is saved) or a folder or name to load one from.
        tokenizer: the tokenizer to save beside it; by default the one of the folder the model came from.
        pooling, normalize, max_length, dimension, matryoshka_dimensions: the settings
            (:class:`~albert.sentence_folder.SentenceEmbeddingConfig`); a setting left out keeps the
            model folder's own when it is a sentence folder already, else the default (mean pooling,
            normalised, the model's window, every dimension).

    Returns:
        ``out``.

    Raises:
        OptionError: a setting that is not allowed (a dimension past the hidden size ...), or a
            model without a tokenizer to save.
        OptionTypeError: ``model`` is neither a model nor a folder or name.
        ModelNotFoundError, CheckpointError, SentenceFolderError: the model cannot be loaded.
        FolderInUseError, OutputError, DiskFullError: ``out`` cannot be written.
    """
    from .modeling import AlbertPreTrainedModel
    from .pipelines.embeddings import load_encoder
    from .tokenizer import load_tokenizer

    saved: SentenceEmbeddingConfig | None = None
    if isinstance(model, (str, os.PathLike)):
        saved = read_sentence_config(model) if Path(model).is_dir() else None
        encoder = load_encoder(model)
    elif isinstance(model, AlbertPreTrainedModel):
        encoder = getattr(model, "albert", model)
    else:
        raise OptionTypeError(f"model must be an albert model or a folder, got {type(model).__name__}")
    source = getattr(encoder, "name_or_path", None) or getattr(model, "name_or_path", None)
    if tokenizer is None:
        if source is None:
            raise OptionError(
                "the model was passed without a tokenizer and does not say where it was loaded from: pass "
                "tokenizer=AlbertTokenizer.from_pretrained(...) too (a sentence-transformers folder needs one)"
            )
        tokenizer = load_tokenizer(source)
    given: dict[str, Any] = {
        "pooling": pooling, "normalize": normalize, "max_length": max_length, "dimension": dimension,
        "matryoshka_dimensions": tuple(matryoshka_dimensions) if matryoshka_dimensions is not None else None,
    }  # fmt: skip
    config = dataclasses.replace(saved or SentenceEmbeddingConfig(), **{k: v for k, v in given.items() if v is not None})
    hidden_size = int(encoder.config.hidden_size)
    config.check_hidden_size(hidden_size)  # before anything is written
    # One all-or-nothing save: the encoder's own save_pretrained joins this one.
    with atomic_folder(out, last=("modules.json", "config.json")) as staging:
        encoder.save_pretrained(staging, tokenizer=tokenizer)
        write_sentence_config(staging, config, hidden_size)
    return Path(out)
