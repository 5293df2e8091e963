"""The ``albert`` command (``albert.cli``): every command and option, bad values fuzzed, start-up without torch.

Run alone: ``pytest tests/cli``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
