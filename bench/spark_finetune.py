"""Fine-tuning throughput: ``albert finetune`` in one process against the Spark Estimator on 1 and
2 processes, training examples per second, with where the Spark call's time goes.

The same shipped model (``albert-small-en`` unless ``--model``), the same SST-2 training sentences
(``--examples`` of them, a seeded shuffle of ``sst2/train.tsv``), the same settings (one epoch,
global batch ``--batch-size``, ``--max-length``, seed), three ways in one run:

  (a) :func:`albert.training.finetuning.trainer.finetune` in this process, ``threads`` = all cores
      (and, as a reference, on 1 thread: two threads on a busy 2-core machine can run slower than one)
  (b) ``albert.spark.AlbertClassifierEstimator(numProcesses=1).fit(df)`` on Spark ``local[<cores>]``
  (c) the same with ``numProcesses=2`` (DDP over gloo; each process gets cores // 2 torch threads)

The Estimator's ``fit`` writes the DataFrame's columns as Parquet into its run folder, then
starts the processes under ``TorchDistributor`` (``torchrun``), each running (a)'s code. Per call:
its wall-clock time; the training loop's seconds (the run's ``metrics.json``); examples/s two
ways: **steady** (the ``metrics.jsonl`` windows after the first: the first holds the first
steps' one-off costs) and **loop** (examples / loop seconds); and the call split by the run
folder's file times: staging the Parquet (its ``_SUCCESS``), start-up to the loop (processes,
imports, model load, tokenizing: ``run.json``), the loop, saving the model (``metrics.json``) and
the rest (processes stopping, the result coming back). One SparkSession serves (b) and (c); its
start, and its first job (the same rows written to Parquet once, which starts Spark's Python
workers), are timed on their own, outside the fits. ``--rounds`` repeat the runs in turn (every
other round in reverse order); figures are medians.

Targets: 2 processes / 1 process steady examples/s >= 1.5x; Spark's overhead (Spark 1-process
wall - one-process wall) / one-process wall <= 15%.

For a cluster, printed and written as **estimates**, not measurements: the bytes DDP all-reduces
per step (trainable parameters x 4, fp32 gradients), for this model and, from configs (no
download), for the albert-base-v2 and BERT-base shapes; and N executors' throughput as
``rate x N x efficiency``, where ``rate`` is the best steady rate of one process here, one step computes for
``batch / rate`` seconds and a ring all-reduce takes ``2 (N-1) / N x bytes / bandwidth +
2 (N-1) x latency`` (``--bandwidth-gbit``, ``--latency-us``), not overlapped with the backward
pass (DDP does overlap it: a pessimistic bound).

    python bench/spark_finetune.py                                   # 512 examples, 1 round (~4.5 min on 2 busy cores)
    python bench/spark_finetune.py --examples 2000 --rounds 2        # the committed figures (~7 min on 2 quiet cores)

Writes ``bench/results/spark_finetune-cpu<cores>.json``, ``.png`` (examples/s) and ``-time.png``
(where each call's time goes); ``--name`` to change. Needs pyspark (the ``spark`` extra) and Java 17.
On a shared machine the runs follow one another, not interleaved within a run: noisy neighbours
move the ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from spark_embed import java_version  # noqa: E402

TARGET_SCALING = 1.5
TARGET_OVERHEAD = 0.15
#: Cluster sizes of the estimate.
EXECUTORS = (1, 2, 4, 8, 16, 32)
PHASES = ("staging Parquet", "start-up to the loop", "training loop", "saving the model", "the rest")


# -- data ---------------------------------------------------------------------------------------------

def sst2_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` (sentence, label) rows of SST-2's training set, a seeded shuffle."""
    common.require_shared_data()
    with open(common.SHARED_DATA / "sst2" / "train.tsv", encoding="utf-8", newline="") as file:
        rows = [(row["sentence"].strip(), row["label"].strip())
                for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)]
    rows = [row for row in rows if row[0]]
    random.Random(seed).shuffle(rows)
    if len(rows) < count:
        raise SystemExit(f"SST-2 has {len(rows)} training sentences, {count} asked for")
    return rows[:count]


