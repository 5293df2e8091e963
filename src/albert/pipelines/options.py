"""The pipelines' call options under their old import name: see :mod:`albert.pipeline_options`
(moved out of ``pipelines/`` so that ``albert --help`` can read them without loading a pipeline)."""

from __future__ import annotations

from ..pipeline_options import *  # noqa: F403
from ..pipeline_options import __all__ as __all__
