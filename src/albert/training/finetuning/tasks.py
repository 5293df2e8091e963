"""The fine-tuning tasks: label maps, model inputs, and predictions.

Each task is one small class with the same five steps, so the training loop
(:mod:`.trainer`) and the evaluation (:mod:`.evaluate`) never look inside a task:

``read`` a file -> ``label_list`` (inferred from train) and ``check_labels`` (a dev label the
model cannot predict is an error before training starts) -> ``encode`` examples into model
inputs (features) -> the model, whose head computes the loss -> ``score`` the outputs back into
predictions and metrics.

The files are read by :mod:`.readers`.

Inputs are encoded by the task's codec (:mod:`albert.codecs`), the pipelines' own:
``[CLS] text [SEP] (pair [SEP])`` cut by transformers' ``longest_first``, a question before each
window of its context, a prompt before each choice; so a model fine-tuned here reads its inputs
the same way in ``albert.pipeline(...)`` and in ``albert serve``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from ...codecs.multiple_choice import MultipleChoiceCodec
from ...codecs.question_answering import QuestionAnsweringCodec, decode_answers
from ...codecs.text_classification import TextClassificationCodec
from ...codecs.token_classification import TokenClassificationCodec
from ...errors import InputError, OptionError
from ...modeling import (
    IGNORE_INDEX,
    AlbertForMultipleChoice,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
    AlbertModel,
    AlbertPreTrainedModel,
)
from ...tokenization_base import pad_batch, pad_rows
from . import metrics as metric_functions
from .readers import (
    ChoiceExample,
    DataFormatError,
    QuestionExample,
    ReadOptions,
    SentencePair,
    TaggedSentence,
    TextExample,
    read_multiple_choice,
    read_sentence_pairs,
    read_squad,
    read_tagged_sentences,
    read_text_examples,
)
from .settings import TASK_NAMES  # noqa: F401 (its old home; the CLI reads it without torch)

#: A feature is one model input: ``input_ids``, ``token_type_ids`` (lists; lists of lists for
#: multiple choice), the labels the head takes, ``example`` (the index of its example) and
#: ``meta`` (what scoring needs to map outputs back: word positions, character spans).
Feature = dict[str, Any]

_Label = TypeVar("_Label")


class UnknownLabelError(InputError):
    """A label in an evaluation file that the training file (or the model) does not have."""


@dataclass
class EncodeOptions:
    """How examples become model inputs, and how question-answering outputs become answers.

    ``doc_stride`` is the number of context pieces two consecutive windows of a long context
    share (the pipelines' meaning); it is lowered to half the room a window leaves for the
    context when larger.
    """

    max_length: int = 128
    doc_stride: int = 128
    max_question_length: int = 64
    max_answer_length: int = 30
    #: SQuAD 2.0: let "no answer" compete; None: when the examples scored include unanswerable ones.
    allow_no_answer: bool | None = None
    #: sentence-embeddings: how token vectors become one vector, the Matryoshka dimensions
    #: (largest first) and the similarity scale of the contrastive losses.
    pooling: str = "mean"
    matryoshka_dimensions: tuple[int, ...] = field(default=())
    scale: float = 20.0


# -- label maps -------------------------------------------------------------------------------------


def infer_label_list(labels: Iterable[str]) -> list[str]:
    """The distinct labels, sorted (numerically when all are numbers, so "2" < "10")."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def check_known_labels(labels: Iterable[tuple[str, int]], label2id: dict[str, int], source: str) -> None:
    """Raise :class:`UnknownLabelError` for labels (with their example numbers) not in ``label2id``."""
    unknown: dict[str, int] = {}
    for label, number in labels:
        if label not in label2id and label not in unknown:
            unknown[label] = number
    if unknown:
        shown = ", ".join(f"{label!r} (first in examples[{number}])" for label, number in list(unknown.items())[:5])
        raise UnknownLabelError(
            f"{source} has labels the model cannot predict: {shown}; the known labels are "
            f"{', '.join(map(repr, label2id))}. Fix the file, or train on data that has these labels"
        )


# -- batching ---------------------------------------------------------------------------------------

#: Model inputs a feature may carry; everything else in a feature is bookkeeping.
MODEL_KEYS = ("input_ids", "token_type_ids", "labels", "start_positions", "end_positions")


def collate(features: Sequence[Feature], pad_token_id: int, with_labels: bool = True) -> dict[str, torch.Tensor]:
    """Right-pad features into a batch: ``input_ids``, ``token_type_ids``, ``attention_mask``
    (``(B, S)``, or ``(B, choices, S)`` for multiple choice) and the labels they carry (token
    labels padded with -100, the ignored index)."""
    first = features[0]["input_ids"]
    nested = bool(first) and isinstance(first[0], list)

    def rows(key: str) -> list[list[int]]:  # one row per choice for multiple choice
        return [row for feature in features for row in (feature[key] if nested else [feature[key]])]

    padded = pad_batch(rows("input_ids"), pad_token_id, rows("token_type_ids"))
    width = padded["input_ids"].shape[1]
    shape = (len(features), len(first), width) if nested else (len(features), width)
    batch = {key: torch.from_numpy(array.reshape(shape)) for key, array in padded.items()}
    if not with_labels:
        return batch
    for key in ("labels", "start_positions", "end_positions"):
        if any(feature.get(key) is None for feature in features):
            continue
        values = [feature[key] for feature in features]
        if isinstance(values[0], list):  # token labels
            batch[key] = torch.from_numpy(pad_rows(values, IGNORE_INDEX, width))
        else:
            batch[key] = torch.tensor(values, dtype=torch.float32 if isinstance(values[0], float) else torch.long)
    return batch


def feature_length(feature: Feature) -> int:
    """Tokens in a feature (the longest choice for multiple choice), for length-sorted batches."""
    ids = feature["input_ids"]
    return max(len(row) for row in ids) if ids and isinstance(ids[0], list) else len(ids)


# -- the tasks --------------------------------------------------------------------------------------


class Task:
    """What the training loop and the evaluation need to know about one task."""

    name: ClassVar[str]
    model_class: ClassVar[type[AlbertPreTrainedModel]]
    #: Metric used to pick the best checkpoint unless another is chosen.
    default_metric: ClassVar[str]
    #: Metrics where lower is better (every other one: higher is better).
    lower_is_better: ClassVar[tuple[str, ...]] = ("loss", "mse")
    #: Evaluate the dev set before the first step too (logged as step 0): a baseline to beat.
    evaluates_before_training: ClassVar[bool] = False
    #: The loss of a row depends on the other rows of its batch (in-batch negatives).
    in_batch_negatives: ClassVar[bool] = False
    #: Save the last model to ``out/final`` too (beside the best on the dev set, ``out/best``).
    saves_final: ClassVar[bool] = False

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[Any]:
        raise NotImplementedError

    def default_metric_for(self, examples: Sequence[Any]) -> str:
        """The metric that picks the best model when the dev set is ``examples``."""
        return self.default_metric

    def objective(self, model: AlbertPreTrainedModel, options: EncodeOptions, distributed: bool) -> nn.Module | None:
        """What training minimises, called as ``objective(**batch)`` -> ``{"loss": ...}``; None:
        the loss the model's head computes from the labels."""
        return None

    def prediction_model(self, model: AlbertPreTrainedModel, options: EncodeOptions) -> nn.Module:
        """The module evaluation runs over collated features (its output has ``loss``)."""
        return model

    def complete_folder(self, folder: Path, model: AlbertPreTrainedModel, options: EncodeOptions) -> None:
        """Write what the task adds to a saved model folder (beside ``save_pretrained``'s files)."""

    def folder_options(self, model_dir: str | os.PathLike) -> dict[str, Any]:
        """:class:`EncodeOptions` fields a saved model folder sets for evaluating it."""
        return {}

    def model_source(self, model: str | os.PathLike) -> str | os.PathLike:
        """Where the model's config, weights and tokenizer are (the folder or name itself)."""
        return model

    def load_model(self, source: str | os.PathLike, device: torch.device, **keywords: Any) -> AlbertPreTrainedModel:
        """The model to train or score: ``model_class.from_pretrained(source, **keywords)`` on ``device``."""
        return self.model_class.from_pretrained(source, device=device, **keywords)

    def label_list(self, examples: Sequence[Any]) -> list[str] | None:
        """The labels of a training set, or None for tasks without a label map."""
        return None

    def check_labels(self, examples: Sequence[Any], label2id: dict[str, int] | None, source: str) -> None:
        """Raise for examples a model with ``label2id`` cannot be trained or scored on."""

    def model_overrides(self, label_list: list[str] | None) -> dict[str, Any]:
        """Config fields for ``from_pretrained`` (the label map, the problem type)."""
        return {}

    def align_labels(self, examples: list[Any], id2label: dict[int, str]) -> list[Any]:
        """Examples whose labels are named as the model names them (see the text task)."""
        return examples

    def encode(self, examples: Sequence[Any], tokenizer: Any, label2id: dict[str, int] | None,
               options: EncodeOptions) -> list[Feature]:
        raise NotImplementedError

    def read_outputs(self, output: Any) -> dict[str, torch.Tensor]:
        """The tensors of a model output that scoring needs, batch first (picked on the device)."""
        return {"logits": output.logits}

    def score(self, examples: Sequence[Any], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        """Metrics and one prediction per example."""
        raise NotImplementedError

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        """The metrics :meth:`score` reports (plus ``loss``), to check a chosen metric early."""
        raise NotImplementedError

    def greater_is_better(self, metric: str) -> bool:
        return metric not in self.lower_is_better


def _require_labels(examples: Sequence[Any], has_label: Any, source: str) -> None:
    missing = [number for number, example in enumerate(examples) if not has_label(example)]
    if missing:
        raise DataFormatError(f"{source}: example {missing[0]} (and {len(missing) - 1} more) has no label")


def _given(label: _Label | None) -> _Label:
    """The label of an example being scored (:meth:`Task.check_labels` has passed every one)."""
    if label is None:
        raise DataFormatError("an example has no label: scoring needs the label of every example")
    return label


def _target(example: TextExample) -> float:
    """The label of a regression example being scored, as a number."""
    if example.label is None:
        raise DataFormatError("an example has no label: scoring needs the label of every example")
    return float(example.label)


def _class_name(example: TextExample) -> str:
    """The label of a labelled classification example: a class name (the reader gives str)."""
    if not isinstance(example.label, str):
        raise DataFormatError(f"the label {example.label!r} is not a class name")
    return example.label


class TextClassificationTask(Task):
    """One label per text or text pair (SST-2, MRPC, MNLI, CoLA ...)."""

    name = "text-classification"
    model_class = AlbertForSequenceClassification
    default_metric = "accuracy"

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[TextExample]:
        return read_text_examples(path, options)

    def label_list(self, examples: Sequence[TextExample]) -> list[str] | None:
        _require_labels(examples, lambda example: example.label is not None, "the training file")
        labels = infer_label_list(_class_name(example) for example in examples)
        if len(labels) < 2:
            raise DataFormatError(f"the training file has a single label {labels!r}: nothing to classify")
        return labels

    def check_labels(self, examples: Sequence[TextExample], label2id: dict[str, int] | None, source: str) -> None:
        _require_labels(examples, lambda example: example.label is not None, source)
        check_known_labels(((_class_name(example), n) for n, example in enumerate(examples)), label2id or {}, source)

    def model_overrides(self, label_list: list[str] | None) -> dict[str, Any]:
        id2label = dict(enumerate(label_list or []))
        return {"id2label": id2label, "label2id": {label: index for index, label in id2label.items()},
                "problem_type": "single_label_classification"}

    def align_labels(self, examples: list[TextExample], id2label: dict[int, str]) -> list[TextExample]:
        """Models fine-tuned elsewhere often keep transformers' default names ``LABEL_0``...; a
        file labelled ``0``, ``1``... then means those, by position."""
        default = all(name == f"LABEL_{index}" for index, name in id2label.items())
        labels = {example.label for example in examples if example.label is not None}
        if not default or not labels or not all(str(label).isdigit() and int(label) in id2label for label in labels):
            return examples
        return [TextExample(e.text, e.text_pair, id2label[int(e.label)] if e.label is not None else None) for e in examples]

    def encode(self, examples: Sequence[TextExample], tokenizer: Any, label2id: dict[str, int] | None,
               options: EncodeOptions) -> list[Feature]:
        if not examples:
            return []
        codec = TextClassificationCodec(tokenizer, options.max_length)
        encoded = codec.encode([example.text for example in examples], [example.text_pair for example in examples])
        features = []
        for index, (example, encoding) in enumerate(zip(examples, encoded)):
            feature: Feature = {**encoding.features[0], "example": index}
            if example.label is not None:
                feature["labels"] = self._label_value(example.label, label2id)
            features.append(feature)
        return features

    def _label_value(self, label: Any, label2id: dict[str, int] | None) -> Any:
        return (label2id or {}).get(label)

    def score(self, examples: Sequence[TextExample], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        id2label = id2label or {}
        predictions = [id2label[int(np.argmax(output["logits"]))] for output in outputs]
        references = [example.label for example in examples]
        scores = {"accuracy": metric_functions.accuracy(predictions, references)}
        if len(id2label) == 2:
            scores["f1"] = metric_functions.f1_score(predictions, references, "binary", positive_label=id2label[1])
        else:
            scores["f1"] = metric_functions.f1_score(predictions, references, "macro")
        scores["mcc"] = metric_functions.matthews_corrcoef(predictions, references)
        return scores, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        return ("accuracy", "f1", "mcc", "loss")


class RegressionTask(TextClassificationTask):
    """A number per text or text pair (STS-B similarity); mean squared error loss."""

    name = "regression"
    default_metric = "pearson"

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[TextExample]:
        return read_text_examples(path, options, regression=True)

    def label_list(self, examples: Sequence[TextExample]) -> None:
        _require_labels(examples, lambda example: example.label is not None, "the training file")
        return None

    def check_labels(self, examples: Sequence[TextExample], label2id: dict[str, int] | None, source: str) -> None:
        _require_labels(examples, lambda example: example.label is not None, source)

    def model_overrides(self, label_list: list[str] | None) -> dict[str, Any]:
        return {"id2label": {0: "LABEL_0"}, "label2id": {"LABEL_0": 0}, "problem_type": "regression"}

    def align_labels(self, examples: list[TextExample], id2label: dict[int, str]) -> list[TextExample]:
        return examples

    def _label_value(self, label: Any, label2id: dict[str, int] | None) -> Any:
        return float(label)

    def score(self, examples: Sequence[TextExample], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        predictions = [float(output["logits"].reshape(-1)[0]) for output in outputs]
        references = [_target(example) for example in examples]
        errors = np.asarray(predictions) - np.asarray(references)
        return {
            "pearson": metric_functions.pearson(predictions, references),
            "spearman": metric_functions.spearman(predictions, references),
            "mse": float(np.mean(errors**2)),
        }, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        return ("pearson", "spearman", "mse", "loss")


class TokenClassificationTask(Task):
    """A tag per word (named entities, parts of speech); each word is scored at its first piece,
    the other pieces are ignored by the loss (label -100)."""

    name = "token-classification"
    model_class = AlbertForTokenClassification
    default_metric = "f1"

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[TaggedSentence]:
        return read_tagged_sentences(path, options)

    def label_list(self, examples: Sequence[TaggedSentence]) -> list[str]:
        _require_labels(examples, lambda example: example.tags is not None, "the training file")
        return infer_label_list(tag for example in examples for tag in example.tags or [])

    def check_labels(self, examples: Sequence[TaggedSentence], label2id: dict[str, int] | None, source: str) -> None:
        _require_labels(examples, lambda example: example.tags is not None, source)
        check_known_labels(((tag, n) for n, example in enumerate(examples) for tag in example.tags or []),
                           label2id or {}, source)

    def model_overrides(self, label_list: list[str] | None) -> dict[str, Any]:
        id2label = dict(enumerate(label_list or []))
        return {"id2label": id2label, "label2id": {label: index for index, label in id2label.items()}}

    def encode(self, examples: Sequence[TaggedSentence], tokenizer: Any, label2id: dict[str, int] | None,
               options: EncodeOptions) -> list[Feature]:
        if not examples:
            return []
        codec = TokenClassificationCodec(tokenizer, options.max_length)
        tags = [example.tags for example in examples]
        encoded = codec.encode_words([example.words for example in examples], tags, label2id)
        return [{**encoding.features[0], "example": index, "meta": encoding.meta} for index, encoding in enumerate(encoded)]

    def read_outputs(self, output: Any) -> dict[str, torch.Tensor]:
        return {"tag_ids": output.logits.argmax(dim=-1)}  # (B, S): the vocabulary of tags stays on the device

    def score(self, examples: Sequence[TaggedSentence], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        id2label = id2label or {}
        predictions = [TokenClassificationCodec.word_tags(feature["meta"], output["tag_ids"], id2label)
                       for feature, output in zip(features, outputs)]  # fmt: skip
        # A word cut off by max_length (or without pieces) has no position: tagged "O".
        truncated = sum(position is None for feature in features for position in feature["meta"])
        references = [_given(example.tags) for example in examples]
        scores = metric_functions.entity_scores(predictions, references)
        flat_predicted = [tag for tags in predictions for tag in tags]
        flat_gold = [tag for tags in references for tag in tags]
        scores["accuracy"] = metric_functions.accuracy(flat_predicted, flat_gold)
        scores["truncated_words"] = float(truncated)
        return scores, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        kinds = sorted({tag.partition("-")[2] for tag in label_list or [] if "-" in tag})
        return ("f1", "precision", "recall", "accuracy", "loss", *(f"f1_{kind}" for kind in kinds))


class QuestionAnsweringTask(Task):
    """Extractive question answering (SQuAD): the start and end of the answer in the context.

    Long contexts are read in overlapping windows; a window that does not hold the whole answer
    is trained to point at [CLS] ("no answer here"), as are unanswerable questions (SQuAD 2.0).
    """

    name = "question-answering"
    model_class = AlbertForQuestionAnswering
    default_metric = "f1"

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[QuestionExample]:
        return read_squad(path)

    def model_overrides(self, label_list: list[str] | None) -> dict[str, Any]:
        return {"id2label": {0: "LABEL_0", 1: "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}}

    def encode(self, examples: Sequence[QuestionExample], tokenizer: Any, label2id: dict[str, int] | None,
               options: EncodeOptions) -> list[Feature]:
        if not examples:
            return []
        # A question takes at most half the window, so every window keeps room for the context.
        question_limit = min(options.max_question_length, (options.max_length - 3) // 2)
        if question_limit < 1:
            raise OptionError(f"max_length {options.max_length} leaves no room for a question and a context")
        # The pipeline's windows: each question's own room, the stride at most half of it.
        codec = QuestionAnsweringCodec(tokenizer, options.max_length, question_limit, stride_limit=options.doc_stride)
        encoded = codec.encode([example.question for example in examples], [example.context for example in examples])
        features = []
        for sample, (example, encoding) in enumerate(zip(examples, encoded)):
            for feature, window in zip(encoding.features, encoding.meta):
                # (input position, start char, end char) of the window's context pieces
                spans = [(window.offset + k, start, end) for k, (start, end) in enumerate(window.spans)]
                row: Feature = {**feature, "example": sample, "meta": spans}
                row["start_positions"], row["end_positions"] = _answer_positions(example, spans)
                features.append(row)
        return features

    def read_outputs(self, output: Any) -> dict[str, torch.Tensor]:
        return {"start": output.start_logits, "end": output.end_logits}

    def score(self, examples: Sequence[QuestionExample], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        allow_no_answer = options.allow_no_answer
        if allow_no_answer is None:
            allow_no_answer = any(not example.answers for example in examples)
        per_example: list[list[tuple[Feature, dict[str, np.ndarray]]]] = [[] for _ in examples]
        for feature, output in zip(features, outputs):
            per_example[feature["example"]].append((feature, output))
        predictions = [
            best_answer(example.context, windows, options, allow_no_answer)
            for example, windows in zip(examples, per_example)
        ]
        scores = metric_functions.squad_scores(
            {example.id: answer for example, answer in zip(examples, predictions)},
            {example.id: [text for text, _ in example.answers] for example in examples},
        )
        return scores, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        return ("f1", "exact_match", "loss")



def _answer_positions(example: QuestionExample, spans: list[tuple[int, int, int]]) -> tuple[int, int]:
    """Input positions of the first answer's first and last piece, or (0, 0) ([CLS]) when the
    window does not hold the whole answer or the question has none."""
    visible = [(position, start, end) for position, start, end in spans if end > start]
    if not example.answers or not visible:
        return 0, 0
    text, answer_start = example.answers[0]
    answer_end = answer_start + len(text)
    if not (visible[0][1] <= answer_start and visible[-1][2] >= answer_end):
        return 0, 0
    first = next(position for position, _, end in visible if end > answer_start)
    last = [position for position, start, _ in visible if start < answer_end][-1]
    return first, last


def best_answer(context: str, windows: Sequence[tuple[Feature, dict[str, np.ndarray]]], options: EncodeOptions,
                allow_no_answer: bool) -> str:
    """The answer the question-answering pipeline gives for a question's windows (its
    :func:`~albert.codecs.question_answering.decode_answers`, with ``max_answer_length`` as
    its ``max_answer_len``); "" for "no answer", allowed to win when ``allow_no_answer``."""
    answers = decode_answers(
        context,
        [(output["start"], output["end"], feature["meta"][0][0] if feature["meta"] else 0,
          [(start, end) for _, start, end in feature["meta"]]) for feature, output in windows],
        max_answer_len=options.max_answer_length, handle_impossible_answer=allow_no_answer,
    )
    return answers[0]["answer"] if answers else ""


class MultipleChoiceTask(Task):
    """The right one among a prompt's choices (SWAG, RACE): each (prompt, choice) pair is one
    input row, the head scores each row and a softmax over the rows picks the choice."""

    name = "multiple-choice"
    model_class = AlbertForMultipleChoice
    default_metric = "accuracy"

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[ChoiceExample]:
        return read_multiple_choice(path)

    def check_labels(self, examples: Sequence[ChoiceExample], label2id: dict[str, int] | None, source: str) -> None:
        _require_labels(examples, lambda example: example.label is not None, source)
        counts = {len(example.choices) for example in examples}
        if len(counts) > 1:
            raise DataFormatError(
                f"{source}: examples have {sorted(counts)} choices; every example of a file needs the same number "
                "(the choices of a batch are scored together)"
            )

    def encode(self, examples: Sequence[ChoiceExample], tokenizer: Any, label2id: dict[str, int] | None,
               options: EncodeOptions) -> list[Feature]:
        if not examples:
            return []
        codec = MultipleChoiceCodec(tokenizer, options.max_length)
        encoded = codec.encode([example.prompt for example in examples], [example.choices for example in examples])
        features = []
        for index, (example, encoding) in enumerate(zip(examples, encoded)):
            feature: Feature = {"input_ids": [row["input_ids"] for row in encoding.features],
                                "token_type_ids": [row["token_type_ids"] for row in encoding.features], "example": index}
            if example.label is not None:
                feature["labels"] = example.label
            features.append(feature)
        return features

    def score(self, examples: Sequence[ChoiceExample], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        predictions = [int(np.argmax(output["logits"])) for output in outputs]
        return {"accuracy": metric_functions.accuracy(predictions, [example.label for example in examples])}, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        return ("accuracy", "loss")


class SentenceEmbeddingsTask(Task):
    """Contrastive training of sentence vectors (:mod:`.contrastive`): pairs with in-batch
    negatives (and optional hard negatives), or scored pairs (CoSENT); the encoder alone is
    trained and saved, with the sentence-transformers files (:mod:`albert.sentence_folder`).

    A feature holds an example's texts as rows (anchor, positive, optional negative), each
    ``[CLS] text [SEP]`` cut to ``max_length``; the score, when given, is its label. Evaluation:
    retrieval of each anchor's positive among all positives of the dev set (``recall@1``,
    ``recall@10``, ``mrr@10``) or Spearman on scored pairs, per Matryoshka dimension too
    (``mrr@10@128`` ...).
    """

    name = "sentence-embeddings"
    model_class = AlbertModel
    default_metric = "mrr@10"
    evaluates_before_training = True
    in_batch_negatives = True
    saves_final = True

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[SentencePair]:
        return read_sentence_pairs(path, options)

    def default_metric_for(self, examples: Sequence[SentencePair]) -> str:
        return "spearman" if examples and examples[0].score is not None else "mrr@10"

    def check_labels(self, examples: Sequence[SentencePair], label2id: dict[str, int] | None, source: str) -> None:
        if len(examples) < 2:
            raise DataFormatError(f"{source} holds {len(examples)} pair(s); contrastive training and retrieval need two or more")

    def objective(self, model: AlbertPreTrainedModel, options: EncodeOptions, distributed: bool) -> nn.Module:
        from .contrastive import ContrastiveObjective, SentenceEncoder

        self.sentence_config(options).check_hidden_size(model.config.hidden_size)
        if getattr(model, "pooler", None) is not None:
            model.pooler.requires_grad_(False)  # not part of a sentence vector: neither trained nor all-reduced
        dimensions: list[int | None] = [*options.matryoshka_dimensions] or [None]
        return ContrastiveObjective(SentenceEncoder(model, options.pooling), dimensions, options.scale, distributed)

    def prediction_model(self, model: AlbertPreTrainedModel, options: EncodeOptions) -> nn.Module:
        from .contrastive import SentenceEncoder

        return SentenceEncoder(model, options.pooling)

    @staticmethod
    def sentence_config(options: EncodeOptions) -> Any:
        """The :class:`~albert.sentence_folder.SentenceEmbeddingConfig` a model trained with ``options`` is saved with."""
        from ...sentence_folder import SentenceEmbeddingConfig

        return SentenceEmbeddingConfig(pooling=options.pooling, normalize=True, max_length=options.max_length,
                                       matryoshka_dimensions=options.matryoshka_dimensions)

    def complete_folder(self, folder: Path, model: AlbertPreTrainedModel, options: EncodeOptions) -> None:
        from ...sentence_folder import write_sentence_config

        write_sentence_config(folder, self.sentence_config(options), model.config.hidden_size)

    def load_model(self, source: str | os.PathLike, device: torch.device, **keywords: Any) -> AlbertPreTrainedModel:
        """The encoder of whichever model ``source`` holds (the embeddings pipeline's
        :func:`~albert.pipelines.embeddings.load_encoder`: a head's checkpoint keeps its encoder,
        without a pooler it never had); ``keywords`` (head options) do not apply."""
        from ...pipelines.embeddings import load_encoder

        return load_encoder(source).to(device)

    def model_source(self, model: str | os.PathLike) -> str | os.PathLike:
        """A sentence-transformers folder's Transformer module (the folder, or its 0_Transformer/)."""
        from ...sentence_folder import read_sentence_folder

        found = read_sentence_folder(model) if Path(model).is_dir() else None
        return found.transformer if found is not None else model

    def folder_options(self, model_dir: str | os.PathLike) -> dict[str, Any]:
        from ...sentence_folder import read_sentence_config

        config = read_sentence_config(model_dir) if Path(model_dir).is_dir() else None
        if config is None:
            return {}
        found: dict[str, Any] = {"pooling": config.pooling, "matryoshka_dimensions": config.matryoshka_dimensions}
        if config.max_length is not None:
            found["max_length"] = config.max_length
        return found

    def encode(self, examples: Sequence[SentencePair], tokenizer: Any, label2id: dict[str, int] | None,
               options: EncodeOptions) -> list[Feature]:
        if not examples:
            return []
        roles = 3 if examples[0].negative is not None else 2
        texts = [text for example in examples
                 for text in (example.anchor, example.positive, example.negative)[:roles]]  # fmt: skip
        encoded = TextClassificationCodec(tokenizer, options.max_length).encode([text or "" for text in texts])
        features = []
        for index, example in enumerate(examples):
            rows = [encoding.features[0] for encoding in encoded[index * roles:(index + 1) * roles]]
            feature: Feature = {"input_ids": [row["input_ids"] for row in rows],
                                "token_type_ids": [row["token_type_ids"] for row in rows], "example": index}
            if example.score is not None:
                feature["labels"] = float(example.score)
            features.append(feature)
        return features

    def read_outputs(self, output: Any) -> dict[str, torch.Tensor]:
        return {"embeddings": output.embeddings}

    def score(self, examples: Sequence[SentencePair], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        from ...pipelines.embeddings import truncate_and_normalize

        embeddings = torch.from_numpy(np.stack([output["embeddings"] for output in outputs]))  # (N, R, H)
        scored = examples[0].score is not None
        scores: dict[str, float] = {}
        predictions: list[Any] = []
        columns, targets = metric_functions.unique_documents([example.positive for example in examples])
        for dimension in (None, *options.matryoshka_dimensions):
            vectors = truncate_and_normalize(embeddings, dimension, normalize=True)
            anchors, positives = vectors[:, 0], vectors[:, 1]
            suffix = "" if dimension is None else f"@{dimension}"
            cosines = (anchors * positives).sum(dim=-1).tolist()
            if scored:
                found = {"spearman": metric_functions.spearman(cosines, [float(example.score or 0) for example in examples])}
            else:
                similarities = (anchors @ positives[columns].T).numpy()  # a text that is several pairs' positive: one document
                found = metric_functions.retrieval_scores(similarities, targets=targets)
            scores.update({f"{name}{suffix}": value for name, value in found.items()})
            if dimension is None:
                predictions = [{"cosine": cosine} for cosine in cosines]
        return scores, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        return ("mrr@10", "recall@1", "recall@10", "spearman")


TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (TextClassificationTask, RegressionTask, TokenClassificationTask, QuestionAnsweringTask, MultipleChoiceTask,
                 SentenceEmbeddingsTask)
}


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ValueError: an unknown name; the message lists the tasks.
    """
    try:
        return TASKS[name]()
    except KeyError:
        raise OptionError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None
