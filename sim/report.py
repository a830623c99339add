"""``tokensim report``: one self-contained HTML file with everything a reader needs.

For each scenario the report reuses ``results/<name>.nc`` when it was made from the same scenario
text, calibration, seed and number of paths, and otherwise simulates it now (:func:`sim.api.run`;
the calibration is cached) and writes that file; it says which. It then assembles the sections of
:data:`SECTIONS` (forecast tables and fan charts, claims in words with their crossing-date charts,
the scenario comparison, the backtest and sensitivity results if computed, the data sources and the
provenance) into one HTML page: figures are embedded as base64 PNG, there is no external CSS, script
or font, every text is escaped, and the file is written atomically. :func:`screenshot` renders the
page in headless Chromium, so what a reader sees can be checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import xarray as xr

from sim.core.errors import UserError
from sim.core.files import atomic_write, load_netcdf, writable
from sim.core.paths import BACKTEST, OBSERVATIONS, POSTERIORS, PRIORS, RESULTS
from sim.core.provenance import SOURCE, utc_now
from sim.data.observations import ObservationSet
from sim.data.priors import Priors
from sim.scenarios.scenario import Scenario

CHROMIUM = Path("/usr/bin/chromium")
TOP_FACTORS = 5
STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #1f5f99; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; vertical-align: top; }
th { background: #eef3f8; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .8em; }
p.note { color: #555; font-size: .9em; } p.claim { background: #f3f8f3; padding: .6em; border-left: 4px solid #2e7d32; }
nav li { display: inline; margin-right: 1em; }
div.row { display: flex; gap: 1em; align-items: flex-start; } div.grow { flex: 1; min-width: 0; }
"""


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario of the report: its results, where they came from, and its sensitivity results."""

    scenario: Scenario
    dataset: xr.Dataset
    origin: str
    results_path: Path
    sensitivity: xr.Dataset | None
    sensitivity_path: Path


@dataclass(frozen=True)
class ReportInputs:
    """Everything the HTML is built from."""

    results: tuple[ScenarioResult, ...]
    observations: ObservationSet
    priors: Priors
    backtest: xr.Dataset | None
    backtest_path: Path
    command: str
    generated: str


def check_output(out: str | Path) -> Path:
    """The report path, refused (before anything runs) unless it is an .html file, not a folder."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"the report must be an .html file, got {out.name!r}", where="-o/--out")
    return writable((out,), "-o/--out")[0]


def _matches(path: Path, scenario: Scenario, calibration_id: str, seed: int, draws: int) -> bool:
    """Whether ``path`` holds results of exactly this scenario text, calibration, seed and size."""
    from sim.engine.results import open_results

    if not path.is_file():
        return False
    try:
        attrs = open_results(path).attrs
    except UserError:
        return False
    return (attrs.get("scenario_sha256") == scenario.sha256 and attrs.get("calibration_id") == calibration_id
            and int(attrs.get("seed", -1)) == seed and int(attrs.get("paths_simulated", -1)) == draws)


def scenario_result(scenario: Scenario, calibration_id: str, results_dir: Path, registry: ObservationSet, *,
                    draws: int | None = None, seed: int | None = None, **calibration) -> ScenarioResult:
    """Reuse ``results_dir/<name>.nc`` if it matches the scenario, or simulate it now and write it with
    its fan chart ``<name>.png``, as ``tokensim run`` does (so the pair never disagrees)."""
    from sim.api import run
    from sim.engine.results import open_results
    from sim.plots.fan import fan_chart, save_figure

    path = results_dir / f"{scenario.name}.nc"
    seed, draws = scenario.seed if seed is None else seed, scenario.draws if draws is None else draws
    if _matches(path, scenario, calibration_id, seed, draws):
        dataset = open_results(path)
        origin = f"reused {path} (same scenario text, calibration {calibration_id[:12]}, seed and paths)"
    else:
        why = "none existed" if not path.is_file() else "the existing one was made from other inputs"
        dataset = run(scenario, draws=draws, seed=seed, out=path, **calibration)
        save_figure(fan_chart(dataset, registry), path.with_suffix(".png"))
        origin = f"simulated now and written to {path} and its fan chart ({why})"
    sensitivity_path = results_dir / f"{scenario.name}-sensitivity.nc"
    sensitivity = load_netcdf(sensitivity_path, "", "not a readable sensitivity results file") \
        if sensitivity_path.is_file() else None
    return ScenarioResult(scenario, dataset, origin, path, sensitivity, sensitivity_path)


