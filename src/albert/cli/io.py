"""Reading inputs and writing results for the ``albert`` commands.

Inputs come from arguments, stdin (one text a line) or files: ``.txt`` (one text a line),
``.jsonl``, ``.csv`` and ``.parquet`` (a ``--column`` picks the field). Results go to the
terminal as a table, to stdout as JSON lines (``--json``), or to a file (``--output``): ``.jsonl``,
``.parquet`` or ``.npy``. Files are written under a temporary name and renamed when complete, so
an interrupted command never leaves half a file behind.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..atomic_files import RecordingWriter, atomic_path, check_writable
from ..errors import AlbertError, InputError
from ..text_normalization import decode_utf8, utf8_problem

if TYPE_CHECKING:
    import numpy as np

INPUT_SUFFIXES = (".txt", ".jsonl", ".csv", ".parquet")
OUTPUT_SUFFIXES = (".jsonl", ".parquet", ".npy")


class CliInputError(InputError):
    """A problem with what the user gave the command (file, column, empty input): shown as one line."""


# -- reading --------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an input file; a ``.txt`` file gives ``{"text": line}`` for each non-blank line.

    Raises:
        CliInputError: the file is missing, unreadable, of an unknown kind, or malformed.
    """
    from ..checkpoint_files import one_line  # here: it loads numpy, which `albert --help` does without

    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise CliInputError(f"cannot read {path}: use a {', '.join(INPUT_SUFFIXES)} file")
    if not path.is_file():
        raise CliInputError(f"cannot read {path}: no such file")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        try:
            text = decode_utf8(path.read_bytes(), str(path))
        except ValueError as error:  # names the file and the line already
            raise CliInputError(str(error)) from None
        handle = io.StringIO(text, newline="" if suffix == ".csv" else None)
        if suffix == ".txt":
            return [{"text": line.rstrip("\r\n")} for line in handle if line.strip()]
        if suffix == ".csv":
            return list(csv.DictReader(handle))
        return [_json_row(line, number, path) for number, line in enumerate(handle, 1) if line.strip()]
    except CliInputError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as error:
        raise CliInputError(f"cannot read {path}: {one_line(error)}") from None
    except Exception as error:  # pyarrow's own errors (not a parquet file, truncated)
        raise CliInputError(f"cannot read {path}: {one_line(error)}") from None


