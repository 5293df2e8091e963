"""Every command and option of ``albert``, given bad values: the answer is one ``error:`` line
(exit status 1) or click's usage error (exit status 2), never a traceback.

The commands and their options are read from the typer app itself (a new command or option is
fuzzed without touching this file). Hypothesis builds each command line from the options'
kinds (integers, floats, choices, paths, texts, flags, the model) in two modes:

* ``parse``: any subset of the options, with bad or good values, plus at least one value that
  fails before the command body runs (a word for a number, an unknown choice, a bad device,
  text that is not UTF-8, an unknown option, a flag given a value);
* ``check``: every value of the right type, so the command body runs, but the model (and every
  input path) is one that cannot be used: a name that is neither a folder nor a shipped model
  with the Hub offline, a missing path, an empty folder, a folder where a file is expected.
  Numbers are negative, zero, huge, NaN; texts empty or thousands of characters.
* ``model`` (the pipeline commands): the same values with a real (tiny) model of the command's
  task, so the checks that need the model run too (a layer it lacks, more predictions than its
  vocabulary); here a run may also succeed (exit 0), but a failure is still one line.

The first two modes cannot start real work (a training run, a server), and each invocation has a time
limit. They run in this process through typer's CliRunner (stderr captured apart); a few run
through the real executable. The default run is bounded and derandomized; ``-m slow`` tries more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer.main
import typer.testing
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from albert.cli import app

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: Examples per command and mode: the default run, and ``-m slow``.
QUICK, THOROUGH = 7, 60
#: Seconds one invocation may take before it counts as a failure (it started real work or hung).
TIME_LIMIT = 60


#: The click command typer builds from the app, built once (typer builds it anew at each invoke:
#: 60 ms, which would be most of the test's time).
ROOT = typer.main.get_command(app)


def leaf_commands() -> dict[str, Any]:
    """``"convert tf"`` -> its click command, for every command of the app (groups walked)."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found[" ".join(path)] = command
            return
        for name, subcommand in subcommands.items():
            walk(subcommand, (*path, name))

    walk(ROOT, ())
    return found


COMMANDS = leaf_commands()


# -- what each option is --------------------------------------------------------------------------


def kind_of(param: Any) -> str:
    """The kind of value a parameter takes: flag, int, float, choice, path, model, device, dtype, text."""
    if isinstance(param, TyperOption) and param.is_flag:
        return "flag"
    if param.name in ("model", "device", "dtype"):
        return param.name
    annotation = param.type_descriptor.annotation
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
    if param.type_descriptor.is_choice or typing.get_origin(annotation) is typing.Literal:
        return "choice"
    if annotation is bool:
        return "flag"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if isinstance(annotation, type) and issubclass(annotation, os.PathLike):
        return "path"
    return "text"


def choices_of(param: Any) -> list[str]:
    annotation = param.type_descriptor.annotation
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
    return [str(choice) for choice in typing.get_args(annotation)] or list(param.type_descriptor.choices or ())


