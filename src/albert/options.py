"""Options declared once: frozen dataclasses whose fields carry name, type, default and help.

A settings class (``PretrainSettings``, ``FinetuneSettings``) declares each setting as one field
made with :func:`option`; :func:`check_fields` checks every value against its field's type and
bounds (called from the class's ``__post_init__``), and :func:`settings_command` derives a typer
command's options from the fields, plus ``--settings FILE`` (JSON, TOML or YAML) whose values are
the defaults that flags on the command line override. :func:`options_command` derives a command's
options from option classes (the pipelines' call options) and hands the command only the options
the user gave, so the library's defaults (or a model folder's) apply to the rest. Torch-free:
``albert --help`` reads it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import numbers
import os
import sys
import types
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal, TypeVar

from .errors import OptionError, OptionTypeError
from .json_files import read_json_file

Function = TypeVar("Function", bound=Callable[..., Any])


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",
    flag: str | tuple[str, ...] | None = None,
    cli: bool = True,
    cli_type: Any = None,
    cli_default: Any = dataclasses.MISSING,
    cli_assumes: Any = dataclasses.MISSING,
    at_least: float | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field declaring one setting: its default, ``help`` (the CLI's help text),
    ``flag`` (default ``--field-name``; ``--bf16/--no-bf16`` for a switch; a tuple adds short
    names: ``("--top-k", "-k")``), ``cli=False`` for a setting only a ``--settings`` file or the
    library sets, ``cli_type`` where the command line reads another type (a ``Path`` for a
    ``str``, a ``Literal`` of choices), ``cli_default`` where the command's default differs from
    the library's (``tag`` aggregates words, the pipeline does not), ``cli_assumes`` where the
    command's default depends on the model, so the option is passed only when given, and this is the
    value its other options are checked with when it is left out (``albert embed`` embeds sentences,
    a sentence-embedding folder's texts: both pool, so ``--normalize`` alone is valid), and
    ``at_least``, a lower bound (unset passes)."""
    metadata = {"help": help, "flag": flag, "cli": cli, "cli_type": cli_type, "cli_default": cli_default,
                "cli_assumes": cli_assumes, "at_least": at_least}  # fmt: skip
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The fields' types of a settings class, evaluated (not the strings of ``__annotations__``)."""
    return typing.get_type_hints(cls)


def check_fields(settings: Any) -> None:
    """Check every field of a settings dataclass against its type and ``at_least`` bound; a path
    given for a text field becomes its text. Called from ``__post_init__``.

    Raises:
        OptionTypeError: a value of the wrong kind, naming the field, the value and the kind.
        OptionError: a value outside the field's allowed values or below its bound.
    """
    hints = field_types(type(settings))  # type: ignore[arg-type]  # a class is hashable
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if isinstance(value, os.PathLike) and _accepts(hints[item.name], "text"):
            value = os.fspath(value)
            object.__setattr__(settings, item.name, value)
        _check_type(item.name, value, hints[item.name])
        bound = item.metadata.get("at_least")
        if bound is not None and value is not None and value < bound:
            unset = " (or unset)" if _accepts(hints[item.name], None) else ""
            raise OptionError(f"{item.name} must be at least {bound}{unset}, got {value}")


