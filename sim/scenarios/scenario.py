"""Scenario configs: TOML validated strictly into an immutable :class:`Scenario`.

A scenario says what to simulate (horizon, step, draws, seed), which growth families and which
variants of the open-source model to mix and with what weights, how volatile the future is around the
trend, which claims to evaluate, and what it means against the baseline (its intent).
``extends = "baseline.toml"`` starts from another scenario (a file next to it, or else one of the scenario
library) and overrides it table by table.
Every error names the file, the line and the key, and what is allowed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.core import paths
from sim.core.errors import UserError
from sim.core.timeaxis import parse_month
from sim.core.tomlfile import TablePath, TomlFile
from sim.core.variables import VARIABLES
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_PARAMETERS, OPEN_VARIANTS
from sim.data.compute_trend import load_compute_trend
from sim.data.distributions import Distribution, parse_distribution
from sim.data.priors import VOLUME_PRIORS
from sim.scenarios.compute_bound import ComputeBound

#: Which simulated quantity each volatility table perturbs (log scale for volume, logit for shares).
VOLATILITIES = ("volume", "share", "adoption")
#: A random walk in the growth rate of volume (the sd of its change over one year, per year): growth
#: shocks that persist, so that bands widen for a reason.
GROWTH_SHOCK = "growth"
FIRST_MONTH = np.datetime64("2024-07", "M")
MAX_DRAWS = 100_000_000
#: The largest shift one event may apply (log or logit scale), judged at these tail quantiles of its size:
#: together with the volatility bounds it keeps every path finite.
MAX_EVENT_SHIFT = 10.0
EVENT_TAIL = 0.0005
MAX_EVENTS = 20
#: What a claim's probability counts: paths beyond the threshold on the date (``at_date``, the default:
#: what "above 80% by 2030" says), or paths that have crossed it at any time by then (``first_passage``).
CLAIM_KINDS = ("at_date", "first_passage")

_TOP = ("name", "description", "horizon", "step_months", "draws", "seed", "families", "open_models", "volatility",
        "claims", "events", "assumptions", "compute", "intent")
#: How a scenario states what it means against the baseline, per variable (:mod:`sim.analysis.intent` checks it).
DIRECTIONS = ("higher", "lower")
#: The variants of the open-source model a scenario mixes, and their weights unless it says otherwise.
OPEN_MODELS = {name: 1.0 / len(OPEN_VARIANTS) for name in OPEN_VARIANTS}
#: Parameters whose calibration prior a scenario may replace (by reweighting the posterior).
ASSUMABLE = (*(name for name in VOLUME_PRIORS), *OPEN_PARAMETERS)


@dataclass(frozen=True)
class Volatility:
    """AR(1) deviations from the trend: stationary standard deviation and monthly persistence."""

    sd: float
    persistence: float


#: How each kind of claim reads in a sentence: on the date, or at some time by then.
KIND_WORDS = {"at_date": "on", "first_passage": "at some time by"}


@dataclass(frozen=True)
class Claim:
    """A statement to evaluate on each date of ``by``: ``variable`` is above (or below) ``threshold`` on that
    date (``kind = "at_date"``), or has been at some time up to it (``kind = "first_passage"``)."""

    name: str
    variable: str
    threshold: float
    by: tuple[np.datetime64, ...]
    direction: str = "above"
    kind: str = "at_date"

    def beyond(self, values: np.ndarray) -> np.ndarray:
        """Per path and time: is the value beyond the threshold then?"""
        return values > self.threshold if self.direction == "above" else values < self.threshold

    def passed(self, values: np.ndarray) -> np.ndarray:
        """Per path and time: has the value been beyond the threshold at or before this time?"""
        return np.logical_or.accumulate(self.beyond(values), axis=-1)

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Per path and time: does the claim hold, as its kind reads it?"""
        return self.passed(values) if self.kind == "first_passage" else self.beyond(values)


