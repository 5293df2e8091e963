"""The model and its files (``config``, ``modeling``, ``head_rules``, ``checkpoint``, ``hub``, ``devices``, the
shipped model): parity with transformers, config validation, hostile and damaged checkpoints, untrained heads.

Run alone: ``pytest tests/model``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
