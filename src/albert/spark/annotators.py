"""``AlbertEmbeddings``, ``AlbertClassifier``, ``AlbertTokenClassifier``: pipelines as Spark ML stages.

Each is a ``pyspark.ml.Transformer`` with Params and setters in Spark NLP's style that appends an
annotations column (:mod:`albert.spark.annotations`) to a DataFrame with a text column. The work
is one ``mapInArrow`` over the DataFrame (:mod:`albert.spark.worker`): Arrow batches go to the
Python workers and come back with the new column, the other columns untouched. Options are
checked on the driver, against the model's config and tokenizer, before any job starts.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ..errors import InputTypeError, OptionError
from ..sentence_folder import read_sentence_folder
from .annotations import ANNOTATIONS, require_column
from .worker import WorkerSpec, annotate_batches, tokenizer_with_case

#: Spark NLP's model names, so code written for ``AlbertEmbeddings.pretrained(...)`` runs as it is:
#: the same released ALBERT v2 weights, from the Hugging Face Hub.
SPARK_NLP_NAMES = {
    "albert_base_uncased": "albert/albert-base-v2",
    "albert_large_uncased": "albert/albert-large-v2",
    "albert_xlarge_uncased": "albert/albert-xlarge-v2",
    "albert_xxlarge_uncased": "albert/albert-xxlarge-v2",
}
DEFAULT_MODEL = "albert-small-en"


def _param(name: str, doc: str, converter: Any = TypeConverters.toString) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


def _text_or_number(value: Any) -> str:
    """A Param that takes "last" or a layer index, as a string or an int (``layer=-2``)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        # Spark's protocol: a typeConverter raises TypeError, which Params re-raises as a TypeError
        raise TypeError(f"expected 'last' or a layer index, got {value!r}")
    return str(value)


#: The pipelines' option names in their messages, as the Params call them.
_PARAM_NAMES = {
    "max_length": "maxSentenceLength", "word_pooling": "wordPooling", "sentence_pooling": "sentencePooling",
    "split_sentences": "splitSentences", "function_to_apply": "functionToApply",
    "aggregation_strategy": "aggregationStrategy",
}  # fmt: skip


def _with_param_names(error: ValueError) -> ValueError:
    message = str(error)
    for option, param in _PARAM_NAMES.items():
        message = message.replace(option, param)
    return ValueError(message)


def set_given_params(stage: Params) -> None:
    """Set the Params a ``@keyword_only`` constructor was given; None means "leave the default"."""
    # @keyword_only stores the call's keywords on the instance; pyspark's stubs do not declare the attribute.
    given: dict[str, Any] = stage._input_kwargs  # type: ignore[attr-defined]
    stage._set(**{key: value for key, value in given.items() if value is not None})


def _setter(name: str) -> Any:
    def set_value(self: Params, value: Any) -> Any:
        return self._set(**{name: value})

    set_value.__name__ = f"set{name[0].upper()}{name[1:]}"
    set_value.__doc__ = f"Sets the value of :py:attr:`{name}`."
    return set_value


def _getter(name: str) -> Any:
    def get_value(self: Params) -> Any:
        return self.getOrDefault(name) if self.isDefined(name) else None

    get_value.__name__ = f"get{name[0].upper()}{name[1:]}"
    get_value.__doc__ = f"Gets the value of :py:attr:`{name}` (None when unset)."
    return get_value


def check_text_column(schema: T.StructType, name: str, param: str = "inputCol") -> None:
    """Refuse a column that is missing or does not hold strings, naming it and what there is.

    Raises:
        InputError: no such column; InputTypeError: the column is not a string column.
    """
    data_type = require_column(schema, name, param)
    if not isinstance(data_type, T.StringType):
        raise InputTypeError(
            f"{param} {name!r} is a {data_type.simpleString()} column, not a string column: albert.spark "
            "annotators read raw text (they split sentences and words themselves); point "
            f"{param} at the text, or cast it with F.col({name!r}).cast('string')"
        )


