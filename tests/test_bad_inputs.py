"""A corpus of bad inputs: every mistake a user can make ends the same way.

Each row of :data:`CASES` is one mistake in a scenario file, an observation registry, a priors
file, a cached posterior, a results file or the command line, run in-process through
``sim.cli.main``. Every one must end with exit status 2, a message that starts with
``tokensim: error:`` and names the file/key/argument at fault and what is allowed, no traceback,
nothing written (the whole tmp tree is unchanged, no ``.*.tmp`` debris) and an earlier result at
the same ``--out`` path left byte for byte as it was (README, "Commands").

Most rows fail before calibration; NUTS sampling is patched to raise so that a mistake that
slips through fails fast instead of calibrating for two minutes. Rows marked ``posterior=True``
need the real calibrated posterior (session fixture ``posterior_dir``) because the mistake is
only found when writing.

The property-based tests at the end fuzz the scenario parser (Scenario or UserError, nothing
else) and ``parse_distribution`` (Distribution or ValueError, nothing else).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.core.errors import UserError
from sim.data.distributions import Distribution, parse_distribution
from sim.scenarios.scenario import Scenario, load_scenario
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS, ROOT, posterior_file

# --------------------------------------------------------------------------------------------------
# Valid inputs that each case breaks in exactly one place
# --------------------------------------------------------------------------------------------------

SCENARIO = '''\
name = "mini"
description = "a valid scenario that each case breaks in one place"
horizon = "2027-12"
step_months = 1
draws = 100
seed = 1

[families]
logistic = 0.5
gompertz = 0.5

[volatility]
volume = { sd = 0.2, persistence = 0.9 }
share = { sd = 0.1, persistence = 0.9 }

[[claims]]
name = "adoption above 80%"
variable = "open_adoption"
threshold = 0.8
by = ["2027-12"]
'''

OBSERVATIONS_TEXT = '''\
[series.fs_enterprise]
definition = "F&S enterprise daily tokens"
role = "reference"

[series.fs_open_share]
definition = "F&S open-source share of enterprise calls"
role = "reference"

[[observation]]
id = "fs_daily_2024h2"
series = "fs_enterprise"
quantity = "daily_tokens"
kind = "window_average"
value = 21999
unit = "亿 tokens/day"
value_base = 2.1999e12
start = 2024-07-01
end = 2024-12-31
published = 2025-09-01
source = "F&S"
quote = "较2024年下半年的21,999亿tokens"

[[observation]]
id = "fs_open_share_2025h1"
series = "fs_open_share"
quantity = "open_share"
kind = "window_average"
value = 44.4
unit = "%"
value_base = 0.444
start = 2025-01-01
end = 2025-06-30
published = 2025-09-01
source = "F&S"
quote = "开源模型…调用占比已提升至44.4%"
'''

PRIORS_TEXT = PRIORS.read_text(encoding="utf-8")
ANALOGS, COMPUTE = ROOT / "calibration" / "analogs.toml", ROOT / "calibration" / "compute.toml"
HUGE = "1" + "0" * 400  # a valid TOML integer (tomllib has no 64-bit limit) that no float can hold


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` replaced by ``new`` (``old`` must be there)."""
    assert old in text, f"{old!r} is not in the base text: the base file changed"
    return text.replace(old, new, 1)


def scenario(old: str, new: str) -> dict[str, str]:
    return {"scenario.toml": edit(SCENARIO, old, new)}


def observations(old: str, new: str) -> dict[str, str]:
    return {"observations.toml": edit(OBSERVATIONS_TEXT, old, new)}


def priors(old: str, new: str) -> dict[str, str]:
    return {"priors.toml": edit(PRIORS_TEXT, old, new)}


def drop_table(text: str, header: str) -> str:
    """``text`` without the TOML table that starts at ``header`` (up to the next header)."""
    start = text.index(header)
    end = text.find("\n[", start + len(header))
    return text[:start] + (text[end + 1:] if end >= 0 else "")


# --------------------------------------------------------------------------------------------------
# Files that need code: results and posteriors
# --------------------------------------------------------------------------------------------------

def write_fake_results(path: Path) -> Path:
    """A small netCDF file shaped like a tokensim result: it stands for an earlier result at ``--out``
    (only its bytes matter) and, truncated, for a damaged one. Cases that need a result tokensim
    accepts use ``real_result`` instead, so that they follow the results contract as it evolves."""
    from sim.core.timeaxis import month_grid
    from sim.engine.results import TITLE

    times = month_grid(np.datetime64("2024-07", "M"), np.datetime64("2030-12", "M"))
    rng = np.random.default_rng(0)
    t = np.arange(times.size) / 12
    draws = 40
    volume = 2e12 * np.exp(1.5 * t + 0.2 * rng.standard_normal((draws, times.size)))
    adoption = 1 / (1 + np.exp(-(t - 2 + 0.3 * rng.standard_normal((draws, 1)))))
    dataset = xr.Dataset(
        {"daily_tokens": (("draw", "time"), volume), "open_adoption": (("draw", "time"), adoption),
         "open_share": (("draw", "time"), 0.7 * adoption)},
        coords={"draw": np.arange(draws), "time": times},
        attrs={"title": TITLE, "scenario": "earlier", "seed": 1, "calibration_id": "0" * 64, "claims": "[]"},
    )
    dataset.to_netcdf(path, engine="h5netcdf")
    return path


def write_foreign_netcdf(path: Path) -> Path:
    xr.Dataset({"temperature": ("x", np.arange(5.0))}, attrs={"title": "sea surface temperature"}).to_netcdf(
        path, engine="h5netcdf")
    return path


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def fake_posterior(folder: Path, posterior_id: str | None, *, fits: bool) -> Path:
    """A structurally valid posterior file at the cache path, with any id (default: the right one)."""
    from sim.calibration.calibrate import calibration_id
    from sim.calibration.inputs import CalibrationInputs
    from sim.calibration.posterior import Posterior

    path = posterior_file(folder)
    if posterior_id is None:
        posterior_id = calibration_id(CalibrationInputs.load(OBSERVATIONS, PRIORS))
    draws, reports = {}, {}
    if fits:
        draws["open_call_weighted"] = xr.Dataset({"m": (("chain", "draw"), np.full((2, 5), 0.8))})
        reports["open_call_weighted"] = xr.Dataset({"rhat": ("parameter", [1.0])}, coords={"parameter": ["m"]})
    Posterior(posterior_id, draws, reports, {"model_version": "2"}).save(path)
    return path


def plant_garbage(ctx) -> None:
    posterior_file(ctx.posteriors).write_bytes(b"this is not an HDF5 file\n" * 100)


def plant_empty(ctx) -> None:
    posterior_file(ctx.posteriors).write_bytes(b"")


def plant_truncated(ctx) -> None:
    truncate(fake_posterior(ctx.posteriors, None, fits=True))


def plant_foreign(ctx) -> None:
    write_foreign_netcdf(posterior_file(ctx.posteriors))


