"""Conventional metavars in ``--help``: ``--store PATH``, ``--size INTEGER``, a flag with none.

Typer labels every parameter with its Python annotation (``<bool>``, ``<list[Path]>``), which
means nothing to an election official. :func:`conventional_metavars` walks the built command
tree once, before it runs, and gives every parameter that has no metavar of its own the
upper-case word command-line tools use (click's and GNU's convention): ``TEXT``, ``INTEGER``,
``NUMBER``, ``PATH``, the choices ``a|b`` of a choice, nothing for a flag. An argument is
named in upper case (``SOURCES``) and its type word carries ``...`` when it takes several
values. New options need nothing: they are labelled the same way.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click import Command, Context  # typer vendors click
from typer.core import TyperArgument, TyperGroup, TyperOption

#: Python annotation → the word shown for it.
WORDS: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH",
                         datetime: "DATETIME", bool: "BOOLEAN"}


def metavar_for(annotation: Any, choices: tuple[Any, ...] | None = None) -> str:
    """The word for a parameter of this annotation (a list's element decides)."""
    if choices:
        return "|".join(str(c.value if isinstance(c, Enum) else c) for c in choices)
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if annotation in WORDS:
        return WORDS[annotation]
    return getattr(annotation, "__name__", str(annotation)).upper()


def conventional_metavars(cmd: Command) -> None:
    """Give every parameter of ``cmd`` and its subcommands a conventional metavar (in place;
    a metavar set explicitly in ``typer.Option``/``typer.Argument`` is kept)."""
    help_option = cmd.get_help_option(Context(cmd))
    for param in [*cmd.params, *([help_option] if help_option is not None else [])]:
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption):
            desc = param.type_descriptor
            param.metavar = "" if param.is_flag else metavar_for(desc.annotation, desc.choices)
        elif isinstance(param, TyperArgument):
            desc = param.type_descriptor
            word = metavar_for(desc.annotation, desc.choices) + ("..." if param.nargs != 1 else "")
            param.metavar = (param.name or "value").upper()
            # Typer shows an argument's annotation beside its name; show the word instead.
            param.display_type_rich = lambda ctx, word=word: word  # type: ignore[method-assign]
    if isinstance(cmd, TyperGroup):
        for sub in cmd.commands.values():
            conventional_metavars(sub)
