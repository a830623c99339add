"""What the priors say beside what the data made of them: prior vs posterior per parameter, and the prior
predictive fan of daily tokens, open-source share and adoption to 2030 (what the priors alone imply, so an
implausible prior shows before any data touch it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sim.calibration.checks import QUANTILES, REPORT_SEED
from sim.calibration.models import series_parameter
from sim.calibration.posterior import Posterior
from sim.core.timeaxis import month_grid, month_windows
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_PARAMETERS, open_adoption_window_mean, open_share_window_mean
from sim.data.distributions import Distribution
from sim.data.priors import Priors


def parameter_priors(priors: Priors) -> dict[str, Distribution]:
    """The prior of every sampled parameter, by its name in the model (fixed values excluded)."""
    table: dict[str, Distribution] = dict(priors.volume)
    for series, distributions in priors.series.items():
        table.update({series_parameter(series, key): d for key, d in distributions.items() if key != "sigma"})
    table.update({p: priors.open[p] for p in OPEN_PARAMETERS})
    return {name: d for name, d in table.items() if d.frozen is not None}


def on_log_scale(distribution: Distribution) -> bool:
    """Positive, skewed parameters (lognormal priors) are summarised and drawn on a log scale."""
    return distribution.kind == "lognormal"


def prior_posterior_table(posterior: Posterior, priors: Priors) -> pd.DataFrame:
    """Per fit and parameter: prior and posterior 5/50/95%, and the posterior's 90% width as a share
    of the prior's (log scale for lognormal priors): near 1, the data said little about it."""
    rows = []
    for fit, dataset in posterior.fits.items():
        for name, prior in parameter_priors(priors).items():
            if name not in dataset:
                continue
            draws = np.asarray(dataset[name].values, dtype=float).ravel()
            before, after = prior.quantile(np.array([0.05, 0.5, 0.95])), np.quantile(draws, [0.05, 0.5, 0.95])
            width = np.log if on_log_scale(prior) else (lambda x: x)
            ratio = (width(after[2]) - width(after[0])) / (width(before[2]) - width(before[0]))
            rows.append({"fit": fit, "parameter": name, "prior p5": before[0], "prior p50": before[1],
                         "prior p95": before[2], "post p5": after[0], "post p50": after[1], "post p95": after[2],
                         "width ratio": ratio})
    return pd.DataFrame(rows).set_index(["fit", "parameter"])


def prior_fan(prior: Posterior, weights: dict[str, float], open_weights: dict[str, float], *, first: str = "2024-07",
              last: str = "2030-12", seed: int = REPORT_SEED) -> xr.Dataset:
    """Monthly quantiles of what the priors alone imply (trend only, no observation noise), from prior draws
    (:func:`sim.calibration.prior_draws.prior_posterior`): daily tokens under the family mix (T/day; each draw
    follows one family, by ``weights``), each family's median, and the open-source share of calls and
    enterprise adoption under the open-source variants' mix (``open_weights``)."""
    rng = np.random.default_rng(seed)
    times = month_grid(np.datetime64(first, "M"), np.datetime64(last, "M"))
    a, b = month_windows(times)
    families = [name for name in FAMILIES if name in prior.fits]
    trends = {name: FAMILIES[name].window_mean(a, b, {p: v[:, None] for p, v in prior.samples(name).items()
                                                       if p in FAMILIES[name].parameters}) / 1e12
              for name in families}
    paths = {"daily_tokens": _mixed(rng, trends, weights)}
    opened = {name: {p: v[:, None] for p, v in prior.samples(name).items() if p in OPEN_PARAMETERS}
              for name in open_weights if name in prior.fits}
    paths["open_share"] = _mixed(rng, {n: open_share_window_mean(a, b, c) for n, c in opened.items()}, open_weights)
    paths["open_adoption"] = _mixed(rng, {n: open_adoption_window_mean(a, b, c) for n, c in opened.items()},
                                    open_weights)
    fan = xr.Dataset({name: (("quantile", "time"), np.quantile(v, QUANTILES, axis=0)) for name, v in paths.items()},
                     coords={"quantile": list(QUANTILES), "time": times})
    fan["family_median"] = (("family", "time"), np.array([np.median(trends[name], axis=0) for name in families]))
    fan = fan.assign_coords(family=families)
    fan["daily_tokens"].attrs["units"] = "T tokens/day (10^12), monthly mean, F&S enterprise definition"
    fan.attrs.update(seed=seed)
    return fan


def _mixed(rng: np.random.Generator, draws: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Rows drawn from each model's draws in proportion to its weight (models with no draws left out)."""
    names = [name for name in draws if weights.get(name, 0.0) > 0]
    share = np.array([weights[name] for name in names]) / sum(weights[name] for name in names)
    size = min(len(draws[name]) for name in names)
    chosen = rng.choice(len(names), size=size, p=share)
    return np.concatenate([draws[name][rng.integers(0, len(draws[name]), np.sum(chosen == i))]
                           for i, name in enumerate(names)])