class _AlbertAnnotator(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """What the three annotators share: the model, where it runs, batching, the columns."""

    task: ClassVar[str]
    #: A stage returned by an Estimator's ``fit``: the run's summary (``metrics.json``: the dev
    #: metrics of the best model, its step, the settings); None otherwise. Not a Param: not saved.
    trainingSummary: dict[str, Any] | None = None

    model = _param("model", "model folder, shipped model name or Hub id (e.g. albert/albert-base-v2)")
    device = _param(
        "device", "'auto' (the GPU Spark assigned the task, else a GPU when there is one), 'cpu', 'cuda', 'cuda:1'"
    )
    dtype = _param("dtype", "float32, bfloat16 or float16")
    precision = _param(
        "precision", "exact (default: dtype as set), fast (bfloat16 where the workers' hardware multiplies it "
        "natively) or int8 (dynamic quantisation of the encoder, CPU); reduced precision costs accuracy",
    )  # fmt: skip
    batchSize = _param("batchSize", "model inputs run at once on each worker", TypeConverters.toInt)
    allowUntrainedHead = _param(
        "allowUntrainedHead", "run a model whose task head is not in its weights (newly initialised, so its "
        "answers are random and differ from worker to worker); default False: refused", TypeConverters.toBoolean,
    )  # fmt: skip

    setModel = _setter("model")
    setDevice = _setter("device")
    setDtype = _setter("dtype")
    setPrecision = _setter("precision")
    setBatchSize = _setter("batchSize")
    setAllowUntrainedHead = _setter("allowUntrainedHead")
    setInputCol = _setter("inputCol")
    setOutputCol = _setter("outputCol")
    getModel = _getter("model")
    getDevice = _getter("device")
    getDtype = _getter("dtype")
    getPrecision = _getter("precision")
    getBatchSize = _getter("batchSize")
    getAllowUntrainedHead = _getter("allowUntrainedHead")

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(inputCol="text", device="auto", dtype="float32", precision="exact", batchSize=32,
                         allowUntrainedHead=False)  # fmt: skip

    @classmethod
    def pretrained(cls, name: str = DEFAULT_MODEL, lang: str = "en", remote_loc: str | None = None) -> Any:
        """The stage for a model by name, as Spark NLP's ``pretrained(name, lang)``: a shipped
        model, a Hub id, a folder, or one of Spark NLP's ALBERT names (``albert_base_uncased``...).
        ``lang`` and ``remote_loc`` are accepted for Spark NLP's signature; the name says it all."""
        return cls().setModel(SPARK_NLP_NAMES.get(name, name))

    def setInputCols(self, *names: str | list[str]) -> Any:
        """Spark NLP's setter, for code moving over: one column is the text column; Spark NLP's
        document/sentence/token columns are refused, as albert reads the raw text itself."""
        flat = [name for item in names for name in ([item] if isinstance(item, str) else item)]
        if len(flat) != 1:
            raise OptionError(
                f"{type(self).__name__} reads one raw text column and finds sentences and tokens itself: "
                f"setInputCol('text') instead of Spark NLP's annotation columns {flat}"
            )
        return self.setInputCol(flat[0])

    def setResourceProfile(self, profile: Any) -> Any:
        """Run this stage's tasks under a stage-level ``pyspark.resource.ResourceProfile`` (e.g. one
        GPU and four cores a task, while the rest of the job keeps the application's resources).
        Needs pyspark >= 4.0 and a cluster manager with stage-level scheduling (standalone, YARN,
        Kubernetes). Not a Param: a saved pipeline does not keep it."""
        self._resource_profile = profile
        return self

    def _spec(self, **fields: Any) -> WorkerSpec:
        from ..devices import resolve_dtype
        from ..precision import check_dtype_for, check_precision

        model = self.getModel()
        if model is None:
            raise OptionError(f"{type(self).__name__} needs a model: setModel('path/to/fine-tuned-folder')")
        resolve_dtype(self.getDtype())  # a wrong name fails here, not in the first task
        precision = check_precision(self.getPrecision(), "precision")
        # Reduced precision picks the dtype, unless one was set in so many words (then both are checked).
        dtype = self.getDtype() if precision == "exact" or self.isSet(self.dtype) else "auto"
        check_dtype_for(precision, dtype)
        if self.getDevice() != "auto":
            import torch

            try:
                torch.device(self.getDevice())
            except RuntimeError:
                raise OptionError(
                    f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.getDevice()!r}"
                ) from None
        folder = Path(model).expanduser()
        if folder.is_dir():  # executors may run elsewhere: a local folder by its absolute path
            model = str(folder.resolve())
        if self.getBatchSize() < 1:
            raise OptionError(f"batchSize must be at least 1, got {self.getBatchSize()}")
        return WorkerSpec(
            task=self.task, model=model, device=self.getDevice(), dtype=dtype, precision=precision,
            batch_size=self.getBatchSize(), input_col=self.getInputCol(), output_col=self.getOutputCol(),
            allow_untrained_head=bool(self.getAllowUntrainedHead()), **fields,
        )  # fmt: skip

    def _config(self, model: str, head: str | None = None) -> Any:
        """The model's config, read on the driver (the model exists before a job starts).

        Raises:
            UntrainedHeadError: ``head`` given and the checkpoint was saved from another class: its
                task head would be random, and different on every worker (unless
                ``allowUntrainedHead``). The workers refuse a folder that names the head but lacks
                its weights.
        """
        from ..config import AlbertConfig
        from ..errors import UntrainedHeadError

        config = AlbertConfig.from_pretrained(model)
        architectures = config.extra.get("architectures") or []
        if head is not None and architectures and head not in architectures and not self.getAllowUntrainedHead():
            raise UntrainedHeadError(
                f"{model} holds a {architectures[0]}, not a fine-tuned {head}: its {self.task} head would "
                f"be random (and differ from worker to worker). Fine-tune one first (albert finetune --task "
                f"{self.task} --model {model} --train TRAIN_FILE --out RUN) and setModel('RUN/best'), or "
                "setAllowUntrainedHead(True) to run the random head anyway"
            )
        return config

    def worker_spec(self) -> WorkerSpec:
        """The checked settings the executors receive (subclasses add their task's options)."""
        return self._spec()

    def _transform(self, dataset: DataFrame) -> DataFrame:
        spec = self.worker_spec()
        check_text_column(dataset.schema, spec.input_col)
        if spec.pair_col is not None:
            check_text_column(dataset.schema, spec.pair_col, "pairCol")
        if spec.output_col in dataset.columns:
            raise OptionError(
                f"outputCol {spec.output_col!r} is already a column of this DataFrame: choose another name"
            )
        # Spark NLP's stages find their input columns by this metadata (its annotators write it with
        # col.as(name, metadata)); mapInArrow keeps a declared field's metadata and nullability,
        # in a classic session and over Spark Connect alike
        output = T.StructField(spec.output_col, ANNOTATIONS, metadata={"annotatorType": spec.annotator_type})
        schema = T.StructType([*dataset.schema.fields, output])
        profile = getattr(self, "_resource_profile", None)
        extra = {"profile": profile} if profile is not None else {}  # pyspark 3.5 has no profile argument
        return dataset.mapInArrow(functools.partial(annotate_batches, spec=spec), schema, **extra)


