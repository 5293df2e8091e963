"""Embeddings at every level: pieces, words, sentences and documents, without a JVM.

What Spark NLP's ``AlbertEmbeddings`` and ``nlu.load(...).predict(text, output_level=...)`` give:
text -> sentences (:mod:`albert.sentences`) -> words -> vectors. Each sentence is one model input
([CLS] sentence [SEP]); a sentence longer than the model's window is embedded in overlapping
windows and stitched, each piece taking its vector from the window where it sits most centrally,
so nothing is ever cut off.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import AlbertConfig
from ..errors import InputError, OptionError, OptionTypeError
from ..modeling import MODEL_CLASSES, AlbertModel, AlbertPreTrainedModel
from ..sentences import sentence_spans
from .base import (
    Pipeline,
    as_list,
    build_inputs,
    check_texts,
    encode_pieces,
    most_central_window,
    span_of,
    window_ranges,
)

LEVELS = ("piece", "word", "sentence", "document")
#: Spark NLP and nlu call word-level output "token".
LEVEL_ALIASES = {
    "token": "word",
    "pieces": "piece",
    "words": "word",
    "sentences": "sentence",
    "documents": "document",
}
WORD_POOLINGS = ("first", "mean", "last")
SENTENCE_POOLINGS = ("mean", "cls", "max")
OUTPUTS = ("records", "dataframe", "numpy")


class UnreadableTextError(InputError):
    """A text holds no piece the tokenizer can read (only control characters, say).

    ``index`` is its position among the texts of the call, so a caller embedding many texts
    (a Spark partition) can leave it out and go on.
    """

    def __init__(self, index: int, text: str) -> None:
        super().__init__(f"inputs[{index}] has no pieces the tokenizer can read: {text[:60]!r}")
        self.index = index


@dataclass
class _Sentence:
    """One sentence of a document, after the model: its pieces' vectors and [CLS] vectors."""

    start: int
    end: int
    piece_ids: list[int]
    piece_spans: list[tuple[int, int]]  # in the document
    word_ids: list[int]  # numbered within the document
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (pieces, H); word, piece levels
    cls_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (windows, H)
    # Sentence and document levels: the pieces' vectors pooled on the device, not the vectors.
    piece_sum: np.ndarray | None = None  # (H,) sum over the pieces ("mean" pooling)
    piece_max: np.ndarray | None = None  # (H,) maximum over the pieces ("max" pooling)