@dataclass(frozen=True)
class Event:
    """A shock that happens in a path with ``probability``, at a month drawn uniformly from
    ``start..end``, shifting ``target`` (log scale for volume, logit for share and adoption) by a
    size drawn from ``size``; the shift is permanent, or halves every ``half_life_months``."""

    name: str
    target: str
    probability: float
    start: np.datetime64
    end: np.datetime64
    size: Distribution
    half_life_months: float = math.inf
    where: str = ""  # file, line and key of its start: checked against the calibration's last data month


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; ``text`` is the files it came from, ``sha256`` their hash."""

    name: str
    description: str
    horizon: np.datetime64
    step_months: int
    draws: int
    seed: int
    family_weights: tuple[tuple[str, float], ...]
    volatility: dict[str, Volatility]
    claims: tuple[Claim, ...]
    path: Path
    text: str
    events: tuple[Event, ...] = ()
    assumptions: tuple[tuple[str, Distribution], ...] = ()
    compute: ComputeBound | None = None
    open_weights: tuple[tuple[str, float], ...] = tuple(OPEN_MODELS.items())
    growth_shock: float = 0.0
    where_horizon: str = ""
    intent: tuple[tuple[str, str], ...] = ()

    @property
    def sha256(self) -> str:
        """Hash of the scenario text (with every file it extends)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def check_months(self, last_data_month: np.datetime64) -> None:
        """Refuse a horizon or an event that does not lie after the calibration's last data month (known once
        the calibration inputs are read, before any fitting or simulation)."""
        last = np.datetime64(last_data_month, "M")
        if not last < self.horizon:
            raise UserError(f"horizon {self.horizon} must be after the last data month of the calibration ({last})",
                            where=self.where_horizon or str(self.path))
        for event in self.events:
            if not last < event.start:
                raise UserError(f"event months must start after the last data month of the calibration ({last}); "
                                f"got {event.start}", where=event.where or str(self.path))


#: Tables an extending scenario replaces whole rather than key by key (weights must sum to 1).
REPLACED_TABLES = ("families", "open_models")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base`` table by table; a distribution (a table with ``dist``) is replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if (isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in REPLACED_TABLES
                and "dist" not in value):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class _Chain(TomlFile):
    """A scenario merged over the files it extends; an error names the file that sets the key."""

    files: tuple[TomlFile, ...] = ()

    def error(self, message: str, table: TablePath = (), key: str | None = None) -> UserError:
        for source in self.files[1:]:  # the files it extends, nearest first
            if (table or key) and source.line_of(table, key) is not None and self.line_of(table, key) is None:
                return source.error(message, table, key)
        return super().error(message, table, key)


def _read_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], str, _Chain]:
    source = TomlFile.read(path, "scenario file")
    data = dict(source.data)
    parent = data.pop("extends", None)
    if parent is None:
        return data, source.text, _Chain(source.path, source.text, source.data, (source,))
    if not isinstance(parent, str):
        raise source.error("expected the path of another scenario file, as a string", (), "extends")
    try:
        parent_path = (path.parent / parent).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, symlink loop
        raise source.error(f"not a usable path: {exc}", (), "extends") from None
    if parent_path in (*seen, path.resolve()):
        raise source.error(f"'extends' makes a cycle through {parent_path.name}", (), "extends")
    if not parent_path.is_file() and Path(parent).name == parent:  # a bare name: the scenario library's
        parent_path = (paths.input_folder(paths.SCENARIOS) / parent).resolve()
    if parent_path in (*seen, path.resolve()):
        raise source.error(f"'extends' makes a cycle through {parent_path.name}", (), "extends")
    if not parent_path.exists():
        raise source.error(f"the scenario it extends, {parent_path}, does not exist", (), "extends")
    if not parent_path.is_file():
        raise source.error(f"the scenario it extends, {parent_path}, is not a regular file", (), "extends")
    base, base_text, chain = _read_chain(parent_path, (*seen, path.resolve()))
    return (_merge(base, data), base_text + "\n# --- extended by " + path.name + " ---\n" + source.text,
            _Chain(source.path, source.text, source.data, (source, *chain.files)))


