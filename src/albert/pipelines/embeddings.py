"""Embeddings at every level: pieces, words, sentences and documents, without a JVM.

What Spark NLP's ``AlbertEmbeddings`` and ``nlu.load(...).predict(text, output_level=...)`` give:
text -> sentences (:mod:`albert.sentences`) -> words -> vectors. Each sentence is one model input
([CLS] sentence [SEP]); a sentence longer than the model's window is embedded in overlapping
windows and stitched, each piece taking its vector from the window where it sits most centrally,
so nothing is ever cut off.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ..codecs.base import Encoded
from ..codecs.embeddings import EmbeddingsCodec
from ..codecs.embeddings import Sentence as _Sentence
from ..codecs.embeddings import UnreadableTextError as UnreadableTextError  # re-exported: its old home
from ..codecs.embeddings import owned_rows as _owned_rows  # noqa: F401  (its old name)
from ..config import AlbertConfig
from ..errors import OptionError
from ..modeling import MODEL_CLASSES, AlbertModel, AlbertPreTrainedModel
from ..sentence_folder import read_sentence_config, read_sentence_folder
from .base import Pipeline, as_list, check_texts, span_of
from .options import (  # noqa: F401  (LEVELS ... importable from here, as before)
    LEVEL_ALIASES,
    LEVELS,
    OUTPUTS,
    SENTENCE_POOLINGS,
    WORD_POOLINGS,
    EmbeddingOptions,
    with_options,
)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """One vector per sequence from its (B, S, H) token vectors, as sentence-transformers' Pooling
    computes it: over every token the attention mask keeps, [CLS] and [SEP] included. The one
    pooling of sentence-embedding models: the ``text`` level here, fine-tuning's contrastive
    losses and sentence-transformers folders all pool with it, so training and inference agree.

    Args:
        how: "mean", "cls" (the first token) or "max" (per dimension; padding never wins).

    Returns:
        (B, H) vectors in float32 (the sum of a long text in half precision would lose digits).
    """
    states = hidden.float()
    if how == "cls":
        return states[:, 0]
    keep = attention_mask[..., None].to(torch.bool)  # (B, S, 1)
    if how == "max":
        return states.masked_fill(~keep, float("-inf")).amax(dim=1)
    if how != "mean":
        raise OptionError(f"pooling must be one of {', '.join(SENTENCE_POOLINGS)}, got {how!r}")
    counts = keep.sum(dim=1).clamp(min=1)  # (B, 1)
    return torch.where(keep, states, 0.0).sum(dim=1) / counts


def truncate_and_normalize(vectors: torch.Tensor, dimension: int | None, normalize: bool) -> torch.Tensor:
    """(B, H) vectors cut to their first ``dimension`` entries (a Matryoshka prefix; None keeps all),
    then scaled to length 1 when ``normalize`` (a zero vector stays zero): the cut comes first, so a
    prefix of a normalised model is a unit vector too."""
    if dimension is not None:
        vectors = vectors[..., :dimension]
    return torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors


def load_encoder(name_or_path: str | os.PathLike[str], dtype: torch.dtype | str | None = None) -> AlbertPreTrainedModel:
    """The encoder of a model folder or name: whichever head the checkpoint holds is loaded and its
    encoder kept (loading a masked-LM checkpoint as a bare AlbertModel would report its unused
    pooler as missing); for a sentence-transformers folder, the model of its Transformer module.
    The encoder's ``name_or_path`` is where its tokenizer is.

    Raises:
        ModelNotFoundError, CheckpointError, ConfigError: as ``from_pretrained`` says.
        SentenceFolderError: a sentence-transformers folder albert cannot use.
    """
    found = read_sentence_folder(name_or_path) if Path(name_or_path).is_dir() else None
    source: str | os.PathLike[str] = found.transformer if found is not None else name_or_path
    config = AlbertConfig.from_pretrained(source)
    architectures = config.extra.get("architectures") or ["AlbertModel"]
    model_class = MODEL_CLASSES.get(architectures[0], AlbertModel)
    model = model_class.from_pretrained(source, dtype=dtype)
    encoder = getattr(model, "albert", model)
    encoder.name_or_path = model.name_or_path
    return encoder


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
            takes); a longer sentence is embedded in several windows and stitched, never cut
            (at level "text", cut: what sentence-transformers does).
        normalize: scale each pooled vector (sentence, document, text) to length 1.
        dimension: keep the first ``dimension`` entries of each pooled vector (a Matryoshka
            prefix), before ``normalize``.
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.

    Level "text" is sentence-transformers' ``encode``: each text is one input, cut to
    ``max_length``, pooled by :func:`pool` over all its tokens ([CLS] and [SEP] included). A
    sentence-embedding folder (:mod:`albert.sentence_folder`: written by albert or by
    sentence-transformers) makes its saved settings the defaults: level "text", its pooling,
    normalisation, dimension and max length; options given here or per call still win. A plain
    model folder's defaults are the ones above.
    """

    task = "embeddings"
    model_class = AlbertModel
    accepted_classes = (AlbertPreTrainedModel,)

    def __init__(
        self,
        *args: Any,
        level: str | None = None,
        word_pooling: str | None = None,
        sentence_pooling: str | None = None,
        layer: int | str | None = None,
        mean_last: int | None = None,
        output: str | None = None,
        split_sentences: bool | None = None,
        stride: int | None = None,
        max_length: int | None = None,
        normalize: bool | None = None,
        dimension: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._loaded_from: str | os.PathLike[str] | None = None
        super().__init__(*args, **kwargs)
        # The base model is all this task needs; any head's checkpoint carries it.
        self.model = getattr(self.model, "albert", self.model)
        folder = self._loaded_from or getattr(self.model, "name_or_path", None)
        #: The sentence-embedding settings saved with the model (None: a plain model folder).
        self.sentence_config = read_sentence_config(folder) if folder is not None and Path(folder).is_dir() else None
        given = {
            "level": level, "word_pooling": word_pooling, "sentence_pooling": sentence_pooling, "layer": layer,
            "mean_last": mean_last, "output": output, "split_sentences": split_sentences, "stride": stride,
            "max_length": max_length, "normalize": normalize, "dimension": dimension,
        }  # fmt: skip
        self.options = EmbeddingOptions.from_sentence_config(self.sentence_config)
        self.options = self._settings({name: value for name, value in given.items() if value is not None})

    def load(self, name_or_path: str | os.PathLike[str], dtype: torch.dtype | str | None) -> AlbertPreTrainedModel:
        """The encoder of whichever head the checkpoint holds (:func:`load_encoder`)."""
        self._loaded_from = name_or_path
        return load_encoder(name_or_path, dtype)

    def _settings(self, changes: dict[str, Any]) -> EmbeddingOptions:
        """The pipeline's options with a call's ``changes`` (:meth:`EmbeddingOptions.changed`),
        checked against the model."""
        return self.options.changed(changes).for_model(
            self.config.num_hidden_layers, self.max_length, self.config.hidden_size
        )

    def __call__(self, inputs: str | Sequence[str], **options: Any) -> Any:
        """Embed one text or a list of texts.

        Args:
            inputs: the text(s).
            **options: any of the constructor's ``level``, ``word_pooling``, ``sentence_pooling``,
                ``layer``, ``mean_last``, ``output``, ``split_sentences``, ``stride``, ``max_length``,
                ``normalize``, ``dimension`` for this call.

        Returns:
            ``output="records"``: for each text a list of dicts, one per unit, with ``document``,
            ``sentence``, ``word``/``piece`` where they apply, ``text``, ``start``, ``end`` (the
            character span in the text) and ``embedding`` (a float32 vector); for "document" one
            dict per text (and per text at level "text"). ``output="dataframe"``: one pandas
            DataFrame, a row per unit of all texts. ``output="numpy"``: for each text an array
            (units, hidden size); at document and text level one array (texts, hidden size). One
            text in gives one text's result out.

        Raises:
            InputError: an empty text. OptionError: an option value that is not allowed.
            OptionTypeError: an option this pipeline does not take.
        """
        settings = self._settings(options)
        texts, single = as_list(inputs)
        check_texts(texts)
        if not texts:
            return _nothing(settings, settings.dimension or self.config.hidden_size)
        documents = self._vectors(self.codec(settings).encode(texts), settings)
        return _format(texts, documents, settings, single)

    def codec(self, settings: EmbeddingOptions) -> EmbeddingsCodec:
        """How this pipeline cuts texts into sentences and windows under ``settings`` (its options)."""
        text_level = settings.level == "text"
        return EmbeddingsCodec(
            self.tokenizer, settings.max_length or self.max_length,
            split_sentences=settings.split_sentences and not text_level,
            with_spans=settings.level in ("word", "piece"), stride=settings.stride, truncate=text_level,
        )  # fmt: skip

    def infer(self, encoded: Sequence[Encoded], texts: Sequence[str], **options: Any) -> Any:
        """Run the model on ``texts`` as :meth:`codec` encoded them and give their results as
        :meth:`__call__` does for a list (the service's model process calls this with what its HTTP
        side encoded); ``options`` as for :meth:`__call__`."""
        settings = self._settings(options)
        return _format(list(texts), self._vectors(encoded, settings), settings, single=False)

    # -- from texts to vectors ------------------------------------------------------------------
    def _vectors(self, encoded: Sequence[Encoded], settings: EmbeddingOptions) -> list[list[_Sentence]]:
        """Each text's sentences, with their vectors (or pooled vectors) filled in by one run of the
        model over every window of every text."""
        documents = [example.meta.sentences for example in encoded]
        sentences = [sentence for sentences in documents for sentence in sentences]
        features, owners, owned = [], [], []
        first = 0  # the text's first sentence's number among all of them
        for example in encoded:
            features += example.features
            owners += [first + owner for owner in example.meta.owners]
            owned += example.meta.owned
            first += len(example.meta.sentences)
        if settings.level == "text":
            self._pool_texts(sentences, features, settings)
        elif settings.level in ("sentence", "document"):
            self._pool_on_device(sentences, features, owners, owned, settings)
        else:
            self._piece_vectors(sentences, features, owners, owned, settings)
        return documents

    def _piece_vectors(
        self, sentences: list[_Sentence], features: list[dict], owners: list[int], owned: list[tuple[int, int]],
        settings: EmbeddingOptions,
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

    def _pool_texts(self, sentences: list[_Sentence], features: list[dict], settings: EmbeddingOptions) -> None:
        """Level "text": each input (one per text, cut to the window) pooled by :func:`pool`, cut
        to ``dimension`` and normalised on the device, as sentence-transformers encodes."""

        def read_pooled(output: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            pooled = pool(_select_layers(output, settings), batch["attention_mask"], settings.sentence_pooling)
            return {"pooled": truncate_and_normalize(pooled, settings.dimension, settings.normalize)}

        outputs = self.run(features, read_pooled, output_hidden_states=_wants_all_layers(settings))
        for sentence, output in zip(sentences, outputs):
            sentence.pooled = output["pooled"]

    def _pool_on_device(
        self, sentences: list[_Sentence], features: list[dict], owners: list[int], owned: list[tuple[int, int]],
        settings: EmbeddingOptions,
    ) -> None:
        """Sentence and document vectors: each window's pieces are summed (or maxed) on the device,
        so only one vector per window crosses to the host instead of one per token (the copy and
        the per-token work on the host were what an end-to-end GPU run spent its time on)."""
        pooling = settings.sentence_pooling
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
                # numpy's stubs allow a scalar here; a sum of (H,) arrays over axis 0 is an (H,) array
                sentence.piece_sum = parts[0] if len(parts) == 1 else cast(np.ndarray, np.sum(parts, axis=0, dtype=np.float32))


def _wants_all_layers(settings: EmbeddingOptions) -> bool:
    return settings.layer != "last" or settings.mean_last is not None


def _select_layers(output: Any, settings: EmbeddingOptions) -> torch.Tensor:
    """The (B, S, H) states asked for: the last layer, one layer, or the mean of the last k."""
    if settings.mean_last is not None:
        return torch.stack(output.hidden_states[-settings.mean_last :]).float().mean(dim=0)
    if settings.layer == "last":
        return output.last_hidden_state
    return output.hidden_states[settings.layer]


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
        maxima = [_pooled_part(s.piece_max) for s in sentences]
        return maxima[0] if len(maxima) == 1 else np.max(maxima, axis=0)
    sums = [_pooled_part(s.piece_sum) for s in sentences]
    total = sums[0] if len(sums) == 1 else cast(np.ndarray, np.sum(sums, axis=0))  # (H,) arrays: an array
    return (total / sum(len(s.piece_ids) for s in sentences)).astype(np.float32, copy=False)


def _shaped(vector: np.ndarray, settings: EmbeddingOptions) -> np.ndarray:
    """A pooled vector cut to ``dimension`` and normalised as the options ask (:func:`truncate_and_normalize`)."""
    if settings.dimension is None and not settings.normalize:
        return vector
    return truncate_and_normalize(torch.from_numpy(vector), settings.dimension, settings.normalize).numpy()


def _pooled_part(part: np.ndarray | None) -> np.ndarray:
    """A sentence's pooled pieces, which the forward pass filled in for the pooling asked for."""
    assert part is not None
    return part


def _units(
    text: str, document: int, sentences: list[_Sentence], settings: EmbeddingOptions
) -> list[dict[str, Any]]:
    """The records of one document at the level asked for."""
    level = settings.level
    records: list[dict[str, Any]] = []
    if level == "text":
        return [{"document": document, "text": text, "start": 0, "end": len(text), "embedding": sentences[0].pooled}]
    if level == "document":
        vector = _shaped(_pooled(sentences, settings.sentence_pooling), settings)
        return [{"document": document, "text": text, "start": 0, "end": len(text), "embedding": vector}]
    for number, sentence in enumerate(sentences):
        if level == "sentence":
            records.append({
                "document": document, "sentence": number, "text": text[sentence.start:sentence.end],
                "start": sentence.start, "end": sentence.end,
                "embedding": _shaped(_pooled([sentence], settings.sentence_pooling), settings),
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
                    "embedding": _pool(sentence.vectors[positions], settings.word_pooling),
                })  # fmt: skip
    return records


def _format(
    texts: list[str], documents: list[list[_Sentence]], settings: EmbeddingOptions, single: bool
) -> Any:
    per_text = [
        _units(text, index, sentences, settings)
        for index, (text, sentences) in enumerate(zip(texts, documents))
    ]
    if settings.output == "dataframe":
        import pandas as pd

        return pd.DataFrame([record for records in per_text for record in records])
    if settings.output == "numpy":
        arrays = [np.stack([record["embedding"] for record in records]) for records in per_text]
        if settings.level in ("document", "text"):
            stacked = np.concatenate(arrays)
            return stacked[0] if single else stacked
        return arrays[0] if single else arrays
    return per_text[0] if single else per_text


def _nothing(settings: EmbeddingOptions, hidden_size: int) -> Any:
    """The result for an empty list of texts, shaped like any other result."""
    if settings.output == "dataframe":
        import pandas as pd

        return pd.DataFrame()
    if settings.output == "numpy" and settings.level in ("document", "text"):
        return np.zeros((0, hidden_size), np.float32)
    return []


def check_options(settings: dict[str, Any], num_layers: int, model_max_length: int) -> dict[str, Any]:
    """The options as a checked, normalised dict (kept for callers of the dict form; the
    pipeline holds an :class:`~albert.pipelines.options.EmbeddingOptions`).

    Raises:
        OptionError: the first option that is wrong, with its value and what is allowed.
    """
    return dataclasses.asdict(EmbeddingOptions(**settings).for_model(num_layers, model_max_length))
