"""Reading the files people have into the examples of the fine-tuning tasks, with errors that
name the file and the line.

Formats read (by file suffix; ``.json`` files may also hold one JSON object a line):

* text-classification / regression: ``.tsv`` (tabs; quoted fields as pandas and spreadsheets
  write them when the file parses consistently so, else literal as GLUE writes them: see
  :func:`table_rows`), ``.csv`` (quoted fields), ``.jsonl``/``.json``; single texts or pairs, with the
  columns found by name (``sentence``, ``sentence1``/``sentence2``, ``question``/``sentence``,
  ``#1 String``/``#2 String`` (MRPC), ``label``, ``score``, ``Quality`` ...) or given explicitly.
* token-classification: CoNLL-2003 column files (a word a line, a blank line between sentences,
  ``-DOCSTART-`` lines skipped, the tag column choosable) and JSON lines ``{"words", "tags"}``
  (also ``tokens`` / ``ner`` / ``ner_tags``).
* question-answering: SQuAD v1.1 / v2.0 JSON (nested ``data/paragraphs/qas``) and the flat
  records of the Hugging Face datasets export (``id, question, context, answers``).
* sentence-embeddings: pairs ``(anchor, positive)`` with an optional hard negative, or scored
  pairs, from the same tables (see :func:`read_sentence_pairs`); MRPC's file reads as its
  positive pairs.
* multiple-choice: SWAG (``sent1, sent2, ending0..N, label``; JSON lines or CSV), RACE
  (``article, questions, options, answers``; a file, or a folder of them), HellaSwag
  (``ctx, endings, label``) and plain ``{"prompt", "choices", "label"}``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InputError, OptionError
from ...text_normalization import decode_utf8


class DataFormatError(InputError):
    """A file that cannot be read as the task's format; the message names the file and line."""


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
    #: sentence-embeddings: the hard negative's column (default: found by name, e.g. ``negative``).
    negative_column: str | None = None


# -- examples ---------------------------------------------------------------------------------------


@dataclass
class TextExample:
    """A text (or a pair) and its label: a class name, or a number for regression."""

    text: str
    text_pair: str | None = None
    label: str | float | None = None


@dataclass
class SentencePair:
    """Two texts that should embed close (``score`` None: a positive pair, with an optional hard
    ``negative`` that should embed farther from the anchor), or a pair and how similar it is."""

    anchor: str
    positive: str
    negative: str | None = None
    score: float | None = None


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


def read_records(path: str | os.PathLike[str], header: bool = True) -> list[dict[str, Any]]:
    """The rows of a ``.tsv``/``.txt`` (tabs), ``.csv``, ``.jsonl``, ``.json`` or Parquet file
    (``.parquet``, or a folder of Parquet parts as Spark writes it) as dicts.

    Tables are read with the csv module: a ``.csv`` with standard quoting (a field in double
    quotes may hold commas, newlines and doubled quotes ``""``). A ``.tsv`` is read that way too
    when the file parses consistently so (see :func:`table_rows`), as pandas and spreadsheets
    write it; otherwise its fields are taken literally, as GLUE writes them (unbalanced quotes
    included). A UTF-8 byte-order mark is dropped. Without ``header`` the keys are the column
    positions as strings (``"0"``, ``"1"``). Each record keeps the 1-based line it starts on under
    ``"__line__"`` for error messages.

    Raises:
        DataFormatError: a missing file or one that is not UTF-8, a row with the wrong number of
            fields, a malformed quoted field, or invalid JSON.
    """
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".parquet":
        return _read_parquet_records(path)
    if not path.is_file():
        raise DataFormatError(f"cannot read {path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _read_json_records(path)
    rows = table_rows(_read_text(path), "," if suffix == ".csv" else "\t", str(path))
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
                f"{len(names)}; check the separator ({'commas' if suffix == '.csv' else 'tabs'} for a {suffix} file) "
                "and the quotes (a quoted field ends with a quote, quotes inside it are doubled)"
            )
        record: dict[str, Any] = dict(zip(names, row))
        record["__line__"] = line
        records.append(record)
    return records


#: A double quote at the start of a field: only then can quoting change what a row holds.
_QUOTE_AT_FIELD_START = re.compile(r'(?:^|[\t\n\r])"')


