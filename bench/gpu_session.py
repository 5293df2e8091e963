"""One lent-GPU session in one call: pretrain the shipped model, then the GPU benchmarks.

``SESSION_PRETRAIN=0 SESSION_SPEED=1 python3 bench/gpu_session.py`` skips pretraining and
measures what issue 7 still misses: the GPU tests (``pytest -m gpu``), the pretraining command
with and without ``--compile`` (when the carry holds the pretraining inputs), inference with CUDA
graphs and compiled layers, the pretraining step with compiled layers, and the 100k-sentence
embedding run again (each part under its own limit, packed as soon as it ends).

Device time is scarce (minutes a session, a fresh machine per call), so everything that needs the
GPU runs from this one driver, each part under its own time limit, and its results are packed
under ``$OUT`` as soon as they exist, so a part that overruns loses only itself.

The call, from the device tool::

    run(command="python3 bench/gpu_session.py", carry=["gpu_carry"], timeout_s=600)

``gpu_carry/`` (git-ignored; built by ``bash bench/make_gpu_carry.sh [--pretrain]``) holds:

* ``pretrain-inputs.tar.xz``: ``runs/tokenizer-30k`` and ``runs/data-30k`` (train-tokenizer and
  prepare-data outputs, made on the CPU machine);
* ``shared-data/``: the part of ``../shared/data`` the benchmarks read (``ALBERT_SHARED_DATA``);
* ``site/``: blingfire without its model files (the sentence splitter needs none).

What comes back under ``$OUT`` (at most 8 files of 16 MiB): ``session.log``, ``env.txt``,
``pretrain-run.tar.gz`` (metrics, curves, summary, run settings), ``model.tar.part-*`` (the final
model folder, split under 16 MiB) and ``bench-results.tar.gz`` (``bench/results/*-h200*``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARRY = REPO / "gpu_carry"
WORK = Path("/tmp/albert-gpu-session")
OUT = Path(os.environ.get("OUT", "/tmp/albert-gpu-session-out"))
#: Seconds this driver may take in all (the call's limit minus a margin for packing).
BUDGET = float(os.environ.get("SESSION_BUDGET", "560"))
#: Seconds of pretraining steps aimed at (startup, checkpoints and the final save come on top).
PRETRAIN_SECONDS = float(os.environ.get("PRETRAIN_SECONDS", "240"))
TAG = os.environ.get("DEVICE_TAG", "h200")

#: The shipped model's shape: ALBERT-base-v2's settings with a narrower, 12-layer shared block.
SHAPE = os.environ.get(
    "SESSION_SHAPE",
    "hidden_size=384,num_attention_heads=6,intermediate_size=1536,num_hidden_layers=12,max_position_embeddings=128",
).split(",")
BATCH_SIZE = int(os.environ.get("SESSION_BATCH_SIZE", "256"))
LEARNING_RATE = float(os.environ.get("SESSION_LR", "0.001"))
SEQ_LEN = 128
SEED = os.environ.get("SESSION_SEED", "0")
#: A second session continues the first: SESSION_INIT_FROM names the model folder (in gpu_carry)
#: to start from, SESSION_STEPS the steps (no probe: the first session measured the step time).
INIT_FROM = os.environ.get("SESSION_INIT_FROM")
FIXED_STEPS = int(os.environ.get("SESSION_STEPS", "0"))
#: SESSION_BENCH=0 skips the benchmarks (a CPU rehearsal of the pretraining part).
RUN_BENCHES = os.environ.get("SESSION_BENCH", "1") == "1"
#: SESSION_PRETRAIN=0 skips pretraining (no pretrain-inputs needed).
RUN_PRETRAIN = os.environ.get("SESSION_PRETRAIN", "1") == "1"
#: SESSION_SPEED=1 runs the speed variants (graphs, compile) instead of the standard benchmarks.
SPEED_ONLY = os.environ.get("SESSION_SPEED", "0") == "1"

START = time.monotonic()
LOG = None


def elapsed() -> float:
    return time.monotonic() - START


def left() -> float:
    return BUDGET - elapsed()


def say(message: str) -> None:
    line = f"[{elapsed():6.1f}s] {message}"
    print(line, flush=True)
    if LOG is not None:
        LOG.write(line + "\n")
        LOG.flush()


def run(name: str, command: list[str], timeout: float, env: dict[str, str]) -> int:
    """Run ``command`` with its output in ``$OUT/session.log``; 124 when it outran ``timeout``."""
    timeout = max(1.0, min(timeout, left()))
    say(f"{name}: {' '.join(command)} (limit {timeout:.0f}s)")
    started = time.monotonic()
    try:
        process = subprocess.run(command, stdout=LOG, stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=REPO)
        code = process.returncode
    except subprocess.TimeoutExpired:
        code = 124
    say(f"{name}: exit {code} after {time.monotonic() - started:.1f}s")
    return code


def pretrain_command(out: Path, steps: int, fast: bool, extra: list[str]) -> list[str]:
    config = str(REPO / INIT_FROM) if INIT_FROM else "albert-base-v2"
    command = [sys.executable, "-m", "albert.cli", "pretrain", "--config", config,
               "--tokenizer", str(WORK / "tokenizer-30k"), "--data", str(WORK / "data-30k"), "--out", str(out),
               "--steps", str(steps), "--batch-size", str(BATCH_SIZE), "--seq-len", str(SEQ_LEN),
               "--optimizer", "lamb", "--lr", str(LEARNING_RATE), "--seed", SEED, "--no-progress"]
    if INIT_FROM:
        return command + ["--init-from", config] + (["--fast"] if fast else []) + extra
    for field in SHAPE:
        command += ["--set", field]
    return command + (["--fast"] if fast else []) + extra


def last_training_record(run_dir: Path) -> dict | None:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [r for r in records if "split" not in r]
    return records[-1] if records else None


def pack_pretraining(run_dir: Path) -> None:
    """The run's records in one archive, the model folder split into parts under 16 MiB."""
    with tarfile.open(OUT / "pretrain-run.tar.gz", "w:gz") as archive:
        for name in ("metrics.jsonl", "run.json", "summary.json", "curves.png", "final/eval_results.json",
                     "final/config.json"):
            if (run_dir / name).exists():
                archive.add(run_dir / name, arcname=name)
    final = run_dir / "final"
    if not (final / "model.safetensors").exists():
        say("no final model: converting the last checkpoint")
        convert_last_checkpoint(run_dir)
    if (final / "model.safetensors").exists():
        model_tar = WORK / "model.tar"
        with tarfile.open(model_tar, "w") as archive:
            archive.add(final, arcname="final")
        subprocess.run(["split", "-b", "15M", "-d", str(model_tar), str(OUT / "model.tar.part-")], check=True)
        say(f"packed the model ({model_tar.stat().st_size / 2**20:.1f} MiB)")


