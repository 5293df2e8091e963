"""The Spark stages (``albert.spark``, marker ``spark``: Java 17 and the ``spark`` extra): one local Spark for
the whole folder (the tests share one xdist group).

Run alone: ``pytest tests/spark``."""