def gather(scenario_paths: Sequence[str | Path], *, results_dir: str | Path = RESULTS,
           backtest: str | Path = BACKTEST, observations: str | Path = OBSERVATIONS, priors: str | Path = PRIORS,
           posteriors: str | Path = POSTERIORS,
           as_of: dt.date | None = None, cut: str = "published", settings=None, draws: int | None = None,
           seed: int | None = None, command: str = "") -> ReportInputs:
    """Load every scenario (all errors first), calibrate once, then reuse or run each scenario."""
    from sim.calibration.calibrate import calibrate
    from sim.calibration.inputs import SamplerSettings
    from sim.data.observations import load_observations
    from sim.data.priors import load_priors
    from sim.scenarios.scenario import load_scenario

    scenarios = [load_scenario(path) for path in scenario_paths]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        repeated = ", ".join(sorted({n for n in names if names.count(n) > 1}))
        raise UserError(f"two scenario files share a name ({repeated}); each scenario appears once", where="SCENARIO")
    registry, prior_file = load_observations(observations), load_priors(priors)
    backtest = Path(backtest)
    backtest_data = load_netcdf(backtest, "", "not a readable backtest results file") if backtest.is_file() else None
    settings = settings or SamplerSettings()
    options = dict(observations=observations, priors=priors, posteriors=posteriors, as_of=as_of, cut=cut,
                   settings=settings)
    posterior, _ = calibrate(observations, priors, posteriors, as_of=as_of, cut=cut, settings=settings)
    results = tuple(scenario_result(s, posterior.id, Path(results_dir), registry, draws=draws, seed=seed,
                                    **options) for s in scenarios)
    return ReportInputs(results, registry, prior_file, backtest_data, backtest, command,
                        utc_now())


# --- HTML pieces ------------------------------------------------------------------------------------

