"""Pretraining ALBERT from scratch: masked LM + sentence-order prediction, as a loop over small pieces.

The pieces: prepared data (:mod:`.shards`) -> sentence-order pairs (:mod:`.instances`) -> n-gram
masks (:mod:`.masking`), built ahead in a background thread -> the model and the loss computed
here (:class:`PretrainingObjective`) -> LAMB or AdamW with warmup and linear decay (:mod:`..optim`)
-> the train step, exact resume, DDP and the loop, shared with fine-tuning (:class:`..trainer.Trainer`,
fed here with the objective and the batches) -> checkpoints (:mod:`..checkpoints`) -> metrics,
curves and status lines (:mod:`..loop`). What stays here is pretraining's own: data, objective,
its metrics window and records, the held-out evaluation and the run's record.

What makes it fast and safe:

* the MLM head scores the vocabulary only at masked positions (about 15% of tokens, at most
  ``max_predictions_per_seq`` per row): the same loss as scoring every position, without the
  (batch x sequence x 30,000) logits that dominate memory and time (``bench/pretrain_head.py``);
* rows are padded to the longest row of each batch, not to ``max_seq_length``;
* bf16 autocast on GPU, optional activation checkpointing, gradient accumulation, clipping, and
  optionally the unpadded encoder of :mod:`albert.fast` (``fast=True``);
* several GPUs or machines through ``torchrun`` (DistributedDataParallel; gloo on CPU);
* every batch is a pure function of ``(seed, step, rank)`` and the checkpoint holds all the
  state a step depends on, so a run killed with ``kill -9`` and resumed gives the same curve as
  one that never stopped.

Run layout (``out/``): ``run.json`` (settings), ``checkpoints/step-*.pt``, ``metrics.jsonl``,
``curves.png``, ``data/`` (the tokenized corpus when text files were given), and ``final/``, a
model folder (``AlbertForPreTraining`` weights, config, tokenizer) that
``AlbertForMaskedLM.from_pretrained`` and the pipelines load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import queue
import resource
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...atomic_files import atomic_folder
from ...config import AlbertConfig
from ...errors import CheckpointError, OptionError
from ...modeling import AlbertForMaskedLM, AlbertForPreTraining
from ..checkpoints import CheckpointManager, check_finite, locked_run_folder
from ..loop import (
    MetricsWindow,
    Reporter,
    RunFiles,
    autocast_for,
    check_resumable,
    resume_checkpoint,
    write_json,
)
from ..optim import build_optimizer, warmup_linear_decay
from ..run_log import read_metrics
from ..trainer import Distributed, Schedule, StepBatch, StepOutput, Trainer
from .corpus import CorpusError
from .instances import InstanceStream, collate_pairs
from .masking import IGNORE_INDEX, NgramMasker, word_start_table
from .settings import PretrainSettings, filled
from .shards import MANIFEST_NAME, ShardedCorpus, prepare_shards, prepared_data_matches

#: curves.png is redrawn at a checkpoint at most this often (drawing takes seconds), and at the end.
PLOT_INTERVAL_SECONDS = 600
#: Its panels, as (metric key, title); held-out evaluations are points on the training lines.
CURVES = (
    ("mlm_loss", "MLM loss"),
    ("mlm_accuracy", "MLM accuracy"),
    ("sop_loss", "SOP loss"),
    ("sop_accuracy", "SOP accuracy"),
    ("learning_rate", "learning rate"),
    ("tokens_per_second", "tokens / s"),
)
FINAL_MODEL_DIR = "final"

#: Settings that may change when a run resumes: they do not change what a step computes (the
#: recipe's values are compared once resolved; ``steps`` may grow to extend a run).
_RUNTIME_SETTINGS = frozenset({
    "steps", "recipe", "checkpoint_every", "keep_checkpoints", "log_every", "eval_batches", "activation_checkpointing",
    "fast", "compile", "device", "bf16", "num_threads", "prefetch_steps", "progress", "init_from",
})


# -- settings: in .settings (torch-free, for the CLI) ---------------------------------------------


def resolve_model_config(
    spec: str | os.PathLike | AlbertConfig,
    vocab_size: int,
    max_seq_length: int,
    overrides: dict[str, Any] | None = None,
) -> AlbertConfig:
    """The model's config from a preset name (``albert-base-v2``), a config.json, or a model folder,
    with ``overrides`` applied and ``vocab_size`` taken from the tokenizer.

    Raises:
        ValueError: an unknown preset or field, or max_position_embeddings < max_seq_length.
    """
    if isinstance(spec, AlbertConfig):
        config = spec.copy()
    else:
        path = Path(spec)
        if path.is_file():
            config = AlbertConfig.from_json_file(path)
        elif path.is_dir():
            config = AlbertConfig.from_pretrained(path)
        else:
            config = AlbertConfig.preset(str(spec))
    known = {f.name for f in dataclasses.fields(AlbertConfig)} - {"extra"}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise OptionError(f"unknown config field {key!r} in --set; known fields: {', '.join(sorted(known))}")
        setattr(config, key, value)
    config.vocab_size = vocab_size
    config.validate()
    if config.max_position_embeddings < max_seq_length:
        raise OptionError(
            f"max_position_embeddings ({config.max_position_embeddings}) is smaller than the sequence "
            f"length {max_seq_length}; lower --seq-len or --set max_position_embeddings={max_seq_length}"
        )
    return config


# -- the objective --------------------------------------------------------------------------------

class PretrainingObjective(nn.Module):
    """MLM + SOP loss of an ALBERT model, with vocabulary logits at masked positions only.

    Gathers the final hidden states where ``labels != -100`` and runs the MLM head on those
    rows alone: the loss equals ``AlbertForPreTraining(...).loss``, computed on ~15% of the
    positions. Works with ``AlbertForMaskedLM`` too (no SOP head: MLM only). Wrapping this
    module (not the model) in DistributedDataParallel keeps gradient synchronisation intact.

    Returns a dict of tensors: ``loss``, ``mlm_loss``, ``mlm_correct``, ``mlm_top5_correct``,
    ``mlm_count`` and, with a SOP head, ``sop_loss``, ``sop_correct``, ``sop_count``.
    """

    def __init__(self, model: AlbertForPreTraining | AlbertForMaskedLM) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        labels: torch.Tensor,
        sentence_order_label: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        outputs = self.model.albert(input_ids, attention_mask, token_type_ids)
        masked = labels != IGNORE_INDEX  # (B, S)
        targets = labels[masked]  # (M,): M = number of masked tokens
        logits = self.model.masked_logits(outputs.last_hidden_state, masked).float()  # (M, V)
        mlm_loss = F.cross_entropy(logits, targets) if targets.numel() else logits.sum() * 0.0
        top5 = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
        result = {
            "mlm_loss": mlm_loss,
            "mlm_correct": (top5[:, 0] == targets).sum(),
            "mlm_top5_correct": (top5 == targets[:, None]).any(dim=-1).sum(),
            "mlm_count": torch.tensor(targets.numel(), device=targets.device),
        }
        loss = mlm_loss
        sop_head = getattr(self.model, "sop_classifier", None)
        if sop_head is not None and sentence_order_label is not None and outputs.pooler_output is not None:
            sop_logits = sop_head(outputs.pooler_output).float()  # (B, 2)
            sop_loss = F.cross_entropy(sop_logits, sentence_order_label)
            result.update(
                sop_loss=sop_loss,
                sop_correct=(sop_logits.argmax(-1) == sentence_order_label).sum(),
                sop_count=torch.tensor(sentence_order_label.numel(), device=sop_logits.device),
            )
            loss = loss + sop_loss
        result["loss"] = loss
        return result


def summarize_results(results: Sequence[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Combine the per-batch outputs of :class:`PretrainingObjective`.

    The MLM loss is averaged over masked tokens (not over batches), so batch sizes do not matter.
    """
    masked = sum(float(r["mlm_count"]) for r in results)
    summary: dict[str, float] = {
        "mlm_loss": sum(float(r["mlm_loss"]) * float(r["mlm_count"]) for r in results) / max(masked, 1),
        "mlm_accuracy": sum(float(r["mlm_correct"]) for r in results) / max(masked, 1),
        "mlm_top5_accuracy": sum(float(r["mlm_top5_correct"]) for r in results) / max(masked, 1),
        "masked_tokens": masked,
    }
    summary["mlm_perplexity"] = math.exp(min(summary["mlm_loss"], 50.0))
    pairs = sum(float(r["sop_count"]) for r in results if "sop_count" in r)
    if pairs:
        summary["sop_loss"] = sum(float(r["sop_loss"]) * float(r["sop_count"]) for r in results if "sop_count" in r) / pairs
        summary["sop_accuracy"] = sum(float(r["sop_correct"]) for r in results if "sop_count" in r) / pairs
        summary["pairs"] = pairs
    return summary