def _month(source: TomlFile, value: Any, table: TablePath, key: str) -> np.datetime64:
    try:
        return parse_month(value)
    except (ValueError, TypeError) as exc:
        raise source.error(str(exc), table, key) from None


def _number(source: TomlFile, mapping: dict, key: str, table: TablePath, low: float, high: float,
            *, integer: bool = False, closed_high: bool = True) -> float:
    value = source.typed(mapping, key, int if integer else float, table)
    inside = low <= value <= high if closed_high else low <= value < high
    if not inside or not math.isfinite(value):
        bracket = "]" if closed_high else ")"
        raise source.error(f"must be in [{low:g}, {high:g}{bracket}, got {value!r}", table, key)
    return value


def _claim(source: TomlFile, entry: Any, index: int, horizon: np.datetime64, step: int) -> Claim:
    table = ("claims", index)
    if not isinstance(entry, dict):
        raise source.error("each [[claims]] entry must be a table", table)
    source.check_keys(entry, table, ("name", "variable", "threshold", "by"), ("direction", "kind"))
    variable = source.typed(entry, "variable", str, table)
    if variable not in VARIABLES:
        raise source.error(f"unknown variable {variable!r}; allowed: {', '.join(VARIABLES)}", table, "variable")
    low, high = VARIABLES[variable].claim_range
    threshold = source.typed(entry, "threshold", float, table)
    if not (math.isfinite(threshold) and low < threshold < high):
        raise source.error(f"threshold for {variable} must be strictly between {low:g} and {high:g}, "
                           f"got {threshold!r}", table, "threshold")
    direction = source.typed(entry, "direction", str, table, "above")
    if direction not in ("above", "below"):
        raise source.error("direction must be 'above' or 'below'", table, "direction")
    by = source.typed(entry, "by", list, table)
    if not by:
        raise source.error("give at least one month, e.g. by = [\"2030-12\"]", table, "by")
    months = tuple(_month(source, month, table, "by") for month in by)
    last = FIRST_MONTH + (horizon - FIRST_MONTH).astype(int) // step * step
    for month in months:
        if not FIRST_MONTH <= month <= horizon:
            raise source.error(f"{month} is outside the simulated months {FIRST_MONTH}..{horizon}", table, "by")
        offset = int((month - FIRST_MONTH).astype(int))
        if offset % step:
            before = FIRST_MONTH + offset // step * step
            after = [m for m in (before + step,) if m <= last]
            raise source.error(f"{month} is not a simulated month: with step_months = {step} they are "
                               f"{FIRST_MONTH}, {FIRST_MONTH + step}, ... {last}; the nearest are "
                               + " and ".join(str(m) for m in (before, *after)), table, "by")
    if len(set(months)) != len(months):
        repeated = sorted({str(m) for m in months if months.count(m) > 1})
        raise source.error(f"{', '.join(repeated)} is given more than once; each month once", table, "by")
    kind = source.typed(entry, "kind", str, table, "at_date")
    if kind not in CLAIM_KINDS:
        raise source.error(f"unknown kind {kind!r}; allowed: at_date (beyond the threshold on the date) or "
                           "first_passage (beyond it at any time by then)", table, "kind")
    return Claim(source.typed(entry, "name", str, table), variable, threshold, months, direction, kind)