class AlbertEmbeddings(_AlbertAnnotator):
    """Vectors for the words (tokens), pieces, sentences or documents of a text column.

    Spark NLP's ``AlbertEmbeddings`` without its limits: every word of every sentence has a vector
    (a sentence longer than ``maxSentenceLength`` is embedded in overlapping windows and
    stitched, never cut), a word's vector pools all its pieces (``wordPooling``), and padding
    never changes a vector (the same text gives the same vectors in any batch or partition).
    The output column holds annotations: ``word_embeddings`` (levels token/word and piece; the
    metadata has sentence, token, pieceId, isWordStart and word) or ``sentence_embeddings``.

    >>> embeddings = AlbertEmbeddings(inputCol="text", outputCol="embeddings", level="sentence")
    >>> embeddings.transform(df).select("embeddings.embeddings")
    """

    task = "embeddings"

    level = _param(
        "level", "token (or word), piece, sentence, document or text (each row one input, cut to "
        "maxSentenceLength, as sentence-transformers encodes; the default for a sentence-embedding folder)",
    )  # fmt: skip
    wordPooling = _param("wordPooling", "a word's vector from its pieces: first, mean or last")
    sentencePooling = _param("sentencePooling", "a sentence's (document's) vector: mean, max or cls")
    layer = _param(
        "layer", "'last', or a hidden-state index (0 = the embedding output, -1 = the last layer)", _text_or_number
    )
    maxSentenceLength = _param(
        "maxSentenceLength", "the window, [CLS] and [SEP] included (default: the model's); longer "
        "sentences are windowed and stitched", TypeConverters.toInt,
    )  # fmt: skip
    caseSensitive = _param(
        "caseSensitive", "keep capitals (only for a cased vocabulary); default: the tokenizer's own "
        "setting (lowercase for every released ALBERT)", TypeConverters.toBoolean,
    )  # fmt: skip
    splitSentences = _param(
        "splitSentences", "embed each sentence on its own (default), as Spark NLP's SentenceDetector does",
        TypeConverters.toBoolean,
    )  # fmt: skip
    normalize = _param(
        "normalize", "scale sentence, document and text vectors to length 1 (default: a sentence-embedding "
        "folder's own setting, else no)", TypeConverters.toBoolean,
    )  # fmt: skip
    dimension = _param(
        "dimension", "keep the first d values of sentence, document and text vectors, a Matryoshka prefix "
        "(default: a sentence-embedding folder's own, else all)", TypeConverters.toInt,
    )  # fmt: skip

    setLevel = _setter("level")
    setWordPooling = _setter("wordPooling")
    setSentencePooling = _setter("sentencePooling")
    setLayer = _setter("layer")
    setMaxSentenceLength = _setter("maxSentenceLength")
    setCaseSensitive = _setter("caseSensitive")
    setSplitSentences = _setter("splitSentences")
    setNormalize = _setter("normalize")
    setDimension = _setter("dimension")
    getLevel = _getter("level")
    getWordPooling = _getter("wordPooling")
    getSentencePooling = _getter("sentencePooling")
    getLayer = _getter("layer")
    getMaxSentenceLength = _getter("maxSentenceLength")
    getCaseSensitive = _getter("caseSensitive")
    getSplitSentences = _getter("splitSentences")
    getNormalize = _getter("normalize")
    getDimension = _getter("dimension")

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "text",
        outputCol: str = "embeddings",
        level: str = "token",
        wordPooling: str = "mean",
        sentencePooling: str = "mean",
        layer: str = "last",
        maxSentenceLength: int | None = None,
        caseSensitive: bool | None = None,
        splitSentences: bool = True,
        normalize: bool | None = None,
        dimension: int | None = None,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        dtype: str = "float32",
        precision: str = "exact",
        batchSize: int = 32,
    ) -> None:
        super().__init__()
        self._setDefault(
            model=DEFAULT_MODEL, outputCol="embeddings", level="token", wordPooling="mean", sentencePooling="mean", layer="last",
            splitSentences=True,
        )  # fmt: skip
        set_given_params(self)

    def worker_spec(self) -> WorkerSpec:
        from ..pipelines.options import EmbeddingOptions

        spec = self._spec(case_sensitive=self.getCaseSensitive())
        # A sentence-embedding folder's saved settings are the defaults of the Params not set.
        found = read_sentence_folder(spec.model) if Path(spec.model).is_dir() else None
        config = self._config(str(found.transformer) if found is not None else spec.model)
        params = {
            "level": self.level, "word_pooling": self.wordPooling, "sentence_pooling": self.sentencePooling,
            "layer": self.layer, "split_sentences": self.splitSentences, "max_length": self.maxSentenceLength,
            "normalize": self.normalize, "dimension": self.dimension,
        }  # fmt: skip
        chosen = {option: self.getOrDefault(param) for option, param in params.items() if self.isSet(param)}
        defaults = EmbeddingOptions.from_sentence_config(found.config if found is not None else None)
        try:
            options = defaults.changed(chosen).for_model(
                config.num_hidden_layers, config.max_position_embeddings, config.hidden_size
            )
        except ValueError as error:
            raise _with_param_names(error) from None
        if spec.case_sensitive:
            tokenizer_with_case(spec.model, True)  # refuses a lowercase vocabulary, here on the driver
        # the Stage's Params only: the worker asks for records itself, and mean_last/stride keep their defaults
        return replace(spec, options=tuple(sorted((name, getattr(options, name)) for name in params)))


