"""Readers parse the formats people have, labels are checked early, and inputs are labelled right."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from support.tiny import shared_data

from albert.training.finetuning import readers, tasks
from albert.training.finetuning.tasks import (
    DataFormatError,
    EncodeOptions,
    ReadOptions,
    UnknownLabelError,
    best_answer,
    collate,
    get_task,
)


@pytest.fixture(scope="module")
def tokenizer(make_tiny_model):
    from albert.tokenizer import AlbertTokenizer

    return AlbertTokenizer.from_pretrained(make_tiny_model())


# -- text classification readers --------------------------------------------------------------------


def test_tsv_fields_are_literal_as_glue_writes_them(tmp_path: Path):
    path = tmp_path / "train.tsv"
    path.write_text('sentence\tlabel\n"the film \'s a bore\t0\nit \'s " great "\t1\n', encoding="utf-8")
    examples = readers.read_text_examples(path)
    assert [(e.text, e.text_pair, e.label) for e in examples] == [
        ('"the film \'s a bore', None, "0"), ('it \'s " great "', None, "1"),
    ]


def test_csv_fields_may_be_quoted(tmp_path: Path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\n"good, really good",pos\nbad,neg\n', encoding="utf-8")
    assert [(e.text, e.label) for e in readers.read_text_examples(path)] == [("good, really good", "pos"), ("bad", "neg")]


@pytest.mark.parametrize(
    ("columns", "expected_pair"),
    [(("sentence1", "sentence2"), True), (("question", "sentence"), True), (("premise", "hypothesis"), True),
     (("sentence",), False)],
)
def test_pairs_are_found_by_column_name(tmp_path: Path, columns, expected_pair):
    record = {column: f"{column} text" for column in columns} | {"label": 1}
    path = tasks_file(tmp_path, [record])
    example = readers.read_text_examples(path)[0]
    assert example.text == f"{columns[0]} text"
    assert (example.text_pair == f"{columns[1]} text") if expected_pair else example.text_pair is None
    assert example.label == "1"


def tasks_file(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_columns_can_be_named_or_given_by_position(tmp_path: Path):
    path = tmp_path / "headerless.tsv"
    path.write_text("x\tgood movie\tpos\ny\tbad movie\tneg\n", encoding="utf-8")
    options = ReadOptions(text_column="1", label_column="2", header=False)
    assert [(e.text, e.label) for e in readers.read_text_examples(path, options)] == [("good movie", "pos"), ("bad movie", "neg")]
    with pytest.raises(DataFormatError, match=r"no column 'review' \(columns: 'sentence', 'label'\)"):
        readers.read_text_examples(tasks_file(tmp_path, [{"sentence": "a", "label": 0}]), ReadOptions(text_column="review"))


def test_rows_with_a_wrong_number_of_fields_name_their_line(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t0\textra\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 3 has 3 fields but the header has 2"):
        readers.read_text_examples(path)


def test_regression_labels_must_be_numbers(tmp_path: Path):
    path = tasks_file(tmp_path, [{"sentence1": "a", "sentence2": "b", "score": "high"}])
    with pytest.raises(DataFormatError, match="'high' is not a finite number"):
        readers.read_text_examples(path, regression=True)


def test_reads_mrpc_with_its_byte_order_mark():
    examples = readers.read_text_examples(shared_data("mrpc/msr_paraphrase_train.txt"))
    assert len(examples) == 4076
    assert examples[0].text.startswith("Amrozi accused his brother") and examples[0].text_pair.startswith("Referring to him")
    assert {example.label for example in examples} == {"0", "1"}


def test_reads_the_stsb_sample_as_regression():
    examples = get_task("regression").read(shared_data("samples/stsb_sample.tsv"), ReadOptions())
    assert examples[0].text == "A plane is taking off." and examples[0].text_pair == "An air plane is taking off."
    assert examples[0].label == pytest.approx(5.0) and all(isinstance(e.label, float) for e in examples)


# -- tagging readers ---------------------------------------------------------------------------------


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_files_skip_docstart_and_split_at_blank_lines(tmp_path: Path):
    path = tmp_path / "train.txt"
    path.write_text(CONLL, encoding="utf-8")
    sentences = readers.read_tagged_sentences(path)
    assert [(s.words, s.tags) for s in sentences] == [
        (["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    chunks = readers.read_tagged_sentences(path, ReadOptions(tag_column=2))
    assert chunks[1].tags == ["B-NP", "I-NP"]


def test_reads_conll_sample_json_lines():
    sentences = get_task("token-classification").read(shared_data("samples/conll_sample.json"), ReadOptions())
    assert sentences[1].words == ["CHICAGO", "AT", "ATLANTA"] and sentences[1].tags == ["B-ORG", "O", "B-LOC"]


def test_reads_the_conll2003_validation_file():
    sentences = readers.read_tagged_sentences(shared_data("conll2003/valid.txt"))
    assert len(sentences) == 3250
    assert {tag for s in sentences for tag in s.tags} == {
        "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"
    }


def test_json_tags_must_match_the_words(tmp_path: Path):
    with pytest.raises(DataFormatError, match="2 words but tags"):
        readers.read_tagged_sentences(tasks_file(tmp_path, [{"words": ["a", "b"], "tags": ["O"]}]))


# -- question answering and multiple choice readers --------------------------------------------------


def test_reads_official_nested_squad(tmp_path: Path):
    context = "Normandy is a region in France. It was named after the Normans."
    document = {"version": "v2.0", "data": [{"title": "Normandy", "paragraphs": [{"context": context, "qas": [
        {"id": "1", "question": "Where is Normandy?", "answers": [{"text": "France", "answer_start": 24}]},
        {"id": "2", "question": "Where is Paris?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "France", "answer_start": 24}]},
        # an answer_start that is off by two is moved to where the text is
        {"id": "3", "question": "Named after?", "answers": [{"text": "the Normans", "answer_start": 49}]},
    ]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    examples = readers.read_squad(path)
    assert [(e.id, e.answers) for e in examples] == [("1", [("France", 24)]), ("2", []), ("3", [("the Normans", 51)])]
    assert context[51:62] == "the Normans"


def test_reads_flat_squad_records_with_unanswerable_questions():
    examples = readers.read_squad(shared_data("samples/squad_sample.json"))
    assert len(examples) == 14
    assert examples[0].answers[0] == ("France", 159) and examples[0].context[159:165] == "France"
    assert sum(not example.answers for example in examples) == 6


def test_reads_swag():
    examples = readers.read_multiple_choice(shared_data("samples/swag_sample.json"))
    first = examples[0]
    assert first.prompt == "Members of the procession walk down the street holding small horn brass instruments."
    assert first.choices[0] == "A drum line passes by walking down the street playing their instruments."
    assert len(first.choices) == 4 and first.label == 0


def test_reads_race_and_plain_choice_records(tmp_path: Path):
    race = {"article": "Tom has a red car.", "questions": ["Tom's car is _ .", "What does Tom have?"],
            "options": [["red", "blue"], ["a car", "a dog"]], "answers": ["A", "A"]}
    (tmp_path / "race").mkdir()
    (tmp_path / "race" / "1.txt").write_text(json.dumps(race), encoding="utf-8")
    examples = readers.read_multiple_choice(tmp_path / "race")
    assert [(e.prompt, e.choices, e.label) for e in examples] == [
        ("Tom has a red car.", ["Tom's car is red .", "Tom's car is blue ."], 0),
        ("Tom has a red car.", ["What does Tom have? a car", "What does Tom have? a dog"], 0),
    ]
    plain = tasks_file(tmp_path, [{"prompt": "2 + 2", "choices": ["3", "4"], "label": "4"}])
    assert readers.read_multiple_choice(plain)[0].label == 1
    bad = tasks_file(tmp_path, [{"prompt": "2 + 2", "choices": ["3", "4"], "label": 7}])
    with pytest.raises(DataFormatError, match="label 7 is not one of its 2 choices"):
        readers.read_multiple_choice(bad)


# -- labels ------------------------------------------------------------------------------------------


def test_label_lists_sort_numbers_as_numbers():
    assert tasks.infer_label_list(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert tasks.infer_label_list(["pos", "neg"]) == ["neg", "pos"]


def test_an_unknown_dev_label_is_a_clear_error():
    task = get_task("token-classification")
    train = [readers.TaggedSentence(["a", "b"], ["B-PER", "O"])]
    dev = [readers.TaggedSentence(["a"], ["O"]), readers.TaggedSentence(["b"], ["B-LOC"])]
    label2id = {label: index for index, label in enumerate(task.label_list(train))}
    with pytest.raises(UnknownLabelError, match=r"dev.txt has labels the model cannot predict: 'B-LOC' \(first in examples\[1\]\)"):
        task.check_labels(dev, label2id, "dev.txt")


def test_multiple_choice_needs_one_number_of_choices():
    examples = [readers.ChoiceExample("p", ["a", "b"], 0), readers.ChoiceExample("q", ["a", "b", "c"], 1)]
    with pytest.raises(DataFormatError, match=r"\[2, 3\] choices"):
        get_task("multiple-choice").check_labels(examples, None, "mc.jsonl")


# -- encoding and scoring ----------------------------------------------------------------------------


def test_pairs_get_segment_ids_and_labels_ids(tokenizer):
    task = get_task("text-classification")
    examples = [readers.TextExample("city night", "river", "pos")]
    feature = task.encode(examples, tokenizer, {"neg": 0, "pos": 1}, EncodeOptions(max_length=32))[0]
    ids = feature["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids.count(tokenizer.sep_token_id) == 2
    second = ids.index(tokenizer.sep_token_id) + 1
    assert feature["token_type_ids"] == [0] * second + [1] * (len(ids) - second)
    assert feature["labels"] == 1


def test_tags_label_the_first_piece_of_each_word(tokenizer):
    task = get_task("token-classification")
    sentence = readers.TaggedSentence(["Chauffeurs", "city", "xylophone"], ["B-PER", "O", "B-MISC"])
    label2id = {"B-MISC": 0, "B-PER": 1, "O": 2}
    feature = task.encode([sentence], tokenizer, label2id, EncodeOptions(max_length=40))[0]
    labelled = [(position, label) for position, label in enumerate(feature["labels"]) if label != -100]
    assert labelled == [(position, label2id[tag]) for position, tag in zip(feature["meta"], sentence.tags)]
    assert len(feature["input_ids"]) > 5  # the rare words are several pieces: only their first is labelled


def test_words_cut_off_by_max_length_are_counted_and_tagged_o(tokenizer):
    task = get_task("token-classification")
    sentence = readers.TaggedSentence(["city"] * 12, ["B-LOC"] * 12)
    features = task.encode([sentence], tokenizer, {"B-LOC": 0, "O": 1}, EncodeOptions(max_length=8))
    outputs = [{"tag_ids": np.zeros(8, dtype=np.int64)}]
    scores, predictions = task.score([sentence], features, outputs, {0: "B-LOC", 1: "O"}, EncodeOptions())
    kept = sum(position is not None for position in features[0]["meta"])
    assert kept < 12 and scores["truncated_words"] == 12 - kept
    assert predictions[0] == ["B-LOC"] * kept + ["O"] * (12 - kept)


def test_answer_spans_are_labelled_in_the_windows_that_hold_them(tokenizer):
    task = get_task("question-answering")
    words = ["city", "river", "bridge", "car", "night", "winter", "station", "storm", "kitchen", "morning"]
    context = " ".join(words * 5)
    answer_start = context.index("storm kitchen", 40)
    example = readers.QuestionExample("q", "when", context, [("storm kitchen", answer_start)])
    features = task.encode([example], tokenizer, None, EncodeOptions(max_length=24, doc_stride=4))
    assert len(features) > 2  # a long context is read in several windows
    holding = 0
    for feature in features:
        spans = {position: (start, end) for position, start, end in feature["meta"]}
        start, end = feature["start_positions"], feature["end_positions"]
        if (start, end) == (0, 0):  # [CLS]: the answer is not wholly in this window
            covered = (min(s for s, e in spans.values()), max(e for s, e in spans.values()))
            assert not (covered[0] <= answer_start and answer_start + len("storm kitchen") <= covered[1])
        else:
            holding += 1
            assert context[spans[start][0]:spans[end][1]] == "storm kitchen"
    assert holding >= 1
    unanswerable = readers.QuestionExample("u", "when", "city river", [])
    assert task.encode([unanswerable], tokenizer, None, EncodeOptions(max_length=24))[0]["start_positions"] == 0


def test_best_answer_picks_the_best_span_or_no_answer():
    context = "alpha beta gamma"
    feature = {"meta": [(1, 0, 5), (2, 6, 10), (3, 11, 16)]}
    start = np.array([0.0, 1.0, 5.0, 0.0])
    end = np.array([0.0, 0.0, 1.0, 4.0])
    options = EncodeOptions(max_answer_length=5)
    assert best_answer(context, [(feature, {"start": start, "end": end})], options, allow_no_answer=False) == "beta gamma"
    assert best_answer(context, [(feature, {"start": start, "end": end})], EncodeOptions(max_answer_length=1),
                       allow_no_answer=False) == "beta"
    confident_null = {"start": start + np.array([20.0, 0, 0, 0]), "end": end}
    assert best_answer(context, [(feature, confident_null)], options, allow_no_answer=True) == ""
    assert best_answer(context, [(feature, confident_null)], options, allow_no_answer=False) == "beta gamma"


def test_choices_become_one_row_each_and_collate_to_three_dimensions(tokenizer):
    task = get_task("multiple-choice")
    examples = [readers.ChoiceExample("city night", ["river", "car bridge"], 1),
                readers.ChoiceExample("storm", ["kitchen station morning", "monday"], 0)]
    features = task.encode(examples, tokenizer, None, EncodeOptions(max_length=32))
    assert [len(feature["input_ids"]) for feature in features] == [2, 2]
    batch = collate(features, tokenizer.pad_token_id)
    width = max(len(row) for feature in features for row in feature["input_ids"])
    assert batch["input_ids"].shape == (2, 2, width) and batch["labels"].tolist() == [1, 0]
    assert batch["attention_mask"][0, 0].sum() == len(features[0]["input_ids"][0])


def test_collate_pads_token_labels_with_the_ignored_index():
    features = [{"input_ids": [2, 5, 3], "token_type_ids": [0, 0, 0], "labels": [-100, 1, -100]},
                {"input_ids": [2, 3], "token_type_ids": [0, 0], "labels": [-100, -100]}]
    batch = collate(features, pad_token_id=0)
    assert batch["labels"].tolist() == [[-100, 1, -100], [-100, -100, -100]]
    assert batch["input_ids"].tolist() == [[2, 5, 3], [2, 3, 0]]
    assert batch["attention_mask"].dtype == torch.long and batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


# -- quoted tables (issue 16, item 9) ---------------------------------------------------------------


def test_tsv_with_standard_quoting_is_read_as_pandas_and_spreadsheets_write_it(tmp_path: Path):
    """A review holding a tab, a newline or quotes is quoted, its quotes doubled; a BOM is dropped."""
    import pandas as pd

    texts = ["a review\twith a tab", "two\nlines", 'he said "great"', "plain"]
    path = tmp_path / "train.tsv"
    pd.DataFrame({"sentence": texts, "label": [1, 0, 1, 0]}).to_csv(path, sep="\t", index=False, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfsentence\t")
    assert [(e.text, e.label) for e in readers.read_text_examples(path)] == list(zip(texts, ["1", "0", "1", "0"]))
    assert [record["__line__"] for record in readers.read_records(path)] == [2, 3, 5, 6]  # where each row starts


def test_csv_fields_may_hold_newlines_and_a_bom(tmp_path: Path):
    path = tmp_path / "train.csv"
    path.write_bytes('\ufefftext,label\n"first line\nsecond line",pos\n"say ""hi""",neg\n'.encode())
    assert [(e.text, e.label) for e in readers.read_text_examples(path)] == [
        ("first line\nsecond line", "pos"), ('say "hi"', "neg"),
    ]


