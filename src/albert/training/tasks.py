"""The fine-tuning tasks: reading the files people have, label maps, model inputs, and predictions.

Each task is one small class with the same five steps, so the training loop
(:mod:`.finetune`) and the evaluation (:mod:`.evaluate`) never look inside a task:

``read`` a file -> ``label_list`` (inferred from train) and ``check_labels`` (a dev label the
model cannot predict is an error before training starts) -> ``encode`` examples into model
inputs (features) -> the model, whose head computes the loss -> ``score`` the outputs back into
predictions and metrics.

Formats read (by file suffix; ``.json`` files may also hold one JSON object a line):

* text-classification / regression: GLUE-style ``.tsv`` (tabs, quotes taken literally, as GLUE
  writes them), ``.csv`` (quoted fields), ``.jsonl``/``.json``; single texts or pairs, with the
  columns found by name (``sentence``, ``sentence1``/``sentence2``, ``question``/``sentence``,
  ``#1 String``/``#2 String`` (MRPC), ``label``, ``score``, ``Quality`` ...) or given explicitly.
* token-classification: CoNLL-2003 column files (a word a line, a blank line between sentences,
  ``-DOCSTART-`` lines skipped, the tag column choosable) and JSON lines ``{"words", "tags"}``
  (also ``tokens`` / ``ner`` / ``ner_tags``).
* question-answering: SQuAD v1.1 / v2.0 JSON (nested ``data/paragraphs/qas``) and the flat
  records of the Hugging Face datasets export (``id, question, context, answers``).
* multiple-choice: SWAG (``sent1, sent2, ending0..N, label``; JSON lines or CSV), RACE
  (``article, questions, options, answers``; a file, or a folder of them), HellaSwag
  (``ctx, endings, label``) and plain ``{"prompt", "choices", "label"}``.

Inputs match the pipelines' (:mod:`albert.pipelines`): ``[CLS] text [SEP] (pair [SEP])``, a
question before its context, a prompt before each choice; so a model fine-tuned here reads its
inputs the same way in ``albert.pipeline(...)``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..modeling import (
    IGNORE_INDEX,
    AlbertForMultipleChoice,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
)
from ..pipelines.question_answering import decode_answers
from ..text_normalization import trim_span
from ..tokenization_base import pad_batch, pad_rows
from . import metrics as metric_functions

TASK_NAMES = ("text-classification", "regression", "token-classification", "question-answering", "multiple-choice")

#: A feature is one model input: ``input_ids``, ``token_type_ids`` (lists; lists of lists for
#: multiple choice), the labels the head takes, ``example`` (the index of its example) and
#: ``meta`` (what scoring needs to map outputs back: word positions, character spans).
Feature = dict[str, Any]


class DataFormatError(ValueError):
    """A file that cannot be read as the task's format; the message names the file and line."""


class UnknownLabelError(ValueError):
    """A label in an evaluation file that the training file (or the model) does not have."""


# -- options ----------------------------------------------------------------------------------------


@dataclass
class ReadOptions:
    """How to find the fields of a file; None means: found by name (see the module docstring).

    ``text_column``/``pair_column``/``label_column`` are column names, or 0-based positions as
    strings (``"1"``) in files read with ``header=False``. ``tag_column`` is a position in CoNLL
    column files (default: the last) or a key in JSON files.
    """

    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    tag_column: str | int | None = None
    header: bool = True


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


# -- examples ---------------------------------------------------------------------------------------


@dataclass
class TextExample:
    """A text (or a pair) and its label: a class name, or a number for regression."""

    text: str
    text_pair: str | None = None
    label: str | float | None = None


@dataclass
class TaggedSentence:
    """Words and their tags (``B-PER``, ``I-PER``, ``O`` ...); tags None when unlabelled."""

    words: list[str]
    tags: list[str] | None = None


@dataclass
class QuestionExample:
    """A question about a context; ``answers`` are ``(text, start character)`` pairs, empty when
    the question has no answer in the context (SQuAD 2.0)."""

    id: str
    question: str
    context: str
    answers: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class ChoiceExample:
    """A prompt, its candidate continuations or answers, and the index of the right one."""

    prompt: str
    choices: list[str]
    label: int | None = None