def _event(source: TomlFile, entry: Any, index: int, horizon: np.datetime64) -> Event:
    table = ("events", index)
    if not isinstance(entry, dict):
        raise source.error("each [[events]] entry must be a table", table)
    source.check_keys(entry, table, ("name", "target", "probability", "start", "size"), ("end", "half_life_months"))
    target = source.typed(entry, "target", str, table)
    if target not in VOLATILITIES:
        raise source.error(f"unknown target {target!r}; allowed: {', '.join(VOLATILITIES)}", table, "target")
    probability = _number(source, entry, "probability", table, 0.0, 1.0)
    start = _month(source, source.typed(entry, "start", str, table), table, "start")
    end = _month(source, source.typed(entry, "end", str, table), table, "end") if "end" in entry else start
    if not FIRST_MONTH < start <= end <= horizon:
        raise source.error(f"event months must satisfy {FIRST_MONTH} < start <= end <= horizon ({horizon}); "
                           f"got {start}..{end}", table, "start")
    try:
        size = parse_distribution(entry["size"])
    except ValueError as exc:
        raise source.error(str(exc), table, "size") from None
    extent = float(np.max(np.abs(size.quantile(np.array([EVENT_TAIL, 1 - EVENT_TAIL])))))
    if not extent <= MAX_EVENT_SHIFT:
        raise source.error(f"an event shifts its target on the log (volume) or logit (shares) scale, by at most "
                           f"{MAX_EVENT_SHIFT:g} (a factor of {math.exp(MAX_EVENT_SHIFT):,.0f}); this size reaches "
                           f"{extent:g} at its {EVENT_TAIL:.2%} or {1 - EVENT_TAIL:.2%} quantile", table, "size")
    half_life = (_number(source, entry, "half_life_months", table, 0.1, 1200.0)
                 if "half_life_months" in entry else math.inf)
    return Event(source.typed(entry, "name", str, table), target, probability, start, end, size, half_life,
                 source.error("", table, "start").where)


def _assumptions(source: TomlFile, data: dict) -> tuple[tuple[str, Distribution], ...]:
    table = source.typed(data, "assumptions", dict, (), {})
    source.check_keys(table, ("assumptions",), (), ASSUMABLE)
    parsed = []
    for name, spec in table.items():
        try:
            parsed.append((name, parse_distribution(spec)))
        except ValueError as exc:
            raise source.error(str(exc), ("assumptions",), name) from None
    return tuple(parsed)


def _weights(source: TomlFile, data: dict, table: str, allowed, default: dict[str, float] | None = None
             ) -> tuple[tuple[str, float], ...]:
    """A table of mixture weights (growth families, open-source variants) that sum to 1."""
    mapping = source.typed(data, table, dict, ()) if default is None else source.typed(data, table, dict, (), default)
    source.check_keys(mapping, (table,), (), allowed)
    weights = tuple((name, _number(source, mapping, name, (table,), 0.0, 1.0)) for name in mapping)
    if not math.isclose(sum(w for _, w in weights), 1.0, abs_tol=1e-9):
        raise source.error(f"weights must sum to 1 (they sum to {sum(w for _, w in weights):g})", (table,))
    return weights


def _compute(source: TomlFile, data: dict, path: Path) -> ComputeBound | None:
    if "compute" not in data:
        return None
    table = source.typed(data, "compute", dict, ())
    source.check_keys(table, ("compute",), ("utilisation", "active_parameters"), ("series",))
    priors = {}
    for name in ("utilisation", "active_parameters"):
        try:
            priors[name] = parse_distribution(table[name])
        except ValueError as exc:
            raise source.error(str(exc), ("compute",), name) from None
        low = float(priors[name].quantile(0.0005))
        if not low > 0:
            raise source.error(f"{name} must be positive (use a lognormal, a beta or a positive range)",
                               ("compute",), name)
    if "series" in table:  # relative to the scenario file
        series = path.parent / source.typed(table, "series", str, ("compute",))
    else:  # the compute figures beside the other calibration inputs (sim.core.paths)
        series = paths.compute()
    if not series.is_file():
        raise source.error(f"compute figures file not found: {series}", ("compute",), "series")
    return ComputeBound(load_compute_trend(series), priors["utilisation"], priors["active_parameters"],
                        where=f"{path}: [compute]")