def plant_stale(ctx) -> None:
    fake_posterior(ctx.posteriors, "f" * 64, fits=True)


def plant_right_id_without_fits(ctx) -> None:
    fake_posterior(ctx.posteriors, None, fits=False)


def results_truncated(ctx) -> None:
    truncate(write_fake_results(ctx.inputs / "result.nc"))


def results_foreign(ctx) -> None:
    write_foreign_netcdf(ctx.inputs / "result.nc")


def results_fake(ctx) -> None:
    write_fake_results(ctx.inputs / "result.nc")


def results_valid(ctx) -> None:
    shutil.copyfile(ctx.real_result, ctx.inputs / "result.nc")


def results_valid_and_folder(ctx) -> None:
    results_valid(ctx)
    (ctx.inputs / "charts.png").mkdir()


def folder(name: str) -> Callable:
    def make(ctx) -> None:
        (ctx.inputs / name).mkdir()
    return make


def regular_file(name: str) -> Callable:
    def make(ctx) -> None:
        (ctx.inputs / name).write_text("a file, not a folder\n")
    return make


def png_path_is_a_folder(ctx) -> None:
    """The chart that goes next to the result cannot be written: its path is a folder."""
    ctx.out.with_suffix(".png").unlink()
    ctx.out.with_suffix(".png").mkdir()


