"""The PyMC models, built from the observation registry, the priors and a curve family.

Two independent models are fitted:

* a **volume** model per growth family: each fitted volume observation is
  ``scale_s * (mean of V over its window) * exp(drift_s * t_mid)`` with lognormal noise
  ``sigma_s``; the F&S reference series has ``scale = 1`` and ``drift = 0``. Window totals enter as
  daily averages (their own day count), values at a date as the level on that date;
* the **open-source** model: the 2025H1 open share of calls is the window mean of
  ``adoption(t) * usage(t)``, observed with logit-normal noise.

Likelihoods always use the exact window mean (closed form or Gauss-Legendre), never the midpoint.
"""

from __future__ import annotations

import numpy as np

from sim.core.errors import UserError
from sim.curves.families import GrowthFamily, anchor_levels
from sim.curves.open_source import OPEN_PARAMETERS, open_share_window_mean
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, Observation, ObservationSet
from sim.data.priors import Priors

#: The variables other modules read by name (the models' contract): each model's observed variable
#: and the data container holding the published values on its scale, and the share's noise.
LOG_OBSERVED, LOG_VALUES = "log_observed", "log_values"
LOGIT_OBSERVED, LOGIT_VALUES = "logit_observed", "logit_values"
SHARE_SIGMA = "share_sigma"


def series_parameter(series: str, name: str) -> str:
    """The model's name of a series' own parameter (``scale``, ``drift`` or ``sigma``): ``idc_public_cloud_scale``."""
    return f"{series}_{name}"


def _windows(observations: tuple[Observation, ...]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.array([o.window for o in observations]).T
    return a, b


def volume_observations(observations: ObservationSet) -> tuple[Observation, ...]:
    """Fitted volume observations, windows first then values at a date (the model's order)."""
    fitted = observations.fitted(VOLUME_QUANTITIES)
    return (*[o for o in fitted if o.kind != "at_date"], *[o for o in fitted if o.kind == "at_date"])


def build_volume_model(family: GrowthFamily, observations: ObservationSet, priors: Priors):
    """The PyMC model of daily enterprise tokens under one growth family."""
    import pymc as pm
    import pytensor.tensor as pt

    data = volume_observations(observations)
    if not data:
        raise UserError("no volume observation is left to calibrate on (check the vintage)",
                        where=str(observations.path))
    # Without a reference-series figure (an early vintage) the F&S level is known only through the
    # other series' scale priors: the fit runs, and its width says so.
    series_names = list(dict.fromkeys(o.series for o in data))
    missing = [s for s in series_names if s not in priors.series]
    if missing:
        raise UserError(f"no priors for series {missing[0]!r}; add a [series.{missing[0]}] table",
                        where=str(priors.path))
    windowed = [o for o in data if o.kind != "at_date"]
    dated = [o for o in data if o.kind == "at_date"]
    coords = {"obs": [o.id for o in data], "series": series_names}
    with pm.Model(coords=coords) as model:
        params = {name: priors.volume[name].to_pymc(name) for name in family.parameters if name != "ceiling"}
        if "ceiling" in family.parameters:
            # Sampled as headroom over the 2025-04 anchor level: always above it, and free of the
            # cliff where a ceiling just above the data would need an ever steeper curve.
            headroom = priors.volume["ceiling_headroom"].to_pymc("ceiling_headroom")
            params["ceiling"] = pm.Deterministic("ceiling", anchor_levels(params)[1] * (1.0 + headroom))
        levels = []
        if windowed:
            a, b = _windows(tuple(windowed))
            levels.append(family.window_mean(a, b, params))
        if dated:
            levels.append(family.level(np.array([o.window[0] for o in dated]), params))
        level = pm.Deterministic("window_level", pt.concatenate(levels), dims="obs")

        log_scale, drift, sigma = [], [], []
        for name in series_names:
            series_priors = priors.series[name]
            if observations.series[name].role == "reference":
                log_scale.append(pt.constant(0.0))
                drift.append(pt.constant(0.0))
            else:
                if "scale" not in series_priors:
                    raise UserError(f"series {name!r} is scaled and needs scale, drift and sigma priors",
                                    where=str(priors.path))
                log_scale.append(pt.log(series_priors["scale"].to_pymc(series_parameter(name, "scale"))))
                drift.append(series_priors["drift"].to_pymc(series_parameter(name, "drift")))
            sigma.append(series_priors["sigma"].to_pymc(series_parameter(name, "sigma")))
        index = np.array([series_names.index(o.series) for o in data])
        midpoint = np.array([o.midpoint for o in data])
        mu = pt.log(level) + pt.stack(log_scale)[index] + pt.stack(drift)[index] * midpoint
        # Observed values are data containers, so that a compiled model can be refitted on other
        # values (simulation-based calibration) without recompiling.
        values = pm.Data(LOG_VALUES, np.log([o.comparable_value for o in data]), dims="obs")
        pm.Normal(LOG_OBSERVED, mu=mu, sigma=pt.stack(sigma)[index], observed=values, dims="obs")
    return model


def build_open_model(observations: ObservationSet, priors: Priors):
    """The PyMC model of enterprise adoption and the open-source share of calls."""
    import pymc as pm
    import pytensor.tensor as pt

    data = observations.fitted(SHARE_QUANTITIES)
    with pm.Model(coords={"share_obs": [o.id for o in data]}) as model:
        params = {name: priors.open[name].to_pymc(name) for name in OPEN_PARAMETERS}
        if data:  # an early vintage may have no share figure: the fit is then the prior itself
            values = np.array([o.comparable_value for o in data])
            a, b = _windows(data)
            share = pm.Deterministic("window_share", open_share_window_mean(a, b, params), dims="share_obs")
            logits = pm.Data(LOGIT_VALUES, np.log(values / (1 - values)), dims="share_obs")
            pm.Normal(LOGIT_OBSERVED, mu=pt.log(share) - pt.log1p(-share),
                      sigma=priors.open["sigma"].to_pymc(SHARE_SIGMA), observed=logits, dims="share_obs")
    return model