def _json_row(line: str, number: int, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise CliInputError(f"{path}, line {number} is not valid JSON ({error.msg})") from None
    return value if isinstance(value, dict) else {"text": value}


def row_name(path: Path, index: int) -> str:
    """How a message names row ``index`` (from 0) of the rows :func:`read_rows` gave for ``path``:
    by its line for a text file (``notes.jsonl, line 7``: from 1, blank lines and a CSV header
    counted, as editors and ``grep -n`` number lines), by its index for a Parquet table
    (``notes.parquet, rows[6]``: from 0, as pandas and Arrow index rows). Read again only when a
    message needs it."""
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl", ".csv"):
        return f"{path}, rows[{index}]"
    try:
        text = decode_utf8(path.read_bytes(), str(path))
    except (OSError, ValueError):
        return f"{path}, rows[{index}]"
    if suffix == ".csv":  # a row may span lines (quoted newlines); it starts after the last one read
        reader = csv.reader(io.StringIO(text, newline=""))
        starts, line = [], 1
        for row in reader:
            if row:
                starts.append(line)
            line = reader.line_num + 1
        starts = starts[1:]  # the header
    else:
        starts = [number for number, line in enumerate(io.StringIO(text, newline=None), 1) if line.strip()]
    return f"{path}, line {starts[index]}" if index < len(starts) else f"{path}, rows[{index}]"


def column_values(rows: Sequence[dict[str, Any]], column: str, path: Path) -> list[Any]:
    """The values of ``column`` in every row of ``path``.

    Raises:
        CliInputError: a row lacks the column; the message names the row and lists its columns.
    """
    for index, row in enumerate(rows):
        if column not in row:
            present = ", ".join(map(str, row)) or "none"
            raise CliInputError(
                f"{row_name(path, index)} has no column {column!r} (it has: {present}); pick one with --column"
            )
    return [row[column] for row in rows]


def read_texts(
    arguments: Sequence[str] | None,
    input_path: Path | None,
    column: str | None = None,
    stdin: IO[str] | None = None,
) -> list[str]:
    """Texts from the arguments, else from ``--input`` (``-`` is stdin), else from piped stdin.

    Raises:
        CliInputError: nothing to read, an unreadable file, a missing column, or empty texts.
    """
    stdin = stdin if stdin is not None else sys.stdin
    if arguments and input_path is not None:
        raise CliInputError("give texts as arguments or with --input, not both")
    if arguments:
        texts = list(arguments)
        return check_texts(texts, "the arguments", lambda index: f"inputs[{index}]")
    if input_path is not None and str(input_path) != "-":
        rows = read_rows(input_path)
        texts = column_values(rows, column or "text", input_path)
        return check_texts(texts, str(input_path), lambda index: row_name(input_path, index))
    if input_path is not None or not stdin.isatty():
        # blank lines are left out, so no text read from stdin is empty
        return check_texts([line.rstrip("\r\n") for line in _stdin_lines(stdin) if line.strip()], "stdin")
    raise CliInputError("no input: give texts as arguments, a file with --input, or pipe lines on stdin")


def _stdin_lines(stdin: IO[str]) -> list[str]:
    """The lines of stdin, decoded here (not by the locale's codec) so that bytes that are not
    UTF-8 are reported with their line, whatever the locale."""
    binary = getattr(stdin, "buffer", None)
    if binary is not None:
        try:
            return io.StringIO(decode_utf8(binary.read(), "stdin"), newline=None).readlines()
        except ValueError as error:
            raise CliInputError(str(error)) from None
    lines = stdin.readlines()
    for number, line in enumerate(lines, 1):
        problem = utf8_problem(line)
        if problem is not None:
            raise CliInputError(f"stdin, line {number} is not valid UTF-8: it holds {problem}")
    return lines


def read_records(input_path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``input_path`` reduced to ``columns`` (each required), for multi-field inputs."""
    rows = read_rows(input_path)
    if not rows:
        raise CliInputError(f"{input_path} holds no rows")
    values = {column: column_values(rows, column, input_path) for column in columns}
    return [{column: values[column][index] for column in columns} for index in range(len(rows))]


def check_texts(texts: Sequence[Any], source: str, name: Callable[[int], str] | None = None) -> list[str]:
    """Refuse an empty input and empty or non-text values, naming the first bad one with
    ``name(index)`` (by default ``inputs[index]``, from 0: the ``input`` column of the results)."""
    if not texts:
        raise CliInputError(f"no texts in {source}")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            where = name(index) if name is not None else f"inputs[{index}]"
            raise CliInputError(f"{where} is empty or not text: {text!r}")
    return list(texts)


# -- writing --------------------------------------------------------------------------------------


def check_output(path: Path | None, allowed: Sequence[str] = OUTPUT_SUFFIXES) -> None:
    """Refuse an output path we cannot write, before any work is done: an unknown kind, a
    missing folder, or one that takes no new file (no permission, a read-only file system)."""
    if path is None:
        return
    if path.suffix.lower() not in allowed:
        raise CliInputError(f"cannot write {path}: use a {', '.join(allowed)} file")
    if not path.parent.is_dir():
        raise CliInputError(f"cannot write {path}: the folder {path.parent} does not exist")
    try:
        check_writable(path)
    except OSError as error:
        raise CliInputError(f"cannot write {path}: {error.strerror or error}") from None


def jsonable(value: Any) -> Any:
    """Numpy arrays and scalars as plain lists and numbers, so records serialise as JSON."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def write_output(
    path: Path, records: Sequence[dict[str, Any]], array: Callable[[], np.ndarray] | None = None
) -> None:
    """Write records as ``.jsonl`` or ``.parquet``, or ``array()`` as ``.npy``, atomically.

    Raises:
        CliInputError: ``.npy`` asked for results that are not vectors, or the file cannot be written
            (the message names ``path``, never the temporary).
    """
    suffix = path.suffix.lower()
    if suffix == ".npy" and array is None:
        raise CliInputError(f"cannot write {path}: .npy holds vectors (albert embed); use .jsonl or .parquet")
    try:
        _write_file(path, suffix, records, array)
    except AlbertError:  # a full disk (DiskFullError) or an I/O error (OutputError): named already
        raise
    except OSError as error:  # atomic_path names our path, never the temporary
        raise CliInputError(f"cannot write {path}: {error.strerror or error}") from None


def _write_file(
    path: Path, suffix: str, records: Sequence[dict[str, Any]], array: Callable[[], np.ndarray] | None
) -> None:
    with atomic_path(path) as temporary:
        if suffix == ".npy":
            import numpy as np

            with open(temporary, "wb") as handle:
                # Through write calls: numpy's own C writer ignores a failed last flush (a file cut
                # short, renamed in as if whole); a failed write call raises.
                assert array is not None  # write_records refuses .npy without an array
                np.save(RecordingWriter(handle), array())
        elif suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist([jsonable(record) for record in records]), temporary)
        else:
            with open(temporary, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(jsonable(record), ensure_ascii=False) + "\n")


def print_json_lines(records: Sequence[dict[str, Any]], stream: IO[str] | None = None) -> None:
    """One JSON object per line on stdout."""
    stream = stream if stream is not None else sys.stdout
    for record in records:
        stream.write(json.dumps(jsonable(record), ensure_ascii=False) + "\n")
    stream.flush()


def print_table(records: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """A rich table of ``columns`` of the records; floats shown with 4 decimals."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        numeric = bool(records) and isinstance(records[0].get(column), (int, float, np.number))
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for record in records:
        table.add_row(*(_cell(record.get(column)) for column in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    import numpy as np

    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