# --------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One mistake: the files it needs, the command line, and substrings the message must hold.

    Placeholders in ``argv``: ``{in}`` the folder of this case's files, ``{out}`` a results path
    that already holds an earlier result, ``{posteriors}`` an empty (or planted) posterior cache,
    ``{real}`` the real calibrated posterior cache, ``{obs}``/``{priors}``/``{baseline}`` the
    repository's files.
    """

    id: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable | None = None
    posterior: bool = False


def run(scenario_path: str = "{in}/scenario.toml", *extra: str, posteriors: str = "{posteriors}") -> tuple[str, ...]:
    """``tokensim run`` with every path explicit and an earlier result at ``--out``."""
    return ("run", scenario_path, "--out", "{out}", "--draws", "50", "--observations", "{obs}",
            "--priors", "{priors}", "--analogs", "{analogs}", "--compute", "{compute}", "--posteriors", posteriors,
            *extra)


def run_baseline(*extra: str) -> tuple[str, ...]:
    return run("{baseline}", *extra)


SCENARIO_CASES = [
    Case("scenario-malformed-toml", run(), ("scenario.toml", "not valid TOML"),
         scenario("[families]", "[families")),
    Case("scenario-unknown-top-key", run(), ("scenario.toml, line 7, key 'colour'", "unknown key; allowed here: name"),
         scenario("seed = 1", 'seed = 1\ncolour = "blue"')),
    Case("scenario-unknown-family", run(),
         ("key 'families.linear'", "allowed here: exponential, logistic, richards, gompertz"),
         scenario("gompertz = 0.5", "linear = 0.5")),
    Case("scenario-unknown-volatility-table", run(),
         ("key 'volatility.prices'", "allowed here: volume, share, adoption"),
         scenario("share = {", "prices = {")),
    Case("scenario-unknown-volatility-entry-key", run(),
         ("key 'volatility.volume.drift'", "allowed here: sd, persistence"),
         scenario("volume = { sd = 0.2, persistence = 0.9 }", "volume = { sd = 0.2, persistence = 0.9, drift = 0.1 }")),
    Case("scenario-unknown-claim-key", run(),
         ("key 'claims[0].colour'", "allowed here: name, variable, threshold, by, direction"),
         scenario('threshold = 0.8', 'threshold = 0.8\ncolour = "red"')),
    Case("scenario-draws-wrong-type", run(), ("key 'draws'", "expected an integer, got a string"),
         scenario("draws = 100", 'draws = "many"')),
    Case("scenario-seed-float", run(), ("key 'seed'", "expected an integer, got a number"),
         scenario("seed = 1", "seed = 1.5")),
    Case("scenario-horizon-toml-date", run(), ("key 'horizon'", "expected a string"),
         scenario('horizon = "2027-12"', "horizon = 2027-12-01")),
    Case("scenario-claims-not-tables", run(), ("key 'claims'", "expected an array"),
         {"scenario.toml": 'claims = "all of them"\n' + drop_table(SCENARIO, "[[claims]]")}),
    Case("scenario-weight-nan", run(), ("key 'families.logistic'", "must be in [0, 1], got nan"),
         scenario("logistic = 0.5", "logistic = nan")),
    Case("scenario-weight-inf", run(), ("key 'families.logistic'", "must be in [0, 1], got inf"),
         scenario("logistic = 0.5", "logistic = inf")),
    Case("scenario-weight-negative", run(), ("key 'families.logistic'", "must be in [0, 1], got -0.5"),
         scenario("logistic = 0.5\ngompertz = 0.5", "logistic = -0.5\ngompertz = 1.5")),
    Case("scenario-weights-do-not-sum-to-one", run(), ("key 'families'", "must sum to 1 (they sum to 0.8)"),
         scenario("gompertz = 0.5", "gompertz = 0.3")),
    Case("scenario-draws-zero", run(), ("key 'draws'", "must be in [1, 1e+08]"),
         scenario("draws = 100", "draws = 0")),
    Case("scenario-seed-negative", run(), ("key 'seed'", "must be in [0,"),
         scenario("seed = 1", "seed = -1")),
    Case("scenario-step-months-zero", run(), ("key 'step_months'", "must be in [1, 12]"),
         scenario("step_months = 1", "step_months = 0")),
    Case("scenario-sd-negative", run(), ("key 'volatility.volume.sd'", "must be in [0, 5]"),
         scenario("sd = 0.2", "sd = -0.2")),
    Case("scenario-persistence-one", run(), ("key 'volatility.volume.persistence'", "must be in [0, 1)"),
         scenario("persistence = 0.9 }", "persistence = 1.0 }")),
    Case("scenario-draws-overflow-float", run(), ("key 'draws'", "must be in [1, 1e+08]"),
         scenario("draws = 100", f"draws = {HUGE}")),
    Case("scenario-weight-overflow-float", run(), ("key 'families.logistic'", "must be in [0, 1]"),
         scenario("logistic = 0.5", f"logistic = {HUGE}")),
    Case("scenario-horizon-in-the-past", run(), ("key 'horizon'", "must be after 2024-07"),
         scenario('horizon = "2027-12"', 'horizon = "2024-06"')),
    Case("scenario-horizon-not-a-month", run(), ("key 'horizon'", "month must be 01..12"),
         scenario('horizon = "2027-12"', 'horizon = "2027-13"')),
    Case("scenario-claim-after-horizon", run(),
         ("key 'claims[0].by'", "2028-01 is outside the simulated months 2024-07..2027-12"),
         scenario('by = ["2027-12"]', 'by = ["2028-01"]')),
    Case("scenario-claim-before-first-month", run(), ("key 'claims[0].by'", "outside the simulated months"),
         scenario('by = ["2027-12"]', 'by = ["2020-01"]')),
    Case("scenario-claim-no-dates", run(), ("key 'claims[0].by'", "give at least one month"),
         scenario('by = ["2027-12"]', "by = []")),
    Case("scenario-claim-unknown-variable", run(),
         ("key 'claims[0].variable'", "unknown variable 'happiness'; allowed: daily_tokens, open_share, open_adoption"),
         scenario('variable = "open_adoption"', 'variable = "happiness"')),
    Case("scenario-claim-threshold-nan", run(), ("key 'claims[0].threshold'", "strictly between 0 and 1, got nan"),
         scenario("threshold = 0.8", "threshold = nan")),
    Case("scenario-claim-direction", run(), ("key 'claims[0].direction'", "direction must be 'above' or 'below'"),
         scenario("threshold = 0.8", 'threshold = 0.8\ndirection = "sideways"')),
    Case("scenario-bad-name", run(), ("key 'name'", "name must be non-empty letters, digits"),
         scenario('name = "mini"', 'name = "../../etc/passwd"')),
    Case("scenario-missing-families", run(), ("scenario.toml", "missing required key 'families'"),
         {"scenario.toml": drop_table(SCENARIO, "[families]")}),
    Case("scenario-extends-missing", run(), ("key 'extends'", "nowhere.toml, does not exist"),
         {"scenario.toml": 'extends = "nowhere.toml"\n' + SCENARIO}),
    Case("scenario-extends-cycle", run(), ("key 'extends'", "makes a cycle through"),
         {"scenario.toml": 'extends = "other.toml"\n' + SCENARIO,
          "other.toml": 'extends = "scenario.toml"\n' + SCENARIO}),
    Case("scenario-extends-itself", run(), ("key 'extends'", "makes a cycle through scenario.toml"),
         {"scenario.toml": 'extends = "scenario.toml"\n' + SCENARIO}),
    Case("scenario-extends-not-a-string", run(), ("key 'extends'", "expected the path of another scenario file"),
         {"scenario.toml": "extends = 3\n" + SCENARIO}),
    # The mistake is in the file that is extended: the message must send the user there.
    Case("scenario-extends-bad-parent-key", run(), ("parent.toml", "key 'colour'", "unknown key"),
         {"parent.toml": edit(SCENARIO, "seed = 1", 'seed = 1\ncolour = "blue"'),
          "scenario.toml": 'extends = "parent.toml"\nname = "child"\n'}),
    Case("scenario-missing-file", run("{in}/absent.toml"), ("absent.toml", "scenario file not found")),
    Case("scenario-is-a-folder", run("{in}/scenarios"), ("scenarios", "cannot read this scenario file"),
         setup=folder("scenarios")),
    Case("scenario-not-utf8", run(), ("scenario.toml", "cannot read this scenario file"),
         {"scenario.toml": SCENARIO.encode().replace(b'"mini"', b'"mini\xff"')}),
]

OBSERVATION_CASES = [
    Case("observations-malformed-toml", run_baseline("--observations", "{in}/observations.toml"),
         ("observations.toml", "not valid TOML"), observations('role = "reference"', 'role = "reference')),
    Case("observations-unknown-top-key", run_baseline("--observations", "{in}/observations.toml"),
         ("observations.toml, line 1, key 'version'", "unknown key; allowed here: series, observation"),
         {"observations.toml": "version = 2\n" + OBSERVATIONS_TEXT}),
    Case("observations-unknown-series-key", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'series.fs_enterprise.colour'", "allowed here: definition, role"),
         observations('role = "reference"', 'role = "reference"\ncolour = "blue"')),
    Case("observations-unknown-observation-key", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].colour'", "unknown key; allowed here: id, series, quantity"),
         observations('quote = "较', 'colour = "blue"\nquote = "较')),
    Case("observations-negative-value", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].value'", "must be a finite positive number, got -21999.0"),
         observations("value = 21999", "value = -21999")),
    Case("observations-nan-value", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].value'", "must be a finite positive number, got nan"),
         observations("value = 21999", "value = nan")),
    Case("observations-inf-value-base", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].value_base'", "must be a finite positive number, got inf"),
         observations("value_base = 2.1999e12", "value_base = inf")),
    Case("observations-value-overflows-float", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].value'", "finite positive number"),
         observations("value = 21999", f"value = {HUGE}")),
    Case("observations-end-before-start", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].end'", "end 2024-06-30 is before start 2024-07-01"),
         observations("end = 2024-12-31", "end = 2024-06-30")),
    Case("observations-date-as-string", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].start'", "expected a date like 2025-06-30"),
         observations("start = 2024-07-01", 'start = "2024-07-01"')),
    Case("observations-published-before-window", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].published'", "published before the period it describes began"),
         observations("published = 2025-09-01", "published = 2024-01-01")),
    Case("observations-unknown-unit", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].unit'", "unknown unit 'tokens'; allowed: 亿 tokens/day"),
         observations('unit = "亿 tokens/day"', 'unit = "tokens"')),
    Case("observations-value-base-mismatch", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].value_base'", "is not value x unit"),
         observations("value_base = 2.1999e12", "value_base = 2.1999e11")),
    Case("observations-share-above-100", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[1].value'", "a share must be at most 100%"),
         observations("value = 44.4\nunit = \"%\"\nvalue_base = 0.444", "value = 144.4\nunit = \"%\"\nvalue_base = 1.444")),
    Case("observations-unknown-series", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].series'", "unknown series 'fs'; declared series: fs_enterprise, fs_open_share"),
         observations('series = "fs_enterprise"', 'series = "fs"')),
    Case("observations-unknown-role", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'series.fs_enterprise.role'", "unknown role 'target'; allowed: reference, scaled, context"),
         observations('role = "reference"', 'role = "target"')),
    Case("observations-duplicate-id", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[1].id'", "duplicate id 'fs_daily_2024h2'"),
         observations('id = "fs_open_share_2025h1"', 'id = "fs_daily_2024h2"')),
    Case("observations-missing-file", run_baseline("--observations", "{in}/absent.toml"),
         ("absent.toml", "observation registry not found")),
    Case("observations-as-of-before-any-figure", run_baseline("--as-of", "2024-01-01"),
         ("observations.toml", "no volume observation is left to calibrate on")),
]

PRIORS_CASES = [
    Case("priors-p5-not-below-p95", run_baseline("--priors", "{in}/priors.toml"),
         ("priors.toml", "key 'volume.growth'", "p5 must be less than p95 (got 8.0 and 0.3)"),
         priors("p5 = 0.3, p95 = 8.0", "p5 = 8.0, p95 = 0.3")),
    Case("priors-unknown-dist", run_baseline("--priors", "{in}/priors.toml"),
         ("key 'volume.growth'", "'dist' must be one of lognormal, normal, beta, uniform, fixed (got 'cauchy')"),
         priors('{ dist = "lognormal", p5 = 0.3, p95 = 8.0, why', '{ dist = "cauchy", p5 = 0.3, p95 = 8.0, why')),
    Case("priors-dist-not-a-string", run_baseline("--priors", "{in}/priors.toml"),
         ("key 'volume.growth'", "'dist' must be one of lognormal, normal, beta, uniform, fixed"),
         priors('{ dist = "lognormal", p5 = 0.3, p95 = 8.0, why', '{ dist = ["lognormal"], p5 = 0.3, p95 = 8.0, why')),
    Case("priors-quantile-nan", run_baseline("--priors", "{in}/priors.toml"),
         ("key 'volume.growth'", "'p5' must be a finite number (got nan)"),
         priors("p5 = 0.3, p95 = 8.0", "p5 = nan, p95 = 8.0")),
    Case("priors-quantile-overflows-float", run_baseline("--priors", "{in}/priors.toml"),
         ("key 'volume.growth'", "'p95' must be a finite number"),
         priors("p5 = 0.3, p95 = 8.0", f"p5 = 0.3, p95 = {HUGE}")),
    Case("priors-beta-outside-0-1", run_baseline("--priors", "{in}/priors.toml"),
         ("key 'open.call_weight'", "beta quantiles must lie strictly between 0 and 1"),
         priors('call_weight = { dist = "beta", p5 = 0.3, p95 = 0.98', 'call_weight = { dist = "beta", p5 = 0.3, p95 = 1.5')),
    Case("priors-unknown-key", run_baseline("--priors", "{in}/priors.toml"),
         ("key 'volume.colour'", "unknown key; allowed here: v_ref, growth, ceiling_headroom"),
         priors("[volume]\n", '[volume]\ncolour = { dist = "fixed", value = 1 }\n')),
    Case("priors-missing-series-table", run_baseline("--priors", "{in}/priors.toml"),
         ("priors.toml", "no priors for series 'doubao'; add a [series.doubao] table"),
         {"priors.toml": drop_table(PRIORS_TEXT, "[series.doubao]")}),
    Case("priors-missing-file", run_baseline("--priors", "{in}/absent.toml"), ("absent.toml", "priors file not found")),
]

# A cached posterior at the exact path the calibration would reuse, but unusable.
CACHE_CASES = [
    Case("posterior-cache-garbage", run_baseline(), ("posterior-", "not a readable posterior file", "calibrate --force"),
         setup=plant_garbage),
    Case("posterior-cache-empty-file", run_baseline(), ("posterior-", "not a readable posterior file"),
         setup=plant_empty),
    Case("posterior-cache-truncated", run_baseline(), ("posterior-", "not a readable posterior file"),
         setup=plant_truncated),
    Case("posterior-cache-foreign-netcdf", run_baseline(),
         ("posterior-", "not a tokensim posterior of this version (format None, expected 'tokensim-posterior-2')"), setup=plant_foreign),
    Case("posterior-cache-stale-id", run_baseline(), ("posterior-", "stale posterior", "run 'tokensim calibrate'"),
         setup=plant_stale),
    # Right id and format, but the fits are not there (damaged or hand-edited): refuse, do not crash.
    Case("posterior-cache-without-fits", run_baseline(), ("posterior-", "calibrate"),
         setup=plant_right_id_without_fits),
]

RESULTS_CASES = [
    Case("summarize-missing-file", ("summarize", "{in}/absent.nc"), ("absent.nc", "results file not found")),
    Case("summarize-truncated-netcdf", ("summarize", "{in}/result.nc"), ("result.nc", "not a readable netCDF file"),
         setup=results_truncated),
    Case("summarize-foreign-netcdf", ("summarize", "{in}/result.nc"),
         ("result.nc", "not a tokensim results file (missing daily_tokens, open_share, open_adoption"),
         setup=results_foreign),
    Case("summarize-a-toml-file", ("summarize", "{in}/scenario.toml"), ("scenario.toml", "not a readable netCDF file"),
         {"scenario.toml": SCENARIO}),
    Case("summarize-unknown-format", ("summarize", "{in}/result.nc", "--format", "xml"),
         ("--format", "invalid choice: 'xml' (choose from"), setup=results_fake),
    Case("plot-truncated-netcdf", ("plot", "{in}/result.nc", "--out", "{in}/chart.png", "--observations", "{obs}"),
         ("result.nc", "not a readable netCDF file"), setup=results_truncated),
    Case("plot-foreign-netcdf", ("plot", "{in}/result.nc", "--out", "{in}/chart.png", "--observations", "{obs}"),
         ("result.nc", "not a tokensim results file"), setup=results_foreign),
    # These three need a result tokensim accepts (made once per module from the real posterior).
    Case("plot-missing-observations", ("plot", "{in}/result.nc", "--observations", "{in}/absent.toml"),
         ("absent.toml", "observation registry not found"), setup=results_valid, posterior=True),
    Case("plot-out-under-proc", ("plot", "{in}/result.nc", "--out", "/proc/tokensim/chart.png", "--observations", "{obs}"),
         ("/proc/tokensim/chart.png", "does not exist"), setup=results_valid, posterior=True),
    Case("plot-out-is-a-folder", ("plot", "{in}/result.nc", "--out", "{in}/charts.png", "--observations", "{obs}"),
         ("charts.png", "folder"), setup=results_valid_and_folder, posterior=True),
]

ARGUMENT_CASES = [
    Case("cli-draws-zero", run_baseline("--draws", "0"), ("--draws", "must be at least 1, got 0")),
    Case("cli-draws-not-a-number", run_baseline("--draws", "abc"), ("--draws", "expected a whole number, got 'abc'")),
    Case("cli-draws-negative", run_baseline("--draws", "-5"), ("--draws", "must be at least 1, got -5")),
    Case("cli-draws-above-limit", run_baseline("--draws", "200000000"), ("--draws", "must be between 1 and 100000000")),
    Case("cli-seed-negative", run_baseline("--seed", "-1"), ("--seed", "must be between 0 and 2**63 - 1, got -1")),
    Case("cli-seed-too-large", run_baseline("--seed", str(2**63)), ("--seed", "must be between 0 and 2**63 - 1")),
    Case("cli-as-of-not-a-date", run_baseline("--as-of", "not-a-date"),
         ("--as-of", "expected a date like 2025-06-30, got 'not-a-date'")),
    Case("cli-as-of-impossible-date", run_baseline("--as-of", "2025-02-30"),
         ("--as-of", "expected a date like 2025-06-30, got '2025-02-30'")),
    Case("cli-unknown-command", ("frobnicate",), ("tokensim", "invalid choice: 'frobnicate' (choose from")),
    Case("cli-no-command", (), ("tokensim", "the following arguments are required: command")),
    Case("cli-unknown-option", run_baseline("--colour", "red"), ("unrecognized arguments: --colour red",)),
    Case("cli-two-scenarios", ("run", "{baseline}", "{baseline}"), ("unrecognized arguments:",)),
    Case("cli-calibrate-unknown-cut", ("calibrate", "--cut", "sideways", "--posteriors", "{posteriors}"),
         ("--cut", "invalid choice: 'sideways' (choose from")),
    Case("cli-out-not-nc", ("run", "{baseline}", "--out", "{in}/result.txt", "--posteriors", "{posteriors}"),
         ("--out", "the results file must end in .nc")),
    Case("cli-out-is-a-folder", ("run", "{baseline}", "--out", "{in}/folder.nc", "--posteriors", "{posteriors}"),
         ("--out", "folder.nc", "is a folder, not a file"), setup=folder("folder.nc")),
]

# Only found when writing: these need a real posterior so that the run gets that far.
OUTPUT_CASES = [
    Case("output-folder-under-proc",
         ("run", "{baseline}", "--out", "/proc/tokensim/out.nc", "--draws", "50", "--observations", "{obs}",
          "--priors", "{priors}", "--analogs", "{analogs}", "--compute", "{compute}", "--posteriors", "{real}"),
         ("/proc/tokensim/out.nc", "does not exist"), posterior=True),
    Case("output-parent-is-a-file",
         ("run", "{baseline}", "--out", "{in}/afile/out.nc", "--draws", "50", "--observations", "{obs}",
          "--priors", "{priors}", "--analogs", "{analogs}", "--compute", "{compute}", "--posteriors", "{real}"),
         ("afile/out.nc", "is a file, not a folder"), setup=regular_file("afile"), posterior=True),
    # The results file is writable but the chart next to it is not: nothing may be written at all
    # (in particular the earlier result.nc must survive), and the error must say why.
    Case("output-chart-path-is-a-folder", run("{baseline}", posteriors="{real}"),
         ("result.png", "folder"), setup=png_path_is_a_folder, posterior=True),
]

# --------------------------------------------------------------------------------------------------
# Issue 14: configs that passed validation and crashed later, files that are not files, duplicates
# --------------------------------------------------------------------------------------------------

def fifo(name: str) -> Callable:
    def make(ctx) -> None:
        os.mkfifo(ctx.inputs / name)
    return make


NESTED = "name = " + "[" * 500 + "]" * 500 + "\n"
EVENT = """
[[events]]
name = "shock"
target = "volume"
probability = 1
start = "2026-01"
size = { dist = "fixed", value = 1000 }
"""
ANOTHER_OBSERVATION = OBSERVATIONS_TEXT[OBSERVATIONS_TEXT.index('[[observation]]\nid = "fs_daily_2024h2"'):
                                        OBSERVATIONS_TEXT.index('[[observation]]\nid = "fs_open_share')]


def another_observation(ident: str, value: str = "21999", base: str = "2.1999e12") -> dict[str, str]:
    """The registry with its first observation repeated under ``ident`` (with another value, if given)."""
    copy = (ANOTHER_OBSERVATION.replace('id = "fs_daily_2024h2"', f'id = "{ident}"')
            .replace("value = 21999", f"value = {value}").replace("value_base = 2.1999e12", f"value_base = {base}"))
    return {"observations.toml": OBSERVATIONS_TEXT + "\n" + copy}


INPUT_CASES = [
    Case("scenario-claim-off-a-12-month-grid", run(),
         ("key 'claims[0].by'", "2027-12 is not a simulated month", "step_months = 12", "2027-07"),
         scenario("step_months = 1", "step_months = 12")),
    Case("scenario-claim-off-a-5-month-grid", run(),
         ("key 'claims[0].by'", "not a simulated month: with step_months = 5", "the nearest are 2027-11"),
         scenario("step_months = 1", "step_months = 5")),
    Case("scenario-claim-off-a-7-month-grid", run(),
         ("key 'claims[0].by'", "not a simulated month: with step_months = 7"),
         scenario("step_months = 1", "step_months = 7")),
    Case("scenario-claim-repeated-month", run(), ("key 'claims[0].by'", "2027-12 is given more than once"),
         scenario('by = ["2027-12"]', 'by = ["2027-12", "2026-12", "2027-12"]')),
    Case("scenario-event-size-unbounded", run(),
         ("key 'events[0].size'", "by at most 10", "this size reaches 1000"), {"scenario.toml": SCENARIO + EVENT}),
    Case("scenario-event-size-heavy-tail", run(), ("key 'events[0].size'", "by at most 10"),
         {"scenario.toml": SCENARIO + EVENT.replace('{ dist = "fixed", value = 1000 }',
                                                    '{ dist = "lognormal", p5 = 0.1, p95 = 5 }')}),
    Case("scenario-too-many-events", run(), ("key 'events'", "at most 20 events, got 21"),
         {"scenario.toml": SCENARIO + EVENT.replace("value = 1000", "value = 0.1") * 21}),
    Case("scenario-is-a-fifo", run(), ("scenario.toml", "not a regular file"), setup=fifo("scenario.toml")),
    Case("scenario-is-dev-zero", run("/dev/zero"), ("/dev/zero", "cannot read this scenario file", "not a regular file")),
    Case("scenario-too-large", run(), ("scenario.toml", "at most 4,194,304 are allowed"),
         {"scenario.toml": SCENARIO + "# padding\n" * 500_000}),
    Case("scenario-nested-500-deep", run(), ("scenario.toml", "nested more than 16 levels deep"),
         {"scenario.toml": NESTED}),
    Case("scenario-nested-20-deep", run(), ("scenario.toml", "nested more than 16 levels deep"),
         {"scenario.toml": SCENARIO + "deep = " + "[" * 20 + "]" * 20 + "\n"}),
    Case("scenario-extends-dev-zero", run(), ("key 'extends'", "/dev/zero, is not a regular file"),
         {"scenario.toml": 'extends = "/dev/zero"\n' + SCENARIO}),
    Case("observations-is-dev-zero", run_baseline("--observations", "/dev/zero"),
         ("/dev/zero", "cannot read this observation registry", "not a regular file")),
    Case("observations-is-a-fifo", run_baseline("--observations", "{in}/observations.toml"),
         ("observations.toml", "not a regular file"), setup=fifo("observations.toml")),
    Case("observations-conflicting-duplicate", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[2].id'", "'fs_daily_again' observes what 'fs_daily_2024h2' already does"),
         another_observation("fs_daily_again", "30000", "3.0e12")),
    Case("observations-copy-under-a-new-id", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[2].id'", "observes what 'fs_daily_2024h2' already does", "subject"),
         another_observation("fs_daily_copy")),
    Case("observations-javascript-url", run_baseline("--observations", "{in}/observations.toml"),
         ("key 'observation[0].url'", "a source link must be an http or https address", "javascript:"),
         observations('quote = "较', 'url = "javascript:alert(document.cookie)"\nquote = "较')),
    Case("priors-is-dev-zero", run_baseline("--priors", "/dev/zero"), ("/dev/zero", "not a regular file")),
    Case("analogs-is-dev-zero", run_baseline("--analogs", "/dev/zero"),
         ("/dev/zero", "cannot read this analogs file", "not a regular file")),
    Case("compute-figures-is-a-fifo", run_baseline("--compute", "{in}/compute.toml"),
         ("compute.toml", "cannot read this compute figures file", "not a regular file"), setup=fifo("compute.toml")),
    Case("posteriors-is-a-file", run_baseline("--posteriors", "{in}/posteriors.txt"),
         ("--posteriors", "posteriors.txt", "must be a folder"), setup=regular_file("posteriors.txt")),
    Case("posteriors-cannot-be-created", run_baseline("--posteriors", "/proc/tokensim-posteriors"),
         ("--posteriors /proc/tokensim-posteriors", "cannot save a posterior in this folder")),
]


# A real posterior, changed after it was written: with its content hash left as it was (an edit, a flipped
# bit) or recomputed through the public API (a careful forgery), it must be refused, never reused.

def real_posterior(ctx) -> Path:
    target = posterior_file(ctx.posteriors)
    shutil.copyfile(posterior_file(ctx.real), target)
    return target


def h5_edit(change: Callable) -> Callable:
    """Copy the real posterior into the case's cache and change it in place with h5py (hashes untouched)."""
    def make(ctx) -> None:
        import h5py

        with h5py.File(real_posterior(ctx), "r+") as handle:
            change(handle)
    return make


