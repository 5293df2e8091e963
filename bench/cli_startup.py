"""How long ``albert`` takes to answer before it does any work: ``--help``, a command's ``--help``,
and an error in parsing the arguments. None of them should import torch.

Each case runs ``python -m albert.cli ARGS`` in a fresh process, ``--runs`` times, interleaved
with the same run's reference ``python -c pass`` (the interpreter's own start-up), so a busy
machine slows both alike; the table gives the median and the fastest run of each, the median
minus the reference's, the median CPU time (user + system: steadier than the wall clock when
others share the cores), and whether torch was imported (one extra run under ``-X importtime``).

    python bench/cli_startup.py                       # this checkout
    python bench/cli_startup.py --src /tmp/before/src # another tree (e.g. git archive of an older commit)
    python bench/cli_startup.py --json bench/results/cli_startup.json

A script, not a test: tests/cli/test_cli_startup.py asserts what must hold (no torch), never a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "albert --help": ["--help"],
    "albert info --help": ["info", "--help"],
    "albert fill-mask --help": ["fill-mask", "--help"],
    "albert pretrain --help": ["pretrain", "--help"],
    "parse error (fill-mask --top-k x)": ["fill-mask", "--top-k", "x"],
}
REFERENCE = "python -c pass"


def command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "albert.cli", *args] if args else [sys.executable, "-c", "pass"]


def run_once(args: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds, and the CPU seconds (user + system) of the child: the CPU time hardly
    moves when other processes share the cores, the wall-clock time is what a user waits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command(args), env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports_torch(args: list[str], environment: dict[str, str]) -> bool:
    finished = subprocess.run([sys.executable, "-X", "importtime", *command(args)[1:]], env=environment,
                              capture_output=True, text=True, check=False)  # fmt: skip
    return any(line.split("|")[-1].strip() == "torch" for line in finished.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="Runs of each case (odd: a true median).")
    parser.add_argument("--src", type=Path, help="Run the albert found in this source folder (PYTHONPATH).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    options = parser.parse_args()

    environment = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    if options.src is not None:
        environment["PYTHONPATH"] = str(options.src.resolve())
    cases = {REFERENCE: [], **CASES}
    for args in cases.values():  # warm the file cache and the .pyc files
        run_once(args, environment)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(options.runs):  # interleaved: a busy moment slows every case alike
        for name, args in cases.items():
            times[name].append(run_once(args, environment))

    reference = statistics.median(wall for wall, _ in times[REFERENCE])
    rows = []
    for name, args in cases.items():
        walls, cpus = [wall for wall, _ in times[name]], [cpu for _, cpu in times[name]]
        rows.append({
            "case": name, "median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "over_reference_s": round(statistics.median(walls) - reference, 3),
            "cpu_median_s": round(statistics.median(cpus), 3),
            "imports_torch": None if name == REFERENCE else imports_torch(args, environment),
        })  # fmt: skip
    source = str(options.src) if options.src else "this checkout"
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores (load {load:.1f}), Python {platform.python_version()}, {options.runs} runs, {source}")
    print("| case | median s | fastest s | median - `python -c pass` s | CPU s (median) | imports torch |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        torch_shown = "" if row["imports_torch"] is None else ("yes" if row["imports_torch"] else "no")
        print(f"| `{row['case']}` | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['over_reference_s']:.3f} "
              f"| {row['cpu_median_s']:.3f} | {torch_shown} |")
    if options.json is not None:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps({"cores": os.cpu_count(), "load": load, "python": platform.python_version(),
                                            "runs": options.runs, "source": source, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