class Sandbox:
    """The paths the values point at, in a folder that is also the working directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.empty_folder = root / "empty-folder"
        self.empty_folder.mkdir()
        self.empty_file = root / "empty.txt"
        self.empty_file.write_text("")
        self.missing = root / "no" / "such" / "thing.txt"
        self.texts = root / "texts.txt"
        self.texts.write_text("a [MASK] walked home.\nthe second [MASK] line\n")
        #: The tiny model of each pipeline command (mode ``model``).
        self.models: dict[str, Path] = {}

    def unusable_paths(self) -> list[str]:
        """Paths no command can read anything from."""
        return [str(self.missing), str(self.empty_folder), str(self.empty_file), ""]

    def unusable_models(self) -> list[str]:
        """Model names that resolve to nothing (the Hub is offline in these tests)."""
        return ["nosuch-model", "owner/nosuch", str(self.missing), str(self.empty_folder), str(self.empty_file)]


NUMBERS = {
    "int": ["0", "-1", "1", "7", "-2147483649", "1000000000000", "9" * 30],
    "float": ["0", "-1", "0.5", "1", "1e308", "1e-300", "inf", "-inf", "nan"],
}
TEXTS = ["", " ", "x", "a [MASK] b.", "-", "ünï", "x" * 3000, "0", "None", "{}", "[MASK]"]
#: Values that fail before the command body runs, by kind.
EARLY = {
    "int": ["x", "", "1.5", "0x10", "1e3"],
    "float": ["x", "", "1,5", "--"],
    "choice": ["nope", "", "SENTENCE "],
    "device": ["foo", "cuda:x", "", "gpu", "cuda:-1"],
    "dtype": ["int8", "", "float64", "bf17"],
    "text": ["caf\udce9", "\udcff"],
}


def values(kind: str, param: Any, sandbox: Sandbox, mode: str) -> st.SearchStrategy[str]:
    """Values of the right type (modes ``check`` and ``model``), or of any sort (``parse``), for one
    parameter."""
    typed = mode != "parse"
    if kind in NUMBERS:
        good = st.sampled_from(NUMBERS[kind])
        if mode == "model":  # half of them small and fine, so that the run goes on to the model
            return st.one_of(st.sampled_from(["1", "2", "3"]), good)
        return good if typed else st.one_of(good, st.sampled_from(EARLY[kind]))
    if kind == "choice":
        good = st.sampled_from(choices_of(param))
        return good if typed else st.one_of(good, st.sampled_from(EARLY["choice"]))
    if kind == "device":
        good = st.sampled_from(["cpu", "auto", "CPU"])
        return good if mode == "model" else st.one_of(good, st.sampled_from(EARLY["device"]))
    if kind == "dtype":
        good = st.sampled_from(["float32", "bf16", "float16", "auto"])
        return good if mode == "model" else st.one_of(good, st.sampled_from(EARLY["dtype"]))
    if kind == "model":
        return st.sampled_from(sandbox.unusable_models())
    if kind == "path" and mode == "model":
        readable = [str(sandbox.texts), "out.jsonl", "out.parquet", "out.npy", "out.csv"]
        return st.sampled_from([*readable, *sandbox.unusable_paths()])
    if kind == "path":
        return st.sampled_from(sandbox.unusable_paths())
    texts = st.sampled_from(TEXTS)
    return texts if typed else st.one_of(texts, st.sampled_from(EARLY["text"]))


def tokens_for(param: Any, value: str) -> list[str]:
    if isinstance(param, TyperArgument):
        return ["--", value] if value.startswith("-") else [value]
    return [param.opts[0], value]


@st.composite
def command_line(draw: st.DrawFn, name: str, mode: str, sandbox: Sandbox) -> list[str]:
    """The arguments of one invocation of command ``name`` (see the module docstring)."""
    command = COMMANDS[name]
    params = [param for param in command.params if param.name != "help"]
    argv: list[str] = []
    arguments: list[str] = []
    for param in params:
        kind = kind_of(param)
        if mode == "model" and kind == "model":
            argv += tokens_for(param, str(sandbox.models[name]))
            continue
        if mode == "model" and (param.name in STARTS_WORK or param.name in INPUTS_GIVEN):
            continue
        forced = mode == "check" and (param.required or kind in ("model", "path"))
        if not (forced or draw(st.booleans())):
            continue
        if kind == "flag":
            flags = [*param.opts, *param.secondary_opts]
            argv.append(draw(st.sampled_from(flags)))
            continue
        count = draw(st.integers(1, 2)) if (param.multiple or param.nargs == -1) else 1
        for _ in range(count):
            value = draw(values(kind, param, sandbox, mode))
            if isinstance(param, TyperArgument):
                arguments.append(value)
            else:
                argv += tokens_for(param, value)
    if mode == "parse":
        argv += draw(early_failure(params, sandbox))
    if mode == "model":  # inputs the command takes, so that the run reaches the model
        options, arguments = draw(st.sampled_from(MODEL_INPUTS[name]))
        argv += [str(sandbox.texts) if value == "TEXTS" else value for value in options]
    # Arguments last, after "--" so a value starting with "-" is not read as an option.
    return [*name.split(), *argv, *(["--", *arguments] if arguments else [])]


@st.composite
def early_failure(draw: st.DrawFn, params: list[Any], sandbox: Sandbox) -> list[str]:
    """One value that no command accepts, for an option the command has (or an unknown option)."""
    candidates: list[list[str]] = [["--no-such-option"], ["--no-such-option", "3"]]
    for param in params:
        if not isinstance(param, TyperOption):
            continue
        kind = kind_of(param)
        if kind == "flag" and not param.secondary_opts:
            candidates.append([f"{param.opts[0]}=yes"])
        elif kind in EARLY and kind != "text":
            candidates += [[param.opts[0], value] for value in EARLY[kind]]
        elif kind == "text":
            candidates += [[param.opts[0], value] for value in EARLY["text"]]
    return draw(st.sampled_from(candidates))


# -- running it ------------------------------------------------------------------------------------


class TookTooLong(Exception):
    """An invocation ran past TIME_LIMIT: it started real work, or hung."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TookTooLong(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(argv: list[str], exit_code: int, stdout: str, stderr: str, exception: BaseException | None,
                  may_succeed: bool = False) -> None:  # fmt: skip
    """The promise: exit 1 with exactly one line ``error: ...`` on stderr, or click's usage error
    (exit 2); never a traceback; no success unless ``may_succeed``."""
    shown = f"albert {' '.join(map(repr, argv))}\nexit {exit_code}\nstderr: {stderr[-2000:]}"
    if exception is not None and not isinstance(exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(exception))
        pytest.fail(f"a traceback (a bug, or an error a user can fix that is not an AlbertError):\n{shown}\n{trace}")
    assert "Traceback" not in stderr and "Traceback" not in stdout, shown
    assert exit_code in ((0, 1, 2) if may_succeed else (1, 2)), shown
    lines = [line for line in stderr.splitlines() if line.strip()]
    if exit_code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), shown
    elif exit_code == 2:
        assert "Usage:" in stderr or "Error" in stderr, shown