def table_rows(text: str, delimiter: str, source: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a delimited text, each with the 1-based line it starts on.

    With commas, fields follow standard (RFC 4180) quoting. With tabs, the quoting style is
    detected: a field is read as quoted only when the whole file parses consistently that way,
    i.e. every field that starts with ``"`` ends with ``"`` before the next tab or line end, with
    any quote inside it doubled, and every row then has as many fields as the first. Otherwise
    every field is literal: GLUE's .tsv files hold quotes that open and never close.

    Raises:
        DataFormatError: a malformed quoted field (in a .csv), naming ``source`` and the line.
    """
    if delimiter != "\t":
        return _parse_table(text, delimiter, quoted=True, source=source)
    if not _QUOTE_AT_FIELD_START.search(text):  # both readings give the same rows
        return _parse_table(text, delimiter, quoted=False, source=source)
    try:
        quoted = _parse_table(text, delimiter, quoted=True, source=source)
    except DataFormatError:
        quoted = None
    if quoted is not None and len({len(row) for _, row in quoted}) <= 1:
        return quoted
    literal = _parse_table(text, delimiter, quoted=False, source=source)
    if len({len(row) for _, row in literal}) <= 1 or quoted is None:
        return literal
    return quoted  # neither reading is consistent: report the rows of the one whose quotes were whole


def _parse_table(text: str, delimiter: str, *, quoted: bool, source: str) -> list[tuple[int, list[str]]]:
    stream = io.StringIO(text, newline="")
    if quoted:
        reader = csv.reader(stream, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, strict=True)
    else:
        reader = csv.reader(stream, delimiter=delimiter, quoting=csv.QUOTE_NONE)
    rows, line = [], 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as error:
        raise DataFormatError(f"{source}, line {line}: {error}") from None
    return rows


def _read_text(path: Path) -> str:
    try:
        return decode_utf8(path.read_bytes(), str(path))
    except ValueError as error:
        raise DataFormatError(str(error)) from None


def _read_json_records(path: Path) -> list[dict[str, Any]]:
    text = _read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if document is not None:
        items = document.get("data", document) if isinstance(document, dict) else document
        name = "data" if isinstance(document, dict) and "data" in document else "records"
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise DataFormatError(f"{path} holds JSON but neither a list of records nor {{'data': [...]}}")
        # items of a JSON document have no line of their own: named by their index, from 0
        return [_with_line(item, f"{name}[{index}]", path) for index, item in enumerate(items)]
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(_with_line(json.loads(line), number, path))  # the line, from 1
        except json.JSONDecodeError as error:
            raise DataFormatError(f"{path}, line {number} is not valid JSON ({error.msg})") from None
    return records


def parquet_parts(path: Path) -> list[Path]:
    """The Parquet files of ``path``: the file itself, or a folder's parts in name order (Spark
    names them by partition), leaving out Spark's ``_SUCCESS`` and hidden files.

    Raises:
        DataFormatError: no such file, or a folder without Parquet parts.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataFormatError(f"cannot read {path}: no such file")
    parts = sorted(part for part in path.rglob("*.parquet")
                   if not any(name.startswith(("_", ".")) for name in part.relative_to(path).parts))
    if not parts:
        raise DataFormatError(f"cannot read {path}: the folder holds no Parquet files")
    return parts


def _read_parquet_records(path: Path) -> list[dict[str, Any]]:
    """The rows of Parquet files, each named ``rows[i]`` (from 0, across the parts in order)."""
    import pyarrow.parquet as pq

    records: list[dict[str, Any]] = []
    for part in parquet_parts(path):
        try:
            rows = pq.read_table(part).to_pylist()
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise DataFormatError(f"cannot read {part} as Parquet: {error}") from None
        records.extend(_with_line(row, f"rows[{len(records) + index}]", path) for index, row in enumerate(rows))
    return records


def _with_line(item: Any, where: int | str, path: Path) -> dict[str, Any]:
    """``item`` with where it is under ``"__line__"``: a line number (from 1) for a line of the
    file, or an index such as ``data[3]`` (from 0) for an item of a JSON document."""
    if not isinstance(item, dict):
        raise DataFormatError(f"{_where(path, {'__line__': where})} is a {type(item).__name__}, not a JSON object")
    return {**item, "__line__": where}


def _where(path: str | os.PathLike[str], record: dict[str, Any]) -> str:
    where = record.get("__line__", "?")
    return f"{path}, {where}" if isinstance(where, str) and where != "?" else f"{path}, line {where}"


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


def read_text_examples(path: str | os.PathLike[str], options: ReadOptions | None = None, regression: bool = False) -> list[TextExample]:
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


def read_tagged_sentences(path: str | os.PathLike[str], options: ReadOptions | None = None) -> list[TaggedSentence]:
    """Sentences with one tag per word, from a CoNLL column file or JSON lines (see the module
    docstring).

    Raises:
        DataFormatError: a line with too few columns, or a JSON record without words/tags of the
            same length.
    """
    options = options or ReadOptions()
    path = Path(path)
    if path.suffix.lower() in (".json", ".jsonl", ".parquet") or path.is_dir():
        return _tagged_from_json(path, options.tag_column)
    if not path.is_file():
        raise DataFormatError(f"cannot read {path}: no such file")
    try:
        column = -1 if options.tag_column is None else int(options.tag_column)
    except ValueError:
        raise OptionError(
            f"the tag column {options.tag_column!r} is not a position in the CoNLL file {path}: "
            "give a number (0 the first column, -1 the last)"
        ) from None
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    with io.StringIO(_read_text(path), newline=None) as handle:
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


def read_squad(path: str | os.PathLike[str]) -> list[QuestionExample]:
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