def _accepts(hint: Any, kind: Any) -> bool:
    """Whether ``hint`` (a type or a union) takes None (``kind=None``) or a text (``"text"``)."""
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    return any(member is type(None) if kind is None else member is str for member in members)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _check_type(name: str, value: Any, hint: Any) -> None:
    if _is_union(hint):
        members = typing.get_args(hint)
        if value is None and type(None) in members:
            return
        literals = [member for member in members if typing.get_origin(member) is Literal]
        if literals and isinstance(value, str):
            return _check_type(name, value, literals[0])
        if any(_matches(value, member) for member in members if member is not type(None)):
            return
        raise OptionTypeError(f"{name} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise OptionError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}")
        return
    if not _matches(value, hint):
        raise OptionTypeError(f"{name} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if typing.get_origin(hint) is Literal:
        return value in typing.get_args(hint)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    origin = typing.get_origin(hint)
    return isinstance(value, origin or hint)


def _describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a text", type(None): "unset (None)"}
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    described = []
    for member in members:
        if typing.get_origin(member) is Literal:
            described.append("one of " + ", ".join(map(repr, typing.get_args(member))))
        else:
            described.append(names.get(member, getattr(member, "__name__", str(member))))
    return " or ".join(described)


# -- settings files --------------------------------------------------------------------------------


def read_settings_file(path: str | os.PathLike, settings_class: type) -> dict[str, Any]:
    """The settings in a JSON (``.json``), TOML (``.toml``) or YAML (``.yaml``/``.yml``, needs
    PyYAML) file: one object whose keys are ``settings_class``'s field names. A nested dataclass
    field (``read_options``) is given as an object of its own fields.

    Raises:
        OptionError: the file cannot be read or parsed, is not one object, or has a key that is
            not a setting (naming it and the allowed ones).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise OptionError(f"cannot read the settings file {path}: {error}") from None
    values = _parse(text, path)
    if not isinstance(values, dict):
        raise OptionError(f"the settings file {path} must hold one object of settings, got {type(values).__name__}")
    names = {item.name: item for item in dataclasses.fields(settings_class)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise OptionError(
            f"the settings file {path} has unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"the settings are: {', '.join(names)}"
        )
    hints = field_types(settings_class)
    for name, value in values.items():
        if dataclasses.is_dataclass(hints[name]) and isinstance(value, dict):
            try:
                values[name] = hints[name](**value)
            except TypeError as error:
                raise OptionError(f"the settings file {path}: {name}: {error}") from None
    return values


def _parse(text: str, path: Path) -> Any:
    """The file's values, read by its suffix (JSON, TOML or YAML).

    Raises:
        OptionError: the file does not parse, or its format needs what this Python lacks.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib

                return tomllib.loads(text)
            raise OptionError(
                f"cannot read the settings file {path}: reading TOML needs Python 3.11 or newer (tomllib); "
                "write the settings as JSON or YAML"
            )
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise OptionError(
                    f"cannot read the settings file {path}: reading YAML needs PyYAML (pip install pyyaml); "
                    "or write the settings as JSON"
                ) from None
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as error:  # not a ValueError
                raise OptionError(f"cannot read the settings file {path}: {error}") from None
        return json.loads(text)
    except ValueError as error:  # JSON's and TOML's decode errors
        raise OptionError(f"cannot read the settings file {path}: {error}") from None


# -- the command line -------------------------------------------------------------------------------


def cli_parameters(settings_class: type, *, bounded: bool = False,
                   exclude: Collection[str] = ()) -> list[inspect.Parameter]:  # fmt: skip
    """One typer option per field of ``settings_class`` shown on the command line (less the
    ``exclude`` names), as :func:`cli_option` makes it, with the field's type (or ``cli_type``)."""
    hints = field_types(settings_class)
    return [
        inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY, default=cli_option(settings_class, item.name,
                          bounded=bounded), annotation=item.metadata["cli_type"] or hints[item.name])
        for item in dataclasses.fields(settings_class)
        if item.metadata.get("cli", False) and item.name not in exclude
    ]  # fmt: skip


def cli_option(settings_class: type, name: str, *, bounded: bool = False) -> Any:
    """The typer option of one field of ``settings_class``: its flag(s), the help of its
    declaration and its default (its ``cli_default`` if it has one; required where the field has
    none). With ``bounded``, the field's ``at_least`` is the parser's own bound too (refused before
    the command runs, shown in the help as ``[x>=1]``). For a command that takes a few fields of a
    class as its own parameters (``model: str | None = cli_option(LoadOptions, "model")``)."""
    import typer

    (item,) = [item for item in dataclasses.fields(settings_class) if item.name == name]
    flag = item.metadata["flag"] or "--" + item.name.replace("_", "-")
    flags = (flag,) if isinstance(flag, str) else tuple(flag)
    default = item.metadata.get("cli_default", dataclasses.MISSING)
    if default is dataclasses.MISSING:
        default = ... if item.default is dataclasses.MISSING else item.default
    bound = item.metadata["at_least"]
    limits = {"min": bound} if bounded and bound is not None else {}
    return typer.Option(default, *flags, help=item.metadata["help"], **limits)