def _one_draw(handle) -> None:
    handle["open_call_weighted/posterior/adoption_headroom"][0, 0] = 0.999  # how far adoption may go


def _every_adoption_draw(handle) -> None:
    handle["open_call_weighted/posterior/adoption_headroom"][...] = 1.0  # every path adopts as far as it can


def _stored_divergences(handle) -> None:
    handle["logistic/diagnostics"].attrs["divergences"] = 999


def flip_a_bit_of_the_draws(ctx) -> None:
    import h5py

    path = real_posterior(ctx)
    with h5py.File(path, "r") as handle:
        draws = handle["gompertz/posterior/growth"]
        offset = draws.id.get_offset() if draws.chunks is None else draws.id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 40] ^= 0x10
    path.write_bytes(bytes(data))


def forged(change: Callable) -> Callable:
    """Load the real posterior, change it, save it with fresh content hashes (a forgery the hash cannot see)."""
    def make(ctx) -> None:
        from sim.calibration.posterior import Posterior, load_posterior

        posterior = load_posterior(real_posterior(ctx))
        fits, diagnostics = dict(posterior.fits), dict(posterior.diagnostics)
        change(fits, diagnostics)
        Posterior(posterior.id, fits, diagnostics, posterior.attrs, posterior.groups).save(posterior_file(ctx.posteriors))
    return make