class AlbertClassifier(_AlbertAnnotator):
    """Label scores for each row's text (or text pair, with ``pairCol``) from a fine-tuned
    ``AlbertForSequenceClassification`` folder: one ``category`` annotation per row, the best label
    as ``result`` and every label's score in its metadata, as Spark NLP's classifiers write them.
    A text (or pair) longer than the model's window is truncated, longest part first, as the
    pipeline does; the executor's log gets a warning that names each such row by its partition
    and index there (``partition 3, rows[12]``, from 0) and the start of its text."""

    task = "text-classification"

    pairCol = _param("pairCol", "a second text column, for models fine-tuned on pairs (default: none)")
    functionToApply = _param("functionToApply", "softmax, sigmoid or none (default: from the model's problem_type)")

    setPairCol = _setter("pairCol")
    setFunctionToApply = _setter("functionToApply")
    getPairCol = _getter("pairCol")
    getFunctionToApply = _getter("functionToApply")

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "text",
        outputCol: str = "class",
        pairCol: str | None = None,
        functionToApply: str | None = None,
        model: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        precision: str = "exact",
        batchSize: int = 32,
        allowUntrainedHead: bool = False,
    ) -> None:
        super().__init__()
        self._setDefault(outputCol="class")
        set_given_params(self)

    def worker_spec(self) -> WorkerSpec:
        from ..pipelines.text_classification import FUNCTIONS

        function = self.getFunctionToApply()
        if function is not None and function not in FUNCTIONS:
            raise OptionError(f"functionToApply must be one of {', '.join(FUNCTIONS)}, got {function!r}")
        spec = self._spec(pair_col=self.getPairCol())
        self._config(spec.model, head="AlbertForSequenceClassification")
        options = {"function_to_apply": function} if function is not None else {}
        return replace(spec, options=tuple(options.items()))


