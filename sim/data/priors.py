"""The priors file (``calibration/priors.toml``): every calibration assumption, validated, by vintage.

A prior is one distribution, or an array of versions each dated by ``evidence`` (the publication date of
the latest figure its justification cites). :meth:`PriorBook.vintage` picks, for each prior, the version
with the latest evidence on or before the vintage, so that a backtest origin never rests on a prior
justified by figures published after it. A prior written ``{ dist = "analogs", quantity = ... }`` is the
pooled predictive of the reference class (:mod:`sim.data.analogs`) as known at the vintage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.errors import UserError
from sim.core.tomlfile import TablePath, TomlFile
from sim.curves.families import anchor_levels
from sim.curves.open_source import OPEN_PARAMETERS
from sim.data.analogs import QUANTITIES as ANALOG_QUANTITIES
from sim.data.analogs import ReferenceClass
from sim.data.distributions import Distribution, parse_distribution

VOLUME_PRIORS = ("v_ref", "growth", "ceiling_headroom", "shape", "adopter_share_of_headroom",
                 "adopter_share_of_growth", "growth_decay", "long_run_growth", "inference_share",
                 "tokens_per_eflops_day")
OPEN_PRIORS = (*OPEN_PARAMETERS, "sigma")
#: The open share the vendor shares imply (:func:`sim.calibration.models.vendor_open_shares`).
VENDOR_PRIORS = ("mixed_open_fraction", "others_open_fraction", "sigma")
SCALED_SERIES_PRIORS = ("scale", "drift", "sigma", "release_sigma")
REFERENCE_SERIES_PRIORS = ("sigma", "release_sigma")
TABLES = {"volume": VOLUME_PRIORS, "open": OPEN_PRIORS, "vendor_open_share": VENDOR_PRIORS}
#: The kind of a prior pooled from the reference class.
ANALOGS = "analogs"


@dataclass(frozen=True)
class Version:
    """One version of a prior: its spec as written and the date of the evidence its justification cites."""

    spec: dict
    evidence: dt.date | None
    distribution: Distribution | None  # None for a prior pooled from the analogs (built per vintage)


@dataclass(frozen=True)
class Priors:
    """The priors of one vintage: volume curve, per-series observation model, open-source model."""

    path: Path
    volume: dict[str, Distribution]
    series: dict[str, dict[str, Distribution]]
    open: dict[str, Distribution]
    vendor: dict[str, Distribution]
    as_of: dt.date | None = None
    evidence: tuple[tuple[str, str], ...] = ()  # (prior, evidence date) of every dated version chosen

    def _payload(self, resolve: bool) -> dict:
        form = (lambda d: d.resolved()) if resolve else (lambda d: d.as_dict())  # noqa: E731
        return {
            "volume": {k: form(d) for k, d in self.volume.items()},
            "series": {s: {k: form(d) for k, d in p.items()} for s, p in self.series.items()},
            "open": {k: form(d) for k, d in self.open.items()},
            "vendor_open_share": {k: form(d) for k, d in self.vendor.items()},
        }

    def as_json(self, *, resolve: bool = False) -> str:
        """Every prior as chosen for the vintage (explanations excluded), as canonical JSON; with ``resolve``,
        priors pooled from the analogs as the normal distributions they resolve to (this pools them)."""
        return json.dumps(self._payload(resolve), sort_keys=True)

    def sample_volume(self, rng: np.random.Generator, draws: int) -> dict[str, np.ndarray]:
        """Prior draws of every volume parameter of any family; the ceiling from its headroom, as
        the model builds it."""
        sampled = {name: self.volume[name].sample(rng, draws) for name in VOLUME_PRIORS}
        sampled["ceiling"] = anchor_levels(sampled)[1] * (1 + sampled["ceiling_headroom"])
        return sampled

    def digest(self) -> str:
        """A hash of every prior as chosen for the vintage (a pooled prior by its analogs file and vintage)."""
        return hashlib.sha256(self.as_json().encode()).hexdigest()


def pooled(reference: ReferenceClass, quantity: str, why: str) -> Distribution:
    """The prior pooled from the reference class: a normal with the predictive's 5% and 95% quantiles,
    computed on first use; its spec names the analogs file and vintage it comes from."""

    def normal() -> dict:
        p5, p95, _ = reference.pooled(quantity)
        return {"dist": "normal", "p5": p5, "p95": p95}

    spec = {"quantity": quantity, "analogs_sha256": reference.sha256, "as_of": str(reference.as_of or "")}
    return Distribution(ANALOGS, spec, lambda: parse_distribution(normal()).build(), why, normal)


@dataclass(frozen=True)
class PriorBook:
    """Every version of every prior, as read from the priors file."""

    path: Path
    entries: dict[tuple[str, ...], tuple[Version, ...]]  # (table, [series,] name) -> versions, oldest first
    places: dict[tuple[str, ...], str]  # where each prior is written: file, line and key

    def vintage(self, as_of: dt.date | None, reference: ReferenceClass) -> Priors:
        """The priors justified by what was known on ``as_of`` (all evidence when None); ``reference`` is the
        reference class the pooled priors come from (cut to the same vintage here)."""
        reference = reference.vintage(as_of)
        chosen: dict[tuple[str, ...], Distribution] = {}
        dated = []
        for key, versions in self.entries.items():
            usable = [v for v in versions if as_of is None or v.evidence is None or v.evidence <= as_of]
            if not usable:
                raise UserError(f"no version of this prior is justified by what was known on {as_of} (its earliest "
                                f"version cites evidence of {versions[0].evidence}); add a version without 'evidence' "
                                "or with earlier evidence", where=self.places[key])
            version = usable[-1]
            chosen[key] = version.distribution or pooled(reference, version.spec["quantity"],
                                                         version.spec.get("why", ""))
            if version.evidence is not None:
                dated.append((".".join(key), str(version.evidence)))
        series: dict[str, dict[str, Distribution]] = {}
        for key, distribution in chosen.items():
            if key[0] == "series":
                series.setdefault(key[1], {})[key[2]] = distribution
        tables = {name: {k[1]: d for k, d in chosen.items() if k[0] == name} for name in TABLES}
        return Priors(self.path, tables["volume"], series, tables["open"], tables["vendor_open_share"], as_of,
                      tuple(dated))


def _version(source: TomlFile, entry, table: TablePath, name: str) -> Version:
    if not isinstance(entry, dict):
        raise source.error(f"expected a table like {{ dist = \"lognormal\", p5 = ..., p95 = ... }}, got {entry!r}",
                           table, name)
    spec = dict(entry)
    evidence = spec.pop("evidence", None)
    if evidence is not None and (isinstance(evidence, dt.datetime) or not isinstance(evidence, dt.date)):
        raise source.error(f"'evidence' must be a date like 2025-09-01, got {evidence!r}", table, name)
    if spec.get("dist") == ANALOGS:
        if set(spec) - {"dist", "quantity", "why"} or spec.get("quantity") not in ANALOG_QUANTITIES:
            raise source.error(f"an analogs prior is written {{ dist = \"analogs\", quantity = ... }} with quantity one "
                               f"of {', '.join(ANALOG_QUANTITIES)} (and an optional 'why')", table, name)
        return Version(spec, evidence, None)
    try:
        return Version(spec, evidence, parse_distribution(spec))
    except ValueError as exc:
        raise source.error(str(exc), table, name) from None


def _versions(source: TomlFile, value, table: TablePath, name: str) -> tuple[Version, ...]:
    versions = [_version(source, entry, table, name) for entry in (value if isinstance(value, list) else [value])]
    if not versions:
        raise source.error("an empty array: give one distribution or several versions dated by 'evidence'",
                           table, name)
    if sum(v.evidence is None for v in versions) > 1:
        raise source.error("at most one version may have no 'evidence' date", table, name)
    dates = [v.evidence for v in versions if v.evidence is not None]
    if len(set(dates)) != len(dates):
        raise source.error("two versions cite evidence of the same date", table, name)
    return tuple(sorted(versions, key=lambda v: v.evidence or dt.date.min))


def load_priors(path: str | Path) -> PriorBook:
    """Read and validate every version of every prior; errors name the file, line and key."""
    source = TomlFile.read(path, "priors file")
    data = source.data
    source.check_keys(data, (), ("volume", "series", "open", "vendor_open_share"))
    entries: dict[tuple[str, ...], tuple[Version, ...]] = {}
    places: dict[tuple[str, ...], str] = {}
    for name, names in TABLES.items():
        mapping = source.typed(data, name, dict, ())
        source.check_keys(mapping, (name,), names)
        entries.update({(name, key): _versions(source, mapping[key], (name,), key) for key in names})
        places.update({(name, key): source.error("", (name,), key).where for key in names})
    for series, mapping in source.typed(data, "series", dict, ()).items():
        table = ("series", series)
        if not isinstance(mapping, dict):
            raise source.error("expected a table of priors", table)
        names = SCALED_SERIES_PRIORS if "scale" in mapping else REFERENCE_SERIES_PRIORS
        source.check_keys(mapping, table, names)
        entries.update({("series", series, key): _versions(source, mapping[key], table, key) for key in names})
        places.update({("series", series, key): source.error("", table, key).where for key in names})
    return PriorBook(Path(path), entries, places)
