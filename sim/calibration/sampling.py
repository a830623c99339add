"""Sampling one fit with NUTS, and the convergence gate it must pass before anything uses it."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import xarray as xr

from sim.calibration.fits import build_model, fit_names
from sim.calibration.inputs import SamplerSettings
from sim.calibration.models import unpublished
from sim.calibration.posterior import arviz_groups
from sim.core.errors import UserError
from sim.data.compute_trend import ComputeTrend
from sim.data.observations import ObservationSet
from sim.data.priors import Priors


@dataclass(frozen=True)
class ConvergenceGate:
    """Thresholds a fit must pass before anything uses it."""

    max_rhat: float = 1.01
    min_ess: float = 400.0
    max_divergences: int = 0


class ConvergenceError(UserError):
    """A fit did not converge; the message carries the diagnostics."""


@contextlib.contextmanager
def quiet_pymc() -> Iterator[None]:
    """PyMC's logger at ERROR inside the block (its sampling notes are noise here), restored after it."""
    import pymc  # noqa: F401  (imported first: importing it resets its logger's level)

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def diagnose(idata, parameters: list[str]) -> xr.Dataset:
    """R-hat, bulk and tail ESS per parameter (per element of a vector parameter, named ``name[label]``),
    and the number of divergent transitions."""
    import arviz as az

    posterior = idata.posterior[parameters]
    measures = {"rhat": az.rhat(posterior), "ess_bulk": az.ess(posterior, method="bulk"),
                "ess_tail": az.ess(posterior, method="tail")}
    names: list[str] = []
    values: dict[str, list[float]] = {key: [] for key in measures}
    for name in parameters:
        dims = measures["rhat"][name].dims
        flat = {key: measure[name].stack(element=dims) if dims else measure[name] for key, measure in measures.items()}
        if dims:
            names += [f"{name}[{label[0] if isinstance(label, tuple) else label}]"
                      for label in flat["rhat"]["element"].values]
        else:
            names.append(name)
        for key in measures:
            values[key] += [float(v) for v in np.atleast_1d(flat[key].values)]
    report = xr.Dataset({key: ("parameter", column) for key, column in values.items()}, coords={"parameter": names})
    report.attrs["divergences"] = int(idata.sample_stats["diverging"].sum())
    report.attrs["draws"] = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    return report


def gate_failures(report: xr.Dataset, gate: ConvergenceGate) -> list[str]:
    """What a fit's diagnostics fail, in words (empty when it passes)."""
    failures = []
    for parameter in report["parameter"].values:
        row = report.sel(parameter=parameter)
        if not float(row["rhat"]) < gate.max_rhat:
            failures.append(f"{parameter}: R-hat {float(row['rhat']):.4f} >= {gate.max_rhat}")
        for kind in ("ess_bulk", "ess_tail"):
            if not float(row[kind]) > gate.min_ess:
                failures.append(f"{parameter}: {kind.replace('_', ' ')} {float(row[kind]):.0f} <= {gate.min_ess:.0f}")
    if report.attrs["divergences"] > gate.max_divergences:
        failures.append(f"{report.attrs['divergences']} divergent transitions (allowed: {gate.max_divergences})")
    return failures


def fit_one(fit: str, observations: ObservationSet, priors: Priors, settings: SamplerSettings,
            gate: ConvergenceGate = ConvergenceGate(), compute: ComputeTrend | None = None, *,
            cores: int | None = None) -> tuple[dict[str, xr.Dataset], xr.Dataset]:
    """Sample one fit and enforce the convergence gate; returns its ArviZ groups (``posterior``,
    ``sample_stats``, ``observed_data``, ``log_likelihood``: :func:`~sim.calibration.posterior.arviz_groups`)
    and its diagnostics.

    With nutpie, the model's log density is compiled once per structure in this process
    (:mod:`sim.calibration.compiled`) and this fit's data handed to it; ``cores`` threads run its chains
    (default: one per chain, up to the CPUs). The draws depend on the seed alone, not on ``cores``.
    A fit that fails the gate by divergent transitions alone is sampled again with the same seed at
    ``settings.divergence_retry_target_accept`` (its diagnostics record the target it was drawn at).
    """
    model = build_model(fit, observations, priors, compute)
    seed = int(np.random.SeedSequence([settings.seed, fit_names().index(fit)]).generate_state(1)[0])
    cores = cores or min(settings.chains, os.cpu_count() or 1)
    hidden = unpublished(observations)  # a vintage's model carries what it has not published: not its posterior
    idata, report = _sample_and_diagnose(model, settings, seed, cores, hidden)
    failures = gate_failures(report, gate)
    only_divergent = failures and not gate_failures(report, dataclasses.replace(gate, max_divergences=10**9))
    if only_divergent and settings.divergence_retry_target_accept > settings.target_accept:
        retry = dataclasses.replace(settings, target_accept=settings.divergence_retry_target_accept)
        idata, report = _sample_and_diagnose(model, retry, seed, cores, hidden)
        failures = gate_failures(report, gate)
    if failures:
        raise ConvergenceError(
            "did not pass the convergence gate (max R-hat < 1.01, bulk and tail ESS > 400, no divergences) "
            f"at target acceptance {report.attrs['target_accept']}: " + "; ".join(failures)
            + ". Diagnostics:\n" + report.to_dataframe().to_string(),
            where=f"calibration fit '{fit}'",
        )
    return arviz_groups(idata, model, hidden), report


def _sample_and_diagnose(model, settings: SamplerSettings, seed: int, cores: int, hidden: list[str]):
    """NUTS draws of a model and their diagnostics (the ``hidden`` variables left out), which record the
    target acceptance rate they were drawn at."""
    if settings.sampler == "nutpie":
        idata = _sample_nutpie(model, settings, seed, cores)
    else:
        import pymc as pm

        idata = pm.sample(model=model, draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=cores,
                          target_accept=settings.target_accept, random_seed=seed, progressbar=False,
                          compute_convergence_checks=False)
    report = diagnose(idata, [rv.name for rv in model.free_RVs])
    report = report.drop_sel(parameter=[name for name in hidden if name in report["parameter"].values])
    report.attrs["target_accept"] = settings.target_accept
    return idata, report


def _kept_names(model) -> list[str]:
    """The model's own variables: free parameters and deterministics (not their unconstrained values)."""
    return [v.name for v in (*model.free_RVs, *model.deterministics)]


def _sample_nutpie(model, settings: SamplerSettings, seed: int, cores: int):
    """nutpie's NUTS on this model's compiled structure (:func:`sim.calibration.compiled.compiled_fit`)."""
    import nutpie

    from sim.calibration.compiled import compiled_fit

    compiled = compiled_fit(model, _kept_names(model))
    return nutpie.sample(compiled.nutpie_model(model), draws=settings.draws, tune=settings.tune,
                         chains=settings.chains, cores=cores, seed=seed, target_accept=settings.target_accept,
                         low_rank_modified_mass_matrix=settings.mass_matrix == "low_rank", progress_bar=False,
                         save_warmup=False)
