"""Fine-tuning ALBERT on a downstream task, as a readable loop over small pieces.

The pieces: a task (:mod:`.tasks`: read files, label maps, encode, score) -> the model with the
task's head, whose loss is the one trained -> AdamW with warmup and linear decay, optionally
layer-wise learning-rate decay -> evaluation on the dev set (:mod:`.evaluate`), early stopping
on a chosen metric, the best model saved with ``save_pretrained`` -> checkpoints that resume
exactly (:mod:`..checkpoints`) -> metrics log, curves and status lines (:mod:`..loop`).

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
``albert evaluate`` and transformers load.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...atomic_files import atomic_folder
from ...errors import InputError, OptionError
from ..checkpoints import (
    CheckpointManager,
    NonFiniteLossError,
    capture_rng_state,
    locked_run_folder,
    restore_rng_state,
)
from ..loop import (
    MetricsWindow,
    Reporter,
    RunFiles,
    autocast_for,
    check_resumable,
    resume_checkpoint,
    write_json,
)
from ..optim import excluded_from_decay, warmup_linear_decay
from .evaluate import FINETUNE_INFO_NAME, check_max_length, evaluate_examples
from .settings import FinetuneSettings
from .tasks import EncodeOptions, Feature, Task, collate, get_task

BEST_MODEL_DIR = "best"
SUMMARY_NAME = "metrics.json"
#: curves.png is redrawn at a checkpoint at most this often, and at the end.
CURVES_EVERY_SECONDS = 300
#: Its dev metric panels when the data has them, after the chosen metric (training and dev loss,
#: and the learning rate, come first).
_DEV_CURVES = ("accuracy", "f1", "exact_match", "pearson", "spearman", "mcc")

#: Settings that may change when a run resumes: they do not change what a step computes.
_RUNTIME_SETTINGS = frozenset(
    {"device", "bf16", "fast", "threads", "progress", "keep_checkpoints", "eval_batch_size", "patience", "log_every"}
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

_GROUP_PARAMETER = re.compile(r"^albert\.encoder\.albert_layer_groups\.(\d+)\.")


def layer_depth(name: str, num_hidden_groups: int) -> int:
    """How far below the head a parameter sits: 0 for the head and pooler, 1 for the top shared
    layer group ... ``num_hidden_groups`` for the bottom one, one more for the embeddings.

    ALBERT shares its layers (paper section 3.1), so depth counts the shared groups, not the
    computed layers: with one group, layer-wise decay gives head, encoder and embeddings three
    rates.
    """
    if name.startswith(("albert.embeddings.", "albert.encoder.embedding_hidden_mapping_in.")):
        return num_hidden_groups + 1
    match = _GROUP_PARAMETER.match(name)
    if match:
        return num_hidden_groups - int(match.group(1))
    return 0


def finetune_parameter_groups(
    model: nn.Module, learning_rate: float, weight_decay: float, layerwise_lr_decay: float = 1.0
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


def build_finetune_optimizer(model: nn.Module, settings: FinetuneSettings, learning_rate: float) -> torch.optim.Optimizer:
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
    with locked_run_folder(run_dir):  # a second run with this --out is refused at once
        checkpoint_path = resume_checkpoint(manager, resume)
        threads_before = torch.get_num_threads()
        if settings.threads:
            torch.set_num_threads(settings.threads)
        try:
            return _finetune(task, model, train_file, dev_file, run_dir, manager, settings, checkpoint_path)
        finally:
            torch.set_num_threads(threads_before)  # a library call leaves the process as it found it


def _finetune(task: Task, model: str | os.PathLike, train_file: str | os.PathLike, dev_file: str | os.PathLike | None,
              run_dir: Path, manager: CheckpointManager, settings: FinetuneSettings,
              checkpoint_path: Path | None) -> FinetuneResult:
    reporter = Reporter(settings.progress)

    train_examples = _subset(task.read(train_file, settings.read_options), settings.max_train_examples, settings.seed)
    if not train_examples:
        raise InputError(f"{train_file} holds no training examples")
    dev_examples = None
    if dev_file is not None:
        dev_examples = _subset(task.read(dev_file, settings.read_options), settings.max_dev_examples, None)
        if not dev_examples:
            raise InputError(f"{dev_file} holds no examples to evaluate")
    label_list = _label_list(task, train_examples, model)
    label2id = {label: index for index, label in enumerate(label_list)} if label_list is not None else None
    task.check_labels(train_examples, label2id, str(train_file))
    if dev_examples is not None:
        task.check_labels(dev_examples, label2id, str(dev_file))  # before any model is loaded
    metric = settings.metric or task.default_metric
    if metric not in task.metric_names(label_list):
        raise OptionError(
            f"the {task.name} task has no metric {metric!r}; choose one of: {', '.join(task.metric_names(label_list))}"
        )

    from ...devices import resolve_device
    from ...tokenization_base import check_tokenizer_fits
    from ...tokenizer import AlbertTokenizer

    device = resolve_device(settings.device)
    tokenizer = AlbertTokenizer.from_pretrained(model)
    torch.manual_seed(settings.seed)  # the new head's initialisation
    network = task.model_class.from_pretrained(model, device=device, ignore_mismatched_sizes=True,
                                               **task.model_overrides(label_list))
    network.config.extra["finetuning_task"] = task.name
    check_tokenizer_fits(tokenizer, network.config.vocab_size, str(model))
    check_max_length(settings.max_length, network.config.max_position_embeddings)
    learning_rate = settings.learning_rate or default_learning_rate(network.config.hidden_size)
    if settings.fast:  # the packed encoder, as everywhere: same weights, no compute on padding
        network.set_attn_implementation("packed")

    options = EncodeOptions(max_length=settings.max_length, doc_stride=settings.doc_stride,
                            max_question_length=settings.max_question_length,
                            max_answer_length=settings.max_answer_length)
    train_features = task.encode(train_examples, tokenizer, label2id, options)
    dev_features = task.encode(dev_examples, tokenizer, label2id, options) if dev_examples is not None else None
    if task.name == "question-answering" and dev_examples is not None:
        # SQuAD 2.0 lets "no answer" compete; decided by the training data, which the model learnt from.
        options.allow_no_answer = any(not example.answers for example in train_examples)

    steps_per_epoch = math.ceil(len(train_features) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    warmup_steps = round(settings.warmup_ratio * total_steps)
    eval_every = settings.eval_every or steps_per_epoch
    checkpoint_every = settings.checkpoint_every or eval_every
    optimizer = build_finetune_optimizer(network, settings, learning_rate)
    scheduler = warmup_linear_decay(optimizer, warmup_steps, total_steps)

    settings_record = {**settings.to_dict(), "model": str(model), "train_file": str(train_file),
                       "dev_file": str(dev_file) if dev_file is not None else None,
                       "learning_rate": learning_rate, "label_list": label_list}
    state = _Progress()
    start_step = 0
    if checkpoint_path is not None:
        saved = manager.load(checkpoint_path, map_location=device)
        check_resumable(checkpoint_path, saved["settings"], settings_record, _RUNTIME_SETTINGS)
        network.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        restore_rng_state(saved["rng"])
        state = _Progress(**json.loads(saved["progress"]))
        start_step = int(saved["step"])
        reporter.say(f"resuming from {checkpoint_path.name} (step {start_step} of {total_steps})")

    run_dir.mkdir(parents=True, exist_ok=True)
    curves = [(name, f"dev {name}") for name in dict.fromkeys((metric, *_DEV_CURVES)) if name != "loss"]
    files = RunFiles(run_dir, [("loss", "loss"), ("learning_rate", "learning rate"), *curves], ("dev", "dev"),
                     CURVES_EVERY_SECONDS)
    files.start(start_step, settings_record)
    reporter.say(
        f"{task.name}: {len(train_examples):,} training examples ({len(train_features):,} inputs), "
        f"{steps_per_epoch:,} steps of {settings.batch_size} per epoch x {settings.epochs} epochs = {total_steps:,} steps; "
        f"lr {learning_rate:g} with {warmup_steps:,} warmup steps; "
        + (f"evaluating {len(dev_examples):,} dev examples every {eval_every:,} steps on {metric}"
           if dev_examples is not None else "no dev set: the last model is kept")
    )

    loop = _Loop(task, network, tokenizer, optimizer, scheduler, settings, options, device, manager, files, reporter,
                 metric, run_dir, train_features, dev_examples, dev_features, label_list, settings_record)
    started = time.perf_counter()
    done = loop.run(state, start_step, total_steps, steps_per_epoch, eval_every, checkpoint_every)
    return _finish(loop, state, done, total_steps, time.perf_counter() - started, len(train_examples))


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
class _Loop:
    """The training loop and what it needs; :meth:`run` is the loop itself."""

    task: Task
    model: nn.Module
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    settings: FinetuneSettings
    options: EncodeOptions
    device: torch.device
    manager: CheckpointManager
    files: RunFiles
    reporter: Reporter
    metric: str
    run_dir: Path
    train_features: list[Feature]
    dev_examples: list[Any] | None
    dev_features: list[Feature] | None
    label_list: list[str] | None
    settings_record: dict[str, Any]

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def run(self, state: _Progress, start_step: int, total_steps: int, steps_per_epoch: int, eval_every: int,
            checkpoint_every: int) -> int:
        """Train from ``start_step``; returns the number of steps done when it stopped."""
        settings, model = self.settings, self.model
        window = MetricsWindow(self.device)
        done = start_step
        if state.stopped_early:
            return done
        model.train()
        with self.reporter.progress("fine-tuning", total_steps, start_step) as reporter:
            for step in range(start_step, total_steps):
                indices = step_batch(len(self.train_features), settings.batch_size, settings.seed, step)
                loss, grad_norm = self._train_step(indices)
                done = step + 1
                window.add(loss=loss, grad_norm=grad_norm, examples=len(indices))
                evaluation_due = self.dev_features is not None and (done % eval_every == 0 or done == total_steps)
                checkpoint_due = done % checkpoint_every == 0 or done == total_steps
                if done % settings.log_every == 0 or evaluation_due or checkpoint_due:
                    sums, seconds = window.totals()
                    record = {"step": done, "epoch": done / steps_per_epoch, "loss": sums["loss"] / sums["steps"],
                              "grad_norm": sums["grad_norm"] / sums["steps"],
                              "examples_per_second": sums["examples"] / seconds,
                              "learning_rate": self.scheduler.get_last_lr()[0]}
                    window.reset()
                    self._check_divergence(record, state, done)
                    self.files.log.append(record)
                    reporter.step(done, f"loss {record['loss']:.4f} lr {record['learning_rate']:.3g}")
                else:
                    reporter.step(done)
                if evaluation_due:
                    self._evaluate(state, done, steps_per_epoch, settings.patience)
                if checkpoint_due or state.stopped_early:
                    self._checkpoint(state, done)
                if state.stopped_early:
                    reporter.say(f"stopping early at step {done}: {self.metric} has not improved for "
                                 f"{state.evals_without_improvement} evaluations")
                    break
        return done

    def _train_step(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step over ``indices`` (in ``accumulation_steps`` micro-batches); returns
        the batch's loss and gradient norm (tensors on the device: no synchronisation per step)."""
        total = torch.zeros((), device=self.device)
        for part in np.array_split(indices, self.settings.accumulation_steps):
            if not len(part):
                continue
            batch = collate([self.train_features[index] for index in part], self.pad_token_id)
            batch = {name: tensor.to(self.device, non_blocking=True) for name, tensor in batch.items()}
            with autocast_for(self.device, self.settings.bf16):
                loss = self.model(**batch).loss
            share = len(part) / len(indices)  # micro-batches of unequal size weigh by their rows
            (loss * share).backward()
            total = total + loss.detach().float() * share
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, grad_norm

    def _check_divergence(self, record: dict[str, Any], state: _Progress, step: int) -> None:
        loss, grad_norm = record["loss"], record["grad_norm"]
        advice = (
            f"Lower the learning rate (--lr, now {self.optimizer.defaults['lr']:g}; try a third of it), "
            f"warm up longer (--warmup-ratio, now {self.settings.warmup_ratio:g}; try 0.1 or more), keep "
            f"--max-grad-norm 1.0, or try --layerwise-lr-decay 0.9. ALBERT v2 large/xlarge are known to diverge "
            "with BERT's fine-tuning settings: use lr <= 1e-5..3e-5 with warmup 0.1 for them."
        )
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            best = self.run_dir / BEST_MODEL_DIR
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

    def _evaluate(self, state: _Progress, step: int, steps_per_epoch: int, patience: int | None) -> None:
        evaluation = evaluate_examples(
            self.model, self.tokenizer, self.task, self.dev_examples or [], self.options, features=self.dev_features,
            batch_size=self.settings.eval_batch_size, device=self.device, bf16=self.settings.bf16,
        )
        metrics = evaluation.metrics
        record = {"step": step, "epoch": step / steps_per_epoch, "split": "dev", **metrics}
        self.files.log.append(record)
        state.history.append(record)
        value = metrics[self.metric]
        better = self.task.greater_is_better(self.metric)
        improved = state.best_value is None or (value > state.best_value if better else value < state.best_value)
        if improved:
            state.best_value, state.best_step, state.best_metrics = value, step, dict(metrics)
            state.evals_without_improvement = 0
            self.save_best(metrics, step)
        else:
            state.evals_without_improvement += 1
            if patience is not None and state.evals_without_improvement >= patience:
                state.stopped_early = True
        shown = ", ".join(f"{name} {metrics[name]:.4f}" for name in self.task.metric_names(None) if name in metrics)
        self.reporter.say(f"step {step} dev: {shown}" + (" (best so far, saved)" if improved else ""))

    def save_best(self, metrics: dict[str, float] | None, step: int) -> Path:
        """Save the model, its tokenizer and how it was trained to ``out/best``."""
        info = {
            "task": self.task.name, "step": step, "metric": self.metric, "max_length": self.settings.max_length,
            "doc_stride": self.settings.doc_stride, "max_question_length": self.settings.max_question_length,
            "max_answer_length": self.settings.max_answer_length, "label_list": self.label_list,
            "read_options": dataclasses.asdict(self.settings.read_options),
            "source_model": self.settings_record["model"],
        }
        best = self.run_dir / BEST_MODEL_DIR
        with atomic_folder(best) as folder:  # the model, how it was trained and its scores: all or nothing
            self.model.save_pretrained(folder, tokenizer=self.tokenizer)
            write_json(folder / FINETUNE_INFO_NAME, info)
            if metrics is not None:
                write_json(folder / "eval_results.json", {"step": step, **metrics})
        return best

    def _checkpoint(self, state: _Progress, step: int) -> None:
        self.manager.save(step, {
            "step": step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": capture_rng_state(),
            "settings": self.settings_record, "progress": json.dumps(dataclasses.asdict(state)),
        })
        self.files.checkpointed()


def _finish(loop: _Loop, state: _Progress, steps: int, total_steps: int, seconds: float, train_examples: int) -> FinetuneResult:
    """Save the last model when there was no dev set, write metrics.json and the curves."""
    best = loop.run_dir / BEST_MODEL_DIR
    if loop.dev_features is None:
        loop.save_best(None, steps)
        state.best_step = steps
    summary = {
        "task": loop.task.name,
        "model": loop.settings_record["model"],
        "metric": loop.metric,
        "best_value": state.best_value,
        "best_step": state.best_step,
        "best": state.best_metrics,
        "last": state.history[-1] if state.history else None,
        "history": state.history,
        "steps": steps,
        "total_steps": total_steps,
        "stopped_early": state.stopped_early,
        "train_examples": train_examples,
        "dev_examples": len(loop.dev_examples) if loop.dev_examples is not None else 0,
        "seconds": seconds,
        "best_model": str(best),
        "settings": loop.settings_record,
    }
    loop.files.finish(SUMMARY_NAME, summary)
    return FinetuneResult(loop.run_dir, best, loop.metric, state.best_value, state.best_step, state.best_metrics,
                          state.stopped_early, steps, summary)
