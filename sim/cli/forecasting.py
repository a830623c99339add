"""The commands that read single figures: ``predict`` (a series' next figure) and ``revise`` (what the figures
published between two vintages did); each a thin call into :mod:`sim.analysis`, and what it prints."""

from __future__ import annotations

import argparse
import json
import time

from sim.cli.commands import _inputs


def cmd_predict(args: argparse.Namespace) -> int:
    from sim.analysis.predict import check_value, figure_target, predict
    from sim.scenarios.scenario import load_scenario

    inputs = _inputs(args)
    target = figure_target(inputs.registry, args.series, date=args.date,
                           window=tuple(args.window) if args.window else None, kind=args.kind)
    check_value(target, args.value, args.bound or "")
    scenario = load_scenario(args.scenario)  # every mistake is refused before the calibration starts
    prediction = predict(inputs, target, scenario, value=args.value, bound=args.bound or "", size=args.members)
    print(prediction.as_json() if args.format == "json" else prediction.as_text())
    return 0


def cmd_revise(args: argparse.Namespace) -> int:
    import pandas as pd

    from sim.analysis.revise import check_revision, claim_frame, figure_frame, median_frame, revise
    from sim.plots.revise import output_paths, write_revise
    from sim.scenarios.scenario import load_scenario

    started = time.perf_counter()
    output_paths(args.out)
    inputs = _inputs(args, vintage=False)  # cut to each of the two vintages
    scenario = load_scenario(args.scenario)
    check_revision(inputs, args.from_, args.to, scenario, args.draws)
    dataset = revise(inputs, args.from_, args.to, scenario, draws=args.draws, seed=args.seed)
    written = write_revise(dataset, args.out)
    number = lambda v: f"{v:.3g}"  # noqa: E731
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 60):
        print(f"Figures published after {dataset.attrs['from']} and by {dataset.attrs['to']}, read under the vintage "
              f"of {dataset.attrs['from']} (its 5/50/95% predictive in the figure's own definition and base units; "
              "PIT = P(figure <= value), an interval for a bound; near 0 or 1 = a surprise):")
        print(figure_frame(dataset).to_string(float_format=number))
        context = json.loads(dataset.attrs["figure_ids_context"])
        if context:
            print(f"Also published then, registered but not fitted (no PIT): {', '.join(context)}")
        print(f"\nClaims of scenario '{dataset.attrs['scenario']}' ({dataset.attrs['paths']} paths, seed "
              f"{dataset.attrs['seed']}; before = as of {dataset.attrs['from']}, after = {dataset.attrs['to']}; "
              f"{dataset.attrs['noise_rule']}):")
        print(claim_frame(dataset).to_string(float_format=lambda v: f"{v:.3f}"))
        print("\nYear-end medians over all paths:")
        print(median_frame(dataset).to_string(float_format=number))
    print(f"\nwrote {', '.join(str(p) for p in written)} in {time.perf_counter() - started:.1f} s")
    return 0
