"""The report's sections, in order (:data:`SECTIONS`): forecast tables and fan charts, claims in words with
their crossing-date charts, the scenario comparison, the revision, the backtest and sensitivity results if
computed, the data sources and the provenance."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path

import xarray as xr

from sim.core.provenance import SOURCE
from sim.core.variables import VARIABLES
from sim.report.gather import ReportInputs
from sim.report.html import (
    figure_html,
    lang_attribute,
    link_html,
    paragraph,
    table_html,
)

TOP_FACTORS = 5


def _quantile_frame(dataset: xr.Dataset):
    """The year-end quantile table in display units (T tokens/day, %)."""
    from sim.analysis.tables import quantile_frame

    frame = quantile_frame(dataset).reset_index()
    divisors = frame["variable"].map(lambda v: VARIABLES[v].display_scale)
    for column in [c for c in frame.columns if c.startswith("p")]:
        frame[column] = frame[column] / divisors
    frame["unit"] = frame["variable"].map(lambda v: VARIABLES[v].display_unit)
    frame["time"] = frame["time"].astype(str).str[:7]
    return frame.rename(columns={"time": "month"})


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
    from sim.analysis.narrative import claim_paragraph, missing_sensitivity_sentence, prior_distributions
    from sim.analysis.tables import claims_by_open_model, claims_frame
    from sim.engine.results import claims_from_attr
    from sim.plots.claims import crossing_chart

    parts = [paragraph("P(claim) is the share of all simulated paths in which the claim holds on its date (or, for a "
                       "first-passage claim, has held at some time by then), +- its Monte Carlo standard error; the "
                       "crossing-date chart shows when paths first cross. Paths that never cross count as crossing "
                       "after the horizon.", "note")]
    for item in inputs.results:
        ds, scenario = item.dataset, item.scenario
        priors = prior_distributions(inputs.priors, scenario.assumptions)
        replaced = [name for name, _ in scenario.assumptions]
        command = f"tokensim sensitivity {scenario.path}"
        parts += [f"<h3>{escape(scenario.name)}</h3>", table_html(_percentages(claims_frame(ds)))]
        variants = claims_by_open_model(ds)
        if len(variants):
            parts += [paragraph("The open-source claims under each structural variant of the open-source model, "
                                "side by side (kept paths of each variant):", "note"),
                      table_html(_percentages(variants))]
        if item.sensitivity is None:  # once for the scenario, not in every claim's paragraph
            parts.append(paragraph(missing_sensitivity_sentence(command), "note"))
        parts += [paragraph(claim_paragraph(ds, claim, sensitivity=item.sensitivity, priors=priors,
                                            replaced=replaced, sensitivity_command=None), "claim")
                  for claim in claims_from_attr(ds)]
        parts.append(figure_html(crossing_chart(ds), f"claim crossing dates of {scenario.name}"))
    return "".join(parts)


def _percentages(frame):
    """A claims table with its probabilities and their errors written as percentages."""
    for column in ("probability", "mc_se"):
        if column in frame:
            frame[column] = frame[column].map(lambda p: f"{p:.1%}")
    return frame


def _comparison_section(inputs: ReportInputs) -> str:
    from sim.analysis.compare import band_frame, claim_cells, indistinct_claims
    from sim.analysis.tables import claim_probabilities
    from sim.plots.compare import compare_chart

    if len(inputs.results) < 2:
        return paragraph("Only one scenario in this report: pass several scenario files to compare them.")
    datasets = [item.dataset for item in inputs.results]
    claims = claim_cells(datasets)
    names = [str(ds.attrs.get("scenario", f"#{i}")) for i, ds in enumerate(datasets)]
    noise = indistinct_claims(names, [claim_probabilities(ds) for ds in datasets], list(claims.index))
    return (paragraph("Median and 10-90% band of each variable per scenario (T = 10^12 tokens per day; shares in %).",
                      "note")
            + table_html(band_frame(datasets))
            + paragraph("Each claim's probability per scenario, +- its Monte Carlo standard error ('-': the scenario "
                        "does not state it).", "note")
            + table_html(claims)
            + "".join(paragraph(sentence, "note") for sentence in noise)
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

    from sim.analysis.backtest.tables import pit_frame

    skipped, dropped = (json.loads(ds.attrs.get(key, "{}")) for key in ("skipped_origins", "dropped_fits"))
    notes = [f"Origin {date} skipped: {why}." for date, why in skipped.items()]
    notes += [f"Origin {date}: tokensim mixes the fits that passed the convergence gate, weights renormalised; left "
              f"out: {'; '.join(f'{fit} ({why})' for fit, why in fits.items())}." for date, fits in dropped.items()]
    parts += [paragraph(note, "note") for note in notes]
    parts.append(table_html(score_frame(ds)))
    parts.append(paragraph("PIT histograms: the share of the published values' PIT in each fifth of the predictive "
                           "(a calibrated method puts 0.2 in each; mass at the ends means intervals too narrow, in the "
                           "middle too wide); a figure published as a bound spreads its PIT interval over its bins.",
                           "note"))
    parts.append(table_html(pit_frame(ds)))
    parts.append(figure_html(backtest_figure(ds, inputs.observations), "backtest forecasts and published values"))
    return "".join(parts)


def _revision_section(inputs: ReportInputs) -> str:
    ds = inputs.revision
    if ds is None:
        return paragraph(f"No revision results at {inputs.revision_path}: run 'tokensim revise --from DATE' (it writes "
                         f"{inputs.revision_path}) and rebuild the report.")
    from sim.analysis.revise import claim_frame, figure_frame, median_frame
    from sim.plots.revise import revise_figure

    changed = [str(c) for c, moved in zip(ds["claim"].values, ds["claim_exceeds_noise"].values) if moved]
    return "".join([
        paragraph(f"What the figures published after {ds.attrs['from']} (to {ds.attrs['to']}) did to scenario "
                  f"'{ds.attrs['scenario']}' ({ds.attrs['paths']} paths, seed {ds.attrs['seed']}, calibrations "
                  f"{ds.attrs['calibration_id_before'][:12]} before and {ds.attrs['calibration_id_after'][:12]} "
                  "after). "
                  "Each new figure's PIT is the probability the older vintage gave to a value at most the published "
                  "one (an interval for a figure published as a bound): near 0 or 1, a surprise.", "note"),
        "<h3>The new figures under the older vintage</h3>", table_html(figure_frame(ds)),
        "<h3>Claims</h3>",
        paragraph(f"{ds.attrs['noise_rule']}. Moved beyond noise: {', '.join(changed) or 'none'}.", "note"),
        table_html(claim_frame(ds)),
        "<h3>Year-end medians</h3>", table_html(median_frame(ds)),
        figure_html(revise_figure(ds), "revision: PIT of the new figures, claims and medians before and after"),
    ])


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


def _sources_section(inputs: ReportInputs) -> str:
    import pandas as pd

    series = pd.DataFrame([{"series": s.name, "role": s.role, "definition": s.definition}
                           for s in inputs.observations.series.values()])
    rows = []
    for o in inputs.observations.observations:
        when = str(o.date) if o.kind == "at_date" else f"{o.start} .. {o.end}"
        bound = {"lower": "more than ", "upper": "at most "}.get(o.bound, "")
        link = link_html(o.url)
        rows.append(f"<tr><td>{escape(o.id)}</td><td>{escape(o.series)}</td>"
                    f"<td>{escape(f'{bound}{o.value:g} {o.unit}')}</td><td>{escape(when)}</td>"
                    f"<td>{escape(str(o.published))}</td><td>{escape(o.source)}<br />{link}</td>"
                    f"<td{lang_attribute(o.quote)}>{escape(o.quote)}</td></tr>")
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
    if inputs.revision is not None:
        extra.append(f"Revision: {inputs.revision_path}, {inputs.revision.attrs.get('tokensim_version', '?')}, "
                     f"calibrations {inputs.revision.attrs.get('calibration_id_before', '?')[:16]} (as of "
                     f"{inputs.revision.attrs.get('from', '?')}) and "
                     f"{inputs.revision.attrs.get('calibration_id_after', '?')[:16]}.")
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
    ("revision", "What the latest figures changed", _revision_section),
    ("backtest", "Backtest", _backtest_section),
    ("sensitivity", "Sensitivity", _sensitivity_section),
    ("sources", "Data sources", _sources_section),
    ("provenance", "Provenance", _provenance_section),
)
