"""Reading corpora into documents, and the tokenized shards: contents, errors for bad input, mismatches."""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pytest
from support.pretrain import TINY_CORPUS, tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401

from albert.training.pretraining.corpus import CorpusError, Document, is_heldout, iter_documents
from albert.training.pretraining.shards import (
    DataMismatchError,
    ShardedCorpus,
    iter_token_documents,
    prepare_shards,
    prepared_data_matches,
    tokenizer_fingerprint,
)

PROSE = (
    "The first paragraph has two sentences. It is about documents.\n"
    "It wraps onto a second line here.\n"
    "\n"
    "A second paragraph follows the blank line. It has its own sentences.\n"
    "\n\n"
    "Third paragraph.\n"
)


def test_blank_lines_separate_documents(tmp_path: Path) -> None:
    path = tmp_path / "prose.txt"
    path.write_text(PROSE)
    documents = list(iter_documents([path], min_document_chars=0))
    assert [len(d.sentences) for d in documents] == [3, 2, 1]
    assert documents[0].sentences[2] == "It wraps onto a second line here."  # wrapped line joined, not split
    assert [d.line for d in documents] == [1, 4, 7]


def test_short_paragraphs_gather_into_one_document_until_min_chars(tmp_path: Path) -> None:
    path = tmp_path / "prose.txt"
    path.write_text(PROSE)
    documents = list(iter_documents([path], min_document_chars=120))
    assert [len(d.sentences) for d in documents] == [5, 1]


def test_a_file_without_blank_lines_gives_chunks_of_lines_each_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "verses.txt"
    verses = [f"verse number {i} without final punctuation" for i in range(50)]
    path.write_text("\n".join(verses) + "\n")
    documents = list(iter_documents([path], max_document_lines=16))
    assert [len(d.sentences) for d in documents] == [16, 16, 16, 2]
    assert [s for d in documents for s in d.sentences] == verses


def test_compressed_files_and_folders_read_like_plain_text(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(PROSE)
    with gzip.open(tmp_path / "b.txt.gz", "wt") as handle:
        handle.write(PROSE)
    with lzma.open(tmp_path / "c.txt.xz", "wt") as handle:
        handle.write(PROSE)
    (tmp_path / "README.md").write_text("not corpus text")
    documents = list(iter_documents([tmp_path], min_document_chars=0))
    assert len(documents) == 9
    assert documents[0].sentences == documents[3].sentences == documents[6].sentences


UNREADABLE = [
    ("empty.txt", b"", "is empty"),
    ("blank.txt", b"\n  \n\n", "has no text"),
    ("broken.txt.xz", b"\xfd7zXZ\x00 this is not xz data at all", "corrupt or truncated archive"),
    ("cut.txt.xz", lzma.compress(PROSE.encode() * 50)[:60], "corrupt or truncated archive"),
    # mtime=0: gzip stamps the time in its header, and xdist workers must collect equal ids
    ("cut.txt.gz", gzip.compress(PROSE.encode() * 50, mtime=0)[:60], "corrupt or truncated archive"),
    ("latin1.txt", "caf\u00e9 cr\u00e8me\n".encode("latin-1"), "not UTF-8"),
]


@pytest.mark.parametrize("name, content, message", UNREADABLE, ids=[case[0] for case in UNREADABLE])
def test_unreadable_files_give_a_clear_error_naming_the_file(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message) as caught:
        list(iter_documents([path]))
    assert name in str(caught.value)


def test_missing_paths_and_empty_folders_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        list(iter_documents([tmp_path / "nope.txt"]))
    with pytest.raises(CorpusError, match="holds no text files"):
        list(iter_documents([tmp_path]))


def test_heldout_split_is_deterministic_and_near_its_fraction() -> None:
    documents = [Document([f"document {i} says something."], "x", 1) for i in range(4000)]
    flags = [is_heldout(d, 0.1) for d in documents]
    assert flags == [is_heldout(d, 0.1) for d in documents]
    assert 0.08 <= np.mean(flags) <= 0.12
    assert not any(is_heldout(d, 0.0) for d in documents)


def test_shards_hold_the_tokenizer_ids_of_every_sentence(tmp_path: Path, tiny_tokenizer) -> None:  # noqa: F811
    manifest = prepare_shards([TINY_CORPUS], tiny_tokenizer, tmp_path, heldout_fraction=0.0, shard_tokens=2000,
                              max_document_lines=8, min_document_chars=0, progress=False)
    corpus = ShardedCorpus(tmp_path, tokenizer=tiny_tokenizer)
    assert len(corpus.shards) > 1 and len(manifest["splits"]["train"]) == len(corpus.shards)
    documents = list(iter_documents([TINY_CORPUS], max_document_lines=8, min_document_chars=0))
    stored = list(iter_token_documents(corpus))
    assert len(stored) == len(documents) == corpus.num_documents
    for document, ids in zip(documents, stored):
        expected = tiny_tokenizer(document.sentences, add_special_tokens=False)["input_ids"]
        assert [sentence.tolist() for sentence in ids] == expected
    assert corpus.shards[0].tokens.dtype == np.uint16
    assert isinstance(corpus.shards[0].tokens, np.memmap)  # read from disk, not loaded


def test_heldout_documents_are_kept_apart(tiny_data_dir, tiny_tokenizer) -> None:  # noqa: F811
    train = ShardedCorpus(tiny_data_dir, "train", tiny_tokenizer)
    heldout = ShardedCorpus(tiny_data_dir, "heldout", tiny_tokenizer)
    assert heldout.num_documents >= 1 and train.num_documents > 5 * heldout.num_documents
    train_texts = {tuple(map(tuple, doc)) for doc in iter_token_documents(train)}
    assert not any(tuple(map(tuple, doc)) in train_texts for doc in iter_token_documents(heldout))


def test_data_made_with_another_tokenizer_is_refused(tiny_data_dir, tiny_tokenizer_dir) -> None:  # noqa: F811
    from albert.tokenizer import AlbertTokenizer

    cased = AlbertTokenizer.from_pretrained(tiny_tokenizer_dir, do_lower_case=False)
    assert tokenizer_fingerprint(cased) != json.loads((tiny_data_dir / "manifest.json").read_text())["tokenizer"]["fingerprint"]
    with pytest.raises(DataMismatchError, match="another tokenizer"):
        ShardedCorpus(tiny_data_dir, tokenizer=cased)


def test_damaged_or_unfinished_data_is_reported(tmp_path: Path, tiny_tokenizer) -> None:  # noqa: F811
    prepare_shards([TINY_CORPUS], tiny_tokenizer, tmp_path, heldout_fraction=0.0, progress=False)
    tokens = tmp_path / "train-00000.tokens.npy"
    tokens.write_bytes(tokens.read_bytes()[:-100])
    with pytest.raises(CorpusError, match="corrupt|does not match"):
        ShardedCorpus(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(CorpusError, match="prepare-data"):
        ShardedCorpus(tmp_path)


def test_an_empty_corpus_file_stops_preparation_with_its_name(tmp_path: Path, tiny_tokenizer) -> None:  # noqa: F811
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CorpusError, match="empty.txt is empty"):
        prepare_shards([TINY_CORPUS, empty], tiny_tokenizer, tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "manifest.json").exists()


def test_prepared_data_is_recognised_for_reuse(tiny_data_dir, tiny_tokenizer) -> None:  # noqa: F811
    assert prepared_data_matches(tiny_data_dir, [TINY_CORPUS], tiny_tokenizer, max_document_lines=8)
    assert not prepared_data_matches(tiny_data_dir, [TINY_CORPUS], tiny_tokenizer, max_document_lines=64)
