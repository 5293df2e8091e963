"""albert: ALBERT (A Lite BERT) models, tokenizer, checkpoints, pipelines and training in one package.

The torch models and the pipelines are imported when first named (``albert.AlbertModel``,
``from albert import pipeline``), so that ``import albert.flax`` or ``albert.config`` never
loads torch, and the command line starts without it until a command needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import AlbertConfig
from .errors import (
    AlbertError,
    CheckpointError,
    ConfigError,
    DiskFullError,
    FolderInUseError,
    InputError,
    InputTypeError,
    ModelNotFoundError,
    OptionError,
    OptionTypeError,
    OutputError,
    SentenceFolderError,
    UntrainedHeadError,
)
from .sentence_folder import SentenceEmbeddingConfig
from .version import __version__

if TYPE_CHECKING:
    from .checkpoint_files import LoadingInfo
    from .modeling import (
        AlbertForMaskedLM,
        AlbertForMultipleChoice,
        AlbertForPreTraining,
        AlbertForQuestionAnswering,
        AlbertForSequenceClassification,
        AlbertForTokenClassification,
        AlbertModel,
        AlbertPreTrainedModel,
    )
    from .pipelines import pipeline
    from .sentence_export import save_sentence_transformer
    from .tokenizer import AlbertTokenizer

#: The public names that need torch (or more), and the module each lives in.
_LAZY = {
    **dict.fromkeys(
        ("AlbertForMaskedLM", "AlbertForMultipleChoice", "AlbertForPreTraining", "AlbertForQuestionAnswering",
         "AlbertForSequenceClassification", "AlbertForTokenClassification", "AlbertModel", "AlbertPreTrainedModel"),
        "modeling",
    ),  # fmt: skip
    "pipeline": "pipelines",
    "AlbertTokenizer": "tokenizer",
    "LoadingInfo": "checkpoint_files",
    "save_sentence_transformer": "sentence_export",  # it brings the tokenizer's numpy, which `albert --help` does without
}

__all__ = [
    "AlbertConfig",
    "AlbertError",
    "ConfigError",
    "DiskFullError",
    "FolderInUseError",
    "InputError",
    "InputTypeError",
    "OptionError",
    "OptionTypeError",
    "OutputError",
    "SentenceEmbeddingConfig",
    "SentenceFolderError",
    "UntrainedHeadError",
    "AlbertForMaskedLM",
    "AlbertForMultipleChoice",
    "AlbertForPreTraining",
    "AlbertForQuestionAnswering",
    "AlbertForSequenceClassification",
    "AlbertForTokenClassification",
    "AlbertModel",
    "AlbertPreTrainedModel",
    "CheckpointError",
    "LoadingInfo",
    "ModelNotFoundError",
    "AlbertTokenizer",
    "pipeline",
    "save_sentence_transformer",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
