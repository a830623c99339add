"""One function per command, each a thin call into the layers below with the same names; what it prints."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.core.errors import UserError
from sim.core.outputs import check_outputs
from sim.core.paths import RESULTS
from sim.scenarios.scenario import KIND_WORDS


def _settings(args: argparse.Namespace):
    """The sampler settings chosen on the command line."""
    from sim.calibration.inputs import SamplerSettings

    return SamplerSettings(sampler=getattr(args, "sampler", SamplerSettings.sampler))


def _inputs(args: argparse.Namespace, *, vintage: bool = True):
    """The calibration inputs named on the command line, each file read once (cut to ``--as-of`` unless
    ``vintage`` is false: a backtest cuts them to each origin)."""
    from sim.calibration.inputs import CalibrationInputs

    as_of, cut = (args.as_of, args.cut) if vintage else (None, "published")
    return CalibrationInputs.load(args.observations, args.priors, getattr(args, "posteriors", None),
                                  as_of=as_of, cut=cut, settings=_settings(args), analogs=args.analogs,
                                  compute=args.compute)


def _report_inputs(args: argparse.Namespace):
    """Check the report's output path and read its family weights before any fitting."""
    from sim.plots.calibration_report import check_report_output
    from sim.scenarios.scenario import load_scenario

    return check_report_output(args.report_out), load_scenario(args.report_scenario)


def _calibration_report(args: argparse.Namespace, posterior, inputs, out: Path, scenario) -> None:
    """The prior predictive and its gate, the long run, posterior predictive checks, stacking weights, prior
    vs posterior; then the report figure."""
    import pandas as pd

    from sim.calibration.implications import adoption_outlook_table, long_run_table, prior_implications
    from sim.calibration.prior_draws import prior_posterior
    from sim.calibration.prior_predictive import check_priors, prior_predictive_table
    from sim.calibration.report import build_report, format_report
    from sim.plots.calibration_report import write_report_figure

    prior = prior_posterior(inputs)
    number = lambda v: f"{v:.3g}"  # noqa: E731
    print("\nPrior predictive: what the priors alone imply (daily tokens in T/day, shares as fractions):")
    print(prior_implications(prior).to_string(float_format=number))
    gate = prior_predictive_table(inputs)
    print("\nPrior predictive of every fitted figure, each in its own series' definition (80% interval; 'tail' is "
          "the prior predictive probability beyond the published value, which must be at least 0.001):")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(gate.to_string(float_format=number))
    check_priors(gate, inputs.priors.path)
    weights = dict(scenario.family_weights)
    print(f"\nThe long run (trend only, posterior draws; mix = the families of {args.report_scenario}):")
    print(long_run_table(posterior, weights).to_string(float_format=number))
    print("\nThe F&S outlook under each variant of the open-source model (trend only, posterior draws):")
    print(adoption_outlook_table(posterior).to_string(float_format=number))
    print(_median_drivers(scenario))
    report = build_report(posterior, inputs.observations, inputs.priors, weights, prior, dict(scenario.open_weights),
                          compute=inputs.compute, weights_from=str(args.report_scenario))
    print("\n" + format_report(report))
    write_report_figure(report, out)
    print(f"\nwrote {out}")