# -- reading tables ---------------------------------------------------------------------------------


def read_records(path: str | os.PathLike, header: bool = True) -> list[dict[str, Any]]:
    """The rows of a ``.tsv``/``.txt`` (tabs), ``.csv``, ``.jsonl`` or ``.json`` file as dicts.

    TSV fields are taken literally (GLUE's files hold unbalanced quotes); a UTF-8 byte-order mark
    is dropped. Without ``header`` the keys are the column positions as strings (``"0"``, ``"1"``).
    Each record keeps its 1-based line number under ``"__line__"`` for error messages.

    Raises:
        DataFormatError: a missing file, a row with the wrong number of fields, or invalid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"cannot read {path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _read_json_records(path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        if suffix == ".csv":
            reader = csv.reader(handle)
        else:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
        except csv.Error as error:
            raise DataFormatError(f"{path}, line {reader.line_num}: {error}") from None
    if not rows:
        return []
    if header:
        names, rows = rows[0][1], rows[1:]
    else:
        names = [str(index) for index in range(len(rows[0][1]))]
    records = []
    for line, row in rows:
        if len(row) != len(names):
            raise DataFormatError(
                f"{path}, line {line} has {len(row)} fields but the {'header' if header else 'first row'} has "
                f"{len(names)}; check the separator ({'commas' if suffix == '.csv' else 'tabs'} for a {suffix} file)"
            )
        record: dict[str, Any] = dict(zip(names, row))
        record["__line__"] = line
        records.append(record)
    return records


def _read_json_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if document is not None:
        items = document.get("data", document) if isinstance(document, dict) else document
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise DataFormatError(f"{path} holds JSON but neither a list of records nor {{'data': [...]}}")
        return [_with_line(item, number, path) for number, item in enumerate(items, 1)]
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(_with_line(json.loads(line), number, path))
        except json.JSONDecodeError as error:
            raise DataFormatError(f"{path}, line {number} is not valid JSON ({error.msg})") from None
    return records


def _with_line(item: Any, number: int, path: Path) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise DataFormatError(f"{path}, record {number} is a {type(item).__name__}, not a JSON object")
    return {**item, "__line__": number}


def _where(path: str | os.PathLike, record: dict[str, Any]) -> str:
    return f"{path}, line {record.get('__line__', '?')}"


def _columns(record: dict[str, Any]) -> str:
    return ", ".join(repr(key) for key in record if key != "__line__")


# -- readers ----------------------------------------------------------------------------------------

#: (text column, pair column) layouts tried in order when no column is given.
PAIR_LAYOUTS = (
    ("sentence1", "sentence2"), ("question1", "question2"), ("question", "sentence"), ("premise", "hypothesis"),
    ("#1 String", "#2 String"), ("text", "text_pair"), ("text_a", "text_b"),
)
SINGLE_TEXT_COLUMNS = ("sentence", "text", "content", "review")
LABEL_COLUMNS = ("label", "labels", "score", "Quality", "gold_label", "similarity_score")


def _pick_text_columns(record: dict[str, Any], options: ReadOptions, path: Any) -> tuple[str, str | None]:
    if options.text_column is not None:
        return options.text_column, options.pair_column
    for text, pair in PAIR_LAYOUTS:
        if text in record and pair in record:
            return text, pair
    for text in SINGLE_TEXT_COLUMNS:
        if text in record:
            return text, options.pair_column
    raise DataFormatError(
        f"{path}: cannot tell which column holds the text (columns: {_columns(record)}); "
        "name it with --text-column (and --pair-column for pairs)"
    )


def read_text_examples(path: str | os.PathLike, options: ReadOptions | None = None, regression: bool = False) -> list[TextExample]:
    """Texts or text pairs with labels, from a TSV/CSV/JSONL file (see the module docstring).

    A file without a label column gives examples with ``label=None`` (for prediction only).

    Raises:
        DataFormatError: a named column is missing, a text is empty, or a regression label is not
            a number.
    """
    options = options or ReadOptions()
    records = read_records(path, header=options.header)
    if not records:
        return []
    text_column, pair_column = _pick_text_columns(records[0], options, path)
    label_column = options.label_column or next((name for name in LABEL_COLUMNS if name in records[0]), None)
    examples = []
    for record in records:
        for column in (text_column, pair_column, options.label_column):
            if column is not None and column not in record:
                raise DataFormatError(f"{_where(path, record)} has no column {column!r} (columns: {_columns(record)})")
        text = _clean_text(record[text_column], path, record, text_column)
        pair = _clean_text(record[pair_column], path, record, pair_column) if pair_column is not None else None
        label = record.get(label_column) if label_column is not None else None
        if label is not None and not (isinstance(label, str) and not label.strip()):
            label = _number(label, path, record) if regression else _label_name(label)
        else:
            label = None
        examples.append(TextExample(text, pair, label))
    return examples


def _clean_text(value: Any, path: Any, record: dict[str, Any], column: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(f"{_where(path, record)}: column {column!r} is empty or not text: {value!r}")
    return value.strip()


def _label_name(value: Any) -> str:
    """Labels as strings: 1 and "1" (and 1.0 from JSON) are the same class."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _number(value: Any, path: Any, record: dict[str, Any]) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise DataFormatError(f"{_where(path, record)}: the regression label {value!r} is not a finite number")
    return number


