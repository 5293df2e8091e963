"""The errors a user can fix, under one root: :class:`AlbertError`.

Everything albert raises because of what it was given (a file, a config, an option, a text, a
folder another process is writing) is an ``AlbertError``: ``except albert.AlbertError`` catches
them all, and the command line prints each as one line ``error: ...`` (exit status 1). Anything
else that escapes is a bug in albert.

Each kind also derives from the built-in error it used to be (``ValueError``, ``TypeError``,
``OSError``, ``FileNotFoundError`` ...), so code written against those keeps working. This
module imports nothing: every layer, torch-free ones included, can raise these.
"""

from __future__ import annotations


class AlbertError(Exception):
    """Root of every error a user can fix: the message says what was wrong, with the value, and
    what to do instead."""


class ConfigError(AlbertError, ValueError):
    """A model config that cannot describe a network albert can build: a field of the wrong kind,
    out of range, inconsistent with another field, or a model too large to allocate. The message
    names the file (when there is one), the field, the value and what is allowed."""


class CheckpointError(AlbertError, ValueError):
    """A weights file or folder that cannot be used: corrupt, unsafe, incomplete, or not matching
    the model."""


class UntrainedHeadError(CheckpointError):
    """A task head that the checkpoint does not hold (it would be randomly initialised), asked for
    inference: its answers would be random. Fine-tune first, pass a fine-tuned model, or say
    ``allow_untrained_head=True`` (``--allow-untrained-head``)."""


class ModelNotFoundError(AlbertError, FileNotFoundError):
    """A model name or path that resolves to nothing usable: says where it looked and what to do."""


class InputError(AlbertError, ValueError):
    """An input the user gave (a text, a file, a column, a table row) that cannot be used."""


class InputTypeError(InputError, TypeError):
    """An input of the wrong kind: a number or bytes where a text goes, a text where a list of
    words goes, a table column of numbers where a column of text goes. A ``TypeError`` too, as
    Python's own errors for a value of the wrong type are."""


class OptionError(AlbertError, ValueError):
    """An option or argument outside what is allowed (a device, a dtype, a size)."""


class OptionTypeError(OptionError, TypeError):
    """An option or argument of the wrong kind or name: a keyword option the call does not take, a
    model of a class the task cannot use, a dict where an ``AlbertConfig`` goes. A ``TypeError``
    too, as Python's own error for an unexpected keyword argument is."""


class OutputError(AlbertError, OSError):
    """A file or folder that could not be written (an I/O error, a read-only place): names it."""


class DiskFullError(OutputError):
    """A write that ran out of space: names the file, how much it needed and how much was free."""


class FolderInUseError(AlbertError, RuntimeError):
    """An output folder another live process is writing (it holds the folder's lock): names its pid."""


class SentenceFolderError(ConfigError):
    """A sentence-transformers folder albert cannot use: a malformed modules.json,
    sentence_bert_config.json, 1_Pooling/config.json or config_sentence_transformers.json, or a
    module or pooling albert does not run (Dense, weighted mean ...). Names the file and the field."""
