"""The PyMC models, built from the observation registry, the priors and a curve family.

* a **volume** model per growth family: each fitted volume figure of series ``s`` observes
  ``scale_s x (mean over its window of V(t) exp(drift_s t))``, the drift inside the window integral
  (values at a date: ``scale_s V(t) exp(drift_s t)``), with a lognormal error of its own (``sigma_s``)
  and one shared by the figures of its release (``release_sigma_s``): figures of one series published
  on one date (the F&S 2024H2 and 2025H1 figures come from one report) share a latent offset, a lone
  figure's release error simply widens its own. A figure published as a bound ("more than X") is a
  censored observation. The F&S reference series has scale 1 and no drift. Window totals enter as
  daily averages (their own day count);
* the **open-source** model per structural variant (:data:`OPEN_VARIANTS`): the open share of calls is
  the window mean of ``a(t)^call_weight x u(t)`` (:mod:`sim.curves.open_source`), observed with
  logit-normal noise by the F&S share and, more loosely, by the share the vendor figures imply.

Likelihoods always use the exact window mean (closed form or Gauss-Legendre), never the midpoint.
"""

from __future__ import annotations

import numpy as np

from sim.core.errors import UserError
from sim.curves.families import (
    T_ANCHOR,
    GrowthFamily,
    anchor_levels,
    compute_eflops,
    drifted_window_mean,
)
from sim.curves.open_source import (
    OPEN_DERIVED,
    OPEN_PARAMETERS,
    OPEN_VARIANTS,
    open_share_window_mean,
)
from sim.data.compute_trend import ComputeTrend
from sim.data.observations import (
    SHARE_QUANTITIES,
    VOLUME_QUANTITIES,
    Observation,
    ObservationSet,
)
from sim.data.priors import Priors

#: The variables other modules read by name (the models' contract): each model's observed variable
#: and the data container holding the published values on its scale, and the share's noise.
LOG_OBSERVED, LOG_VALUES = "log_observed", "log_values"
LOGIT_OBSERVED, LOGIT_VALUES = "logit_observed", "logit_values"
SHARE_SIGMA = "share_sigma"
RELEASE_OFFSET = "release_offset"
#: The compute trend's ``(c0, growth)`` (:class:`~sim.data.compute_trend.ComputeTrend`), as the families on
#: compute read it.
COMPUTE_TREND = "compute_trend"
#: Volume parameters built from others rather than drawn from their own prior.
_DERIVED_VOLUME = ("ceiling", "inference_share", "compute_eflops", "compute_growth")


def series_parameter(series: str, name: str) -> str:
    """The model's name of a series' own parameter (``scale``, ``drift``, ``sigma``, ``release_sigma``):
    ``idc_public_cloud_scale``."""
    return f"{series}_{name}"


def series_parameters(observations: ObservationSet, series: str) -> tuple[str, ...]:
    """A series' own parameters: its two sigmas, and a scale and a drift unless it is the reference series."""
    scaled = observations.series[series].role != "reference"
    return ("scale", "drift", "sigma", "release_sigma") if scaled else ("sigma", "release_sigma")


def volume_observations(observations: ObservationSet) -> tuple[Observation, ...]:
    """Fitted volume observations, in registry order (the model's order)."""
    return observations.fitted(VOLUME_QUANTITIES)


def release_of(observation: Observation) -> str:
    """The release a figure belongs to: its series and its publication date."""
    return f"{observation.series} {observation.published}"


def volume_structure(observations: ObservationSet) -> tuple[list[str], list[str]]:
    """The series and the shared releases (those of more than one figure) a volume model carries: the whole
    registry's, in its order, at every vintage. A vintage's model thus has one structure, the full
    calibration's, and compiles nothing of its own (:mod:`sim.calibration.compiled`); what it has not
    published yet is drawn from its priors alone, and left out of its posterior (:func:`unpublished`)."""
    data = volume_observations(observations.registry)
    releases = [release_of(o) for o in data]
    return list(dict.fromkeys(o.series for o in data)), [r for r in dict.fromkeys(releases) if releases.count(r) > 1]


