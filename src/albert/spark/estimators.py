"""Fine-tuning as ``pyspark.ml`` Estimators: ``AlbertClassifierEstimator`` and ``AlbertTokenClassifierEstimator``.

``fit(df)`` writes the DataFrame's training columns as Parquet into the run folder
(``outputModelPath/data``, by Spark, from the executors), fine-tunes on it with albert's own loop
on ``numProcesses`` processes under ``TorchDistributor`` (:mod:`albert.spark.training_job`), and
returns the existing Transformer (``AlbertClassifier`` / ``AlbertTokenClassifier``) on the
trained folder ``outputModelPath/best``. So ``Pipeline([..., estimator]).fit(train)`` and
``PipelineModel.save/load`` work as for any Spark ML stage.

The training settings are :class:`~albert.training.finetuning.settings.FinetuneSettings`,
declared once: each of its fields is a Param here in Spark's camelCase (``batch_size`` ->
``batchSize``), with its default and help.

Every process reads the whole (staged) training set and trains on its equal part of every
global batch: the batches one process would train, in the same order. So N processes give the
weights one process gives (up to float summation order), and ``batchSize`` is the global batch.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from pathlib import Path
from typing import Any, ClassVar

from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.param import TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..errors import InputTypeError, OptionError
from ..options import field_types
from ..training.finetuning.readers import ReadOptions
from ..training.finetuning.settings import FinetuneSettings
from .annotations import require_column
from .annotators import (
    DEFAULT_MODEL,
    AlbertClassifier,
    AlbertTokenClassifier,
    _getter,
    _param,
    _setter,
    check_text_column,
    set_given_params,
)

logger = logging.getLogger("albert")

#: The settings a Spark user sets as Params (the others are the job's: task, device, threads,
#: progress, how files are read, and the question-answering ones).
SETTINGS_PARAMS = (
    "epochs", "learning_rate", "batch_size", "eval_batch_size", "max_length", "warmup_ratio", "weight_decay",
    "max_grad_norm", "accumulation_steps", "layerwise_lr_decay", "dropout", "seed", "metric", "patience", "eval_every",
    "checkpoint_every", "keep_checkpoints", "log_every", "max_train_examples", "max_dev_examples", "bf16", "fast",
)  # fmt: skip
#: Where fit() stages the training columns in the run folder.
DATA_DIR = "data"


def camel_case(name: str) -> str:
    """A settings field's Param name: ``learning_rate`` -> ``learningRate``."""
    first, *rest = name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def _converter(hint: Any) -> Any:
    members = [member for member in typing.get_args(hint) if member is not type(None)] or [hint]
    kind = members[0]
    return {int: TypeConverters.toInt, float: TypeConverters.toFloat, bool: TypeConverters.toBoolean}.get(
        kind, TypeConverters.toString
    )


def with_settings_params(cls: type) -> type:
    """Add one Param (with its setter and getter) per :data:`SETTINGS_PARAMS` field of
    ``FinetuneSettings`` to an Estimator class: the field's name in camelCase, its help, its type."""
    fields = {item.name: item for item in dataclasses.fields(FinetuneSettings)}
    hints = field_types(FinetuneSettings)
    for name in SETTINGS_PARAMS:
        param = camel_case(name)
        help_text = fields[name].metadata.get("help") or name.replace("_", " ")
        setattr(cls, param, _param(param, help_text, _converter(hints[name])))
        setattr(cls, f"set{param[0].upper()}{param[1:]}", _setter(param))
        setattr(cls, f"get{param[0].upper()}{param[1:]}", _getter(param))
    return cls


def _settings_defaults() -> dict[str, Any]:
    """The Params' defaults: the settings' own (unset where the default is None)."""
    defaults = {}
    for item in dataclasses.fields(FinetuneSettings):
        if item.name in SETTINGS_PARAMS and item.default is not dataclasses.MISSING and item.default is not None:
            defaults[camel_case(item.name)] = item.default
    return defaults


