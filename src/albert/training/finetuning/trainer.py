"""Fine-tuning ALBERT on a downstream task, as a readable loop over small pieces.

The pieces: a task (:mod:`.tasks`: read files, label maps, encode, score) -> the model with the
task's head, whose loss is the one trained -> AdamW with warmup and linear decay, optionally
layer-wise learning-rate decay -> evaluation on the dev set (:mod:`.evaluate`), early stopping
on a chosen metric, the best model saved with ``save_pretrained`` -> checkpoints that resume
exactly (:mod:`..checkpoints`) -> metrics log, curves and status lines (:mod:`..loop`). The train
step, its state and the loop are :class:`..trainer.Trainer`'s (shared with pretraining), fed here
with the head's loss (:class:`HeadLoss`) and the batches of each step.

Why the defaults (``docs/finetuning.md`` says more):

* the learning rate, when not given, follows the model's width: 1e-4 for small models
  (hidden <= 512), 3e-5 for base, 2e-5 for large and 1e-5 beyond; ALBERT v2 large/xlarge are
  known to diverge with BERT's usual 5e-5 and no warmup (paper appendix A.4 and the reference
  repository's GLUE settings use 1e-5..3e-5 with warmup);
* warmup over 10% of the steps, then linear decay to zero; AdamW with eps 1e-6 (as the
  reference's optimizer), weight decay 0.01 on matrices only (not LayerNorm or biases);
  gradients clipped to norm 1.0;
* a run whose loss turns NaN/inf, or climbs past ``divergence_factor`` times its first logged
  value, stops with :class:`TrainingDivergedError` saying what to change.

What makes a resumed run equal an uninterrupted one: the order of each epoch is a function of
``(seed, epoch)`` and the batch of a step a function of the step, and a checkpoint holds the
model, optimizer, scheduler, random generators and the early-stopping state.

Run layout (``out/``): ``run.json``, ``checkpoints/step-*.pt``, ``metrics.jsonl`` (train and dev
records), ``curves.png``, ``metrics.json`` (the summary) and ``best/``: the best model with its
tokenizer, ``finetune.json`` and ``eval_results.json``, which ``albert.pipeline(task, model=...)``,
``albert evaluate`` and transformers load; for sentence embeddings also ``final/``, the last model
(both with the sentence-transformers files).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ...atomic_files import atomic_folder
from ...errors import InputError, OptionError
from ..checkpoints import CheckpointManager, NonFiniteLossError, locked_run_folder
from ..loop import MetricsWindow, Reporter, RunFiles, check_resumable, resume_checkpoint, write_json
from ..optim import excluded_from_decay, warmup_linear_decay
from ..trainer import Distributed, Schedule, StepBatch, StepOutput, Trainer
from .evaluate import FINETUNE_INFO_NAME, check_max_length, evaluate_examples
from .settings import FinetuneSettings
from .tasks import EncodeOptions, Feature, Task, collate, get_task

if TYPE_CHECKING:
    from ...modeling import AlbertPreTrainedModel

BEST_MODEL_DIR = "best"
#: The last model, beside the best, for tasks that keep it (:attr:`Task.saves_final`).
FINAL_MODEL_DIR = "final"
SUMMARY_NAME = "metrics.json"
#: curves.png is redrawn at a checkpoint at most this often, and at the end.
CURVES_EVERY_SECONDS = 300
#: Its dev metric panels when the data has them, after the chosen metric (training and dev loss,
#: and the learning rate, come first).
_DEV_CURVES = ("accuracy", "f1", "exact_match", "pearson", "spearman", "mcc")

#: Settings that may change when a run resumes: they do not change what a step computes.
_RUNTIME_SETTINGS = frozenset(
    {"device", "bf16", "fast", "threads", "progress", "keep_checkpoints", "eval_batch_size", "patience", "log_every",
     "processes"}
)


class TrainingDivergedError(NonFiniteLossError):
    """The loss became NaN/inf or exploded; the message says which settings to change."""


# -- settings: in .settings (torch-free, for the CLI) -----------------------------------------------


def default_learning_rate(hidden_size: int) -> float:
    """The peak learning rate used when none is given, by model width (see the module docstring)."""
    if hidden_size <= 512:
        return 1e-4
    if hidden_size <= 768:
        return 3e-5
    if hidden_size <= 1024:
        return 2e-5
    return 1e-5


# -- optimizer --------------------------------------------------------------------------------------

_GROUP_PARAMETER = re.compile(r"^(?:albert\.)?encoder\.albert_layer_groups\.(\d+)\.")


def layer_depth(name: str, num_hidden_groups: int) -> int:
    """How far below the head a parameter sits: 0 for the head and pooler, 1 for the top shared
    layer group ... ``num_hidden_groups`` for the bottom one, one more for the embeddings.

    ALBERT shares its layers (paper section 3.1), so depth counts the shared groups, not the
    computed layers: with one group, layer-wise decay gives head, encoder and embeddings three
    rates. A bare encoder's names (sentence embeddings) lack the ``albert.`` prefix.
    """
    if name.removeprefix("albert.").startswith(("embeddings.", "encoder.embedding_hidden_mapping_in.")):
        return num_hidden_groups + 1
    match = _GROUP_PARAMETER.match(name)
    if match:
        return num_hidden_groups - int(match.group(1))
    return 0


def finetune_parameter_groups(
    model: AlbertPreTrainedModel, learning_rate: float, weight_decay: float, layerwise_lr_decay: float = 1.0
) -> list[dict[str, Any]]:
    """AdamW groups: weight decay except on LayerNorm and biases, and with layer-wise decay
    (``< 1``) a learning rate of ``learning_rate * layerwise_lr_decay ** depth`` (:func:`layer_depth`)."""
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    num_groups = model.config.num_hidden_groups
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        depth = layer_depth(name, num_groups) if layerwise_lr_decay < 1 else 0
        decayed = not excluded_from_decay(name)
        group = groups.setdefault((depth, decayed), {
            "params": [], "weight_decay": weight_decay if decayed else 0.0,
            "lr": learning_rate * layerwise_lr_decay**depth,
        })
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def build_finetune_optimizer(model: AlbertPreTrainedModel, settings: FinetuneSettings, learning_rate: float) -> torch.optim.Optimizer:
    """AdamW (eps 1e-6, as ALBERT's reference fine-tuning) over :func:`finetune_parameter_groups`."""
    groups = finetune_parameter_groups(model, learning_rate, settings.weight_decay, settings.layerwise_lr_decay)
    fused = all(parameter.is_cuda for group in groups for parameter in group["params"])
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-6, fused=fused or None)