def _rhat_5(fits, diagnostics) -> None:
    diagnostics["open_call_weighted"] = diagnostics["open_call_weighted"].copy(deep=True)
    diagnostics["open_call_weighted"]["rhat"][0] = 5.0


def _divergent(fits, diagnostics) -> None:
    diagnostics["richards"] = diagnostics["richards"].assign_attrs(divergences=999)


def _nan_draw(fits, diagnostics) -> None:
    fits["logistic"] = fits["logistic"].copy(deep=True)
    fits["logistic"]["growth"][1, 7] = np.nan


def _two_draws(fits, diagnostics) -> None:
    for fit in fits:
        fits[fit] = fits[fit].isel(chain=[0], draw=[0, 1])


TAMPERED_POSTERIOR_CASES = [
    Case("posterior-one-draw-edited", run_baseline(),
         ("posterior-", "changed since it was written", "no longer matches the SHA-256", "calibrate --force"),
         setup=h5_edit(_one_draw), posterior=True),
    Case("posterior-adoption-draws-edited", run_baseline(),
         ("posterior-", "changed since it was written"),
         setup=h5_edit(_every_adoption_draw), posterior=True),
    Case("posterior-stored-diagnostics-edited", run_baseline(), ("posterior-", "changed since it was written"),
         setup=h5_edit(_stored_divergences), posterior=True),
    Case("posterior-bit-flipped", run_baseline(), ("posterior-", "calibrate --force"),
         setup=flip_a_bit_of_the_draws, posterior=True),
    Case("posterior-forged-rhat-5", run_baseline(),
         ("posterior-", "fit 'open_call_weighted' does not pass the convergence gate", "R-hat 5.0000 >= 1.01",
          "calibrate --force"),
         setup=forged(_rhat_5), posterior=True),
    Case("posterior-forged-999-divergences", run_baseline(),
         ("posterior-", "fit 'richards' does not pass the convergence gate", "999 divergent transitions"),
         setup=forged(_divergent), posterior=True),
    Case("posterior-forged-nan-draw", run_baseline(),
         ("posterior-", "the draws of logistic.growth are not all finite numbers"),
         setup=forged(_nan_draw), posterior=True),
    Case("posterior-forged-two-draws", run_baseline(),
         ("posterior-", "holds 1 chains of 2 draws, where its settings ask for 4 of 1000"),
         setup=forged(_two_draws), posterior=True),
]


