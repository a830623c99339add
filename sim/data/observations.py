"""The observation registry: every published figure, with its definition, window and source.

``calibration/observations.toml`` holds one ``[[observation]]`` per figure and one
``[series.NAME]`` per definition. This module validates it strictly and turns each entry into
an :class:`Observation` that knows its model-time window and its value in base units.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import urllib.parse
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sim.core.timeaxis import window_bounds, window_days, years
from sim.core.tomlfile import TomlFile

#: Published units: multiplier to base units, and the base unit.
UNITS: dict[str, tuple[float, str]] = {
    "亿 tokens/day": (1e8, "tokens/day"),
    "万亿 tokens/day": (1e12, "tokens/day"),
    "B tokens/day": (1e9, "tokens/day"),
    "T tokens/day": (1e12, "tokens/day"),
    "万亿 tokens": (1e12, "tokens"),
    "B tokens": (1e9, "tokens"),
    "%": (0.01, "fraction"),
    "亿 calls/day": (1e8, "calls/day"),
}
#: Quantities and the base unit each is measured in.
QUANTITIES = {
    "daily_tokens": "tokens/day",
    "tokens_total": "tokens",
    "open_share": "fraction",
    "vendor_share": "fraction",
    "enterprise_share": "fraction",
    "daily_calls": "calls/day",
}
KINDS = ("window_average", "window_total", "at_date")
ROLES = ("reference", "scaled", "context")
#: Quantities that observe the volume curve, and the one that observes the open-source share.
VOLUME_QUANTITIES = ("daily_tokens", "tokens_total")
SHARE_QUANTITIES = ("open_share",)
CUTS = ("published", "window")

#: Two observations that agree on these say the same thing: a registry holds each figure once.
IDENTITY = ("series", "quantity", "kind", "start", "end", "date", "subject")
#: Link schemes a source URL may use (the report makes it a link).
URL_SCHEMES = ("http", "https")

_REQUIRED = ("id", "series", "quantity", "kind", "value", "unit", "value_base", "published", "source", "quote")
_OPTIONAL = ("start", "end", "date", "url", "note", "bound", "subject", "licence")
#: The weights a model family's calls are served with (vendor shares): open, closed, or both.
LICENCES = ("open", "closed", "mixed")


@dataclass(frozen=True)
class Series:
    """A definition that observations are made under, and how calibration treats it."""

    name: str
    definition: str
    role: str


@dataclass(frozen=True)
class Observation:
    """One published figure."""

    id: str
    series: str
    quantity: str
    kind: str
    value: float
    unit: str
    value_base: float
    published: dt.date
    source: str
    quote: str
    start: dt.date | None = None
    end: dt.date | None = None
    date: dt.date | None = None
    url: str = ""
    note: str = ""
    bound: str = ""
    subject: str = ""  # what a figure of the series is about: a vendor or model family
    licence: str = ""  # open, closed or mixed weights (model-family shares)

    @property
    def window(self) -> tuple[float, float]:
        """Model-time bounds ``(a, b)``; ``a == b`` for a value at a date."""
        if self.kind == "at_date":
            t = years(self.date)
            return t, t
        return window_bounds(self.start, self.end)

    @property
    def midpoint(self) -> float:
        """Model time of the middle of the window (or the date)."""
        a, b = self.window
        return (a + b) / 2

    @property
    def last_day(self) -> dt.date:
        """The last day this figure describes."""
        return self.date if self.kind == "at_date" else self.end

    @property
    def comparable_value(self) -> float:
        """The value as the model predicts it: totals become daily averages by their day count."""
        if self.kind == "window_total":
            return self.value_base / window_days(self.start, self.end)
        return self.value_base


@dataclass(frozen=True)
class ObservationSet:
    """The validated registry, possibly cut to a vintage."""

    path: Path
    series: dict[str, Series]
    observations: tuple[Observation, ...]
    as_of: dt.date | None = None
    cut: str = "published"
    #: The whole registry's figures when this set is a vintage's cut of it (None when it is the registry).
    uncut: tuple[Observation, ...] | None = field(default=None, repr=False)

    @property
    def registry(self) -> ObservationSet:
        """The whole registry this set was cut from (the set itself when it is no cut)."""
        return self if self.uncut is None else replace(self, observations=self.uncut, as_of=None, cut="published",
                                                       uncut=None)

    def fitted(self, quantities: Iterable[str]) -> tuple[Observation, ...]:
        """Observations of these quantities from series that calibration fits (not context)."""
        quantities = tuple(quantities)
        return tuple(
            o for o in self.observations
            if o.quantity in quantities and self.series[o.series].role != "context"
        )

    def vintage(self, as_of: dt.date | None, cut: str = "published") -> "ObservationSet":
        """Only what was known on ``as_of``: published by then (``cut="published"``), or whose
        window had ended by then (``cut="window"``)."""
        if as_of is None:
            return self
        if cut not in CUTS:
            raise ValueError(f"cut must be one of {', '.join(CUTS)}")
        key = (lambda o: o.published) if cut == "published" else (lambda o: o.last_day)
        kept = tuple(o for o in self.observations if key(o) <= as_of)
        return replace(self, observations=kept, as_of=as_of, cut=cut, uncut=self.registry.observations)

    def digest(self) -> str:
        """A hash of every fitted figure and its series role (what calibration depends on)."""
        payload = [
            {**asdict(o), "role": self.series[o.series].role}
            for o in self.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
        ]
        text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _date(source: TomlFile, entry: dict[str, Any], key: str, table: tuple) -> dt.date | None:
    if key not in entry:
        return None
    value = entry[key]
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise source.error(f"expected a date like 2025-06-30, got {value!r}", table, key)
    return value


def _observation(source: TomlFile, entry: Any, index: int, series: dict[str, Series]) -> Observation:
    table = ("observation", index)
    if not isinstance(entry, dict):
        raise source.error("each [[observation]] must be a table", table)
    source.check_keys(entry, table, _REQUIRED, _OPTIONAL)
    text = {k: source.typed(entry, k, str, table) for k in ("id", "series", "quantity", "kind", "unit", "source", "quote")}
    extra = {k: source.typed(entry, k, str, table, "") for k in ("url", "note", "bound", "subject", "licence")}
    if extra["licence"] and extra["licence"] not in LICENCES:
        raise source.error(f"unknown licence {extra['licence']!r}; allowed: {', '.join(LICENCES)}", table, "licence")
    if text["series"] not in series:
        raise source.error(f"unknown series {text['series']!r}; declared series: {', '.join(series)}", table, "series")
    if text["quantity"] not in QUANTITIES:
        raise source.error(f"unknown quantity {text['quantity']!r}; allowed: {', '.join(QUANTITIES)}", table, "quantity")
    if text["kind"] not in KINDS:
        raise source.error(f"unknown kind {text['kind']!r}; allowed: {', '.join(KINDS)}", table, "kind")
    if text["unit"] not in UNITS:
        raise source.error(f"unknown unit {text['unit']!r}; allowed: {', '.join(UNITS)}", table, "unit")
    if extra["url"] and (urllib.parse.urlsplit(extra["url"]).scheme.lower() not in URL_SCHEMES
                         or not urllib.parse.urlsplit(extra["url"]).netloc):
        raise source.error(f"a source link must be an http or https address, got {extra['url']!r}", table, "url")
    if extra["bound"] not in ("", "lower", "upper"):
        raise source.error("bound must be 'lower' or 'upper'", table, "bound")
    numbers = {k: source.typed(entry, k, float, table) for k in ("value", "value_base")}
    for key, number in numbers.items():
        if not math.isfinite(number) or number <= 0:
            raise source.error(f"must be a finite positive number, got {number!r}", table, key)
    multiplier, base_unit = UNITS[text["unit"]]
    if not math.isclose(numbers["value"] * multiplier, numbers["value_base"], rel_tol=1e-9):
        raise source.error(
            f"value_base {numbers['value_base']:g} is not value x unit "
            f"({numbers['value']:g} x {multiplier:g} = {numbers['value'] * multiplier:g})", table, "value_base")
    if base_unit == "fraction" and numbers["value_base"] > 1:
        raise source.error("a share must be at most 100%", table, "value")
    wanted = QUANTITIES[text["quantity"]]
    if text["kind"] == "window_total" and base_unit != "tokens" or text["kind"] != "window_total" and base_unit != wanted:
        raise source.error(
            f"unit {text['unit']!r} ({base_unit}) does not fit quantity {text['quantity']!r} "
            f"measured as {text['kind']!r}", table, "unit")
    dates = {k: _date(source, entry, k, table) for k in ("start", "end", "date", "published")}
    if text["kind"] == "at_date":
        if dates["date"] is None or dates["start"] or dates["end"]:
            raise source.error("an 'at_date' observation takes 'date' and no 'start'/'end'", table, "kind")
    else:
        if dates["start"] is None or dates["end"] is None or dates["date"]:
            raise source.error(f"a '{text['kind']}' observation takes 'start' and 'end' and no 'date'", table, "kind")
        if dates["end"] < dates["start"]:
            raise source.error(f"end {dates['end']} is before start {dates['start']}", table, "end")
    if dates["published"] < (dates["start"] or dates["date"]):
        raise source.error("published before the period it describes began", table, "published")
    return Observation(**text, **extra, **numbers, **dates)


def load_observations(path: str | Path) -> ObservationSet:
    """Read and validate the observation registry.

    Raises
    ------
    UserError
        Naming the file, line and key of the first problem found.
    """
    source = TomlFile.read(path, "observation registry")
    source.check_keys(source.data, (), ("series", "observation"))
    raw_series = source.typed(source.data, "series", dict, ())
    series: dict[str, Series] = {}
    for name, entry in raw_series.items():
        table = ("series", name)
        if not isinstance(entry, dict):
            raise source.error("each series must be a table with 'definition' and 'role'", table)
        source.check_keys(entry, table, ("definition", "role"))
        role = source.typed(entry, "role", str, table)
        if role not in ROLES:
            raise source.error(f"unknown role {role!r}; allowed: {', '.join(ROLES)}", table, "role")
        series[name] = Series(name, source.typed(entry, "definition", str, table), role)
    entries = source.typed(source.data, "observation", list, ())
    observations = tuple(_observation(source, entry, i, series) for i, entry in enumerate(entries))
    seen: set[str] = set()
    said: dict[tuple, str] = {}
    for index, observation in enumerate(observations):
        if observation.id in seen:
            raise source.error(f"duplicate id {observation.id!r}", ("observation", index), "id")
        seen.add(observation.id)
        identity = tuple(getattr(observation, name) for name in IDENTITY)
        if identity in said:
            raise source.error(f"'{observation.id}' observes what '{said[identity]}' already does (the same "
                               f"{', '.join(IDENTITY[:3])}, window or date, and subject); a figure is recorded once, and "
                               "two that disagree cannot both be fitted", ("observation", index), "id")
        said[identity] = observation.id
    return ObservationSet(Path(path), series, observations)
