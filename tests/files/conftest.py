"""How albert writes (``atomic_files``, ``output_lock``): all-or-nothing folder saves, full disks, one writer per
output folder, across saves, training runs and conversions.

Run alone: ``pytest tests/files``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