def convert_last_checkpoint(run_dir: Path) -> None:
    """A run stopped by its time limit: its last checkpoint's weights become ``final/``."""
    sys.path.insert(0, str(REPO / "src"))
    from albert import AlbertConfig, AlbertTokenizer
    from albert.modeling import AlbertForPreTraining
    from albert.training.checkpoints import CheckpointManager

    manager = CheckpointManager(run_dir)
    last = manager.latest()
    if last is None:
        say("no checkpoint to convert")
        return
    state = manager.load(last)
    model = AlbertForPreTraining(AlbertConfig.from_dict(state["config"]))
    model.load_state_dict(state["model"])
    model.save_pretrained(run_dir / "final", tokenizer=AlbertTokenizer.from_pretrained(str(WORK / "tokenizer-30k")))
    say(f"converted {last}")


def pack_bench_results() -> None:
    files = sorted((REPO / "bench" / "results").glob(f"*-{TAG}*"))
    with tarfile.open(OUT / "bench-results.tar.gz", "w:gz") as archive:
        for path in files:
            archive.add(path, arcname=path.name)
    say(f"packed {len(files)} benchmark files")


def main() -> None:
    global LOG
    OUT.mkdir(parents=True, exist_ok=True)
    # Run folders left by an earlier call (a warm machine keeps /tmp) would need --resume.
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    LOG = open(OUT / "session.log", "a", encoding="utf-8")
    env = dict(os.environ, PYTHONUNBUFFERED="1", ALBERT_SHARED_DATA=str(CARRY / "shared-data"),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(CARRY / "site"), os.environ.get("PYTHONPATH", "")]))
    environment = subprocess.run(
        "nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv; nproc; "
        f"{sys.executable} -c 'import torch, transformers; print(torch.__version__, torch.version.cuda, "
        "transformers.__version__, torch.cuda.get_device_name())'",
        shell=True, capture_output=True, text=True, env=env,
    )
    (OUT / "env.txt").write_text(environment.stdout + environment.stderr)
    say(environment.stdout.strip().replace("\n", " | "))
    if RUN_PRETRAIN:
        unpack_pretrain_inputs()
        pretrain(env)
    run_benches(env)
    say("done")
    LOG.close()
    shutil.rmtree(WORK / "probe-fast", ignore_errors=True)


def unpack_pretrain_inputs() -> None:
    """The tokenizer and the prepared data from the carry, into WORK (once per session)."""
    if (WORK / "data-30k").exists():
        return
    with tarfile.open(CARRY / "pretrain-inputs.tar.xz") as archive:
        archive.extractall(WORK, filter="data")
    say("inputs unpacked")


