"""The one trainer and what runs around it (``albert.training``: ``trainer``, ``loop``, run files, settings
and ``--settings`` files): exact resume after SIGKILL at every stage (``test_fault_injection.py``), the
run log and curves.

Run alone: ``pytest tests/training``."""