#: The pipeline commands and the model class of their task (mode ``model``).
PIPELINE_HEADS = {
    "fill-mask": "AlbertForMaskedLM", "embed": "AlbertForMaskedLM", "info": "AlbertForMaskedLM",
    "classify": "AlbertForSequenceClassification", "tag": "AlbertForTokenClassification",
    "answer": "AlbertForQuestionAnswering", "choose": "AlbertForMultipleChoice",
}  # fmt: skip
#: Mode ``model``: inputs each pipeline command can use, as (options, arguments); TEXTS is the
#: sandbox's text file. The parameters they set are not drawn.
MODEL_INPUTS: dict[str, list[tuple[list[str], list[str]]]] = {
    "fill-mask": [([], ["a [MASK] walked.", "two [MASK] and [MASK] here"]), (["--input", "TEXTS"], [])],
    "embed": [([], ["Some words. Another sentence."]), (["--input", "TEXTS"], [])],
    "classify": [([], ["what a lovely day", "x" * 3000])],
    "tag": [([], ["John Smith lives in New York."]), (["--input", "TEXTS"], [])],
    "answer": [(["--question", "Who lives there?", "--context", "John lives in York. " * 40], [])],
    "choose": [(["--choice", "ran.", "--choice", "a the."], ["The man"])],
    "info": [([], [])],
}
INPUTS_GIVEN = {"texts", "input_file", "question", "context", "context_file", "choice", "prompt", "pair_column"}
#: Options mode ``model`` leaves out: ``--spark`` starts Spark; ``--onnx`` exports the model to
#: ONNX first (seconds an invocation; tests/fast/test_fast_onnx.py covers it).
STARTS_WORK = {"spark", "onnx"}


@contextlib.contextmanager
def logging_as_it_was() -> Iterator[None]:
    """Restore every logger's handlers, level and propagation on the way out."""
    import logging

    loggers = [logging.getLogger(), *(logger for logger in logging.root.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]  # fmt: skip
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate, logger.disabled) for logger in loggers]
    try:
        yield
    finally:
        for logger, handlers, level, propagate, disabled in saved:
            logger.handlers[:] = handlers
            logger.level, logger.propagate, logger.disabled = level, propagate, disabled
        # Loggers first made during the invocation (uvicorn's, by albert serve) lose the handlers
        # that write to the runner's streams, which are closed once it returns.
        known = {id(logger) for logger, *_ in saved}
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and id(logger) not in known:
                logger.handlers.clear()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, make_tiny_model: Any) -> Sandbox:
    import albert

    box = Sandbox(tmp_path_factory.mktemp("cli-fuzz"))
    box.models = {name: make_tiny_model(getattr(albert, head)) for name, head in PIPELINE_HEADS.items()}
    return box