def read_tagged_sentences(path: str | os.PathLike, options: ReadOptions | None = None) -> list[TaggedSentence]:
    """Sentences with one tag per word, from a CoNLL column file or JSON lines (see the module
    docstring).

    Raises:
        DataFormatError: a line with too few columns, or a JSON record without words/tags of the
            same length.
    """
    options = options or ReadOptions()
    path = Path(path)
    if path.suffix.lower() in (".json", ".jsonl"):
        return _tagged_from_json(path, options.tag_column)
    if not path.is_file():
        raise DataFormatError(f"cannot read {path}: no such file")
    column = -1 if options.tag_column is None else int(options.tag_column)
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append(TaggedSentence(words, tags))
                words, tags = [], []
                continue
            if len(fields) < 2 or not -len(fields) <= column < len(fields) or column == 0:
                raise DataFormatError(
                    f"{path}, line {number}: expected a word and tag columns (tag column {column}), got {line.strip()!r}"
                )
            words.append(fields[0])
            tags.append(fields[column])
    if words:
        sentences.append(TaggedSentence(words, tags))
    return sentences


def _tagged_from_json(path: Path, tag_key: str | int | None) -> list[TaggedSentence]:
    sentences = []
    for record in read_records(path):
        words = record.get("words", record.get("tokens"))
        if tag_key is not None:
            if str(tag_key) not in record:
                raise DataFormatError(f"{_where(path, record)} has no key {tag_key!r} (keys: {_columns(record)})")
            tags = record[str(tag_key)]
        else:
            tags = next((record[key] for key in ("tags", "ner", "ner_tags", "labels") if key in record), None)
        if not isinstance(words, list) or not words:
            raise DataFormatError(f"{_where(path, record)}: expected a non-empty list under 'words' or 'tokens'")
        if tags is not None and (not isinstance(tags, list) or len(tags) != len(words)):
            raise DataFormatError(f"{_where(path, record)}: {len(words)} words but tags {tags!r}")
        sentences.append(TaggedSentence([str(word) for word in words], [_label_name(tag) for tag in tags] if tags else None))
    return sentences


def read_squad(path: str | os.PathLike) -> list[QuestionExample]:
    """Questions with contexts and answers from SQuAD v1.1/v2.0 JSON (nested or flat records).

    An answer whose ``answer_start`` does not point at its text is moved to the nearest place
    where the text occurs in the context, or dropped with a warning when it does not occur.

    Raises:
        DataFormatError: a record without a question or context.
    """
    path = Path(path)
    records = read_records(path)
    examples: list[QuestionExample] = []
    dropped = 0
    for record in records:
        if "paragraphs" in record:  # official layout: one article per record
            for paragraph in record["paragraphs"]:
                for question in paragraph.get("qas", []):
                    example, lost = _question(question, paragraph.get("context"), path, record, len(examples))
                    examples.append(example)
                    dropped += lost
        else:
            example, lost = _question(record, record.get("context"), path, record, len(examples))
            examples.append(example)
            dropped += lost
    if dropped:
        warnings.warn(f"{path}: {dropped} answers do not occur in their context and were left out", UserWarning, stacklevel=2)
    return examples


