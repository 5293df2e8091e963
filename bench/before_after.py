"""Did a change cost speed? One benchmark script, run on an earlier commit's library and on the
working tree's, alternately, in one run on one machine; the figures side by side.

The measuring code is the same for both sides (this tree's ``bench/`` script); only the
``albert`` package it imports differs: the earlier commit's ``src/`` is extracted with
``git archive`` into a temporary folder and put first on ``PYTHONPATH``. Rounds alternate
(before, after, before, after, ...) so that a drift of the machine's load hits both sides.

    python bench/before_after.py --base aaeb4f3 -- cpu_inference.py --shapes small --threads 1
    python bench/before_after.py --base aaeb4f3 --after HEAD --rounds 2 -- embed_100k.py --device cpu --count 1000

Every numeric figure whose name says it is a rate (``_per_s``) or a time (``_ms``, ``seconds``)
is reported as the median over rounds for each side, with after/before (for a rate, > 1 is
faster; for a time, < 1 is faster). Results: ``bench/results/before_after-<script>-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def extract_source(revision: str, into: Path) -> Path:
    """The ``src/`` folder of ``revision``, written under ``into``; returns that ``src`` path."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "source.tar"
    with open(archive, "wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"], stdout=handle, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def figures(payload: object, prefix: str = "") -> dict[str, float]:
    """Every rate or time in a results file, by its path of keys."""
    found: dict[str, float] = {}
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key == "environment":
                continue
            found.update(figures(value, f"{prefix}/{key}" if prefix else str(key)))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            label = value.get("shape", index) if isinstance(value, dict) else index
            found.update(figures(value, f"{prefix}/{label}"))
    elif isinstance(payload, (int, float)) and not isinstance(payload, bool):
        leaf = prefix.rsplit("/", 1)[-1]
        if leaf.endswith(("_per_s", "_ms")) or leaf == "seconds":
            found[prefix] = float(payload)
    return found


def run_side(script: str, arguments: list[str], source: Path, name: str) -> dict[str, float]:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, str(ROOT / "bench" / script), *arguments, "--name", name]
    subprocess.run(command, cwd=ROOT, env=environment, check=True)
    path = RESULTS / f"{name}.json"
    payload = json.loads(path.read_text(encoding="utf-8"))
    path.unlink()  # one round's file; the comparison below keeps every round's figures
    for png in RESULTS.glob(f"{name}*.png"):
        png.unlink()
    return figures(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--after", default=None,
                        help="the later commit (default: the working tree as it is, uncommitted changes included)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--name", default=None, help="results file name (default: from the script and the base)")
    parser.add_argument("script", help="a script in bench/, e.g. cpu_inference.py")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="its arguments, after --")
    args = parser.parse_args()
    arguments = [a for a in args.arguments if a != "--"]
    base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
                          capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.after or "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dirty = args.after is None and bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                                                       capture_output=True, text=True, check=True).stdout.strip())
    stem = Path(args.script).stem
    rounds: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"before": extract_source(base, Path(scratch) / "before")}
        sources["after"] = extract_source(args.after, Path(scratch) / "after") if args.after else ROOT / "src"
        for round_index in range(args.rounds):
            for side in ("before", "after"):
                print(f"== round {round_index + 1}/{args.rounds}: {side} ==", flush=True)
                rounds[side].append(run_side(args.script, arguments, sources[side], f"_before_after_{side}"))
    comparison = {}
    for key in sorted(set(rounds["before"][0]) & set(rounds["after"][0])):
        before = statistics.median(r[key] for r in rounds["before"] if key in r)
        after = statistics.median(r[key] for r in rounds["after"] if key in r)
        comparison[key] = {"before": before, "after": after, "after_over_before": after / before if before else None}
    results = {
        "environment": common.environment(torch.device("cpu")),
        "script": args.script, "arguments": arguments, "rounds": args.rounds,
        "before": base, "after": f"{head}{' + uncommitted changes' if dirty else ''}",
        "median_by_side": comparison,
        "every_round": rounds,
    }
    name = args.name or f"before_after-{stem}-{common.device_tag(torch.device('cpu'))}-{base}"
    common.write_results(name, results)
    width = max((len(key) for key in comparison), default=10)
    print(f"\n{'figure':<{width}}  {'before':>12}  {'after':>12}  after/before")
    for key, row in comparison.items():
        ratio = row["after_over_before"]
        print(f"{key:<{width}}  {row['before']:>12.4g}  {row['after']:>12.4g}  {ratio:.3f}" if ratio else key)


if __name__ == "__main__":
    main()
