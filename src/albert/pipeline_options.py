"""Each pipeline's call options, declared once as a frozen dataclass that checks itself.

A pipeline keeps its constructor's options as one of these; a call's keyword options make a
changed copy (:func:`with_options`), checked again, so ``pipe(texts, pooling="mean")`` and
``pipeline(..., pooling="mean")`` take the same names and fail with the same messages. The Spark
stages build the same objects on the driver. Each field is declared with :func:`albert.options.option`:
its help, flag and bounds are the ``albert`` pipeline commands' options (``cli/pipeline_commands.py``
derives them with :func:`albert.options.options_command`), so a field added here is a flag there.
Torch-free and numpy-free (``albert --help`` reads it); ``albert.pipelines.options`` is its old name.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .errors import OptionError, OptionTypeError
from .options import option
from .sentence_folder import SentenceEmbeddingConfig

__all__ = [
    "FUNCTIONS", "LEVELS", "LEVEL_ALIASES", "OUTPUTS", "POOLED_LEVELS", "SENTENCE_POOLINGS", "STRATEGIES", "WORD_POOLINGS",
    "EmbeddingOptions", "FillMaskOptions", "LoadOptions", "QuestionAnsweringOptions", "TextClassificationOptions",
    "TokenClassificationOptions", "with_options",
]  # fmt: skip

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
#: How a text classifier's logits become scores (``none``: the logits as they are).
FUNCTIONS = ("softmax", "sigmoid", "none")
#: How token classification's pieces' labels become words' (transformers' aggregation strategies).
STRATEGIES = ("none", "simple", "first", "average", "max")


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

    level: str = option(
        "word", help="Pieces, words (or tokens), sentences, documents, or whole texts as sentence-transformers "
        "embeds them (default: a sentence-embedding folder's text, else sentence).",
        cli_assumes="sentence", cli_type=Literal["piece", "word", "token", "sentence", "document", "text"],
    )  # fmt: skip
    word_pooling: str = option(
        "mean", help="Which piece(s) of a word make its vector.", cli_type=Literal[WORD_POOLINGS]
    )
    sentence_pooling: str = option(
        "mean", help="How a sentence's vectors are pooled.", cli_type=Literal[SENTENCE_POOLINGS]
    )
    layer: int | str = option("last", help="last, or a hidden-state index (0 = embeddings).", cli_type=str)
    mean_last: int | None = option(None, help="Average the last K layers.", at_least=1)
    output: str = option("records", cli=False)
    split_sentences: bool = option(
        True, help="Embed each sentence on its own.", flag="--split-sentences/--no-split-sentences"
    )
    stride: int | None = option(None, help="Pieces shared by windows of long text.", at_least=0)
    max_length: int | None = option(None, cli=False)
    normalize: bool = option(
        False, help="Scale each pooled vector to length 1 (default: a sentence-embedding folder's choice, else no).",
        flag="--normalize/--no-normalize",
    )  # fmt: skip
    dimension: int | None = option(
        None, help="Keep the first N entries of each pooled vector (a Matryoshka prefix; cut before normalising).",
        at_least=1,
    )

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

    top_k: int = option(5, help="Predictions per [MASK].", flag=("--top-k", "-k"), at_least=1)
    targets: Sequence[str] | str | None = option(
        None, help="Only score this word (repeatable).", flag="--target", cli_type=list[str] | None
    )

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise OptionError(f"top_k must be at least 1, got {self.top_k}")


@dataclass(frozen=True)
class QuestionAnsweringOptions:
    """The options of :class:`~albert.pipelines.question_answering.QuestionAnsweringPipeline`."""

    top_k: int = option(1, help="Answers per question.", flag=("--top-k", "-k"), at_least=1)
    doc_stride: int | None = option(None, help="Pieces shared by context windows.", at_least=0)
    max_answer_len: int = option(15, help="Longest answer, in pieces.", at_least=1)
    max_seq_len: int | None = option(None, cli=False)
    max_question_len: int = option(64, cli=False)
    handle_impossible_answer: bool = option(
        False, help="Let 'no answer' win (SQuAD 2.0).", flag="--allow-no-answer"
    )

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.max_answer_len < 1:
            raise OptionError(
                f"top_k and max_answer_len must be at least 1, got {self.top_k} and {self.max_answer_len}"
            )


@dataclass(frozen=True)
class TextClassificationOptions:
    """The call options of :class:`~albert.pipelines.text_classification.TextClassificationPipeline`:
    the best ``top_k`` labels (None: all) and the scoring function (None: the model's)."""

    top_k: int | None = option(None, help="Best K labels (default: all).", flag=("--top-k", "-k"), at_least=1)
    function_to_apply: str | None = option(
        None, help="How logits become scores (default: from the model).", flag="--function",
        cli_type=Literal[FUNCTIONS] | None,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.function_to_apply is not None and self.function_to_apply not in FUNCTIONS:
            raise OptionError(
                f"function_to_apply must be one of {', '.join(FUNCTIONS)}, got {self.function_to_apply!r}"
            )
        if self.top_k is not None and self.top_k < 1:
            raise OptionError(f"top_k must be at least 1 (or None for every label), got {self.top_k}")


@dataclass(frozen=True)
class TokenClassificationOptions:
    """The options of :class:`~albert.pipelines.token_classification.TokenClassificationPipeline`:
    how pieces' labels become words' (``albert tag`` groups them, ``simple``; the pipeline, as
    transformers', does not), the labels left out (None: ``O``), and the windows' overlap."""

    aggregation_strategy: str = option(
        "none", help="How pieces' labels become words' (as in transformers).", flag="--aggregation",
        cli_default="simple", cli_type=Literal[STRATEGIES],
    )  # fmt: skip
    ignore_labels: Sequence[str] | None = option(None, cli=False)
    stride: int | None = option(None, cli=False)

    def __post_init__(self) -> None:
        strategy = self.aggregation_strategy
        if not isinstance(strategy, str) or strategy.lower() not in STRATEGIES:
            shown = strategy.lower() if isinstance(strategy, str) else strategy
            raise OptionError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}, got {shown!r}")


@dataclass(frozen=True)
class LoadOptions:
    """How :func:`albert.pipeline` loads and runs a model, as every pipeline's constructor takes
    it (see :class:`~albert.pipelines.base.Pipeline`): the options every ``albert`` pipeline
    command shares."""

    model: str | None = option(
        None, help="Model folder, shipped model name or Hub id (default: the shipped model).", flag=("--model", "-m")
    )
    device: str | None = option(None, help="cpu, cuda, cuda:N, mps or auto (default: a GPU if there is one).")
    dtype: str | None = option(None, help="float32 (default), bfloat16, float16 or auto.")
    batch_size: int = option(32, help="Model inputs run at once.", at_least=1)
    onnx: bool | str | os.PathLike[str] | None = option(
        None, help="Run the encoder in ONNX Runtime on the CPU (exported once per model and cached; needs the onnx "
        "extra). Default: single texts there when the extra is installed, batches in torch.",
        flag="--onnx/--no-onnx", cli_type=bool,
    )  # fmt: skip
    precision: str = option(
        "exact", help="exact (default), fast (bfloat16 where the hardware multiplies it natively) or int8 (dynamic "
        "quantisation, CPU); reduced precision costs accuracy (docs/speed.md).",
        cli_type=Literal["exact", "fast", "int8"],
    )  # fmt: skip
    threads: int | None = option(
        None, help="torch threads (default: the physical cores this process may use).", at_least=1
    )
    allow_untrained_head: bool = option(
        False, help="Run even if the model's head for this task is not in its weights (random answers; for testing)."
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, got {self.batch_size}")