def figure_html(figure, alt: str) -> str:
    """A matplotlib figure as an embedded base64 PNG ``<img>`` (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}" />'


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        text = "" if np.isnan(value) else f"{value:.4g}"
        return f'<td class="num">{escape(text)}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def table_html(frame) -> str:
    """A pandas DataFrame as an escaped HTML table (its index as leading columns)."""
    frame = frame.reset_index() if any(name is not None for name in frame.index.names) else frame
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def paragraph(text: str, kind: str = "") -> str:
    return f'<p class="{kind}">{escape(text)}</p>' if kind else f"<p>{escape(text)}</p>"


def _quantile_frame(dataset: xr.Dataset):
    """The year-end quantile table in display units (T tokens/day, %)."""
    from sim.analysis.tables import DISPLAY, quantile_frame

    frame = quantile_frame(dataset).reset_index()
    divisors = frame["variable"].map(lambda v: DISPLAY[v][0])
    for column in [c for c in frame.columns if c.startswith("p")]:
        frame[column] = frame[column] / divisors
    frame["unit"] = frame["variable"].map(lambda v: DISPLAY[v][1])
    frame["time"] = frame["time"].astype(str).str[:7]
    return frame.rename(columns={"time": "month"})


# --- sections -----------------------------------------------------------------------------------------

def _scenarios_section(inputs: ReportInputs) -> str:
    from sim.plots.fan import fan_chart

    parts = []
    for item in inputs.results:
        ds = item.dataset
        parts += [f"<h3>{escape(item.scenario.name)}</h3>", paragraph(item.scenario.description),
                  paragraph(f"Results: {item.origin}. {int(ds.attrs['paths_simulated']):,} paths; family weights "
                            f"{ds.attrs.get('family_weights', '')}.", "note"),
                  '<div class="row"><div><h4>Year-end quantiles over all paths</h4>',
                  table_html(_quantile_frame(ds)), '</div><div class="grow">',
                  figure_html(fan_chart(ds, inputs.observations), f"fan chart of {item.scenario.name}"),
                  "</div></div>"]
    return "".join(parts)


def _claims_section(inputs: ReportInputs) -> str:
    from sim.analysis.narrative import claim_paragraph, prior_distributions
    from sim.analysis.tables import claims_frame
    from sim.engine.results import claims_from_attr
    from sim.plots.claims import crossing_chart

    parts = [paragraph("P(crossed by a date) is the share of all simulated paths in which the claim has held by "
                       "then; the crossing-date chart shows when paths first cross. Paths that never cross count "
                       "as crossing after the horizon.", "note")]
    for item in inputs.results:
        ds, scenario = item.dataset, item.scenario
        priors = prior_distributions(inputs.priors, scenario.assumptions)
        replaced = [name for name, _ in scenario.assumptions]
        command = f"tokensim sensitivity {scenario.path}"
        claims = claims_frame(ds)
        if len(claims):
            claims["probability"] = claims["probability"].map(lambda p: f"{p:.1%}")
        parts += [f"<h3>{escape(scenario.name)}</h3>", table_html(claims)]
        parts += [paragraph(claim_paragraph(ds, claim, sensitivity=item.sensitivity, priors=priors,
                                            replaced=replaced, sensitivity_command=command), "claim")
                  for claim in claims_from_attr(ds)]
        parts.append(figure_html(crossing_chart(ds), f"claim crossing dates of {scenario.name}"))
    return "".join(parts)


def _comparison_section(inputs: ReportInputs) -> str:
    from sim.analysis.compare import compare_table
    from sim.plots.compare import compare_chart

    if len(inputs.results) < 2:
        return paragraph("Only one scenario in this report: pass several scenario files to compare them.")
    datasets = [item.dataset for item in inputs.results]
    return (paragraph("Median and 10-90% band of each variable, and every claim's probability, per scenario.")
            + f"<pre>{escape(compare_table(datasets))}</pre>"
            + figure_html(compare_chart(datasets), "comparison of scenarios"))


def _backtest_section(inputs: ReportInputs) -> str:
    ds = inputs.backtest
    if ds is None:
        return paragraph(f"No backtest results at {inputs.backtest_path}: run 'tokensim backtest' (it writes "
                         f"{inputs.backtest_path}) and rebuild the report.")
    parts = [paragraph(f"Calibrated as of earlier dates, each published figure forecast before it was known and "
                       f"scored ({len(ds['hindcast'])} hindcasts; scores on {ds.attrs.get('scale', '?')}). "
                       "Lower CRPS and WIS are better; coverage should be near each interval's level.", "note")]
    from sim.analysis.backtest.tables import score_frame
    from sim.plots.backtest import backtest_figure

    parts.append(table_html(score_frame(ds)))
    parts.append(figure_html(backtest_figure(ds, inputs.observations), "backtest forecasts and published values"))
    return "".join(parts)


def _ranking_html(ds: xr.Dataset, csv: Path, top: int = TOP_FACTORS) -> str:
    """The ``top`` factors per target by total-order index (the full ranking is in the CSV file)."""
    from sim.analysis.sensitivity import ranking_frame

    frame = ranking_frame(ds)
    if "rank" in frame:
        frame = frame[frame["rank"] <= top]
    frame = frame.drop(columns=[c for c in ("claim", "date") if c in frame])  # already in the target label
    return (paragraph(f"The {top} largest total-order indices ST per target, with 95% half-widths; every factor "
                      f"is in {csv}.", "note") + table_html(frame))


def _sensitivity_section(inputs: ReportInputs) -> str:
    from sim.plots.tornado import tornado_figure

    parts = []
    for item in inputs.results:
        parts.append(f"<h3>{escape(item.scenario.name)}</h3>")
        ds = item.sensitivity
        if ds is None:
            parts.append(paragraph(f"No sensitivity results at {item.sensitivity_path}: run 'tokensim sensitivity "
                                   f"{item.scenario.path}' (it writes {item.sensitivity_path}) and rebuild the "
                                   "report."))
            continue
        if ds.attrs.get("calibration_id") != item.dataset.attrs.get("calibration_id"):
            parts.append(paragraph(f"Computed on calibration {str(ds.attrs.get('calibration_id'))[:12]}, not this "
                                   "report's: rerun the sensitivity command to bring it up to date.", "note"))
        parts.append(paragraph(f"{ds.attrs.get('method', '')}: {ds.attrs.get('evaluations', '?')} evaluations of "
                               f"{ds.attrs.get('paths_per_evaluation', '?')} paths. {ds.attrs.get('design', '')} "
                               f"{ds.attrs.get('notes', '')}",
                               "note"))
        parts.append(_ranking_html(ds, item.sensitivity_path.with_suffix(".csv")))
        parts.append(figure_html(tornado_figure(ds), f"sensitivity of {item.scenario.name}"))
    return "".join(parts)


def _lang(text: str) -> str:
    """A ``lang`` attribute for Chinese text, so that browsers pick a Chinese font for it."""
    return ' lang="zh"' if any("\u4e00" <= character <= "\u9fff" for character in text) else ""


def _sources_section(inputs: ReportInputs) -> str:
    import pandas as pd

    series = pd.DataFrame([{"series": s.name, "role": s.role, "definition": s.definition}
                           for s in inputs.observations.series.values()])
    rows = []
    for o in inputs.observations.observations:
        when = str(o.date) if o.kind == "at_date" else f"{o.start} .. {o.end}"
        bound = {"lower": "more than ", "upper": "at most "}.get(o.bound, "")
        link = f'<a href="{escape(o.url)}">{escape(o.url)}</a>' if o.url else ""
        rows.append(f"<tr><td>{escape(o.id)}</td><td>{escape(o.series)}</td>"
                    f"<td>{escape(f'{bound}{o.value:g} {o.unit}')}</td><td>{escape(when)}</td>"
                    f"<td>{escape(str(o.published))}</td><td>{escape(o.source)}<br />{link}</td>"
                    f"<td{_lang(o.quote)}>{escape(o.quote)}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("id", "series", "value as published", "window or date", "published",
                                             "source", "quoted sentence"))
    return (paragraph(f"Every figure in {inputs.observations.path}; 'context' series are kept for the record, "
                      f"not fitted. Priors: {inputs.priors.path}.")
            + "<h3>Series</h3>" + table_html(series) + "<h3>Observations</h3>"
            + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _provenance_section(inputs: ReportInputs) -> str:
    import pandas as pd

    frame = pd.DataFrame([{
        "scenario": item.scenario.name, "file": str(item.scenario.path),
        "scenario sha256": item.scenario.sha256[:16], "seed": int(item.dataset.attrs["seed"]),
        "paths": int(item.dataset.attrs["paths_simulated"]),
        "calibration id": str(item.dataset.attrs["calibration_id"])[:16],
        "calibration as of": item.dataset.attrs.get("calibration_as_of") or "all figures",
        "written by": item.dataset.attrs.get("source", ""), "results": item.origin,
    } for item in inputs.results])
    extra = []
    if inputs.backtest is not None:
        extra.append(f"Backtest: {inputs.backtest_path}, {inputs.backtest.attrs.get('tokensim_version', '?')}, "
                     f"calibration ids {inputs.backtest.attrs.get('calibration_ids', '?')}.")
    for item in inputs.results:
        if item.sensitivity is not None:
            extra.append(f"Sensitivity of {item.scenario.name}: {item.sensitivity_path}, seed "
                         f"{item.sensitivity.attrs.get('seed', '?')}, calibration "
                         f"{str(item.sensitivity.attrs.get('calibration_id', '?'))[:16]}.")
    return (paragraph(f"Report written by {SOURCE} at {inputs.generated}"
                      + (f" with '{inputs.command}'." if inputs.command else "."))
            + table_html(frame) + "".join(paragraph(text, "note") for text in extra))


#: The report's sections, in order: (anchor, heading, builder).
SECTIONS: tuple[tuple[str, str, Callable[[ReportInputs], str]], ...] = (
    ("scenarios", "Scenario forecasts", _scenarios_section),
    ("claims", "Claims", _claims_section),
    ("comparison", "Scenario comparison", _comparison_section),
    ("backtest", "Backtest", _backtest_section),
    ("sensitivity", "Sensitivity", _sensitivity_section),
    ("sources", "Data sources", _sources_section),
    ("provenance", "Provenance", _provenance_section),
)


def build_html(inputs: ReportInputs) -> str:
    """The whole report as one XHTML-compatible page (figures embedded, no external resources)."""
    names = ", ".join(item.scenario.name for item in inputs.results)
    nav = "".join(f'<li><a href="#{anchor}">{escape(title)}</a></li>' for anchor, title, _ in SECTIONS)
    body = "".join(f'<section id="{anchor}"><h2>{escape(title)}</h2>{build(inputs)}</section>'
                   for anchor, title, build in SECTIONS)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" />'
            f"<title>{escape(f'tokensim report: {names}')}</title><style>{STYLE}</style></head><body>"
            "<h1>China's enterprise LLM token market: tokensim report</h1>"
            + paragraph(f"Scenarios: {names}. Generated {inputs.generated} by {SOURCE}. "
                        "All figures are embedded; the page needs no network.", "note")
            + f"<nav><ul>{nav}</ul></nav>{body}</body></html>\n")


def write_report(inputs: ReportInputs, out: str | Path) -> Path:
    """Build the page and write it atomically to ``out``."""
    html = build_html(inputs)
    return atomic_write(check_output(out), lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = 1280, height: int = 4000,
               chromium: str | Path = CHROMIUM, timeout: float = 180) -> Path:
    """Render ``html_path`` in headless Chromium and save what a reader sees (the first ``height``
    pixels at ``width``) as ``png_path``, atomically. Raises UserError if Chromium is missing or fails."""
    html_path, chromium = Path(html_path).resolve(), Path(chromium)
    if not html_path.is_file():
        raise UserError("report not found", where=str(html_path))
    if shutil.which(str(chromium)) is None:
        raise UserError(f"no Chromium at {chromium}; install Debian's 'chromium' package to take screenshots",
                        where="screenshot")
    with tempfile.TemporaryDirectory(prefix="tokensim-chromium-") as folder:
        shot = Path(folder) / "page.png"
        command = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={folder}/profile", f"--screenshot={shot}", f"--window-size={width},{height}",
                   html_path.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"Chromium did not finish within {timeout:g} s", where="screenshot") from None
        if not shot.is_file():
            raise UserError(f"Chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}",
                            where="screenshot")
        return atomic_write(png_path, lambda tmp: shutil.copyfile(shot, tmp))

