"""One checker for every config table: a TOML table becomes a typed, frozen dataclass.

The settings sections (``[dedup]``, ``[ingest]``, ``[warehouse]``) and each kind of
source are dataclasses; their fields are the allowed keys, their annotations the
types and their defaults the defaults. :func:`build` refuses an unknown key (with a
did-you-mean) or a value of the wrong type in one line that names the key, so the
rules live in one place instead of one hand-written loop per file. Checks of a
value's range stay in each dataclass's ``__post_init__``, where they also guard
objects built in code.
"""

from __future__ import annotations

import difflib
import tomllib
import types
import typing
from dataclasses import MISSING, fields
from functools import cache
from pathlib import Path
from typing import Any

from etl.errors import ConfigError

# Type names in messages, as a TOML author knows them.
_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", dict: "table", list: "array"}


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; a syntax error becomes a ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


@cache
def keys_of(cls: type) -> dict[str, tuple[type, ...]]:
    """The configurable keys of ``cls`` and the TOML types each accepts.

    A field with ``metadata={"config": False}`` (a name taken from the table's
    header, the file a value came from) is not a key.
    """
    hints = typing.get_type_hints(cls)
    allowed: dict[str, tuple[type, ...]] = {}
    for f in fields(cls):
        if not f.init or f.metadata.get("config", True) is False:
            continue
        hint = hints[f.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        allowed[f.name] = tuple(typing.get_origin(t) or t for t in options if t is not type(None))
    return allowed


def did_you_mean(key: str, known: typing.Iterable[str]) -> str:
    """`` (did you mean X?)`` when one known key is close to ``key``, else nothing."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_key(where: str, key: str, known: typing.Iterable[str]) -> ConfigError:
    known = sorted(known)
    return ConfigError(f"unknown key {where}.{key}{did_you_mean(key, known)}; known keys: {', '.join(known)}")


def check_value(where: str, key: str, value: Any, accepted: tuple[type, ...]) -> Any:
    """``value`` when it has one of the ``accepted`` types (an integer is a fine float)."""
    if isinstance(value, bool):
        ok = bool in accepted
    elif isinstance(value, int) and int not in accepted and float in accepted:
        return float(value)
    else:
        ok = isinstance(value, accepted)
    if not ok:
        expected = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in accepted)
        got = _TYPE_NAMES.get(type(value), type(value).__name__)
        raise ConfigError(f"{where}.{key} must be {expected}, got {got}")
    return value


def build(cls: type, table: Any, where: str, **fixed: Any) -> Any:
    """``cls`` from the TOML ``table`` found at ``[where]``, plus ``fixed`` non-key fields.

    Unknown keys and wrong types raise ConfigError; missing keys take the defaults
    (a field without a default must be present: its dataclass says what is required).
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table")
    allowed = keys_of(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            raise unknown_key(where, key, allowed)
        values[key] = check_value(where, key, value, allowed[key])
    for f in fields(cls):
        if f.name in allowed and f.name not in values and f.default is f.default_factory is MISSING:
            raise ConfigError(f"{where}.{f.name} is required")
    return cls(**fixed, **values)
