"""Text classification: a score for every label of a text (or of a text pair).

Encoding and decoding are :class:`~albert.codecs.text_classification.TextClassificationCodec`'s
(what fine-tuning uses too): a pair too long for the window is cut by transformers'
``longest_first``. The scoring function follows the model's ``problem_type``, as transformers
does: sigmoid for multi-label models (each label on its own) and single-output models, softmax for
single-label models, raw values for regression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..codecs.base import Encoded
from ..codecs.text_classification import FUNCTIONS as FUNCTIONS
from ..codecs.text_classification import TextClassificationCodec, default_function
from ..errors import InputError
from ..modeling import AlbertForSequenceClassification
from ..pipeline_options import TextClassificationOptions
from .base import Pipeline, as_list, check_texts, warn_truncated

TextInput = str | Mapping[str, str] | tuple[str, str]


class TextClassificationPipeline(Pipeline):
    """Classify texts or text pairs with an ``AlbertForSequenceClassification`` model.

    Args:
        top_k: keep only the best k labels (default None: every label, best first).
        function_to_apply: "softmax", "sigmoid" or "none"; None picks it from the model's
            ``problem_type`` (see the module docstring).
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "text-classification"
    model_class = AlbertForSequenceClassification

    def __init__(
        self, *args: Any, top_k: int | None = None, function_to_apply: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.top_k = top_k
        self.function_to_apply = function_to_apply

    def default_function(self) -> str:
        """The scoring function the model's config implies."""
        return default_function(self.config.problem_type, self.config.num_labels)

    @property
    def codec(self) -> TextClassificationCodec:
        """How this pipeline (and fine-tuning) encodes inputs and decodes logits."""
        return TextClassificationCodec(self.tokenizer, self.max_length)

    def __call__(
        self,
        inputs: TextInput | Sequence[TextInput],
        *,
        top_k: int | None = None,
        function_to_apply: str | None = None,
    ) -> list:
        """Score one input or a list of them.

        Args:
            inputs: a text, a pair as ``{"text": ..., "text_pair": ...}`` or ``(text, pair)``
                inside a list, or a list of those.
            top_k: keep the best k labels (default: the pipeline's, else every label).
            function_to_apply: "softmax", "sigmoid" or "none" (default: from the model).

        Returns:
            For each input a list of ``{"label", "score"}`` for every label, best first (one
            input gives one such list). An input longer than the model's window is truncated,
            longest part first, with a warning.

        Raises:
            InputError: an empty text. OptionError: an unknown function.
        """
        items, single = as_list(inputs, "text or text pair")
        firsts, seconds = _split_pairs(items)
        check_texts(firsts)
        paired = [index for index, second in enumerate(seconds) if second is not None]
        check_texts([seconds[index] for index in paired], "text_pair of inputs", paired)
        function = function_to_apply or self.function_to_apply or self.default_function()
        top_k = top_k if top_k is not None else self.top_k
        TextClassificationOptions(top_k=top_k, function_to_apply=function)  # checks both

        encoded = self.codec.encode(firsts, seconds)
        warn_truncated(
            encoded,
            f"is longer than the model's window of {self.max_length} tokens and was truncated for "
            "classification",
        )
        results = self.infer(encoded, function_to_apply=function, top_k=top_k)
        return results[0] if single else results

    def infer(
        self, encoded: Sequence[Encoded], top_k: int | None = None, function_to_apply: str | None = None
    ) -> list[list[dict[str, Any]]]:
        """Run the model on inputs :attr:`codec` encoded and read each one's label scores (the
        service's model process calls this with what its HTTP side encoded); options as for
        :meth:`__call__`, already checked."""
        function = function_to_apply or self.function_to_apply or self.default_function()
        top_k = top_k if top_k is not None else self.top_k
        outputs = self.run_encoded(encoded, lambda output, batch: {"logits": output.logits})
        return [
            self.codec.decode(output[0]["logits"], self.config.id2label, function, top_k)
            for output in outputs
        ]


def _split_pairs(items: list[Any]) -> tuple[list[Any], list[str | None]]:
    """Inputs -> (first texts, second texts or None), accepting dicts and 2-tuples for pairs."""
    firsts: list[Any] = []
    seconds: list[str | None] = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            if "text" not in item:
                raise InputError(
                    f"inputs[{index}] is a dict without a 'text' key: {item!r}; use text and text_pair"
                )
            firsts.append(item["text"])
            seconds.append(item.get("text_pair"))
        elif isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise InputError(f"inputs[{index}] should be a pair (text, text_pair), got {len(item)} parts")
            firsts.append(item[0])
            seconds.append(item[1])
        else:
            firsts.append(item)
            seconds.append(None)
    return firsts, seconds