class AlbertTokenClassifier(_AlbertAnnotator):
    """Entities with their spans from a fine-tuned ``AlbertForTokenClassification`` folder: Spark
    NLP's ``chunk`` annotations (result the entity's text; metadata entity, confidence, chunk), or
    with ``aggregationStrategy="none"`` each piece's ``named_entity`` tag."""

    task = "token-classification"

    aggregationStrategy = _param("aggregationStrategy", "none, simple (default), first, average or max")
    ignoreLabels = _param("ignoreLabels", "labels left out (default: ['O'])", TypeConverters.toListString)

    setAggregationStrategy = _setter("aggregationStrategy")
    setIgnoreLabels = _setter("ignoreLabels")
    getAggregationStrategy = _getter("aggregationStrategy")
    getIgnoreLabels = _getter("ignoreLabels")

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "text",
        outputCol: str = "entities",
        aggregationStrategy: str = "simple",
        ignoreLabels: list[str] | None = None,
        model: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        precision: str = "exact",
        batchSize: int = 32,
        allowUntrainedHead: bool = False,
    ) -> None:
        super().__init__()
        self._setDefault(outputCol="entities", aggregationStrategy="simple", ignoreLabels=["O"])
        set_given_params(self)

    def worker_spec(self) -> WorkerSpec:
        from ..pipelines.token_classification import STRATEGIES

        strategy = self.getAggregationStrategy().lower()
        if strategy not in STRATEGIES:
            raise OptionError(f"aggregationStrategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        spec = self._spec()
        self._config(spec.model, head="AlbertForTokenClassification")
        options = {"aggregation_strategy": strategy, "ignore_labels": tuple(self.getIgnoreLabels())}
        return replace(spec, options=tuple(options.items()))