# Results files tampered with or cut short: summarize, plot and compare refuse each, naming what is wrong.

def tampered_result(change: Callable) -> Callable:
    def make(ctx) -> None:
        with xr.open_dataset(ctx.real_result) as opened:
            dataset = opened.load()
        change(dataset).to_netcdf(ctx.inputs / "result.nc", engine="h5netcdf")
    return make


def _attrs(dataset: xr.Dataset, **changes) -> xr.Dataset:
    """``dataset`` with attributes changed (``None`` removes one)."""
    attrs = {key: value for key, value in {**dataset.attrs, **changes}.items() if value is not None}
    changed = dataset.copy()
    changed.attrs = attrs
    return changed


def _claims(dataset: xr.Dataset, change: Callable) -> xr.Dataset:
    entries = json.loads(dataset.attrs["claims"])
    change(entries)
    return _attrs(dataset, claims=json.dumps(entries))


RESULT_TAMPERINGS = {
    "claims-not-json": (lambda d: _attrs(d, claims="[{'name': 'x'"), "attribute 'claims' is not JSON"),
    "claims-not-a-list": (lambda d: _attrs(d, claims='{"name": "x"}'), "must be a list of claims"),
    "claims-unknown-claim": (lambda d: _claims(d, lambda e: e[0].update(name="invented")),
                             "attribute 'claims' names ['invented'"),
    "claims-date-outside-run": (lambda d: _claims(d, lambda e: e[0].update(by=["2040-12"])),
                                "is judged by '2040-12', which is not a month"),
    "claims-date-not-a-month": (lambda d: _claims(d, lambda e: e[0].update(by=[2030])), "is judged by 2030"),
    "claims-missing-key": (lambda d: _claims(d, lambda e: e[0].pop("threshold")), "each with the keys"),
    "claims-unknown-variable": (lambda d: _claims(d, lambda e: e[0].update(variable="happiness")),
                                "has variable 'happiness'"),
    "claims-threshold-text": (lambda d: _claims(d, lambda e: e[0].update(threshold="high")),
                              "has threshold 'high', expected a number"),
    "missing-paths-simulated": (lambda d: _attrs(d, paths_simulated=None), "attribute 'paths_simulated' is missing"),
    "paths-simulated-zero": (lambda d: _attrs(d, paths_simulated=0), "attribute 'paths_simulated' is 0"),
    "missing-quantiles": (lambda d: d.drop_vars("daily_tokens_quantiles"),
                          "variable 'daily_tokens_quantiles' is missing"),
    "missing-claim-probability": (lambda d: d.drop_vars("claim_probability"),
                                  "variable 'claim_probability' is missing"),
    "integer-time": (lambda d: d.assign_coords(time=np.arange(d.sizes["time"])),
                     "variable 'time' holds int64 values, expected dates"),
    "string-quantiles": (lambda d: d.assign_coords(quantile=[str(q) for q in d["quantile"].values]),
                         "variable 'quantile' holds"),
    "quantile-levels-missing": (lambda d: d.isel(quantile=slice(0, 3)), "the quantile levels [0.25, 0.5"),
    "integer-calibration-id": (lambda d: _attrs(d, calibration_id=12345), "attribute 'calibration_id' is 12345"),
    "text-seed": (lambda d: _attrs(d, seed="seven"), "attribute 'seed' is 'seven'"),
    "transposed-paths": (lambda d: d.assign(daily_tokens=d["daily_tokens"].transpose("time", "draw")),
                         "variable 'daily_tokens' has dimensions ('time', 'draw')"),
    "text-paths": (lambda d: d.assign(open_share=d["open_share"].astype(str)), "variable 'open_share' holds"),
    "probability-above-one": (lambda d: d.assign(claim_probability=d["claim_probability"] * 3),
                              "claim_probability must hold shares between 0 and 1"),
    "time-backwards": (lambda d: d.isel(time=slice(None, None, -1)), "the time axis must hold at least one month"),
    "integer-scenario": (lambda d: _attrs(d, scenario=7), "attribute 'scenario' is 7"),
}