def _question(item: dict[str, Any], context: Any, path: Path, record: dict[str, Any], number: int) -> tuple[QuestionExample, int]:
    question = item.get("question")
    if not isinstance(question, str) or not question.strip() or not isinstance(context, str) or not context:
        raise DataFormatError(f"{_where(path, record)}: a SQuAD question needs 'question' and 'context' texts")
    raw = [] if item.get("is_impossible") else item.get("answers", [])
    if isinstance(raw, dict):  # {"text": [...], "answer_start": [...]}
        raw = [{"text": text, "answer_start": start} for text, start in zip(raw.get("text", []), raw.get("answer_start", []))]
    answers, dropped = [], 0
    for answer in raw:
        start = _aligned_start(context, str(answer["text"]), int(answer["answer_start"]))
        if start is None:
            dropped += 1
        else:
            answers.append((str(answer["text"]), start))
    return QuestionExample(str(item.get("id", f"q{number}")), question.strip(), context, answers), dropped


def _aligned_start(context: str, text: str, start: int) -> int | None:
    if not text:
        return None
    if context[start:start + len(text)] == text:
        return start
    found = [index for index in _occurrences(context, text)]
    return min(found, key=lambda index: abs(index - start)) if found else None


def _occurrences(context: str, text: str) -> Iterable[int]:
    index = context.find(text)
    while index != -1:
        yield index
        index = context.find(text, index + 1)


