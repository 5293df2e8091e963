"""What every task head does, whatever the framework: the rules the torch heads
(:mod:`albert.modeling`) and the Flax heads (:mod:`albert.flax.modeling`) both follow, written once.

A head is the encoder plus a few layers that turn its output into scores. What is the same in
every framework lives here, with no torch or JAX imported:

- :data:`HEADS`: per task, the output class, the targets its forward takes, whether the encoder
  pools, whether inputs carry a choice axis, and the loss, written against a framework's
  :class:`LossFunctions` (cross-entropy, mean squared error, binary cross-entropy);
- :func:`resolve_problem_type`: transformers' choice of the sequence-classification loss, computed
  from the config and the labels and never written back into the config;
- the checks every model call and head config passes (:func:`check_model_inputs`,
  :func:`attention_mask_index`, :func:`count_choices`, :func:`check_head_config`), the lookup of
  an activation by name (:func:`lookup_activation`) and the heads' dropout rates.

Arrays are the framework's own (torch tensors, JAX arrays): the rules read only ``.shape`` and
call ``.reshape``, ``.squeeze`` and ``.clip``, which both have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from .config import PROBLEM_TYPES, AlbertConfig
from .errors import ConfigError, InputError
from .outputs import (
    AlbertForPreTrainingOutput,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

#: Labels with this value count in no loss (padding, the later pieces of a word), as transformers.
IGNORE_INDEX = -100

Function = TypeVar("Function")


class ModelInputs(NamedTuple):
    """The inputs every model call takes, in the order of the forward signature."""

    input_ids: Any = None
    attention_mask: Any = None
    token_type_ids: Any = None
    position_ids: Any = None
    inputs_embeds: Any = None


class LossFunctions(Protocol):
    """One framework's losses, each in float32 and averaged over what counts."""

    def cross_entropy(self, logits: Any, labels: Any, ignore_index: int = IGNORE_INDEX) -> Any:
        """(N, K) scores and (N,) class ids; labels equal to ``ignore_index`` do not count."""

    def mean_squared_error(self, predictions: Any, targets: Any) -> Any:
        """Predictions and targets of one shape."""

    def binary_cross_entropy(self, logits: Any, targets: Any) -> Any:
        """Independent yes/no scores and 0/1 (or soft) targets of one shape."""

    def is_integer(self, labels: Any) -> bool:
        """Whether labels are class ids (single-label) rather than numbers or 0/1 rows."""


# -- the checks ---------------------------------------------------------------------------------

def lookup_activation(table: Mapping[str, Function], name: str) -> Function:
    """The function a config's ``hidden_act`` names in a framework's table.

    Raises:
        ConfigError: a name the table does not have, with the names it has.
    """
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"unknown hidden_act {name!r}; choose one of: {', '.join(table)}") from None


def check_model_inputs(input_ids: Any, inputs_embeds: Any, position_ids: Any, max_position_embeddings: int) -> None:
    """Refuse inputs no model can run, with what to do instead (shapes only: works under
    ``jax.jit`` and before any kernel runs).

    Raises:
        InputError: both or neither of ids and embeddings, wrong ranks, a sequence longer than
            the position table.
    """
    if (input_ids is None) == (inputs_embeds is None):
        raise InputError("pass exactly one of input_ids or inputs_embeds")
    if input_ids is not None and len(input_ids.shape) != 2:
        raise InputError(f"input_ids must be (batch, sequence), got shape {tuple(input_ids.shape)}")
    if inputs_embeds is not None and len(inputs_embeds.shape) != 3:
        raise InputError(
            f"inputs_embeds must be (batch, sequence, embedding_size), got shape {tuple(inputs_embeds.shape)}"
        )
    seq_length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
    if position_ids is None and seq_length > max_position_embeddings:
        raise InputError(
            f"sequence of {seq_length} tokens is longer than max_position_embeddings "
            f"({max_position_embeddings}); truncate it or embed it in windows"
        )


