"""One error root (docs/reliability.md, "One error root"): every error a user can cause is an
:class:`albert.AlbertError`, so ``except albert.AlbertError`` catches it and the command line
prints it as one ``error:`` line instead of a traceback.

A guard over the source, not a list of cases, so that the next ``raise`` someone writes holds
too: it parses every module of src/albert and fails on a ``raise`` of a bare built-in error
(:data:`GUARDED`) that is not on :data:`ALLOWED` with its reason, and on an exception class
defined in src/albert outside the root (:data:`OUTSIDE_THE_ROOT`). A user's error raises one of
albert.errors' classes (each also the built-in it replaces: ``InputError`` is a ``ValueError``);
a site only a bug can reach says so in a comment, ``# a bug, not a user's error``.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import albert
import albert.errors

SOURCE = Path(__file__).resolve().parents[1] / "src" / "albert"
#: The built-in errors a user's mistake used to escape as: raising one needs a reason below.
GUARDED = frozenset({"ValueError", "TypeError", "RuntimeError", "KeyError", "FileNotFoundError"})
#: The comment that marks a raise only a bug in albert can reach.
BUG_MARK = "# a bug, not a user's error"
#: (module under src/albert, a snippet of the raise's source) -> why it stays a built-in error.
#: A reason that starts with "a bug" needs BUG_MARK at the site as well.
ALLOWED = {
    ("pipelines/base.py", "exceeds the model's window"): "a bug: every task windows or truncates its inputs first",
    ("serve/batcher.py", "the batcher is closed"): "a bug: the service refuses requests (503) before it closes",
    ("serve/batcher.py", "inputs gave"): "a bug: a pipeline returned fewer results than it was given inputs",
    ("outputs.py", "raise KeyError(key)"): "the mapping protocol: `'loss' in output` and `output.get()` need it",
    ("spark/annotators.py", "expected 'last' or a layer index"): (
        "Spark's protocol: a Param's typeConverter raises TypeError, which Params.set re-raises as a new one"
    ),
    ("training/lamb.py", "does not support sparse gradients"): (
        "torch.optim's own error for a sparse gradient, word for word; albert's models have none"
    ),
}
#: Exception classes of src/albert that are not AlbertErrors, and why.
OUTSIDE_THE_ROOT = {
    "ServeError": "the service's HTTP answers (status, cause): a client sees JSON, not a Python error",
    "BodyTooLarge": "FastAPI's HTTPException for a body past the limit, answered as 413",
    "_Refused": "json_files' internal signal, raised again as the error class its caller names",
}


def _modules() -> list[tuple[str, str, ast.Module]]:
    """(path under src/albert, source, syntax tree) of every module."""
    modules = []
    for path in sorted(SOURCE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        modules.append((path.relative_to(SOURCE).as_posix(), source, ast.parse(source, filename=str(path))))
    return modules


MODULES = _modules()


def _raised_name(node: ast.Raise) -> str | None:
    """The class a ``raise`` names (``raise X(...)``, ``raise X``, ``raise builtins.X(...)``)."""
    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _guarded_raises(modules: list[tuple[str, str, ast.Module]]) -> list[tuple[str, int, str, str]]:
    """(module, line, the raise's source with the line before it, the class) of every guarded raise."""
    found = []
    for module, source, tree in modules:
        lines = source.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None and _raised_name(node) in GUARDED:
                text = "\n".join(lines[node.lineno - 2 : node.end_lineno])
                found.append((module, node.lineno, text, _raised_name(node)))
    return found


RAISES = _guarded_raises(MODULES)


def test_a_user_s_error_is_never_a_bare_built_in_error():
    unexplained = [
        f"src/albert/{module}:{line}: raise {name}(...) - raise the AlbertError it is (InputError, OptionError, "
        f"CheckpointError, ConfigError, InputTypeError, OptionTypeError ...), or add it to ALLOWED with why"
        for module, line, text, name in RAISES
        if not any(module == allowed and snippet in text for allowed, snippet in ALLOWED)
    ]
    assert not unexplained, "\n".join(unexplained)


def test_every_allowed_site_is_there_and_a_bug_says_so_where_it_is_raised():
    for (allowed, snippet), reason in ALLOWED.items():
        matches = [text for module, _, text, _ in RAISES if module == allowed and snippet in text]
        assert matches, f"ALLOWED names a raise that is gone: {allowed} {snippet!r}; remove it"
        if reason.startswith("a bug"):
            assert all(BUG_MARK in text for text in matches), f"{allowed} {snippet!r}: mark it {BUG_MARK!r}"


def test_every_exception_class_of_albert_is_under_the_root():
    """A class derived from an exception (not a warning) is an AlbertError, through its bases across modules."""
    bases: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for module, _, tree in MODULES:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = [base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases]
                bases[node.name], where[node.name] = names, module

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in seen or name.endswith("Warning"):
            return False
        if name not in bases:  # a built-in or a library's class
            return name.endswith(("Error", "Exception")) or name == "BaseException"
        return any(is_exception(base, seen | {name}) for base in bases[name])

    def under_root(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "AlbertError" or name in OUTSIDE_THE_ROOT:
            return True
        return name in bases and name not in seen and any(under_root(base, seen | {name}) for base in bases[name])

    outside = [
        f"src/albert/{where[name]}: class {name} is not an AlbertError: derive it from one of albert.errors' "
        "classes, or add it to OUTSIDE_THE_ROOT with why"
        for name in bases
        if is_exception(name) and not under_root(name)
    ]
    assert not outside, "\n".join(outside)


def test_every_error_class_derives_from_the_root_and_is_exported():
    classes = {
        name: value for name, value in vars(albert.errors).items()
        if inspect.isclass(value) and value.__module__ == "albert.errors"
    }  # fmt: skip
    assert "InputTypeError" in classes and "OptionTypeError" in classes
    for name, cls in classes.items():
        assert issubclass(cls, albert.AlbertError), name
        assert getattr(albert, name) is cls and name in albert.__all__, f"albert does not export {name}"
        assert cls.__doc__, f"{name} has no docstring: say what the user did wrong"
    # each kind keeps the built-in it replaced, so `except ValueError` / `except TypeError` still catch it
    for kind, built_in in [("InputTypeError", TypeError), ("OptionTypeError", TypeError), ("InputError", ValueError),
                           ("OptionError", ValueError), ("ConfigError", ValueError), ("CheckpointError", ValueError),
                           ("ModelNotFoundError", FileNotFoundError)]:  # fmt: skip
        assert issubclass(classes[kind], built_in), f"{kind} is no longer a {built_in.__name__}"


def test_a_value_of_the_wrong_kind_is_an_albert_error_and_still_a_type_error():
    """The Python API's wrong kinds (a number for a text, an option it does not take) are a user's
    errors too: ``except albert.AlbertError`` and ``except TypeError`` both catch them."""
    import pytest

    from albert.pipelines.texts import check_texts
    from albert.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(SOURCE / "models" / "albert-small-en")
    cases = [
        (lambda: tokenizer(5), albert.InputTypeError, "got int"),
        (lambda: check_texts(["fine", b"bytes"]), albert.InputTypeError, r"inputs\[1\] is a bytes"),
        (lambda: load_tokenizer("albert-small-en", do_lower=True), albert.OptionTypeError, "unknown tokenizer option"),
        (lambda: tokenizer("a", truncation="sideways"), albert.OptionError, "not a truncation strategy"),
        (lambda: tokenizer.decode([10**9]), albert.InputError, "outside the vocabulary"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message) as raised:
            call()
        assert isinstance(raised.value, albert.AlbertError)
        assert raised.value.__cause__ is None and (raised.value.__context__ is None or raised.value.__suppress_context__)
