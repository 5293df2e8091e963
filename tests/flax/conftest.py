"""The Flax models (``albert.flax``, marker ``jax``): every head against torch on the same folder.

Run alone: ``pytest tests/flax``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