def _median_drivers(scenario) -> str:
    """Which assumption carries the scenario's 2030 median, from its sensitivity results if computed."""
    from sim.analysis.sensitivity.ranking import median_drivers
    from sim.core.files import load_netcdf

    path = RESULTS / f"{scenario.name}-sensitivity.nc"
    if not path.is_file():
        return (f"Which prior carries the 2030 median: not computed; run 'tokensim sensitivity {scenario.path}'.")
    drivers = median_drivers(load_netcdf(path, "", "not a readable sensitivity file"), "2030-12")
    ranked = "; ".join(f"{label} (ST {st:.2f} +- {conf:.2f})" for label, st, conf in drivers) or "not in the analysis"
    return f"Which prior carries the 2030 median daily tokens ({path}, total-order Sobol indices): {ranked}."


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibration.calibrate import calibrate
    from sim.calibration.implications import family_implications

    started = time.perf_counter()
    report_inputs = _report_inputs(args) if args.report else None  # a bad --report-out fails before fitting
    inputs = _inputs(args)
    posterior, path = calibrate(inputs, force=args.force)
    print(f"posterior {posterior.id[:16]} -> {path} ({time.perf_counter() - started:.1f} s)")
    for fit, report in posterior.diagnostics.items():
        frame = report.to_dataframe()
        print(f"\n[{fit}] {report.attrs['draws']} draws, {report.attrs['divergences']} divergences")
        stored = [name for name in frame.index if name in posterior.fits[fit]]  # latent offsets are not kept
        summary = posterior.fits[fit][stored].quantile([0.05, 0.5, 0.95], dim=("chain", "draw"))
        for q, column in zip((0.05, 0.5, 0.95), ("p5", "p50", "p95")):
            frame[column] = summary.sel(quantile=q).to_array().to_series().reindex(frame.index)
        print(frame[["p5", "p50", "p95", "rhat", "ess_bulk", "ess_tail"]].to_string(float_format=lambda v: f"{v:.4g}"))
    print("\nWhat each family alone implies for daily tokens (T/day, December mean, trend only; "
          "growth_2025 = median growth rate per year between the F&S windows):")
    print(family_implications(posterior).to_string(float_format=lambda v: f"{v:.3g}"))
    if args.report:
        import pandas as pd

        from sim.calibration.crosscheck import agreement_text, crosscheck_table

        table = crosscheck_table(inputs.observations, inputs.priors, posterior)
        print("\nClassical cross-check (daily tokens, T/day, December mean; the Bayesian rows are trend-only):")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(float_format=lambda v: f"{v:.3g}"))
        print(agreement_text(table))
        print("Open-source share: two looks (the F&S share, the share the vendor figures imply) for seven "
              "parameters; no classical fit exists without priors.")
        _calibration_report(args, posterior, inputs, *report_inputs)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sim.scenarios.scenario import load_scenario

    started = time.perf_counter()
    if args.out is not None and args.out.suffix != ".nc":
        raise UserError("the results file must end in .nc", where=f"--out {args.out}")
    if args.out is not None:  # a bad --out fails before the scenario is even read
        check_outputs((args.out, *(() if args.no_plot else (args.out.with_suffix(".png"),))), "--out")
    scenario = load_scenario(args.scenario)
    out = args.out or RESULTS / f"{scenario.name}{'-prior' if args.prior_only else ''}.nc"
    check_outputs((out, *(() if args.no_plot else (out.with_suffix(".png"),))), "--out")
    inputs = _inputs(args)
    # The engine (numba) once the inputs are read, matplotlib once there is something to draw; the fitting
    # libraries only if the posterior is not cached (sim.calibration.calibrate).
    from sim.analysis.tables import format_text
    from sim.api import run

    dataset = run(scenario, draws=args.draws, seed=args.seed, inputs=inputs, chunk_size=args.chunk_size,
                  keep_paths=args.keep_paths, workers=args.workers, scheduler=args.scheduler,
                  progress=None if args.quiet or not sys.stderr.isatty() else _progress, prior_only=args.prior_only)
    from sim.plots.fan import write_run

    had_chart = out.with_suffix(".png").is_file()
    write_run(dataset, out, inputs.registry, chart=not args.no_plot)
    print(format_text(dataset))
    written = f"{out}" + (f" and {out.with_suffix('.png')}" if not args.no_plot else
                          f" (and removed the earlier {out.with_suffix('.png')}, a chart of other results)"
                          if had_chart else "")
    print(f"\nwrote {written} in {time.perf_counter() - started:.1f} s")
    return 0


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    end = "\n" if done == total else ""
    print(f"\rtokensim: simulating [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end,
          file=sys.stderr, flush=True)


