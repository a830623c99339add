"""Fast stand-ins for calibration, for tests about what happens after it (forecasts, backtests, revisions).

:func:`fake_posterior` draws the parameters from the vintage's priors (level and growth near the F&S figures)
and nudges the volume level by the vintage's figures, so that the 'posterior' changes whenever the figures it
was given change (and only then): a leak of a later figure into an earlier vintage shows.
:func:`constant_posterior` fixes every parameter, for closed-form checks.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.calibration.calibrate import calibration_id, last_data_month
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import Posterior
from sim.curves.families import FAMILIES, anchor_levels
from sim.curves.open_source import OPEN_DERIVED, OPEN_PARAMETERS, OPEN_VARIANTS
from sim.data.observations import VOLUME_QUANTITIES

#: The families a test scenario mixes (:func:`scenario_mixing`): quick to sample, one fixed ceiling, one long run.
TEST_FAMILIES = ("logistic", "decay")


def _dataset(values: dict[str, np.ndarray]) -> xr.Dataset:
    return xr.Dataset({k: (("chain", "draw"), np.asarray(v, dtype=float)[None, :]) for k, v in values.items()})


def fake_posterior(inputs: CalibrationInputs, draws: int = 400) -> Posterior:
    """Prior draws of the test families and both open-source variants (level and growth near the data), the level
    nudged by the vintage's figures."""
    vintage, priors = inputs.observations, inputs.priors
    digest = vintage.digest()
    rng = np.random.default_rng(int(digest[:12], 16))
    fitted = vintage.fitted(VOLUME_QUANTITIES)
    shift = np.mean([np.log(o.comparable_value) for o in fitted]) - 28.0 if fitted else 0.0
    fits = {}
    for name in TEST_FAMILIES:
        volume = priors.sample_volume(rng, draws)
        # level and growth near what the F&S figures say (the priors alone would allow levels no compute
        # bound serves), the level nudged by the vintage's figures
        volume["v_ref"] = 5e12 * np.exp(0.1 * shift + 0.5 * rng.standard_normal(draws))
        volume["growth"] = 2.5 * np.exp(0.3 * rng.standard_normal(draws))
        volume["ceiling"] = anchor_levels(volume)[1] * (1 + volume["ceiling_headroom"])
        values = {p: volume[p] for p in FAMILIES[name].parameters}
        for series in dict.fromkeys(o.series for o in fitted):
            for parameter, prior in priors.series[series].items():
                values[f"{series}_{parameter}"] = prior.sample(rng, draws)
        fits[name] = _dataset(values)
    for variant, fixed in OPEN_VARIANTS.items():
        values = {p: priors.open[p].sample(rng, draws) for p in OPEN_PARAMETERS}
        values.update({p: np.full(draws, v) for p, v in fixed.items()})
        # adopters make at least the open share of calls (the model's truncation): a^gamma >= s
        floor = values["share_2025h1"] ** (1 / values["call_weight"])
        values["adoption_2025h1"] = np.maximum(values["adoption_2025h1"], np.minimum(floor * 1.05, 0.999))
        values.update({p: derive(values) for p, derive in OPEN_DERIVED.items()})
        values["share_sigma"] = priors.open["sigma"].sample(rng, draws)
        fits[variant] = _dataset(values)
    attrs = {"as_of": str(vintage.as_of or ""), "last_data_month": last_data_month(vintage),
             "priors_json": priors.as_json(resolve=True)}
    return Posterior(f"fake-{calibration_id(inputs)}", fits, {fit: xr.Dataset() for fit in fits}, attrs)


def constant_posterior(values: dict[str, float], fit: str, draws: int = 50,
                       attrs: dict[str, str] | None = None) -> Posterior:
    """One fit whose every draw is ``values``."""
    dataset = _dataset({k: np.full(draws, v) for k, v in values.items()})
    return Posterior("constant", {fit: dataset}, {fit: xr.Dataset()}, attrs or {})


def scenario_mixing(folder, families: dict[str, float] | None = None, name: str = "test_mix"):
    """A scenario extending the baseline that mixes only ``families`` (default: :data:`TEST_FAMILIES` equally)."""
    from sim.scenarios.scenario import load_scenario
    from tests.conftest import BASELINE, ROOT

    families = families or {f: 1 / len(TEST_FAMILIES) for f in TEST_FAMILIES}
    path = folder / f"{name}.toml"
    table = "\n".join(f"{f} = {w!r}" for f, w in families.items())
    compute = ROOT / "calibration" / "compute.toml"  # the baseline names it relative to its own folder
    path.write_text(f'extends = "{BASELINE}"\nname = "{name}"\n[families]\n{table}\n[compute]\nseries = "{compute}"\n',
                    encoding="utf-8")
    return load_scenario(path)
