"""The command line's grammar: every command, its options and their defaults, and how a bad value is refused."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from sim.analysis.exports import FORMAT_NAMES
from sim.calibration.inputs import SAMPLERS
from sim.cli.commands import (
    cmd_backtest,
    cmd_calibrate,
    cmd_compare,
    cmd_init,
    cmd_plot,
    cmd_report,
    cmd_run,
    cmd_sbc,
    cmd_sensitivity,
    cmd_summarize,
)
from sim.cli.forecasting import cmd_predict, cmd_revise
from sim.core import paths
from sim.core.errors import UserError
from sim.core.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as UserErrors (exit status 2, no traceback)."""

    def error(self, message: str):  # type: ignore[override]
        command = self.prog.removeprefix("tokensim").strip()  # the CLI prefixes "tokensim: error:" once
        raise UserError(f"{message}\n{self.format_usage().strip()}", where=command or None)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2025-06-30, got {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 1e14 or 0.444, got {text!r}") from None


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1, got {value}")
    return value


def _month(text: str) -> str:
    from sim.core.timeaxis import parse_month

    try:
        return str(parse_month(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _data_options(parser: argparse.ArgumentParser, *, posteriors: bool = True) -> None:
    """The observation registry, the priors file, the analogs and compute figures, and (optionally) the
    posterior cache folder; defaults as :mod:`sim.core.paths` finds them."""
    parser.add_argument("--observations", type=Path, default=paths.observations(),
                        help="observation registry (default: %(default)s)")
    parser.add_argument("--priors", type=Path, default=paths.priors(),
                        help="priors file (default: %(default)s)")
    parser.add_argument("--analogs", type=Path, default=paths.analogs(),
                        help="reference class of adoption and substitution analogs (default: %(default)s)")
    parser.add_argument("--compute", type=Path, default=paths.compute(),
                        help="China's intelligent compute figures (default: %(default)s)")
    if posteriors:
        parser.add_argument("--posteriors", type=Path, default=paths.posteriors(),
                            help="folder of cached posteriors (default: %(default)s)")


def _sampler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sampler", choices=SAMPLERS, default=SAMPLERS[0],
                        help="NUTS implementation for a new fit (default: %(default)s); part of the calibration id")


def _calibration_options(parser: argparse.ArgumentParser) -> None:
    _data_options(parser)
    parser.add_argument("--as-of", type=_date, default=None,
                        help="use only figures published on or before this date (YYYY-MM-DD)")
    parser.add_argument("--cut", choices=("published", "window"), default="published",
                        help="with --as-of: cut by publication date or by the end of each figure's window "
                             "(default: %(default)s)")
    _sampler_option(parser)


def _scenario(text: str) -> Path:
    return paths.scenario(text)


def build_parser() -> argparse.ArgumentParser:
    """The whole grammar; defaults that are files are found when it is built (:mod:`sim.core.paths`)."""
    # -q works before or after the command: the command's copy only sets it when given
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="only print results and errors")
    parser = _Parser(prog="tokensim", description="Forecast China's enterprise LLM token market.",
                     epilog="Inputs come from ./calibration/ and ./scenarios/ when this folder has them, "
                            "otherwise from the copies shipped with tokensim ('tokensim init DIR' makes "
                            "editable copies); results go to ./results/.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print results and errors")
    parser.add_argument("--version", action="version", version=f"tokensim {__version__}",
                        help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="command")

    def command(name: str, help: str):
        return commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                   parents=[quiet])

    init = command("init", "copy the editable inputs (calibration files, scenarios) into a folder")
    init.add_argument("folder", type=Path, nargs="?", default=Path("."),
                      help="where to put calibration/ and scenarios/ (default: this folder); "
                           "existing files are never overwritten")
    init.set_defaults(handler=cmd_init)

    calibrate = command("calibrate", "fit (or reuse) the posterior")
    _calibration_options(calibrate)
    calibrate.add_argument("--force", action="store_true", help="refit even if a matching posterior exists")
    calibrate.add_argument("--report", action="store_true",
                           help="also print the classical (statsmodels / least-squares) cross-check, prior vs "
                                "posterior, posterior predictive checks and stacking weights, and write the "
                                "report figure")
    calibrate.add_argument("--report-out", type=Path, default=paths.generated("report.png"),
                           help="with --report: the report figure (default: %(default)s)")
    calibrate.add_argument("--report-scenario", type=_scenario, default=paths.baseline(),
                           help="with --report: the scenario whose family weights make the mix (default: %(default)s)")
    calibrate.set_defaults(handler=cmd_calibrate)

    run = command("run", "calibrate if needed, simulate a scenario, write results")
    run.add_argument("scenario", nargs="?", type=_scenario, default=paths.baseline(),
                     help="scenario file, or the name of one in the scenario library (default: %(default)s)")
    run.add_argument("--draws", type=_positive, help="number of simulated paths (overrides the scenario)")
    run.add_argument("--seed", type=_seed, help="root random seed (overrides the scenario)")
    run.add_argument("--out", type=Path, help="results file (default: results/<scenario>.nc)")
    run.add_argument("--no-plot", action="store_true", help="do not write the fan chart")
    run.add_argument("--prior-only", action="store_true",
                     help="simulate from the priors alone, before any data touch them (default output: "
                          "results/<scenario>-prior.nc)")
    run.add_argument("--chunk-size", type=_positive, default=50_000,
                     help="paths per chunk, a multiple of 1000 (default: %(default)s); never changes results")
    run.add_argument("--keep-paths", type=_positive,
                     help="paths to store (default: all up to 20000); summaries always cover every path")
    run.add_argument("--workers", type=_positive, help="run on a local dask.distributed cluster of N processes")
    run.add_argument("--scheduler", help="run on the dask.distributed scheduler at this address")
    _calibration_options(run)
    run.set_defaults(handler=cmd_run)

    summarize = command("summarize", "quantile table and claim probabilities of a result")
    summarize.add_argument("result", type=Path, help="results file (.nc) written by 'tokensim run'")
    summarize.add_argument("--format", choices=FORMAT_NAMES, default="table",
                           help="table (terminal), csv (one tidy table: variable, time, quantile, value, mc_se), json, "
                                "xlsx (a workbook; needs --out) or hubverse (scenario, target, horizon, output_type, "
                                "output_type_id, value: quantiles and sample paths) (default: %(default)s)")
    summarize.add_argument("--claims", action="store_true",
                           help="the claims (probability by each date, median crossing) instead of the quantiles")
    summarize.add_argument("--at", type=_month, nargs="+", action="extend", metavar="YYYY-MM",
                           help="quantiles at these months (default: the last month of each year)")
    summarize.add_argument("--annual-mean", action="store_true",
                           help="quantiles of each calendar year's mean (over the paths kept in the file)")
    summarize.add_argument("--samples", type=_positive, default=100,
                           help="with --format hubverse: sample paths to include (default: %(default)s; "
                                "at most the paths kept)")
    summarize.add_argument("--out", type=Path, help="write to this file instead of printing (needed for xlsx)")
    summarize.set_defaults(handler=cmd_summarize)

    compare = command("compare", "several results on one table and one chart")
    compare.add_argument("results", type=Path, nargs="+", metavar="RESULT", help="results files (.nc) to compare")
    compare.add_argument("--out", type=Path, default=paths.COMPARE, help="chart (default: %(default)s)")
    compare.set_defaults(handler=cmd_compare)

    plot = command("plot", "fan chart of a result")
    plot.add_argument("result", type=Path, help="results file (.nc) written by 'tokensim run'")
    plot.add_argument("--out", type=Path, help="PNG file (default: next to the result)")
    plot.add_argument("--observations", type=Path, default=paths.observations(),
                      help="observation registry whose figures are drawn (default: %(default)s)")
    plot.set_defaults(handler=cmd_plot)

    backtest = command("backtest", "calibrate as of earlier dates, score forecasts of later figures")
    backtest.add_argument("--as-of", type=_date, nargs="+", action="extend", metavar="DATE",
                          help="origins (YYYY-MM-DD), repeated or listed; default: the day before each "
                               "release of fitted figures that has a volume figure before it")
    backtest.add_argument("--cut", choices=("published", "window"), default="published",
                          help="what an origin knew: figures published by then, or measured by then")
    backtest.add_argument("--scenario", type=_scenario, default=paths.baseline(),
                          help="its [families] weights mix the growth families (default: %(default)s)")
    backtest.add_argument("--out", type=Path, default=paths.BACKTEST,
                          help="scores as netCDF; the .csv and .png go next to it (default: %(default)s)")
    _sampler_option(backtest)
    _data_options(backtest)
    backtest.set_defaults(handler=cmd_backtest)

    predict = command("predict", "the posterior predictive of a series' next figure")
    predict.add_argument("series", help="a fitted series of calibration/observations.toml (e.g. doubao, "
                                        "idc_public_cloud, fs_enterprise, fs_open_share)")
    when = predict.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=_date, help="a value at this date (YYYY-MM-DD)")
    when.add_argument("--window", type=_date, nargs=2, metavar=("START", "END"),
                      help="a figure over this window, both days included")
    predict.add_argument("--kind", choices=("window_average", "window_total"),
                         help="with --window: a daily average or a total over the window (default: how the series "
                              "publishes its window figures)")
    predict.add_argument("--value", type=_number,
                         help="a value in the figure's base units (tokens/day, tokens for a total, a fraction for a "
                              "share): also print P(figure <= value), the PIT")
    predict.add_argument("--bound", choices=("lower", "upper"),
                         help="with --value: the value is published as a bound (lower: 'more than V'); its PIT is "
                              "then an interval")
    predict.add_argument("--scenario", type=_scenario, default=paths.baseline(),
                         help="scenario file or library name: its [families] and [open_models] weights mix the fits "
                              "(default: %(default)s)")
    predict.add_argument("--members", type=_positive, default=20_000,
                         help="members of the predictive ensemble (default: %(default)s)")
    predict.add_argument("--format", choices=("table", "json"), default="table",
                         help="a table, or one JSON object with quantiles and pit (default: %(default)s)")
    _calibration_options(predict)
    predict.set_defaults(handler=cmd_predict)

    revise = command("revise", "what the figures published between two vintages did")
    revise.add_argument("--from", dest="from_", type=_date, required=True, metavar="DATE",
                        help="the older vintage: figures published by this date (YYYY-MM-DD)")
    revise.add_argument("--to", type=_date, metavar="DATE",
                        help="the newer vintage (default: every figure in the registry)")
    revise.add_argument("--scenario", type=_scenario, default=paths.baseline(),
                        help="the scenario simulated under both vintages (default: %(default)s)")
    revise.add_argument("--draws", type=_positive, help="number of paths of each run (overrides the scenario)")
    revise.add_argument("--seed", type=_seed, help="root random seed of both runs (default: the scenario's)")
    revise.add_argument("--out", type=Path, default=paths.REVISE,
                        help="the revision as netCDF; the .png goes next to it (default: %(default)s)")
    _sampler_option(revise)
    _data_options(revise)
    revise.set_defaults(handler=cmd_revise)

    report = command("report", "one self-contained HTML report of several scenarios")
    report.add_argument("scenarios", type=_scenario, nargs="+", metavar="SCENARIO",
                        help="scenario files (TOML), or names in the scenario library")
    report.add_argument("-o", "--out", type=Path, default=paths.REPORT,
                        help="HTML file (default: %(default)s)")
    report.add_argument("--results", type=Path, default=paths.RESULTS,
                        help="folder of results/<name>.nc to reuse or write, and of <name>-sensitivity.nc "
                             "(default: %(default)s)")
    report.add_argument("--backtest", type=Path, default=paths.BACKTEST,
                        help="backtest results to include (default: %(default)s)")
    report.add_argument("--revise", type=Path, default=paths.REVISE,
                        help="revision results to include (written by 'tokensim revise'; default: %(default)s)")
    report.add_argument("--draws", type=_positive, help="number of paths (overrides the scenarios)")
    report.add_argument("--seed", type=_seed, help="root random seed (overrides the scenarios)")
    report.add_argument("--screenshot", type=Path,
                        help="also render the whole page in headless Chromium to this PNG")
    _calibration_options(report)
    report.set_defaults(handler=cmd_report)

    sensitivity = command("sensitivity", "which assumptions drive each claim (Sobol indices)")
    sensitivity.add_argument("scenario", type=_scenario,
                             help="scenario file (TOML, or a name in the scenario library) whose assumptions are varied")
    sensitivity.add_argument("--out", type=Path,
                             help="indices as netCDF; the .csv table and .png tornado chart go next to it "
                                  "(default: results/<scenario>-sensitivity.nc)")
    sensitivity.add_argument("--base-samples", type=_positive, default=128,
                             help="Saltelli base size N, a power of two; N x (factors + 2) evaluations "
                                  "(default: %(default)s)")
    sensitivity.add_argument("--paths", type=_positive, default=1000,
                             help="simulated paths per evaluation (default: %(default)s)")
    sensitivity.add_argument("--seed", type=_seed, help="root random seed (default: the scenario's)")
    _calibration_options(sensitivity)
    sensitivity.set_defaults(handler=cmd_sensitivity)

    sbc = command("sbc", "simulation-based calibration: refit prior simulations, test rank uniformity")
    sbc.add_argument("--fits", help="comma-separated fits (volume families and/or open_call_weighted, "
                                    "open_equal_weight; default: all)")
    sbc.add_argument("--simulations", type=_positive,
                     help="prior simulations (refits) per fit, at least 10 (default: 100; 50 with --quick)")
    sbc.add_argument("--seed", type=_seed, help="root random seed (default: 20250901)")
    sbc.add_argument("--out", type=Path, default=paths.generated("sbc"),
                     help="writes OUT.nc (ranks and verdicts) and OUT.png (ECDF chart) (default: %(default)s)")
    sbc.add_argument("--quick", action="store_true",
                     help="the test suite's reduced run: 50 simulations, short single-chain refits")
    sbc.add_argument("--backend", choices=("numba", "pytensor"),
                     help="compile backend (default: numba, slow to compile, fast to sample; pytensor with --quick)")
    _data_options(sbc, posteriors=False)
    sbc.set_defaults(handler=cmd_sbc)
    return parser
