"""The pipelines (``albert.pipelines``): each task against transformers' model on the same weights.

Run alone: ``pytest tests/pipelines``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
