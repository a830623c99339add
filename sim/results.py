"""The results contract: simulated paths as a self-describing ``xarray.Dataset`` (netCDF).

Dims ``draw`` and ``time`` (month starts, datetime64); variables ``daily_tokens``,
``open_share``, ``open_adoption`` (``draw``, ``time``), ``family`` and the per-draw parameters
(``draw``). Every variable has ``units`` and ``long_name``; the dataset carries CF-style
provenance (title, source, history, the scenario text and hash, seed, calibration id). Files are
written atomically and open with plain ``xr.open_dataset``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from sim import __version__
from sim.atomic import atomic_write
from sim.engine import Paths
from sim.errors import UserError
from sim.posterior import Posterior
from sim.scenario import Scenario

#: units and long_name of every variable a results Dataset can hold.
VARIABLES: dict[str, tuple[str, str]] = {
    "daily_tokens": ("tokens day-1", "LLM tokens per day, Chinese enterprises (F&S definition), monthly mean"),
    "open_share": ("1", "share of enterprise LLM calls served by open-source models, monthly mean"),
    "open_adoption": ("1", "share of enterprises using open-source LLMs, monthly mean"),
    "family": ("", "volume growth family of the draw"),
    "v_ref": ("tokens day-1", "volume level around 2025-01-01 (geometric mean of the 2024-10 and 2025-04 anchors)"),
    "growth": ("year-1", "mean growth rate of log volume between 2024-10 and 2025-04"),
    "ceiling": ("tokens day-1", "volume ceiling (NaN for the unbounded exponential family)"),
    "posterior_draw": ("1", "index of the volume posterior draw used (chains flattened)"),
    "open_posterior_draw": ("1", "index of the open-source posterior draw used (chains flattened)"),
    "bass_p": ("year-1", "Bass innovation coefficient of enterprise adoption"),
    "bass_q": ("year-1", "Bass imitation coefficient of enterprise adoption"),
    "m": ("1", "eventual share of enterprises adopting open-source models"),
    "t_start": ("year", "start of open-source adoption, years since 2025-01-01"),
    "u_max": ("1", "long-run share of an adopter's calls going to open-source models"),
    "k": ("year-1", "Fisher-Pry substitution rate inside adopters"),
    "t_half": ("year", "time when usage inside adopters is half of u_max, years since 2025-01-01"),
}
TITLE = "tokensim forecast of China's enterprise LLM token market"


def to_dataset(times: np.ndarray, paths: Paths, scenario: Scenario, posterior: Posterior, seed: int) -> xr.Dataset:
    """Assemble simulated paths into the results Dataset, with units and provenance."""
    draw = np.arange(paths.daily_tokens.shape[0])
    series = {name: (("draw", "time"), getattr(paths, name)) for name in ("daily_tokens", "open_share", "open_adoption")}
    per_draw = {"family": ("draw", paths.family.astype(str)),
                **{name: ("draw", values) for name, values in paths.parameters.items()}}
    dataset = xr.Dataset({**series, **per_draw}, coords={"draw": draw, "time": times})
    for name, variable in dataset.data_vars.items():
        units, long_name = VARIABLES[name]
        variable.attrs.update({"long_name": long_name, **({"units": units} if units else {})})
    dataset["time"].attrs.update({"long_name": "start of the month (values are means over the month)",
                                  "standard_name": "time"})
    dataset["draw"].attrs.update({"long_name": "simulated path"})
    dataset.attrs.update({
        "title": TITLE,
        "institution": "tokensim",
        "source": f"tokensim {__version__}",
        "history": f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}: "
                   + " ".join(["tokensim", *sys.argv[1:]] if sys.argv and "tokensim" in sys.argv[0] else ["sim.run"]),
        "Conventions": "CF-1.10",
        "scenario": scenario.name,
        "scenario_description": scenario.description,
        "scenario_text": scenario.text,
        "scenario_sha256": scenario.sha256,
        "seed": int(seed),
        "calibration_id": posterior.id,
        "calibration_as_of": posterior.attrs.get("as_of", ""),
        "family_weights": ", ".join(f"{name}={weight:g}" for name, weight in scenario.family_weights),
    })
    return dataset


def write_dataset(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to netCDF atomically (an earlier file is replaced only on success)."""
    encoding = {name: {"zlib": True, "complevel": 4} for name, v in dataset.data_vars.items()
                if v.dtype.kind == "f"}
    return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))


def open_results(path: str | Path) -> xr.Dataset:
    """Open a results file, or explain why it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError("results file not found", where=str(path))
    try:
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            dataset = opened.load()
    except Exception as exc:  # damaged or foreign files raise many different types
        raise UserError(f"not a readable netCDF file ({type(exc).__name__}: {exc})", where=str(path)) from None
    missing = [name for name in ("daily_tokens", "open_share", "open_adoption") if name not in dataset]
    if missing or dataset.attrs.get("title") != TITLE:
        raise UserError(f"not a tokensim results file (missing {', '.join(missing) or 'its title'})", where=str(path))
    return dataset
