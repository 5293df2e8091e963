"""One codec per task (``albert.codecs``): fine-tuning, the pipelines and the service encode alike, and pairs
are truncated as transformers does.

Run alone: ``pytest tests/codecs``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
