"""albert on Apache Spark: ALBERT embeddings and task pipelines as ``pyspark.ml`` stages, and
fine-tuning as ``pyspark.ml`` Estimators on Spark's TorchDistributor.

What Spark NLP's ``AlbertEmbeddings`` gives, from pure Python, with albert's exact tokenizer and
fast path, and without its limits (no token left without a vector, words pooled over all their
pieces, vectors independent of the batch). Needs the ``spark`` extra:
``pip install 'albert-lm[spark]'`` and Java 17.

>>> from albert.spark import AlbertEmbeddings, EmbeddingsFinisher, spark_session
>>> spark = spark_session("local[2]")
>>> df = spark.createDataFrame([("I love NLP",)], ["text"])
>>> AlbertEmbeddings.pretrained("albert-small-en").transform(df).select("embeddings.result").show()
"""

from __future__ import annotations

try:
    import pyspark  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "albert.spark needs pyspark (and Java 17): pip install 'albert-lm[spark]'"
    ) from error

from .annotations import ANNOTATION, ANNOTATIONS, Annotation
from .annotators import SPARK_NLP_NAMES, AlbertClassifier, AlbertEmbeddings, AlbertTokenClassifier
from .estimators import AlbertClassifierEstimator, AlbertTokenClassifierEstimator
from .finishers import EmbeddingsFinisher, explode_embeddings
from .session import spark_session, stage_lines

__all__ = [
    "ANNOTATION",
    "ANNOTATIONS",
    "SPARK_NLP_NAMES",
    "AlbertClassifier",
    "AlbertClassifierEstimator",
    "AlbertEmbeddings",
    "AlbertTokenClassifier",
    "AlbertTokenClassifierEstimator",
    "Annotation",
    "EmbeddingsFinisher",
    "explode_embeddings",
    "spark_session",
    "stage_lines",
]
