"""One rule for numbering inputs in messages (docs/reliability.md, "Numbering").

* An item of a list, a batch, a table or a JSON document is named by its index from 0, in
  brackets after the name the caller knows the collection by: ``inputs[3]``, ``text_pair[1]``,
  ``notes.parquet, rows[6]``, ``train.json, data[2]``, ``partition 7, rows[12]``. It is how
  Python, JSON, pandas, Arrow and Spark index, and how albert's results number inputs (the
  command line's ``input`` and ``mask`` columns); the brackets say "from 0" wherever the message
  is read. Text arguments of a command are its inputs: ``inputs[0]`` is the first.
* A line of a text file is ``line N``, from 1, blank lines and a CSV header counted, as editors,
  ``grep -n`` and tracebacks number lines.

Each test puts the bad item second (index 1, line 2 or later) and checks the message names it
so; the last one keeps new messages from bringing back "input 3" / "row 3" / "example 3".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from albert import AlbertForMaskedLM, AlbertForSequenceClassification
from albert.errors import AlbertError
from albert.pipelines import pipeline

SOURCE = Path(__file__).resolve().parents[1] / "src" / "albert"


@pytest.fixture(scope="module")
def mlm(make_tiny_model):
    return make_tiny_model(AlbertForMaskedLM, seed=21)


def error_of(call) -> str:
    with pytest.raises((AlbertError, ValueError, TypeError)) as caught:
        call()
    return str(caught.value)


def test_the_pipelines_name_an_input_by_its_index_from_0(mlm, make_tiny_model):
    unmasker = pipeline("fill-mask", model=mlm, device="cpu")
    assert error_of(lambda: unmasker(["a [MASK].", "no mask"])).startswith("inputs[1] has no [MASK]")
    assert error_of(lambda: unmasker(["a [MASK].", "  "])).startswith("inputs[1] is empty")
    assert error_of(lambda: unmasker(["a [MASK].", 7])).startswith("inputs[1] is a int")
    embed = pipeline("embeddings", model=mlm, device="cpu")
    assert error_of(lambda: embed(["fine", "caf\udce9"])).startswith("inputs[1] is not valid UTF-8")
    classify = pipeline("text-classification", model=make_tiny_model(AlbertForSequenceClassification, seed=2),
                        device="cpu", allow_untrained_head=True)
    # only inputs 0 and 2 are pairs: the empty second text is inputs[2]'s, not "input 1" of the pairs
    pairs = [{"text": "a", "text_pair": "b"}, "no pair", {"text": "c", "text_pair": " "}]
    assert error_of(lambda: classify(pairs)).startswith("text_pair of inputs[2] is empty")
    assert error_of(lambda: classify(["a", ("b", "c", "d")])).startswith("inputs[1] should be a pair")


def test_the_tokenizer_names_an_item_by_its_index_from_0(mlm):
    from albert.tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer.from_pretrained(mlm)
    assert error_of(lambda: tokenizer(["fine", 3])).startswith("text[1] is a int")
    padded = [{"input_ids": [2, 3]}, {"input_ids": [2, 3], "extra": [1, 1]}]
    assert error_of(lambda: tokenizer.pad(padded)).startswith("encoded_inputs[1] has the keys")


def run_cli(*args: object, stdin: str = ""):
    from typer.testing import CliRunner

    from albert.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args], input=stdin)


def test_the_command_line_names_arguments_by_index_and_files_by_line(mlm, tmp_path):
    result = run_cli("fill-mask", "a [MASK].", " ", "--model", mlm)
    assert result.exit_code == 1 and result.stderr.startswith("error: inputs[1] is empty"), result.stderr
    result = run_cli("fill-mask", "a [MASK].", "no mask", "--model", mlm)
    assert result.stderr.startswith("error: inputs[1] has no [MASK]"), result.stderr  # the pipeline's own
    result = run_cli("embed", "fine", "caf\udce9", "--model", mlm)
    assert result.stderr.startswith("error: inputs[1] is not valid UTF-8"), result.stderr

    jsonl = tmp_path / "notes.jsonl"  # the bad text is the second row, on line 4 (blank lines count)
    jsonl.write_text('{"text": "a [MASK]."}\n\n\n{"text": ""}\n')
    result = run_cli("fill-mask", "--input", jsonl, "--model", mlm)
    assert result.stderr.startswith(f"error: {jsonl}, line 4 is empty"), result.stderr
    csv_file = tmp_path / "notes.csv"  # header on line 1, a quoted newline in row 0: row 1 starts on line 4
    csv_file.write_text('id,text\n0,"a [MASK]\nacross lines"\n1,\n')
    result = run_cli("fill-mask", "--input", csv_file, "--model", mlm)
    assert result.stderr.startswith(f"error: {csv_file}, line 4 is empty"), result.stderr
    result = run_cli("fill-mask", "--input", csv_file, "--column", "body", "--model", mlm)
    assert result.stderr.startswith(f"error: {csv_file}, line 2 has no column 'body' (it has: id, text)")

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "notes.parquet"  # a table has no lines: rows by index
    pq.write_table(pa.table({"text": ["a [MASK].", None]}), parquet)
    result = run_cli("fill-mask", "--input", parquet, "--model", mlm)
    assert result.stderr.startswith(f"error: {parquet}, rows[1] is empty or not text"), result.stderr


def test_fine_tuning_files_name_lines_from_1_and_json_items_from_0(tmp_path):
    from albert.training.finetuning.readers import DataFormatError, read_records

    document = tmp_path / "train.json"
    document.write_text(json.dumps({"data": [{"text": "a"}, ["not", "an", "object"]]}))
    with pytest.raises(DataFormatError, match=re.escape(f"{document}, data[1] is a list, not a JSON object")):
        read_records(document)
    lines = tmp_path / "train.jsonl"
    lines.write_text('{"text": "a"}\n\n[1]\n')
    with pytest.raises(DataFormatError, match=re.escape(f"{lines}, line 3 is a list, not a JSON object")):
        read_records(lines)


#: "input 3", "text 3 of", "row 3", "argument 3", "example 3", "record 3", "prompt 3", "sentence 3",
#: "item 3", "entry 3": a position with no brackets, 0- or 1-based nobody can tell.
_UNBRACKETED = re.compile(
    r"\b(input|text|row|argument|example|record|prompt|sentence|item|entry|choice|document)s? "
    r"\{[^}]*(index|number|position|row|\bi\b|\bn\b)[^}]*\}"
)


def test_no_message_numbers_an_input_without_brackets():
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _UNBRACKETED.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(SOURCE)}:{number}: {line.strip()}")
    assert not offenders, "name positions as name[index] (from 0) or 'line N' (from 1):\n" + "\n".join(offenders)
