"""Helpers for the tokenizer tests: the offline data, deterministic samples of real text,
adversarial strings, and transformers' reference tokenizer.

The data lives in ``../shared/data`` beside the repository (found from this file, not from a
fixed path); tests that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

import functools
import json
import logging
import lzma
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]")

#: Strings that stress every preprocessing rule. None has a special token glued to the text after
#: it, so our ids must equal the reference's on all of them.
ADVERSARIAL = [
    "", " ", "   ", "\t", "\n", "\t\n \r\x0b\x0c", "\u00a0", "\u00a0\u00a0x\u00a0", "\u200b", "a\u200bb",
    "\u200d\u200c", "\ufeffbom", "x\u3000y", "a\u2028b\u2029c", "\x1c\x1d\x1e\x1fsep",
    "``quoted''", "``", "''", "'''", "````", "`single'", "He said ``hi'' and '' left``", "' '",
    "café", "naïve résumé", "e\u0301", "\u0301start", "a\u0301\u0302\u0323", "Ångström", "crème brûlée",
    "\u1e0b\u0323", "q\u0307\u0323", "Åström vs A\u030astro\u0308m",
    "ﬁne ﬂow ﬀ ﬃ", "ｆｕｌｌ ｗｉｄｔｈ １２３ ＡＢＣ", "①②③", "Ⅻ ⅻ", "x² y³", "½ ¼ ¾", "ℌ ℍ ℕ ℂ", "ǅ ǈ ǋ", "™ ℠ ℡",
    "İstanbul ısı IĞDIR İ", "ΟΔΟΣ Σ σς ΣΑΣ", "Straße ẞ", "Kelvin \u212a", "\u03f9 \u2140", "ᾼ ῌ",
    "emoji 😀👍🏽 👨‍👩‍👧 🇫🇷", "中文字符测试", "日本語のテキスト", "한국어 텍스트", "עברית מימין לשמאל", "العربية",
    "हिन्दी", "ไทย", "Ελληνικά", "Русский текст",
    "1,000,000", "9,9", "1999,", "a9,b", "3,14159", ",9", "9,", "12,34,56,", "٣,٤", "10,000-20,000",
    "1,2,3,4,5,6,7,8,9,10", "x1,y2,", "$1,000.00", "2,5%",
    "x" * 300, "supercalifragilisticexpialidocious" * 5, "a-b-c-d-e-f", "one-sentence-per-line",
    "http://example.com/a_b?c=d&e=f", "email@example.com", "C++ / C# / F#", "__init__.py", "~/.bashrc",
    "\x00\x01\x02 control", "tab\there", "line\nbreak", "\x7f\x85", "soft\u00adhyphen",
    "MiXeD CaSe ÀÉÎÕÜ", "<b>html</b>", "[brackets] <angles>", "[cls] [Mask] [sep]", "...!!!???",
    "— – ‐ ‑", "“smart quotes” ‘single’", "#hashtag @mention", "(parenthesised)", "\"double\"",
]  # fmt: skip


def data_path(relative: str) -> Path:
    """A path under ``../shared/data``, or skip the test when it is not there."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"offline data not found at {path} (expected ../shared/data beside the repository)")
    return path


@functools.lru_cache(maxsize=16)
def read_text(path: Path, max_bytes: int = 2_000_000) -> str:
    """The first ``max_bytes`` characters of a text file (``.xz`` files are decompressed; cached)."""
    if path.suffix == ".xz":
        with lzma.open(path, "rt", encoding="utf-8") as handle:
            return handle.read(max_bytes)
    with path.open(encoding="utf-8-sig") as handle:
        return handle.read(max_bytes)


def sample_lines(path: Path, count: int, seed: int = 0, max_bytes: int = 2_000_000) -> list[str]:
    """A deterministic sample of the non-blank lines at the start of a file."""
    lines = [line for line in read_text(path, max_bytes).splitlines() if line.strip()]
    lines = lines[:-1]  # the last line may be cut in the middle by max_bytes
    if len(lines) <= count:
        return lines
    return random.Random(seed).sample(lines, count)


def sst2_sentences(path: Path) -> list[str]:
    """The sentence column of a GLUE SST-2 tsv."""
    rows = read_text(path, 10**8).splitlines()[1:]
    return [row.split("\t")[0] for row in rows if row.strip()]


def conll_sentences(path: Path) -> list[list[str]]:
    """Sentences of a CoNLL-2003 file as lists of words."""
    sentences: list[list[str]] = []
    words: list[str] = []
    for line in read_text(path, 10**8).splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(words)
            words = []
            continue
        words.append(line.split(" ")[0])
    if words:
        sentences.append(words)
    return sentences


def mrpc_pairs(path: Path) -> list[tuple[str, str]]:
    """The sentence pairs of MRPC's original train file."""
    rows = read_text(path, 10**8).splitlines()[1:]
    return [(row.split("\t")[3], row.split("\t")[4]) for row in rows if row.count("\t") >= 4]


def squad_records(path: Path) -> list[dict]:
    """Answerable records of the SQuAD sample: question, context and the first answer's start and text."""
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data["data"] if isinstance(data, dict) else data
    return [
        {
            "question": record["question"],
            "context": record["context"],
            "answer_start": record["answers"]["answer_start"][0],
            "answer": record["answers"]["text"][0],
        }
        for record in records
        if record["answers"]["text"]  # SQuAD 2.0 style unanswerable questions have none
    ]


def mentions_special_token(text: str) -> bool:
    """Whether the text holds something the reference treats as a special token (or nearly)."""
    lowered = text.lower()
    return any(token.lower() in lowered for token in SPECIAL_TOKENS)


def reference_tokenizer(vocab: Path, **kwargs):
    """transformers 4.x's slow AlbertTokenizer: the ids ALBERT was trained with."""
    transformers = pytest.importorskip("transformers", reason="transformers (the reference) is not installed")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    return transformers.AlbertTokenizer(str(vocab), **kwargs)