_FULL = slice(None)
_MASK_INDEX = {2: (_FULL, None, None, _FULL), 3: (_FULL, None, _FULL, _FULL), 4: (_FULL,) * 4}


def attention_mask_index(attention_mask: Any) -> tuple[slice | None, ...]:
    """The index that makes an attention mask broadcast over (B, N, S, S) scores: a (B, S) mask
    over keys, or a (B, S, S) / (B, 1, S, S) mask over query-key pairs.

    Raises:
        InputError: a mask of another rank.
    """
    try:
        return _MASK_INDEX[len(attention_mask.shape)]
    except KeyError:
        raise InputError(
            f"attention_mask must have 2, 3 or 4 dimensions, got shape {tuple(attention_mask.shape)}"
        ) from None


def count_choices(inputs: ModelInputs) -> int:
    """C, the choices of a multiple-choice batch (B, C, S).

    Raises:
        InputError: inputs without a choice axis.
    """
    reference = inputs.input_ids if inputs.input_ids is not None else inputs.inputs_embeds
    if reference is None or len(reference.shape) < 3:
        raise InputError("multiple choice takes inputs of shape (batch, num_choices, sequence)")
    return int(reference.shape[1])


def flatten_choices(inputs: ModelInputs) -> ModelInputs:
    """(B, C, S) inputs (embeddings (B, C, S, E)) as the encoder's (B * C, S) rows."""
    count_choices(inputs)

    def flat(array: Any, trailing: int = 1) -> Any:
        return None if array is None else array.reshape(-1, *array.shape[len(array.shape) - trailing:])

    return ModelInputs(
        flat(inputs.input_ids), flat(inputs.attention_mask), flat(inputs.token_type_ids), flat(inputs.position_ids),
        flat(inputs.inputs_embeds, 2),
    )


def check_head_config(task: str, config: AlbertConfig) -> None:
    """Refuse a config a head cannot be built on, before any weight exists.

    Raises:
        ConfigError: question answering with num_labels other than 2 (a start and an end score).
    """
    if task == "question_answering" and config.num_labels != 2:
        raise ConfigError(
            f"question answering scores a start and an end per token: num_labels must be 2, got {config.num_labels}"
        )


def classifier_dropout(config: AlbertConfig) -> float:
    """The dropout before a classifier on the pooled state (none when unset, as transformers)."""
    return config.classifier_dropout_prob or 0.0


def token_classifier_dropout(config: AlbertConfig) -> float:
    """The dropout before a per-token classifier: the hidden dropout when the config sets none."""
    rate = config.classifier_dropout_prob
    return rate if rate is not None else config.hidden_dropout_prob


# -- the losses ---------------------------------------------------------------------------------

def resolve_problem_type(problem_type: str | None, num_labels: int, integer_labels: bool) -> str:
    """The loss a sequence classifier uses, as transformers chooses it: the config's
    ``problem_type`` when set, else regression for one label, single-label classification for
    class ids and multi-label classification for rows of 0/1. Computed per call: the config is
    left as it was (transformers writes the guess into it, so one call changes the next and
    what ``save_pretrained`` writes).

    Raises:
        ConfigError: a ``problem_type`` that is none of the three.
    """
    if problem_type is None:
        if num_labels == 1:
            return "regression"
        return "single_label_classification" if integer_labels else "multi_label_classification"
    if problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"unknown problem_type {problem_type!r}; use 'regression', "
            "'single_label_classification' or 'multi_label_classification'"
        )
    return problem_type


def sequence_classification_loss(losses: LossFunctions, config: AlbertConfig, logits: Any, labels: Any) -> Any:
    """Regression (MSE), single-label (cross-entropy) or multi-label (BCE), by
    :func:`resolve_problem_type`. ``logits`` (B, num_labels)."""
    problem = resolve_problem_type(config.problem_type, config.num_labels, losses.is_integer(labels))
    if problem == "regression":
        if config.num_labels == 1:
            return losses.mean_squared_error(logits.squeeze(), labels.squeeze())
        return losses.mean_squared_error(logits, labels)
    if problem == "single_label_classification":
        return losses.cross_entropy(logits.reshape(-1, config.num_labels), labels.reshape(-1))
    return losses.binary_cross_entropy(logits, labels)