def read_multiple_choice(path: str | os.PathLike[str]) -> list[ChoiceExample]:
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
        given = next((record[key] for key in ("prompt", "question", "context") if key in record), None)
        choices = [str(choice) for choice in record["choices"]]
        if not isinstance(given, str):
            raise DataFormatError(f"{_where(path, record)}: a 'choices' record needs a 'prompt' (or 'question')")
        return [ChoiceExample(given, choices, _choice_label(record.get("label"), choices, path, record))]
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


# -- sentence pairs ---------------------------------------------------------------------------------

#: (anchor, positive, hard negative) layouts tried in order for sentence-embedding files.
SENTENCE_PAIR_LAYOUTS = (
    ("anchor", "positive", "negative"), ("query", "positive", "negative"), ("sentence1", "sentence2", "sentence3"),
    ("#1 String", "#2 String", None), ("text", "text_pair", None), ("question1", "question2", None),
    ("premise", "hypothesis", None), ("text_a", "text_b", None),
)
#: Columns holding a similarity score (CoSENT), found by name.
SCORE_COLUMNS = ("score", "similarity_score", "similarity")
#: Columns holding a paraphrase label (1: a positive pair; other rows are left out), found by name.
PAIR_LABEL_COLUMNS = ("label", "labels", "Quality", "is_duplicate")
#: Scores are similarities on a 0..1 or a 0..5 scale.
SCORE_RANGE = (0.0, 5.0)


def read_sentence_pairs(path: str | os.PathLike[str], options: ReadOptions | None = None) -> list[SentencePair]:
    """Sentence-embedding examples from a TSV/CSV/JSONL/Parquet file: the anchor and positive
    columns (``--text-column``/``--pair-column``, or found by name: ``anchor``/``positive``,
    ``sentence1``/``sentence2``, MRPC's ``#1 String``/``#2 String`` ...), an optional hard
    negative (``negative_column``, or ``negative``/``sentence3``), and an optional label column
    (``--label-column``, or found by name):

    * a score column (``score``, ``similarity_score``; or a named label column whose values are
      not all 0/1) makes scored pairs, trained with CoSENT; scores must lie in 0..5;
    * a paraphrase label (``label``, ``Quality``, ``is_duplicate``; or a named column of 0/1)
      keeps the pairs labelled 1 as positives and leaves the others out (MRPC reads so).

    Raises:
        DataFormatError: a named column is missing, no text columns are found, a text is empty,
            or a score is not a number in 0..5.
    """
    options = options or ReadOptions()
    records = read_records(path, header=options.header)
    if not records:
        return []
    first = records[0]
    anchor_column, positive_column, negative_column = _sentence_columns(first, options, path)
    label_column = options.label_column or next(
        (name for name in (*SCORE_COLUMNS, *PAIR_LABEL_COLUMNS) if name in first), None
    )
    for column in (anchor_column, positive_column, negative_column, label_column):
        for record in records:
            if column is not None and column not in record:
                raise DataFormatError(f"{_where(path, record)} has no column {column!r} (columns: {_columns(record)})")
    scored = label_column is not None and _is_score_column(label_column, records, options)
    examples = []
    for record in records:
        label = record.get(label_column) if label_column is not None else None
        if label_column is not None and not scored and _label_name(label) != "1":
            continue  # a pair that is not a paraphrase: not a positive
        anchor = _clean_text(record[anchor_column], path, record, anchor_column)
        positive = _clean_text(record[positive_column], path, record, positive_column)
        negative = _clean_text(record[negative_column], path, record, negative_column) if negative_column else None
        score = _score(label, path, record) if scored else None
        examples.append(SentencePair(anchor, positive, negative, score))
    return examples


def _sentence_columns(record: dict[str, Any], options: ReadOptions, path: Any) -> tuple[str, str, str | None]:
    if options.text_column is not None:
        if options.pair_column is None:
            raise DataFormatError(f"{path}: sentence embeddings need two texts a row; name the second with --pair-column")
        return options.text_column, options.pair_column, options.negative_column
    for anchor, positive, negative in SENTENCE_PAIR_LAYOUTS:
        if anchor in record and positive in record:
            found = negative if negative is not None and negative in record else None
            return anchor, positive, options.negative_column or found
    raise DataFormatError(
        f"{path}: cannot tell which columns hold the two texts (columns: {_columns(record)}); name them with "
        "--text-column and --pair-column (and --negative-column for hard negatives)"
    )


def _is_score_column(column: str, records: list[dict[str, Any]], options: ReadOptions) -> bool:
    """Whether the label column holds scores (CoSENT) rather than paraphrase labels (positives kept)."""
    if column in SCORE_COLUMNS:
        return True
    if column in PAIR_LABEL_COLUMNS and options.label_column is None:
        return False
    return not all(_label_name(record.get(column)) in ("0", "1") for record in records)


def _score(value: Any, path: Any, record: dict[str, Any]) -> float:
    low, high = SCORE_RANGE
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:
        raise DataFormatError(
            f"{_where(path, record)}: the score {value!r} is not a number in {low:g}..{high:g}; scored pairs "
            f"take similarities on a 0..1 or 0..5 scale"
        )
    return number