class _AlbertEstimator(Estimator[Any], DefaultParamsReadable[Any], DefaultParamsWritable):
    """What both Estimators share: the model to start from, where the run goes, the processes."""

    #: The albert task trained (``text-classification``, ``regression``, ``token-classification``).
    task: ClassVar[str]

    model = _param("model", "the model to fine-tune: a folder, a shipped model's name or a Hub id")
    outputModelPath = _param(
        "outputModelPath", "the run folder (checkpoints, metrics, and the trained model in best/); on a "
        "cluster, a path every executor and the driver can reach",
    )  # fmt: skip
    inputCol = _param("inputCol", "the input column")
    labelCol = _param("labelCol", "the label column")
    outputCol = _param("outputCol", "the output column of the trained model's Transformer")
    numProcesses = _param("numProcesses", "training processes (DDP); batchSize is the global batch", TypeConverters.toInt)
    useGpu = _param("useGpu", "one GPU per process (NCCL); default False: CPUs (gloo)", TypeConverters.toBoolean)
    localMode = _param(
        "localMode", "run the processes on the driver (default True), or False: on the executors, one "
        "barrier task each", TypeConverters.toBoolean,
    )  # fmt: skip
    validationIndicatorCol = _param(
        "validationIndicatorCol", "a boolean column: true rows are the dev set (evaluated, and picking the "
        "best model), false rows the training set; default: no dev set, the last model is kept",
    )  # fmt: skip
    resume = _param("resume", "continue the run in outputModelPath from its last checkpoint", TypeConverters.toBoolean)

    setModel = _setter("model")
    setOutputModelPath = _setter("outputModelPath")
    setInputCol = _setter("inputCol")
    setLabelCol = _setter("labelCol")
    setOutputCol = _setter("outputCol")
    setNumProcesses = _setter("numProcesses")
    setUseGpu = _setter("useGpu")
    setLocalMode = _setter("localMode")
    setValidationIndicatorCol = _setter("validationIndicatorCol")
    setResume = _setter("resume")
    getModel = _getter("model")
    getOutputModelPath = _getter("outputModelPath")
    getInputCol = _getter("inputCol")
    getLabelCol = _getter("labelCol")
    getOutputCol = _getter("outputCol")
    getNumProcesses = _getter("numProcesses")
    getUseGpu = _getter("useGpu")
    getLocalMode = _getter("localMode")
    getValidationIndicatorCol = _getter("validationIndicatorCol")
    getResume = _getter("resume")

    def __init__(self) -> None:
        super().__init__()
        self._dev: DataFrame | None = None
        self._setDefault(model=DEFAULT_MODEL, labelCol="label", numProcesses=1, useGpu=False, localMode=True,
                         resume=False, **_settings_defaults())

    def _given(self) -> None:
        """Set a keyword constructor's Params, refusing names that are not Params."""
        given: dict[str, Any] = self._input_kwargs  # type: ignore[attr-defined]
        unknown = sorted(name for name in given if not self.hasParam(name))
        if unknown:
            raise OptionError(
                f"{type(self).__name__} has no Param {', '.join(map(repr, unknown))}; its Params are: "
                f"{', '.join(sorted(param.name for param in self.params))}"
            )
        set_given_params(self)

    def setDevDataset(self, dataset: DataFrame | None) -> Any:
        """Evaluate on ``dataset`` (same columns as the training DataFrame) and keep the best model
        on it. Not a Param: a saved pipeline does not keep it (``validationIndicatorCol`` is kept)."""
        self._dev = dataset
        return self

    # -- fit --------------------------------------------------------------------------------------

    def settings(self) -> FinetuneSettings:
        """The fine-tuning settings of the Params, checked (on the driver, before any job)."""
        values = {name: self.getOrDefault(camel_case(name)) for name in SETTINGS_PARAMS
                  if self.isDefined(camel_case(name))}
        try:
            return FinetuneSettings(task=self._task_name(), progress=False, read_options=self._read_options(),
                                    **values)
        except (OptionError, InputTypeError) as error:
            raise type(error)(_param_names(str(error))) from None

    def _fit(self, dataset: DataFrame) -> Any:
        from .training_job import run_finetune

        out = self.getOutputModelPath()
        if not out:
            raise OptionError(f"{type(self).__name__} needs outputModelPath: the run folder, e.g. "
                              "setOutputModelPath('/shared/runs/sst2')")
        settings = self.settings()
        model = _model_reference(self.getModel())
        train, dev = self._split(dataset)
        run_dir = Path(out).expanduser().resolve()
        train_path, dev_path = self._stage(train, run_dir / DATA_DIR / "train"), None
        if dev is not None:
            dev_path = self._stage(dev, run_dir / DATA_DIR / "dev")
        result = run_finetune(model, train_path, dev_path, run_dir, settings,
                              num_processes=self.getNumProcesses(), use_gpu=bool(self.getUseGpu()),
                              local_mode=bool(self.getLocalMode()), resume=bool(self.getResume()))
        if result.best_metrics:
            shown = ", ".join(f"{name} {value:.4f}" for name, value in sorted(result.best_metrics.items()))
            logger.info("%s: dev %s (step %s); the model is in %s", type(self).__name__, shown, result.best_step,
                        result.best_model)
        stage = self._trained_stage(str(result.best_model))
        stage.trainingSummary = result.summary
        return stage

    def _split(self, dataset: DataFrame) -> tuple[DataFrame, DataFrame | None]:
        """The training and dev rows: ``validationIndicatorCol``'s split, or ``setDevDataset``'s."""
        indicator = self.getValidationIndicatorCol()
        if indicator is None:
            return dataset, self._dev
        data_type = require_column(dataset.schema, indicator, "validationIndicatorCol")
        if not isinstance(data_type, T.BooleanType):
            raise InputTypeError(
                f"validationIndicatorCol {indicator!r} is a {data_type.simpleString()} column, not a boolean one"
            )
        if self._dev is not None:
            raise OptionError("give the dev set once: validationIndicatorCol or setDevDataset, not both")
        flag = F.coalesce(F.col(indicator), F.lit(False))
        return dataset.filter(~flag), dataset.filter(flag)

    def _stage(self, dataset: DataFrame, folder: Path) -> Path:
        """Write the columns training reads (named as the reader expects) as Parquet parts."""
        columns = self._training_columns(dataset)
        dataset.select(*columns).write.mode("overwrite").parquet(str(folder))
        return folder

    # -- per task -----------------------------------------------------------------------------------

    def _task_name(self) -> str:
        return self.task

    def _read_options(self) -> ReadOptions:
        raise NotImplementedError

    def _training_columns(self, dataset: DataFrame) -> list[Any]:
        raise NotImplementedError

    def _trained_stage(self, folder: str) -> Any:
        raise NotImplementedError


