"""The tokenized corpus on disk: sharded, memory-mapped numpy arrays, written once, read by every run.

A data folder holds, per split (``train``, ``heldout``) and shard::

    train-00000.tokens.npy      token ids of every sentence, back to back (uint16 when the
                                vocabulary fits, else int32)
    train-00000.sentences.npy   int64 offsets: sentence i is tokens[s[i]:s[i+1]]
    train-00000.documents.npy   int64 offsets: document j is sentences d[j]..d[j+1]-1
    manifest.json               counts, sources, settings and the tokenizer fingerprint

Documents never span shards. The corpus is streamed through the tokenizer and written a shard at
a time, so memory stays bounded by one shard whatever the corpus size, and readers memory-map
the arrays, so training streams from disk too. The manifest is written last: a folder without
one is an interrupted preparation, not data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic_files import RecordingWriter, atomic_path, remove_dead_temporaries, write_text_atomic
from ...errors import InputError, OptionError
from ...output_lock import folder_lock
from ..run_log import terminal_progress
from .corpus import (
    DEFAULT_MAX_DOCUMENT_LINES,
    DEFAULT_MIN_DOCUMENT_CHARS,
    CorpusError,
    Document,
    corpus_files,
    is_heldout,
    iter_documents,
)

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "albert-pretraining-shards"
FORMAT_VERSION = 1
SPLITS = ("train", "heldout")

#: Tokens per shard: 64 MB of uint16, small enough to write in one go, large enough to be few.
DEFAULT_SHARD_TOKENS = 1 << 25
#: The most a .npy header takes (numpy pads it to a multiple of 64 bytes).
_NPY_HEADER = 256

#: A text whose ids tell tokenizers with the same vocabulary but other normalization apart.
_PROBE_TEXT = "Héllo, WORLD! ``Quoted'' text, 1,000.5 numbers\tand ﬁne Ligatures — ΣΊΣΥΦΟΣ."

Encoder = Callable[[list[str]], list[list[int]]]


class DataMismatchError(InputError):
    """Prepared data that does not belong with the tokenizer (or settings) it is used with."""


# -- the tokenizer, as the data sees it ---------------------------------------------------------

def sentence_encoder(tokenizer: Any) -> Encoder:
    """A function ``list of sentences -> list of id lists`` (no [CLS]/[SEP]) from an AlbertTokenizer."""

    def encode(sentences: list[str]) -> list[list[int]]:
        return list(tokenizer(sentences, add_special_tokens=False)["input_ids"])

    return encode


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A short hash of the tokenizer's vocabulary and of the ids it gives a probe text.

    Two tokenizers with the same fingerprint turn text into the same ids, so data prepared with
    one can be trained with the other; a different vocabulary or normalization changes it.
    """
    vocab_size = len(tokenizer.get_vocab())
    pieces = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    probe = sentence_encoder(tokenizer)([_PROBE_TEXT])[0]
    digest = hashlib.sha256(json.dumps([pieces, probe], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


# -- writing ------------------------------------------------------------------------------------

@dataclass
class ShardInfo:
    """One shard of one split, as listed in the manifest."""

    name: str
    tokens: int
    sentences: int
    documents: int


class _SplitWriter:
    """Collects the documents of one split and writes them out a shard at a time."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.split, self.dtype, self.shard_tokens = folder, split, dtype, shard_tokens
        self.shards: list[ShardInfo] = []
        self._reset()

    def _reset(self) -> None:
        self._token_parts: list[np.ndarray] = []
        self._sentence_lengths: list[int] = []
        self._document_sizes: list[int] = []
        self._num_tokens = 0

    def add(self, document: list[list[int]]) -> None:
        """Add one document, given as the token ids of its (non-empty) sentences."""
        for ids in document:
            self._token_parts.append(np.asarray(ids, dtype=self.dtype))
            self._sentence_lengths.append(len(ids))
            self._num_tokens += len(ids)
        self._document_sizes.append(len(document))
        if self._num_tokens >= self.shard_tokens:
            self.flush()

    def flush(self) -> None:
        if not self._document_sizes:
            return
        name = f"{self.split}-{len(self.shards):05d}"
        tokens = np.concatenate(self._token_parts) if self._token_parts else np.zeros(0, self.dtype)
        sentences = np.zeros(len(self._sentence_lengths) + 1, dtype=np.int64)
        np.cumsum(self._sentence_lengths, out=sentences[1:])
        documents = np.zeros(len(self._document_sizes) + 1, dtype=np.int64)
        np.cumsum(self._document_sizes, out=documents[1:])
        for kind, array in (("tokens", tokens), ("sentences", sentences), ("documents", documents)):
            with atomic_path(self.folder / f"{name}.{kind}.npy", needed=array.nbytes + _NPY_HEADER) as temporary, \
                    open(temporary, "wb") as file:
                np.save(RecordingWriter(file), array, allow_pickle=False)  # every failed write raises
        self.shards.append(ShardInfo(name, len(tokens), len(self._sentence_lengths), len(self._document_sizes)))
        self._reset()


def _source_records(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    records = []
    for path in corpus_files(paths):
        stat = path.stat()
        records.append({"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return records


def prepare_shards(
    paths: Sequence[str | os.PathLike[str]],
    tokenizer: Any,
    out_dir: str | os.PathLike[str],
    *,
    heldout_fraction: float = 0.01,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    max_document_lines: int = DEFAULT_MAX_DOCUMENT_LINES,
    min_document_chars: int = DEFAULT_MIN_DOCUMENT_CHARS,
    batch_sentences: int = 2048,
    progress: bool = True,
) -> dict[str, Any]:
    """Tokenize a corpus once into sharded arrays in ``out_dir``; returns the manifest.

    Args:
        paths: text files (.txt, .txt.gz, .txt.xz) and folders of them.
        tokenizer: an :class:`~albert.tokenizer.AlbertTokenizer` (ids without special tokens).
        heldout_fraction: share of documents (chosen by a hash of their text) kept apart for
            evaluation in the ``heldout`` split.
        shard_tokens: tokens per shard file.
        max_document_lines, min_document_chars: how lines become documents (see
            :func:`albert.training.pretraining.corpus.iter_documents`).

    Raises:
        CorpusError: unreadable, empty or corrupt input, or a corpus without any tokens.
        FolderInUseError: another process is preparing data into ``out_dir``.
        DiskFullError: a shard does not fit on the disk (refused before it is written when it
            cannot fit); the folder then holds no manifest, so it is never read as data.
    """
    if not 0 <= heldout_fraction < 1:
        raise OptionError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    with folder_lock(out_dir):  # a second preparation into this folder is refused at once
        return _prepare_shards(paths, tokenizer, Path(out_dir), heldout_fraction, shard_tokens, max_document_lines,
                               min_document_chars, batch_sentences, progress)


def _prepare_shards(paths: Sequence[str | os.PathLike[str]], tokenizer: Any, folder: Path, heldout_fraction: float,
                    shard_tokens: int, max_document_lines: int, min_document_chars: int, batch_sentences: int,
                    progress: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(folder)
    (folder / MANIFEST_NAME).unlink(missing_ok=True)  # the folder is not valid data until we finish
    for stale in folder.glob("*.npy"):
        stale.unlink()

    sources = _source_records(paths)
    vocab_size = len(tokenizer.get_vocab())
    dtype = np.dtype(np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32)
    writers = {split: _SplitWriter(folder, split, dtype, shard_tokens) for split in SPLITS}
    encode = sentence_encoder(tokenizer)

    pending: list[Document] = []
    pending_sentences = 0
    tokens_so_far = [0]
    with terminal_progress(enabled=progress) as bar:
        task = bar.add_task("tokenizing", total=None, status="")

        def flush_pending() -> None:
            sentences = [sentence for document in pending for sentence in document.sentences]
            ids = encode(sentences)
            start = 0
            for document in pending:
                document_ids = [sentence for sentence in ids[start:start + len(document.sentences)] if sentence]
                start += len(document.sentences)
                if document_ids:
                    split = "heldout" if is_heldout(document, heldout_fraction) else "train"
                    writers[split].add(document_ids)
            tokens_so_far[0] += sum(len(sentence) for sentence in ids)
            bar.update(
                task, advance=len(pending), description=f"tokenizing {Path(pending[-1].source).name}",
                status=f"{tokens_so_far[0]:,} tokens",
            )

        for document in iter_documents(
            [record["path"] for record in sources], max_document_lines, min_document_chars
        ):
            pending.append(document)
            pending_sentences += len(document.sentences)
            if pending_sentences >= batch_sentences:
                flush_pending()
                pending, pending_sentences = [], 0
        if pending:
            flush_pending()
    for writer in writers.values():
        writer.flush()

    if not writers["train"].shards:
        raise CorpusError(
            f"the corpus {', '.join(record['path'] for record in sources)} gave no training tokens "
            f"(all text went to the held-out split or tokenized to nothing); give more text or a "
            f"smaller heldout_fraction than {heldout_fraction}"
        )
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tokenizer": {"fingerprint": tokenizer_fingerprint(tokenizer), "vocab_size": vocab_size},
        "dtype": dtype.name,
        "sources": sources,
        "settings": {
            "heldout_fraction": heldout_fraction,
            "max_document_lines": max_document_lines,
            "min_document_chars": min_document_chars,
        },
        "splits": {split: [vars(shard) for shard in writer.shards] for split, writer in writers.items()},
    }
    write_text_atomic(folder / MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def read_manifest(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a prepared data folder.

    Raises:
        CorpusError: no manifest (not prepared, or interrupted) or an unreadable one.
    """
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        raise CorpusError(
            f"{data_dir} is not prepared pretraining data (no {MANIFEST_NAME}; an interrupted "
            "preparation leaves none); run `albert prepare-data` on the corpus again"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorpusError(f"{path} is corrupt ({error}); run `albert prepare-data` again") from None
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise CorpusError(
            f"{path} is not a version {FORMAT_VERSION} {FORMAT_NAME} manifest; run `albert prepare-data` again"
        )
    return manifest


def prepared_data_matches(
    data_dir: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]], tokenizer: Any, **settings: Any
) -> bool:
    """Whether ``data_dir`` already holds these corpus files, tokenized by this tokenizer with
    these settings (so a run can reuse it instead of tokenizing again)."""
    try:
        manifest = read_manifest(data_dir)
    except CorpusError:
        return False
    return (
        manifest["sources"] == _source_records(paths)
        and manifest["tokenizer"]["fingerprint"] == tokenizer_fingerprint(tokenizer)
        and all(manifest["settings"].get(key) == value for key, value in settings.items())
    )


# -- reading ------------------------------------------------------------------------------------

@dataclass
class Shard:
    """One shard, memory-mapped: ``tokens`` (ids), ``sentences`` and ``documents`` (offsets)."""

    name: str
    tokens: np.ndarray
    sentences: np.ndarray
    documents: np.ndarray


class ShardedCorpus:
    """One split of a prepared data folder, memory-mapped (nothing is read until used).

    Args:
        data_dir: a folder written by :func:`prepare_shards`.
        split: ``"train"`` or ``"heldout"``.
        tokenizer: when given, its fingerprint must match the one the data was prepared with.

    Raises:
        CorpusError: missing, incomplete or corrupt data, or an empty split.
        DataMismatchError: the data was tokenized by another tokenizer.
    """

    def __init__(self, data_dir: str | os.PathLike[str], split: str = "train", tokenizer: Any = None) -> None:
        if split not in SPLITS:
            raise OptionError(f"split must be one of {SPLITS}, got {split!r}")
        self.folder = Path(data_dir)
        self.split = split
        self.manifest = read_manifest(self.folder)
        self.fingerprint: str = self.manifest["tokenizer"]["fingerprint"]
        self.vocab_size: int = self.manifest["tokenizer"]["vocab_size"]
        if tokenizer is not None:
            expected = tokenizer_fingerprint(tokenizer)
            if expected != self.fingerprint:
                raise DataMismatchError(
                    f"the data in {self.folder} was tokenized by another tokenizer (fingerprint "
                    f"{self.fingerprint}, this tokenizer gives {expected}); prepare the data again "
                    "with this tokenizer, or train with the tokenizer the data was made with"
                )
        self.shards = [self._open(info) for info in self.manifest["splits"].get(split, [])]
        if not self.shards:
            raise CorpusError(f"{self.folder} has no {split!r} data; prepare it with a heldout_fraction > 0")

    def _open(self, info: dict[str, Any]) -> Shard:
        arrays = {}
        for kind in ("tokens", "sentences", "documents"):
            path = self.folder / f"{info['name']}.{kind}.npy"
            try:
                arrays[kind] = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                raise CorpusError(f"shard file {path} is missing; run `albert prepare-data` again") from None
            except (ValueError, OSError) as error:
                raise CorpusError(f"shard file {path} is corrupt ({error}); run `albert prepare-data` again") from None
        tokens, sentences, documents = arrays["tokens"], arrays["sentences"], arrays["documents"]
        consistent = (
            len(tokens) == info["tokens"]
            and len(sentences) == info["sentences"] + 1
            and len(documents) == info["documents"] + 1
            and int(sentences[-1]) == len(tokens)
            and int(documents[-1]) == info["sentences"]
        )
        if not consistent:
            raise CorpusError(
                f"shard {info['name']} in {self.folder} does not match its manifest (truncated or "
                "mixed with another preparation); run `albert prepare-data` again"
            )
        return Shard(info["name"], tokens, sentences, documents)

    @property
    def num_tokens(self) -> int:
        return sum(len(shard.tokens) for shard in self.shards)

    @property
    def num_sentences(self) -> int:
        return sum(len(shard.sentences) - 1 for shard in self.shards)

    @property
    def num_documents(self) -> int:
        return sum(len(shard.documents) - 1 for shard in self.shards)


def iter_token_documents(corpus: ShardedCorpus) -> Iterable[list[np.ndarray]]:
    """Each document as the list of its sentences' id arrays (for inspection and tests)."""
    for shard in corpus.shards:
        for document in range(len(shard.documents) - 1):
            first, last = shard.documents[document], shard.documents[document + 1]
            yield [
                np.asarray(shard.tokens[shard.sentences[i]:shard.sentences[i + 1]]) for i in range(first, last)
            ]