def unpublished(observations: ObservationSet) -> list[str]:
    """The stored names of a volume model's variables no figure of this vintage observes: the parameters of
    series and the offsets of releases published after it. Their draws are their priors', independent of
    everything fitted, so leaving them out changes nothing else: the vintage's posterior names nothing it
    could not have known."""
    data = volume_observations(observations)
    series, shared = volume_structure(observations)
    known_series, known_releases = {o.series for o in data}, {release_of(o) for o in data}
    return [*(series_parameter(name, parameter) for name in series if name not in known_series
              for parameter in series_parameters(observations, name)),
            *(f"{RELEASE_OFFSET}[{release}]" for release in shared if release not in known_releases)]


def censoring(data: tuple[Observation, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Log-scale censoring bounds per figure: "more than X" is censored at X from above (the true value is
    at least X), "at most X" from below; others are not censored (infinite bounds)."""
    values = np.log([o.comparable_value for o in data])
    lower = np.where([o.bound == "upper" for o in data], values, -np.inf)
    upper = np.where([o.bound == "lower" for o in data], values, np.inf)
    return lower, upper


def figure_data(observations: ObservationSet, data: tuple[Observation, ...], series_names: list[str],
                shared: list[str]) -> dict[str, np.ndarray]:
    """What the volume model knows of each figure, by data container: its series and shared release (indices),
    its window (start, and end; a dated figure's end is a nominal year after its date), whether it is a
    value at a date, of the reference series, or in a shared release (1 or 0), and its censoring bounds."""
    releases = [release_of(o) for o in data]
    start, end = np.array([o.window for o in data], dtype=float).T
    dated = np.array([o.kind == "at_date" for o in data], dtype=float)
    lower, upper = censoring(data)
    return {
        "figure_series": np.array([series_names.index(o.series) for o in data], dtype=np.int64),
        "figure_release": np.array([shared.index(r) if r in shared else 0 for r in releases], dtype=np.int64),
        "window_start": start, "window_end": np.where(dated > 0, start + 1.0, end), "dated": dated,
        "reference": np.array([observations.series[o.series].role == "reference" for o in data], dtype=float),
        "in_shared": np.array([r in shared for r in releases], dtype=float),
        "censor_lower": lower, "censor_upper": upper,
    }


def _family_parameters(family: GrowthFamily, priors: Priors, compute: ComputeTrend | None) -> dict:
    """The family's parameters as PyMC variables: drawn from their priors, or built from other ones."""
    import pymc as pm

    params = {name: priors.volume[name].to_pymc(name) for name in family.parameters if name not in _DERIVED_VOLUME}
    if "ceiling" in family.parameters:
        # Sampled as headroom over the 2025-04 anchor level: always above it, and free of the cliff
        # where a ceiling just above the data would need an ever steeper curve.
        headroom = priors.volume["ceiling_headroom"].to_pymc("ceiling_headroom")
        params["ceiling"] = pm.Deterministic("ceiling", anchor_levels(params)[1] * (1.0 + headroom))
    if family.needs_compute:
        if compute is None:
            raise UserError(f"the {family.name} family needs the compute figures, and fewer than two were published "
                            "by this vintage", where=f"calibration fit '{family.name}'")
        # A data container, not constants: vintages whose compute trends differ are still one structure.
        trend = pm.Data(COMPUTE_TREND, np.array([compute.c0, compute.growth]))
        params["compute_eflops"] = pm.Deterministic("compute_eflops", trend[0])
        params["compute_growth"] = pm.Deterministic("compute_growth", trend[1])
        # The ceiling must lie above the fitted level at both anchors (2024-10 and 2025-04): the larger
        # share of compute either level already takes truncates the share's prior from below.
        first, second = anchor_levels(params)
        taken = pm.math.maximum(first / compute_eflops(-T_ANCHOR, params), second / compute_eflops(T_ANCHOR, params)) \
            / params["tokens_per_eflops_day"]
        params["inference_share"] = priors.volume["inference_share"].to_pymc(
            "inference_share", lower=pm.math.clip(taken, 1e-12, 0.999), upper=1.0)
    return params


def check_volume_inputs(observations: ObservationSet, priors: Priors) -> list[Observation]:
    """The fitted volume figures, or a UserError before any work: none left at this vintage, or a series of
    the registry without its priors (every vintage's model carries every series)."""
    data = volume_observations(observations)
    if not data:
        raise UserError("no volume observation is left to calibrate on (check the vintage)",
                        where=str(observations.path))
    missing = [s for s in volume_structure(observations)[0] if s not in priors.series]
    if missing:
        raise UserError(f"no priors for series {missing[0]!r}; add a [series.{missing[0]}] table",
                        where=str(priors.path))
    return data


def build_volume_model(family: GrowthFamily, observations: ObservationSet, priors: Priors,
                       compute: ComputeTrend | None = None):
    """The PyMC model of daily enterprise tokens under one growth family."""
    import pymc as pm
    import pytensor.tensor as pt

    data = check_volume_inputs(observations, priors)
    # Without a reference-series figure (an early vintage) the F&S level is known only through the
    # other series' scale priors: the fit runs, and its width says so.
    series_names, shared = volume_structure(observations)
    coords = {"obs": [o.id for o in data], "series": series_names, "release": shared}
    with pm.Model(coords=coords) as model:
        params = _family_parameters(family, priors, compute)
        log_scale, drift, sigma, release_sigma = [], [], [], []
        for name in series_names:
            series_priors, wanted = priors.series[name], series_parameters(observations, name)
            if any(parameter not in series_priors for parameter in wanted):
                raise UserError(f"series {name!r} needs {', '.join(wanted)} priors", where=str(priors.path))
            own = {parameter: series_priors[parameter].to_pymc(series_parameter(name, parameter)) for parameter in wanted}
            log_scale.append(pt.log(own["scale"]) if "scale" in own else pt.constant(0.0))  # the reference: 1
            drift.append(own.get("drift", pt.constant(0.0)))
            sigma.append(own["sigma"])
            release_sigma.append(own["release_sigma"])
        # Every per-figure number is a data container (never a constant of the graph), so that every vintage
        # of the registry is one structure and compiles once (sim.calibration.compiled).
        figures = {name: pm.Data(name, value, dims="obs")
                   for name, value in figure_data(observations, data, series_names, shared).items()}
        series = figures["figure_series"]
        figure_drift = pt.stack(drift)[series]
        # The reference series' windows use the family's exact window mean, other series' windows
        # integrate their drift inside the window, values at a date are the level there (a dated
        # figure's unused window is given a nominal width, so that no branch divides by zero).
        a, end = figures["window_start"], figures["window_end"]
        dated, reference, in_shared = (figures[name] > 0.5 for name in ("dated", "reference", "in_shared"))
        level = pt.switch(dated, family.level(a, params) * pt.exp(figure_drift * a),
                          pt.switch(reference, family.window_mean(a, end, params),
                                    drifted_window_mean(family, a, end, params, figure_drift)))
        pm.Deterministic("window_level", level, dims="obs")
        mu = pt.log(level) + pt.stack(log_scale)[series]
        own, release = pt.stack(sigma)[series], pt.stack(release_sigma)[series]
        if shared:
            offset = pm.Normal(RELEASE_OFFSET, 0.0, 1.0, dims="release")
            mu = mu + pt.switch(in_shared, offset[figures["figure_release"]] * release, 0.0)
        total = pt.switch(in_shared, own, pt.sqrt(own**2 + release**2))
        # Observed values are data containers too, so that a compiled model can be refitted on other
        # values (simulation-based calibration) without recompiling.
        values = pm.Data(LOG_VALUES, np.log([o.comparable_value for o in data]), dims="obs")
        pm.Censored(LOG_OBSERVED, pm.Normal.dist(mu=mu, sigma=total), lower=figures["censor_lower"],
                    upper=figures["censor_upper"], observed=values, dims="obs")
    return model


def vendor_open_shares(observations: ObservationSet, priors: Priors) -> list[tuple[str, tuple[float, float], float, float]]:
    """The open share the F&S model-family shares imply, for each window with no direct share figure.

    ``open = sum(open families) + f x sum(mixed families) + o x (1 - sum(listed families))``, with ``f``
    (the open-weight fraction of a family sold both ways, Qwen) and ``o`` (that of the families not listed)
    at their prior means; returns ``(label, window, implied share, logit sd)``, where the sd is the spread
    the two fractions' priors give the share (delta method) combined with the survey's own sigma.
    """
    direct = {o.window for o in observations.fitted(SHARE_QUANTITIES)}
    windows: dict[tuple[float, float], list[Observation]] = {}
    for o in observations.observations:
        if o.quantity == "vendor_share" and o.licence and not o.bound:
            windows.setdefault(o.window, []).append(o)
    mixed, others = priors.vendor["mixed_open_fraction"].frozen, priors.vendor["others_open_fraction"].frozen
    implied = []
    for window, figures in windows.items():
        if window in direct:
            continue
        by = {licence: sum(o.value_base for o in figures if o.licence == licence) for licence in ("open", "mixed")}
        rest = 1.0 - sum(o.value_base for o in figures)
        share = by["open"] + float(mixed.mean()) * by["mixed"] + float(others.mean()) * rest
        spread = np.sqrt(by["mixed"] ** 2 * mixed.var() + rest**2 * others.var()) / (share * (1 - share))
        implied.append(("+".join(o.id for o in figures), window, float(share),
                        float(np.hypot(spread, priors.vendor["sigma"].quantile(0.5)))))
    return implied


def share_data(direct: tuple[Observation, ...], implied: list) -> dict[str, np.ndarray]:
    """What the open-source model knows of each share figure (direct ones, then those the vendor shares
    imply), by data container: its window, whether it is direct (1 or 0), and an implied share's spread."""
    windows = [o.window for o in direct] + [window for _, window, *_ in implied]
    start, end = np.array(windows, dtype=float).T
    return {"share_window_start": start, "share_window_end": end,
            "share_direct": np.array([1.0] * len(direct) + [0.0] * len(implied)),
            "share_implied_sd": np.array([0.0] * len(direct) + [sd for *_, sd in implied], dtype=float)}


def build_open_model(observations: ObservationSet, priors: Priors, compute: ComputeTrend | None = None, *,
                     variant: str = "open_call_weighted"):
    """The PyMC model of enterprise adoption and the open-source share of calls, one structural variant (the
    compute trend, which volume families may use, plays no part)."""
    import pymc as pm
    import pytensor.tensor as pt

    direct = observations.fitted(SHARE_QUANTITIES)
    implied = vendor_open_shares(observations, priors)
    labels = [o.id for o in direct] + [label for label, *_ in implied]
    fixed = OPEN_VARIANTS[variant]
    with pm.Model(coords={"share_obs": labels}) as model:
        params = {name: pm.Deterministic(name, pt.as_tensor_variable(np.float64(fixed[name]))) if name in fixed
                  else priors.open[name].to_pymc(name)
                  for name in OPEN_PARAMETERS if name != "adoption_2025h1"}
        # Adopters make at least the share of calls that goes open (a^gamma >= s, so usage inside
        # adopters stays below 1): adoption's prior is truncated to what the share allows.
        floor = pt.exp(pt.log(params["share_2025h1"]) / params["call_weight"])
        params["adoption_2025h1"] = priors.open["adoption_2025h1"].to_pymc(
            "adoption_2025h1", lower=pt.clip(floor, 1e-9, 1 - 1e-9), upper=1.0)
        for name, derive in OPEN_DERIVED.items():
            pm.Deterministic(name, derive(params))
        if labels:  # an early vintage may have no share figure: the fit is then the prior itself
            # Windows and the implied shares' spreads are data containers, so that vintages with other figures
            # are one compiled structure; a direct figure's spread is the survey's sigma (its sd reads 0).
            figures = {name: pm.Data(name, value, dims="share_obs")
                       for name, value in share_data(direct, implied).items()}
            sigma = pt.switch(figures["share_direct"] > 0.5, priors.open["sigma"].to_pymc(SHARE_SIGMA),
                              figures["share_implied_sd"])
            values = np.array([o.comparable_value for o in direct] + [share for *_, share, _ in implied])
            share = pm.Deterministic("window_share", open_share_window_mean(
                figures["share_window_start"], figures["share_window_end"], params), dims="share_obs")
            logits = pm.Data(LOGIT_VALUES, np.log(values / (1 - values)), dims="share_obs")
            pm.Normal(LOGIT_OBSERVED, mu=pt.log(share) - pt.log1p(-share), sigma=sigma, observed=logits,
                      dims="share_obs")
    return model
