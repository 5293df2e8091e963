"""One codec per task: features from an example, records from the model's outputs.

Fine-tuning, evaluation, the pipelines, the service and the Spark stages (through the pipelines)
all encode and decode with these, so a model reads its inputs the same way wherever it runs;
pairs are cut by transformers' ``longest_first``. Torch-free: the service's HTTP side encodes
with them and sends ids to the model's process.
"""

from __future__ import annotations

from .base import Encoded, Feature, TruncationWarning, build_inputs, encode_pairs
from .embeddings import EmbeddingsCodec
from .multiple_choice import MultipleChoiceCodec
from .question_answering import QuestionAnsweringCodec, decode_answers
from .text_classification import TextClassificationCodec
from .token_classification import TokenClassificationCodec

__all__ = [
    "EmbeddingsCodec",
    "Encoded",
    "Feature",
    "MultipleChoiceCodec",
    "QuestionAnsweringCodec",
    "TextClassificationCodec",
    "TokenClassificationCodec",
    "TruncationWarning",
    "build_inputs",
    "decode_answers",
    "encode_pairs",
]