def pretrain(env: dict[str, str]) -> None:
    """The shipped model's pretraining: a probe for the step time, then a run sized to the budget."""
    # 1. A short probe: does the fast path train on this GPU, and how long does a step take?
    fast, seconds_per_step = True, (PRETRAIN_SECONDS / FIXED_STEPS if FIXED_STEPS else None)
    for fast in (True, False) if not FIXED_STEPS else ():
        probe = WORK / f"probe-{'fast' if fast else 'plain'}"
        extra = ["--log-every", "20", "--checkpoint-every", "60", "--eval-batches", "0"]
        if run("probe", pretrain_command(probe, 60, fast, extra), 120, env) == 0:
            record = last_training_record(probe)
            if record:
                seconds_per_step = record["seconds_per_step"]
                say(f"probe (fast={fast}): {seconds_per_step * 1000:.1f} ms/step, "
                    f"{record['tokens_per_second']:,.0f} tok/s, peak {record['peak_memory_mb']:.0f} MB")
                break
    if seconds_per_step is None:
        say("pretraining does not run here; going on to the benchmarks")
    else:
        # 2. The real run, sized to the time there is.
        steps = max(200, int(PRETRAIN_SECONDS / seconds_per_step) // 50 * 50)
        every = max(50, steps // 5 // 50 * 50)
        run_dir = WORK / "pretrain"
        extra = ["--log-every", "50", "--checkpoint-every", str(every), "--keep-checkpoints", "2",
                 "--warmup-steps", str(max(100, steps * 6 // 100)), "--eval-batches", "16"]
        say(f"pretraining {steps} steps of {BATCH_SIZE} x {SEQ_LEN} (checkpoint every {every})")
        run("pretrain", pretrain_command(run_dir, steps, fast, extra), PRETRAIN_SECONDS * 1.3 + 60, env)
        pack_pretraining(run_dir)



def compile_probes(env: dict[str, str]) -> None:
    """The shipped model's pretraining command for 60 steps, with ``--fast`` and with ``--compile``:
    does compiling the layers pay in the real training loop? Recorded in
    ``bench/results/pretrain_compile-<tag>.json``."""
    unpack_pretrain_inputs()
    record: dict = {"command": "albert pretrain (shipped model's shape), 60 steps", "batch_size": BATCH_SIZE,
                    "seq_len": SEQ_LEN, "variants": {}}
    for variant, extra in (("fast", []), ("fast+compile", ["--compile"])):
        probe = WORK / f"compile-probe-{variant}"  # apart from pretrain()'s probes
        options = ["--log-every", "20", "--checkpoint-every", "60", "--eval-batches", "0", *extra]
        if run(f"probe {variant}", pretrain_command(probe, 60, True, options), 150, env) == 0:
            last = last_training_record(probe)
            if last:
                record["variants"][variant] = {key: last.get(key) for key in
                                               ("seconds_per_step", "tokens_per_second", "peak_memory_mb")}
                say(f"probe {variant}: {last['seconds_per_step'] * 1000:.1f} ms/step")
    (REPO / "bench" / "results" / f"pretrain_compile-{TAG}.json").write_text(json.dumps(record, indent=2) + "\n")
    pack_bench_results()


def run_benches(env: dict[str, str]) -> None:
    """The benchmarks of issue 7, each under its own limit, packed after each."""
    if not RUN_BENCHES:
        return
    if SPEED_ONLY:
        tests = ["tests/fast/test_fast_graphs.py", "tests/model/test_modeling_parity.py", "tests/pipelines/test_pipelines_base.py"]
        run("gpu tests", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                          "-m", "gpu", *tests], 60, env)
        # Graphs alone first (the batch-64 target; a separate process, so a failure there costs
        # nothing else), then the compiled variants, then the end-to-end embedding run.
        benches = [
            # --profile: where the time goes (GPU busy fraction, launches, top kernels), after the timing
            ("gpu_inference", ["--batches", "8", "--repeats", "3", "--graphs", "--profile",
                               "--name", f"gpu_inference-{TAG}-graphs"], 170),
            ("gpu_pretrain_step", ["--steps", "8", "--compile", "--profile",
                                   "--name", f"gpu_pretrain_step-{TAG}-compile"], 130),
            ("gpu_inference", ["--batches", "8", "--repeats", "3", "--graphs", "--compile",
                               "--name", f"gpu_inference-{TAG}-graphs-compile"], 180),
            # the embeddings pipeline without character alignment (2026-12): re-measure end to end
            ("embed_100k", ["--name", f"embed_100k-{TAG}-2"], 150),
        ]
    else:
        benches = [
            ("gpu_inference", ["--batches", "8", "--repeats", "3", "--name", f"gpu_inference-{TAG}"], 120),
            ("gpu_pretrain_step", ["--steps", "8", "--name", f"gpu_pretrain_step-{TAG}"], 90),
            ("embed_100k", ["--name", f"embed_100k-{TAG}"], 200),
        ]
    for index, (name, arguments, limit) in enumerate(benches):
        if left() < 25:
            say(f"{name}: skipped, {left():.0f}s left")
            continue
        run(name, [sys.executable, f"bench/{name}.py", *arguments], min(limit, left() - 10), env)
        pack_bench_results()
        # After the inference figures (the first priority): the training loop with --compile.
        if index == 0 and SPEED_ONLY and (CARRY / "pretrain-inputs.tar.xz").exists() and left() > 120:
            compile_probes(env)


if __name__ == "__main__":
    main()
