"""Option helpers shared by the vendor readers (ES&S, Dominion, Hart, Clear Ballot).

Why a module of their own: the readers take RCTab's ``cvrFileSources`` keys as options, and
RCTab writes every value as a string (absent values as ``""``), so each reader needs the same
small conversions with the same error messages naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: Name RCTab gives the undeclared write-in pseudo-candidate in its reports.
UWI_NAME = "Undeclared Write-ins"


def option_text(options: Mapping[str, Any], key: str, default: str = "") -> str:
    """A string option; RCTab writes absent values as ``""``."""
    value = options.get(key, default)
    if value is None:
        return default
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InputError(f"option {key} must be a string, got {type(value).__name__}", field=key)
    return str(value).strip()


def option_index(options: Mapping[str, Any], key: str) -> int | None:
    """A 1-based column/row index option (RCTab's convention) as a 0-based index, or None."""
    text = option_text(options, key)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise InputError(
            f"option {key} must be a positive integer, got {text!r}", field=key
        ) from None
    if value < 1:
        raise InputError(f"option {key} must be a positive integer, got {text!r}", field=key)
    return value - 1


def option_count(options: Mapping[str, Any], key: str) -> int | None:
    """A positive count option (``"max"`` or blank = None)."""
    text = option_text(options, key)
    if not text or text.lower() == "max":
        return None
    idx = option_index(options, key)
    return None if idx is None else idx + 1


def option_bool(options: Mapping[str, Any], key: str) -> bool:
    value = options.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() == "true"
    raise InputError(f"option {key} must be true or false, got {value!r}", field=key)


@dataclass(frozen=True)
class RctabCandidates:
    """RCTab's ``candidates`` option: names in order, and every code/alias → name."""

    names: tuple[str, ...]
    by_label: dict[str, str]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RctabCandidates | None:
        raw = options.get("candidates")
        if raw is None:
            return None
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
            raise InputError("option candidates must be a list of objects", field="candidates")
        names: list[str] = []
        by_label: dict[str, str] = {}
        for i, c in enumerate(raw):
            if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
                raise InputError(
                    f"candidates[{i}] must be an object with a name", field="candidates"
                )
            name = c["name"].strip()
            names.append(name)
            labels = [name]
            if isinstance(c.get("code"), str) and c["code"].strip():
                labels.append(c["code"].strip())
            aliases = c.get("aliases") or []
            if not isinstance(aliases, Sequence) or isinstance(aliases, str):
                raise InputError(f"candidates[{i}].aliases must be a list", field="candidates")
            labels += [str(a).strip() for a in aliases if str(a).strip()]
            for label in labels:
                if by_label.setdefault(label, name) != name:
                    raise InputError(
                        f"candidate label {label!r} names two candidates", field="candidates"
                    )
        return cls(tuple(names), by_label)