@with_settings_params
class AlbertClassifierEstimator(_AlbertEstimator):
    """Fine-tune a sequence classifier (or, with ``regression=True``, a regressor) on a text column
    (and a second text column, ``pairCol``, for pairs) and a label column; ``fit`` returns an
    :class:`~albert.spark.AlbertClassifier` on the trained model.

    Labels may be strings, whole numbers or booleans; they become the model's ``id2label`` (saved
    in the folder) and the Transformer's ``result``. For regression the label column holds numbers.

    >>> estimator = AlbertClassifierEstimator(inputCol="sentence", labelCol="label", epochs=2,
    ...                                       outputModelPath="/shared/runs/sst2", numProcesses=2)
    >>> classifier = estimator.fit(train)          # an AlbertClassifier
    >>> classifier.transform(test).select("class.result")
    """

    task = "text-classification"

    pairCol = _param("pairCol", "a second text column, for text pairs (default: none)")
    regression = _param("regression", "train a regressor on a numeric label column (default False)",
                        TypeConverters.toBoolean)
    setPairCol = _setter("pairCol")
    setRegression = _setter("regression")
    getPairCol = _getter("pairCol")
    getRegression = _getter("regression")

    @keyword_only
    def __init__(self, **params: Any) -> None:
        """Params by keyword (every Param of the class; see ``explainParams()``)."""
        super().__init__()
        self._setDefault(inputCol="text", outputCol="class", regression=False)
        self._given()

    def _task_name(self) -> str:
        return "regression" if self.getRegression() else "text-classification"

    def _read_options(self) -> ReadOptions:
        return ReadOptions(text_column="text", pair_column="text_pair" if self.getPairCol() else None,
                           label_column="label")

    def _training_columns(self, dataset: DataFrame) -> list[Any]:
        check_text_column(dataset.schema, self.getInputCol())
        columns = [F.col(self.getInputCol()).alias("text")]
        if self.getPairCol():
            check_text_column(dataset.schema, self.getPairCol(), "pairCol")
            columns.append(F.col(self.getPairCol()).alias("text_pair"))
        label = self.getLabelCol()
        data_type = require_column(dataset.schema, label, "labelCol")
        if self.getRegression():
            if not isinstance(data_type, T.NumericType):
                raise InputTypeError(f"labelCol {label!r} is a {data_type.simpleString()} column: a regressor "
                                     "learns numbers")
            columns.append(F.col(label).cast("double").alias("label"))
        else:
            if not isinstance(data_type, (T.StringType, T.IntegralType, T.BooleanType, T.DoubleType, T.FloatType)):
                raise InputTypeError(f"labelCol {label!r} is a {data_type.simpleString()} column: labels are "
                                     "strings, whole numbers or booleans")
            columns.append(_label_text(F.col(label), data_type).alias("label"))
        return columns

    def _trained_stage(self, folder: str) -> AlbertClassifier:
        return AlbertClassifier(inputCol=self.getInputCol(), pairCol=self.getPairCol(),
                                outputCol=self.getOutputCol(), model=folder)