def read_multiple_choice(path: str | os.PathLike) -> list[ChoiceExample]:
    """Prompts with choices and the right choice, from SWAG, RACE, HellaSwag or plain
    ``{"prompt", "choices", "label"}`` records; a folder is read file by file (RACE ships so).

    Raises:
        DataFormatError: a record of none of these layouts, or a label that is not one of the
            choices.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"cannot read {path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    examples: list[ChoiceExample] = []
    for file in files:
        # RACE keeps one JSON object per .txt file; only .csv/.tsv files are tables.
        records = read_records(file) if file.suffix.lower() in (".csv", ".tsv") else _read_json_records(file)
        for record in records:
            examples.extend(_choice_examples(record, file))
    return examples


def _choice_examples(record: dict[str, Any], path: Path) -> list[ChoiceExample]:
    if "article" in record:  # RACE: one article, several questions
        questions = record["questions"] if "questions" in record else [record.get("question")]
        options = record["options"] if "questions" in record else [record.get("options")]
        answers = record.get("answers", record.get("answer"))
        answers = answers if isinstance(answers, list) else [answers]
        return [
            ChoiceExample(record["article"], [_race_choice(question, option) for option in choices],
                          _choice_label(answer, choices, path, record))
            for question, choices, answer in zip(questions, options, answers)
        ]
    if "ending0" in record:  # SWAG
        endings = [record[f"ending{index}"] for index in range(10) if f"ending{index}" in record]
        lead = str(record.get("sent2", "")).strip()
        choices = [f"{lead} {ending}".strip() for ending in endings]
        return [ChoiceExample(str(record["sent1"]), choices, _choice_label(record.get("label"), choices, path, record))]
    if "endings" in record:  # HellaSwag
        lead = str(record.get("ctx_b", "")).strip()
        prompt = str(record.get("ctx_a", record.get("ctx", "")))
        choices = [f"{lead} {ending}".strip() for ending in record["endings"]]
        return [ChoiceExample(prompt, choices, _choice_label(record.get("label"), choices, path, record))]
    if "choices" in record:
        prompt = next((record[key] for key in ("prompt", "question", "context") if key in record), None)
        choices = [str(choice) for choice in record["choices"]]
        if not isinstance(prompt, str):
            raise DataFormatError(f"{_where(path, record)}: a 'choices' record needs a 'prompt' (or 'question')")
        return [ChoiceExample(prompt, choices, _choice_label(record.get("label"), choices, path, record))]
    raise DataFormatError(
        f"{_where(path, record)}: not a multiple-choice record (columns: {_columns(record)}); expected SWAG "
        "(sent1, sent2, ending0..), RACE (article, questions, options, answers) or {prompt, choices, label}"
    )


def _race_choice(question: str, option: str) -> str:
    # RACE's cloze questions hold a blank: the option fills it; other questions are followed by it.
    return question.replace("_", option) if "_" in question else f"{question} {option}".strip()


def _choice_label(label: Any, choices: list[str], path: Path, record: dict[str, Any]) -> int | None:
    if label is None or (isinstance(label, str) and not label.strip()):
        return None
    if len(choices) < 2:
        raise DataFormatError(f"{_where(path, record)}: {len(choices)} choice(s); a multiple-choice record needs two or more")
    if isinstance(label, str) and label.strip() in choices:
        index = choices.index(label.strip())
    elif isinstance(label, str) and len(label.strip()) == 1 and label.strip().isalpha():
        index = ord(label.strip().upper()) - ord("A")
    else:
        try:
            index = int(label)
        except (TypeError, ValueError):
            index = -1
    if not 0 <= index < len(choices):
        raise DataFormatError(f"{_where(path, record)}: the label {label!r} is not one of its {len(choices)} choices")
    return index


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
        shown = ", ".join(f"{label!r} (example {number})" for label, number in list(unknown.items())[:5])
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
        values = [feature.get(key) for feature in features]
        if any(value is None for value in values):
            continue
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
    model_class: ClassVar[type]
    #: Metric used to pick the best checkpoint unless another is chosen.
    default_metric: ClassVar[str]
    #: Metrics where lower is better (every other one: higher is better).
    lower_is_better: ClassVar[tuple[str, ...]] = ("loss", "mse")

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[Any]:
        raise NotImplementedError

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


class TextClassificationTask(Task):
    """One label per text or text pair (SST-2, MRPC, MNLI, CoLA ...)."""

    name = "text-classification"
    model_class = AlbertForSequenceClassification
    default_metric = "accuracy"

    def read(self, path: str | os.PathLike, options: ReadOptions) -> list[TextExample]:
        return read_text_examples(path, options)

    def label_list(self, examples: Sequence[TextExample]) -> list[str]:
        _require_labels(examples, lambda example: example.label is not None, "the training file")
        labels = infer_label_list(example.label for example in examples)
        if len(labels) < 2:
            raise DataFormatError(f"the training file has a single label {labels!r}: nothing to classify")
        return labels

    def check_labels(self, examples: Sequence[TextExample], label2id: dict[str, int] | None, source: str) -> None:
        _require_labels(examples, lambda example: example.label is not None, source)
        check_known_labels(((example.label, n) for n, example in enumerate(examples)), label2id or {}, source)

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
        pairs = [example.text_pair for example in examples]
        encoding = tokenizer(
            [example.text for example in examples], pairs if all(pair is not None for pair in pairs) else None,
            truncation=True, max_length=options.max_length,
        )
        features = []
        for index, example in enumerate(examples):
            feature: Feature = {"input_ids": encoding["input_ids"][index],
                                "token_type_ids": encoding["token_type_ids"][index], "example": index}
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
        references = [float(example.label) for example in examples]
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
        encoding = tokenizer([example.words for example in examples], is_split_into_words=True, truncation=True,
                             max_length=options.max_length)
        features = []
        for index, example in enumerate(examples):
            word_ids = encoding.word_ids(index)
            first_piece: list[int | None] = [None] * len(example.words)  # word -> its first piece's position
            for position, word in enumerate(word_ids):
                if word is not None and first_piece[word] is None:
                    first_piece[word] = position
            feature: Feature = {"input_ids": encoding["input_ids"][index],
                                "token_type_ids": encoding["token_type_ids"][index],
                                "example": index, "meta": first_piece}
            if example.tags is not None:
                labels = [IGNORE_INDEX] * len(word_ids)
                for word, position in enumerate(first_piece):
                    if position is not None:
                        labels[position] = (label2id or {})[example.tags[word]]
                feature["labels"] = labels
            features.append(feature)
        return features

    def read_outputs(self, output: Any) -> dict[str, torch.Tensor]:
        return {"tag_ids": output.logits.argmax(dim=-1)}  # (B, S): the vocabulary of tags stays on the device

    def score(self, examples: Sequence[TaggedSentence], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        id2label = id2label or {}
        predictions, truncated = [], 0
        for feature, output in zip(features, outputs):
            tags = []
            for position in feature["meta"]:
                if position is None:  # the word was cut off by max_length (or has no pieces)
                    truncated += 1
                    tags.append("O")
                else:
                    tags.append(id2label[int(output["tag_ids"][position])])
            predictions.append(tags)
        references = [example.tags for example in examples]
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
            raise ValueError(f"max_length {options.max_length} leaves no room for a question and a context")
        questions, longest = self._shortened_questions(examples, tokenizer, question_limit)
        room = options.max_length - longest - 3  # [CLS] question [SEP] context [SEP]
        stride = min(options.doc_stride, room // 2)
        encoding = tokenizer(questions, [example.context for example in examples], truncation="only_second",
                             max_length=options.max_length, stride=stride, return_overflowing_tokens=True,
                             return_offsets_mapping=True)
        features = []
        for row, sample in enumerate(encoding["overflow_to_sample_mapping"]):
            example = examples[sample]
            spans = []  # (input position, start char, end char) of the window's context pieces
            for position, (sequence, (start, end)) in enumerate(zip(encoding.sequence_ids(row), encoding["offset_mapping"][row])):
                if sequence == 1:
                    start, end = trim_span(example.context, int(start), int(end))
                    spans.append((position, start, end))
            feature: Feature = {"input_ids": encoding["input_ids"][row], "token_type_ids": encoding["token_type_ids"][row],
                                "example": sample, "meta": spans}
            feature["start_positions"], feature["end_positions"] = _answer_positions(example, spans)
            features.append(feature)
        return features

    @staticmethod
    def _shortened_questions(examples: Sequence[QuestionExample], tokenizer: Any, limit: int) -> tuple[list[str], int]:
        """Questions cut to ``limit`` pieces (as the pipeline does), and the longest one's pieces."""
        questions = [example.question for example in examples]
        encoding = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        shortened, longest = [], 0
        for question, offsets in zip(questions, encoding["offset_mapping"]):
            shortened.append(question if len(offsets) <= limit else question[: int(offsets[limit - 1][1])])
            longest = max(longest, min(len(offsets), limit))
        return shortened, longest

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
    :func:`~albert.pipelines.question_answering.decode_answers`, with ``max_answer_length`` as
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
        prompts = [example.prompt for example in examples for _ in example.choices]
        choices = [choice for example in examples for choice in example.choices]
        encoding = tokenizer(prompts, choices, truncation="longest_first", max_length=options.max_length)
        features, row = [], 0
        for index, example in enumerate(examples):
            count = len(example.choices)
            feature: Feature = {"input_ids": encoding["input_ids"][row:row + count],
                                "token_type_ids": encoding["token_type_ids"][row:row + count], "example": index}
            if example.label is not None:
                feature["labels"] = example.label
            features.append(feature)
            row += count
        return features

    def score(self, examples: Sequence[ChoiceExample], features: Sequence[Feature], outputs: Sequence[dict[str, np.ndarray]],
              id2label: dict[int, str] | None, options: EncodeOptions) -> tuple[dict[str, float], list[Any]]:
        predictions = [int(np.argmax(output["logits"])) for output in outputs]
        return {"accuracy": metric_functions.accuracy(predictions, [example.label for example in examples])}, predictions

    def metric_names(self, label_list: list[str] | None) -> tuple[str, ...]:
        return ("accuracy", "loss")


TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (TextClassificationTask, RegressionTask, TokenClassificationTask, QuestionAnsweringTask, MultipleChoiceTask)
}


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ValueError: an unknown name; the message lists the tasks.
    """
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None