class EmbeddingsPipeline(Pipeline):
    """Vectors for the pieces, words, sentences or documents of texts.

    Args:
        level: "word" (default; alias "token"), "piece", "sentence" or "document".
        word_pooling: how a word's pieces become one vector: "first", "mean" (default), "last".
        sentence_pooling: how a sentence (and a document) becomes one vector: "mean" of its
            pieces (default), "max" over them, or "cls", the [CLS] vector (for a document, the
            mean of its sentences' [CLS] vectors).
        layer: "last" (default) or an index into the model's hidden states (0 is the embedding
            output, -1 the last layer).
        mean_last: average the last k layers instead of taking one (e.g. 4).
        output: "records" (default), "dataframe" (pandas) or "numpy".
        split_sentences: embed each sentence on its own (default), as Spark NLP does; False
            embeds each text as one sequence (in windows when long).
        stride: tokens shared by consecutive windows of a long sentence (default: half a window).
        max_length: the window, [CLS] and [SEP] included (default: the longest input the model
            takes); a longer sentence is embedded in several windows and stitched, never cut.
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "embeddings"
    model_class = AlbertModel
    accepted_classes = (AlbertPreTrainedModel,)

    def __init__(
        self,
        *args: Any,
        level: str = "word",
        word_pooling: str = "mean",
        sentence_pooling: str = "mean",
        layer: int | str = "last",
        mean_last: int | None = None,
        output: str = "records",
        split_sentences: bool = True,
        stride: int | None = None,
        max_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The base model is all this task needs; any head's checkpoint carries it.
        self.model = getattr(self.model, "albert", self.model)
        self.options = check_options(
            dict(level=level, word_pooling=word_pooling, sentence_pooling=sentence_pooling, layer=layer,
                 mean_last=mean_last, output=output, split_sentences=split_sentences, stride=stride,
                 max_length=max_length),
            self.config.num_hidden_layers, self.max_length,
        )  # fmt: skip

    def load(self, name_or_path: str | os.PathLike, dtype: torch.dtype | str | None) -> torch.nn.Module:
        """Load whichever head the checkpoint holds and keep its encoder: loading a masked-LM
        checkpoint as a bare AlbertModel would report its (unused) pooler as missing."""
        config = AlbertConfig.from_pretrained(name_or_path)
        architectures = config.extra.get("architectures") or ["AlbertModel"]
        model_class = MODEL_CLASSES.get(architectures[0], AlbertModel)
        model = model_class.from_pretrained(name_or_path, dtype=dtype)
        encoder = getattr(model, "albert", model)
        encoder.name_or_path = model.name_or_path
        return encoder

    def __call__(self, inputs: str | Sequence[str], **options: Any) -> Any:
        """Embed one text or a list of texts.

        Args:
            inputs: the text(s).
            **options: any of the constructor's ``level``, ``word_pooling``, ``sentence_pooling``,
                ``layer``, ``mean_last``, ``output``, ``split_sentences``, ``stride``, ``max_length`` for this call.

        Returns:
            ``output="records"``: for each text a list of dicts, one per unit, with ``document``,
            ``sentence``, ``word``/``piece`` where they apply, ``text``, ``start``, ``end`` (the
            character span in the text) and ``embedding`` (a float32 vector); for "document" one
            dict per text. ``output="dataframe"``: one pandas DataFrame, a row per unit of all
            texts. ``output="numpy"``: for each text an array (units, hidden size); at document
            level one array (texts, hidden size). One text in gives one text's result out.

        Raises:
            InputError: an empty text. OptionError: an option value that is not allowed.
            OptionTypeError: an option this pipeline does not take.
        """
        unknown = set(options) - set(self.options)
        if unknown:
            raise OptionTypeError(f"unknown option(s) {sorted(unknown)}; the options are {sorted(self.options)}")
        settings = check_options({**self.options, **options}, self.config.num_hidden_layers, self.max_length)
        texts, single = as_list(inputs)
        check_texts(texts)
        if not texts:
            return _nothing(settings, self.config.hidden_size)
        documents = self._embed(texts, settings)
        return _format(texts, documents, settings, single)

    # -- from texts to vectors ------------------------------------------------------------------
    def _embed(self, texts: list[str], settings: dict[str, Any]) -> list[list[_Sentence]]:
        spans_per_text = [
            sentence_spans(text) if settings["split_sentences"] else [_strip_span(text)] for text in texts
        ]
        flat_spans = [
            (index, start, end) for index, spans in enumerate(spans_per_text) for start, end in spans
        ]
        with_spans = settings["level"] in ("word", "piece")  # sentence and document vectors need no spans
        pieces = encode_pieces(
            self.tokenizer, [texts[index][start:end] for index, start, end in flat_spans], with_spans=with_spans
        )

        documents: list[list[_Sentence]] = [[] for _ in texts]
        next_word = [0] * len(texts)  # words are numbered through each document
        for (index, start, end), sentence_pieces in zip(flat_spans, pieces):
            if not len(sentence_pieces):
                continue  # nothing the vocabulary can read (e.g. only control characters)
            sentence = _Sentence(start=start, end=end, piece_ids=sentence_pieces.ids, piece_spans=[], word_ids=[])
            if with_spans:
                sentence.piece_spans = [(start + a, start + b) for a, b in sentence_pieces.spans]
                sentence.word_ids = _dense_words(sentence_pieces.word_ids, first=next_word[index])
                next_word[index] = 1 + max(sentence.word_ids, default=next_word[index] - 1)
            documents[index].append(sentence)
        for index, sentences in enumerate(documents):
            if not sentences:
                raise UnreadableTextError(index, texts[index])

        window = (settings["max_length"] or self.max_length) - 2  # room for [CLS] and [SEP]
        stride = settings["stride"] if settings["stride"] is not None else window // 2
        sentences = [sentence for sentences in documents for sentence in sentences]
        features, owners, owned = [], [], []
        for number, sentence in enumerate(sentences):
            ranges = window_ranges(len(sentence.piece_ids), window, stride)
            for (start, end), rows in zip(ranges, _owned_rows(ranges, len(sentence.piece_ids))):
                features.append(build_inputs(self.tokenizer, sentence.piece_ids[start:end]))
                owners.append(number)
                owned.append(rows)
        if settings["level"] in ("sentence", "document"):
            self._pool_on_device(sentences, features, owners, owned, settings)
        else:
            self._piece_vectors(sentences, features, owners, owned, settings)
        return documents

    def _piece_vectors(
        self, sentences: list[_Sentence], features: list[dict], owners: list[int], owned: list[tuple[int, int]],
        settings: dict[str, Any],
    ) -> None:
        """Every piece's vector, each from the window that gives it the most context."""
        outputs = self.run(
            features,
            lambda output, batch: {"states": _select_layers(output, settings)},
            output_hidden_states=_wants_all_layers(settings),
        )
        per_sentence: list[list[np.ndarray]] = [[] for _ in sentences]
        for owner, output, (first, last) in zip(owners, outputs, owned):
            per_sentence[owner].append(output["states"][first:last])
        for sentence, parts in zip(sentences, per_sentence):
            sentence.vectors = parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _pool_on_device(
        self, sentences: list[_Sentence], features: list[dict], owners: list[int], owned: list[tuple[int, int]],
        settings: dict[str, Any],
    ) -> None:
        """Sentence and document vectors: each window's pieces are summed (or maxed) on the device,
        so only one vector per window crosses to the host instead of one per token (the copy and
        the per-token work on the host were what an end-to-end GPU run spent its time on)."""
        pooling = settings["sentence_pooling"]
        bounds = torch.tensor(owned, dtype=torch.long, device=self.device)  # (windows, 2)

        def read_pooled(output: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            states = _select_layers(output, settings)
            if pooling == "cls":
                return {"cls": states[:, 0]}
            rows = bounds[batch["feature_index"]]
            positions = torch.arange(states.shape[1], device=states.device)
            keep = ((positions >= rows[:, :1]) & (positions < rows[:, 1:]))[..., None]  # (B, S, 1)
            states = states.float()
            if pooling == "max":
                return {"max": states.masked_fill(~keep, float("-inf")).amax(dim=1)}
            return {"sum": torch.where(keep, states, 0.0).sum(dim=1)}

        outputs = self.run(features, read_pooled, output_hidden_states=_wants_all_layers(settings))
        per_sentence: list[list[np.ndarray]] = [[] for _ in sentences]
        for owner, output in zip(owners, outputs):
            per_sentence[owner].append(next(iter(output.values())))
        for sentence, parts in zip(sentences, per_sentence):
            if pooling == "cls":
                sentence.cls_vectors = np.stack(parts)
            elif pooling == "max":
                sentence.piece_max = parts[0] if len(parts) == 1 else np.max(parts, axis=0)
            else:
                sentence.piece_sum = parts[0] if len(parts) == 1 else np.sum(parts, axis=0, dtype=np.float32)


def _wants_all_layers(settings: dict[str, Any]) -> bool:
    return settings["layer"] != "last" or settings["mean_last"] is not None


def _owned_rows(ranges: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """For each window, the rows ``(first, past last)`` of the pieces it gives vectors for: every
    piece is taken from the window where it sits most centrally (row 0 of a window is [CLS]).
    Those rows are contiguous, as windows are sorted and of equal size."""
    if len(ranges) == 1:
        return [(1, length + 1)]
    owned: list[list[int]] = [[] for _ in ranges]
    for which, position in most_central_window(ranges, length):
        owned[which].append(position + 1)
    rows = []
    for positions in owned:
        if positions and positions[-1] - positions[0] + 1 != len(positions):  # pragma: no cover - a broken invariant
            # a bug, not a user's error
            raise AssertionError(f"a window's own pieces are not contiguous: {positions}")
        rows.append((positions[0], positions[-1] + 1) if positions else (1, 1))
    return rows


def _select_layers(output: Any, settings: dict[str, Any]) -> torch.Tensor:
    """The (B, S, H) states asked for: the last layer, one layer, or the mean of the last k."""
    if settings["mean_last"] is not None:
        return torch.stack(output.hidden_states[-settings["mean_last"] :]).float().mean(dim=0)
    if settings["layer"] == "last":
        return output.last_hidden_state
    return output.hidden_states[settings["layer"]]


def _dense_words(word_ids: list[int], first: int = 0) -> list[int]:
    """Renumber a sentence's word ids ``first``, ``first + 1``, ... in order of appearance."""
    numbering: dict[int, int] = {}
    return [first + numbering.setdefault(word, len(numbering)) for word in word_ids]


def _strip_span(text: str) -> tuple[int, int]:
    stripped = text.lstrip()
    start = len(text) - len(stripped)
    return start, start + len(stripped.rstrip())


# -- from vectors to records --------------------------------------------------------------------


def _pool(vectors: np.ndarray, how: str) -> np.ndarray:
    """A word's vector from its pieces' vectors."""
    if how == "first":
        return vectors[0]
    if how == "last":
        return vectors[-1]
    return vectors.mean(axis=0)


def _pooled(sentences: list[_Sentence], how: str) -> np.ndarray:
    """One vector for these sentences' pieces (a sentence, or a whole document)."""
    if how == "cls":
        return np.concatenate([s.cls_vectors for s in sentences]).mean(axis=0)
    if how == "max":
        return sentences[0].piece_max if len(sentences) == 1 else np.max([s.piece_max for s in sentences], axis=0)
    total = sentences[0].piece_sum if len(sentences) == 1 else np.sum([s.piece_sum for s in sentences], axis=0)
    return (total / sum(len(s.piece_ids) for s in sentences)).astype(np.float32, copy=False)


def _units(
    text: str, document: int, sentences: list[_Sentence], settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """The records of one document at the level asked for."""
    level = settings["level"]
    records: list[dict[str, Any]] = []
    if level == "document":
        vector = _pooled(sentences, settings["sentence_pooling"])
        return [{"document": document, "text": text, "start": 0, "end": len(text), "embedding": vector}]
    for number, sentence in enumerate(sentences):
        if level == "sentence":
            records.append({
                "document": document, "sentence": number, "text": text[sentence.start:sentence.end],
                "start": sentence.start, "end": sentence.end,
                "embedding": _pooled([sentence], settings["sentence_pooling"]),
            })  # fmt: skip
        elif level == "piece":
            for position, (start, end) in enumerate(sentence.piece_spans):
                records.append({
                    "document": document, "sentence": number, "word": sentence.word_ids[position],
                    "piece": position, "token": sentence.piece_ids[position], "text": text[start:end],
                    "start": start, "end": end, "embedding": sentence.vectors[position],
                })  # fmt: skip
        else:
            for word in dict.fromkeys(sentence.word_ids):
                positions = [i for i, owner in enumerate(sentence.word_ids) if owner == word]
                start, end = span_of([sentence.piece_spans[i] for i in positions])
                records.append({
                    "document": document, "sentence": number, "word": word, "text": text[start:end],
                    "start": start, "end": end,
                    "embedding": _pool(sentence.vectors[positions], settings["word_pooling"]),
                })  # fmt: skip
    return records


def _format(
    texts: list[str], documents: list[list[_Sentence]], settings: dict[str, Any], single: bool
) -> Any:
    per_text = [
        _units(text, index, sentences, settings)
        for index, (text, sentences) in enumerate(zip(texts, documents))
    ]
    if settings["output"] == "dataframe":
        import pandas as pd

        return pd.DataFrame([record for records in per_text for record in records])
    if settings["output"] == "numpy":
        arrays = [np.stack([record["embedding"] for record in records]) for records in per_text]
        if settings["level"] == "document":
            stacked = np.concatenate(arrays)
            return stacked[0] if single else stacked
        return arrays[0] if single else arrays
    return per_text[0] if single else per_text


def _nothing(settings: dict[str, Any], hidden_size: int) -> Any:
    """The result for an empty list of texts, shaped like any other result."""
    if settings["output"] == "dataframe":
        import pandas as pd

        return pd.DataFrame()
    if settings["output"] == "numpy" and settings["level"] == "document":
        return np.zeros((0, hidden_size), np.float32)
    return []


def check_options(settings: dict[str, Any], num_layers: int, model_max_length: int) -> dict[str, Any]:
    """Validate and normalise the options, naming any wrong value and the allowed ones.

    Raises:
        OptionError: the first option that is wrong, with its value and what is allowed.
    """
    settings = dict(settings)
    level = LEVEL_ALIASES.get(settings["level"], settings["level"])
    if level not in LEVELS:
        raise OptionError(
            f"level must be one of {', '.join(LEVELS)} (or 'token' for words), got {settings['level']!r}"
        )
    settings["level"] = level
    for name, allowed in (
        ("word_pooling", WORD_POOLINGS),
        ("sentence_pooling", SENTENCE_POOLINGS),
        ("output", OUTPUTS),
    ):
        if settings[name] not in allowed:
            raise OptionError(f"{name} must be one of {', '.join(allowed)}, got {settings[name]!r}")
    layer = settings["layer"]
    if isinstance(layer, str) and layer != "last":
        try:
            layer = int(layer)
        except ValueError:
            raise OptionError(f"layer must be 'last' or a layer index, got {layer!r}") from None
    if layer != "last" and not -(num_layers + 1) <= layer <= num_layers:
        raise OptionError(
            f"layer {layer} does not exist: the model has hidden states 0..{num_layers} "
            f"(0 is the embedding output, {num_layers} or -1 the last layer)"
        )
    settings["layer"] = layer
    mean_last = settings["mean_last"]
    if mean_last is not None and not 1 <= int(mean_last) <= num_layers + 1:
        raise OptionError(
            f"mean_last must be between 1 and {num_layers + 1} (the hidden states there are), got {mean_last}"
        )
    if settings["stride"] is not None and int(settings["stride"]) < 0:
        raise OptionError(f"stride must be 0 or more tokens, got {settings['stride']}")
    max_length = settings["max_length"]
    if max_length is not None and not 3 <= int(max_length) <= model_max_length:
        raise OptionError(
            f"max_length must be between 3 ([CLS], one piece, [SEP]) and the model's window of "
            f"{model_max_length}, got {max_length}"
        )
    return settings
