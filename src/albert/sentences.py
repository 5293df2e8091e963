"""Sentence boundaries, from Microsoft's Bling Fire (a maintained, fast, rule-based splitter).

One splitter serves the embedding pipelines (sentence-level vectors) and the pretraining data
(documents -> sentences -> segment pairs), so both see the same sentences.
"""

from __future__ import annotations

import re

import blingfire

from .text_normalization import trim_span

# A blank line always ends a sentence (a paragraph break), whatever the punctuation says.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, in order.

    Paragraph breaks (blank lines) always separate sentences; inside a paragraph Bling Fire
    decides. Spans never include surrounding whitespace; whitespace-only text has no sentences.
    """
    spans: list[tuple[int, int]] = []
    paragraph_start = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        paragraph_end = match.start() if match else len(text)
        paragraph = text[paragraph_start:paragraph_end]
        if paragraph.strip():
            _, offsets = blingfire.text_to_sentences_and_offsets(paragraph)
            for start, end in offsets:
                start, end = trim_span(paragraph, start, end)
                if end > start:
                    spans.append((paragraph_start + start, paragraph_start + end))
        if match:
            paragraph_start = match.end()
    return spans



def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see :func:`sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]