def _class_loss(losses: LossFunctions, logits: Any, labels: Any) -> Any:
    """Cross-entropy over the last axis of any (..., K) scores."""
    return losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def _pretraining_loss(losses: LossFunctions, outputs: Mapping[str, Any], targets: Mapping[str, Any],
                      config: AlbertConfig) -> Any:
    """Masked-LM plus sentence-order loss (paper section 4.1)."""
    mlm = _class_loss(losses, outputs["prediction_logits"], targets["labels"])
    return mlm + _class_loss(losses, outputs["sop_logits"], targets["sentence_order_label"])


def _logits_loss(losses: LossFunctions, outputs: Mapping[str, Any], targets: Mapping[str, Any],
                 config: AlbertConfig) -> Any:
    """Masked LM, token classification, multiple choice: cross-entropy of ``logits``."""
    return _class_loss(losses, outputs["logits"], targets["labels"])


def _sequence_loss(losses: LossFunctions, outputs: Mapping[str, Any], targets: Mapping[str, Any],
                   config: AlbertConfig) -> Any:
    return sequence_classification_loss(losses, config, outputs["logits"], targets["labels"])


def _span_loss(losses: LossFunctions, outputs: Mapping[str, Any], targets: Mapping[str, Any],
               config: AlbertConfig) -> Any:
    """The mean of the start and end cross-entropies; a position outside the window (clamped to
    S) counts in neither, as in transformers."""
    seq_length = outputs["start_logits"].shape[1]
    total = 0
    for side in ("start", "end"):
        positions = targets[f"{side}_positions"].reshape(-1).clip(0, seq_length)
        total = total + losses.cross_entropy(outputs[f"{side}_logits"], positions, ignore_index=seq_length)
    return total / 2


Loss = Callable[[LossFunctions, Mapping[str, Any], Mapping[str, Any], AlbertConfig], Any]


@dataclass(frozen=True)
class HeadSpec:
    """What a task head is, apart from its layers: its output, the targets its forward takes
    (the loss is computed when all of them are given), whether the encoder pools the [CLS]
    state, whether inputs carry a choice axis (B, C, S), and its loss."""

    task: str
    output_class: Callable[..., ModelOutput]  # one of albert.outputs: a dataclass of the fields
    loss: Loss
    targets: tuple[str, ...] = ("labels",)
    add_pooling_layer: bool = True
    choices: bool = False

    def targets_given(self, targets: Mapping[str, Any]) -> bool:
        """Whether every target is there, so the loss is computed."""
        return all(targets.get(name) is not None for name in self.targets)

    def output(self, loss: Any, scores: Mapping[str, Any], encoded: Any, return_dict: bool | None) -> Any:
        """The head's output (the encoder's hidden states and attentions passed on), or its
        tuple of the fields that are set when ``return_dict`` is False, as transformers."""
        output = self.output_class(
            loss=loss, **scores, hidden_states=encoded.hidden_states, attentions=encoded.attentions
        )
        return output if return_dict is not False else output.to_tuple()


#: Every task head, by task.
HEADS: dict[str, HeadSpec] = {
    spec.task: spec
    for spec in (
        HeadSpec("pretraining", AlbertForPreTrainingOutput, _pretraining_loss, ("labels", "sentence_order_label")),
        HeadSpec("masked_lm", MaskedLMOutput, _logits_loss, add_pooling_layer=False),
        HeadSpec("sequence_classification", SequenceClassifierOutput, _sequence_loss),
        HeadSpec("token_classification", TokenClassifierOutput, _logits_loss, add_pooling_layer=False),
        HeadSpec(
            "question_answering", QuestionAnsweringModelOutput, _span_loss, ("start_positions", "end_positions"),
            add_pooling_layer=False,
        ),
        HeadSpec("multiple_choice", MultipleChoiceModelOutput, _logits_loss, choices=True),
    )
}