# -- data: batches built ahead, in a thread ------------------------------------------------------

@dataclass
class BatchMaker:
    """Turns instances into masked model inputs (numpy -> torch), the same way for training and
    evaluation."""

    corpus: ShardedCorpus
    masker: NgramMasker
    cls_token_id: int
    sep_token_id: int
    pad_token_id: int

    def __call__(self, instances: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        rows = collate_pairs(self.corpus, instances, self.cls_token_id, self.sep_token_id, self.pad_token_id)
        masked = self.masker(rows["input_ids"], rows["special_tokens_mask"], rng)
        return {
            "input_ids": torch.from_numpy(masked.input_ids),
            "attention_mask": torch.from_numpy(rows["attention_mask"]),
            "token_type_ids": torch.from_numpy(rows["token_type_ids"]),
            "labels": torch.from_numpy(masked.labels),
            "sentence_order_label": torch.from_numpy(rows["sentence_order_label"]),
        }


def step_rng(seed: int, step: int, rank: int, micro_batch: int) -> np.random.Generator:
    """The generator for the masks of one micro-batch: a pure function of its coordinates, so
    masks are fresh every step (dynamic masking) and identical after a resume."""
    return np.random.default_rng([seed, step, rank, micro_batch])


class BatchProducer:
    """Builds the micro-batches of the coming steps in a background thread (data never stalls
    the model), in a fixed order from a fixed state, so timing cannot change what a step sees.

    Each item is ``(step, micro_batches, stream_state_after_step)``.
    """

    def __init__(
        self,
        stream: InstanceStream,
        make_batch: BatchMaker,
        *,
        seed: int,
        start_step: int,
        total_steps: int,
        batch_size: int,
        accumulation_steps: int,
        rank: int,
        world_size: int,
        prefetch_steps: int,
        pin_memory: bool,
    ) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch_steps))
        self._stop = threading.Event()
        self._args = (stream, make_batch, seed, start_step, total_steps, batch_size, accumulation_steps, rank,
                      world_size, pin_memory)
        self._thread = threading.Thread(target=self._run, name="albert-batches", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        (stream, make_batch, seed, start_step, total_steps, batch_size, accumulation_steps, rank, world_size,
         pin_memory) = self._args
        per_rank = batch_size // world_size
        try:
            for step in range(start_step, total_steps):
                instances = stream.take(batch_size)[rank * per_rank:(rank + 1) * per_rank]
                micro_batches = []
                for index, part in enumerate(np.array_split(instances, accumulation_steps)):
                    batch = make_batch(part, step_rng(seed, step, rank, index))
                    if pin_memory:
                        batch = {key: value.pin_memory() for key, value in batch.items()}
                    micro_batches.append(batch)
                if not self._put((step, micro_batches, stream.state())):
                    return
        except BaseException as error:  # handed to the training loop, which re-raises it
            self._put(error)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next(self) -> tuple[int, list[dict[str, torch.Tensor]], dict[str, int]]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- distributed: :class:`..trainer.Distributed` (re-exported here) ----------------------------------


def _device_for(settings: PretrainSettings, distributed: Distributed) -> torch.device:
    from ...devices import resolve_device

    device = resolve_device(settings.device)
    if device.type == "cuda" and distributed.enabled:
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
    return device


# -- metrics over a logging window ----------------------------------------------------------------

def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by torch (GPU), or the process's peak resident memory (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# -- the run --------------------------------------------------------------------------------------

@dataclass
class PretrainResult:
    """Where things were written, and the last logged metrics."""

    run_dir: Path
    final_model: Path
    last_metrics: dict[str, Any] = field(default_factory=dict)
    heldout: dict[str, Any] | None = None


def resolve_training_data(
    data: Sequence[str | os.PathLike], tokenizer: Any, run_dir: Path, distributed: Distributed, progress: bool
) -> Path:
    """A prepared data folder: ``data`` itself when it is one, else the text files in ``data``
    tokenized into ``run_dir/data`` (reused when the files and tokenizer have not changed)."""
    if len(data) == 1 and (Path(data[0]) / MANIFEST_NAME).is_file():
        return Path(data[0])
    target = run_dir / "data"
    if distributed.is_main and not prepared_data_matches(target, data, tokenizer):
        prepare_shards(data, tokenizer, target, progress=progress)
    distributed.barrier()
    return target


def _weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def pretrain(
    model_config: str | os.PathLike | AlbertConfig,
    tokenizer: Any,
    data: Sequence[str | os.PathLike],
    run_dir: str | os.PathLike,
    settings: PretrainSettings,
    *,
    config_overrides: dict[str, Any] | None = None,
    resume: bool = False,
) -> PretrainResult:
    """Pretrain an :class:`AlbertForPreTraining` and save it to ``run_dir/final``.

    Args:
        model_config: a preset name, a config.json, a model folder, or an AlbertConfig.
        tokenizer: the AlbertTokenizer (its vocabulary sets ``vocab_size``).
        data: a prepared data folder, or text files/folders (tokenized into ``run_dir/data``).
        run_dir: the run folder (checkpoints, metrics, curves, final model).
        settings: see :class:`PretrainSettings`.
        config_overrides: config fields to change (``{"hidden_size": 256}``).
        resume: continue from the last checkpoint in ``run_dir`` (a fresh start if there is none).

    Raises:
        FileExistsError: ``run_dir`` holds checkpoints but ``resume`` is False.
        ValueError: bad settings, or resuming with settings that differ from the checkpoint's.
        NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint is kept).
        CorpusError, DataMismatchError: unusable data.
        FolderInUseError: another run is writing ``run_dir``.
        DiskFullError, OutputError: a checkpoint, log or model could not be written (the earlier
            checkpoints are kept: resume once there is room).
    """
    warmup_given = settings.warmup_steps is not None
    settings = settings.resolved()
    run_dir = Path(run_dir)
    distributed = Distributed.from_environment()
    if settings.batch_size % (distributed.world_size * settings.accumulation_steps):
        raise OptionError(
            f"batch_size {settings.batch_size} must be divisible by world size ({distributed.world_size}) x "
            f"accumulation steps ({settings.accumulation_steps})"
        )
    device = _device_for(settings, distributed)
    torch.set_num_threads(settings.num_threads or max(1, (os.cpu_count() or 1) // _local_world_size()))
    distributed.start(device)
    manager = CheckpointManager(run_dir, keep=settings.keep_checkpoints)
    try:
        with locked_run_folder(run_dir, writer=distributed.is_main):  # a second run with this --out is refused
            checkpoint = resume_checkpoint(manager, resume)
            if distributed.is_main:
                run_dir.mkdir(parents=True, exist_ok=True)
            distributed.barrier()
            data_dir = resolve_training_data(data, tokenizer, run_dir, distributed, settings.progress)
            resume_state = manager.load(checkpoint, map_location=device) if checkpoint is not None else None
            if resume_state is not None and not warmup_given:
                # The warmup derived from --steps belongs to the run: extending the run keeps it.
                saved = resume_state["settings"]["warmup_steps"]
                settings = dataclasses.replace(settings, warmup_steps=min(saved, settings.steps))
            return _train(model_config, tokenizer, data_dir, run_dir, settings, config_overrides, resume_state,
                          distributed, device, manager)
    finally:
        distributed.stop()


def _local_world_size() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def _train(
    model_config: str | os.PathLike | AlbertConfig,
    tokenizer: Any,
    data_dir: Path,
    run_dir: Path,
    settings: PretrainSettings,
    config_overrides: dict[str, Any] | None,
    resume_state: dict[str, Any] | None,
    distributed: Distributed,
    device: torch.device,
    manager: CheckpointManager,
) -> PretrainResult:
    corpus = ShardedCorpus(data_dir, "train", tokenizer)
    config = resolve_model_config(model_config, len(tokenizer.get_vocab()), settings.max_seq_length, config_overrides)
    trainer = build_trainer(config, settings, device, distributed)
    settings_record = dataclasses.asdict(settings)
    start_step, stream_state = 0, {"epoch": 0, "position": 0}
    if resume_state is not None:
        also = ["the model config (--config / --set)"] if resume_state["config"] != config.to_dict() else []
        if resume_state["data_fingerprint"] != corpus.fingerprint:
            also.append("the data's tokenizer")
        check_resumable(manager.latest(), resume_state["settings"], settings_record, _RUNTIME_SETTINGS, also)
        trainer.load_state_dict(resume_state)
        start_step, stream_state = resume_state["step"], resume_state["data"]

    files = RunFiles(run_dir, CURVES, ("heldout", "held-out"), PLOT_INTERVAL_SECONDS)
    if distributed.is_main:
        files.start(start_step, {"settings": settings_record, "config": config.to_dict(), "data": str(data_dir),
                                 "world_size": distributed.world_size, "device": str(device)})

    short_seq_prob = filled(settings.short_seq_prob, "short_seq_prob")
    stream = InstanceStream(corpus, settings.max_seq_length, short_seq_prob, settings.seed,
                            stream_state["epoch"], stream_state["position"])
    producer = BatchProducer(
        stream, batch_maker_for(corpus, tokenizer, settings), seed=settings.seed, start_step=start_step,
        total_steps=settings.steps, batch_size=settings.batch_size, accumulation_steps=settings.accumulation_steps,
        rank=distributed.rank, world_size=distributed.world_size, prefetch_steps=settings.prefetch_steps,
        pin_memory=device.type == "cuda",
    )
    hooks = _PretrainingHooks(
        trainer, files, manager, _heldout_batches(data_dir, tokenizer, settings, distributed),
        {"settings": settings_record, "config": config.to_dict(), "data_fingerprint": corpus.fingerprint,
         "world_size": distributed.world_size},
        last_checkpoint=manager.latest() if resume_state is not None else None,
    )
    if start_step and distributed.is_main:
        hooks.last_record = _continue_log(hooks, start_step)
    schedule = Schedule(settings.steps, settings.log_every, settings.checkpoint_every)
    try:
        trainer.fit(_step_batches(producer), start_step, schedule, hooks,
                    Reporter(settings.progress and distributed.is_main), "pretraining")
    finally:
        producer.close()
    return _finish(hooks, tokenizer)


def _step_batches(producer: BatchProducer) -> Iterator[StepBatch]:
    """The producer's steps as the trainer takes them: the data position rides along for the checkpoint."""
    while True:
        _, micro_batches, stream_state = producer.next()
        yield StepBatch(micro_batches, position=stream_state)


def _continue_log(hooks: _PretrainingHooks, step: int) -> dict[str, Any]:
    """Pick up the log of a run resumed at ``step`` (its checkpoint) as if it had never stopped:
    log the held-out evaluation of ``step`` if the run was killed between writing the checkpoint
    and logging it (the weights are the checkpoint's, so the values are the ones it would have
    logged), and return the last training record, which the summary reports."""
    files, heldout = hooks.files, hooks.heldout
    logged = read_metrics(files.log.path) if files.log.path.exists() else []
    if heldout is not None and not any(r.get("split") == "heldout" and r.get("step") == step for r in logged):
        files.log.append({"step": step, "split": "heldout", **evaluate_heldout(hooks.trainer, heldout)})
    return next((r for r in reversed(logged) if r.get("split", "train") == "train"), {})


def build_trainer(config: AlbertConfig, settings: PretrainSettings, device: torch.device,
                  distributed: Distributed) -> Trainer[AlbertForPreTraining]:
    """The seeded :class:`AlbertForPreTraining` (or the ``init_from`` weights) on ``device``, its
    :class:`PretrainingObjective`, the optimizer and the warmup-then-decay schedule, as a :class:`Trainer`."""
    torch.manual_seed(settings.seed)
    model = AlbertForPreTraining(config)
    if settings.init_from is not None:
        load_initial_weights(model, settings.init_from)
    model = model.to(device)
    if settings.activation_checkpointing:
        model.gradient_checkpointing_enable()
    if settings.compile:
        from ...fast.compile import compile_fast

        # Asked for by name, so also on a CPU (where compiling costs a C++ build at the start).
        compile_fast(model, on_cpu=True)  # same weights and checkpoints; compiles on the first step
    elif settings.fast:
        model.set_attn_implementation("packed")  # same weights, same checkpoints
    optimizer = build_optimizer(model, filled(settings.optimizer, "optimizer"),
                                filled(settings.learning_rate, "learning_rate"),
                                filled(settings.weight_decay, "weight_decay"), filled(settings.eps, "eps"))
    scheduler = warmup_linear_decay(optimizer, filled(settings.warmup_steps, "warmup_steps"), settings.steps)
    model.train()
    return Trainer(model, PretrainingObjective(model), optimizer, scheduler, device=device, bf16=settings.bf16,
                   max_grad_norm=filled(settings.max_grad_norm, "max_grad_norm"), distributed=distributed)


@torch.no_grad()
def evaluate_heldout(trainer: Trainer[AlbertForPreTraining], batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """MLM and SOP metrics of the trainer's model on fixed batches (eval mode; the training mode is put back)."""
    model = trainer.model
    model.eval()
    objective = PretrainingObjective(model)
    results = []
    for batch in batches:
        with autocast_for(trainer.device, trainer.bf16):
            results.append(objective(**{key: value.to(trainer.device) for key, value in batch.items()}))
    model.train()
    return summarize_results(results)


@dataclass
class _PretrainingHooks:
    """Pretraining's side of the trainer's loop: the MLM/SOP window, its records and the NaN guard,
    and checkpoints that carry the data position and are followed by a held-out evaluation."""

    trainer: Trainer[AlbertForPreTraining]
    files: RunFiles
    manager: CheckpointManager
    heldout: list[dict[str, torch.Tensor]] | None
    #: What every checkpoint records beside the trainer's state: settings, config, data fingerprint, world size.
    run_record: dict[str, Any]
    last_checkpoint: Path | None = None
    last_record: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 0.0

    @property
    def distributed(self) -> Distributed:
        return self.trainer.distributed or Distributed()

    def measure(self, window: MetricsWindow, batch: StepBatch, output: StepOutput) -> None:
        results, zero = output.results, torch.zeros((), device=window.device)
        count = len(results)
        window.add(
            mlm_loss=sum(r["mlm_loss"].detach() for r in results) / count,
            sop_loss=sum(r.get("sop_loss", zero).detach() for r in results) / count,
            mlm_correct=sum(r["mlm_correct"] for r in results),
            mlm_count=sum(r["mlm_count"] for r in results),
            sop_correct=sum(r.get("sop_correct", zero) for r in results),
            sop_count=sum(r.get("sop_count", zero) for r in results),
            grad_norm=output.grad_norm,
            tokens=float(sum(int(micro_batch["attention_mask"].sum()) for micro_batch in batch.micro_batches)),
        )
        self.learning_rate = output.learning_rate

    def log(self, window: MetricsWindow, step: int, batch: StepBatch) -> str:
        record = {"step": step, "epoch": batch.position["epoch"], **_window_record(window, self.distributed),
                  "learning_rate": self.learning_rate, "peak_memory_mb": peak_memory_mb(self.trainer.device)}
        # Before anything is saved: a diverged state never replaces a good checkpoint.
        check_finite({key: record[key] for key in ("loss", "grad_norm")}, step, self.last_checkpoint)
        if self.distributed.is_main:
            self.files.log.append(record)
        self.last_record = record
        return (f"loss {record['loss']:.3f} mlm acc {record['mlm_accuracy']:.3f} "
                f"{record['tokens_per_second']:,.0f} tok/s lr {self.learning_rate:.3g}")

    def evaluate(self, step: int) -> None:
        """Not scheduled: the held-out set is evaluated at each checkpoint."""

    def checkpoint(self, step: int, batch: StepBatch) -> None:
        state = self.trainer.state_dict()  # every rank's generators: a collective
        if not self.distributed.is_main:
            return
        rng = state.pop("rng")
        self.last_checkpoint = self.manager.save(step, {**state, "step": step, "data": batch.position, "rng": rng,
                                                        **self.run_record})
        if self.heldout is not None:
            self.files.log.append({"step": step, "split": "heldout", **evaluate_heldout(self.trainer, self.heldout)})
        self.files.checkpointed()

    def should_stop(self) -> bool:
        return False


def _window_record(window: MetricsWindow, distributed: Distributed) -> dict[str, float]:
    """Averages over the window and over ranks (one all-reduce)."""
    values, seconds = window.totals(all_reduce=distributed.enabled)
    steps = values["steps"] / distributed.world_size
    record = {
        "mlm_loss": values["mlm_loss"] / values["steps"],
        "mlm_accuracy": values["mlm_correct"] / max(values["mlm_count"], 1),
        "grad_norm": values["grad_norm"] / values["steps"],
        "tokens_per_second": values["tokens"] / seconds,
        "tokens": values["tokens"],
    }
    if values["sop_count"]:
        record["sop_loss"] = values["sop_loss"] / values["steps"]
        record["sop_accuracy"] = values["sop_correct"] / values["sop_count"]
    record["loss"] = record["mlm_loss"] + record.get("sop_loss", 0.0)
    record["seconds_per_step"] = seconds / max(steps, 1)
    return record


def load_initial_weights(model: AlbertForPreTraining, folder: str | os.PathLike) -> None:
    """Start from a saved model's weights instead of a random initialisation (continued
    pretraining): every tensor of ``model`` must be in the folder with the same shape; a head the
    folder lacks (a masked-LM checkpoint has no sentence-order head) keeps its fresh weights.

    Raises:
        ValueError: a tensor is missing from the folder or has another shape.
    """
    source = AlbertForPreTraining.from_pretrained(folder)
    own, saved = model.state_dict(), source.state_dict()
    mismatched = [f"{name}: {tuple(saved[name].shape)} there, {tuple(tensor.shape)} here"
                  for name, tensor in own.items() if name in saved and saved[name].shape != tensor.shape]
    if mismatched:
        raise CheckpointError(
            f"cannot start from {folder}: its shapes differ from the model's ({'; '.join(mismatched[:3])}); "
            f"pass --config {folder} so that the model takes its shape"
        )
    absent = set(source.loading_info.missing_keys)
    missing = sorted(absent - {name for name in own if name.startswith("sop_")})
    if missing:
        raise CheckpointError(f"cannot start from {folder}: it lacks {', '.join(missing[:5])}")
    # Only what the folder holds: an absent head keeps this run's own (seeded) initialisation.
    model.load_state_dict({name: tensor for name, tensor in saved.items() if name not in absent}, strict=False)


def batch_maker_for(corpus: ShardedCorpus, tokenizer: Any, settings: PretrainSettings) -> BatchMaker:
    """The :class:`BatchMaker` for a corpus: the tokenizer's special ids and the settings' masking."""
    vocab_size = len(tokenizer.get_vocab())
    pieces = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    special_ids = sorted(set(tokenizer.all_special_ids))
    masker = NgramMasker(
        word_start_table(pieces, special_ids),
        tokenizer.mask_token_id,
        np.setdiff1d(np.arange(vocab_size), special_ids),
        masked_lm_prob=filled(settings.masked_lm_prob, "masked_lm_prob"),
        max_predictions_per_seq=filled(settings.max_predictions_per_seq, "max_predictions_per_seq"),
    )
    return BatchMaker(corpus, masker, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)


def _heldout_batches(
    data_dir: Path, tokenizer: Any, settings: PretrainSettings, distributed: Distributed
) -> list[dict[str, torch.Tensor]] | None:
    """A fixed set of held-out batches (seed 0, epoch 0), evaluated at every checkpoint."""
    if settings.eval_batches < 1 or not distributed.is_main:
        return None
    try:
        corpus = ShardedCorpus(data_dir, "heldout", tokenizer)
    except CorpusError:  # no held-out split (heldout_fraction 0): nothing to evaluate
        return None
    from .instances import epoch_instances

    short_seq_prob = filled(settings.short_seq_prob, "short_seq_prob")
    try:
        instances = epoch_instances(corpus, settings.max_seq_length, short_seq_prob, seed=0, epoch=0)
    except ValueError:
        return None
    make_batch = batch_maker_for(corpus, tokenizer, settings)
    per_batch = max(1, settings.batch_size // (distributed.world_size * settings.accumulation_steps))
    batches = []
    for index in range(settings.eval_batches):
        part = instances[index * per_batch:(index + 1) * per_batch]
        if not len(part):
            break
        batches.append(make_batch(part, step_rng(0, index, 0, 0)))
    return batches or None


def _finish(hooks: _PretrainingHooks, tokenizer: Any) -> PretrainResult:
    """Save the final model with its tokenizer, check that every rank holds the same weights, plot."""
    trainer, files, last_record, heldout, distributed = (hooks.trainer, hooks.files, hooks.last_record, hooks.heldout,
                                                         hooks.distributed)
    final = files.run_dir / FINAL_MODEL_DIR
    digests = distributed.gather(_weights_digest(trainer.model))
    evaluation = None
    if distributed.is_main:
        trainer.model.eval()
        if heldout is not None:
            evaluation = evaluate_heldout(trainer, heldout)
        with atomic_folder(final) as folder:  # the model and its evaluation, all or nothing
            trainer.model.save_pretrained(folder, tokenizer=tokenizer)
            if evaluation is not None:
                write_json(folder / "eval_results.json", evaluation)
        files.finish("summary.json", {
            "steps": last_record.get("step"),
            "last_metrics": last_record,
            "heldout": evaluation,
            "weights_digest_per_rank": digests,
            "ranks_agree": len(set(digests)) == 1,
        })
    distributed.barrier()
    return PretrainResult(files.run_dir, final, last_record, evaluation)
