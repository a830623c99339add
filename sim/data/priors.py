"""The priors file (``calibration/priors.toml``): every calibration assumption, validated."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.tomlfile import TablePath, TomlFile
from sim.curves.families import anchor_levels
from sim.curves.open_source import OPEN_PARAMETERS
from sim.data.distributions import Distribution, parse_distribution

VOLUME_PRIORS = ("v_ref", "growth", "ceiling_headroom", "shape", "adopter_share_of_headroom",
                 "adopter_share_of_growth")
OPEN_PRIORS = (*OPEN_PARAMETERS, "sigma")
SCALED_SERIES_PRIORS = ("scale", "drift", "sigma")
REFERENCE_SERIES_PRIORS = ("sigma",)


@dataclass(frozen=True)
class Priors:
    """Validated priors: volume curve, per-series observation model, open-source model."""

    path: Path
    volume: dict[str, Distribution]
    series: dict[str, dict[str, Distribution]]
    open: dict[str, Distribution]

    def as_json(self) -> str:
        """Every prior as written (the explanations excluded), as canonical JSON."""
        payload = {
            "volume": {k: d.as_dict() for k, d in self.volume.items()},
            "series": {s: {k: d.as_dict() for k, d in p.items()} for s, p in self.series.items()},
            "open": {k: d.as_dict() for k, d in self.open.items()},
        }
        return json.dumps(payload, sort_keys=True)

    def sample_volume(self, rng: np.random.Generator, draws: int) -> dict[str, np.ndarray]:
        """Prior draws of every volume parameter of any family; the ceiling from its headroom, as
        the model builds it."""
        sampled = {name: self.volume[name].sample(rng, draws) for name in VOLUME_PRIORS}
        sampled["ceiling"] = anchor_levels(sampled)[1] * (1 + sampled["ceiling_headroom"])
        return sampled

    def digest(self) -> str:
        """A hash of every prior as written."""
        return hashlib.sha256(self.as_json().encode()).hexdigest()


def _table(source: TomlFile, mapping: dict, table: TablePath, names: tuple[str, ...]) -> dict[str, Distribution]:
    source.check_keys(mapping, table, names)
    parsed = {}
    for name in names:
        try:
            parsed[name] = parse_distribution(mapping[name])
        except ValueError as exc:
            raise source.error(str(exc), table, name) from None
    return parsed


def load_priors(path: str | Path) -> Priors:
    """Read and validate the priors file; errors name the file, line and key."""
    source = TomlFile.read(path, "priors file")
    data = source.data
    source.check_keys(data, (), ("volume", "series", "open"))
    volume = _table(source, source.typed(data, "volume", dict, ()), ("volume",), VOLUME_PRIORS)
    opened = _table(source, source.typed(data, "open", dict, ()), ("open",), OPEN_PRIORS)
    series = {}
    for name, table in source.typed(data, "series", dict, ()).items():
        if not isinstance(table, dict):
            raise source.error("expected a table of priors", ("series", name))
        names = REFERENCE_SERIES_PRIORS if set(table) == {"sigma"} else SCALED_SERIES_PRIORS
        series[name] = _table(source, table, ("series", name), names)
    return Priors(Path(path), volume, series, opened)