@pytest.fixture(autouse=True)
def hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test reaches the network: a name that is not a folder fails at once (hub.hub_unreachable).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def invoke(argv: list[str], sandbox: Sandbox, may_succeed: bool = False) -> None:
    runner = CliRunner()
    previous = Path.cwd()
    os.chdir(sandbox.root)
    try:
        # the command built once (see ROOT); the logging set-up a command makes for its own process
        # (albert serve configures it) undone, as the next test expects it
        with mock.patch.object(typer.testing, "_get_command", lambda _: ROOT), time_limit(TIME_LIMIT), \
                logging_as_it_was():  # fmt: skip
            result = runner.invoke(app, argv, input="")
    finally:
        os.chdir(previous)
    check_outcome(argv, result.exit_code, result.stdout, result.stderr, result.exception, may_succeed)


def fuzz(name: str, mode: str, sandbox: Sandbox, examples: int, derandomize: bool) -> None:
    @settings(max_examples=examples, derandomize=derandomize, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(argv=command_line(name, mode, sandbox))
    def run(argv: list[str]) -> None:
        invoke(argv, sandbox, may_succeed=mode == "model")

    run()


@pytest.mark.parametrize("mode", ["parse", "check"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bad_values_give_one_error_line_or_a_usage_error(name: str, mode: str, sandbox: Sandbox) -> None:
    fuzz(name, mode, sandbox, QUICK, derandomize=True)


@pytest.mark.parametrize("name", sorted(PIPELINE_HEADS))
def test_bad_values_with_a_real_model_give_an_answer_or_one_error_line(name: str, sandbox: Sandbox) -> None:
    fuzz(name, "model", sandbox, QUICK, derandomize=True)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["parse", "check", "model"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bad_values_thoroughly(name: str, mode: str, sandbox: Sandbox) -> None:
    if mode == "model" and name not in PIPELINE_HEADS:
        pytest.skip("mode model: the pipeline commands")
    fuzz(name, mode, sandbox, THOROUGH, derandomize=False)


def test_every_command_is_fuzzed_and_has_options() -> None:
    # The walk finds the commands of the groups too, and every option has a kind the fuzzer knows.
    assert {"fill-mask", "pretrain", "finetune", "convert tf", "export onnx", "serve", "info"} <= set(COMMANDS)
    for command in COMMANDS.values():
        for param in command.params:
            assert kind_of(param) in {"flag", "int", "float", "choice", "path", "model", "device", "dtype", "text"}


# -- the same promises through the real executable -------------------------------------------------

REAL = [
    (["fill-mask", "a [MASK].", "--device", "foo"], 1, "error: unknown device 'foo' (--device): use cpu, cuda, cuda:N, mps or auto"),
    (["info", "nosuch"], 1, "error: 'nosuch' is not a folder, not a shipped model"),
    (["embed", b"caf\xe9"], 1, "is not valid UTF-8: it holds a lone surrogate U+DCE9"),
    (["pretrain", "--steps", "x"], 2, "Invalid value for '--steps'"),
]


def run_albert(args: list[str | bytes], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "albert.cli", *args], capture_output=True, timeout=300,
                          cwd=cwd, env=environment)  # fmt: skip


@pytest.mark.parametrize(("args", "status", "message"), REAL, ids=lambda value: str(value)[:30])
def test_the_real_executable_keeps_the_same_promises(args: list[Any], status: int, message: str, tmp_path: Path) -> None:
    process = run_albert(args, tmp_path)
    stderr = process.stderr.decode(errors="replace")
    assert process.returncode == status, stderr
    assert message in " ".join(stderr.split()) and "Traceback" not in stderr, stderr
    if status == 1:
        assert stderr.count("\n") == 1, stderr


# -- the parser's choices are the library's --------------------------------------------------------


def test_the_choices_the_parser_offers_are_the_ones_the_pipelines_accept() -> None:
    from albert.pipelines.embeddings import LEVEL_ALIASES, LEVELS, SENTENCE_POOLINGS, WORD_POOLINGS
    from albert.pipelines.text_classification import FUNCTIONS
    from albert.pipelines.token_classification import STRATEGIES

    def offered(command: str, option: str) -> set[str]:
        (param,) = [param for param in COMMANDS[command].params if option in param.opts]
        return set(choices_of(param))

    assert set(LEVELS) <= offered("embed", "--level") <= {*LEVELS, *LEVEL_ALIASES}
    assert offered("embed", "--word-pooling") == set(WORD_POOLINGS)
    assert offered("embed", "--sentence-pooling") == set(SENTENCE_POOLINGS)
    assert offered("classify", "--function") == set(FUNCTIONS)
    assert offered("tag", "--aggregation") == set(STRATEGIES)


# -- the one handler of errors and warnings ---------------------------------------------------------


def test_every_command_runs_inside_the_one_handler() -> None:
    def registered(typer_app: typer.Typer) -> Iterator[Any]:
        yield from typer_app.registered_commands
        for group in typer_app.registered_groups:
            yield from registered(group.typer_instance)

    callbacks = list(registered(app))
    assert len(callbacks) == len(COMMANDS)
    assert all(getattr(info.callback, "albert_one_line_errors", False) for info in callbacks)


def handled(error: BaseException | None = None, warn: str | None = None, log: str | None = None) -> Any:
    """Run a command that warns, logs and raises, inside the handler; return the CliRunner result."""
    import logging
    import warnings

    from albert.cli.app import AlbertTyper

    toy = AlbertTyper()

    @toy.command("run")
    def run(text: str = typer.Option("ok", "--text")) -> None:
        if warn:
            warnings.warn(warn, stacklevel=1)
        if log:
            logging.getLogger("albert.toy").warning(log)
        if error is not None:
            raise error

    @toy.command("other")
    def other() -> None: ...

    return CliRunner().invoke(toy, ["run"])


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (FileNotFoundError(2, "No such file or directory", "in.txt"), "error: in.txt: No such file or directory"),
        (PermissionError(13, "Permission denied", "/etc/x"), "error: /etc/x: Permission denied"),
        (OSError(30, "Read-only file system", "/ro/out"), "error: /ro/out: Read-only file system"),
        (IsADirectoryError(21, "Is a directory", "folder"), "error: folder: Is a directory"),
        (FileExistsError("run/ already holds a run; pass --resume"), "error: run/ already holds a run; pass --resume"),
        (ModuleNotFoundError("No module named 'onnx'", name="onnx"),
         "error: No module named 'onnx'; install it with: pip install 'albert-lm[onnx]'"),
        (ImportError("albert serve needs the serve extra: pip install 'albert-lm[serve]'"),
         "error: albert serve needs the serve extra: pip install 'albert-lm[serve]'"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)  # fmt: skip
def test_errors_a_user_causes_are_one_line(error: BaseException, line: str) -> None:
    result = handled(error)
    assert (result.exit_code, result.stderr) == (1, line + "\n")


def test_every_albert_error_is_one_line() -> None:
    from albert import errors

    kinds = [kind for kind in vars(errors).values() if isinstance(kind, type) and issubclass(kind, errors.AlbertError)]
    assert len(kinds) >= 10
    for kind in kinds:
        result = handled(kind("what was wrong,\n  and what to do"))
        assert (result.exit_code, result.stderr) == (1, "error: what was wrong, and what to do\n"), kind


@pytest.mark.parametrize(
    "error",
    [ValueError("a bug"), TypeError("a bug"), KeyError("a bug"), RuntimeError("a bug"), OSError(5, "I/O error"),
     ImportError("cannot import name 'x' from 'albert.y'", name="albert.y")],
    ids=lambda error: type(error).__name__,
)  # fmt: skip
def test_anything_else_is_a_bug_and_keeps_its_traceback(error: BaseException) -> None:
    result = handled(error)
    assert result.exception is error and "error:" not in result.stderr


def test_warnings_are_one_line_each_and_then_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from albert.errors import InputError

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in a shell: logging not configured
    result = handled(InputError("the input is empty"), warn="the target 'x' has 3 pieces", log="a logged warning")
    assert result.stderr.splitlines() == [
        "warning: the target 'x' has 3 pieces", "warning: a logged warning", "error: the input is empty"
    ]