# -- data order -------------------------------------------------------------------------------------


def step_batch(num_features: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The feature indices of optimizer step ``step``: epoch ``step // steps_per_epoch`` in the
    order ``permutation(seed, epoch)``, so a resumed run sees exactly the batches it would have."""
    steps_per_epoch = math.ceil(num_features / batch_size)
    epoch, position = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(num_features)
    return order[position * batch_size:(position + 1) * batch_size]


def _subset(examples: list[Any], limit: int | None, seed: int | None) -> list[Any]:
    """At most ``limit`` examples: a seeded sample kept in file order, or the first ``limit``."""
    if limit is None or len(examples) <= limit:
        return examples
    if seed is None:
        return examples[:limit]
    chosen = np.sort(np.random.default_rng(seed).choice(len(examples), size=limit, replace=False))
    return [examples[index] for index in chosen]


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class FinetuneResult:
    """Where things were written and how the run ended."""

    run_dir: Path
    best_model: Path
    metric: str
    best_value: float | None
    best_step: int | None
    best_metrics: dict[str, float]
    stopped_early: bool
    steps: int
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Progress:
    """Early stopping and best-model state: part of every checkpoint."""

    best_value: float | None = None
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    evals_without_improvement: int = 0
    stopped_early: bool = False
    first_loss: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def finetune(
    model: str | os.PathLike,
    train_file: str | os.PathLike,
    dev_file: str | os.PathLike | None,
    out: str | os.PathLike,
    settings: FinetuneSettings,
    *,
    resume: bool = False,
) -> FinetuneResult:
    """Fine-tune ``model`` on ``train_file`` for ``settings.task``; keep the best model on
    ``dev_file`` in ``out/best`` (without a dev file: the last model).

    Args:
        model: a model folder (pretrained or fine-tuned), a shipped model's name, or a Hub id.
        train_file, dev_file: files in a format of the task (see :mod:`.tasks`).
        out: the run folder.
        settings: see :class:`FinetuneSettings`.
        resume: continue from the last checkpoint in ``out`` (a fresh start if there is none).

    Raises:
        FileExistsError: ``out`` holds checkpoints but ``resume`` is False.
        ValueError: bad settings, unreadable files (DataFormatError), dev labels absent from
            train (UnknownLabelError), or resuming with settings that differ.
        TrainingDivergedError: the loss became NaN/inf or exploded.
        FolderInUseError: another run is writing ``out``.
        DiskFullError, OutputError: a checkpoint, log or model could not be written (the earlier
            checkpoints and ``best/`` are kept).
    """
    settings.validate()
    task = get_task(settings.task)
    run_dir = Path(out)
    manager = CheckpointManager(run_dir, keep=settings.keep_checkpoints)
    distributed = Distributed.from_environment()
    threads_before = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    elif distributed.enabled:  # the processes of one machine share its cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    try:
        # a second run with this --out is refused at once (rank 0 writes the folder; the others only read)
        with locked_run_folder(run_dir, writer=distributed.is_main):
            checkpoint_path = resume_checkpoint(manager, resume)
            return _finetune(task, model, train_file, dev_file, run_dir, manager, settings, checkpoint_path,
                             distributed)
    finally:
        torch.set_num_threads(threads_before)  # a library call leaves the process as it found it
        distributed.stop()


def _finetune(task: Task, model: str | os.PathLike, train_file: str | os.PathLike, dev_file: str | os.PathLike | None,
              run_dir: Path, manager: CheckpointManager, settings: FinetuneSettings,
              checkpoint_path: Path | None, distributed: Distributed) -> FinetuneResult:
    reporter = Reporter(settings.progress and distributed.is_main)
    data = _read_data(task, model, train_file, dev_file, settings)
    network, tokenizer, device = _load_model(task, model, settings, data.label_list, distributed)
    learning_rate = settings.learning_rate or default_learning_rate(network.config.hidden_size)
    options = _encode(task, tokenizer, data, settings)

    steps_per_epoch = math.ceil(len(data.train_features) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    warmup_steps = round(settings.warmup_ratio * total_steps)
    eval_every = settings.eval_every or steps_per_epoch
    schedule = Schedule(total_steps, settings.log_every, settings.checkpoint_every or eval_every,
                        eval_every if data.dev_features is not None else None)
    objective = task.objective(network, options, distributed.enabled) or HeadLoss(network)
    if task.in_batch_negatives and distributed.enabled and settings.accumulation_steps > 1:
        raise OptionError(
            f"the {task.name} task draws its negatives from the batch: with several processes it needs "
            f"--accumulation-steps 1 (got {settings.accumulation_steps}); raise --batch-size or the processes instead"
        )
    optimizer = build_finetune_optimizer(network, settings, learning_rate)
    distributed.start(device)
    trainer = Trainer(network, objective, optimizer, warmup_linear_decay(optimizer, warmup_steps, total_steps),
                      device=device, bf16=settings.bf16, max_grad_norm=settings.max_grad_norm,
                      distributed=distributed if distributed.enabled else None)

    settings_record = {**settings.to_dict(), "model": str(model), "train_file": str(train_file),
                       "dev_file": str(dev_file) if dev_file is not None else None,
                       "learning_rate": learning_rate, "label_list": data.label_list,
                       "processes": distributed.world_size}
    state, start_step = _Progress(), 0
    if checkpoint_path is not None:
        saved = manager.load(checkpoint_path, map_location=trainer.device)
        check_resumable(checkpoint_path, _with_later_defaults(saved["settings"]), settings_record, _RUNTIME_SETTINGS)
        trainer.load_state_dict(saved)
        state, start_step = _Progress(**json.loads(saved["progress"])), int(saved["step"])
        reporter.say(f"resuming from {checkpoint_path.name} (step {start_step} of {total_steps})")

    if distributed.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    curves = [(name, f"dev {name}") for name in dict.fromkeys((data.metric, *_DEV_CURVES)) if name != "loss"]
    files = RunFiles(run_dir, [("loss", "loss"), ("learning_rate", "learning rate"), *curves], ("dev", "dev"),
                     CURVES_EVERY_SECONDS)
    if distributed.is_main:
        files.start(start_step, settings_record)
    reporter.say(
        f"{task.name}: {len(data.train_examples):,} training examples ({len(data.train_features):,} inputs), "
        f"{steps_per_epoch:,} steps of {settings.batch_size} per epoch x {settings.epochs} epochs = {total_steps:,} steps"
        + (f" over {distributed.world_size} processes; " if distributed.enabled else "; ")
        + f"lr {learning_rate:g} with {warmup_steps:,} warmup steps; "
        + (f"evaluating {len(data.dev_examples):,} dev examples every {eval_every:,} steps on {data.metric}"
           if data.dev_examples is not None else "no dev set: the last model is kept")
    )
    hooks = _FinetuningHooks(trainer, task, tokenizer, settings, options, data, files, manager, reporter,
                             settings_record, steps_per_epoch, state)
    if start_step == 0 and task.evaluates_before_training and data.dev_features is not None:
        hooks.evaluate(0)  # the model as it came: the baseline the run is measured against
    started = time.perf_counter()
    batches = _step_batches(data.train_features, settings, _pad_token_id(tokenizer), start_step, distributed)
    done = trainer.fit(batches, start_step, schedule, hooks, reporter, "fine-tuning")
    return _finish(hooks, done, total_steps, time.perf_counter() - started)


def _with_later_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings with the defaults of settings added since it was written (the
    sentence-embedding ones), so that a run started before them resumes."""
    from .readers import ReadOptions

    added = {item.name: item.default for item in dataclasses.fields(FinetuneSettings)
             if item.default is not dataclasses.MISSING and item.name not in saved}
    saved = {**added, **saved}
    if isinstance(saved.get("read_options"), dict):
        saved["read_options"] = {**dataclasses.asdict(ReadOptions()), **saved["read_options"]}
    return saved


@dataclass
class _Data:
    """What the task read from the files, the labels and metric, and (once encoded) the features."""

    train_examples: list[Any]
    dev_examples: list[Any] | None
    label_list: list[str] | None
    metric: str
    train_features: list[Feature] = field(default_factory=list)
    dev_features: list[Feature] | None = None

    @property
    def label2id(self) -> dict[str, int] | None:
        return {label: index for index, label in enumerate(self.label_list)} if self.label_list is not None else None


def _read_data(task: Task, model: str | os.PathLike, train_file: str | os.PathLike,
               dev_file: str | os.PathLike | None, settings: FinetuneSettings) -> _Data:
    """Read and check the examples, labels and metric before any model is loaded."""
    train_examples = _subset(task.read(train_file, settings.read_options), settings.max_train_examples, settings.seed)
    if not train_examples:
        raise InputError(f"{train_file} holds no training examples")
    dev_examples = None
    if dev_file is not None:
        dev_examples = _subset(task.read(dev_file, settings.read_options), settings.max_dev_examples, None)
        if not dev_examples:
            raise InputError(f"{dev_file} holds no examples to evaluate")
    label_list = _label_list(task, train_examples, model)
    data = _Data(train_examples, dev_examples, label_list,
                 settings.metric or task.default_metric_for(dev_examples or train_examples))
    task.check_labels(train_examples, data.label2id, str(train_file))
    if dev_examples is not None:
        task.check_labels(dev_examples, data.label2id, str(dev_file))  # before any model is loaded
    if data.metric not in task.metric_names(label_list):
        raise OptionError(
            f"the {task.name} task has no metric {data.metric!r}; choose one of: "
            f"{', '.join(task.metric_names(label_list))}"
        )
    return data


def _load_model(task: Task, model: str | os.PathLike, settings: FinetuneSettings, label_list: list[str] | None,
                distributed: Distributed) -> tuple[AlbertPreTrainedModel, Any, torch.device]:
    """The model with the task's head (a new head seeded by ``settings.seed``: the same on every
    process), its tokenizer and device (with several processes on GPUs, the process's own)."""
    from ...devices import resolve_device
    from ...tokenization_base import check_tokenizer_fits
    from ...tokenizer import AlbertTokenizer

    device = resolve_device(settings.device)
    if device.type == "cuda" and distributed.enabled and device.index is None:
        device = torch.device("cuda", distributed.local_rank)
    source = task.model_source(model)
    tokenizer = AlbertTokenizer.from_pretrained(source)
    torch.manual_seed(settings.seed)  # the new head's initialisation
    overrides = dict(task.model_overrides(label_list))
    if settings.dropout is not None:  # ALBERT v2 trains without dropout; small data may want some
        overrides.update(hidden_dropout_prob=settings.dropout, attention_probs_dropout_prob=settings.dropout)
    network = task.load_model(source, device, ignore_mismatched_sizes=True, **overrides)
    network.config.extra["finetuning_task"] = task.name
    check_tokenizer_fits(tokenizer, network.config.vocab_size, str(model))
    check_max_length(settings.max_length, network.config.max_position_embeddings)
    if settings.fast:  # the packed encoder, as everywhere: same weights, no compute on padding
        network.set_attn_implementation("packed")
    return network, tokenizer, device


def _encode(task: Task, tokenizer: Any, data: _Data, settings: FinetuneSettings) -> EncodeOptions:
    """Encode the examples into ``data``'s features; returns the options they were encoded with."""
    options = EncodeOptions(max_length=settings.max_length, doc_stride=settings.doc_stride,
                            max_question_length=settings.max_question_length,
                            max_answer_length=settings.max_answer_length, pooling=settings.pooling,
                            matryoshka_dimensions=settings.matryoshka_dimensions(), scale=settings.scale)
    data.train_features = task.encode(data.train_examples, tokenizer, data.label2id, options)
    if data.dev_examples is not None:
        data.dev_features = task.encode(data.dev_examples, tokenizer, data.label2id, options)
        if task.name == "question-answering":
            # SQuAD 2.0 lets "no answer" compete; decided by the training data, which the model learnt from.
            options.allow_no_answer = any(not example.answers for example in data.train_examples)
    return options


def _pad_token_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _step_batches(features: list[Feature], settings: FinetuneSettings, pad_token_id: int,
                  start_step: int, distributed: Distributed | None = None) -> Iterator[StepBatch]:
    """This process's part of the batch of every step from ``start_step`` (:func:`step_batch`),
    in ``accumulation_steps`` micro-batches that weigh by their rows (the last batch of an epoch
    may split unevenly).

    With several processes, the step's batch (the same global batch as one process would train)
    is split into equal parts by rank, and each micro-batch weighs ``rows / batch rows x world
    size``: DDP averages the processes' gradients, so the update is one process's on the whole
    batch. A process whose part is empty (a last batch with fewer rows than processes) runs one
    row with weight 0, so that it still joins the gradient all-reduce; its micro-batch carries
    ``placeholder_row``, for objectives that gather rows across processes to leave it out.
    """
    distributed = distributed or Distributed()
    for step in itertools.count(start_step):
        indices = step_batch(len(features), settings.batch_size, settings.seed, step)
        mine, share = np.array_split(indices, distributed.world_size)[distributed.rank], distributed.world_size
        if not len(mine):
            mine, share = indices[:1], 0
        parts = [part for part in np.array_split(mine, settings.accumulation_steps) if len(part)]
        micro_batches = [collate([features[index] for index in part], pad_token_id) for part in parts]
        if not share:
            micro_batches = [{**batch, "placeholder_row": torch.ones(())} for batch in micro_batches]
        yield StepBatch(micro_batches,
                        weights=[len(part) * share / len(indices) for part in parts],
                        examples=len(mine) if share else 0)


class HeadLoss(nn.Module):
    """Fine-tuning's objective: the loss of the task's head, as the model computes it from the labels."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        batch.pop("placeholder_row", None)  # its weight of 0 leaves it out of the update
        return {"loss": self.model(**batch).loss}


def _label_list(task: Task, train_examples: list[Any], model: str | os.PathLike) -> list[str] | None:
    """The training labels; in the model's own order when it already has a head for exactly
    these labels (continuing a fine-tune keeps its classifier meaningful)."""
    labels = task.label_list(train_examples)
    if labels is None:
        return None
    from ...config import AlbertConfig

    try:
        source = AlbertConfig.from_pretrained(model)
    except Exception:  # the model's own loading reports a missing model with a better message
        return labels
    names = [source.id2label[index] for index in sorted(source.id2label)]
    return names if set(names) == set(labels) else labels


@dataclass
class _FinetuningHooks:
    """Fine-tuning's side of the trainer's loop: the loss window and the divergence guard, dev
    evaluation with early stopping and the best model, and checkpoints with that state."""

    trainer: Trainer[AlbertPreTrainedModel]
    task: Task
    tokenizer: Any
    settings: FinetuneSettings
    options: EncodeOptions
    data: _Data
    files: RunFiles
    manager: CheckpointManager
    reporter: Reporter
    settings_record: dict[str, Any]
    steps_per_epoch: int
    state: _Progress

    def measure(self, window: MetricsWindow, batch: StepBatch, output: StepOutput) -> None:
        total = torch.zeros((), device=self.trainer.device)
        for result, weight in zip(output.results, batch.weights or []):
            total = total + result["loss"].detach().float() * weight
        window.add(loss=total, grad_norm=output.grad_norm, examples=batch.examples)

    @property
    def distributed(self) -> Distributed:
        return self.trainer.distributed or Distributed()

    def log(self, window: MetricsWindow, step: int, batch: StepBatch) -> str:
        # Summed over processes: each weighs its loss by its share x world size, and counts its own examples.
        sums, seconds = window.totals(all_reduce=self.distributed.enabled)
        record = {"step": step, "epoch": step / self.steps_per_epoch, "loss": sums["loss"] / sums["steps"],
                  "grad_norm": sums["grad_norm"] / sums["steps"], "examples_per_second": sums["examples"] / seconds,
                  "learning_rate": self.trainer.scheduler.get_last_lr()[0]}
        self._check_divergence(record, step)  # the same record on every process: all stop together
        if self.distributed.is_main:
            self.files.log.append(record)
        return f"loss {record['loss']:.4f} lr {record['learning_rate']:.3g}"

    def _check_divergence(self, record: dict[str, Any], step: int) -> None:
        loss, grad_norm, state = record["loss"], record["grad_norm"], self.state
        advice = (
            f"Lower the learning rate (--lr, now {self.trainer.optimizer.defaults['lr']:g}; try a third of it), "
            f"warm up longer (--warmup-ratio, now {self.settings.warmup_ratio:g}; try 0.1 or more), keep "
            f"--max-grad-norm 1.0, or try --layerwise-lr-decay 0.9. ALBERT v2 large/xlarge are known to diverge "
            "with BERT's fine-tuning settings: use lr <= 1e-5..3e-5 with warmup 0.1 for them."
        )
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            best = self.files.run_dir / BEST_MODEL_DIR
            kept = f" (the best model so far is in {best})" if state.best_step is not None else ""
            raise TrainingDivergedError(
                f"fine-tuning diverged at step {step}: loss {loss}, gradient norm {grad_norm}; stopped without "
                f"saving it{kept}. {advice}"
            )
        if state.first_loss is None:
            state.first_loss = loss
        elif loss > self.settings.divergence_factor * max(state.first_loss, 1e-3):
            raise TrainingDivergedError(
                f"fine-tuning is diverging at step {step}: the loss is {loss:.4g}, more than "
                f"{self.settings.divergence_factor:g} times its first value {state.first_loss:.4g}; stopped. {advice}"
            )

    def evaluate(self, step: int) -> None:
        """Evaluate on the dev set in the first process (the others wait for its verdict, so that
        early stopping and the checkpointed state agree everywhere)."""
        if self.distributed.is_main:
            self._evaluate(step)
        if self.distributed.enabled:
            self.state = self.distributed.broadcast(self.state)

    def _evaluate(self, step: int) -> None:
        evaluation = evaluate_examples(
            self.trainer.model, self.tokenizer, self.task, self.data.dev_examples or [], self.options,
            features=self.data.dev_features, batch_size=self.settings.eval_batch_size, device=self.trainer.device,
            bf16=self.settings.bf16,
        )
        metrics, state, metric = evaluation.metrics, self.state, self.data.metric
        record = {"step": step, "epoch": step / self.steps_per_epoch, "split": "dev", **metrics}
        self.files.log.append(record)
        state.history.append(record)
        value = metrics[metric]
        better = self.task.greater_is_better(metric)
        improved = state.best_value is None or (value > state.best_value if better else value < state.best_value)
        if improved:
            state.best_value, state.best_step, state.best_metrics = value, step, dict(metrics)
            state.evals_without_improvement = 0
            self.save_best(metrics, step)
        else:
            state.evals_without_improvement += 1
            patience = self.settings.patience
            if patience is not None and state.evals_without_improvement >= patience:
                state.stopped_early = True
        shown = ", ".join(f"{name} {metrics[name]:.4f}" for name in self.task.metric_names(None) if name in metrics)
        self.reporter.say(f"step {step} dev: {shown}" + (" (best so far, saved)" if improved else ""))
        if state.stopped_early:
            self.reporter.say(f"stopping early at step {step}: {metric} has not improved for "
                              f"{state.evals_without_improvement} evaluations")

    def save_best(self, metrics: dict[str, float] | None, step: int, name: str = BEST_MODEL_DIR) -> Path:
        """Save the model, its tokenizer and how it was trained to ``out/best`` (or ``out/<name>``)."""
        settings = self.settings
        info = {
            "task": self.task.name, "step": step, "metric": self.data.metric, "max_length": settings.max_length,
            "doc_stride": settings.doc_stride, "max_question_length": settings.max_question_length,
            "max_answer_length": settings.max_answer_length, "label_list": self.data.label_list,
            "read_options": dataclasses.asdict(settings.read_options),
            "source_model": self.settings_record["model"],
        }
        best = self.files.run_dir / name
        with atomic_folder(best) as folder:  # the model, how it was trained and its scores: all or nothing
            self.trainer.model.save_pretrained(folder, tokenizer=self.tokenizer)
            self.task.complete_folder(folder, self.trainer.model, self.options)
            write_json(folder / FINETUNE_INFO_NAME, info)
            if metrics is not None:
                write_json(folder / "eval_results.json", {"step": step, **metrics})
        return best

    def checkpoint(self, step: int, batch: StepBatch) -> None:
        state = self.trainer.state_dict()  # every process's random generators: a collective
        if not self.distributed.is_main:
            return
        self.manager.save(step, {
            "step": step, **state, "settings": self.settings_record,
            "progress": json.dumps(dataclasses.asdict(self.state)),
        })
        self.files.checkpointed()

    def should_stop(self) -> bool:
        return self.state.stopped_early


def _finish(hooks: _FinetuningHooks, steps: int, total_steps: int, seconds: float) -> FinetuneResult:
    """Save the last model when there was no dev set, write metrics.json and the curves."""
    state, data, run_dir = hooks.state, hooks.data, hooks.files.run_dir
    best = run_dir / BEST_MODEL_DIR
    if data.dev_features is None:
        if hooks.distributed.is_main:
            hooks.save_best(None, steps)
        state.best_step = steps
    if hooks.task.saves_final and hooks.distributed.is_main:
        last = state.history[-1] if state.history and state.history[-1]["step"] == steps else None
        hooks.save_best({k: v for k, v in last.items() if k not in ("step", "epoch", "split")} if last else None,
                        steps, FINAL_MODEL_DIR)
    summary = {
        "task": hooks.task.name,
        "model": hooks.settings_record["model"],
        "metric": data.metric,
        "best_value": state.best_value,
        "best_step": state.best_step,
        "best": state.best_metrics,
        "last": state.history[-1] if state.history else None,
        "history": state.history,
        "steps": steps,
        "total_steps": total_steps,
        "stopped_early": state.stopped_early,
        "train_examples": len(data.train_examples),
        "dev_examples": len(data.dev_examples) if data.dev_examples is not None else 0,
        "seconds": seconds,
        "best_model": str(best),
        "settings": hooks.settings_record,
    }
    if hooks.distributed.is_main:
        hooks.files.finish(SUMMARY_NAME, summary)
    hooks.distributed.barrier()  # the run's files are whole before any process returns
    return FinetuneResult(run_dir, best, data.metric, state.best_value, state.best_step, state.best_metrics,
                          state.stopped_early, steps, summary)
