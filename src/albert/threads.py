"""How many threads torch computes with: chosen from the cores a process was given, never inherited.

torch starts one intra-op thread per logical CPU it sees, whatever share of the machine the
process was given. On a shared or busy machine, threads beyond the cores a process may use wait on
each other: a serving probe here saw one request take 10x longer with torch's default threads.
The service's model process, Spark's Python workers (``spark.task.cpus``) and the command line
therefore call :func:`use_threads` once at start-up, which caps the count at the physical cores
this process may run on and logs what it chose.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

from .errors import OptionError

logger = logging.getLogger("albert")
#: The last count logged for each caller.
_logged: dict[str, int] = {}


def usable_cpus() -> set[int]:
    """The logical CPUs this process may run on (its affinity mask; all of them where there is none)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


@cache
def _core_of(cpu: int) -> tuple[str, str] | None:
    """(package, core) of a logical CPU, as Linux's topology says (None where it does not)."""
    topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
    try:
        return (topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()
    except OSError:
        return None


def physical_cores() -> int:
    """The physical cores among the CPUs this process may run on (SMT siblings counted once)."""
    cpus = usable_cpus()
    cores = {_core_of(cpu) or ("cpu", str(cpu)) for cpu in cpus}
    return max(1, len(cores))


def choose_threads(given: int | None = None) -> int:
    """The intra-op thread count for ``given`` cores (None: every physical core this process may
    use), capped at the physical cores.

    Raises:
        OptionError: ``given`` is below 1.
    """
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 1):
        raise OptionError(f"threads must be a whole number of at least 1, got {given!r}")
    limit = physical_cores()
    return limit if given is None else min(given, limit)


def use_threads(
    given: int | None = None, who: str = "albert", *, respect_environment: bool = True, keep_fewer: bool = False
) -> int:
    """Set torch's intra-op threads from ``given`` cores (see :func:`choose_threads`) and log the
    choice at INFO; returns the count. With ``respect_environment`` and no ``given``, a count fixed
    by ``OMP_NUM_THREADS`` (set by the user, or by pyspark from ``spark.task.cpus``) is kept, capped
    at the physical cores. With ``keep_fewer`` and no ``given``, a count already set lower in this
    process is kept: a command run inside another program (a test, a notebook) must not raise the
    threads that program chose (raising them before a ``fork`` deadlocks OpenMP in the child).

    Raises:
        OptionError: ``given`` is below 1.
    """
    import torch

    source = "the cores given" if given is not None else "the physical cores this process may use"
    if given is None and respect_environment:
        fixed = os.environ.get("OMP_NUM_THREADS", "").strip()
        if fixed.isdigit() and int(fixed) > 0:
            given, source = int(fixed), "OMP_NUM_THREADS"
    threads = choose_threads(given)
    if keep_fewer and given is None:
        threads = min(threads, torch.get_num_threads())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if _logged.get(who) == threads:  # said once per caller (Spark asks at every batch)
        return threads
    _logged[who] = threads
    logger.info("%s: torch uses %d intra-op thread%s (from %s; %d physical core%s usable)", who, threads,
                "s" * (threads != 1), source, physical_cores(), "s" * (physical_cores() != 1))  # fmt: skip
    return threads