def _results_cases() -> list[Case]:
    commands = {
        "summarize": ("summarize", "{in}/result.nc"),
        "plot": ("plot", "{in}/result.nc", "--out", "{in}/chart.png", "--observations", "{obs}"),
        "compare": ("compare", "{in}/result.nc", "{in}/result.nc", "--out", "{in}/compare.png"),
    }
    return [Case(f"{command}-tampered-{name}", argv, ("result.nc", "not a valid tokensim results file", expected),
                 setup=tampered_result(change), posterior=True)
            for name, (change, expected) in RESULT_TAMPERINGS.items() for command, argv in commands.items()]


TAMPERED_RESULTS_CASES = [
    *_results_cases(),
    Case("summarize-dev-zero", ("summarize", "/dev/zero"), ("/dev/zero", "not a regular file")),
    Case("summarize-a-fifo", ("summarize", "{in}/result.nc"), ("result.nc", "not a regular file"),
         setup=fifo("result.nc")),
]

CASES = [*SCENARIO_CASES, *OBSERVATION_CASES, *PRIORS_CASES, *CACHE_CASES, *RESULTS_CASES, *ARGUMENT_CASES,
         *OUTPUT_CASES, *INPUT_CASES, *TAMPERED_POSTERIOR_CASES, *TAMPERED_RESULTS_CASES]
EARLIER_PNG = b"\x89PNG\r\n\x1a\n an earlier chart, kept as it was"


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every file (with its bytes) and folder under ``root``, hidden ones included."""
    return {str(p.relative_to(root)): ("<folder>" if p.is_dir() else p.read_bytes() if p.is_file() else "<special>")
            for p in sorted(root.rglob("*"))}


def _refuse_sampling(*args, **kwargs):
    raise AssertionError("a bad input reached NUTS sampling: it should have been refused before calibrating")


def test_the_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def real_result(posterior_dir, tmp_path_factory) -> Path:
    """A small result written by ``tokensim run`` itself (the cases that need one copy it)."""
    out = tmp_path_factory.mktemp("real_result") / "result.nc"
    log = logging.getLogger("tokensim")
    handlers, level = log.handlers[:], log.level
    try:
        code = main(["-q", "run", str(BASELINE), "--draws", "200", "--no-plot", "--out", str(out),
                     "--observations", str(OBSERVATIONS), "--priors", str(PRIORS), "--posteriors", str(posterior_dir)])
    finally:
        log.handlers[:], log.level = handlers, level
    assert code == 0 and out.is_file()
    return out


def test_the_base_files_are_valid(tmp_path):
    """Each case breaks one thing in these: they must be valid themselves."""
    from sim.data.observations import load_observations
    from sim.data.priors import load_priors

    (tmp_path / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "observations.toml").write_text(OBSERVATIONS_TEXT, encoding="utf-8")
    assert load_scenario(tmp_path / "scenario.toml").name == "mini"
    assert len(load_observations(tmp_path / "observations.toml").observations) == 2
    load_priors(PRIORS)


def test_the_real_result_is_accepted(real_result, tmp_path, capsys):
    """The plot cases break one thing around this result: it must be accepted itself."""
    assert main(["summarize", str(real_result)]) == 0
    assert main(["plot", str(real_result), "--out", str(tmp_path / "chart.png"), "--observations", str(OBSERVATIONS)]) == 0
    assert (tmp_path / "chart.png").stat().st_size > 10_000
    capsys.readouterr()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_exits_2_names_the_fault_and_writes_nothing(case: Case, tmp_path, capsys, monkeypatch, request):
    real = request.getfixturevalue("posterior_dir") if case.posterior else None
    ctx = SimpleNamespace(inputs=tmp_path / "inputs", out=tmp_path / "out" / "result.nc",
                          posteriors=tmp_path / "posteriors", real=real,
                          real_result=request.getfixturevalue("real_result") if case.posterior else None)
    for folder_path in (ctx.inputs, ctx.out.parent, ctx.posteriors, tmp_path / "cwd"):
        folder_path.mkdir()
    write_fake_results(ctx.out)  # an earlier result at the --out path
    ctx.out.with_suffix(".png").write_bytes(EARLIER_PNG)
    for name, content in case.files.items():
        target = ctx.inputs / name
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content, encoding="utf-8")
    if case.setup is not None:
        case.setup(ctx)
    earlier = ctx.out.read_bytes() if ctx.out.is_file() else None
    before = _tree(tmp_path)
    real_before = _tree(real) if real else None
    argv = [arg.format(**{"in": ctx.inputs, "out": ctx.out, "posteriors": ctx.posteriors, "real": real,
                          "obs": OBSERVATIONS, "priors": PRIORS, "analogs": ANALOGS, "compute": COMPUTE,
                          "baseline": BASELINE}) for arg in case.argv]

    monkeypatch.chdir(tmp_path / "cwd")  # anything written to a default relative path lands in the tree
    monkeypatch.setattr("pymc.sample", _refuse_sampling)
    # Each in-process main() configures the 'tokensim' logger once; give it this test's stderr.
    monkeypatch.setattr(logging.getLogger("tokensim"), "handlers", [])
    capsys.readouterr()
    try:
        code = main(argv)
    except BaseException as exc:  # noqa: BLE001 - anything but a UserError is a traceback for the user
        after = _tree(tmp_path)
        changed = sorted(name for name in {*before, *after} if before.get(name) != after.get(name))
        pytest.fail(f"tokensim {' '.join(argv)}\nraised {type(exc).__name__}: {exc} (a traceback, not exit 2); "
                    f"files created, changed or removed: {changed or 'none'}")
    out, err = capsys.readouterr()

    assert code == 2, f"exit status {code}, stderr: {err}"
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", f"printed on stdout: {out!r}"
    # Progress lines ('tokensim: reusing posterior ...') may come first; the error paragraph follows them.
    error = re.sub(r"\A(tokensim: (?!error:)[^\n]*\n)*", "", err)
    assert error.startswith("tokensim: error:"), err
    for expected in case.expect:
        assert expected in error, f"{expected!r} is not in the message:\n{err}"
    after = _tree(tmp_path)
    debris = [name for name in after if re.search(r"(^|/)\.[^/]*\.tmp$", name)]
    assert not debris, f"temporary files left behind: {debris}"
    assert sorted(after) == sorted(before), "files were created or removed"
    if earlier is not None:
        assert ctx.out.read_bytes() == earlier, "the earlier result at --out was changed"
    assert after == before, "a file was changed"
    if real is not None:
        assert _tree(real) == real_before, "the posterior cache was changed"


# --------------------------------------------------------------------------------------------------
# Property-based: the scenario parser and the distribution parser never crash
# --------------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value) -> str:
    """An inline TOML value (tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(document: dict) -> str:
    """A TOML document: scalars first, then ``[table]`` sections and ``[[array]]`` entries."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in document.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(e, dict) for e in v))]
    for key, value in document.items():
        if isinstance(value, dict):
            lines += ["", f"[{_toml_key(key)}]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())]
        elif isinstance(value, list) and value and all(isinstance(e, dict) for e in value):
            for entry in value:
                lines += ["", f"[[{_toml_key(key)}]]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_keys = st.one_of(st.sampled_from(["name", "sd", "persistence", "by", "x", "logistic", "dist", "p5", "extends"]),
                  st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=8))
_months = st.one_of(
    st.sampled_from(["2024-06", "2024-07", "2025-06", "2025-07", "2027-12", "2030-12", "2100-12", "2101-01",
                     "0000-01", "2027-13", "2027-00", "-001-01", "2027-1x", "２０２７-12"]),
    st.from_regex(r"\A-?[0-9]{1,5}-[0-9]{1,3}\Z"),
)
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1), st.integers(),
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 10**30, int(HUGE)]),
)
_scalars = st.one_of(st.booleans(), _numbers, _text, _months, st.dates())
_anything = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
                         max_leaves=6)


def _sometimes(strategy):
    """Usually the right kind of value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, _anything)


