"""Checkpoints from elsewhere (``albert.convert``, marker ``tf``): Google's TF checkpoints in, KerasHub out.

Run alone: ``pytest tests/convert``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
