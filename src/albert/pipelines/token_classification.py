"""Token classification (named entities and other tags): labels for words, with character spans.

Encoding and decoding (windows, aggregation strategies ``none``, ``simple``, ``first``,
``average``, ``max`` as in transformers) are
:class:`~albert.codecs.token_classification.TokenClassificationCodec`'s. Words are the
tokenizer's whitespace words (its ``word_ids``). Long texts are labelled in overlapping windows;
each piece takes its scores from the window where it is most central.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..codecs.base import Encoded
from ..codecs.token_classification import STRATEGIES as STRATEGIES
from ..codecs.token_classification import TokenClassificationCodec
from ..modeling import AlbertForTokenClassification
from ..pipeline_options import TokenClassificationOptions
from .base import Pipeline, as_list, check_texts


class TokenClassificationPipeline(Pipeline):
    """Label the words of texts with an ``AlbertForTokenClassification`` model.

    Args:
        aggregation_strategy: "none" (default), "simple", "first", "average" or "max".
        ignore_labels: labels left out of the results (default ``["O"]``).
        stride: pieces shared by consecutive windows of a long text (default: half a window).
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "token-classification"
    model_class = AlbertForTokenClassification

    def __init__(
        self,
        *args: Any,
        aggregation_strategy: str = "none",
        ignore_labels: Sequence[str] | None = None,
        stride: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.aggregation_strategy = aggregation_strategy
        self.ignore_labels = list(ignore_labels) if ignore_labels is not None else ["O"]
        self.stride = stride

    def __call__(
        self,
        inputs: str | Sequence[str],
        *,
        aggregation_strategy: str | None = None,
        ignore_labels: Sequence[str] | None = None,
    ) -> list:
        """Label one text or a list of texts.

        Returns:
            For each text a list of entities in text order. With ``none`` each is
            ``{"entity", "score", "index", "word", "start", "end"}`` (``index`` is the piece's
            position in the model input); otherwise ``{"entity_group", "score", "word", "start",
            "end"}``. ``word`` is the text's own characters ``text[start:end]``.

        Raises:
            InputError: an empty text. OptionError: an unknown strategy.
        """
        strategy = (aggregation_strategy or self.aggregation_strategy).lower()
        TokenClassificationOptions(aggregation_strategy=strategy)  # checks it
        ignored = set(self.ignore_labels if ignore_labels is None else ignore_labels)
        texts, single = as_list(inputs)
        check_texts(texts)

        return self.infer(self.codec.encode(texts), texts, strategy, ignored, single)

    @property
    def codec(self) -> TokenClassificationCodec:
        """How this pipeline encodes texts and decodes logits."""
        return TokenClassificationCodec(self.tokenizer, self.max_length, self.stride)

    def infer(
        self, encoded: Sequence[Encoded], texts: Sequence[str], strategy: str, ignored: set[str] | frozenset[str],
        single: bool = False,
    ) -> list:  # fmt: skip
        """Run the model on inputs :attr:`codec` encoded from ``texts`` and label their words (the
        service's model process calls this with what its HTTP side encoded)."""
        outputs = self.run_encoded(encoded, lambda output, batch: {"logits": output.logits})
        results = [
            self.codec.decode(text, example, [window["logits"] for window in windows], self.config.id2label,
                              strategy, ignored)
            for text, example, windows in zip(texts, encoded, outputs)
        ]  # fmt: skip
        return results[0] if single else results
