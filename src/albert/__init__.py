"""albert: ALBERT (A Lite BERT) models, tokenizer, checkpoints, pipelines and training in one package."""

from .checkpoint import CheckpointError, LoadingInfo
from .config import AlbertConfig
from .hub import ModelNotFoundError
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
from .tokenizer import AlbertTokenizer
from .version import __version__

__all__ = [
    "AlbertConfig",
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
    "__version__",
]