def _derived_command(function: Function, parameters: list[inspect.Parameter],
                     call: Callable[[dict[str, Any]], Any]) -> Function:  # fmt: skip
    """``function`` as typer sees a command of ``parameters`` (typer reads the generated
    signature, not the function's); ``call`` gets the values typer parsed and runs it."""

    @functools.wraps(function)
    def command(**values: Any) -> Any:
        return call(values)

    del command.__wrapped__  # typer reads the signature below, not the function's
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return command  # type: ignore[return-value]


def _own_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters of ``function`` as typer options or arguments, annotations evaluated."""
    hints = typing.get_type_hints(function, include_extras=True)
    return [parameter.replace(annotation=hints.get(name, parameter.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
            for name, parameter in inspect.signature(function).parameters.items()]  # fmt: skip


def settings_command(settings_class: type, *, order: list[str] | None = None, file_help: str = "",
                     file_flags: tuple[str, ...] = ("--settings",)) -> Callable[[Function], Function]:  # fmt: skip
    """Derive a command's options from ``settings_class``: the decorated function takes
    ``settings`` (an instance) and its other options as typer parameters; the command it becomes
    takes one option per setting and ``--settings FILE`` (``file_flags``: its names), whose values
    are the defaults (flags given on the command line win). ``order`` lists parameter names to
    show first, in that order. Another option may read a settings file too, with
    :func:`load_settings_file` in its callback (``albert pretrain --config``)."""

    def decorate(function: Function) -> Function:
        import typer

        own = [parameter for parameter in _own_parameters(function) if parameter.name != "settings"]
        derived = cli_parameters(settings_class)
        loader = _settings_file_loader(settings_class, file_flags[0])
        settings_file = inspect.Parameter(
            "settings_file", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
            default=typer.Option(None, *file_flags, help=file_help, callback=loader, is_eager=True),
        )  # fmt: skip
        parameters = [*own, *derived, settings_file]
        if order is not None:
            rank = {name: index for index, name in enumerate(order)}
            parameters.sort(key=lambda parameter: rank.get(parameter.name, len(rank)))
        parameters.insert(0, inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
        names = [parameter.name for parameter in derived]

        def call(values: dict[str, Any]) -> Any:
            values.pop("settings_file")
            from_file = values.pop(_CONTEXT).meta.get(_FILE_VALUES, {})
            fields = {name: value for name, value in from_file.items() if name not in names}
            fields.update((name, values.pop(name)) for name in names)
            return function(settings=settings_class(**fields), **values)

        return _derived_command(function, parameters, call)

    return decorate


def options_command(*, exclude: Collection[str] = (), **groups: type) -> Callable[[Function], Function]:
    """Derive a command's options from option classes: each parameter of the decorated function
    named in ``groups`` (``options=FillMaskOptions``) stands for one typer option per field of its
    class (:func:`cli_parameters`, bounded, less ``exclude``), shown in its place. The function
    gets, for that parameter, a dict of the options the user gave: an option left out is not in
    it (not given, so the library's default, or a model folder's, applies), except one with a
    ``cli_default``, which the command always passes. The given values are checked together by
    building the class from them, over the ``cli_assumes`` values of the options left out (its own
    ``__post_init__``), before the function runs.

    Raises (from the command):
        OptionError, OptionTypeError: values the option class refuses.
    """

    def decorate(function: Function) -> Function:
        import typer

        # typer hands the command its click context here (the parser's record of what was given)
        parameters = [inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        members: dict[str, list[str]] = {}
        for parameter in _own_parameters(function):
            if parameter.name not in groups:
                parameters.append(parameter)
                continue
            derived = cli_parameters(groups[parameter.name], bounded=True, exclude=exclude)
            members[parameter.name] = [item.name for item in derived]
            parameters.extend(derived)

        def call(values: dict[str, Any]) -> Any:
            context = values.pop(_CONTEXT)
            for group, names in members.items():
                options_class = groups[group]
                always = {item.name for item in dataclasses.fields(options_class)
                          if item.metadata.get("cli_default", dataclasses.MISSING) is not dataclasses.MISSING}  # fmt: skip
                given = {name: values[name] for name in names if name in always or _given(context, name)}
                for name in names:
                    del values[name]
                assumed = {item.name: item.metadata["cli_assumes"] for item in dataclasses.fields(options_class)
                           if item.metadata.get("cli_assumes", dataclasses.MISSING) is not dataclasses.MISSING}  # fmt: skip
                options_class(**{**assumed, **given})  # checked now, before any model loads
                values[group] = given
            return function(**values)

        return _derived_command(function, parameters, call)

    return decorate


#: The parameter of a derived command that receives its click context.
_CONTEXT = "albert_cli_context"


def _given(context: Any, name: str) -> bool:
    """Whether the option ``name`` of the command running in ``context`` was given (on the
    command line, in the environment or a default map), not left to its default."""
    source = context.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _settings_file_loader(settings_class: type, flag: str) -> Callable[..., Any]:
    """The callback of ``--settings FILE``, read before the other options (it is eager): see
    :func:`load_settings_file`."""
    import typer  # its own click: its errors and context are typer's

    def load(ctx: Any, value: Any) -> Any:
        if value is not None and not ctx.resilient_parsing:
            load_settings_file(ctx, value, settings_class, flag)
        return value

    load.__annotations__ = {"ctx": typer.Context, "value": Path | None, "return": Path | None}
    return load


#: Where a running command keeps the settings its settings file gave (the context's ``meta``).
_FILE_VALUES = "albert.settings_file"


def load_settings_file(ctx: Any, path: str | os.PathLike, settings_class: type, flag: str) -> None:
    """Read the settings file ``path`` into the running command (typer context ``ctx``), from an
    eager option's callback: its values become the defaults of the command's options (click's
    ``default_map``, so a flag given wins, and a file may supply a required setting), and the
    command built by :func:`settings_command` builds its settings from them.

    Raises:
        typer.BadParameter: the file cannot be read or holds what is not a setting (usage error,
            naming ``flag``).
    """
    import typer

    try:
        values = read_settings_file(path, settings_class)
    except OptionError as error:
        raise typer.BadParameter(str(error), ctx=ctx, param_hint=f"'{flag}'") from None
    ctx.default_map = {**(ctx.default_map or {}), **values}
    ctx.meta[_FILE_VALUES] = {**ctx.meta.get(_FILE_VALUES, {}), **values}


def holds_settings(path: str | os.PathLike, settings_class: type, other_fields: Collection[str]) -> bool:
    """Whether the file at ``path`` is a settings file of ``settings_class`` rather than a file of
    ``other_fields`` (a config.json): a TOML or YAML file is; a JSON object is when it holds a
    setting and none of the other fields. Anything else (no such file, a folder, a name, JSON that
    does not parse) is not, and is left to whoever reads the other kind.

    Raises:
        OptionError: a JSON object holding both settings and other fields, naming some of each.
    """
    path = Path(path)
    try:
        if not path.is_file():
            return False
    except (OSError, ValueError):  # a name too long, or with a NUL byte or a lone surrogate: no file
        return False
    if path.suffix.lower() in (".toml", ".yaml", ".yml"):
        return True
    try:
        values = read_json_file(path, error=OptionError, what="a settings file or a model config")
    except OptionError:  # not JSON either reader takes: the config's reader says why
        return False
    if not isinstance(values, dict):
        return False
    settings = sorted(set(values) & {item.name for item in dataclasses.fields(settings_class)})
    others = sorted(set(values) & set(other_fields))
    if settings and others:
        raise OptionError(
            f"{path} holds both run settings ({', '.join(settings[:3])}) and a model config's fields "
            f"({', '.join(others[:3])}); give the model's shape and the run's settings in two files"
        )
    return bool(settings)