@st.composite
def scenario_documents(draw) -> dict:
    document = {}
    fields = {
        "name": _sometimes(st.sampled_from(["fuzz", "a-b_c", "", "../x"])),
        "description": _sometimes(_text),
        "horizon": _sometimes(_months),
        "step_months": _sometimes(st.integers(-2, 14)),
        "draws": _sometimes(st.integers(-2, 10**9)),
        "seed": _sometimes(st.integers(-2, 2**64)),
        "families": _sometimes(st.dictionaries(st.sampled_from(["exponential", "logistic", "gompertz", "linear"]),
                                               _sometimes(st.floats(0, 1)), max_size=4)),
        "volatility": _sometimes(st.dictionaries(
            st.sampled_from(["volume", "share", "adoption", "prices"]),
            _sometimes(st.dictionaries(st.sampled_from(["sd", "persistence", "drift"]), _numbers, max_size=3)),
            max_size=4)),
        "claims": _sometimes(st.lists(_sometimes(st.fixed_dictionaries(
            {"name": _text, "variable": st.sampled_from(["daily_tokens", "open_share", "open_adoption", "x"]),
             "threshold": _numbers, "by": _sometimes(st.lists(_months, max_size=3))},
            optional={"direction": _sometimes(st.sampled_from(["above", "below", "up"])), "colour": _anything})),
            max_size=3)),
        "extends": st.sampled_from(["scenario.toml", "missing.toml", ".", "/", "../", "a\x00b"]),
        "colour": _anything,
    }
    for key, strategy in fields.items():
        present = draw(st.integers(0, 9)) < (1 if key in ("extends", "colour") else 8)
        if present:
            document[key] = draw(strategy)
    return document


def _load_or_user_error(path: Path) -> None:
    try:
        result = load_scenario(path)
    except UserError as error:
        assert str(error)
    else:
        assert isinstance(result, Scenario)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=scenario_documents())
@example(document={"name": "x", "horizon": "2027-12", "draws": int(HUGE), "seed": 1, "families": {"logistic": 1.0}})
@example(document={"name": "x", "horizon": "2027-12", "draws": 1, "seed": 1, "families": {"logistic": int(HUGE)}})
@example(document={"extends": "a\x00b", "name": "x"})
def test_scenario_parser_returns_a_scenario_or_raises_a_user_error(document, tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    _load_or_user_error(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(SCENARIO)), st.integers(0, 3),
                                st.text(alphabet='=[]{}"\'#.,-_ \n0123456789abcdefnitx', max_size=3)), max_size=4))
def test_scenario_parser_survives_edited_text(edits, tmp_path):
    """The valid scenario with a few characters deleted or inserted here and there."""
    text = SCENARIO
    for position, deleted, inserted in edits:
        position = min(position, len(text))
        text = text[:position] + inserted + text[position + deleted:]
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    _load_or_user_error(path)


_spec_values = st.one_of(_numbers, _text, st.booleans(), st.lists(_numbers, max_size=2),
                         st.dictionaries(_keys, _numbers, max_size=2))


@st.composite
def distribution_specs(draw):
    spec = {}
    kind = draw(st.one_of(st.sampled_from(["lognormal", "normal", "beta", "uniform", "fixed"]), _spec_values))
    if draw(st.integers(0, 9)) < 9:
        spec["dist"] = kind
    for key in ("p5", "p95", "low", "high", "value"):
        if draw(st.booleans()):
            spec[key] = draw(st.one_of(_numbers, st.floats(-10, 10), st.floats(0, 1), _spec_values))
    if draw(st.integers(0, 4)) == 0:
        spec["why"] = draw(st.one_of(_text, _spec_values))
    if draw(st.integers(0, 4)) == 0:
        spec[draw(_keys)] = draw(_spec_values)
    return spec


@settings(max_examples=500, deadline=None)
@given(spec=st.one_of(distribution_specs(), _anything))
@example(spec={"dist": ["lognormal"], "p5": 1.0, "p95": 2.0})
@example(spec={"dist": {}, "p5": 1.0, "p95": 2.0})
@example(spec={"dist": "fixed", "value": int(HUGE)})
@example(spec={"dist": "lognormal", "p5": 1, "p95": int(HUGE)})
def test_parse_distribution_returns_a_distribution_or_raises_value_error(spec):
    try:
        result = parse_distribution(spec)
    except ValueError as error:
        assert str(error)
    else:
        assert isinstance(result, Distribution)
