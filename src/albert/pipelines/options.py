"""Each pipeline's call options, declared once as a frozen dataclass that checks itself.

A pipeline keeps its constructor's options as one of these; a call's keyword options make a
changed copy (:func:`with_options`), checked again, so ``pipe(texts, pooling="mean")`` and
``pipeline(..., pooling="mean")`` take the same names and fail with the same messages. The Spark
stages build the same objects on the driver. Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import OptionError, OptionTypeError
from ..sentence_folder import SentenceEmbeddingConfig

Options = TypeVar("Options")

LEVELS = ("piece", "word", "sentence", "document", "text")
#: The levels that give one vector per unit, where ``normalize`` and ``dimension`` apply.
POOLED_LEVELS = ("sentence", "document", "text")
#: Spark NLP and nlu call word-level output "token".
LEVEL_ALIASES = {
    "token": "word", "pieces": "piece", "words": "word", "sentences": "sentence", "documents": "document", "texts": "text",
}  # fmt: skip
WORD_POOLINGS = ("first", "mean", "last")
SENTENCE_POOLINGS = ("mean", "cls", "max")
OUTPUTS = ("records", "dataframe", "numpy")


def with_options(options: Options, changes: dict[str, Any], *, none_keeps: bool = False) -> Options:
    """A copy of ``options`` with a call's keyword options (with ``none_keeps``, a None value
    keeps the pipeline's, as an option left out does).

    Raises:
        OptionTypeError: an option this pipeline does not take, naming the ones it takes.
        OptionError: a value that is not allowed (from the options' own check).
    """
    names = [item.name for item in dataclasses.fields(options)]  # type: ignore[arg-type]
    unknown = set(changes) - set(names)
    if unknown:
        raise OptionTypeError(f"unknown option(s) {sorted(unknown)}; the options are {sorted(names)}")
    given = {name: value for name, value in changes.items() if value is not None or not none_keeps}
    return dataclasses.replace(options, **given) if given else options  # type: ignore[type-var]


def _one_of(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class EmbeddingOptions:
    """The options of :class:`~albert.pipelines.embeddings.EmbeddingsPipeline` (see its
    docstring). ``level`` aliases ("token") become their names and a ``layer`` given as text
    ("3") its number; :meth:`for_model` checks what depends on the model. ``normalize`` and
    ``dimension`` shape the vectors of the pooled levels (sentence, document, text)."""

    level: str = "word"
    word_pooling: str = "mean"
    sentence_pooling: str = "mean"
    layer: int | str = "last"
    mean_last: int | None = None
    output: str = "records"
    split_sentences: bool = True
    stride: int | None = None
    max_length: int | None = None
    normalize: bool = False
    dimension: int | None = None

    def __post_init__(self) -> None:
        level = LEVEL_ALIASES.get(self.level, self.level)
        if level not in LEVELS:
            raise OptionError(f"level must be one of {', '.join(LEVELS)} (or 'token' for words), got {self.level!r}")
        object.__setattr__(self, "level", level)
        _one_of("word_pooling", self.word_pooling, WORD_POOLINGS)
        _one_of("sentence_pooling", self.sentence_pooling, SENTENCE_POOLINGS)
        _one_of("output", self.output, OUTPUTS)
        if isinstance(self.layer, str) and self.layer != "last":
            try:
                object.__setattr__(self, "layer", int(self.layer))
            except ValueError:
                raise OptionError(f"layer must be 'last' or a layer index, got {self.layer!r}") from None
        if self.stride is not None and int(self.stride) < 0:
            raise OptionError(f"stride must be 0 or more tokens, got {self.stride}")
        if not isinstance(self.normalize, bool):
            raise OptionError(f"normalize must be True or False, got {self.normalize!r}")
        if self.dimension is not None and int(self.dimension) < 1:
            raise OptionError(f"dimension must be at least 1, got {self.dimension}")
        if (self.normalize or self.dimension is not None) and self.level not in POOLED_LEVELS:
            raise OptionError(
                f"normalize and dimension shape one vector per {', '.join(POOLED_LEVELS)}; level {self.level!r} "
                "gives a vector per piece or word (leave them out, or ask for a pooled level)"
            )

    @classmethod
    def from_sentence_config(cls, config: SentenceEmbeddingConfig | None) -> EmbeddingOptions:
        """The defaults for a model saved with these sentence-embedding settings: level "text"
        with the saved pooling, normalisation, dimension and max length; for None (a plain model
        folder), the usual defaults."""
        if config is None:
            return cls()
        return cls(
            level="text", sentence_pooling=config.pooling, normalize=config.normalize, dimension=config.dimension,
            max_length=config.max_length,
        )  # fmt: skip

    def changed(self, changes: dict[str, Any]) -> EmbeddingOptions:
        """A copy with ``changes`` (checked, as :func:`with_options` does). A level that gives a
        vector per piece or word drops the ``normalize`` and ``dimension`` of these options that
        ``changes`` do not name: a sentence folder's defaults shape pooled vectors only.

        Raises:
            OptionTypeError, OptionError: as :func:`with_options` says.
        """
        level = changes.get("level", self.level)
        if LEVEL_ALIASES.get(level, level) not in POOLED_LEVELS:
            changes = {"normalize": False, "dimension": None, **changes}
        return with_options(self, changes)

    def for_model(self, num_layers: int, model_max_length: int, hidden_size: int | None = None) -> EmbeddingOptions:
        """These options, checked against a model of ``num_layers`` layers, a window of
        ``model_max_length`` tokens and vectors of ``hidden_size`` entries (when given).

        Raises:
            OptionError: a layer the model does not have, a ``mean_last``, ``max_length`` or
                ``dimension`` out of range.
        """
        if self.dimension is not None and hidden_size is not None and int(self.dimension) > hidden_size:
            raise OptionError(
                f"dimension must be at most the model's hidden size {hidden_size} (a prefix of its vectors), "
                f"got {self.dimension}"
            )
        if self.layer != "last" and not -(num_layers + 1) <= int(self.layer) <= num_layers:
            raise OptionError(
                f"layer {self.layer} does not exist: the model has hidden states 0..{num_layers} "
                f"(0 is the embedding output, {num_layers} or -1 the last layer)"
            )
        if self.mean_last is not None and not 1 <= int(self.mean_last) <= num_layers + 1:
            raise OptionError(
                f"mean_last must be between 1 and {num_layers + 1} (the hidden states there are), got {self.mean_last}"
            )
        if self.max_length is not None and not 3 <= int(self.max_length) <= model_max_length:
            raise OptionError(
                f"max_length must be between 3 ([CLS], one piece, [SEP]) and the model's window of "
                f"{model_max_length}, got {self.max_length}"
            )
        return self


@dataclass(frozen=True)
class FillMaskOptions:
    """The options of :class:`~albert.pipelines.fill_mask.FillMaskPipeline`: ``top_k``
    predictions per mask, and the ``targets`` words to score (None: the whole vocabulary)."""

    top_k: int = 5
    targets: Sequence[str] | str | None = None

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise OptionError(f"top_k must be at least 1, got {self.top_k}")


@dataclass(frozen=True)
class QuestionAnsweringOptions:
    """The options of :class:`~albert.pipelines.question_answering.QuestionAnsweringPipeline`."""

    top_k: int = 1
    doc_stride: int | None = None
    max_answer_len: int = 15
    max_seq_len: int | None = None
    max_question_len: int = 64
    handle_impossible_answer: bool = False

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.max_answer_len < 1:
            raise OptionError(
                f"top_k and max_answer_len must be at least 1, got {self.top_k} and {self.max_answer_len}"
            )
