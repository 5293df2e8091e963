"""What the service's HTTP side sends the model's process for one input: the ids its task's codec
made (:class:`~albert.codecs.base.Encoded`), and what decoding them needs. Torch-free.

The HTTP side tokenizes each input once, with the codec that fine-tuning and the pipelines use,
and counts the batch budget on the features it made; the model's process runs only the model and
the decode (as TEI's router sends encodings to its backend).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codecs.base import Encoded


@dataclass(frozen=True)
class Job:
    """One input, encoded.

    ``text`` is what decoding reads characters from (a text's words, a context's answer, a fill-mask
    sequence; None when nothing is read back); ``choices`` the choices a multiple-choice prompt's
    scores are given for.
    """

    encoded: Encoded
    text: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def tokens(self) -> int:
        """Real tokens of its features: what it costs a batch."""
        return self.encoded.tokens
