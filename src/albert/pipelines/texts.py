"""Checking input texts and cutting them into pieces: moved to :mod:`albert.codecs.texts` (the
codecs own encoding); the names stay importable from here."""

from __future__ import annotations

from ..codecs.texts import Pieces, check_texts, encode_pieces

__all__ = ["Pieces", "check_texts", "encode_pieces"]