def cmd_init(args: argparse.Namespace) -> int:
    from sim.core.paths import init

    written = init(args.folder)
    folders = sorted({str(path.parent) for path in written})
    print(f"copied {len(written)} files into {', '.join(folders)}: commands run in {args.folder} now read them "
          f"(results go to {args.folder / RESULTS}, fitted posteriors to {args.folder / 'calibration' / 'posteriors'})")
    print(f"next: cd {args.folder} && tokensim run")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.analysis.compare import compare_table
    from sim.engine.results import open_results
    from sim.plots.compare import compare_chart
    from sim.plots.render import save_figure

    if args.out.suffix.lower() != ".png":
        raise UserError("the chart must be a .png file", where=f"--out {args.out}")
    check_outputs((args.out,), "--out")
    datasets = [open_results(path) for path in args.results]
    print(compare_table(datasets))
    save_figure(compare_chart(datasets), args.out)
    print(f"\nwrote {args.out}")
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    from sim.analysis.exports import EXPORTS, Selection
    from sim.core.files import atomic_write
    from sim.engine.results import open_results

    export = EXPORTS[args.format]
    if args.out is not None:
        if args.out.suffix.lower() != export.suffix:
            raise UserError(f"--format {args.format} writes a {export.suffix} file", where=f"--out {args.out}")
        check_outputs((args.out,), "--out")
    elif export.binary:
        raise UserError(f"--format {args.format} writes a file: give --out NAME{export.suffix}", where="--format")
    selection = Selection(months=tuple(args.at or ()), annual_mean=args.annual_mean, claims=args.claims,
                          samples=args.samples)
    content = export.render(open_results(args.result), selection)
    if args.out is None:
        sys.stdout.write(content if content.endswith("\n") else content + "\n")
        return 0
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    atomic_write(args.out, data)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from sim.data.observations import load_observations
    from sim.engine.results import open_results
    from sim.plots.fan import fan_chart
    from sim.plots.render import save_figure

    out = args.out or args.result.with_suffix(".png")
    if out.suffix.lower() != ".png":
        raise UserError("the chart must be a .png file", where=f"--out {out}")
    check_outputs((out,), "--out")
    dataset = open_results(args.result)
    save_figure(fan_chart(dataset, load_observations(args.observations)), out)
    print(f"wrote {out}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from sim.analysis.backtest.run import run_backtest
    from sim.analysis.backtest.tables import hindcast_frame, output_paths, pit_frame, score_frame
    from sim.plots.backtest import write_backtest

    started = time.perf_counter()
    output_paths(args.out)  # a bad --out fails before minutes of calibration
    inputs = _inputs(args, vintage=False)  # each origin cuts them to what it knew
    dataset = run_backtest(args.as_of, inputs=inputs, cut=args.cut, scenario=args.scenario)
    written = write_backtest(dataset, args.out, inputs.registry)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 90):
        print(f"Hindcasts (scores on the {dataset.attrs['scale']}):")
        print(hindcast_frame(dataset).to_string(float_format=lambda v: f"{v:.3g}"))
        print("\nMean scores and interval coverage per method, forecasts and nowcasts apart (lower CRPS/WIS is "
              "better; coverage should be near 0.5/0.8/0.95; figures published as bounds are scored by the "
              "censored CRPS only):")
        print(score_frame(dataset).to_string(float_format=lambda v: f"{v:.3g}"))
        print("\nPIT histograms (share of PIT mass per bin; calibrated = equal shares; a bound's PIT interval "
              "is spread over its bins):")
        print(pit_frame(dataset).to_string(float_format=lambda v: f"{v:.2f}"))
    for date, message in json.loads(dataset.attrs["skipped_origins"]).items():
        print(f"\nskipped origin {date}: {message}")
    for date, fits in json.loads(dataset.attrs["dropped_fits"]).items():
        print(f"\norigin {date}: tokensim mixes the fits that passed the convergence gate, weights renormalised; "
              "left out: " + "; ".join(f"{fit} ({why})" for fit, why in fits.items()))
    print(f"\nwrote {', '.join(str(p) for p in written)} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sim.core.provenance import command_line
    from sim.report.gather import check_output, gather, load_scenarios
    from sim.report.page import write_report
    from sim.report.screenshot import check_chromium

    started = time.perf_counter()
    out = check_output(args.out)  # bad outputs, and a missing Chromium, fail before anything runs
    if args.screenshot is not None:
        if args.screenshot.suffix.lower() != ".png":
            raise UserError("the screenshot must be a .png file", where=f"--screenshot {args.screenshot}")
        check_outputs((args.screenshot,), "--screenshot")
        check_chromium()
    scenarios = load_scenarios(args.scenarios)  # every scenario's errors before anything runs
    check_outputs([args.results / f"{s.name}{suffix}" for s in scenarios for suffix in (".nc", ".png")], "--results")
    report = gather(scenarios, _inputs(args), results_dir=args.results, backtest=args.backtest, revise=args.revise,
                    draws=args.draws,
                    seed=args.seed, command=command_line())
    for item in report.results:
        print(f"{item.scenario.name}: {item.origin}")
    write_report(report, out, screenshot=args.screenshot)
    shot = "" if args.screenshot is None else f" and {args.screenshot} (the whole page in headless Chromium)"
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB){shot} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.analysis.sensitivity import format_pawn, format_ranking, output_paths, top_drivers
    from sim.api import sensitivity
    from sim.scenarios.scenario import load_scenario

    started = time.perf_counter()
    scenario = load_scenario(args.scenario)
    out = args.out or RESULTS / f"{scenario.name}-sensitivity.nc"
    written = output_paths(out)  # a bad --out fails before minutes of simulation
    dataset = sensitivity(scenario, inputs=_inputs(args), base_samples=args.base_samples, paths=args.paths,
                          seed=args.seed, out=out)
    print(f"Sobol sensitivity of scenario '{scenario.name}': {dataset.attrs['evaluations']} evaluations x "
          f"{dataset.attrs['paths_per_evaluation']} paths (seed {dataset.attrs['seed']}); ST = total index, "
          "S1 = first order, +- = 95% bootstrap half-width (it does not include the Monte Carlo noise; "
          "an ST below the noise floor cannot be told from 0)")
    if dataset.attrs["notes"]:
        print("Notes: " + dataset.attrs["notes"])
    print(format_ranking(dataset))
    print("\nTop three drivers of each claim (total index):")
    for claim in scenario.claims:
        for by in claim.by:
            drivers = "; ".join(f"{label} {st:.2f} +-{conf:.2f}"
                                for label, st, conf in top_drivers(dataset, claim.name, str(by)))
            print(f"  {claim.name} {KIND_WORDS[claim.kind]} {by}: {drivers or 'constant over the design'}")
    print("\nWhich quantities of a path decide each target (PAWN median KS distance, paths at the scenario's own "
          "values; at or below the dummy = no detectable effect):")
    print(format_pawn(dataset))
    print(f"\nwrote {', '.join(str(p) for p in written)} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_sbc(args: argparse.Namespace) -> int:
    """Simulation-based calibration of the chosen fits; exit status 1 when a fit fails it."""
    from sim.calibration.fits import fit_names
    from sim.calibration.sbc.ranks import format_summary
    from sim.calibration.sbc.run import run_sbc
    from sim.calibration.sbc.settings import preset
    from sim.core.files import netcdf_bytes, write_outputs
    from sim.plots.render import png_bytes
    from sim.plots.sbc import sbc_figure

    started = time.perf_counter()
    fits = list(dict.fromkeys(f.strip() for f in args.fits.split(","))) if args.fits else list(fit_names())
    unknown = [f for f in fits if f not in fit_names()]
    if unknown:
        raise UserError(f"unknown fit {unknown[0]!r}; allowed: {', '.join(fit_names())} (comma-separated)",
                        where="--fits")
    if args.out.suffix not in ("", ".nc"):
        raise UserError("give the output without a suffix, or ending in .nc (the .png goes next to it)",
                        where=f"--out {args.out}")
    outputs = check_outputs((args.out.with_suffix(".nc"), args.out.with_suffix(".png")), "--out")
    settings = preset(args.quick, simulations=args.simulations, seed=args.seed, backend=args.backend)
    dataset = run_sbc(fits, _inputs(args, vintage=False), settings)
    write_outputs(dict(zip(outputs, (netcdf_bytes(dataset), png_bytes(sbc_figure(dataset), dpi=120)))))
    print(f"Simulation-based calibration: {settings.simulations} prior simulations per fit, ranks among "
          f"L = {settings.ranks} thinned posterior draws, chi-square over {settings.rank_bins} bins and the "
          f"simultaneous ECDF band, each at alpha = {settings.alpha} / (parameters of the fit) (Bonferroni)")
    print(format_summary(dataset))
    print(f"\nwrote {outputs[0]} and {outputs[1]} in {time.perf_counter() - started:.1f} s")
    return 0 if bool(dataset["passed"].all()) else 1