def write_tsv(rows: list[tuple[str, str]], path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write("sentence\tlabel\n")
        file.writelines(f"{sentence}\t{label}\n" for sentence, label in rows)
    return path


# -- one call -----------------------------------------------------------------------------------------

def windows_of(run_dir: Path, batch_size: int, examples: int) -> list[dict[str, float]]:
    """The run's training log windows: steps, examples and seconds of each (global, all processes)."""
    windows, previous = [], 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("split") == "dev" or "examples_per_second" not in record:
            continue
        step = int(record["step"])
        count = min(step * batch_size, examples) - min(previous * batch_size, examples)
        windows.append({"step": step, "steps": step - previous, "examples": count, "loss": record["loss"],
                        "examples_per_s": record["examples_per_second"],
                        "seconds": count / record["examples_per_second"]})
        previous = step
    return windows


def measure(call: Callable[[], dict[str, Any]], run_dir: Path, batch_size: int, examples: int, staged: Path | None) -> dict[str, Any]:
    """Run ``call`` (a fine-tuning into ``run_dir``; returns the run's summary) and describe it."""
    started = time.time()
    clock = time.perf_counter()
    summary = call()
    wall = time.perf_counter() - clock
    ended = started + wall
    loop = float(summary["seconds"])
    windows = windows_of(run_dir, batch_size, examples)
    later = windows[1:] or windows
    steady = sum(w["examples"] for w in later) / sum(w["seconds"] for w in later)
    # Where the call's time went, from when the run folder's files were written.
    staged_at = started
    if staged is not None:
        marker = staged / "_SUCCESS"
        staged_at = marker.stat().st_mtime if marker.exists() else max(p.stat().st_mtime for p in staged.iterdir())
    loop_started = (run_dir / "run.json").stat().st_mtime
    saved = (run_dir / "metrics.json").stat().st_mtime
    phases = {
        "staging Parquet": staged_at - started,
        "start-up to the loop": loop_started - staged_at,
        "training loop": loop,
        "saving the model": saved - loop_started - loop,
        "the rest": ended - saved,
    }
    return {
        "wall_s": wall, "loop_s": loop, "steps": summary["steps"], "train_examples": summary["train_examples"],
        "examples_per_s_steady": steady, "examples_per_s_loop": examples / loop,
        "examples_per_s_wall": examples / wall, "phases_s": phases, "windows": windows,
        "final_window_loss": windows[-1]["loss"],
        "processes": summary.get("settings", {}).get("processes", 1),
    }


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall_s", "loop_s", "examples_per_s_steady", "examples_per_s_loop", "examples_per_s_wall")
    figures: dict[str, Any] = {key: statistics.median(run[key] for run in rounds) for key in keys}
    figures["phases_s"] = {phase: statistics.median(run["phases_s"][phase] for run in rounds) for phase in PHASES}
    return figures


# -- parameters and the cluster estimate -----------------------------------------------------------------

def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def shape_parameters() -> dict[str, dict[str, Any]]:
    """Trainable parameters of a 2-label classifier of the albert-base-v2 and BERT-base shapes,
    built from their configs on the meta device (nothing downloaded, nothing allocated)."""
    os.environ.setdefault("USE_TF", "0")  # transformers would import TensorFlow where it is installed
    import transformers

    from albert import AlbertForSequenceClassification

    with torch.device("meta"):
        albert_base = AlbertForSequenceClassification(common.shape_config("base", num_labels=2))
        bert_base = transformers.BertForSequenceClassification(transformers.BertConfig(num_labels=2))
    return {
        "albert-base-v2 shape": {"parameters": trainable_parameters(albert_base),
                                 "config": "albert.AlbertConfig.preset('albert-base-v2')"},
        "BERT-base shape": {"parameters": trainable_parameters(bert_base),
                            "config": "transformers.BertConfig() (bert-base-uncased's shape)"},
    }


def ring_all_reduce_seconds(nbytes: float, executors: int, bandwidth_bytes: float, latency_s: float) -> float:
    """A ring all-reduce of ``nbytes`` over ``executors``: each sends and receives
    2 (N-1)/N of the bytes, in 2 (N-1) messages."""
    if executors <= 1:
        return 0.0
    return 2 * (executors - 1) / executors * nbytes / bandwidth_bytes + 2 * (executors - 1) * latency_s


def cluster_estimate(rate: float, batch_size: int, nbytes: float, bandwidth_bytes: float,
                     latency_s: float) -> list[dict[str, float]]:
    """N executors, each running one process at ``rate`` examples/s: throughput = rate x N x
    efficiency, efficiency = compute / (compute + all-reduce) per step (no overlap). Two cases:
    each executor trains ``batch_size`` a step (global batch N x batch), or the global batch stays
    ``batch_size`` (each trains batch / N)."""
    rows = []
    for executors in EXECUTORS:
        reduce_s = ring_all_reduce_seconds(nbytes, executors, bandwidth_bytes, latency_s)
        row: dict[str, float] = {"executors": executors, "all_reduce_s_per_step": reduce_s}
        for case, local_batch in (("local_batch", batch_size), ("global_batch", batch_size / executors)):
            compute_s = local_batch / rate
            efficiency = compute_s / (compute_s + reduce_s)
            row[f"{case}_efficiency"] = efficiency
            row[f"{case}_examples_per_s"] = rate * executors * efficiency
        rows.append(row)
    return rows


# -- output -------------------------------------------------------------------------------------------------

def print_table(medians: dict[str, dict[str, Any]]) -> None:
    print(f"\n  {'run':<36} {'wall s':>8} {'loop s':>8} {'ex/s steady':>12} {'ex/s loop':>10} {'ex/s wall':>10}"
          f"   {' / '.join(PHASES)} (s)")
    for label, run in medians.items():
        phases = " / ".join(f"{run['phases_s'][phase]:.1f}" for phase in PHASES)
        print(f"  {label:<36} {run['wall_s']:8.1f} {run['loop_s']:8.1f} {run['examples_per_s_steady']:12.2f} "
              f"{run['examples_per_s_loop']:10.2f} {run['examples_per_s_wall']:10.2f}   {phases}")


def time_chart(name: str, title: str, medians: dict[str, dict[str, Any]], note: str) -> Path:
    """``<name>-time.png``: each call's wall time, stacked by phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(medians)
    figure, axes = plt.subplots(figsize=(8.5, 3.4))
    left = [0.0] * len(labels)
    for phase in PHASES:
        values = [medians[label]["phases_s"][phase] for label in labels]
        axes.barh(labels, values, left=left, label=phase)
        left = [a + max(b, 0.0) for a, b in zip(left, values)]
    for index, label in enumerate(labels):
        axes.text(left[index], index, f" {medians[label]['wall_s']:.1f} s", va="center", fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds (wall clock of the call)")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7, ncol=len(PHASES), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    figure.text(0.01, 0.01, note, fontsize=7, color="gray")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    path = common.RESULTS / f"{name}-time.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    print(f"wrote {common.shown_path(path)}")
    return path


# -- main -----------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="albert-small-en", help="shipped model name, folder or Hub id")
    parser.add_argument("--examples", type=int, default=512, help="SST-2 training sentences, one epoch (default 512)")
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch of every run (default 32)")
    parser.add_argument("--max-length", type=int, default=64, help="tokens per input at most (default 64)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every run, in turn; medians (default 1)")
    parser.add_argument("--processes", type=int, default=2, help="processes of the second Spark run (default 2)")
    parser.add_argument("--skip-one-thread", action="store_true",
                        help="leave out the reference run of finetune() on 1 torch thread")
    parser.add_argument("--log-every", type=int, default=None,
                        help="steps per metrics.jsonl window (default: a quarter of the steps)")
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of the sentences and the training seed")
    parser.add_argument("--bandwidth-gbit", type=float, default=10.0,
                        help="network bandwidth between executors assumed by the estimate (default 10 Gbit/s)")
    parser.add_argument("--latency-us", type=float, default=50.0,
                        help="latency per all-reduce message assumed by the estimate (default 50 us)")
    parser.add_argument("--name", default=None, help="results file name (default spark_finetune-cpu<cores>)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    name = args.name or f"spark_finetune-cpu{cores}"
    steps = -(-args.examples // args.batch_size)
    log_every = args.log_every or max(1, steps // 4)
    per_process = max(1, cores // args.processes)
    # the runs' names, with their torch threads per process
    plain_label, one_thread_label = f"finetune ({cores} threads)", "finetune (1 thread)"
    spark_one_label = f"Spark, 1 process ({cores} threads)"
    spark_many_label = f"Spark, {args.processes} processes ({per_process} thread{'s' if per_process > 1 else ''} each)"

    import pyspark

    from albert import AlbertForSequenceClassification
    from albert.spark import AlbertClassifierEstimator, spark_session
    from albert.training.finetuning.trainer import FinetuneSettings, finetune

    logging.getLogger("albert").setLevel(logging.WARNING)
    load_at_start = os.getloadavg()
    rows = sst2_rows(args.examples, args.seed)
    print(f"{args.examples} SST-2 sentences, {args.model}, 1 epoch, global batch {args.batch_size} ({steps} steps), "
          f"max length {args.max_length}, on {common.cpu_name()} ({cores} cores), load {load_at_start[0]:.1f}")

    work = Path(tempfile.mkdtemp(prefix="spark_finetune-"))
    try:
        train_file = write_tsv(rows, work / "train.tsv")
        clock = time.perf_counter()
        spark = spark_session(f"local[{cores}]", app_name="albert-bench-finetune", ui=False)
        session_start = time.perf_counter() - clock
        frame = spark.createDataFrame(rows, "sentence string, label string")
        clock = time.perf_counter()  # the session's first job starts its Python workers: not a fit's cost
        frame.write.parquet(str(work / "first-job"))
        first_job = time.perf_counter() - clock
        print(f"  Spark session local[{cores}] started in {session_start:.1f} s, its first job (the rows to "
              f"Parquet) took {first_job:.1f} s")

        def plain(run_dir: Path, threads: int) -> Callable[[], dict[str, Any]]:
            settings = FinetuneSettings(task="text-classification", epochs=1, batch_size=args.batch_size,
                                        max_length=args.max_length, threads=threads, progress=False,
                                        log_every=log_every, seed=args.seed)
            return lambda: finetune(args.model, train_file, None, run_dir, settings).summary

        def on_spark(run_dir: Path, processes: int) -> Callable[[], dict[str, Any]]:
            estimator = AlbertClassifierEstimator(
                inputCol="sentence", labelCol="label", model=args.model, epochs=1, batchSize=args.batch_size,
                maxLength=args.max_length, seed=args.seed, numProcesses=processes, outputModelPath=str(run_dir),
                logEvery=log_every,
            )
            return lambda: estimator.fit(frame).trainingSummary

        # label -> (the call's maker, whether it stages Parquet, torch threads per process)
        contenders = {plain_label: (partial(plain, threads=cores), False, cores)}
        if cores > 1 and not args.skip_one_thread:
            contenders[one_thread_label] = (partial(plain, threads=1), False, 1)
        contenders[spark_one_label] = (partial(on_spark, processes=1), True, cores)
        contenders[spark_many_label] = (partial(on_spark, processes=args.processes), True, per_process)
        rounds: dict[str, list[dict[str, Any]]] = {label: [] for label in contenders}
        for round_index in range(args.rounds):
            order = list(contenders) if round_index % 2 == 0 else list(reversed(contenders))  # drift hits all alike
            for label in order:
                make, staged, _ = contenders[label]
                run_dir = work / f"run-{round_index}-{list(contenders).index(label)}"
                result = measure(make(run_dir), run_dir, args.batch_size, args.examples,
                                 run_dir / "data" / "train" if staged else None)
                rounds[label].append(result)
                print(f"  round {round_index + 1} {label}: wall {result['wall_s']:.1f} s, loop {result['loop_s']:.1f} s, "
                      f"{result['examples_per_s_steady']:.2f} examples/s steady (load {os.getloadavg()[0]:.1f})")
        model = AlbertForSequenceClassification.from_pretrained(work / "run-0-0" / "best")  # the first run's model
        parameters = trainable_parameters(model)
        java = spark._jvm.System.getProperty("java.version")
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {label: median_of(runs) for label, runs in rounds.items()}
    one_process, spark_one, spark_many = medians[plain_label], medians[spark_one_label], medians[spark_many_label]
    outside_loop = ((spark_one["wall_s"] - spark_one["loop_s"]) - (one_process["wall_s"] - one_process["loop_s"]))
    scaling = spark_many["examples_per_s_steady"] / spark_one["examples_per_s_steady"]
    overhead = (spark_one["wall_s"] - one_process["wall_s"]) / one_process["wall_s"]
    targets = {
        "spark_processes_over_1_process": {
            "value": scaling, "target_min": TARGET_SCALING, "meets_target": scaling >= TARGET_SCALING,
            "what": f"steady examples/s of Spark with {args.processes} processes / with 1 process",
            "by_loop_seconds": spark_many["examples_per_s_loop"] / spark_one["examples_per_s_loop"],
            "by_wall_seconds": spark_many["examples_per_s_wall"] / spark_one["examples_per_s_wall"],
        },
        "spark_overhead_1_process": {
            "value": overhead, "target_max": TARGET_OVERHEAD, "meets_target": overhead <= TARGET_OVERHEAD,
            "what": "(Spark 1-process fit wall s - finetune() wall s) / finetune() wall s",
            "loop_only": (spark_one["loop_s"] - one_process["loop_s"]) / one_process["loop_s"],
            "outside_the_loop_s": outside_loop,
            "outside_the_loop": outside_loop / one_process["wall_s"],
            "outside_the_loop_what": "((Spark wall - Spark loop) - (finetune() wall - finetune() loop)) / finetune() "
                                     "wall: Spark's own cost, without the two loops' difference (the same code)",
        },
    }
    print_table(medians)
    print(f"\n  Spark {args.processes} processes / 1 process, steady examples/s: {scaling:.2f}x "
          f"(target >= {TARGET_SCALING}x): {'met' if scaling >= TARGET_SCALING else 'MISSED'}")
    print(f"  Spark's overhead on 1 process (wall): {overhead:+.1%} (target <= {TARGET_OVERHEAD:.0%}): "
          f"{'met' if overhead <= TARGET_OVERHEAD else 'MISSED'}; the loops alone differ by "
          f"{targets['spark_overhead_1_process']['loop_only']:+.1%}; outside the loop Spark adds {outside_loop:.1f} s "
          f"({outside_loop / one_process['wall_s']:+.1%} of the one-process call)")
    if one_thread_label in medians:
        alone = medians[one_thread_label]["examples_per_s_steady"]
        print(f"  finetune on 1 thread: {alone:.2f} examples/s steady; {cores} threads / 1 thread "
              f"{one_process['examples_per_s_steady'] / alone:.2f}x; Spark {args.processes} processes / finetune on "
              f"1 thread {spark_many['examples_per_s_steady'] / alone:.2f}x")

    # The estimate: what all-reduce costs on a network, per model and cluster size.
    bandwidth = args.bandwidth_gbit * 1e9 / 8
    latency = args.latency_us * 1e-6
    models = {f"{args.model} (measured model)": {"parameters": parameters, "config": "the fine-tuned model's folder"},
              **shape_parameters()}
    for figures in models.values():
        figures["all_reduce_bytes_per_step"] = figures["parameters"] * 4
        figures["ring_all_reduce_s"] = {
            str(n): ring_all_reduce_seconds(figures["all_reduce_bytes_per_step"], n, bandwidth, latency)
            for n in (2, 8)}
    # the best one process reached here: a faster process makes the all-reduce's share larger
    rate_label = max((label for label in medians if label != spark_many_label),
                     key=lambda label: medians[label]["examples_per_s_steady"])
    rate = medians[rate_label]["examples_per_s_steady"]
    estimate = cluster_estimate(rate, args.batch_size, parameters * 4, bandwidth, latency)
    print(f"\n  all-reduce per step (fp32 gradients, trainable parameters x 4 bytes), ring all-reduce at "
          f"{args.bandwidth_gbit:g} Gbit/s, {args.latency_us:g} us a message (ESTIMATE):")
    for label, figures in models.items():
        print(f"    {label:<36} {figures['parameters'] / 1e6:7.2f} M parameters  "
              f"{figures['all_reduce_bytes_per_step'] / 1e6:7.1f} MB  "
              f"{figures['ring_all_reduce_s']['2'] * 1e3:7.1f} ms at N=2, {figures['ring_all_reduce_s']['8'] * 1e3:7.1f} ms at N=8")
    print(f"  N executors like this machine, one process each at {rate:.2f} examples/s ({rate_label}, steady), "
          "all-reduce not overlapped (ESTIMATE):")
    print(f"    {'N':>3} {'all-reduce ms':>14} {'batch ' + str(args.batch_size) + ' each: eff':>22} {'ex/s':>9}"
          f" {'global batch ' + str(args.batch_size) + ': eff':>24} {'ex/s':>9}")
    for row in estimate:
        print(f"    {row['executors']:>3} {row['all_reduce_s_per_step'] * 1e3:14.1f} {row['local_batch_efficiency']:22.3f} "
              f"{row['local_batch_examples_per_s']:9.1f} {row['global_batch_efficiency']:24.3f} "
              f"{row['global_batch_examples_per_s']:9.1f}")

    results = {
        "environment": {
            "device": f"{common.cpu_name()} ({cores} cores)", "device_type": "cpu", "cores": cores,
            "torch": torch.__version__, "pyspark": pyspark.__version__, "java": java,
            "java_version_line": java_version(), "python": sys.version.split()[0],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        },
        "settings": {
            "model": args.model, "task": "text-classification", "examples": args.examples, "epochs": 1,
            "batch_size": args.batch_size, "steps": steps, "max_length": args.max_length, "log_every": log_every,
            "seed": args.seed, "rounds": args.rounds, "data": "sst2/train.tsv, seeded shuffle",
            "torch_threads_per_process": {label: threads for label, (_, _, threads) in contenders.items()},
            "spark_master": f"local[{cores}]",
        },
        "spark_session_start_s": session_start,
        "spark_first_job_s": first_job,
        "runs": {label: {"median": medians[label], "rounds": rounds[label]} for label in contenders},
        "targets": targets,
        "all_reduce": {
            "assumptions": {"bandwidth_gbit_s": args.bandwidth_gbit, "latency_us_per_message": args.latency_us,
                            "algorithm": "ring: 2 (N-1)/N x bytes sent per process, 2 (N-1) messages",
                            "gradients": "fp32, every trainable parameter once a step"},
            "models": models,
        },
        "cluster_estimate": {
            "what": "ESTIMATE, not measured: N executors each running one process at the best steady rate one "
                    "process reached here; efficiency = compute / (compute + ring all-reduce) per step, no overlap",
            "rate_examples_per_s": rate, "rate_of": rate_label,
            "rows": estimate,
        },
        "notes": [
            "examples/s steady: the metrics.jsonl windows after the first (examples / seconds over them, all "
            "processes); loop: examples / the training loop's seconds (metrics.json); wall: examples / the call",
            "phases from the run folder's file times: Parquet _SUCCESS (staged), run.json (the loop starts), "
            "metrics.json (model saved); 'the rest' is processes stopping and the result coming back",
            "finetune() runs in this process (torch already imported); each Spark run starts fresh Python "
            "processes under torchrun, which import torch and albert and load the model",
            "runs follow one another on a shared machine; the ratios compare runs minutes apart",
            "on a busy machine OpenMP's spin-waiting can make one process on 2 threads several times slower than on "
            "1 (torchrun sets OMP_NUM_THREADS=1 for 2 processes, not for 1): read the 2-process / 1-process ratio "
            "beside the 1-thread reference run",
        ],
    }
    common.write_results(name, results)
    note = (f"{args.model}, {args.examples} SST-2 sentences, batch {args.batch_size}, max length {args.max_length}; "
            f"{args.processes}/1 processes {scaling:.2f}x; Spark overhead (wall) {overhead:+.0%}; "
            f"load {load_at_start[0]:.1f}-{os.getloadavg()[0]:.1f}")
    common.bar_chart(
        name, f"Fine-tuning examples/s: one process vs Spark ({common.cpu_name()}, {cores} cores)",
        {"training loop, steady": {label: run["examples_per_s_steady"] for label, run in medians.items()},
         "whole call (examples / wall s)": {label: run["examples_per_s_wall"] for label, run in medians.items()}},
        "examples / s", note=note,
    )
    time_chart(name, f"Where each fine-tuning call's time goes ({cores} cores)", medians, note)


if __name__ == "__main__":
    main()
