"""Reading pretraining text: files (.txt, .txt.gz, .txt.xz), folders of them, as documents of sentences.

Documents are separated by blank lines, the convention of BERT's and ALBERT's
``create_pretraining_data`` (sentence-order pairs never cross a document). Two adjustments make
real files give sensible documents:

* files whose blank lines separate *paragraphs* (documentation, books) would give a document per
  heading or short paragraph, useless for sentence order; a blank line therefore ends a document
  only once it holds ``min_document_chars`` characters (a few paragraphs of one text);
* files without blank lines (one verse, entry or record a line) would be one enormous document;
  such runs are cut into documents of ``max_document_lines`` consecutive lines, and there every
  line also ends a sentence, since a record a line is a unit of meaning.

Inside a paragraph, sentences come from :func:`albert.sentences.split_sentences` (hard-wrapped
lines are joined, not split). Everything streams, one document at a time, so corpora larger than
memory work.
"""

from __future__ import annotations

import gzip
import lzma
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ...errors import InputError, OptionError
from ...sentences import split_sentences

#: File names read as text; anything else inside a folder is skipped (READMEs are .md, for one).
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.xz", ".text", ".gz", ".xz")

#: A run of this many lines without a blank line is cut into a document of its own.
DEFAULT_MAX_DOCUMENT_LINES = 64

#: A blank line ends a document only once it has this many characters (about 500 tokens).
DEFAULT_MIN_DOCUMENT_CHARS = 2000


class CorpusError(InputError):
    """A corpus that cannot be read: missing, empty, corrupt or not UTF-8 text."""


@dataclass(frozen=True)
class Document:
    """One document: its sentences in order, and where it came from (for error messages)."""

    sentences: list[str]
    source: str
    line: int  # 1-based line of its first line in the source

    @property
    def text(self) -> str:
        return "\n".join(self.sentences)


def corpus_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders into the sorted list of text files to read.

    Folders are searched recursively for :data:`TEXT_SUFFIXES`; files named explicitly are taken
    whatever their suffix.

    Raises:
        CorpusError: a path does not exist, or nothing readable was found.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(TEXT_SUFFIXES))
            if not found:
                raise CorpusError(
                    f"folder {path} holds no text files (looked for {', '.join(TEXT_SUFFIXES)})"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"corpus path {path} does not exist")
    if not files:
        raise CorpusError("no corpus files given; pass text files (.txt, .txt.gz, .txt.xz) or folders of them")
    return files


def open_text(path: Path) -> TextIO:
    """Open a text file for reading, decompressing .gz and .xz on the fly (strict UTF-8; a leading
    byte-order mark is dropped)."""
    name = path.name
    if name.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8-sig", errors="strict")
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="strict")
    return open(path, encoding="utf-8-sig", errors="strict")


def read_lines(path: Path) -> Iterator[str]:
    """The lines of one corpus file, without line endings; read errors become :class:`CorpusError`.

    Raises:
        CorpusError: the file is empty, a corrupt archive, or not UTF-8 text.
    """
    line_number = 0
    try:
        if path.stat().st_size == 0:
            raise CorpusError(f"corpus file {path} is empty; remove it or give a file with text in it")
        with open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):  # noqa: B007  (used in the error)
                yield line.rstrip("\n\r")
    except UnicodeDecodeError as error:
        damaged = " (or a damaged archive)" if path.name.endswith((".gz", ".xz")) else ""
        raise CorpusError(
            f"corpus file {path} is not UTF-8 text{damaged} (bad byte near line {line_number + 1}: "
            f"{error.reason}); convert it, e.g. with `iconv -f latin1 -t utf-8`"
        ) from None
    except (lzma.LZMAError, gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise CorpusError(
            f"corpus file {path} is a corrupt or truncated archive ({type(error).__name__}: {error}); "
            "re-download or re-compress it"
        ) from None


def iter_documents(
    paths: Iterable[str | os.PathLike[str]],
    max_document_lines: int = DEFAULT_MAX_DOCUMENT_LINES,
    min_document_chars: int = DEFAULT_MIN_DOCUMENT_CHARS,
) -> Iterator[Document]:
    """Stream the documents of the corpus files, in file order.

    Args:
        paths: files and/or folders (see :func:`corpus_files`).
        max_document_lines: a run of lines without a blank line (a file with a record a line)
            is cut into documents of this many lines, each line also ending a sentence.
        min_document_chars: a document ends at a blank line only once it holds this many
            characters, so files whose blank lines separate paragraphs (documentation, books)
            give documents of several paragraphs rather than one heading or one short paragraph
            each. 0 makes every blank line end a document.

    Yields:
        Documents with at least one sentence.

    Raises:
        CorpusError: a missing, empty, corrupt or non-UTF-8 file, or a file with no text at all.
    """
    if max_document_lines < 1:
        raise OptionError(f"max_document_lines must be at least 1, got {max_document_lines}")
    for path in corpus_files(paths):
        source = str(path)
        found_any = False
        sentences: list[str] = []  # of the document being built
        document_chars = 0
        document_line = 1
        block: list[str] = []  # lines of the current block (lines since the last blank line or cut)
        run_length = 0  # lines since the last blank line: a long run means a record a line
        line_number = 0
        for line_number, line in enumerate(read_lines(path), start=1):
            is_blank = not line.strip()
            if not is_blank:
                if not sentences and not block:
                    document_line = line_number
                block.append(line)
                run_length += 1
            cut_records = len(block) >= max_document_lines
            if block and (is_blank or cut_records):
                new = _block_sentences(block, lines_are_records=run_length >= max_document_lines)
                sentences.extend(new)
                document_chars += sum(len(sentence) for sentence in new)
                block = []
                if sentences and (cut_records or document_chars >= min_document_chars):
                    found_any = True
                    yield Document(sentences, source, document_line)
                    sentences, document_chars = [], 0
            if is_blank:
                run_length = 0
        if block:
            sentences.extend(_block_sentences(block, lines_are_records=run_length >= max_document_lines))
        if sentences:
            found_any = True
            yield Document(sentences, source, document_line)
        if not found_any:
            raise CorpusError(f"corpus file {path} has no text ({line_number} blank lines); remove it from the corpus")


def _block_sentences(lines: list[str], lines_are_records: bool) -> list[str]:
    if lines_are_records:
        sentences = [sentence for text in lines for sentence in split_sentences(text)]
    else:
        sentences = split_sentences("\n".join(lines))
    # Hard-wrapped lines leave newlines inside a sentence; the tokenizer would collapse them anyway.
    sentences = [" ".join(sentence.split()) for sentence in sentences]
    return [sentence for sentence in sentences if sentence]


def is_heldout(document: Document, heldout_fraction: float) -> bool:
    """Whether a document belongs to the held-out split.

    Decided by a hash of the document's text, so the split is the same on every run and
    machine, and does not depend on file order or on which other files are in the corpus.
    """
    if heldout_fraction <= 0:
        return False
    bucket = zlib.crc32(document.text.encode("utf-8")) % 1_000_000
    return bucket < heldout_fraction * 1_000_000