def _intent(source: TomlFile, data: dict) -> tuple[tuple[str, str], ...]:
    table = source.typed(data, "intent", dict, (), {})
    source.check_keys(table, ("intent",), (), VARIABLES)
    for variable, direction in table.items():
        if source.typed(table, variable, str, ("intent",)) not in DIRECTIONS:
            raise source.error(f"expected one of {', '.join(DIRECTIONS)} (against the baseline), got {direction!r}",
                               ("intent",), variable)
    return tuple(table.items())


def load_scenario(path: str | Path) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file."""
    path = Path(path)
    data, text, source = _read_chain(path)
    source.check_keys(data, (), ("name", "horizon", "draws", "seed", "families"),
                      [k for k in _TOP if k not in ("name", "horizon", "draws", "seed", "families")])
    name = source.typed(data, "name", str, ())
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise source.error("name must be non-empty letters, digits, '-' or '_' (it names the result files)", (), "name")
    horizon = _month(source, source.typed(data, "horizon", str, ()), (), "horizon")
    if not FIRST_MONTH < horizon <= np.datetime64("2100-12", "M"):
        raise source.error(f"horizon must be after {FIRST_MONTH} and no later than 2100-12", (), "horizon")
    step = int(_number(source, data, "step_months", (), 1, 12, integer=True)) if "step_months" in data else 1
    draws = int(_number(source, data, "draws", (), 1, MAX_DRAWS, integer=True))
    seed = int(_number(source, data, "seed", (), 0, 2**63 - 1, integer=True))

    weights = _weights(source, data, "families", FAMILIES)
    open_weights = _weights(source, data, "open_models", OPEN_MODELS, OPEN_MODELS)

    raw_volatility = source.typed(data, "volatility", dict, (), {})
    source.check_keys(raw_volatility, ("volatility",), (), (*VOLATILITIES, GROWTH_SHOCK))
    growth_shock = 0.0
    if GROWTH_SHOCK in raw_volatility:
        entry = source.typed(raw_volatility, GROWTH_SHOCK, dict, ("volatility",))
        source.check_keys(entry, ("volatility", GROWTH_SHOCK), ("sd",))
        growth_shock = _number(source, entry, "sd", ("volatility", GROWTH_SHOCK), 0.0, 5.0)
    volatility = {}
    for kind in VOLATILITIES:
        table = ("volatility", kind)
        entry = source.typed(raw_volatility, kind, dict, ("volatility",), {"sd": 0.0, "persistence": 0.0})
        source.check_keys(entry, table, ("sd", "persistence"))
        volatility[kind] = Volatility(_number(source, entry, "sd", table, 0.0, 5.0),
                                      _number(source, entry, "persistence", table, 0.0, 1.0, closed_high=False))
    claims = tuple(_claim(source, entry, i, horizon, step)
                   for i, entry in enumerate(source.typed(data, "claims", list, (), [])))
    names = [claim.name for claim in claims]
    for index, claim in enumerate(claims):
        if names.index(claim.name) != index:
            raise source.error(f"duplicate claim name {claim.name!r}; each claim needs its own", ("claims", index), "name")
    raw_events = source.typed(data, "events", list, (), [])
    if len(raw_events) > MAX_EVENTS:
        raise source.error(f"at most {MAX_EVENTS} events, got {len(raw_events)}", (), "events")
    events = tuple(_event(source, entry, i, horizon) for i, entry in enumerate(raw_events))
    compute = _compute(source, data, path)
    if compute is not None:  # the figures are part of what the results depend on
        text += f"\n# --- {compute.trend.source} ---\n" + compute.trend.source.read_text()
    return Scenario(name, source.typed(data, "description", str, (), ""), horizon, step, draws, seed,
                    weights, volatility, claims, path, text, events, _assumptions(source, data), compute,
                    open_weights, growth_shock, source.error("", (), "horizon").where, _intent(source, data))
