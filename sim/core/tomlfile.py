"""Strict reading of the project's TOML files, with errors that say file, line and key.

``tomllib`` reports syntax errors with a line but forgets positions once parsed; :class:`TomlFile`
keeps the text so that a validation error can point at the line of the offending key.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.errors import UserError
from sim.core.files import read_input

#: The largest TOML file read (the observation registry is about 30 kB), and the deepest nesting allowed.
MAX_BYTES = 4 * 2**20
MAX_DEPTH = 16

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")

#: A path to a table inside a TOML document: keys, and indices into arrays of tables.
TablePath = tuple[str | int, ...]


def _describe(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _depth(value: Any) -> int:
    """How deeply tables and arrays nest in a parsed TOML value (a scalar is 0), without recursing."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


@dataclass(frozen=True)
class TomlFile:
    """A parsed TOML file together with its text, for pointing at lines in errors."""

    path: Path
    text: str
    data: dict[str, Any]

    @classmethod
    def read(cls, path: str | Path, what: str = "file") -> "TomlFile":
        """Read and parse ``path``: a regular file of at most :data:`MAX_BYTES`, UTF-8 (a leading byte-order
        mark is allowed), tables and arrays nested at most :data:`MAX_DEPTH` deep. Anything else is a
        :class:`UserError` naming the file."""
        path = Path(path)
        raw = read_input(path, what, limit=MAX_BYTES)
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise UserError(f"cannot read this {what}: it is not UTF-8 text ({exc})", where=str(path)) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"not valid TOML: {exc}", where=str(path)) from None
        except RecursionError:
            raise UserError(f"not a usable {what}: tables or arrays are nested more than {MAX_DEPTH} levels deep",
                            where=str(path)) from None
        if _depth(data) > MAX_DEPTH:
            raise UserError(f"not a usable {what}: tables or arrays are nested more than {MAX_DEPTH} levels deep",
                            where=str(path))
        return cls(path, text, data)

    def line_of(self, table: TablePath, key: str | None = None) -> int | None:
        """1-based line of ``key`` inside ``table`` (or of the table header), if it can be found."""
        names = tuple(part for part in table if isinstance(part, str))
        counts: dict[tuple[str, ...], int] = {}
        current: TablePath = ()
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                parts = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
                if header.group(1) == "[[":
                    index = counts.get(parts, 0)
                    counts[parts] = index + 1
                    current = (*parts, index)
                else:
                    current = parts
                named = (*table, key)  # a key may name a table, or an array of tables, of its own
                if current == table if key is None else named in (current, current[:-1]):
                    return number
                continue
            match = _KEY.match(line)
            if key is not None and match and match.group(1).strip("\"'") == key:
                if current == table or (not any(isinstance(p, int) for p in table)
                                        and tuple(p for p in current if isinstance(p, str)) == names):
                    return number
        return None

    def error(self, message: str, table: TablePath = (), key: str | None = None) -> UserError:
        """A :class:`UserError` naming this file, the line and the dotted key."""
        dotted = ".".join(
            f"[{part}]" if isinstance(part, int) else part for part in (*table, *([key] if key else []))
        ).replace(".[", "[")
        line = self.line_of(table, key) if (table or key) else None
        where = str(self.path) + (f", line {line}" if line else "") + (f", key '{dotted}'" if dotted else "")
        return UserError(message, where=where)

    def check_keys(
        self,
        mapping: Mapping[str, Any],
        table: TablePath,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
    ) -> None:
        """Reject unknown keys and report missing required ones."""
        required, optional = tuple(required), tuple(optional)
        allowed = (*required, *optional)
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise self.error(f"unknown key; {hint}allowed here: {', '.join(allowed)}", table, key)
        for key in required:
            if key not in mapping:
                raise self.error(f"missing required key '{key}'", table)

    def typed(self, mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...],
              table: TablePath, default: Any = ...) -> Any:
        """``mapping[key]`` checked to be of ``kind`` (ints are accepted where floats are)."""
        if key not in mapping:
            if default is ...:
                raise self.error(f"missing required key '{key}'", table)
            return default
        value = mapping[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer beyond any float: let the range checks reject it
                value = math.inf if value > 0 else -math.inf
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            wanted = " or ".join(_describe(k()) if k in (bool, int, float, str, list, dict)
                                 else k.__name__ for k in kinds)
            raise self.error(f"expected {wanted}, got {_describe(value)} {value!r}", table, key)
        return value
