"""China's intelligent compute: the figures of ``calibration/compute.toml`` and their trend.

``EFLOPS(t) = c0 exp(growth t)`` is fitted by least squares on log EFLOPS (t in years since
2025-01-01). Each source counts compute its own way (IDC/Inspur's annual figures, MIIT's
measurements), so every series gets a level of its own and all share one growth rate; ``c0`` is the
level of the file's ``reference`` series, on whose definition the bound arithmetic is done. A
vintage keeps the figures published by then. The trend bounds daily tokens in a scenario's compute
bound (:mod:`sim.scenarios.compute_bound`) and sets the ceiling of the compute-logistic family.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.errors import UserError
from sim.core.timeaxis import years
from sim.core.tomlfile import TomlFile

_REQUIRED = ("id", "series", "date", "eflops", "kind", "published", "source", "quote")
_OPTIONAL = ("bound", "note")


@dataclass(frozen=True)
class ComputeTrend:
    """``EFLOPS(t) = c0 exp(growth t)`` fitted to the compute figures, with where they came from."""

    c0: float
    growth: float
    source: Path
    sha256: str
    figures: tuple[tuple[str, float, float], ...]  # (id, t, EFLOPS) of the figures fitted
    as_of: dt.date | None = None

    def eflops(self, t: np.ndarray | float) -> np.ndarray | float:
        """Installed intelligent compute at model time ``t`` (EFLOPS), on the reference series' definition."""
        return self.c0 * np.exp(self.growth * np.asarray(t))


@dataclass(frozen=True)
class ComputeFigures:
    """The compute figures file, validated: each figure's id, series, model time, EFLOPS and publication."""

    path: Path
    sha256: str
    reference: str
    figures: tuple[tuple[str, str, float, float, dt.date], ...]  # (id, series, t, EFLOPS, published)

    def trend(self, as_of: dt.date | None = None) -> ComputeTrend | None:
        """The trend fitted to the figures published by ``as_of`` (all when None), or None when fewer than
        two figures of the reference series at different dates were published by then."""
        known = [f for f in self.figures if as_of is None or f[4] <= as_of]
        if len({t for _, series, t, _, _ in known if series == self.reference}) < 2:
            return None
        series = list(dict.fromkeys(f[1] for f in known))
        design = np.column_stack([[f[2] for f in known], *([float(f[1] == s) for f in known] for s in series)])
        coefficients, *_ = np.linalg.lstsq(design, np.log([f[3] for f in known]), rcond=None)
        levels = dict(zip(series, coefficients[1:]))
        return ComputeTrend(float(np.exp(levels[self.reference])), float(coefficients[0]), self.path, self.sha256,
                            tuple((ident, t, value) for ident, _, t, value, _ in known), as_of)


def load_compute_figures(path: str | Path) -> ComputeFigures:
    """Read and validate the compute figures file; errors name the file, line and key."""
    source = TomlFile.read(path, "compute figures file")
    source.check_keys(source.data, (), ("reference", "figure"))
    reference = source.typed(source.data, "reference", str, ())
    figures = []
    for index, entry in enumerate(source.typed(source.data, "figure", list, ())):
        table = ("figure", index)
        if not isinstance(entry, dict):
            raise source.error("each [[figure]] must be a table", table)
        source.check_keys(entry, table, _REQUIRED, _OPTIONAL)
        when = source.typed(entry, "date", dt.date, table)
        value = source.typed(entry, "eflops", float, table)
        if not np.isfinite(value) or value <= 0:
            raise source.error(f"eflops must be a positive number, got {value}", table, "eflops")
        if source.typed(entry, "bound", str, table, "") not in ("", "lower", "upper"):
            raise source.error("bound must be 'lower' or 'upper'", table, "bound")
        figures.append((source.typed(entry, "id", str, table), source.typed(entry, "series", str, table),
                        float(years(when)), float(value), source.typed(entry, "published", dt.date, table)))
    if reference not in {f[1] for f in figures}:
        raise source.error(f"no figure of the reference series {reference!r}", (), "reference")
    return ComputeFigures(Path(path), hashlib.sha256(source.text.encode()).hexdigest(), reference, tuple(figures))


def load_compute_trend(path: str | Path, as_of: dt.date | None = None) -> ComputeTrend:
    """The trend of the compute figures published by ``as_of`` (all when None).

    Raises
    ------
    UserError
        Naming the file, line and key of a bad figure, or saying that fewer than two figures of the
        reference series were published by ``as_of`` (no trend can be fitted then).
    """
    figures = load_compute_figures(path)
    trend = figures.trend(as_of)
    if trend is None:
        raise UserError(f"fewer than two figures of the reference series {figures.reference!r} at different dates "
                        f"were published by {as_of or 'now'}: no compute trend can be fitted", where=str(path))
    return trend