@with_settings_params
class AlbertTokenClassifierEstimator(_AlbertEstimator):
    """Fine-tune a token classifier (NER, POS ...) on a column of words and a column of their
    tags, one tag per word: arrays of strings, or Spark NLP's annotation columns as its CoNLL
    reader writes them (``token`` and ``label``: each annotation's ``result`` is read). ``fit``
    returns an :class:`~albert.spark.AlbertTokenClassifier` on the trained model, which reads raw
    text from ``textCol``.

    >>> estimator = AlbertTokenClassifierEstimator(inputCol="token", labelCol="label", textCol="text",
    ...                                            outputModelPath="/shared/runs/conll", epochs=3)
    >>> tagger = estimator.fit(CoNLL().readDataset(spark, "eng.train"))
    """

    task = "token-classification"

    textCol = _param("textCol", "the raw text column the trained Transformer reads (default 'text')")
    setTextCol = _setter("textCol")
    getTextCol = _getter("textCol")

    @keyword_only
    def __init__(self, **params: Any) -> None:
        """Params by keyword (every Param of the class; see ``explainParams()``)."""
        super().__init__()
        self._setDefault(inputCol="token", labelCol="label", textCol="text", outputCol="entities")
        self._given()

    def _read_options(self) -> ReadOptions:
        return ReadOptions(tag_column="tags")

    def _training_columns(self, dataset: DataFrame) -> list[Any]:
        return [_word_array(dataset.schema, self.getInputCol(), "inputCol").alias("words"),
                _word_array(dataset.schema, self.getLabelCol(), "labelCol").alias("tags")]

    def _trained_stage(self, folder: str) -> AlbertTokenClassifier:
        return AlbertTokenClassifier(inputCol=self.getTextCol(), outputCol=self.getOutputCol(), model=folder)


# -- helpers --------------------------------------------------------------------------------------


def _model_reference(model: str | None) -> str:
    """The model as the processes will find it: a local folder by its absolute path."""
    if not model:
        raise OptionError("setModel(...) the model to fine-tune: a folder, a shipped model's name or a Hub id")
    folder = Path(model).expanduser()
    return str(folder.resolve()) if folder.is_dir() else model


def _label_text(column: Any, data_type: T.DataType) -> Any:
    """Labels as the reader names them: whole numbers without ``.0``, booleans as true/false."""
    if isinstance(data_type, (T.DoubleType, T.FloatType)):
        return F.when(column == F.floor(column), column.cast("long").cast("string")).otherwise(column.cast("string"))
    return column.cast("string")


def _word_array(schema: T.StructType, name: str, param: str) -> Any:
    """An ``array<string>`` column, or the ``result`` of each annotation of a Spark NLP column."""
    data_type = require_column(schema, name, param)
    if isinstance(data_type, T.ArrayType):
        element = data_type.elementType
        if isinstance(element, T.StringType):
            return F.col(name)
        if isinstance(element, T.StructType) and "result" in element.names:
            return F.col(f"{name}.result")
    raise InputTypeError(
        f"{param} {name!r} is a {data_type.simpleString()} column: expected an array of strings (one per "
        "word) or Spark NLP annotations (e.g. the token and label columns of its CoNLL reader)"
    )


def _param_names(message: str) -> str:
    """A settings message in the Params' names (``batch_size`` -> ``batchSize``)."""
    for name in SETTINGS_PARAMS:
        message = message.replace(name, camel_case(name))
    return message


__all__ = ["AlbertClassifierEstimator", "AlbertTokenClassifierEstimator"]