def test_a_tsv_that_does_not_parse_as_quoted_keeps_its_quotes_literally(tmp_path: Path):
    """A field that opens a quote and closes it mid-field is GLUE's literal style, not quoting."""
    path = tmp_path / "train.tsv"
    path.write_text('sentence\tlabel\n"quoted" and more\t1\n" a film "\t0\n', encoding="utf-8")
    assert [e.text for e in readers.read_text_examples(path)] == ['"quoted" and more', '" a film "']


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.tsv", 'sentence\tlabel\n"a\tb"\t1\nno label here\n', "line 3 has 1 fields but the header has 2"),
        ("bad.tsv", 'sentence\tlabel\n"never closed\t1\nok\t0\textra\n', "has 3 fields but the header has 2"),
        ("bad.csv", 'text,label\n"x"y,1\n', "bad.csv, line 2: ',' expected after '\"'"),
        ("bad.csv", 'text,label\n"never closed,1\n', "bad.csv, line 2: unexpected end of data"),
        ("latin1.tsv", "sentence\tlabel\ncafé\t1\n".encode("latin-1"), "line 2 is not valid UTF-8 (the byte 0xE9"),
    ],
)
def test_really_malformed_tables_are_refused_with_the_line(tmp_path: Path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataFormatError, match=re.escape(message)):
        readers.read_text_examples(path)
