"""albert serve under load: requests/s and latency for 1, 8 and 64 concurrent clients, with the
dynamic batcher on and off, every answer checked.

The script starts ``albert serve`` (the shipped model unless ``--model``) on a free port of
127.0.0.1, three times: with its defaults (batching on, the model in a process of its own), with
``--max-batch-requests 1`` (batching off: one input per pipeline call) and with ``--in-process``
(batching on, the model on a thread of the server's process). Against each, a bounded async client (aiohttp; `--client httpx`) sends the same
``--requests`` real sentences (SST-2, then corpus lines), one sentence per ``POST /embed``
(document vector, not normalised), from 1, 8 and 64 concurrent clients; a run stops at
``--time-limit`` seconds whatever is left. The first run (batching on, 1 client) sends every
sentence alone, one request at a time: its answers are the reference every other answer is
checked against (max abs difference <= 1e-5); a lost request (an error, a timeout) or a
mismatched answer is counted, never hidden. Per run: requests/s, p50 and p99 latency (client
side, sending to answer), the mean batch the server formed (its /metrics), and the CPU seconds
the client and the server (with its model process) used (the client shares the machine with the
server). Then, without a server, the embeddings pipeline in this process on 64 of the sentences,
one call each, in calls of 4 and 8, and in one call: what merging can gain on this machine, and
from it the bounds of :func:`pipeline_ceiling` to read the targets against. All of that is one
round; ``--rounds`` (3) alternate, and every figure is the median over them.

Targets (this 2-core CPU, shipped model): the batching target, 64 clients' requests/s >= 0.8x the
same round's merged pipeline rate (the 64 sentences in one call, in this process: what batching can
reach here; the server tokenizes on its HTTP side and sends ids to its model's process); p99 at
8 clients <= 4x the p50 at 1 client; zero mismatched or lost answers. The 64-client over 1-client
ratio is still reported (``ratios``), without a target: a 2-core CPU cannot show the 3x it had.

    python bench/serve_load.py                    # 600 requests per run, shipped model
    python bench/serve_load.py --check            # 60 requests per run: the script works; figures mean little

Writes ``bench/results/<name>.json``, ``<name>.png`` (requests/s) and ``<name>-latency.png``;
``--name`` defaults to ``serve_load-cpu<cores>`` (``-check`` appended with ``--check``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CLIENTS = (1, 8, 64)
TOLERANCE = 1e-5
#: 64 clients' requests/s over the same round's merged pipeline sentences/s.
TARGET_OVER_MERGED = 0.8
TARGET_P99_OVER_P50 = 4.0
MODES = {
    "batching on": [],
    "batching off": ["--max-batch-requests", "1"],
    "batching on, model in the server's process": ["--in-process"],
}


# -- the server ------------------------------------------------------------------------------------

def start_server(model: str | None, options: list[str], threads: int | None, log: Path) -> tuple[subprocess.Popen, str]:
    """``albert serve`` on a free port of 127.0.0.1, answering /health; (process, base URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "albert.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    if model is not None:
        command += ["--model", model]
    environment = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=environment)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if process.poll() is not None:
            sys.exit(f"albert serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"albert serve did not become healthy:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its children (the server's model process), Linux /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


BATCH_METRICS = ("albert_batch_inputs_sum", "albert_batch_inputs_count", "albert_batch_compute_seconds_sum")


def batch_figures(url: str) -> tuple[float, ...]:
    """(inputs computed, batches, seconds the model computed) so far, from the server's /metrics."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name = line.split(" ")[0]
        if name in BATCH_METRICS:
            values[name] = float(line.split(" ")[1])
    return tuple(values[name] for name in BATCH_METRICS)


# -- the client ------------------------------------------------------------------------------------

async def load(url: str, sentences: list[str], clients: int, time_limit: float, client: str = "aiohttp") -> dict[str, Any]:
    """Send one request per sentence from ``clients`` concurrent workers; stop at ``time_limit``.

    ``client`` is the HTTP library: aiohttp (default; its C parser costs the shared cores about a
    quarter of httpx's CPU per request) or httpx.
    """
    answers: list[list[float] | None] = [None] * len(sentences)
    latencies: list[float] = []
    failures: list[str] = []
    next_index = iter(range(len(sentences)))
    deadline = time.perf_counter() + time_limit

    async def send_all(post: Any) -> None:
        for index in next_index:
            if time.perf_counter() > deadline:
                return
            sent = time.perf_counter()
            try:
                status, body = await post({"inputs": sentences[index], "normalize": False})
            except (httpx.HTTPError, OSError, asyncio.TimeoutError) as error:
                failures.append(f"{type(error).__name__}: {error}")
                continue
            latencies.append(time.perf_counter() - sent)
            if status == 200:
                answers[index] = json.loads(body)[0]
            else:
                failures.append(f"{status}: {body[:200]!r}")

    async def httpx_worker() -> None:
        # One client (one connection) per worker: httpx's shared pool scans every connection on
        # each request, 70% of this client's CPU at 64 connections, taken from the server's cores.
        async with httpx.AsyncClient(base_url=url, timeout=60) as session:

            async def post(body: dict[str, Any]) -> tuple[int, bytes]:
                response = await session.post("/embed", json=body)
                return response.status_code, response.content

            await send_all(post)

    async def aiohttp_worker(session: Any) -> None:
        async def post(body: dict[str, Any]) -> tuple[int, bytes]:
            async with session.post(f"{url}/embed", json=body) as response:
                return response.status, await response.read()

        await send_all(post)

    if client == "httpx":
        await asyncio.gather(*(httpx_worker() for _ in range(clients)))
    else:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=clients)  # one kept-alive connection per simulated client
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(*(aiohttp_worker(session) for _ in range(clients)))
    return {"answers": answers, "latencies": latencies, "failures": failures}


def run(url: str, pid: int, sentences: list[str], clients: int, time_limit: float, client: str) -> dict[str, Any]:
    asyncio.run(load(url, sentences[: max(2 * clients, 32)], clients, time_limit, client))  # warm-up, not counted
    before = batch_figures(url)
    client_cpu, server_cpu = time.process_time(), cpu_seconds(pid)
    start = time.perf_counter()
    outcome = asyncio.run(load(url, sentences, clients, time_limit, client))
    seconds = time.perf_counter() - start
    client_cpu, server_cpu = time.process_time() - client_cpu, cpu_seconds(pid) - server_cpu
    inputs, batches, compute = (after - earlier for after, earlier in zip(batch_figures(url), before))
    latencies_ms = sorted(1000 * latency for latency in outcome["latencies"])
    answered = sum(answer is not None for answer in outcome["answers"])
    figures = {
        "clients": clients, "requests": len(sentences), "answered": answered, "failed": len(outcome["failures"]),
        "unsent_at_time_limit": len(sentences) - answered - len(outcome["failures"]),
        "seconds": seconds, "requests_per_s": answered / seconds,
        "p50_ms": float(np.percentile(latencies_ms, 50)), "p99_ms": float(np.percentile(latencies_ms, 99)),
        "mean_ms": statistics.fmean(latencies_ms), "max_ms": latencies_ms[-1],
        "mean_batch_inputs": inputs / batches if batches else None, "batches": int(batches),
        "compute_ms_per_input": 1000 * compute / inputs if inputs else None,
        "client_cpu_s": client_cpu, "server_cpu_s": server_cpu, "first_failures": outcome["failures"][:5],
    }  # fmt: skip
    print(f"    {clients:3d} clients: {figures['requests_per_s']:7.1f} requests/s, p50 {figures['p50_ms']:6.1f} ms, "
          f"p99 {figures['p99_ms']:6.1f} ms, mean batch {figures['mean_batch_inputs'] or 0:5.1f} inputs, "
          f"{figures['failed']} failed, {figures['unsent_at_time_limit']} unsent")
    return {**figures, "answers": outcome["answers"]}


def check(answers: list[list[float] | None], reference: list[list[float] | None]) -> dict[str, Any]:
    """Answers against the single-request ones: mismatched (beyond TOLERANCE), lost, max abs diff."""
    differences = [float(np.abs(np.asarray(mine) - np.asarray(theirs)).max())
                   for mine, theirs in zip(answers, reference) if mine is not None and theirs is not None]  # fmt: skip
    return {
        "compared": len(differences), "max_abs_diff": max(differences, default=0.0),
        "mismatched": sum(difference > TOLERANCE for difference in differences),
        "lost": sum(answer is None for answer in answers),
    }


def _client_description(client: str) -> str:
    if client == "httpx":
        return f"httpx {httpx.__version__}, one AsyncClient per simulated client, one process, on the same machine"
    import aiohttp

    return (f"aiohttp {aiohttp.__version__}, one ClientSession with one kept-alive connection per simulated client, "
            "one process, on the same machine")


# -- what batching can buy at most ------------------------------------------------------------------

def pipeline_ceiling(pipe: Any, sentences: list[str], repeats: int = 3) -> dict[str, Any]:
    """The embeddings pipeline in this process, no server: the same 64 sentences one call each, in
    calls of 4 and 8, and in one call (alternately, ``repeats`` times): what merging can gain here.

    From these, two bounds for a server whose single request costs only the pipeline call (no
    HTTP, no hand-off to a model process): ``bound_64_over_1``, its 64-client requests/s over its
    one-client requests/s, is at most merged / alone; ``bound_mean_8_over_1``, its mean latency at
    8 clients over its one-client latency, is at least 8 x (a sentence's time in calls of 8) / (a
    sentence's time alone), by Little's law (8 clients that each wait for their answer are served
    at most at the calls-of-8 rate); a p99 is above the mean. A server whose single request costs
    more has a higher ceiling and a lower floor, paid for by slower single requests: :func:`main`
    gives both again with the server's own one-client figures of the same round.
    """
    import torch

    batch = sentences[:64]
    seconds = common.time_interleaved(
        {"alone": lambda: [pipe(sentence) for sentence in batch],
         "in_fours": lambda: [pipe(batch[start : start + 4]) for start in range(0, len(batch), 4)],
         "in_eights": lambda: [pipe(batch[start : start + 8]) for start in range(0, len(batch), 8)],
         "merged": lambda: pipe(batch)},
        torch.device("cpu"), repeats=repeats,
    )  # fmt: skip
    per_sentence = {name: statistics.median(times) / len(batch) for name, times in seconds.items()}
    rates = {name: 1 / each for name, each in per_sentence.items()}
    bound_scaling = rates["merged"] / rates["alone"]
    bound_tail = 8 * per_sentence["in_eights"] / per_sentence["alone"]
    print(f"    the pipeline in this process, {torch.get_num_threads()} threads: {rates['alone']:.1f} sentences/s alone, "
          f"{rates['in_fours']:.1f} in fours, {rates['in_eights']:.1f} in eights, {rates['merged']:.1f} in one call "
          f"of {len(batch)}: 64/1 <= {bound_scaling:.2f}x, mean(8)/p50(1) >= {bound_tail:.2f}x at the pipeline's cost")
    return {
        "sentences": len(batch), "torch_threads": torch.get_num_threads(),
        **{f"{name}_sentences_per_s": rate for name, rate in rates.items()},
        "bound_64_over_1": bound_scaling, "bound_mean_8_over_1": bound_tail, "seconds": seconds,
    }  # fmt: skip


# -- the whole benchmark ---------------------------------------------------------------------------

#: Per-run figures summarised over rounds by their median.
SUMMARISED = ("requests_per_s", "p50_ms", "p99_ms", "mean_ms", "mean_batch_inputs", "compute_ms_per_input",
              "client_cpu_s", "server_cpu_s")  # fmt: skip


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One (mode, clients) cell over its rounds: the median of each figure, the range of the
    requests/s, what was lost or mismatched in all of them, and each round's figures."""
    summary: dict[str, Any] = {name: statistics.median(run[name] for run in rounds if run[name] is not None)
                               for name in SUMMARISED if any(run[name] is not None for run in rounds)}  # fmt: skip
    rates = [run["requests_per_s"] for run in rounds]
    summary["requests_per_s_range"] = [min(rates), max(rates)]
    checks = [run["check_against_single_requests"] for run in rounds]
    summary["check_against_single_requests"] = {
        "compared": sum(check["compared"] for check in checks), "lost": sum(check["lost"] for check in checks),
        "mismatched": sum(check["mismatched"] for check in checks),
        "max_abs_diff": max(check["max_abs_diff"] for check in checks),
    }  # fmt: skip
    summary["rounds"] = rounds
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="folder, shipped name or Hub id (default: the shipped model)")
    parser.add_argument("--requests", type=int, default=None, help="requests per run (default 600; --check: 60)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every mode and client count, alternated (default 3; --check: 1)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds a run may take before it stops")
    parser.add_argument("--threads", type=int, default=None, help="the server's torch threads (default: one per core)")
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of the sentences")
    parser.add_argument("--name", default=None, help="results file name (default serve_load-cpu<cores>)")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the load generator's HTTP library (aiohttp: less of the shared CPU per request)")
    parser.add_argument("--check", action="store_true", help="60 requests per run: the script works, figures mean little")
    args = parser.parse_args()
    count = args.requests or (60 if args.check else 600)
    rounds = args.rounds or (1 if args.check else 3)
    name = args.name or f"serve_load-cpu{os.cpu_count()}" + ("-check" if args.check else "")
    sentences = common.real_sentences(count, seed=args.seed)
    load_at_start = os.getloadavg()
    print(f"{count} real sentences per run ({statistics.fmean(map(len, sentences)):.0f} characters on average), "
          f"{rounds} round(s), model {args.model or 'shipped'}, on {common.cpu_name()} ({os.cpu_count()} cores)")

    import torch

    from albert.pipelines import pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    in_process = pipeline("embeddings", model=args.model, level="document", progress=False)
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {mode: {clients: [] for clients in CLIENTS} for mode in MODES}
    ceilings: list[dict[str, Any]] = []
    reference: list[list[float] | None] = []
    info: dict[str, Any] = {}
    logs = Path(tempfile.mkdtemp(prefix="serve_load-"))  # the servers' stderr, shown if one fails
    for number in range(rounds):
        print(f"  round {number + 1} of {rounds}")
        for mode, options in MODES.items():
            print(f"   {mode} ({' '.join(options) or 'the defaults'})")
            process, url = start_server(args.model, options, args.threads, logs / f"{mode.replace(' ', '-')}.log")
            try:
                info = httpx.get(f"{url}/info", timeout=10).json()
                for clients in CLIENTS:
                    figures = run(url, process.pid, sentences, clients, args.time_limit, args.client)
                    answers = figures.pop("answers")
                    if not reference:
                        reference = answers  # batching on, 1 client, first round: every sentence alone
                    figures["check_against_single_requests"] = check(answers, reference)
                    runs[mode][clients].append(figures)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
        ceilings.append(pipeline_ceiling(in_process, sentences))

    on_rounds = runs["batching on"]
    scalings = [on_rounds[64][index]["requests_per_s"] / on_rounds[1][index]["requests_per_s"] for index in range(rounds)]
    tails = [on_rounds[8][index]["p99_ms"] / on_rounds[1][index]["p50_ms"] for index in range(rounds)]
    scaling, tail = statistics.median(scalings), statistics.median(tails)
    over_merged_rounds = [on_rounds[64][index]["requests_per_s"] / ceilings[index]["merged_sentences_per_s"]
                          for index in range(rounds)]  # fmt: skip
    over_merged = statistics.median(over_merged_rounds)
    summary = {mode: {clients: summarise(cells) for clients, cells in by_clients.items()} for mode, by_clients in runs.items()}
    checks = [cell["check_against_single_requests"] for by_clients in summary.values() for cell in by_clients.values()]
    lost, mismatched = sum(check["lost"] for check in checks), sum(check["mismatched"] for check in checks)
    bound_scaling = statistics.median(ceiling["bound_64_over_1"] for ceiling in ceilings)
    bound_tail = statistics.median(ceiling["bound_mean_8_over_1"] for ceiling in ceilings)
    # The same bounds with this server's own single requests (HTTP and the hand-off included).
    server_scaling = statistics.median(
        ceiling["merged_sentences_per_s"] / alone["requests_per_s"] for ceiling, alone in zip(ceilings, on_rounds[1]))
    server_tail = statistics.median(
        8 / ceiling["in_eights_sentences_per_s"] / (alone["p50_ms"] / 1000) for ceiling, alone in zip(ceilings, on_rounds[1]))
    targets = {
        "requests_per_s_64_clients_over_merged_pipeline": {
            "value": over_merged, "rounds": over_merged_rounds, "target_min": TARGET_OVER_MERGED,
            "meets_target": over_merged >= TARGET_OVER_MERGED},
        "p99_8_clients_over_p50_1_client": {
            "value": tail, "rounds": tails, "target_max": TARGET_P99_OVER_P50, "meets_target": tail <= TARGET_P99_OVER_P50,
            "bound_for_any_server_here_mean_not_p99": bound_tail, "bound_for_this_server_here_mean_not_p99": server_tail},
        "mismatched_or_lost": {"value": lost + mismatched, "lost": lost, "mismatched": mismatched, "target_max": 0,
                               "meets_target": lost + mismatched == 0},
    }  # fmt: skip
    on, off = summary["batching on"], summary["batching off"]
    beside = summary["batching on, model in the server's process"]
    ratios = {"requests_per_s_64_over_1_clients": scaling, "requests_per_s_64_over_1_clients_rounds": scalings,
              "bound_64_over_1_for_any_server_here": bound_scaling, "bound_64_over_1_for_this_server_here": server_scaling}
    ratios |= {f"batching_on_over_off_requests_per_s_{clients}_clients": on[clients]["requests_per_s"] / off[clients]["requests_per_s"]
               for clients in CLIENTS}  # fmt: skip
    ratios.update({f"model_process_over_in_process_requests_per_s_{clients}_clients":
                   on[clients]["requests_per_s"] / beside[clients]["requests_per_s"] for clients in CLIENTS})  # fmt: skip
    results = {
        "environment": {
            "device": f"{common.cpu_name()} ({os.cpu_count()} cores)", "device_type": "cpu", "cores": os.cpu_count(),
            "server_torch_threads": args.threads or "default (one per core)", "python": platform.python_version(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(),
            "client": _client_description(args.client),
        },
        "model": info.get("model"), "server_info": info, "endpoint": "POST /embed (one sentence, document level, mean)",
        "requests_per_run": count, "rounds": rounds, "time_limit_s": args.time_limit,
        "sentences_mean_characters": statistics.fmean(map(len, sentences)),
        "runs": {mode: {f"{clients}_clients": cell for clients, cell in by_clients.items()} for mode, by_clients in summary.items()},
        "targets": targets, "ratios": ratios, "pipeline_in_process": ceilings,
        "notes": [
            "each figure is the median over the rounds; each round runs every mode and client count once, in turn, "
            "then the pipeline in this process, so a noisy minute slows one round, not one mode",
            "the target ratios are taken within each round, then their median",
            "reference: the answers of the first round's first run (batching on, 1 client), each sentence sent alone",
            "latency is the client's: from sending a request to reading its answer",
            "client and server share the CPU; client_cpu_s and server_cpu_s say how much each used",
            "a warm-up of 2 x clients requests (at least 32) precedes every run and is not counted",
            "pipeline_in_process: no server, no HTTP, in the benchmark's process: 64 sentences one call each, in calls "
            "of 4 and 8, and in one call; bound_64_over_1 (merged / alone) is the most any server's 64-client over "
            "1-client requests/s can be here for a server whose single request costs only the pipeline call, "
            "bound_mean_8_over_1 (8 x per-sentence time in calls of 8 / time alone) the least its mean latency at 8 "
            "clients over its 1-client latency can be (Little's law); the targets' bound_for_this_server_here take "
            "this server's own 1-client requests/s and p50 instead of the pipeline call alone",
        ],
    }  # fmt: skip
    if args.check:
        results["notes"].append("--check: few requests; the ratios mean little")
    for label, target in targets.items():
        print(f"  {label}: {target['value']:.3g} ({'meets' if target['meets_target'] else 'MISSES'} the target)")
    print(f"  a server whose single request costs the pipeline call: 64/1 <= {bound_scaling:.2f}x, mean(8)/p50(1) >= "
          f"{bound_tail:.2f}x; with this server's single requests: <= {server_scaling:.2f}x, >= {server_tail:.2f}x "
          "(medians of the rounds)")
    common.write_results(name, results)
    machine = f"{common.cpu_name()}, {os.cpu_count()} cores"
    common.bar_chart(
        name, f"albert serve, POST /embed of one real sentence ({info.get('model')}, {machine})",
        {f"{clients} client{'s' if clients > 1 else ''}": {mode: summary[mode][clients]["requests_per_s"] for mode in MODES}
         for clients in CLIENTS},
        "requests / s (median of the rounds)",
        note=f"64 / 1 clients (batching on): {scaling:.2f}x (at most {bound_scaling:.2f}x for single requests at the pipeline's "
             f"cost, {server_scaling:.2f}x at this server's); batching on / off "
             f"at 64 clients: {ratios['batching_on_over_off_requests_per_s_64_clients']:.2f}x; {mismatched} mismatched, "
             f"{lost} lost",
    )  # fmt: skip
    common.bar_chart(
        f"{name}-latency", f"albert serve latency, p50 and p99 ({machine})",
        {f"{clients} client{'s' if clients > 1 else ''}": {
            f"{mode} {quantile}": summary[mode][clients][f"{quantile}_ms"] for mode in MODES for quantile in ("p50", "p99")}
         for clients in CLIENTS},
        "milliseconds (median of the rounds)",
        note=f"p99 at 8 clients / p50 at 1 client (batching on): {tail:.2f}x (its mean at least {bound_tail:.2f}x for single "
             f"requests at the pipeline's cost, {server_tail:.2f}x at this server's)",
    )  # fmt: skip


if __name__ == "__main__":
    main()
