"""Threads are chosen from the cores a process was given, capped at the physical cores, and said."""

from __future__ import annotations

import logging

import pytest
import torch

from albert import threads as threads_module
from albert.errors import OptionError
from albert.threads import choose_threads, physical_cores, use_threads


def test_the_count_never_exceeds_the_physical_cores(monkeypatch):
    monkeypatch.setattr(threads_module, "physical_cores", lambda: 2)
    assert choose_threads(None) == 2
    assert choose_threads(1) == 1
    assert choose_threads(8) == 2
    for bad in (0, -1, True, 1.5):
        with pytest.raises(OptionError, match="threads"):
            choose_threads(bad)


def test_physical_cores_counts_the_cores_this_process_may_use():
    assert 1 <= physical_cores() <= len(threads_module.usable_cpus())


def test_use_threads_sets_torch_and_logs_the_choice_once(monkeypatch, caplog):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads_module, "physical_cores", lambda: 1)
    monkeypatch.setattr(threads_module, "_logged", {})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        with caplog.at_level(logging.INFO, logger="albert"):
            assert use_threads(4, "test caller") == 1
            assert use_threads(4, "test caller") == 1
        assert torch.get_num_threads() == 1
        lines = [record.getMessage() for record in caplog.records if "test caller" in record.getMessage()]
        assert len(lines) == 1 and "1 intra-op thread" in lines[0]
    finally:
        torch.set_num_threads(before)


def test_omp_num_threads_is_respected_when_no_count_is_given(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads_module, "physical_cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert use_threads(None, "env caller") == 1
        assert use_threads(None, "env caller", respect_environment=False) == 2
    finally:
        torch.set_num_threads(before)


def test_keep_fewer_keeps_a_lower_count_set_in_this_process(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads_module, "physical_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        torch.set_num_threads(1)
        assert use_threads(None, "host caller", keep_fewer=True) == 1  # the host's choice stands
        assert use_threads(None, "host caller") == 2
        assert use_threads(None, "host caller", keep_fewer=True) == 2  # never above the physical cores
    finally:
        torch.set_num_threads(before)
